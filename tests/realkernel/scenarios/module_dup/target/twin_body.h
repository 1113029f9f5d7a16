/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The body of twins_a.c and twins_b.c: each includes it with its own values, so both objects
 * define the same static names:
 *  - twin_value, a plain static (read with READ_ONCE, or GCC folds it into the code);
 *  - twin_label.12345, the asm-labelled form GCC gives function-local statics;
 *  - twin_scale.constprop.0 and twin_get.isra.0, GCC's clones of static functions
 *    (a constant argument dropped; a structure passed as the one field used).
 * The STT_FILE entry of each object still names twins_a.c or twins_b.c.
 */
#include <linux/kernel.h>
#include <linux/sysfs.h>
#include "twins.h"

static int twin_value = TWIN_VALUE;
static int twin_label __asm__("twin_label.12345") = TWIN_LABEL;
static struct twin twin_spare = { .value = 0, .name = "spare" };
static struct twin twin = { .value = TWIN_VALUE, .name = TWIN_NAME };

static noinline int twin_scale(int x, int factor)
{
	return x * factor + (x >> 3);
}

static noinline int twin_get(const struct twin *t)
{
	return t->value + 1;
}

int TWIN_SHOW(char *buf, int len)
{
	return len + sysfs_emit_at(buf, len, TWIN_NAME ".value=%d\n" TWIN_NAME ".label=%d\n"
				   TWIN_NAME ".scaled=%d\n" TWIN_NAME ".get=%d\n",
				   READ_ONCE(twin_value), READ_ONCE(twin_label),
				   twin_scale(READ_ONCE(twin_value), TWIN_FACTOR),
				   twin_get(len >= 0 ? &twin : &twin_spare));
}
