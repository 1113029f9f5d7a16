// SPDX-License-Identifier: GPL-2.0
/*
 * References to unexported vmlinux symbols from many sections of the livepatch, one symbol per
 * section so each relocation is checked on its own: klp-convert must write a
 * .klp.rela.vmlinux.<section> for each, and the kernel must resolve each at load.
 */
#include <linux/cache.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include "klp-test.h"

typedef int (*show_fn)(struct seq_file *m, void *v);

extern int nr_processes(void);				/* kernel/fork.c */
/* fs/file_table.c, static since 5.18 (before, <linux/fs.h> declares it with its type) */
extern char files_stat_bytes[] __asm__("files_stat");
extern u32 log_buf_len;					/* kernel/printk/printk.c, static */
extern int uptime_proc_show(struct seq_file *m, void *v);	/* fs/proc/uptime.c, static */
extern int execdomains_proc_show(struct seq_file *m, void *v);	/* kernel/exec_domain.c */
extern int loadavg_proc_show(struct seq_file *m, void *v);	/* fs/proc/loadavg.c, static */

/* .data: a function pointer (global: GCC moves a static that is never written to .rodata;
 * each pointer is read with READ_ONCE, or GCC folds it into the code) */
show_fn klp_sections_data_pointer = uptime_proc_show;
/* .rodata: a constant pointer */
static const show_fn rodata_pointer = execdomains_proc_show;
/* .data..read_mostly */
static show_fn read_mostly_pointer __read_mostly = loadavg_proc_show;

/* .text.unlikely */
static noinline __cold void *cold_reference(void)
{
	return files_stat_bytes;
}

/* a .text.* section of its own */
static noinline __section(".text.klp_sections") void *own_section_reference(void)
{
	return &log_buf_len;
}

/* .text */
static int klp_sections_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "nr_processes=%d\n", nr_processes());
	seq_printf(m, "addr.nr_processes=%px\n", nr_processes);
	seq_printf(m, "addr.files_stat=%px\n", cold_reference());
	seq_printf(m, "addr.log_buf_len=%px\n", own_section_reference());
	seq_printf(m, "log_buf_len=%u\n", log_buf_len);
	seq_printf(m, "addr.uptime_proc_show=%px\n", READ_ONCE(klp_sections_data_pointer));
	seq_printf(m, "addr.execdomains_proc_show=%px\n", READ_ONCE(rodata_pointer));
	seq_printf(m, "addr.loadavg_proc_show=%px\n", READ_ONCE(read_mostly_pointer));
	return 0;
}

KLP_TEST_CMDLINE_PATCH(klp_sections_cmdline_show, "klp-convert test: references from many sections");
