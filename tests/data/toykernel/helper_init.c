/* Module 'twins', file 1: an init-only 'helper' (gone once the module is live). */
static const char modinfo_name[] __attribute__((used, section(".modinfo"))) = "name=twins";

static __attribute__((used, noinline, section(".init.text"))) int helper(void)
{
	return 1;
}

int twins_init(void)
{
	return helper();
}
