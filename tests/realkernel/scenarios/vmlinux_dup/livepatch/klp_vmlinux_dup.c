// SPDX-License-Identifier: GPL-2.0
/*
 * A name vmlinux defines twice, KLP_TEST_TABLE (klp-test.h; cfb_tab32 of
 * drivers/video/fbdev/core/cfbimgblt.c and .../sysimgblt.c up to 6.12). klp-convert refuses a
 * bare reference to it (ambiguous); each reference here says which one it means: the second
 * in kallsyms order by position, the one of KLP_TEST_TABLE_FILE by source file. The patched
 * /proc/cmdline prints the addresses the kernel resolved.
 */
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include "klp-test.h"
#include "klp-convert.h"

/* by position: the 2nd of vmlinux */
extern const u32 table_second[] KLP_TEST_VMLINUX_POS(KLP_TEST_TABLE, 2);

/* by source file */
extern const u32 KLP_TEST_TABLE[];
KLP_SYMBOL_FILES(vmlinux) vmlinux_files[] = {
	KLP_SYMBOL_FILE(KLP_TEST_TABLE, KLP_TEST_TABLE_FILE),
};

#ifdef KLP_TEST_UNANNOTATED
/* A bare reference to a duplicated name (attr_group: kernel/power/main.c, hibernate.c, and
 * in 7.2 one more): klp-convert must refuse it and list the candidates. */
extern const char KLP_TEST_ATTR[];
#endif

static int klp_vmlinux_dup_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "addr.by_position=%px\n", table_second);
	seq_printf(m, "addr.by_file=%px\n", KLP_TEST_TABLE);
#ifdef KLP_TEST_UNANNOTATED
	seq_printf(m, "addr.unannotated=%px\n", KLP_TEST_ATTR);
#endif
	return 0;
}

KLP_TEST_CMDLINE_PATCH(klp_vmlinux_dup_cmdline_show, "klp-convert test: a duplicated vmlinux name picked by position and by file");
