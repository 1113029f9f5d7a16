// SPDX-License-Identifier: GPL-2.0
/*
 * s390x guest program: is code rewritten by MVC the code that runs next?
 *
 * Linux copies a module's code into place with memcpy(), which on s390x is MVC. The program
 * writes a function (return 1) with one 256-byte MVC, calls it, writes another function
 * (return 2) over it the same way, calls it again, and prints both results. The function
 * starts 16 bytes into the block: an emulator that invalidates its translations of only the
 * first byte an MVC stores runs the old function the second time (support/emulator.py).
 *
 * No C library (there is no s390x one for the cross compiler): system calls by `svc 0`.
 * Built with `-nostdlib -static`; the code page sits in a section of its own that is
 * writable and executable.
 */

asm(".section .rewrite_page,\"awx\",@progbits\n"
    ".balign 4096\n"
    "code_page: .fill 4096,1,0\n"
    ".previous");
extern unsigned char code_page[];

#define ENTRY 0x10
#define LGHI_R2(n) 0xa7, 0x29, 0x00, (n)
#define BR_R14 0x07, 0xfe
static const unsigned char returns_1[256] = { [ENTRY] = LGHI_R2(1), BR_R14 };
static const unsigned char returns_2[256] = { [ENTRY] = LGHI_R2(2), BR_R14 };

#define NR_EXIT 1
#define NR_WRITE 4

static void copy_with_mvc(void *to, const void *from)
{
	asm volatile("mvc 0(256,%0),0(%1)" : : "a"(to), "a"(from) : "memory");
}

static long call(void *entry)
{
	long (*function)(void) = (long (*)(void))entry;

	/* Serialise, as the architecture asks before running code just stored. */
	asm volatile("bcr 14,0" : : : "memory");
	return function();
}

static void write_stdout(const char *text, long length)
{
	register long nr asm("r1") = NR_WRITE;
	register long fd asm("r2") = 1;
	register long buf asm("r3") = (long)text;
	register long len asm("r4") = length;

	asm volatile("svc 0" : "+r"(fd) : "r"(nr), "r"(buf), "r"(len) : "memory", "cc");
}

static void __attribute__((noreturn)) exit_with(long status)
{
	register long nr asm("r1") = NR_EXIT;
	register long code asm("r2") = status;

	asm volatile("svc 0" : : "r"(nr), "r"(code));
	for (;;)
		;
}

void _start(void)
{
	char report[] = "mvc.first=?\nmvc.second=?\n";

	copy_with_mvc(code_page, returns_1);
	report[sizeof("mvc.first=") - 1] = '0' + call(code_page + ENTRY);
	copy_with_mvc(code_page, returns_2);
	report[sizeof("mvc.first=?\nmvc.second=") - 1] = '0' + call(code_page + ENTRY);
	write_stdout(report, sizeof(report) - 1);
	exit_with(0);
}
