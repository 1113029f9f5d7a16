// SPDX-License-Identifier: GPL-2.0
/*
 * KLP_RELOC_SYMBOL in its '<sym>.<pos>' spelling (the one GNU as 2.36+ needs for the minimal
 * klp-convert's v3): defined per file, before klp-convert.h is included.
 */
#include <linux/kernel.h>
#define KLP_RELOC_SYMBOL_DOT
#include "klp-convert.h"
#include "annotations.h"

/* the 2nd cfb_tab32 of vmlinux (sysimgblt.c) */
extern const u32 cfb_tab32_dot_2[] KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, cfb_tab32, 2);
/* a unique name, position 0 */
extern int max_threads_dot KLP_RELOC_SYMBOL(vmlinux, vmlinux, max_threads);

const void *annotations_dot_cfb_tab32(void)
{
	return cfb_tab32_dot_2;
}

const void *annotations_dot_max_threads(void)
{
	return &max_threads_dot;
}
