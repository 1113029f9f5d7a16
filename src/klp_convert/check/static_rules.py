"""Rules that need only the module: the kernel's rules of KERNEL-RULES.md, checked on the file.

Each rule takes a CheckContext and reports through ctx.error() / ctx.warning(). Kernel messages
are the lines the target kernel's generation prints (ctx.rules, kernel/generations.py;
kernel/livepatch/core.c prefixes its own with 'livepatch: ').
"""

import struct

from ..elf import RelocationSection
from ..elf.constants import (
    EM_PPC64, EM_X86_64, SHF_ALLOC, SHF_RELA_LIVEPATCH, SHN_ABS, SHN_LIVEPATCH, SHN_UNDEF,
    SHT_NOBITS, SHT_REL, SHT_RELA, STB_WEAK, STT_FUNC,
)
from ..kernel.klp_sscanf import OBJNAME_WIDTH, scan_klp_rela, scan_klp_sym
from ..kernel.generations import kernel_message
from ..kernel.modinfo import modinfo_value
from ..kernel.names import is_klp_rela_name, is_klp_sym_name
from ..kernel.relocs import reloc_type_name
from ..kernel.special_sections import special_section_for
from .context import is_livepatch_symbol, is_vmlinux, target_is_alloc

KLP = "livepatch: "
SET_FLAGS = "flags SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH (0x100042)"


def rule_modinfo_livepatch(ctx):
    """Rule 1: `livepatch` in .modinfo, or klp_enable_patch() refuses the module."""
    value = modinfo_value(ctx.modinfo, "livepatch")
    if value is None:
        ctx.error("modinfo-livepatch", "no 'livepatch=Y' in .modinfo: the loader keeps no ELF "
                  "copy and klp_enable_patch() refuses the module",
                  kernel=f"{KLP}module {ctx.name} is not marked as a livepatch module",
                  fix='add MODULE_INFO(livepatch, "Y"); to the module source')
    elif value != "Y":
        ctx.warning("modinfo-livepatch", f"'.modinfo' says 'livepatch={value}': the kernel "
                    "accepts any value, other tools look for 'Y'",
                    fix='write MODULE_INFO(livepatch, "Y");')


def rule_module_object(ctx):
    """setup_load_info() refuses an object without '.gnu.linkonce.this_module' (the struct
    module modpost generates). A warning, not an error: hand-made test objects and toy examples
    stand in for modules without it; a kbuild-linked module always has one."""
    if ctx.obj.section_by_name(".gnu.linkonce.this_module") is None:
        name = modinfo_value(ctx.modinfo, "name") or "(missing .modinfo section or name field)"
        ctx.warning("module-object", "no '.gnu.linkonce.this_module': not a module kbuild "
                    "linked, the kernel refuses it as it is",
                    kernel=f"{name}: No module found in object",
                    fix="build the livepatch with kbuild (modpost adds struct module)")


def rule_klp_section_flag(ctx):
    """A '.klp.rela.' section without SHF_RELA_LIVEPATCH is applied as a normal one: its
    SHN_LIVEPATCH symbols have value 0, the module loads silently and oopses when the code runs
    (or, where the loader cannot reach address 0 with a type it range-checks, is refused)."""
    for sec in ctx.relocation_sections:
        if not sec.flags & SHF_RELA_LIVEPATCH and is_klp_rela_name(sec.name):
            outcome, kernel = _applied_at_zero(ctx, sec.relocations)
            ctx.error("klp-section-flag", f"section '{sec.name}' lacks SHF_RELA_LIVEPATCH: the "
                      "loader applies it as a normal relocation section against unresolved "
                      f"(zero) symbols; {outcome}", kernel=kernel,
                      fix=f"give '{sec.name}' {SET_FLAGS}")


def _applied_at_zero(ctx, relocations):
    """(what happens, the kernel's line or None) when the normal loader applies these
    relocations with their livepatch symbols at address 0: the first one whose type cannot
    reach 0 makes the loader refuse the module; without one it loads and breaks when run."""
    for rel in relocations if ctx.loader is not None else ():
        if not is_livepatch_symbol(rel.symbol):
            continue
        refusal = ctx.loader.zero_target_refusal(ctx.name, rel.type, rel.addend)
        if refusal is not None:
            name = reloc_type_name(ctx.obj.machine, rel.type)
            return (f"the {ctx.loader.arch} loader cannot reach address 0 with its {name} "
                    "relocation and refuses the module", refusal)
    return "the module loads and oopses when the code runs", None


def rule_klp_section_name(ctx):
    """Rule 2: the kernel reads '.klp.rela.%55[^.]' from every flagged section."""
    for sec in ctx.klp_sections:
        scan = scan_klp_rela(sec.name)
        if scan.count != 1:
            ctx.error("klp-section-name", f"section '{sec.name}' is flagged SHF_RELA_LIVEPATCH "
                      "but its name is not '.klp.rela.<object>.<section>'",
                      kernel=f"{KLP}section {sec.name} has an incorrectly formatted name",
                      fix="name it .klp.rela.<object>.<section>, or clear SHF_RELA_LIVEPATCH")
        elif len(scan.objname) == OBJNAME_WIDTH and not scan.rest.startswith("."):
            ctx.error("klp-section-name", f"section '{sec.name}': the object name is longer than "
                      f"{OBJNAME_WIDTH} characters; the kernel reads '{scan.objname}', which no "
                      "module is called, so the section is never applied",
                      fix="use the target's runtime module name (at most 55 characters)")
        elif "-" in scan.objname:
            ctx.error("klp-section-name", f"section '{sec.name}': object '{scan.objname}' "
                      "contains '-', which no runtime module name does; the section is never "
                      "applied", fix=f"use '{scan.objname.replace('-', '_')}'")


def rule_klp_section_header(ctx):
    """Type, flags, link, info and entsize of every klp section."""
    entsize, symtab = 24 if ctx.obj.is64 else 12, ctx.obj.symtab
    for sec in ctx.klp_like_sections:
        if sec.type != SHT_RELA:
            _report_klp_type(ctx, sec)
        if isinstance(sec, RelocationSection):
            _check_klp_alloc(ctx, sec)
            _check_klp_target(ctx, sec)
            _check_klp_layout(ctx, sec, entsize, symtab)


def _report_klp_type(ctx, sec):
    """The kernel reads any section flagged SHF_RELA_LIVEPATCH as Elf_Rela entries."""
    kind = "SHT_REL" if sec.type == SHT_REL else f"of type {sec.type}"
    ctx.error("klp-section-type", f"section '{sec.name}' is {kind}: the kernel reads klp "
              "sections as Elf_Rela entries and would apply garbage",
              fix="write it as SHT_RELA (explicit addends)")


def _check_klp_alloc(ctx, sec):
    if sec.flags & SHF_ALLOC:
        return
    scan = scan_klp_rela(sec.name)
    if scan.count == 1 and is_vmlinux(scan.objname):
        ctx.warning("klp-section-alloc", f"section '{sec.name}' lacks SHF_ALLOC: it works only "
                    "because vmlinux relocations are applied while the module loads",
                    fix=f"give it {SET_FLAGS}")
    else:
        ctx.error("klp-section-alloc", f"section '{sec.name}' lacks SHF_ALLOC: it is freed "
                  "after the patch loads, and applying it when the target module loads later "
                  "reads freed memory (kernel crash)", fix=f"give it {SET_FLAGS}")


def _check_klp_target(ctx, sec):
    target = sec.info
    if not hasattr(target, "flags"):
        ctx.error("klp-section-target", f"section '{sec.name}' has no target section (sh_info "
                  f"{target!r})", fix="set sh_info to the section the relocations patch")
    elif not target.flags & SHF_ALLOC:
        ctx.error("klp-section-target", f"section '{sec.name}' patches '{target.name}', which "
                  "is not SHF_ALLOC: vmlinux relocations are skipped and module ones written "
                  "into freed memory", fix="drop relocations of non-allocated (debug) sections")


def _check_klp_layout(ctx, sec, expected, symtab):
    """The kernel ignores sh_link and sh_entsize (it uses the module's symtab and
    sizeof(Elf_Rela)), but every other reader of the module does not. ``expected``: the
    entsize of Elf_Rela; ``symtab``: the module's symbol table."""
    if sec.entsize != expected:
        ctx.warning("klp-section-layout", f"section '{sec.name}' has sh_entsize {sec.entsize}, "
                    f"not {expected}", fix=f"set sh_entsize to {expected}")
    if sec.link is not symtab:
        ctx.warning("klp-section-layout", f"section '{sec.name}' does not link to '.symtab'",
                    fix="set sh_link to the symbol table")


def rule_klp_symbols(ctx):
    """Rule 3: every symbol of a klp section is SHN_LIVEPATCH and named as the kernel parses."""
    reported = set()
    good = set()  # id() of symbols found right (many relocations may use one)
    for _objname, sec, rel in ctx.klp_relocations:
        sym = rel.symbol
        if id(sym) in good or sym.name in reported:
            continue
        if is_livepatch_symbol(sym):
            if _report_bad_sym_name(ctx, sym):
                reported.add(sym.name)
            else:
                good.add(id(sym))
        elif _undefined_klp_name(sym):
            continue  # the loader stops earlier, at 'Unknown symbol' (see below)
        else:
            reported.add(sym.name)
            # 7.2 prints the symbol table's section index where it says "rela sec"
            kernel = kernel_message(ctx.generation.not_livepatch_format, sym.name,
                                    ctx.obj.symtab.index, sec.relocations.index(rel))
            ctx.error("klp-symbol-shndx", f"'{sym.name}' is used by '{sec.name}' but is not "
                      "SHN_LIVEPATCH", kernel=KLP + kernel,
                      fix="set its st_shndx to SHN_LIVEPATCH (0xff20)")


def _report_bad_sym_name(ctx, sym):
    scan = scan_klp_sym(sym.name)
    if scan.count != 3:
        ctx.error("klp-symbol-name", f"'{sym.name}' is not '.klp.sym.<object>.<symbol>,<pos>' "
                  "as the kernel parses it (object at most 55 characters without '.', symbol "
                  "at most 511 without ',')",
                  kernel=f"{KLP}symbol {sym.name} has an incorrectly formatted name",
                  fix="rename it .klp.sym.<object>.<symbol>,<pos>")
        return True
    if scan.rest:
        ctx.warning("klp-symbol-name", f"'{sym.name}': the kernel ignores '{scan.rest}' after "
                    f"position {scan.sympos}", fix="remove the trailing characters")
        return True
    if "-" in scan.objname:
        ctx.error("klp-symbol-name", f"'{sym.name}': object '{scan.objname}' contains '-', "
                  "which no runtime module name does",
                  kernel=f"{KLP}symbol '{scan.symname}' not found in symbol table",
                  fix=f"use '{scan.objname.replace('-', '_')}'")
        return True
    return False


def rule_livepatch_symbol_in_normal_rela(ctx):
    """An SHN_LIVEPATCH symbol in a normal relocation section is applied with value 0: the
    module loads and oopses (not caught by the kernel)."""
    reported = set()
    for sec in ctx.normal_applied_sections:
        if is_klp_rela_name(sec.name):
            continue  # reported by rule_klp_section_flag
        for rel in sec.relocations:
            sym = rel.symbol
            if not is_livepatch_symbol(sym) or rel.type == 0 or (sec.name, sym.name) in reported:
                continue
            reported.add((sec.name, sym.name))
            objname = scan_klp_sym(sym.name).objname or "<object>"
            outcome, kernel = _applied_at_zero(ctx, [rel])
            ctx.error("livepatch-symbol-in-normal-rela", f"livepatch symbol '{sym.name}' is used "
                      f"by the normal section '{sec.name}': applied as address 0, {outcome}",
                      kernel=kernel,
                      fix=f"move the relocation to .klp.rela.{objname}.{sec.info.name}")


def rule_cross_object(ctx):
    """Rule 4, both directions: a klp section is applied when its object is there, so it may
    only name symbols of that same object."""
    reported = set()
    for objname, sec, rel in ctx.klp_relocations:
        scan = scan_klp_sym(rel.symbol.name)
        if scan.count != 3 or scan.objname == objname or (sec.name, scan.objname) in reported:
            continue
        reported.add((sec.name, scan.objname))
        _report_cross_object(ctx, objname, sec, scan)


def _report_cross_object(ctx, objname, sec, scan):
    fix = (f"put relocations against {scan.objname} symbols in "
           f".klp.rela.{scan.objname}.{sec.info.name if hasattr(sec.info, 'name') else '?'}")
    if is_vmlinux(scan.objname):
        ctx.error("cross-object", f"module-specific section '{sec.name}' uses vmlinux symbol "
                  f"'{scan.symname}'", kernel=f"{KLP}invalid access to vmlinux symbol "
                  f"'{scan.symname}' from module-specific livepatch relocation section",
                  fix=fix)
    else:
        when = "the patch loads" if is_vmlinux(objname) else f"{objname} loads"
        ctx.error("cross-object", f"section '{sec.name}' uses symbol '{scan.symname}' of "
                  f"{scan.objname}: it is resolved once, when {when}, and fails whenever "
                  f"{scan.objname} is not loaded by then",
                  kernel=f"{KLP}symbol '{scan.symname}' not found in symbol table", fix=fix)


def rule_reloc_types(ctx):
    """Rule 9: the architecture's apply_relocate_add() knows only some types."""
    if ctx.loader is None:
        ctx.warning("reloc-type", f"no module loader table for machine {ctx.obj.machine}: "
                    "relocation types not checked")
        return
    reported = set()
    accepted = ctx.loader.accepted
    for sec, rel in ctx.applied_relocations:
        if rel.type in accepted or rel.type in reported:
            continue
        reported.add(rel.type)
        name = reloc_type_name(ctx.obj.machine, rel.type)
        ctx.error("reloc-type", f"'{sec.name}' has a {name} relocation, which the "
                  f"{ctx.loader.arch} module loader does not apply",
                  kernel=ctx.loader.unknown_type_message(ctx.name, rel.type),
                  fix="compile the patch with the kernel's own flags (kbuild)")


def rule_special_sections(ctx):
    """Rule 8: module-specific klp relocations are applied after the kernel has read the
    patch's special sections."""
    for objname, sec in ctx.klp_sections_by_object:
        target = getattr(sec.info, "name", None)
        special = special_section_for(target, ctx.generation.special_sections) \
            if target else None
        if special is None or is_vmlinux(objname) or not sec.relocations:
            continue
        ctx.error("special-section", f"'{sec.name}' patches {special.what} ({special.name}) "
                  f"with symbols of {objname}: the kernel processes {special.name} when the "
                  "patch loads, before these relocations are applied", fix=special.advice)


def rule_unconverted(ctx):
    """Leftovers of the old and minimal klp-convert input formats: the module was not converted."""
    for sec in ctx.obj.sections:
        if sec.name.startswith(".klp.module_relocs."):
            ctx.error("unconverted", f"section '{sec.name}' is an unconverted KLP_MODULE_RELOC "
                      "annotation", fix="run klp-convert convert on the module")
    for sym in ctx.obj.symbols[1:]:
        if sym.name.startswith(".klp.sym.rela."):
            ctx.error("unconverted", f"symbol '{sym.name}' is an unconverted KLP_RELOC_SYMBOL "
                      "reference", kernel=_unknown_symbol(ctx, sym.name),
                      fix="run klp-convert convert on the module")


def _unknown_symbol(ctx, name, err=-2):
    return f"{ctx.name}: Unknown symbol {name} (err {err})"


RELOC_WIDTH_X86_64 = {1: 8, 24: 8, 2: 4, 4: 4, 10: 4, 11: 4}


def rule_x86_64_target_bytes(ctx):
    """Rule 9, x86-64: every relocation checks that the bytes it patches are still zero, so a
    non-zero addend left in place or two relocations on the same bytes make the load fail."""
    if ctx.obj.machine != EM_X86_64:
        return
    spans = {}  # target section -> [(start, end, relocation section)]
    widths = RELOC_WIDTH_X86_64
    for sec, rel in ctx.applied_relocations:
        width = widths.get(rel.type)
        if width is not None and _x86_bytes_ok(ctx, sec, sec.info, rel, width):
            spans.setdefault(sec.info, []).append((rel.offset, rel.offset + width, sec, rel))
    for target, target_spans in spans.items():
        if len(target_spans) > 1:  # one relocation cannot overlap another
            _check_x86_overlaps(ctx, target, sorted(target_spans, key=lambda s: s[:2]))


def _x86_nonzero_message(ctx, sec, rel):
    """The zero-target check's line (sec/idx since 7.2: the relocation section and entry)."""
    fmt = ctx.loader.printed(ctx.loader.nonzero_format)
    if "sec %u" in fmt:
        return kernel_message(fmt, sec.index, sec.relocations.index(rel), rel.type)
    return kernel_message(fmt, rel.type)


def _x86_overflow_message(ctx, sec, rel):
    fmt = ctx.loader.printed(ctx.loader.overflow_format)
    return kernel_message(fmt, rel.type, None, sec.index, sec.relocations.index(rel))


def _x86_bytes_ok(ctx, sec, target, rel, width):
    """False (and an error) when the relocation patches bytes outside its section or not zero."""
    start, end = rel.offset, rel.offset + width
    if end > target.size:
        where = f"'{target.name}'+{rel.offset:#x}"
        ctx.error("x86-target-bytes", f"'{sec.name}' patches {where}, beyond the end of "
                  f"'{target.name}' ({target.size} bytes)", fix="fix the relocation offset")
        return False
    if target.type != SHT_NOBITS and any(target.data[start:end]):
        where = f"'{target.name}'+{rel.offset:#x}"
        ctx.error("x86-target-bytes", f"'{sec.name}' patches {where}, whose bytes are not zero",
                  kernel=_x86_nonzero_message(ctx, sec, rel),
                  fix="zero the patched bytes (RELA addends live in r_addend)")
    return True


def _check_x86_overlaps(ctx, target, spans):
    """Two relocations on the same bytes: whichever the kernel applies second finds them set."""
    for (start, end, first, _), (next_start, _next_end, second, rel) in zip(spans, spans[1:]):
        if next_start < end:
            ctx.error("x86-target-bytes", f"'{first.name}' and '{second.name}' both patch "
                      f"'{target.name}'+{next_start:#x}",
                      kernel=_x86_nonzero_message(ctx, second, rel),
                      fix="leave one relocation per location (replace the moved one by "
                      "R_X86_64_NONE or delete it)")


R_X86_64_32 = 10


def rule_x86_64_zero_extended(ctx):
    """x86-64 modules and vmlinux live in the top 2 GB: an R_X86_64_32 (zero-extended) value
    never fits and the loader refuses it; code built without -mcmodel=kernel has them. Only
    absolute symbols, and vmlinux per-cpu ones (small offsets), fit."""
    if ctx.obj.machine != EM_X86_64:
        return
    reported = set()  # id() of the sections reported: the first such relocation of each
    for sec, rel in ctx.applied_relocations:
        if rel.type != R_X86_64_32 or rel.symbol.shndx == SHN_ABS or id(sec) in reported:
            continue
        reported.add(id(sec))
        report = ctx.warning if is_livepatch_symbol(rel.symbol) else ctx.error
        report("x86-reloc-range", f"'{sec.name}' has an R_X86_64_32 relocation against "
               f"'{rel.symbol.name}': a kernel address does not fit in 32 unsigned bits"
               + (" (unless it is a per-cpu symbol)" if report == ctx.warning else ""),
               kernel=_x86_overflow_message(ctx, sec, rel),
               fix="compile with -mcmodel=kernel (kbuild does)")


R_PPC64_REL24 = 10
PPC_NOP = 0x60000000
PPC_LD_R2_TOC = 0xE8410018  # ld r2,24(r1): what the loader writes over the nop
# -mprofile-kernel's calls at function entry, which the loader leaves alone
PPC64_FTRACE_CALLS = {"_mcount", "ftrace_caller", "ftrace_regs_caller"}


def _is_ppc_link_branch(insn):
    """`bl` (I-form, relative, LK=1): the call the loader routes through a stub."""
    return insn & 0xFC000003 == 0x48000001


def rule_ppc64_call_nop(ctx):
    """ppc64: a `bl` to a symbol outside the module goes through a stub that changes r2 (the
    TOC), so the loader replaces the instruction after it, which must be a `nop`, by the r2
    restore (arch/powerpc/kernel/module_64.c restore_r2). GCC leaves that `nop` only after
    calls to functions it did not know to be local; without it the module is refused."""
    if ctx.obj.machine != EM_PPC64:
        return
    order = ">II" if ctx.obj.big_endian else "<II"
    for sec in ctx.applied_sections:
        target = sec.info
        for rel in sec.relocations:
            sym = rel.symbol
            if (rel.type != R_PPC64_REL24 or sym.section is not None
                    or sym.reserved_shndx not in (SHN_UNDEF, SHN_LIVEPATCH)
                    or sym.name in PPC64_FTRACE_CALLS):
                continue
            if rel.offset + 8 > len(target.data):
                continue
            insn, after = struct.unpack_from(order, target.data, rel.offset)
            if not _is_ppc_link_branch(insn) or after in (PPC_NOP, PPC_LD_R2_TOC):
                continue
            where = _function_at(ctx.obj, target, rel.offset + 4)
            ctx.error("ppc64-call-nop", f"'{sec.name}': the call to '{rel.symbol.name}' at "
                      f"'{target.name}'+{rel.offset:#x} has no nop after it for the loader "
                      "to restore r2 (the TOC) in",
                      kernel=f"{ctx.name}: Expected nop after call, got {after:08x} at {where}",
                      fix="call the function from C, where GCC leaves the nop after calls to "
                      "functions it does not define")


def _function_at(obj, section, offset):
    """'function+0xoffset' as the kernel's %pS begins it, or the section and offset."""
    for sym in obj.symbols[1:]:
        if (sym.section is section and sym.type == STT_FUNC
                and sym.value <= offset < sym.value + max(sym.size, 1)):
            return f"{sym.name}+{offset - sym.value:#x}"
    return f"{section.name}+{offset:#x}"


def rule_klp_arch(ctx):
    """Rule 11: `.klp.arch.*` sections were dropped in Linux 5.8; a newer kernel ignores them."""
    arch_sections = [s for s in ctx.obj.sections if s.name.startswith(".klp.arch.")]
    if not arch_sections:
        return
    names = ", ".join(f"'{s.name}'" for s in arch_sections)
    if ctx.rules.release is None:
        ctx.warning("klp-arch", f"{names}: used only before Linux 5.8, and the module's kernel "
                    "release is unknown", fix="drop .klp.arch sections for 5.8 and later")
    elif ctx.generation.ignores_klp_arch:
        ctx.error("klp-arch", f"{names}: Linux {ctx.rules.release} ignores .klp.arch sections, "
                  "so these relocations are never applied",
                  fix="since 5.8 the relocations belong in the .klp.rela sections")


def _undefined_klp_name(sym):
    """A '.klp.sym.*' name left SHN_UNDEF (and not weak): nobody exports such a name."""
    return (is_klp_sym_name(sym.name) and sym.section is None
            and sym.reserved_shndx == SHN_UNDEF and sym.bind != STB_WEAK)


def rule_undefined_klp_symbols(ctx):
    """A '.klp.sym.' symbol left SHN_UNDEF is looked up by the normal loader (simplify_symbols,
    before any relocation) and not found: the load stops there."""
    for sym in ctx.obj.symbols[1:]:
        if _undefined_klp_name(sym) and not sym.name.startswith(".klp.sym.rela."):
            ctx.error("klp-symbol-shndx", f"'{sym.name}' is undefined, not SHN_LIVEPATCH",
                      kernel=_unknown_symbol(ctx, sym.name),
                      fix="set its st_shndx to SHN_LIVEPATCH (0xff20)")


def rule_module_reload(ctx):
    """Rule 10: kernels before 6.3 do not clear module-specific klp relocations when the target
    module unloads (no klp_clear_object_relocs); on x86-64 the bytes then stay set and reloading
    that module under the patch fails. A kernel limit, not a defect of the module: a warning,
    once per target module, only for kernels that have the limit."""
    if ctx.loader is None or not ctx.loader.requires_zero_target \
            or ctx.generation.clears_module_relocs:
        return
    first = {}
    for objname, sec in ctx.klp_sections_by_object:
        if objname not in first and not is_vmlinux(objname) and sec.relocations \
                and target_is_alloc(sec):
            first[objname] = sec
    if len(first) > RELOAD_WARNINGS:  # a patch of many modules: one line, not one each
        names = sorted(first)
        sec = first[names[0]]
        ctx.warning("module-reload", f"while this patch is enabled, none of the {len(names)} "
                    f"modules it patches ({', '.join(names[:RELOAD_WARNINGS])}, ...) can be "
                    f"unloaded and loaded again: Linux {ctx.generation.name} leaves their "
                    "livepatch relocations applied (cleared on unload since 6.3)",
                    kernel=_x86_nonzero_message(ctx, sec, sec.relocations[0]),
                    fix="disable the patch before reloading any of them")
        return
    for objname, sec in sorted(first.items()):
        ctx.warning("module-reload", f"while this patch is enabled, {objname} cannot be "
                    f"unloaded and loaded again: Linux {ctx.generation.name} leaves its "
                    "livepatch relocations applied (cleared on unload since 6.3)",
                    kernel=_x86_nonzero_message(ctx, sec, sec.relocations[0]),
                    fix=f"disable the patch before reloading {objname}")


# Target modules warned about one by one up to this many, then in one warning.
RELOAD_WARNINGS = 3


STATIC_RULES = [
    rule_modinfo_livepatch,
    rule_module_object,
    rule_unconverted,
    rule_klp_section_flag,
    rule_klp_section_name,
    rule_klp_section_header,
    rule_klp_symbols,
    rule_undefined_klp_symbols,
    rule_livepatch_symbol_in_normal_rela,
    rule_cross_object,
    rule_reloc_types,
    rule_special_sections,
    rule_x86_64_target_bytes,
    rule_x86_64_zero_extended,
    rule_ppc64_call_nop,
    rule_klp_arch,
    rule_module_reload,
]
