"""Break a converted livepatch on purpose, with klp-convert's own ELF layer, in the ways
KERNEL-RULES.md lists (section 2): each function edits the ElfObject of a module whose
vmlinux relocations sit in `.klp.rela.vmlinux.<sec>` for `.text`."""

from klp_convert.elf import SHF_RELA_LIVEPATCH
from klp_convert.kernel.names import (
    KLP_SYM_PREFIX, VMLINUX, klp_rela_name, klp_sym_name, parse_klp_sym_name,
)


def vmlinux_text_klp_section(obj):
    """The klp relocation section for vmlinux references from .text."""
    return next(sec for sec in obj.relocation_sections()
                if sec.name.startswith(f".klp.rela.{VMLINUX}.") and sec.target.name == ".text")


def without_livepatch_flag(obj, target_module):
    """The klp section loses SHF_RELA_LIVEPATCH: the loader applies it as an ordinary one."""
    vmlinux_text_klp_section(obj).flags &= ~SHF_RELA_LIVEPATCH


def left_in_plain_rela(obj, target_module):
    """The klp relocations go back to .rela.text, their symbols still SHN_LIVEPATCH."""
    klp = vmlinux_text_klp_section(obj)
    plain = next(sec for sec in obj.relocation_sections_for(klp.target) if sec is not klp)
    plain.relocations = plain.relocations + klp.relocations
    klp.relocations = []
    obj.remove_sections([klp])


def wrong_position(obj, target_module):
    """Every vmlinux klp symbol asks for position 2 of a name vmlinux has once."""
    for sym in obj.symbols:
        if sym.name.startswith(f"{KLP_SYM_PREFIX}{VMLINUX}."):
            objname, name, _ = parse_klp_sym_name(sym.name)
            sym.name = klp_sym_name(objname, name, 2)


def vmlinux_symbol_in_module_section(obj, target_module):
    """The vmlinux relocations move to a section named after the target module."""
    klp = vmlinux_text_klp_section(obj)
    klp.name = klp_rela_name(target_module, klp.target.name)


# name -> edit; "good" is the converted module as klp-convert wrote it.
VARIANTS = {
    "good": None,
    "no_livepatch_flag": without_livepatch_flag,
    "left_in_rela_text": left_in_plain_rela,
    "wrong_position": wrong_position,
    "vmlinux_symbol_in_module_section": vmlinux_symbol_in_module_section,
}
