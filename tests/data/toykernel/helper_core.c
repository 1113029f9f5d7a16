/* Module 'twins', file 2: the core 'helper', and a 'stat' that vmlinux has too. */
static __attribute__((used, noinline)) int helper(void)
{
	return 2;
}

static int stat_count __attribute__((used)) = 5;

int twins_work(void)
{
	return helper() + stat_count;
}
