/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every livepatch of the real-kernel suite has in common: the klp_patch over its
 * objects, an init that enables it, an empty exit, and the module information (the suite's
 * harness copies this file beside each livepatch's sources).
 */
#ifndef _KLP_TEST_H
#define _KLP_TEST_H

#include <linux/livepatch.h>
#include <linux/module.h>

#define KLP_TEST_PATCH(objects, description)				\
	static struct klp_patch klp_test_patch = {			\
		.mod = THIS_MODULE,					\
		.objs = objects,					\
	};								\
	static int __init klp_test_init(void)				\
	{								\
		return klp_enable_patch(&klp_test_patch);		\
	}								\
	static void __exit klp_test_exit(void)				\
	{								\
	}								\
	module_init(klp_test_init);					\
	module_exit(klp_test_exit);					\
	MODULE_LICENSE("GPL");						\
	MODULE_DESCRIPTION(description);				\
	MODULE_INFO(livepatch, "Y")

/*
 * The vmlinux names a scenario picks among duplicates differ by kernel (cfb_tab32 is gone in
 * 7.2, attr_group has a third definition there): the suite passes its choice for the kernel
 * as -D values (tests/support/kernels.py ScenarioSymbols):
 *   KLP_TEST_TABLE        defined twice; KLP_TEST_TABLE_FILE: the file of one of them
 *   KLP_TEST_ATTR         defined twice or more
 *   KLP_TEST_BY_FILE      defined twice; KLP_TEST_BY_FILE_FILE: the file of the one we want
 * KLP_TEST_VMLINUX_POS expands them before klp-convert.h's macros stringify the name.
 */
#define KLP_TEST_VMLINUX_POS(sym, pos) KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, sym, pos)
#define KLP_TEST_VMLINUX(sym) KLP_RELOC_SYMBOL(vmlinux, vmlinux, sym)

/* The common case: a livepatch replacing only vmlinux's cmdline_proc_show() */
#define KLP_TEST_CMDLINE_PATCH(new_function, description)		\
	static struct klp_func klp_test_funcs[] = {			\
		{ .old_name = "cmdline_proc_show", .new_func = new_function }, \
		{ }							\
	};								\
	static struct klp_object klp_test_objs[] = {			\
		{ .funcs = klp_test_funcs },				\
		{ }							\
	};								\
	KLP_TEST_PATCH(klp_test_objs, description)

/* A livepatch replacing vmlinux's cmdline_proc_show() and one function of a module */
#define KLP_TEST_CMDLINE_AND_MODULE_PATCH(new_cmdline_show, module, old_function,	\
					  new_function, description)		\
	static struct klp_func klp_test_vmlinux_funcs[] = {			\
		{ .old_name = "cmdline_proc_show", .new_func = new_cmdline_show },	\
		{ }								\
	};									\
	static struct klp_func klp_test_module_funcs[] = {			\
		{ .old_name = old_function, .new_func = new_function },		\
		{ }								\
	};									\
	static struct klp_object klp_test_objs[] = {				\
		{ .funcs = klp_test_vmlinux_funcs },				\
		{ .name = module, .funcs = klp_test_module_funcs },		\
		{ }								\
	};									\
	KLP_TEST_PATCH(klp_test_objs, description)

/*
 * Target modules: a read-only parameter "state" whose reading calls show(buf), the function
 * the livepatches replace.
 */
#define KLP_TEST_STATE_PARAM(show)						\
	static int klp_test_state_get(char *buf, const struct kernel_param *kp)	\
	{									\
		return show(buf);						\
	}									\
	static const struct kernel_param_ops klp_test_state_ops = {		\
		.get = klp_test_state_get,					\
	};									\
	module_param_cb(state, &klp_test_state_ops, NULL, 0444)

#endif /* _KLP_TEST_H */
