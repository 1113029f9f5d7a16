// SPDX-License-Identifier: GPL-2.0
/*
 * Every annotation family of klp-convert.h, each picking a vmlinux symbol:
 *  - KLP_MODULE_RELOC/KLP_SYMPOS (the original patchset): attr_group, 2nd of 2
 *    (kernel/power/main.c and hibernate.c);
 *  - KLP_RELOC_SYMBOL_POS with ',' (here) and with '.' (annotations_dot.c): cfb_tab32,
 *    1st and 2nd of 2;
 *  - KLP_SYMBOL_FILES/KLP_SYMBOL_FILE (ours): cleanup_list of net/core/net_namespace.c (the
 *    other one is a per-cpu variable of arch/x86/kernel/apic/vector.c).
 */
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include "klp-convert.h"
#include "klp-test.h"
#include "annotations.h"

extern const char attr_group[];
KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(attr_group, 2),
};

extern const u32 cfb_tab32_comma_1[] KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, cfb_tab32, 1);

extern char cleanup_list[];
KLP_SYMBOL_FILES(vmlinux) vmlinux_files[] = {
	KLP_SYMBOL_FILE(cleanup_list, "net_namespace.c"),
};

static int klp_annotations_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "addr.sympos.attr_group=%px\n", attr_group);
	seq_printf(m, "addr.comma.cfb_tab32=%px\n", cfb_tab32_comma_1);
	seq_printf(m, "addr.dot.cfb_tab32=%px\n", annotations_dot_cfb_tab32());
	seq_printf(m, "addr.dot.max_threads=%px\n", annotations_dot_max_threads());
	seq_printf(m, "addr.file.cleanup_list=%px\n", cleanup_list);
	return 0;
}

KLP_TEST_CMDLINE_PATCH(klp_annotations_cmdline_show, "klp-convert test: every annotation family");
