"""A corpus of livepatch modules for `klp-convert check`: one good module, built from real gcc
output and converted by klp-convert itself, and variants that each break one kernel rule.

Each Variant edits the good module with our ELF layer and says which rule must catch it, the
kernel message check must predict for this corpus (None: the kernel says nothing, the module
just breaks) and whether check must accept it (``loads``). The edits work on any converted
livepatch with a vmlinux klp section for code and a module-specific one, so the real-kernel
suite can apply them to its kbuild-built patches, load them into a guest and compare what the
kernel did with check_module()'s findings.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from klp_convert.cli import main
from klp_convert.elf import ElfObject, Relocation, RelocationSection, Section
from klp_convert.elf.constants import (
    SHF_ALLOC, SHF_INFO_LINK, SHF_RELA_LIVEPATCH, SHN_UNDEF, SHT_PROGBITS,
)

from .toolchains import compile_livepatch

SOURCE = Path(__file__).parent.parent / "data" / "check" / "patch.c"
MODULE_NAME = "klp_check_demo"
VERMAGIC = "6.1.0-99-amd64 SMP preempt mod_unload modversions "
R_X86_64_NONE = 0
R_X86_64_GOTPCREL = 9
R_X86_64_32 = 10


def build_unconverted(tmp_path, release="6.1.0-99-amd64"):
    """gcc output of tests/data/check/patch.c, annotations still in it."""
    vermagic = VERMAGIC.replace("6.1.0-99-amd64", release)
    return compile_livepatch("x86_64", SOURCE, Path(tmp_path) / "patch.o",
                             extra=("-mcmodel=kernel", f'-DVERMAGIC="{vermagic}"'))


def build_good(tmp_path, release="6.1.0-99-amd64"):
    """The converted module (klp-convert IN OUT, annotation-only)."""
    out = Path(tmp_path) / "klp_check_demo.ko"
    status = main([str(build_unconverted(tmp_path, release)), str(out)])
    assert status == 0, "klp-convert refused the corpus' good module"
    return out


# -- edits -------------------------------------------------------------------------------------
# Written for any converted livepatch with a vmlinux klp section for code and a module-specific
# one (the real-kernel suite can apply them to its kbuild-built patches too).

def klp_section(obj, prefix):
    return next(s for s in obj.relocation_sections() if s.name.startswith(prefix))


# Where code takes the addresses of data from: the code itself, or on ppc64 its TOC.
CODE_ADDRESS_SECTIONS = (".text", ".toc")


def vmlinux_code_section(obj):
    """The first '.klp.rela.vmlinux.' section that patches code or the TOC code reads its
    addresses from (ppc64)."""
    return next(s for s in obj.relocation_sections() if s.flags & SHF_RELA_LIVEPATCH
                and s.name.startswith(".klp.rela.vmlinux.")
                and s.info.name.startswith(CODE_ADDRESS_SECTIONS))


def module_section(obj):
    """The first module-specific klp section."""
    return next(s for s in obj.relocation_sections() if s.flags & SHF_RELA_LIVEPATCH
                and not s.name.startswith(".klp.rela.vmlinux."))


def first_symbol(sec):
    return sec.relocations[0].symbol


def symbol(obj, name):
    return next(s for s in obj.symbols if s.name == name)


def with_object(sym_name, objname):
    """'.klp.sym.<objname>.<rest>' from '.klp.sym.<old>.<rest>'."""
    rest = sym_name[len(".klp.sym."):].split(".", 1)[1]
    return f".klp.sym.{objname}.{rest}"


def normal_twin(obj, klp_sec):
    """The normal relocation section of the same target ('.rela.text.patched_foo'), added
    when the conversion took it over as the klp one (all its relocations moved)."""
    twin = next((s for s in obj.relocation_sections()
                 if s.info is klp_sec.info and not s.name.startswith(".klp.")), None)
    if twin is None:
        twin = RelocationSection(".rela" + klp_sec.info.name, target=klp_sec.info,
                                 symtab=obj.symtab, flags=SHF_INFO_LINK,
                                 addralign=klp_sec.addralign, entsize=klp_sec.entsize)
        obj.sections.append(twin)
    return twin


def set_license(license):
    def edit(obj):
        sec = obj.section_by_name(".modinfo")
        sec.data = sec.data.replace(b"license=GPL\0", f"license={license}\0".encode())
    return edit


def drop_livepatch_modinfo(obj):
    sec = obj.section_by_name(".modinfo")
    sec.data = sec.data.replace(b"livepatch=Y\0", b"")


def drop_module_struct(obj):
    """Under another name the loader does not find struct module (code still refers to it)."""
    obj.section_by_name(".gnu.linkonce.this_module").name = ".data.module_struct"


def clear_rela_livepatch(obj):
    vmlinux_code_section(obj).flags &= ~SHF_RELA_LIVEPATCH


def empty_section_objname(obj):
    sec = vmlinux_code_section(obj)
    sec.name = ".klp.rela." + sec.name[len(".klp.rela.vmlinux."):]


def long_section_objname(obj):
    sec = module_section(obj)
    objname = sec.name[len(".klp.rela."):].split(".", 1)[0]
    sec.name = sec.name.replace(objname, objname + "x" * (56 - len(objname)), 1)


def clear_alloc_module(obj):
    module_section(obj).flags &= ~SHF_ALLOC


def clear_alloc_vmlinux(obj):
    vmlinux_code_section(obj).flags &= ~SHF_ALLOC


def target_not_alloc(obj):
    vmlinux_code_section(obj).info = obj.section_by_name(".comment")


def symbol_not_livepatch(obj):
    first_symbol(module_section(obj)).place(SHN_UNDEF)


def symbol_defined_in_module(obj):
    """The klp symbol defined in a section: simplify_symbols accepts it, klp does not."""
    sec = module_section(obj)
    first_symbol(sec).place(sec.info)


def symbol_without_position(obj):
    sym = first_symbol(vmlinux_code_section(obj))
    sym.name = sym.name.rsplit(",", 1)[0]


def symbol_trailing_text(obj):
    first_symbol(vmlinux_code_section(obj)).name += "x"


def livepatch_symbol_in_normal_rela(obj):
    sec = module_section(obj)
    normal_twin(obj, sec).relocations += sec.relocations
    sec.relocations = []


def module_section_uses_vmlinux_symbol(obj):
    sym = first_symbol(module_section(obj))
    sym.name = with_object(sym.name, "vmlinux")


def vmlinux_section_uses_module_symbol(obj):
    module_sym = first_symbol(module_section(obj)).name
    objname = module_sym[len(".klp.sym."):].split(".", 1)[0]
    sym = first_symbol(vmlinux_code_section(obj))
    sym.name = with_object(sym.name, objname)


def unsupported_reloc_type(obj):
    vmlinux_code_section(obj).relocations[0].type = R_X86_64_GOTPCREL


def module_reloc_in_jump_table(obj):
    """Needs a vmlinux klp relocation in __jump_table (a static branch on a vmlinux key): it
    becomes one against the module's object, which the kernel applies too late."""
    objname = module_section(obj).name[len(".klp.rela."):].split(".", 1)[0]
    sec = klp_section(obj, ".klp.rela.vmlinux.__jump_table")
    sec.name = f".klp.rela.{objname}.__jump_table"
    for rel in sec.relocations:
        if rel.symbol.name.startswith(".klp.sym.vmlinux."):
            rel.symbol.name = with_object(rel.symbol.name, objname)


def nonzero_target_bytes(obj):
    sec = module_section(obj)
    rel = sec.relocations[0]
    data = bytearray(sec.info.data)
    data[rel.offset:rel.offset + 4] = b"\xfc\xff\xff\xff"  # the addend, written as REL would
    sec.info.data = bytes(data)


def normal_reloc_on_same_bytes(obj):
    sec = module_section(obj)
    rel = sec.relocations[0]
    local = next(s for s in obj.symbols if s.section is sec.info)
    normal_twin(obj, sec).relocations += [Relocation(rel.offset, rel.type, local, 0)]


def zero_extended_reloc(obj):
    """A normal relocation as code built without -mcmodel=kernel has it (R_X86_64_32)."""
    normal = next(s for s in obj.relocation_sections()
                  if s.relocations and not s.name.startswith(".klp.") and s.info.flags & SHF_ALLOC
                  and s.info.name.startswith(".text"))
    normal.relocations[0].type = R_X86_64_32


def klp_arch_section(obj):
    """A pre-5.8 '.klp.arch' section; its content does not matter, 5.8+ never reads it."""
    obj.add_section(Section(".klp.arch.vmlinux..altinstructions", SHT_PROGBITS,
                            flags=SHF_ALLOC, data=b"\0" * 8, addralign=8, link=0, info=0))


# -- other tools' conventions, all accepted by the kernel ----------------------------------------

def single_dot_section_names(obj):
    for sec in obj.relocation_sections():
        if sec.name.startswith(".klp.rela.") and ".." in sec.name:
            sec.name = sec.name.replace("..", ".", 1)


def no_info_link_flag(obj):
    for sec in obj.relocation_sections():
        if sec.flags & SHF_RELA_LIVEPATCH:
            sec.flags &= ~SHF_INFO_LINK


def none_left_in_place(obj):
    """kpatch/objtool style: the moved relocation leaves an R_X86_64_NONE behind."""
    for sec in obj.relocation_sections():
        if sec.flags & SHF_RELA_LIVEPATCH and sec.info.name.startswith(".text"):
            normal_twin(obj, sec).relocations += [
                Relocation(rel.offset, R_X86_64_NONE, obj.symbols[0], 0)
                for rel in sec.relocations]


@dataclass(frozen=True)
class Variant:
    name: str
    edit: object
    rule: str = None  # the rule that must report it (None: a good module)
    kernel: str = None  # the kernel message check must predict, None when silent
    loads: bool = False  # True: check must accept it (exit 0)


K = "livepatch: "
VARIANTS = [
    Variant("no-livepatch-modinfo", drop_livepatch_modinfo, "modinfo-livepatch",
            f"{K}module {MODULE_NAME} is not marked as a livepatch module"),
    Variant("klp-section-without-flag", clear_rela_livepatch, "klp-section-flag"),
    Variant("section-empty-objname", empty_section_objname, "klp-section-name",
            f"{K}section .klp.rela..text.patched_vmlinux has an incorrectly formatted name"),
    Variant("section-objname-too-long", long_section_objname, "klp-section-name"),
    Variant("module-section-not-alloc", clear_alloc_module, "klp-section-alloc"),
    Variant("target-not-alloc", target_not_alloc, "klp-section-target"),
    Variant("symbol-not-livepatch", symbol_not_livepatch, "klp-symbol-shndx",
            f"{MODULE_NAME}: Unknown symbol .klp.sym.foo.count_it,0 (err -2)"),
    Variant("symbol-defined-not-livepatch", symbol_defined_in_module, "klp-symbol-shndx",
            f"{K}symbol .klp.sym.foo.count_it,0 is not marked as a livepatch symbol"),
    Variant("symbol-without-position", symbol_without_position, "klp-symbol-name",
            f"{K}symbol .klp.sym.vmlinux.hats has an incorrectly formatted name"),
    Variant("livepatch-symbol-in-normal-rela", livepatch_symbol_in_normal_rela,
            "livepatch-symbol-in-normal-rela"),
    Variant("module-section-vmlinux-symbol", module_section_uses_vmlinux_symbol, "cross-object",
            f"{K}invalid access to vmlinux symbol 'count_it' from module-specific livepatch "
            "relocation section"),
    Variant("vmlinux-section-module-symbol", vmlinux_section_uses_module_symbol, "cross-object",
            f"{K}symbol 'hats' not found in symbol table"),
    Variant("unsupported-reloc-type", unsupported_reloc_type, "reloc-type",
            f"module: {MODULE_NAME}: Unknown rela relocation: 9"),
    Variant("module-reloc-in-jump-table", module_reloc_in_jump_table, "special-section"),
    Variant("nonzero-target-bytes", nonzero_target_bytes, "x86-target-bytes",
            "module: x86/modules: Skipping invalid relocation target, existing value is "
            "nonzero for type 4"),
    Variant("normal-reloc-on-same-bytes", normal_reloc_on_same_bytes, "x86-target-bytes",
            "module: x86/modules: Skipping invalid relocation target, existing value is "
            "nonzero for type 4"),
    Variant("zero-extended-reloc", zero_extended_reloc, "x86-reloc-range",
            "module: overflow in relocation type 10 val"),
    Variant("klp-arch-section", klp_arch_section, "klp-arch"),
    # check accepts these (with a warning)
    Variant("no-module-struct", drop_module_struct, "module-object",
            f"{MODULE_NAME}: No module found in object", loads=True),
    Variant("vmlinux-section-not-alloc", clear_alloc_vmlinux, "klp-section-alloc", loads=True),
    Variant("symbol-trailing-text", symbol_trailing_text, "klp-symbol-name", loads=True),
    Variant("single-dot-section-names", single_dot_section_names, loads=True),
    Variant("no-info-link-flag", no_info_link_flag, loads=True),
    Variant("none-left-in-place", none_left_in_place, loads=True),
]


def build_variant(good, variant, directory):
    """Apply ``variant`` to a copy of the good module; returns the new file's path."""
    out = Path(directory) / f"{variant.name}.ko"
    shutil.copyfile(good, out)
    obj = ElfObject.read(out)
    variant.edit(obj)
    obj.write(out)
    return out


def build_corpus(directory, release="6.1.0-99-amd64"):
    """{variant name: path} for every variant, plus 'good' and 'unconverted'."""
    os.makedirs(directory, exist_ok=True)
    good = build_good(directory, release)
    paths = {"good": good, "unconverted": Path(directory) / "patch.o"}
    for variant in VARIANTS:
        paths[variant.name] = build_variant(good, variant, directory)
    return paths
