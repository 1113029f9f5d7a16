// SPDX-License-Identifier: GPL-2.0
/*
 * Target of the late-patching scenario: loaded after its livepatch. Exports bar_limit, keeps
 * bar_hits and bar_hit() static; reading /sys/module/bar/parameters/state calls
 * bar_show_state(), which the livepatch replaces.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>
#include "klp-test.h"

int bar_limit = 40;
EXPORT_SYMBOL(bar_limit);

static int bar_hits;

static noinline int bar_hit(int step)
{
	bar_hits += step;
	return bar_hits;
}

noinline int bar_show_state(char *buf)
{
	return sysfs_emit(buf, "bar=unpatched\nhits=%d\n", bar_hits);
}

KLP_TEST_STATE_PARAM(bar_show_state);

static int __init bar_init(void)
{
	/* Neither a constant argument nor an unused result: GCC would clone the function
	 * (bar_hit.constprop.0, bar_hit.isra.0) and the livepatch could not call it by name. */
	return bar_hit(bar_limit / 20) == 2 ? 0 : -EINVAL;
}

static void __exit bar_exit(void)
{
}

module_init(bar_init);
module_exit(bar_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: target module loaded after its livepatch");
