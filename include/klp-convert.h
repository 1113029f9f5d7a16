/* SPDX-License-Identifier: GPL-2.0 */
/*
 * klp-convert.h - tell klp-convert which symbol a livepatch reference means.
 *
 * klp-convert resolves a reference by itself when the name exists once in the
 * kernel (or in one module). When it does not - a static that several files
 * define, a name in vmlinux and in a module - pick one with any of these three
 * families of annotations. klp-convert reads them and removes them from the
 * module it writes; the kernel never sees them.
 *
 * Usable from out-of-tree modules: copy this file, or add -I<klp-convert>/include.
 *
 * 1. By position (the original klp-convert patchset). One table per object:
 *
 *	extern int type_show(void);
 *	KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
 *		KLP_SYMPOS(type_show, 3),	// the 3rd 'type_show' in kallsyms order
 *	};
 *
 *    A position counts every symbol of that exact name in the object, in the
 *    order the kernel walks them (1-based); 0 means "the name is unique".
 *
 * 2. By an asm label on the declaration (the "minimal" klp-convert patchset):
 *
 *	extern int hats KLP_RELOC_SYMBOL(vmlinux, vmlinux, hats);
 *	extern int count_it(void) KLP_RELOC_SYMBOL_POS(foo, foo, count_it, 2);
 *
 *    The first object is the one being patched (whose klp section holds the
 *    relocation), the second the one defining the symbol; the kernel requires
 *    them to be the same. Define KLP_RELOC_SYMBOL_DOT before including this
 *    file for the spelling '<sym>.<pos>' instead of '<sym>,<pos>' (for GNU as
 *    before 2.36 on x86-64, and for loongarch's, which take no quoted name
 *    holding ',' in an operand).
 *    Names with dots (GCC's foo.isra.0, an asm-labelled name.12345) work too:
 *	extern int name_12345 KLP_RELOC_SYMBOL(vmlinux, vmlinux, name.12345);
 *
 * 3. By source file (klp-convert's own): say which file defines the symbol,
 *    and klp-convert finds its position in the symbol database:
 *
 *	extern int type_show(void);
 *	KLP_SYMBOL_FILES(vmlinux) vmlinux_files[] = {
 *		KLP_SYMBOL_FILE(type_show, "drivers/base/core.c"),
 *	};
 *
 *    The file is matched against the STT_FILE names of the target (a full
 *    path, or its last components, e.g. "core.c" when that is unique).
 */
#ifndef _KLP_CONVERT_H
#define _KLP_CONVERT_H

#define __KLP_STRINGIFY(x) #x

/* Family 1: packed (pointer, u32 position) entries in .klp.module_relocs.<obj> */
struct klp_module_reloc {
	void *sym;
	unsigned int sympos;
} __attribute__((packed));

#define KLP_MODULE_RELOC(obj)						\
	static struct klp_module_reloc					\
	__attribute__((__used__, __aligned__(1),			\
		       __section__(".klp.module_relocs." #obj)))

#define KLP_SYMPOS(symbol, pos)						\
	{ .sym = (void *)&(symbol), .sympos = (pos) }

/* Family 2: the reference itself carries the choice in its symbol name */
#ifdef KLP_RELOC_SYMBOL_DOT
/* No ',' in the name, so no quotes: loongarch's GNU as takes no quoted name in a
 * relocation operator's operand (%got_pc_hi20("...")), and the name needs none. */
#define __KLP_POS_SEP "."
#define __KLP_QUOTE ""
#else
#define __KLP_POS_SEP ","
#define __KLP_QUOTE "\""
#endif

#define KLP_RELOC_SYMBOL_POS(lp_obj, sym_obj, sym, pos)			\
	__asm__(__KLP_QUOTE ".klp.sym.rela." #lp_obj "." #sym_obj "." #sym	\
		__KLP_POS_SEP #pos __KLP_QUOTE)

#define KLP_RELOC_SYMBOL(lp_obj, sym_obj, sym)				\
	KLP_RELOC_SYMBOL_POS(lp_obj, sym_obj, sym, 0)

/* Family 3: (pointer, pointer to file name) entries in .klp.symbol_files.<obj> */
struct klp_symbol_file {
	void *sym;
	const char *file;
};

#define KLP_SYMBOL_FILES(obj)						\
	static struct klp_symbol_file					\
	__attribute__((__used__, __aligned__(sizeof(void *)),	\
		       __section__(".klp.symbol_files." #obj)))

#define KLP_SYMBOL_FILE(symbol, path)					\
	{ .sym = (void *)&(symbol), .file = (path) }

#endif /* _KLP_CONVERT_H */
