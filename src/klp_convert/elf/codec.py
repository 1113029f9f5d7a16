"""Binary layouts of ELF records, one codec per (class, endianness), built once and shared.

Field order inside a tuple always follows the on-disk order of the record, which differs between
ELF32 and ELF64 symbols; the codec hides that by offering named accessors where it matters.
"""

import struct
from functools import lru_cache

from .constants import ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB


class Codec:
    """struct.Struct objects and r_info helpers for one ELF class and byte order."""

    def __init__(self, elf_class, data):
        if elf_class not in (ELFCLASS32, ELFCLASS64) or data not in (ELFDATA2LSB, ELFDATA2MSB):
            raise ValueError("unsupported ELF class or data encoding")
        self.elf_class = elf_class
        self.is64 = elf_class == ELFCLASS64
        self.big_endian = data == ELFDATA2MSB
        e = ">" if self.big_endian else "<"
        self.endian = e
        if self.is64:
            self.ehdr = struct.Struct(e + "16sHHIQQQIHHHHHH")
            self.shdr = struct.Struct(e + "IIQQQQIIQQ")
            # st_name, st_info, st_other, st_shndx, st_value, st_size
            self.sym = struct.Struct(e + "IBBHQQ")
            self.rela = struct.Struct(e + "QQq")
            self.rel = struct.Struct(e + "QQ")
            self.word_size = 8
        else:
            self.ehdr = struct.Struct(e + "16sHHIIIIIHHHHHH")
            self.shdr = struct.Struct(e + "IIIIIIIIII")
            # st_name, st_value, st_size, st_info, st_other, st_shndx
            self.sym = struct.Struct(e + "IIIBBH")
            self.rela = struct.Struct(e + "IIi")
            self.rel = struct.Struct(e + "II")
            self.word_size = 4
        self.u32 = struct.Struct(e + "I")
        self.address = struct.Struct(e + ("Q" if self.is64 else "I"))

    # r_info packs the symbol index and the relocation type; the split differs by class.
    # (Loops over every relocation use the shift and mask themselves: no call per entry.)
    @property
    def r_shift(self):
        """r_info = symbol index << r_shift | type."""
        return 32 if self.is64 else 8

    @property
    def r_type_mask(self):
        return 0xFFFFFFFF if self.is64 else 0xFF

    def r_sym(self, info):
        return info >> self.r_shift

    def r_type(self, info):
        return info & self.r_type_mask

    def r_info(self, sym_index, rtype):
        return (sym_index << self.r_shift) | rtype

    def max_r_sym(self):
        return 0xFFFFFFFF if self.is64 else 0xFFFFFF

    def unpack_sym(self, raw):
        """Return (name, info, other, shndx, value, size) whatever the class."""
        if self.is64:
            return raw
        name, value, size, info, other, shndx = raw
        return name, info, other, shndx, value, size

    def pack_sym(self, name, info, other, shndx, value, size):
        if self.is64:
            return self.sym.pack(name, info, other, shndx, value, size)
        return self.sym.pack(name, value, size, info, other, shndx)

    def reloc_struct(self, with_addend):
        return self.rela if with_addend else self.rel


@lru_cache(maxsize=None)
def codec_for(elf_class, data):
    """The shared codec for one (EI_CLASS, EI_DATA) pair."""
    return Codec(elf_class, data)
