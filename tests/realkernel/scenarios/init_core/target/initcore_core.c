// SPDX-License-Identifier: GPL-2.0
/*
 * The core half of initcore: a static helper() of the same name as initcore_init.c's __init one,
 * and initcore_peer(), a unique name the livepatch can reach by any means (the suite renames
 * that reference to "helper, position 2" with klp-convert's ELF layer). Reading
 * /sys/module/initcore/parameters/state calls initcore_show_state(), which the livepatch
 * replaces.
 */
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>
#include "klp-test.h"
#include "initcore.h"

static int initcore_step = 42;

static __attribute__((__noipa__)) int helper(int step)
{
	return 4200 + step;
}

static __attribute__((__noipa__)) int initcore_peer(int step)
{
	return 1700 + step;
}

int initcore_check(void)
{
	return helper(initcore_step) == 4242 && initcore_peer(initcore_step) == 1742 ? 0 : -EINVAL;
}

noinline int initcore_show_state(char *buf)
{
	return sysfs_emit(buf, "initcore=unpatched\nhelper=%d\npeer=%d\n", helper(initcore_step),
			  initcore_peer(initcore_step));
}

KLP_TEST_STATE_PARAM(initcore_show_state);
