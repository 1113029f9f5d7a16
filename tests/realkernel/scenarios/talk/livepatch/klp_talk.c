// SPDX-License-Identifier: GPL-2.0
/*
 * The talk's example on a real kernel. One livepatch patches
 *  - vmlinux's cmdline_proc_show() (fs/proc/cmdline.c): "if (num_socks && hats > 0)
 *    pretzel_logic();" becomes "if (loops_per_jiffy && max_threads > 0)
 *    filesystems_proc_show();" - loops_per_jiffy is exported, max_threads (kernel/fork.c) and
 *    filesystems_proc_show() (fs/filesystems.c) are static, saved_command_line is global but
 *    not exported;
 *  - foo's foo_show_state(): "if (--countdown) count_it();" - countdown is exported by foo,
 *    count_it() and counted are static in foo.
 * Nothing here says where those symbols are: klp-convert finds them in its symbol database.
 * Every patched function prints key=value lines the guest script reports.
 */
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/sysfs.h>
#include "klp-test.h"

/* vmlinux, unexported */
extern int max_threads;
extern int filesystems_proc_show(struct seq_file *m, void *v);
/* foo: countdown is exported, the others are static */
extern int countdown;
extern int counted;
extern int count_it(void);

static int klp_talk_cmdline_show(struct seq_file *m, void *v)
{
	seq_printf(m, "cmdline=%s\n", saved_command_line);
	seq_printf(m, "max_threads=%d\n", max_threads);
	seq_printf(m, "addr.max_threads=%px\n", &max_threads);
	seq_printf(m, "addr.saved_command_line=%px\n", &saved_command_line);
	seq_printf(m, "addr.filesystems_proc_show=%px\n", filesystems_proc_show);
	if (loops_per_jiffy && max_threads > 0)
		filesystems_proc_show(m, v);
	return 0;
}

static int klp_talk_foo_show_state(char *buf)
{
	if (--countdown)
		count_it();
	return sysfs_emit(buf, "foo=patched\ncountdown=%d\ncounted=%d\naddr.countdown=%px\n"
			  "addr.counted=%px\naddr.count_it=%px\n", countdown, counted, &countdown,
			  &counted, count_it);
}

static struct klp_func vmlinux_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = klp_talk_cmdline_show },
	{ }
};

static struct klp_func foo_funcs[] = {
	{ .old_name = "foo_show_state", .new_func = klp_talk_foo_show_state },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = vmlinux_funcs },
	{ .name = "foo", .funcs = foo_funcs },
	{ }
};

KLP_TEST_PATCH(objs, "klp-convert test: the talk's example");
