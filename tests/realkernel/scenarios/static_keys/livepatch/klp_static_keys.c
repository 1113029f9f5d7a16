// SPDX-License-Identifier: GPL-2.0
/*
 * Static keys in a livepatch.
 *  - vmlinux's sched_schedstats (kernel/sched/core.c, not exported), used with
 *    static_branch_unlikely(): its __jump_table entry gets a vmlinux klp relocation, which the
 *    kernel applies at load, before it processes the module's jump labels: it works.
 *  - keys.ko's keys_feature: a module-specific klp relocation is applied only when the patch
 *    is enabled or keys loads, after the jump labels were processed, so static_branch_*() on
 *    it is refused by klp-convert (build with -DKLP_TEST_STATIC_BRANCH to see the advice);
 *    static_key_enabled() reads the key as data and works.
 */
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/sysfs.h>
#include "klp-test.h"

extern struct static_key_false sched_schedstats;
extern struct static_key_false keys_feature;

static int klp_static_keys_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "schedstats.branch=%s\n",
		   static_branch_unlikely(&sched_schedstats) ? "on" : "off");
	seq_printf(m, "addr.sched_schedstats=%px\n", &sched_schedstats);
	return 0;
}

static int klp_static_keys_keys_show_state(char *buf)
{
#ifdef KLP_TEST_STATIC_BRANCH
	bool on = static_branch_unlikely(&keys_feature);
#else
	bool on = static_key_enabled(&keys_feature);
#endif

	return sysfs_emit(buf, "keys=patched\nfeature=%d\naddr.keys_feature=%px\n", on ? 1 : 0,
			  &keys_feature);
}

KLP_TEST_CMDLINE_AND_MODULE_PATCH(klp_static_keys_cmdline_show, "keys", "keys_show_state",
				  klp_static_keys_keys_show_state,
				  "klp-convert test: static keys of vmlinux and of a module");
