/* A livepatch using every annotation family of include/klp-convert.h. */
#include "klp-convert.h"

static const char modinfo_livepatch[] __attribute__((used, section(".modinfo"))) = "livepatch=Y";

extern int hats;
extern void pretzel_logic(void);
extern int count_it(int);
extern int type_show(void);
extern int dotted KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, name.12345, 2);
extern int comma_style KLP_RELOC_SYMBOL(vmlinux, vmlinux, num_socks_private);
extern int exported_num_socks;	/* no annotation: left for the module loader */

KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(hats, 1),
	KLP_SYMPOS(pretzel_logic, 0),
};

KLP_MODULE_RELOC(foo) foo_relocs[] = {
	KLP_SYMPOS(count_it, 2),
};

int patched_vmlinux(void)
{
	if (exported_num_socks && hats > 0)
		pretzel_logic();
	return dotted + comma_style;
}

int patched_foo(int n)
{
	return count_it(n) + type_show();
}

int (*patched_table[])(void) = { type_show };
