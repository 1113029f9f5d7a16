/* Second file of the tiny "vmlinux": another local 'type_show', a local static 'name.N'. */
static int __attribute__((noinline, used)) type_show(int x)
{
	static int name;

	return x + name++;
}

int other_entry(int x)
{
	return type_show(x);
}

/* kallsyms drops this exact name (scripts/kallsyms.c ignored_symbols). */
const int kallsyms_num_syms = 1;
