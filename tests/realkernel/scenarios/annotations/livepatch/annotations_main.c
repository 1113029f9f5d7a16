// SPDX-License-Identifier: GPL-2.0
/*
 * Every annotation family of klp-convert.h, each picking a vmlinux symbol (the names differ
 * by kernel: klp-test.h, tests/support/kernels.py):
 *  - KLP_MODULE_RELOC/KLP_SYMPOS (the original patchset): KLP_TEST_ATTR (attr_group), the 2nd
 *    (kernel/power/main.c, hibernate.c, and in 7.2 a third);
 *  - KLP_RELOC_SYMBOL_POS with ',' (here) and with '.' (annotations_dot.c): KLP_TEST_TABLE,
 *    1st and 2nd of 2;
 *  - KLP_SYMBOL_FILES/KLP_SYMBOL_FILE (ours): KLP_TEST_BY_FILE of KLP_TEST_BY_FILE_FILE
 *    (cleanup_list of net/core/net_namespace.c beside a per-cpu variable of
 *    arch/x86/kernel/apic/vector.c up to 6.1).
 */
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include "klp-convert.h"
#include "klp-test.h"
#include "annotations.h"

extern const char KLP_TEST_ATTR[];
KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(KLP_TEST_ATTR, 2),
};

extern const u32 table_comma_1[] KLP_TEST_VMLINUX_POS(KLP_TEST_TABLE, 1);

extern char KLP_TEST_BY_FILE[];
KLP_SYMBOL_FILES(vmlinux) vmlinux_files[] = {
	KLP_SYMBOL_FILE(KLP_TEST_BY_FILE, KLP_TEST_BY_FILE_FILE),
};

static int klp_annotations_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "addr.sympos.attr=%px\n", KLP_TEST_ATTR);
	seq_printf(m, "addr.comma.table=%px\n", table_comma_1);
	seq_printf(m, "addr.dot.table=%px\n", annotations_dot_table());
	seq_printf(m, "addr.dot.max_threads=%px\n", annotations_dot_max_threads());
	seq_printf(m, "addr.file.by_file=%px\n", KLP_TEST_BY_FILE);
	return 0;
}

KLP_TEST_CMDLINE_PATCH(klp_annotations_cmdline_show, "klp-convert test: every annotation family");
