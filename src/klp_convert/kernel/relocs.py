"""Relocation type names per architecture (for messages and `show`).

Only the types a kernel module meets are named; any other prints as its number. The tables of
types each module loader accepts live beside these (see check)."""

from ..elf.constants import EM_386, EM_AARCH64, EM_PPC64, EM_S390, EM_X86_64, EM_LOONGARCH

RELOC_NAMES = {
    EM_X86_64: {
        0: "R_X86_64_NONE", 1: "R_X86_64_64", 2: "R_X86_64_PC32", 3: "R_X86_64_GOT32",
        4: "R_X86_64_PLT32", 9: "R_X86_64_GOTPCREL", 10: "R_X86_64_32", 11: "R_X86_64_32S",
        24: "R_X86_64_PC64", 41: "R_X86_64_GOTPCRELX", 42: "R_X86_64_REX_GOTPCRELX",
    },
    EM_386: {0: "R_386_NONE", 1: "R_386_32", 2: "R_386_PC32", 4: "R_386_PLT32"},
    EM_PPC64: {
        0: "R_PPC64_NONE", 1: "R_PPC64_ADDR32", 10: "R_PPC64_REL24", 26: "R_PPC64_REL32",
        38: "R_PPC64_ADDR64", 44: "R_PPC64_REL64", 47: "R_PPC64_TOC16",
        48: "R_PPC64_TOC16_LO", 49: "R_PPC64_TOC16_HI", 50: "R_PPC64_TOC16_HA",
        51: "R_PPC64_TOC", 63: "R_PPC64_TOC16_DS", 64: "R_PPC64_TOC16_LO_DS",
        116: "R_PPC64_REL24_NOTOC", 118: "R_PPC64_ENTRY", 249: "R_PPC64_REL16",
        250: "R_PPC64_REL16_LO", 251: "R_PPC64_REL16_HI", 252: "R_PPC64_REL16_HA",
    },
    EM_S390: {
        0: "R_390_NONE", 4: "R_390_32", 5: "R_390_PC32", 12: "R_390_PLT32", 16: "R_390_PC16DBL",
        19: "R_390_PC32DBL", 20: "R_390_PLT32DBL", 22: "R_390_64", 23: "R_390_PC64",
        26: "R_390_GOTENT",
    },
    EM_AARCH64: {
        0: "R_AARCH64_NONE", 257: "R_AARCH64_ABS64", 258: "R_AARCH64_ABS32",
        260: "R_AARCH64_PREL64", 261: "R_AARCH64_PREL32", 275: "R_AARCH64_ADR_PREL_PG_HI21",
        277: "R_AARCH64_ADD_ABS_LO12_NC", 282: "R_AARCH64_JUMP26", 283: "R_AARCH64_CALL26",
        286: "R_AARCH64_LDST64_ABS_LO12_NC", 278: "R_AARCH64_LDST8_ABS_LO12_NC",
        284: "R_AARCH64_LDST16_ABS_LO12_NC", 285: "R_AARCH64_LDST32_ABS_LO12_NC",
        299: "R_AARCH64_LDST128_ABS_LO12_NC",
    },
    # arch/loongarch/include/asm/elf.h: the types a module's code and data use
    EM_LOONGARCH: {
        0: "R_LARCH_NONE", 1: "R_LARCH_32", 2: "R_LARCH_64", 50: "R_LARCH_ADD32",
        51: "R_LARCH_ADD64", 55: "R_LARCH_SUB32", 56: "R_LARCH_SUB64", 64: "R_LARCH_B16",
        65: "R_LARCH_B21", 66: "R_LARCH_B26", 67: "R_LARCH_ABS_HI20", 68: "R_LARCH_ABS_LO12",
        69: "R_LARCH_ABS64_LO20", 70: "R_LARCH_ABS64_HI12", 71: "R_LARCH_PCALA_HI20",
        72: "R_LARCH_PCALA_LO12", 73: "R_LARCH_PCALA64_LO20", 74: "R_LARCH_PCALA64_HI12",
        75: "R_LARCH_GOT_PC_HI20", 76: "R_LARCH_GOT_PC_LO12", 99: "R_LARCH_32_PCREL",
        100: "R_LARCH_RELAX", 102: "R_LARCH_ALIGN", 103: "R_LARCH_PCREL20_S2",
        109: "R_LARCH_64_PCREL", 110: "R_LARCH_CALL36", 128: "R_LARCH_PCADD_HI20",
        129: "R_LARCH_PCADD_LO12", 130: "R_LARCH_GOT_PCADD_HI20", 131: "R_LARCH_GOT_PCADD_LO12",
    },
}


def reloc_type_name(machine, rtype):
    """'R_X86_64_PC32' for (EM_X86_64, 2); the number as text when we do not know the name."""
    return RELOC_NAMES.get(machine, {}).get(rtype, str(rtype))


# SHT_REL relocation types whose implicit addend is the 32-bit field at r_offset. The kernel
# applies klp sections as SHT_RELA, so these addends move into the entry (see convert.apply).
_REL_FIELD_BYTES = {EM_386: {1: 4, 2: 4, 4: 4}}


def implicit_addend_bytes(machine, rtype):
    """Size of the field holding a REL relocation's addend, or None when we do not know it."""
    return _REL_FIELD_BYTES.get(machine, {}).get(rtype)
