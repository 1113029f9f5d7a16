// SPDX-License-Identifier: GPL-2.0
/*
 * The simplest livepatch: replace cmdline_proc_show() (fs/proc/cmdline.c) with a function that
 * prints a fixed text. It uses only exported symbols, so klp-convert has nothing to convert:
 * this scenario proves the build, the boot and the guest checks on their own.
 */
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include "klp-test.h"

static int klp_cmdline_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klp_cmdline: this /proc/cmdline comes from a livepatch\n");
	return 0;
}

KLP_TEST_CMDLINE_PATCH(klp_cmdline_show, "klp-convert test: patch /proc/cmdline");
