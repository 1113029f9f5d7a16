/* The talk's module foo: an exported countdown, a static count_it(). */
#include "../vmlinux/exports.h"

static const char modinfo_name[] __attribute__((used, section(".modinfo"))) = "name=foo";

int countdown = 10;
EXPORT_SYMBOL(countdown);

static __attribute__((used, noinline)) int count_it(void)
{
	return countdown * 2;
}

int foo_tick(void)
{
	return count_it();
}
