"""Read, edit and write ELF relocatable objects (ET_REL), ELF32/ELF64, either byte order.

Knows nothing about kernels. See model.py for the object model, reader.py and writer.py for
the file format work.
"""

from .constants import *  # noqa: F401,F403  (the ELF names are part of this layer's API)
from .elffile import ElfObject, SaveResult, write_atomically
from .model import (
    GroupSection, Relocation, RelocationSection, Section, StringTable, Symbol, SymbolTable,
    SymtabShndx,
)
from ..errors import ElfError

__all__ = [
    "ElfObject", "ElfError", "SaveResult", "write_atomically", "Section", "StringTable",
    "SymbolTable", "SymtabShndx", "RelocationSection", "GroupSection", "Symbol", "Relocation",
]
