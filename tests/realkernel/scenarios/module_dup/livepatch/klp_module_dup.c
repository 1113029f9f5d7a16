// SPDX-License-Identifier: GPL-2.0
/*
 * twins.ko defines each of these names twice, once in twins_a.c and once in twins_b.c:
 * twin_value, twin_label.12345, twin_scale.constprop.0, twin_get.isra.0. Each reference
 * below picks one, by position (the module's symbol-table order, which is kallsyms' order
 * for a module) or by source file. The patched twins_show() prints what the kernel resolved.
 */
#include <linux/kernel.h>
#include <linux/sysfs.h>
#include "klp-convert.h"
#include "klp-test.h"

/* by position */
extern int twin_value_1 KLP_RELOC_SYMBOL_POS(twins, twins, twin_value, 1);
extern int twin_value_2 KLP_RELOC_SYMBOL_POS(twins, twins, twin_value, 2);
extern int twin_label_2 KLP_RELOC_SYMBOL_POS(twins, twins, twin_label.12345, 2);
extern char twin_scale_2[] KLP_RELOC_SYMBOL_POS(twins, twins, twin_scale.constprop.0, 2);
extern char twin_get_1[] KLP_RELOC_SYMBOL_POS(twins, twins, twin_get.isra.0, 1);

/* by source file; a name with dots is spelled through an asm label */
extern int twin_value;
extern int twin_label_a __asm__("twin_label.12345");
extern char twin_scale_b[] __asm__("twin_scale.constprop.0");
extern char twin_get_b[] __asm__("twin_get.isra.0");
KLP_SYMBOL_FILES(twins) twins_files[] = {
	KLP_SYMBOL_FILE(twin_value, "twins_b.c"),
	KLP_SYMBOL_FILE(twin_label_a, "twins_a.c"),
	KLP_SYMBOL_FILE(twin_scale_b, "twins_b.c"),
	KLP_SYMBOL_FILE(twin_get_b, "twins_b.c"),
};

static int klp_module_dup_twins_show(char *buf)
{
	return sysfs_emit(buf, "twins=patched\nvalue.pos1=%d\nvalue.pos2=%d\nvalue.file_b=%d\n"
			  "label.pos2=%d\nlabel.file_a=%d\naddr.scale.pos2=%px\n"
			  "addr.scale.file_b=%px\naddr.get.pos1=%px\naddr.get.file_b=%px\n",
			  twin_value_1, twin_value_2, twin_value, twin_label_2, twin_label_a,
			  twin_scale_2, twin_scale_b, twin_get_1, twin_get_b);
}

static struct klp_func twins_funcs[] = {
	{ .old_name = "twins_show", .new_func = klp_module_dup_twins_show },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "twins", .funcs = twins_funcs },
	{ }
};

KLP_TEST_PATCH(objs, "klp-convert test: same-name module statics by position and by file");
