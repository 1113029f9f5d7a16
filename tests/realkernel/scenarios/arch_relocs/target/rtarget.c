// SPDX-License-Identifier: GPL-2.0
/*
 * Target of scenario arch_relocs: data of each width, a string and two functions, none of
 * them exported, so every reference the livepatch makes becomes a klp relocation. Global
 * (not static) so that GCC cannot fold their values into the code that reads them.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sysfs.h>
#include "klp-test.h"

u8 rt_u8 = 0x12;
u16 rt_u16 = 0x3456;
u32 rt_u32 = 0x789abcde;
u64 rt_u64 = 0x0123456789abcdefULL;
char rt_name[16] = "rtarget";

noinline int rt_add(int a, int b)
{
	return a + b + 100;
}

noinline int rt_twice(int x)
{
	return 2 * x;
}

noinline int rt_show_state(char *buf)
{
	return sysfs_emit(buf, "rtarget=unpatched\nu8=%#x\nu16=%#x\nu32=%#x\nu64=%#llx\n",
			  rt_u8, rt_u16, rt_u32, rt_u64);
}

KLP_TEST_STATE_PARAM(rt_show_state);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: the target of every relocation type");
