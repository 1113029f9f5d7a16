/*
 * A small livepatch for klp-convert check's tests: references to vmlinux (a variable, a
 * function, a key in __jump_table) and to module foo (a function), annotated for klp-convert,
 * plus one exported symbol left to the module loader.
 */
#include "klp-convert.h"

#define MODINFO(tag, text) \
	static const char modinfo_##tag[] __attribute__((used, section(".modinfo"), \
							 aligned(1))) = text
MODINFO(livepatch, "livepatch=Y");
MODINFO(name, "name=klp_check_demo");
MODINFO(license, "license=GPL");
MODINFO(vermagic, "vermagic=" VERMAGIC);

extern int hats;
extern void pretzel_logic(void);
extern int jump_key;
extern int count_it(int);
extern int countdown;	/* exported by foo: a normal relocation */
/* minimal klp-convert style: a GCC asm label names the symbol and its position */
extern int dotted KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, name.12345, 2);

KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(hats, 1),
	KLP_SYMPOS(pretzel_logic, 0),
	KLP_SYMPOS(jump_key, 0),
};

KLP_MODULE_RELOC(foo) foo_relocs[] = {
	KLP_SYMPOS(count_it, 0),
};

/* Legal: vmlinux klp relocations are applied before the kernel reads __jump_table. */
void *jump_entries[] __attribute__((used, section("__jump_table"))) = { &jump_key };

int patched_vmlinux(void)
{
	if (hats > 0)
		pretzel_logic();
	return hats + dotted;
}

int patched_foo(int n)
{
	if (--countdown)
		return count_it(n);
	return 0;
}
