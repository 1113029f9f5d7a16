// SPDX-License-Identifier: GPL-2.0
/*
 * KLP_RELOC_SYMBOL in its '<sym>.<pos>' spelling (the one GNU as 2.36+ needs for the minimal
 * klp-convert's v3): defined per file, before klp-convert.h is included.
 */
#include <linux/kernel.h>
#ifndef KLP_RELOC_SYMBOL_DOT	/* the whole build may use it (tests/support/kernels.py) */
#define KLP_RELOC_SYMBOL_DOT
#endif
#include "klp-convert.h"
#include "klp-test.h"
#include "annotations.h"

/* the 2nd KLP_TEST_TABLE of vmlinux (klp-test.h) */
extern const u32 table_dot_2[] KLP_TEST_VMLINUX_POS(KLP_TEST_TABLE, 2);
/* a unique name, position 0 */
extern int max_threads_dot KLP_TEST_VMLINUX(max_threads);

const void *annotations_dot_table(void)
{
	return table_dot_2;
}

const void *annotations_dot_max_threads(void)
{
	return &max_threads_dot;
}
