/* First file of a tiny "vmlinux" (linked as an executable, like the real one): a local
 * 'type_show' that also exists in vmlinux_b.c, symbols kallsyms or mksysmap filter out, and a
 * weak alias at the same address as a strong symbol (kallsyms sorts the weak one last). */
static int __attribute__((noinline, used)) type_show(int x)
{
	return x + 1;
}

int strong_entry(int x)
{
	return type_show(x);
}

int weak_entry(int x) __attribute__((weak, alias("strong_entry")));

asm(".globl __crc_strong_entry\n"
    ".set __crc_strong_entry, 0x12345678\n"
    ".section .rodata.kstrtab, \"a\"\n"
    "__kstrtab_strong_entry:\n"
    ".asciz \"strong_entry\"\n"
    ".text\n");

void _start(void)
{
	strong_entry(1);
	for (;;)
		;
}
