// SPDX-License-Identifier: GPL-2.0
/*
 * Every kind of reference GCC compiles into a module, each to an unexported symbol of
 * rtarget, so that each becomes a module-specific klp relocation: calls (ppc64 `bl` through
 * a stub with a `nop` after it, s390 PLT32DBL, arm64 CALL26), a tail call (arm64 JUMP26, s390
 * `jg`), loads and stores of 8-, 16-, 32- and 64-bit data (ppc64 through the module's own
 * .toc, s390 through the GOT, arm64 ADRP + LDST*_ABS_LO12_NC), an address (arm64 ADRP + ADD),
 * and 64-bit pointers in .data (ADDR64, R_390_64, ABS64). test_arch_relocs lists the types
 * each architecture gets.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sysfs.h>
#include "klp-test.h"

extern u8 rt_u8;
extern u16 rt_u16;
extern u32 rt_u32;
extern u64 rt_u64;
extern char rt_name[];
extern int rt_add(int a, int b);
extern int rt_twice(int x);

/* 64-bit data pointers */
u32 *klp_arch_relocs_u32_pointer = &rt_u32;
int (*klp_arch_relocs_add_pointer)(int a, int b) = rt_add;

/* A call in tail position: a plain branch where the architecture allows it. */
noinline int klp_arch_relocs_tail(int x)
{
	return rt_twice(x + 1);
}

static int klp_arch_relocs_show_state(char *buf)
{
	int add = rt_add(1, 2), tail = klp_arch_relocs_tail(3);
	int by_pointer = READ_ONCE(klp_arch_relocs_add_pointer)(4, 5);
	int len;

	len = sysfs_emit(buf, "rtarget=patched\nadd=%d\ntail=%d\nby_pointer=%d\nname=%s\n"
			 "u8=%#x\nu16=%#x\nu32=%#x\nu64=%#llx\nu32.by_pointer=%#x\n",
			 add, tail, by_pointer, rt_name, rt_u8, rt_u16, rt_u32, rt_u64,
			 *READ_ONCE(klp_arch_relocs_u32_pointer));
	len += sysfs_emit_at(buf, len, "addr.rt_u8=%px\naddr.rt_u16=%px\naddr.rt_u32=%px\n"
			     "addr.rt_u64=%px\naddr.rt_name=%px\naddr.rt_add=%px\n"
			     "addr.rt_u32=%px\naddr.rt_add=%px\n", &rt_u8, &rt_u16, &rt_u32,
			     &rt_u64, rt_name, rt_add, READ_ONCE(klp_arch_relocs_u32_pointer),
			     READ_ONCE(klp_arch_relocs_add_pointer));
	/* Stores: the unpatched state shows them after the patch is gone. */
	rt_u8 += 1;
	rt_u16 += 1;
	rt_u32 += 1;
	rt_u64 += 1;
	return len;
}

static struct klp_func funcs[] = {
	{ .old_name = "rt_show_state", .new_func = klp_arch_relocs_show_state },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "rtarget", .funcs = funcs },
	{ }
};

KLP_TEST_PATCH(objs, "klp-convert test: every relocation type of the architecture");
