// SPDX-License-Identifier: GPL-2.0
/* An ordinary module built beside a livepatch: `klp-convert kbuild` must leave it alone. */
#include <linux/module.h>

static int __init not_a_livepatch_init(void)
{
	return 0;
}
module_init(not_a_livepatch_init);
MODULE_LICENSE("GPL");
