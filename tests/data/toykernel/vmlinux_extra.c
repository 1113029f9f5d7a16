/* Extra toy-vmlinux file: a 'stat_count' that module twins has too, and a dotted name. */
static int stat_count __attribute__((used)) = 7;
static int dotted_name __asm__("name.12345") __attribute__((used)) = 9;

int extra_fn(void)
{
	return stat_count + dotted_name;
}
