// SPDX-License-Identifier: GPL-2.0
/*
 * One half of twins.ko; twins_a.c and twins_b.c define the same static names:
 *  - twin_value, a plain static (read with READ_ONCE, or GCC folds it into the code);
 *  - twin_label.12345, the asm-labelled form GCC gives function-local statics;
 *  - twin_scale.constprop.0 and twin_get.isra.0, GCC's clones of static functions
 *    (a constant argument dropped; a structure passed as the one field used).
 */
#include <linux/kernel.h>
#include <linux/sysfs.h>
#include "twins.h"

static int twin_value = 1111;
static int twin_label __asm__("twin_label.12345") = 3333;
static struct twin twin_spare = { .value = 0, .name = "spare" };
static struct twin twin = { .value = 1111, .name = "a" };

static noinline int twin_scale(int x, int factor)
{
	return x * factor + (x >> 3);
}

static noinline int twin_get(const struct twin *t)
{
	return t->value + 1;
}

int twins_a_show(char *buf, int len)
{
	return len + sysfs_emit_at(buf, len, "a.value=%d\na.label=%d\na.scaled=%d\na.get=%d\n",
				   READ_ONCE(twin_value), READ_ONCE(twin_label),
				   twin_scale(READ_ONCE(twin_value), 2),
				   twin_get(len >= 0 ? &twin : &twin_spare));
}
