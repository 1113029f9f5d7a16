// SPDX-License-Identifier: GPL-2.0
/* A livepatch reading an unexported vmlinux variable through an asm-label annotation:
 * `klp-convert kbuild` must convert it without a symbol database. */
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include "klp-convert.h"

extern char *klp_saved_command_line KLP_RELOC_SYMBOL(vmlinux, vmlinux, saved_command_line);

#ifdef KLP_TEST_REFUSE
/* An annotation for a symbol nothing else uses: the converter refuses the module. */
extern int panic_on_oops;
KLP_MODULE_RELOC(vmlinux) unused_relocs[] = {
	KLP_SYMPOS(panic_on_oops, 1),
};
#endif

static int klp_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "patched: %s\n", klp_saved_command_line);
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = klp_cmdline_show },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs },
	{ }
};

static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs };

static int __init klp_saved_cmdline_init(void)
{
	return klp_enable_patch(&patch);
}
module_init(klp_saved_cmdline_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
