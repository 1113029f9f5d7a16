/* A toy EXPORT_SYMBOL: what matters to klp-convert is the __ksymtab_<name> symbol. */
#define EXPORT_SYMBOL(sym)						\
	extern typeof(sym) sym;						\
	const void *__ksymtab_##sym					\
	__attribute__((used, section("___ksymtab+" #sym))) = &sym
