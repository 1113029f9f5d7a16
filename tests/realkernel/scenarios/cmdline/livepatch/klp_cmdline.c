// SPDX-License-Identifier: GPL-2.0
/*
 * The simplest livepatch: replace cmdline_proc_show() (fs/proc/cmdline.c) with a function that
 * prints a fixed text. It uses only exported symbols, so klp-convert has nothing to convert:
 * this scenario proves the build, the boot and the guest checks on their own.
 */
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

static int klp_cmdline_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klp_cmdline: this /proc/cmdline comes from a livepatch\n");
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = klp_cmdline_show },
	{ }
};

static struct klp_object objs[] = {
	{ .name = NULL /* vmlinux */, .funcs = funcs },
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int __init klp_cmdline_init(void)
{
	return klp_enable_patch(&patch);
}

static void __exit klp_cmdline_exit(void)
{
}

module_init(klp_cmdline_init);
module_exit(klp_cmdline_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: patch /proc/cmdline");
MODULE_INFO(livepatch, "Y");
