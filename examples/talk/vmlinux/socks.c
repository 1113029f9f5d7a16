/* The talk's toy vmlinux: an exported num_socks, a static hats, a static pretzel_logic(). */
#include "exports.h"

int num_socks = 2;
EXPORT_SYMBOL(num_socks);

static int hats = 3;

static __attribute__((used, noinline)) void pretzel_logic(void)
{
	hats--;
}

void _start(void)
{
	pretzel_logic();
}
