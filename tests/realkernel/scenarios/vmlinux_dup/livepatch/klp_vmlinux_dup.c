// SPDX-License-Identifier: GPL-2.0
/*
 * A name vmlinux defines twice: cfb_tab32, a static table in
 * drivers/video/fbdev/core/cfbimgblt.c and in .../sysimgblt.c. klp-convert refuses a bare
 * reference to it (ambiguous); each reference here says which one it means: the second in
 * kallsyms order by position, the one of cfbimgblt.c by source file. The patched
 * /proc/cmdline prints the addresses the kernel resolved.
 */
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include "klp-test.h"
#include "klp-convert.h"

/* by position: the 2nd cfb_tab32 of vmlinux */
extern const u32 cfb_tab32_second[] KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, cfb_tab32, 2);

/* by source file */
extern const u32 cfb_tab32[];
KLP_SYMBOL_FILES(vmlinux) vmlinux_files[] = {
	KLP_SYMBOL_FILE(cfb_tab32, "cfbimgblt.c"),
};

#ifdef KLP_TEST_UNANNOTATED
/* A bare reference to a duplicated name (kernel/power/main.c and hibernate.c): klp-convert
 * must refuse it and list the candidates. */
extern const char attr_group[];
#endif

static int klp_vmlinux_dup_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "addr.by_position=%px\n", cfb_tab32_second);
	seq_printf(m, "addr.by_file=%px\n", cfb_tab32);
#ifdef KLP_TEST_UNANNOTATED
	seq_printf(m, "addr.unannotated=%px\n", attr_group);
#endif
	return 0;
}

KLP_TEST_CMDLINE_PATCH(klp_vmlinux_dup_cmdline_show, "klp-convert test: a duplicated vmlinux name picked by position and by file");
