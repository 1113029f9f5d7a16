/* First compilation unit of the test module "demo-mod": a local 'helper', an init-only 'setup'
 * (same name as a core function in beta.c), a function-local static ('calls.N') and an export. */
static int counter;

static int __attribute__((noinline, used)) helper(int x)
{
	return x + counter++;
}

static int __attribute__((noinline, used, section(".init.text"))) setup(void)
{
	return helper(1);
}

int alpha_entry(int x)
{
	static int calls;

	calls++;
	return helper(x) + calls + setup();
}

/* What EXPORT_SYMBOL_GPL leaves in a linked module: a __ksymtab_<name> entry in __ksymtab_gpl. */
const void *const __ksymtab_alpha_entry __attribute__((section("__ksymtab_gpl"), used)) =
	alpha_entry;
static const char modinfo_license[] __attribute__((section(".modinfo"), used, aligned(1))) =
	"license=GPL";
