// SPDX-License-Identifier: GPL-2.0
/* twins.ko: reading /sys/module/twins/parameters/state calls twins_show(). */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include "twins.h"
#include "klp-test.h"

noinline int twins_show(char *buf)
{
	return twins_b_show(buf, twins_a_show(buf, 0));
}

KLP_TEST_STATE_PARAM(twins_show);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: same-name statics from two source files");
