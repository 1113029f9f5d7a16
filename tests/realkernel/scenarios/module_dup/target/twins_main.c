// SPDX-License-Identifier: GPL-2.0
/* twins.ko: reading /sys/module/twins/parameters/state calls twins_show(). */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include "twins.h"

noinline int twins_show(char *buf)
{
	return twins_b_show(buf, twins_a_show(buf, 0));
}

static int state_get(char *buf, const struct kernel_param *kp)
{
	return twins_show(buf);
}

static const struct kernel_param_ops state_ops = { .get = state_get };
module_param_cb(state, &state_ops, NULL, 0444);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: same-name statics from two source files");
