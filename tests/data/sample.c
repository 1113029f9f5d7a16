/* A small object with what kernel modules are made of: statics, globals, weak symbols,
 * undefined references, function pointers in .data, const pointers in .rodata and a
 * section of the kernel's own naming. Compiled for every architecture the tests cover. */
extern int ext_counter;
extern void ext_call(int);
extern const char *ext_name(void);

static int hats = 3;
int num_socks;
int shared_total __attribute__((weak)) = 7;
static int read_mostly __attribute__((section(".data..read_mostly"))) = 5;

static __attribute__((noinline)) int pretzel_logic(int x)
{
	return x * hats + ext_counter;
}

__attribute__((noinline)) int countdown(int n)
{
	while (n-- > 0)
		ext_call(pretzel_logic(n));
	return read_mostly + shared_total;
}

int (*handlers[])(int) = { pretzel_logic, countdown };
int (*const const_handlers[])(int) = { countdown, pretzel_logic };

const char *describe(void)
{
	num_socks++;
	return num_socks > 2 ? ext_name() : "few socks";
}
