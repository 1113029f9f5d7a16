// SPDX-License-Identifier: GPL-2.0
/*
 * Replaces initcore_show_state() with one that calls initcore's core helper(). initcore has
 * two static helper(): position 1 is __init (gone once initcore is live), position 2 is the
 * core one while initcore loads but position 1 once it is live. No position names it in both
 * load orders, so klp-convert must refuse every way to pick it: KLP_SYMPOS 2 or 1, and the
 * source file (it comes down to position 2). The build the guest loads calls the unique
 * initcore_peer() instead; the suite then renames that reference to '.klp.sym.initcore.helper,2'
 * to show what the kernel does with the position klp-convert refused.
 */
#include <linux/kernel.h>
#include <linux/sysfs.h>
#include "klp-convert.h"
#include "klp-test.h"

#if defined(KLP_TEST_SYMPOS_2) || defined(KLP_TEST_SYMPOS_1) || defined(KLP_TEST_FILE)
extern int helper(int step);
#ifdef KLP_TEST_FILE
KLP_SYMBOL_FILES(initcore) initcore_files[] = {
	KLP_SYMBOL_FILE(helper, "initcore_core.c"),
};
#else
KLP_MODULE_RELOC(initcore) initcore_relocs[] = {
#ifdef KLP_TEST_SYMPOS_2
	KLP_SYMPOS(helper, 2),
#else
	KLP_SYMPOS(helper, 1),
#endif
};
#endif
#else
extern int helper(int step) __asm__("initcore_peer");
#endif

static int klp_init_core_show_state(char *buf)
{
	return sysfs_emit(buf, "initcore=patched\nhelper=%d\naddr.helper=%px\n", helper(42), helper);
}

static struct klp_func initcore_funcs[] = {
	{ .old_name = "initcore_show_state", .new_func = klp_init_core_show_state },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "initcore", .funcs = initcore_funcs },
	{ }
};

KLP_TEST_PATCH(objs, "klp-convert test: a name in a module's init and core symbols");
