/* The same livepatch, saying which 'hats' it means: the one of socks.c. */
#include "klp-convert.h"
#include "livepatch.c"

KLP_SYMBOL_FILES(vmlinux) which_hats[] = {
	KLP_SYMBOL_FILE(hats, "socks.c"),
};
