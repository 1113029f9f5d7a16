/* A livepatch module: the database leaves it out, as kbuild's Symbols.list recipe did. */
int patched_function(int x)
{
	return x + 1;
}

static const char modinfo_livepatch[] __attribute__((section(".modinfo"), used, aligned(1))) =
	"livepatch=Y";
