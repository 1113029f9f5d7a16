/* The talk's livepatch: patches one vmlinux function and one foo function, using symbols
 * neither of them exports. Built as an ordinary module; klp-convert does the rest. */
static const char modinfo_livepatch[] __attribute__((used, section(".modinfo"))) = "livepatch=Y";

extern int num_socks;			/* exported by vmlinux */
extern int hats;			/* static in vmlinux */
extern void pretzel_logic(void);	/* static in vmlinux */
extern int countdown;			/* exported by foo */
extern int count_it(void);		/* static in foo */

void livepatch_vmlinux_fn(void)
{
	if (num_socks && hats > 0)
		pretzel_logic();
}

int livepatch_foo_fn(void)
{
	if (--countdown)
		return count_it();
	return 0;
}
