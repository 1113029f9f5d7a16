// SPDX-License-Identifier: GPL-2.0
/*
 * A correct livepatch the suite breaks on purpose after conversion, with klp-convert's own ELF
 * layer (see test_realkernel.py: BROKEN_VARIANTS): its vmlinux relocations (to the unexported
 * saved_command_line) lose SHF_RELA_LIVEPATCH, go back to .rela.text, get a wrong position,
 * or move to a section of hmod. The guest shows what the kernel does with each.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/sysfs.h>
#include "klp-test.h"

static int klp_broken_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "cmdline=%s\n", saved_command_line);
	return 0;
}

static int klp_broken_hmod_show_state(char *buf)
{
	return sysfs_emit(buf, "hmod=patched\n");
}

KLP_TEST_CMDLINE_AND_MODULE_PATCH(klp_broken_cmdline_show, "hmod", "hmod_show_state",
				  klp_broken_hmod_show_state,
				  "klp-convert test: a livepatch broken on purpose");
