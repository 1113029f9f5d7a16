/* A toy EXPORT_SYMBOL: a __ksymtab_<name> symbol in section __ksymtab, as in a linked module. */
#define EXPORT_SYMBOL(sym)						\
	extern typeof(sym) sym;						\
	const void *__ksymtab_##sym					\
	__attribute__((used, section("__ksymtab"))) = &sym
