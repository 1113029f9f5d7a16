// SPDX-License-Identifier: GPL-2.0
/*
 * The talk's target module "foo": an exported counter and a static function. Reading
 * /sys/module/foo/parameters/state calls foo_show_state(), which the livepatch replaces.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>
#include "klp-test.h"

int countdown = 3;
EXPORT_SYMBOL(countdown);

static int counted;

static noinline int count_it(void)
{
	return ++counted;
}

noinline int foo_show_state(char *buf)
{
	return sysfs_emit(buf, "foo=unpatched\ncountdown=%d\ncounted=%d\n", countdown, counted);
}

KLP_TEST_STATE_PARAM(foo_show_state);

static int __init foo_init(void)
{
	/* Use the result: otherwise GCC drops it and renames the function count_it.isra.0. */
	return count_it() == 1 ? 0 : -EINVAL;
}

static void __exit foo_exit(void)
{
}

module_init(foo_init);
module_exit(foo_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: the talk's target module");
