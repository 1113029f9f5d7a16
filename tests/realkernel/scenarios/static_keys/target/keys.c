// SPDX-License-Identifier: GPL-2.0
/*
 * A module with a static key of its own (not exported): writing 1 or 0 to
 * /sys/module/keys/parameters/feature flips it; reading .../state calls keys_show_state(),
 * which the livepatch replaces.
 */
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>
#include "klp-test.h"

static DEFINE_STATIC_KEY_FALSE(keys_feature);

noinline int keys_show_state(char *buf)
{
	return sysfs_emit(buf, "keys=unpatched\nfeature=%d\n",
			  static_branch_unlikely(&keys_feature) ? 1 : 0);
}

static int feature_set(const char *value, const struct kernel_param *kp)
{
	bool on;
	int err = kstrtobool(value, &on);

	if (err)
		return err;
	if (on)
		static_branch_enable(&keys_feature);
	else
		static_branch_disable(&keys_feature);
	return 0;
}

static const struct kernel_param_ops feature_ops = { .set = feature_set };
KLP_TEST_STATE_PARAM(keys_show_state);
module_param_cb(feature, &feature_ops, NULL, 0200);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp-convert test: a module with its own static key");
