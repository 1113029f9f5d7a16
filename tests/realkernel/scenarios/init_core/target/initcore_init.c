// SPDX-License-Identifier: GPL-2.0
/*
 * Target of the init_core scenario (KERNEL-RULES 2.6): this file's static helper() is __init,
 * initcore_core.c has a static helper() of its own in core text. While initcore loads, kallsyms
 * holds its whole symbol table (helper #1 here, helper #2 there); once it is live only the core
 * one remains, as helper #1. So "helper, position 2" means the core helper or nothing,
 * depending on whether the livepatch or the module loads first.
 */
#include <linux/init.h>
#include <linux/module.h>
#include "initcore.h"

static int initcore_base = 1;

/* noipa: no inlining and no clone (helper.constprop.0, helper.isra.0): it keeps its name. */
static __attribute__((__noipa__)) int __init helper(int step)
{
	return step + 1;
}

static int __init initcore_init(void)
{
	return helper(initcore_base) == 2 ? initcore_check() : -EINVAL;
}

static void __exit initcore_exit(void)
{
}

module_init(initcore_init);
module_exit(initcore_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: a name in a module's init and core symbols");
