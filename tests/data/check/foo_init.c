/* Module foo, first object: an init-only 'helper' that comes first in foo's symtab. */
static int __attribute__((used, noinline, section(".init.text"))) helper(int n)
{
	return n * 3;
}

int __attribute__((section(".init.text"))) foo_init(void)
{
	return helper(1);
}
