// SPDX-License-Identifier: GPL-2.0
/*
 * A livepatch built with kbuild for klp-convert check: /proc/cmdline patched to use two
 * unexported vmlinux symbols (a variable, and a static key tested with static_branch, which
 * puts a vmlinux reference in __jump_table) and the address of an unexported function of
 * Debian's isofs module.
 */
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include "klp-convert.h"

extern char *saved_command_line;
extern struct static_key_false sched_schedstats;
extern int isofs_bread(void);

KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(saved_command_line, 0),
	KLP_SYMPOS(sched_schedstats, 0),
};

KLP_MODULE_RELOC(isofs) isofs_relocs[] = {
	KLP_SYMPOS(isofs_bread, 0),
};

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	if (static_branch_unlikely(&sched_schedstats))
		seq_printf(m, "%s %px\n", saved_command_line, isofs_bread);
	else
		seq_printf(m, "%s\n", saved_command_line);
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = livepatch_cmdline_proc_show },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs },	/* vmlinux */
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int livepatch_init(void)
{
	return klp_enable_patch(&patch);
}

static void livepatch_exit(void)
{
}

module_init(livepatch_init);
module_exit(livepatch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
