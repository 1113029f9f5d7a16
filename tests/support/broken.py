"""Break the real-kernel suite's converted klp_broken.ko on purpose, with klp-convert's own ELF
layer, in the ways KERNEL-RULES.md lists (section 2). Its vmlinux relocations (to the unexported
saved_command_line) sit in `.klp.rela.vmlinux..text` (`..toc` on ppc64); its target module
is hmod."""

from pathlib import Path

from klp_convert.kernel.names import (
    KLP_SYM_PREFIX, VMLINUX, klp_rela_name, klp_sym_name, parse_klp_sym_name,
)

from .broken_modules import clear_rela_livepatch, normal_twin, vmlinux_code_section

TARGET_MODULE = "hmod"


def left_in_plain_rela(obj):
    """The vmlinux klp relocations go back to .rela.text, their symbols still SHN_LIVEPATCH."""
    klp = vmlinux_code_section(obj)
    normal_twin(obj, klp).relocations += klp.relocations
    klp.relocations = []
    obj.remove_sections([klp])


def wrong_position(obj):
    """Every vmlinux klp symbol asks for position 2 of a name vmlinux has once."""
    for sym in obj.symbols:
        if sym.name.startswith(f"{KLP_SYM_PREFIX}{VMLINUX}."):
            objname, name, _ = parse_klp_sym_name(sym.name)
            sym.name = klp_sym_name(objname, name, 2)


def vmlinux_symbol_in_module_section(obj):
    """The vmlinux relocations move to a section named after the target module."""
    klp = vmlinux_code_section(obj)
    klp.name = klp_rela_name(TARGET_MODULE, klp.target.name)


# Where scenario init_core's forced copy is written, in the scenario's build directory.
INIT_CORE_FORCED = Path("forced") / "klp_init_core_helper2.ko"


def renamed_klp_symbol(objname, stand_in, name, sympos):
    """An edit: the klp symbol klp-convert wrote for ``stand_in`` (a unique name, position 0)
    asks for ``name``,``sympos`` instead; a choice klp-convert refuses, forced (scenario
    init_core)."""
    def edit(obj):
        old = klp_sym_name(objname, stand_in, 0)
        sym = next(s for s in obj.symbols if s.name == old)
        sym.name = klp_sym_name(objname, name, sympos)
    return edit


# name -> edit; "good" is the converted module as klp-convert wrote it.
VARIANTS = {
    "good": None,
    "no_livepatch_flag": clear_rela_livepatch,  # the check corpus' edit (broken_modules.py)
    "left_in_rela_text": left_in_plain_rela,
    "wrong_position": wrong_position,
    "vmlinux_symbol_in_module_section": vmlinux_symbol_in_module_section,
}
