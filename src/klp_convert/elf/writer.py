"""Serialise the model back to bytes: renumber, rebuild derived tables, lay out, keep the rest.

One write phase, in a fixed order:
  1. number the sections (adding .symtab_shndx when extended indices need one);
  2. order each symbol table (locals first, stable) and number the symbols;
  3. resolve every name to a string table offset (existing names keep theirs, new ones appended);
  4. build the bytes of every section whose content is derived (symbols, relocations, groups);
  5. lay the file out: start from the original bytes, keep each section at its old offset when
     it still fits, append the others, then write the section headers and the ELF header.
A no-op load/save therefore reproduces the input byte for byte, trailing data included.
"""

from .constants import (
    SHN_LORESERVE, SHN_XINDEX, SHT_NOBITS, SHT_NULL, STB_LOCAL,
)
from .model import (
    GroupSection, RelocationSection, Section, StringTable, SymbolTable, SymtabShndx,
)
from ..errors import ElfError


# A section that has to move is placed at the end of the file, aligned; past this alignment
# the padding would be absurd (the input is broken), so we refuse.
MAX_MOVED_ALIGNMENT = 1 << 16


def serialize(obj):
    """Return (bytes, dropped_trailer_length) for the ElfObject ``obj``."""
    return _Writer(obj).run()


class _Writer:
    def __init__(self, obj):
        self.obj = obj
        self.codec = obj.codec

    def fail(self, message):
        raise ElfError(self.obj.path, message)

    def run(self):
        # (numbering sections may add a .symtab_shndx, never a symbol table)
        self.symtabs = [s for s in self.obj.sections if isinstance(s, SymbolTable)]
        self.number_sections()
        self.check_references()
        for symtab in self.symtabs:
            self.number_symbols(symtab)
        self.assign_names()
        contents = [self.content(sec) for sec in self.obj.sections]
        return self.layout(contents)

    # -- 1. sections ----------------------------------------------------------------------

    def number_sections(self):
        sections = self.obj.sections
        if not sections or sections[0].type != SHT_NULL:
            self.fail("the section list must start with the null section")
        for i, sec in enumerate(sections):
            sec.index = i
        if len(sections) < SHN_LORESERVE:
            return
        # Past 0xff00 sections a symbol's section index no longer fits st_shndx; it goes to
        # .symtab_shndx, which must then exist.
        for symtab in self.symtabs:
            has_table = any(isinstance(s, SymtabShndx) and s.link is symtab for s in sections)
            if not has_table and any(s.section is not None and s.section.index >= SHN_LORESERVE
                                     for s in symtab.symbols):
                table = SymtabShndx(symtab=symtab)
                table.index = len(sections)
                sections.append(table)

    def check_references(self):
        """Every section referred to must still be in the file: say which one is missing."""
        present = set(map(id, self.obj.sections))

        def check(sec, other, how):
            if isinstance(other, Section) and id(other) not in present:
                self.fail(f"section '{sec.name}' refers through {how} to removed section "
                          f"'{other.name}'")

        for sec in self.obj.sections[1:]:
            # sh_link / sh_info: a Section, a number or None; the common case in one test
            if id(sec.link) not in present and sec.link is not None:
                check(sec, sec.link, "sh_link")
            if id(sec.info) not in present and sec.info is not None:
                check(sec, sec.info, "sh_info")
            if isinstance(sec, GroupSection):
                for member in sec.members:
                    check(sec, member, "its member list")
            if isinstance(sec, SymbolTable):
                for sym in sec.symbols:
                    if sym.section is not None and id(sym.section) not in present:
                        self.fail(f"symbol '{sym.name}' is defined in removed section "
                                  f"'{sym.section.name}'")

    # -- 2. symbols -----------------------------------------------------------------------

    def number_symbols(self, symtab):
        symbols = symtab.symbols
        if not symbols or symbols[0].name or symbols[0].section is not None:
            self.fail(f"'{symtab.name}' must start with the null symbol")
        # Stable partition: the kernel and the gABI want every local before the first global.
        ordered = [symbols[0]] + [s for s in symbols[1:] if s.bind == STB_LOCAL]
        first_global = len(ordered)
        ordered += [s for s in symbols[1:] if s.bind != STB_LOCAL]
        identity = len(ordered) == symtab._orig_count
        for i, sym in enumerate(ordered):
            if sym.index != i:
                identity = False
            sym.index = i
        symtab.symbols = ordered
        symtab._first_global = first_global
        symtab._identity = identity
        symtab._members = {id(s): s.index for s in ordered}

    def assign_names(self):
        shstrtab = self.obj.shstrtab
        for sec in self.obj.sections:
            if sec._name_offset is None or sec.name != sec._orig_name:  # else kept as it is
                sec._name_offset = self.name_offset(shstrtab, sec)
        for symtab in self.symtabs:
            strtab = symtab.link
            for sym in symtab.symbols:
                if sym._name_offset is None or sym.name != sym._orig_name:
                    sym._name_offset = self.name_offset(strtab, sym)

    @staticmethod
    def name_offset(table, item):
        """Keep the old offset for an unchanged name; otherwise find or append the name."""
        if item._name_offset is not None and item.name == item._orig_name:
            return item._name_offset
        item._orig_name = item.name
        return table.offset_of(item.name)

    # -- 4. section contents --------------------------------------------------------------

    def content(self, sec):
        if sec.type in (SHT_NULL, SHT_NOBITS) and sec.index == 0 or sec.type == SHT_NOBITS:
            return None
        if type(sec) is Section:  # most sections: their bytes as they stand
            return bytes(sec.data)
        if isinstance(sec, RelocationSection):  # most of the others
            return self.reloc_bytes(sec)
        if isinstance(sec, SymbolTable):
            return self.symtab_bytes(sec)
        if isinstance(sec, SymtabShndx):
            return self.shndx_bytes(sec)
        if isinstance(sec, GroupSection):
            if id(sec.info) not in sec.link._members:
                self.fail(f"group '{sec.name}': signature symbol '{sec.info.name}' is not in "
                          f"'{sec.link.name}'")
            words = [sec.group_flags] + [m.index for m in sec.members]
            return b"".join(self.codec.u32.pack(w) for w in words)
        if isinstance(sec, StringTable):
            return sec.content_preview()
        return bytes(sec.data)

    def symtab_bytes(self, symtab):
        pack = self.codec.pack_sym
        out = []
        for sym in symtab.symbols:
            shndx = sym.section.index if sym.section is not None else sym.reserved_shndx
            if sym.section is not None and shndx >= SHN_LORESERVE:
                shndx = SHN_XINDEX
            info = (sym.bind << 4) | (sym.type & 0xF)
            out.append(pack(sym._name_offset, info, sym.other, shndx, sym.value, sym.size))
        return b"".join(out)

    def shndx_bytes(self, sec):
        pack = self.codec.u32.pack
        words = []
        for sym in sec.link.symbols:
            index = sym.section.index if sym.section is not None else 0
            words.append(pack(index if index >= SHN_LORESERVE else 0))
        return b"".join(words)

    def reloc_bytes(self, sec):
        symtab = sec.link
        if not sec.decoded and symtab._identity:
            return bytes(sec.data)  # untouched, and no symbol moved: the old bytes are right
        if not sec.relocations:
            return b""  # (a conversion empties thousands)
        codec = self.codec
        members = symtab._members
        with_addend = sec.with_addend
        rstruct = codec.reloc_struct(with_addend)
        shift = codec.r_shift  # (codec.r_info, inline)
        out = []
        for rel in sec.relocations:
            index = members.get(id(rel.symbol))
            if index is None:
                self.fail(f"relocation at '{sec.name}'+{rel.offset:#x} refers to symbol "
                          f"'{rel.symbol.name}', which is not in '{symtab.name}'")
            info = (index << shift) | rel.type
            if with_addend:
                out.append(rstruct.pack(rel.offset, info, rel.addend or 0))
            else:
                if rel.addend:
                    self.fail(f"relocation at '{sec.name}'+{rel.offset:#x} has addend "
                              f"{rel.addend}, which an SHT_REL section cannot hold")
                out.append(rstruct.pack(rel.offset, info))
        return b"".join(out)

    # -- 5. layout ------------------------------------------------------------------------

    def layout(self, contents):
        obj, codec = self.obj, self.codec
        sections = obj.sections
        original = obj.original
        prefix = original[:obj.layout_end] if original is not None else b""
        out = bytearray(prefix) if prefix else bytearray(codec.ehdr.size)
        keep = self.kept_in_place(contents)
        self.clear_vacated(out, keep)

        offsets = [0] * len(sections)  # by section index
        for sec, data in zip(sections, contents):
            if data is None:
                continue
            offset = keep.get(id(sec))
            if offset is not None:
                old_size = sec._orig_extent[1]
                out[offset:offset + len(data)] = data
                if len(data) < old_size:
                    out[offset + len(data):offset + old_size] = bytes(old_size - len(data))
            else:
                if sec.addralign > MAX_MOVED_ALIGNMENT:
                    self.fail(f"cannot move section '{sec.name}' with alignment "
                              f"{sec.addralign:#x}")
                offset = _align(len(out), sec.addralign)
                out.extend(bytes(offset - len(out)))
                out.extend(data)
            offsets[sec.index] = offset
        for sec in sections:  # NOBITS sections keep their old offset, new ones point at the end
            if sec.type == SHT_NOBITS or sec.index == 0:
                extent = sec._orig_extent
                offsets[sec.index] = extent[0] if extent is not None else (
                    len(out) if sec.index else 0)

        shdr_size = codec.shdr.size * len(sections)
        if obj.header.shoff and len(sections) == obj._original_shnum and original is not None:
            shoff = obj.header.shoff
        else:
            if original is not None and obj.header.shoff:
                old = obj.header.shoff
                out[old:old + codec.shdr.size * obj._original_shnum] = bytes(
                    codec.shdr.size * obj._original_shnum)
            shoff = _align(len(out), codec.word_size)
            out.extend(bytes(shoff - len(out)))
        table = self.section_headers(contents, offsets)
        end = shoff + shdr_size
        if len(out) < end:
            out.extend(bytes(end - len(out)))
        out[shoff:end] = table
        out[0:codec.ehdr.size] = self.elf_header(shoff)

        trailer = original[obj.layout_end:] if original is not None else b""
        if trailer and out == prefix:
            return bytes(out) + trailer, 0
        return bytes(out), len(trailer)

    def kept_in_place(self, contents):
        """{id(section): its old offset} for the sections that still fit where they were."""
        keep = {}
        for sec, data in zip(self.obj.sections, contents):
            extent = sec._orig_extent
            if data is not None and extent is not None and sec.index and len(data) <= extent[1]:
                keep[id(sec)] = extent[0]
        return keep

    def clear_vacated(self, out, keep):
        """Zero what no longer lives where it was: removed sections and sections that move."""
        for sec in self.obj._original_sections:
            if sec.type in (SHT_NULL, SHT_NOBITS) or sec._orig_extent is None:
                continue
            if id(sec) not in keep:  # (a removed section is never kept)
                offset, size = sec._orig_extent
                out[offset:offset + size] = bytes(size)

    def section_headers(self, contents, offsets):
        """The section header table: the null entry, then one entry per section."""
        sections = self.obj.sections
        pack = self.codec.shdr.pack
        headers = [self.null_header(offsets[0])]
        for sec, data in zip(sections[1:], contents[1:]):
            size = sec.nobits_size if data is None else len(data)
            info = sec._first_global if isinstance(sec, SymbolTable) else _ref(sec.info)
            headers.append(pack(sec._name_offset, sec.type, sec.flags, sec.addr,
                                offsets[sec.index], size, _ref(sec.link), info, sec.addralign,
                                sec.entsize))
        return b"".join(headers)

    def null_header(self, offset):
        """Section 0: past SHN_LORESERVE sections it holds the count and e_shstrndx."""
        sec = self.obj.sections[0]
        count = len(self.obj.sections)
        size = count if count >= SHN_LORESERVE else 0
        shstrndx = self.obj.shstrtab.index
        link = shstrndx if shstrndx >= SHN_LORESERVE else 0
        return self.codec.shdr.pack(0, SHT_NULL, sec.flags, sec.addr, offset, size, link,
                                    _ref(sec.info), sec.addralign, sec.entsize)

    def elf_header(self, shoff):
        h = self.obj.header
        count = len(self.obj.sections)
        shnum = count if count < SHN_LORESERVE else 0
        shstrndx = self.obj.shstrtab.index
        if shstrndx >= SHN_LORESERVE:
            shstrndx = SHN_XINDEX
        return self.codec.ehdr.pack(h.ident, h.type, h.machine, h.version, h.entry, h.phoff,
                                    shoff, h.flags, h.ehsize, h.phentsize, h.phnum,
                                    self.codec.shdr.size, shnum, shstrndx)


def _ref(value):
    """sh_link / sh_info as a number: a Section or Symbol gives its index, None gives 0."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return value.index


def _align(value, alignment):
    alignment = max(int(alignment or 1), 1)
    return (value + alignment - 1) // alignment * alignment
