"""The object model of an ELF relocatable file.

Sections, symbols and relocations are plain objects that refer to each other: a relocation holds
its Symbol, a relocation section holds its symbol table and its target Section, a symbol holds the
Section it is defined in. File indices exist only while reading and writing (``index`` attributes
are informational: the index as read, or as assigned by the last write), so edits never juggle
numbers. The writer (writer.py) renumbers everything in one pass.
"""

from itertools import accumulate, repeat
from operator import add

from .constants import (
    SHN_LORESERVE,
    SHN_UNDEF,
    SHN_XINDEX,
    SHT_GROUP,
    SHT_NOBITS,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    SHT_SYMTAB_SHNDX,
    STB_LOCAL,
)


class Symbol:
    """One symbol table entry.

    ``section`` is the Section the symbol is defined in, or None; then ``reserved_shndx`` holds
    SHN_UNDEF or a reserved index such as SHN_ABS, SHN_COMMON or SHN_LIVEPATCH (0xff20).
    """

    __slots__ = (
        "name", "value", "size", "bind", "type", "other",
        "section", "reserved_shndx", "index", "_name_offset", "_orig_name",
    )

    def __init__(self, name, value=0, size=0, bind=STB_LOCAL, type=0, other=0,
                 section=None, shndx=SHN_UNDEF):
        self.name = name
        self.value = value
        self.size = size
        self.bind = bind
        self.type = type
        self.other = other
        self.section = None
        self.reserved_shndx = SHN_UNDEF
        self.index = None
        self._name_offset = None
        self._orig_name = None
        self.place(section if section is not None else shndx)

    def place(self, where):
        """Define the symbol in a Section, or give it a reserved index (SHN_UNDEF, 0xff20, ...)."""
        if isinstance(where, Section):
            self.section = where
            self.reserved_shndx = SHN_UNDEF
        else:
            where = int(where)
            if where != SHN_UNDEF and not SHN_LORESERVE <= where < SHN_XINDEX:
                raise ValueError(f"{where:#x} is not SHN_UNDEF or a reserved section index")
            self.section = None
            self.reserved_shndx = where

    @property
    def shndx(self):
        """The section index as the file would say it (extended indices not folded)."""
        return self.section.index if self.section is not None else self.reserved_shndx

    @property
    def is_undefined(self):
        return self.section is None and self.reserved_shndx == SHN_UNDEF

    @property
    def is_local(self):
        return self.bind == STB_LOCAL

    def __repr__(self):
        return f"<Symbol {self.name!r} #{self.index}>"


class Relocation:
    """One relocation entry; ``addend`` is None in SHT_REL sections."""

    __slots__ = ("offset", "type", "symbol", "addend")

    def __init__(self, offset, type, symbol, addend=0):
        self.offset = offset
        self.type = type
        self.symbol = symbol
        self.addend = addend

    def __repr__(self):
        return f"<Relocation +{self.offset:#x} type {self.type} {self.symbol.name!r} {self.addend}>"


class Section:
    """A section. ``link`` and ``info`` hold Section objects where the ELF rules make them
    section indices, else plain integers."""

    def __init__(self, name, type, flags=0, data=b"", addr=0, addralign=1, entsize=0,
                 link=None, info=None, nobits_size=0):
        self.name = name
        self.type = type
        self.flags = flags
        self.addr = addr
        self.addralign = addralign
        self.entsize = entsize
        self.link = link
        self.info = info
        self.data = data if type != SHT_NOBITS else b""
        self.nobits_size = nobits_size
        self.index = None
        self._name_offset = None
        self._orig_name = None
        # Original file extent (offset, size), None for sections that did not come from a file.
        self._orig_extent = None

    @property
    def size(self):
        if self.type == SHT_NOBITS:
            return self.nobits_size
        return len(self.content_preview())

    def content_preview(self):
        """Section bytes as they stand; derived sections override it."""
        return self.data

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} #{self.index}>"


class StringTable(Section):
    """SHT_STRTAB: the original bytes stay as they are; new names are appended at the end."""

    def __init__(self, name, data=b"\0", **kw):
        super().__init__(name, SHT_STRTAB, data=data, **kw)
        self._starts = None  # name -> offset of strings found in the original data, built lazily
        self._added = {}  # name -> offset for appended names
        self._added_size = 0

    def offset_of(self, name):
        """The offset of ``name``, appending it when the table does not hold it yet."""
        if self._starts is None:
            pieces = self.data.split(b"\0")
            # each string starts after the previous ones and their NULs (counted in C: a
            # huge module names 66,000 sections); the first offset of a repeated string wins,
            # so the dict is filled from the end
            starts = list(accumulate(map(add, map(len, pieces), repeat(1)), initial=0))
            self._starts = dict(zip(reversed(pieces), reversed(starts[:-1])))
        raw = name.encode("utf-8", "surrogateescape")
        if raw in self._starts:
            return self._starts[raw]
        offset = self._added.get(raw)
        if offset is None:
            offset = self._added[raw] = len(self.data) + self._added_size
            self._added_size += len(raw) + 1
        return offset

    def content_preview(self):
        if not self._added:
            return self.data
        return self.data + b"\0".join(self._added) + b"\0"


class SymbolTable(Section):
    """SHT_SYMTAB: ``symbols`` starts with the null symbol; ``link`` is the StringTable."""

    def __init__(self, name=".symtab", strtab=None, **kw):
        kw.setdefault("addralign", 8)
        super().__init__(name, SHT_SYMTAB, link=strtab, **kw)
        self.symbols = [Symbol("")]
        self._orig_count = None

    @property
    def strtab(self):
        return self.link

    def add(self, symbol):
        """Add a symbol: locals go after the last local, others at the end."""
        if symbol.is_local:
            pos = next((i for i, s in enumerate(self.symbols) if i and not s.is_local),
                       len(self.symbols))
            self.symbols.insert(pos, symbol)
        else:
            self.symbols.append(symbol)
        return symbol

    def remove(self, symbol):
        self.symbols.remove(symbol)


class SymtabShndx(Section):
    """SHT_SYMTAB_SHNDX: its content is derived from its symbol table at write time."""

    def __init__(self, name=".symtab_shndx", symtab=None, **kw):
        kw.setdefault("addralign", 4)
        kw.setdefault("entsize", 4)
        super().__init__(name, SHT_SYMTAB_SHNDX, link=symtab, **kw)


class RelocationSection(Section):
    """SHT_RELA or SHT_REL. ``link`` is the SymbolTable, ``info`` the target Section.

    Entries are decoded only when ``relocations`` is first used, so reading a large module
    costs nothing for the relocation sections nobody looks at.
    """

    def __init__(self, name, target=None, symtab=None, with_addend=True, **kw):
        super().__init__(name, SHT_RELA if with_addend else SHT_REL, link=symtab, info=target,
                         **kw)
        self._relocations = []
        self._decode = None  # callable producing the list, set by the reader

    @property
    def with_addend(self):
        return self.type == SHT_RELA

    @property
    def symtab(self):
        return self.link

    @property
    def target(self):
        return self.info

    @property
    def decoded(self):
        return self._decode is None

    @property
    def relocations(self):
        if self._decode is not None:
            self._relocations = self._decode()
            self._decode = None
        return self._relocations

    @relocations.setter
    def relocations(self, value):
        self._decode = None
        self._relocations = list(value)


class GroupSection(Section):
    """SHT_GROUP: a flag word and member sections; ``info`` is the signature Symbol."""

    def __init__(self, name=".group", symtab=None, signature=None, group_flags=0, members=(),
                 **kw):
        kw.setdefault("addralign", 4)
        kw.setdefault("entsize", 4)
        super().__init__(name, SHT_GROUP, link=symtab, info=signature, **kw)
        self.group_flags = group_flags
        self.members = list(members)


def section_class(sh_type):
    """The model class for a section type."""
    return {
        SHT_STRTAB: StringTable,
        SHT_SYMTAB: SymbolTable,
        SHT_SYMTAB_SHNDX: SymtabShndx,
        SHT_RELA: RelocationSection,
        SHT_REL: RelocationSection,
        SHT_GROUP: GroupSection,
    }.get(sh_type, Section)
