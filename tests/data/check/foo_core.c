/* Module foo, second object: the core 'helper', count_it, and the exported countdown. */
int countdown = 10;

static int __attribute__((used, noinline)) helper(int n)
{
	return n + 1;
}

int __attribute__((noinline)) count_it(int n)
{
	return helper(n) - countdown;
}
