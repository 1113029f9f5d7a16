/* The v3 spelling of KLP_RELOC_SYMBOL: '<sym>.<pos>'. */
#define KLP_RELOC_SYMBOL_DOT
#include "klp-convert.h"

static const char modinfo_livepatch[] __attribute__((used, section(".modinfo"))) = "livepatch=Y";

extern int isra KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, foo.isra.0, 3);
extern int plain KLP_RELOC_SYMBOL(vmlinux, vmlinux, hats);

int use_them(void)
{
	return isra + plain;
}
