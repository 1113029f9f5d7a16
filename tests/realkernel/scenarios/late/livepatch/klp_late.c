// SPDX-License-Identifier: GPL-2.0
/*
 * Late patching: this livepatch is loaded before bar. bar_limit is exported by bar, so an
 * ordinary relocation would make the loader refuse this module while bar is absent
 * ("Unknown symbol bar_limit"); klp-convert converts it like bar's statics, and the kernel
 * resolves all of them when bar loads ("applying patch 'klp_late' to loading module 'bar'").
 */
#include <linux/kernel.h>
#include <linux/sysfs.h>
#include "klp-test.h"

extern int bar_limit;			/* exported by bar */
extern int bar_hits;			/* static in bar */
extern int bar_hit(int step);		/* static in bar */

static int klp_late_bar_show_state(char *buf)
{
	int hits = bar_hit(bar_limit);

	return sysfs_emit(buf, "bar=patched\nlimit=%d\nhits=%d\naddr.bar_limit=%px\n"
			  "addr.bar_hits=%px\naddr.bar_hit=%px\n", bar_limit, hits, &bar_limit,
			  &bar_hits, bar_hit);
}

static struct klp_func bar_funcs[] = {
	{ .old_name = "bar_show_state", .new_func = klp_late_bar_show_state },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "bar", .funcs = bar_funcs },
	{ }
};

KLP_TEST_PATCH(objs, "klp-convert test: a livepatch loaded before its target module");
