// SPDX-License-Identifier: GPL-2.0
/* Target of the broken-variant scenario: reading /sys/module/hmod/parameters/state calls
 * hmod_show_state(), which the livepatch replaces. */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>
#include "klp-test.h"

noinline int hmod_show_state(char *buf)
{
	return sysfs_emit(buf, "hmod=unpatched\n");
}

KLP_TEST_STATE_PARAM(hmod_show_state);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: target of the broken livepatch variants");
