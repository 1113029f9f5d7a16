"""Scenario arch_relocs: every relocation type GCC emits for an architecture, in a livepatch of
module rtarget, and the copies of it each architecture's loader refuses (made with
klp-convert's own ELF layer), whose refusal `klp-convert check` must predict.

EXPECTED_TYPES is what GCC 12 (Debian 12's compilers; loongarch64: Debian 13's GCC 14) gives
klp_arch_relocs.c with the kernel's flags; test_arch_relocs compares it with the converted module, so a compiler that emits
another type shows up as a failure naming it.
"""

from klp_convert.elf.constants import EM_AARCH64, EM_LOONGARCH, EM_PPC64, EM_S390, EM_X86_64
from klp_convert.kernel.generations import rules_for_module
from klp_convert.kernel.relocs import reloc_type_name

TARGET = "rtarget"

# e_machine -> the relocation types of the module-specific klp sections (by name)
EXPECTED_TYPES = {
    # calls and tail calls PLT32, data PC32, pointers in .data 64
    EM_X86_64: {"R_X86_64_PLT32", "R_X86_64_PC32", "R_X86_64_32S", "R_X86_64_64"},
    # calls `bl` + nop through a stub; data through the module's .toc (its entries, and the
    # pointers in .data, ADDR64)
    EM_PPC64: {"R_PPC64_REL24", "R_PPC64_ADDR64"},
    # -fPIC: calls and tail calls through the PLT, data through the GOT, pointers 64
    EM_S390: {"R_390_PLT32DBL", "R_390_GOTENT", "R_390_64"},
    # bl, adrp + add / ldr{b,h,w,x}, pointers ABS64; no `b` (JUMP26): arm64 kernels have
    # CONFIG_FRAME_POINTER, so kbuild adds -fno-optimize-sibling-calls and the tail call is a bl
    EM_AARCH64: {"R_AARCH64_CALL26", "R_AARCH64_ADR_PREL_PG_HI21",
                 "R_AARCH64_ADD_ABS_LO12_NC", "R_AARCH64_LDST8_ABS_LO12_NC",
                 "R_AARCH64_LDST16_ABS_LO12_NC", "R_AARCH64_LDST32_ABS_LO12_NC",
                 "R_AARCH64_LDST64_ABS_LO12_NC", "R_AARCH64_ABS64"},
    # calls and tail calls `bl` / `b` (B26, through the module's PLT when out of range); data
    # through the GOT (pcalau12i + ld.d: kbuild gives -mdirect-extern-access to the kernel
    # only), pointers 64
    EM_LOONGARCH: {"R_LARCH_B26", "R_LARCH_GOT_PC_HI20", "R_LARCH_GOT_PC_LO12", "R_LARCH_64"},
}


def klp_types(obj, objname=TARGET):
    """The relocation type names of ``obj``'s `.klp.rela.<objname>.*` sections."""
    return {reloc_type_name(obj.machine, rel.type)
            for sec in obj.relocation_sections() if sec.name.startswith(f".klp.rela.{objname}.")
            for rel in sec.relocations}


def target_types(obj, symbols):
    """The relocation type names of every relocation against one of ``symbols`` (names)
    outside the klp sections: in the unconverted module, what GCC emitted to reach them."""
    return {reloc_type_name(obj.machine, rel.type)
            for sec in obj.relocation_sections() if not sec.name.startswith(".klp.")
            for rel in sec.relocations if rel.symbol.name in symbols}


def _text_klp_section(obj):
    return next(s for s in obj.relocation_sections()
                if s.name.startswith(f".klp.rela.{TARGET}.") and ".text" in s.name)


def unsupported_type(obj):
    """The first code relocation to rtarget gets the smallest type number this
    architecture's loader (of the module's kernel generation) does not apply, one it refuses
    with a message."""
    loader = rules_for_module(obj).generation.loader_for(obj.machine)
    rtype = next(t for t in range(1, 1 << 16)
                 if t not in loader.accepted and t not in loader.silent_refusals)
    _text_klp_section(obj).relocations[0].type = rtype


PPC_NOP = 0x60000000
PPC_MR_R0_R0 = 0x7C000378  # `mr r0,r0`: a harmless instruction that is not the nop


def missing_nop(obj):
    """ppc64: the `nop` after the first `bl` to a converted function becomes another
    instruction, as if the call had been written in assembly."""
    sec = _text_klp_section(obj)
    order = "big" if obj.big_endian else "little"
    data = bytearray(sec.info.data)
    for rel in sec.relocations:
        after = slice(rel.offset + 4, rel.offset + 8)
        if rel.type == 10 and int.from_bytes(data[after], order) == PPC_NOP:
            data[after] = PPC_MR_R0_R0.to_bytes(4, order)
            sec.info.data = bytes(data)
            return
    raise AssertionError("no `bl` + nop to a converted function")


def refused_variants(machine):
    """{file stem: edit} of the copies this architecture's loader refuses."""
    variants = {"refused_type": unsupported_type}
    if machine == EM_PPC64:
        variants["refused_nop"] = missing_nop
    return variants
