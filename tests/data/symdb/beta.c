/* Second compilation unit of "demo-mod": its own local 'helper', a core 'setup', a name with
 * dots like GCC's clones ('beta_work.isra.0', in assembly as GCC would emit it) and the
 * module's runtime name in .modinfo. */
static int __attribute__((noinline, used)) helper(int x)
{
	return x * 2;
}

static int __attribute__((noinline, used)) setup(void)
{
	return helper(3);
}

asm(".text\n"
    ".type beta_work.isra.0, @function\n"
    "beta_work.isra.0:\n"
    "\tret\n"
    ".size beta_work.isra.0, . - beta_work.isra.0\n");

int beta_entry(int x)
{
	return helper(x) + setup();
}

static const char modinfo_name[] __attribute__((section(".modinfo"), used, aligned(1))) =
	"name=demo_mod";
