"""Parse an ELF relocatable object into the model, checking every index and extent on the way.

Every problem with the input raises ElfError naming the file; nothing else may escape for bad
input. The checks are done in bulk where possible (relocation symbol indices with one max()),
so validating a whole distribution module tree stays fast.
"""

import sys
from array import array
from bisect import bisect_right
from itertools import accumulate, compress, repeat
from operator import add, is_, ne
from struct import unpack_from

from .codec import codec_for
from .constants import (
    ELFMAG, EI_CLASS, EI_DATA, ET_DYN, ET_EXEC, ET_REL, SHF_INFO_LINK, SHF_LINK_ORDER, SHN_LORESERVE,
    SHN_UNDEF, SHN_XINDEX, SHT_GROUP, SHT_NOBITS, SHT_NULL, SHT_REL, SHT_RELA, SHT_SYMTAB,
    SHT_SYMTAB_SHNDX, SHT_STRTAB,
)
from .model import (
    GroupSection, Relocation, RelocationSection, Section, StringTable, Symbol, SymbolTable,
    section_class,
)
from ..errors import ElfError

_SHT_NAMES = {SHT_SYMTAB: "SHT_SYMTAB", SHT_RELA: "SHT_RELA", SHT_REL: "SHT_REL",
              SHT_GROUP: "SHT_GROUP", SHT_SYMTAB_SHNDX: "SHT_SYMTAB_SHNDX"}


class Header:
    """The ELF header fields we keep: everything needed to write the same header back."""

    __slots__ = ("ident", "type", "machine", "version", "entry", "phoff", "flags", "ehsize",
                 "phentsize", "phnum", "shentsize", "shoff", "shnum", "shstrndx")


def parse(data, path):
    """Parse ``data`` (bytes) read from ``path``; returns (codec, header, sections, layout_end)."""
    return _Parser(data, path).run()


class _Parser:
    def __init__(self, data, path):
        self.data = data
        self.path = path

    def fail(self, message):
        raise ElfError(self.path, message)

    def run(self):
        codec, hdr = self.read_header()
        self.codec = codec
        raw = self.read_section_headers(hdr)
        self.check_layout(raw)
        names = self.read_section_names(hdr, raw)
        sections = [self.make_section(i, r, names[i]) for i, r in enumerate(raw)]
        self.sections = sections
        self.link_sections(raw)
        for sec in sections:
            if isinstance(sec, SymbolTable):
                self.read_symbols(sec, raw[sec.index])
        self.check_relocation_symbols([s for s in sections if isinstance(s, RelocationSection)])
        for sec in sections:
            if isinstance(sec, RelocationSection):
                sec._decode = _relocation_decoder(self.codec, sec)
            elif isinstance(sec, GroupSection):
                self.read_group(sec, raw[sec.index])
        return codec, hdr, sections, self.layout_end(hdr, raw)

    # -- header and section headers -----------------------------------------------------

    def read_header(self, allow_executable=False):
        data = self.data
        if len(data) < 16 or data[:4] != ELFMAG:
            self.fail("not an ELF file")
        try:
            codec = codec_for(data[EI_CLASS], data[EI_DATA])
        except ValueError:
            self.fail(f"unsupported ELF class {data[EI_CLASS]} or data encoding {data[EI_DATA]}")
        if len(data) < codec.ehdr.size:
            self.fail(f"truncated ELF header ({len(data)} bytes)")
        hdr = Header()
        (hdr.ident, hdr.type, hdr.machine, hdr.version, hdr.entry, hdr.phoff, hdr.shoff,
         hdr.flags, hdr.ehsize, hdr.phentsize, hdr.phnum, hdr.shentsize, hdr.shnum,
         hdr.shstrndx) = codec.ehdr.unpack_from(data, 0)
        if hdr.type != ET_REL and not (allow_executable and hdr.type in (ET_EXEC, ET_DYN)):
            self.fail(f"not a relocatable object (e_type {hdr.type}, expected ET_REL)")
        if hdr.phnum and hdr.phoff + hdr.phnum * hdr.phentsize > len(data):
            self.fail("program header table extends past the end of the file")
        return codec, hdr

    def read_section_headers(self, hdr):
        codec, data = self.codec, self.data
        if hdr.shoff == 0:
            self.fail("no section header table")
        if hdr.shentsize != codec.shdr.size:
            self.fail(f"e_shentsize is {hdr.shentsize}, expected {codec.shdr.size}")
        if hdr.shoff + codec.shdr.size > len(data):
            self.fail(f"section header table at {hdr.shoff:#x} lies past the end of the file")
        first = codec.shdr.unpack_from(data, hdr.shoff)
        count = hdr.shnum
        if count == 0:  # extended numbering: the real count is in section 0's sh_size
            count = first[5]
        if count == 0:
            self.fail("section header table is empty")
        end = hdr.shoff + count * codec.shdr.size
        if end > len(data):
            self.fail(f"section header table ({count} entries at {hdr.shoff:#x}) extends "
                      f"past the end of the file ({len(data)} bytes)")
        shstrndx = hdr.shstrndx
        if shstrndx == SHN_XINDEX:
            shstrndx = first[6]
        if not 0 < shstrndx < count:
            self.fail(f"section name table index {shstrndx} is out of range")
        self.shnum, self.shstrndx = count, shstrndx
        hdr.shstrndx = shstrndx  # resolved; the writer computes the field anew
        raw = list(codec.shdr.iter_unpack(data[hdr.shoff:end]))
        if _headers_look_sound(raw, count, len(data)):
            return raw
        for i, (_n, sh_type, _f, _a, offset, size, link, _i, align, _es) in enumerate(raw):
            # Section 0 keeps the extended count in sh_size; any other SHT_NULL entry's extent
            # is checked like the rest (the writer keeps it where it was).
            if sh_type != SHT_NOBITS and (sh_type != SHT_NULL or i) and \
                    offset + size > len(data):
                self.fail(f"section [{i}] data ({size} bytes at {offset:#x}) extends past the "
                          f"end of the file ({len(data)} bytes)")
            if link >= count and i:
                self.fail(f"section [{i}] sh_link {link} is out of range")
            if raw_align(align) is None:
                self.fail(f"section [{i}] sh_addralign {align} is not a power of two")
        return raw

    def check_layout(self, raw):
        """Sections of a relocatable object never share bytes, and it has one symbol table
        (gABI). Checked before anything is decoded: otherwise a small crafted file whose
        section headers all point at one region, or that holds many overlapping symbol tables,
        would be decoded once per header and take gigabytes."""
        tables = [i for i, r in enumerate(raw) if r[1] == SHT_SYMTAB]
        if len(tables) > 1:
            self.fail(f"{len(tables)} symbol tables (sections {tables[0]} and {tables[1]}, ...): "
                      f"a relocatable object has one")
        extents = sorted((r[4], r[4] + r[5], i) for i, r in enumerate(raw)
                         if i and r[5] and r[1] not in (SHT_NOBITS, SHT_NULL))
        for (_start, end, first), (start, _end, second) in zip(extents, extents[1:]):
            if start < end:
                self.fail(f"sections [{first}] and [{second}] overlap in the file")

    def read_section_names(self, hdr, raw):
        r = raw[self.shstrndx]
        if r[1] != SHT_STRTAB:
            self.fail(f"section name table [{self.shstrndx}] is not SHT_STRTAB")
        table = self.data[r[4]:r[4] + r[5]]
        names = _strings_at(table, [h[0] for h in raw])
        if names is None:  # names beyond ASCII, or bad offsets (string() says which)
            names = [self.string(table, h[0], f"name of section [{i}]")
                     for i, h in enumerate(raw)]
        return names

    def string(self, table, offset, what):
        end = table.find(b"\0", offset)
        if offset >= len(table) or end < 0:
            self.fail(f"{what}: string offset {offset} is out of range")
        return table[offset:end].decode("utf-8", "surrogateescape")

    def make_section(self, index, raw, name):
        sh_name, sh_type, flags, addr, offset, size, _link, _info, align, entsize = raw
        cls = section_class(sh_type) if index else Section
        sec = cls.__new__(cls)
        Section.__init__(sec, name, sh_type, flags=flags, addr=addr, addralign=align,
                         entsize=entsize, nobits_size=size)
        if sh_type != SHT_NOBITS:
            sec.data = self.data[offset:offset + size] if sh_type != SHT_NULL or index else b""
        sec.index = index
        sec._name_offset, sec._orig_name = sh_name, name
        sec._orig_extent = (offset, size)
        if isinstance(sec, StringTable):
            sec._starts, sec._added, sec._added_size = None, {}, 0
        elif isinstance(sec, RelocationSection):
            sec._relocations, sec._decode = [], None
        self.check_entsize(sec, entsize, size)
        return sec

    def check_entsize(self, sec, entsize, size):
        codec = self.codec
        expected = {SHT_SYMTAB: codec.sym.size, SHT_RELA: codec.rela.size,
                    SHT_REL: codec.rel.size, SHT_GROUP: 4, SHT_SYMTAB_SHNDX: 4}.get(sec.type)
        if expected is None:
            return
        what = f"section [{sec.index}] '{sec.name}'"
        if sec.type in (SHT_SYMTAB, SHT_RELA, SHT_REL) and entsize != expected:
            self.fail(f"{what}: bad entsize {entsize} for {_SHT_NAMES[sec.type]} "
                      f"(expected {expected})")
        if size % expected:
            self.fail(f"{what}: size {size} is not a multiple of the entry size {expected}")

    def link_sections(self, raw):
        """Turn sh_link / sh_info numbers into Section (or, for groups, Symbol) references."""
        sections = self.sections
        for sec, (_n, sh_type, flags, _a, _o, _s, link, info, _al, _es) in zip(sections, raw):
            if sec.index == 0:
                sec.link, sec.info = 0, info
                continue
            sec.link = sections[link] if link else None
            wants_symtab = sh_type in (SHT_RELA, SHT_REL, SHT_GROUP, SHT_SYMTAB_SHNDX)
            if wants_symtab and not isinstance(sec.link, SymbolTable):
                self.fail(f"section [{sec.index}] '{sec.name}': sh_link {link} is not a "
                          f"symbol table")
            if sh_type == SHT_SYMTAB and not isinstance(sec.link, StringTable):
                self.fail(f"symbol table [{sec.index}]: sh_link {link} is not a string table")
            if sh_type in (SHT_RELA, SHT_REL) or (flags & SHF_INFO_LINK):
                if info >= len(sections):
                    self.fail(f"section [{sec.index}] '{sec.name}': sh_info {info} is out "
                              f"of range")
                sec.info = sections[info] if info else None
            elif sh_type in (SHT_SYMTAB, SHT_GROUP):
                sec.info = info  # resolved once the symbols are read
            else:
                sec.info = info
            if flags & SHF_LINK_ORDER and not link:
                self.fail(f"section [{sec.index}] '{sec.name}': SHF_LINK_ORDER without sh_link")

    # -- symbols ------------------------------------------------------------------------

    def read_symbols(self, symtab, raw):
        sections = self.sections
        columns = self.symbol_columns(symtab.index, raw, symtab.link.data, symtab.link.name)
        names, values, sizes, infos, others, shndxs = columns
        extended = self.extended_indices(symtab, len(names))
        shnum = len(sections)
        new = Symbol.__new__
        symbols = []
        append = symbols.append
        for index, shndx in enumerate(shndxs):
            sym = new(Symbol)
            sym.name = sym._orig_name = names[index]
            sym.value, sym.size, sym.other = values[index], sizes[index], others[index]
            info = infos[index]
            sym.bind, sym.type = info >> 4, info & 0xF
            sym.index = index
            if shndx == SHN_UNDEF or SHN_LORESERVE <= shndx < SHN_XINDEX:
                sym.section, sym.reserved_shndx = None, shndx
            else:
                if shndx == SHN_XINDEX:
                    if extended is None:
                        self.fail(f"symbol {index} '{sym.name}' uses SHN_XINDEX but there is "
                                  f"no SHT_SYMTAB_SHNDX section")
                    shndx = extended[index]
                if shndx >= shnum or shndx == 0:
                    self.fail(f"symbol {index} '{sym.name}': section index {shndx} is out of "
                              f"range")
                sym.section, sym.reserved_shndx = sections[shndx], SHN_UNDEF
            append(sym)
        for sym, offset in zip(symbols, columns.name_offsets):
            sym._name_offset = offset
        symtab.symbols = symbols
        symtab._orig_count = len(symbols)
        # Relocations are decoded later, perhaps after symbols were added or removed: they
        # must look indices up in the table as it was read.
        symtab._as_read = tuple(symbols)

    def symbol_columns(self, index, raw, strtab, strtab_name):
        """Decode a whole symbol table at once into columns (C loops, no per-symbol Python).

        Returns SymbolColumns: names, values, sizes, infos, others, shndxs (raw st_shndx).
        """
        codec = self.codec
        self.check_symbol_table(index, raw)
        data = self.data[raw[4]:raw[4] + raw[5]]
        name_offs, infos, others, shndxs, values, sizes = _symbol_fields(codec, data)
        names = _strings_at(strtab, name_offs)
        if names is None:  # names beyond ASCII, or bad offsets (string() says which)
            names = list(map(_string_index(strtab).get, name_offs))
            for i, name in enumerate(names):
                if name is None:  # an offset into the middle of a string (tail sharing)
                    names[i] = self.string(strtab, name_offs[i],
                                           f"symbol {i} (in '{strtab_name}')")
        return SymbolColumns(names, values, sizes, infos, others, shndxs, name_offs)

    def check_symbol_table(self, index, raw):
        """The number of symbols of symbol table [index], its size and sh_info checked (here
        too: scan_symbols skips check_entsize)."""
        size, entry = raw[5], self.codec.sym.size
        if size % entry:
            self.fail(f"symbol table [{index}]: size {size} is not a multiple of the entry "
                      f"size {entry}")
        count = size // entry
        if count == 0:
            self.fail(f"symbol table [{index}] is empty")
        if raw[7] > count:
            self.fail(f"symbol table [{index}]: sh_info {raw[7]} exceeds the {count} symbols")
        return count

    def extended_indices(self, symtab, count):
        for sec in self.sections:
            if sec.type == SHT_SYMTAB_SHNDX and sec.link is symtab:
                if len(sec.data) != 4 * count:
                    self.fail(f"section [{sec.index}] '{sec.name}' has {len(sec.data) // 4} "
                              f"entries for {count} symbols")
                return [v for (v,) in self.codec.u32.iter_unpack(sec.data)]
        return None

    # -- relocations and groups ---------------------------------------------------------

    def check_relocation_symbols(self, relas):
        """Every relocation must name a symbol that exists. Checked now, for all relocation
        sections of one kind and symbol table at once (one max() in C), while the Relocation
        objects are only built when a caller asks for them."""
        codec = self.codec
        groups = {}
        for sec in relas:
            groups.setdefault((sec.with_addend, id(sec.link)), []).append(sec)
        for group in groups.values():
            data = b"".join(s.data for s in group)
            if not data:
                continue
            rstruct = codec.reloc_struct(group[0].with_addend)
            count = len(group[0].link._as_read)
            if codec.r_sym(_column_max(codec, data, rstruct.size, 1)) >= count:
                for sec in group:
                    self.check_one_section(sec, rstruct, count)

    def check_one_section(self, sec, rstruct, count):
        for i, (_off, info, *_rest) in enumerate(rstruct.iter_unpack(sec.data)):
            if self.codec.r_sym(info) >= count:
                self.fail(f"relocation {i} in '{sec.name}' names symbol index "
                          f"{self.codec.r_sym(info)}, but '{sec.link.name}' has only {count} "
                          f"symbols")

    def read_group(self, sec, raw):
        symbols = sec.link.symbols
        if raw[7] >= len(symbols):
            self.fail(f"group [{sec.index}] '{sec.name}': signature symbol {raw[7]} is out "
                      f"of range")
        sec.info = symbols[raw[7]]
        words = [v for (v,) in self.codec.u32.iter_unpack(sec.data)]
        if not words:
            self.fail(f"group [{sec.index}] '{sec.name}' is empty")
        sec.group_flags = words[0]
        for member in words[1:]:
            if not 0 < member < len(self.sections):
                self.fail(f"group [{sec.index}] '{sec.name}': member {member} is out of range")
        sec.members = [self.sections[m] for m in words[1:]]

    def layout_end(self, hdr, raw):
        """Where the ELF layout ends: anything after it (a module signature) is a trailer."""
        end = max(self.codec.ehdr.size, hdr.shoff + len(raw) * self.codec.shdr.size)
        if hdr.phnum:
            end = max(end, hdr.phoff + hdr.phnum * hdr.phentsize)
        for (_n, sh_type, _f, _a, offset, size, *_rest) in raw[1:]:
            if sh_type != SHT_NOBITS:
                end = max(end, offset + size)
        return end


def _headers_look_sound(raw, count, file_size):
    """Whether no section header breaks a rule read_section_headers checks, found in C loops
    over the columns (a tree of modules has a quarter of a million sections); the loop there
    runs only when one does, to name it."""
    if raw[0][1] != SHT_NULL or len(raw) < 2:
        return False
    _n, types, _f, _a, offsets, sizes, links, _i, aligns, _e = zip(*raw[1:])
    if max(links) >= count or any(raw_align(a) is None for a in {raw[0][8], *aligns}):
        return False
    ends = compress(map(add, offsets, sizes), map(ne, types, repeat(SHT_NOBITS)))
    return max(ends, default=0) <= file_size


def raw_align(value):
    """The alignment a sh_addralign value stands for (0 means 1), None if it is not valid."""
    if value == 0:
        return 1
    return value if value & (value - 1) == 0 else None


class SymbolScan:
    """A read-only look at one object's symbol table, without building the object model.

    ``sections``: (name, sh_type, sh_flags) per section index; ``columns``: SymbolColumns;
    ``shndxs``: each symbol's section index with SHN_XINDEX already resolved;
    ``extents``: (sh_offset, sh_size) per section index, to read a section's bytes from the file.
    """

    __slots__ = ("machine", "is64", "big_endian", "sections", "columns", "shndxs", "extents")


def scan_symbols(data, path, allow_executable=False):
    """Read only what is needed to list an object's symbols: fast enough for a whole kernel.

    ``allow_executable`` also accepts ET_EXEC/ET_DYN files (a linked vmlinux): this read-only
    view needs nothing that only relocatable objects have; the editing model stays ET_REL only.
    """
    parser, raw, names, index, link = _symbol_table_of(data, path, allow_executable)
    scan = SymbolScan()
    _describe(scan, parser, raw, names)
    strtab = data[raw[link][4]:raw[link][4] + raw[link][5]]
    scan.columns = parser.symbol_columns(index, raw[index], strtab, names[link])
    scan.shndxs, _extended = _resolved_shndxs(parser, raw, index, scan.columns[5])
    return scan


def section_extents(data):
    """Where the parts of an ELF file lie, for a reader that decompresses only the parts it
    needs (compression.read_module_file ``parts``): ([(start, end)] of the ELF header and of
    the section header table, [(name, sh_type, start, end)] of each section), read from
    ``data`` as far as it holds them (zeros stand for what it does not hold yet: names are
    empty until the section name table is in). Never raises: what cannot be read yet is left
    out, and the checked read that follows says what is wrong with the file."""
    parser = _Parser(data, None)
    ranges = []
    try:
        parser.codec, hdr = parser.read_header()
        entry = parser.codec.shdr.size
        ranges += [(0, parser.codec.ehdr.size), (hdr.shoff, hdr.shoff + max(hdr.shnum, 1) * entry)]
        raw = parser.read_section_headers(hdr)
    except ElfError:
        return ranges, []
    ranges.append((hdr.shoff, hdr.shoff + len(raw) * entry))
    try:
        names = parser.read_section_names(hdr, raw)
    except ElfError:
        names = [""] * len(raw)
    return ranges, [(name, sh_type, offset, offset + size)
                    for name, (_n, sh_type, _f, _a, offset, size, *_rest) in zip(names, raw)
                    if sh_type != SHT_NOBITS]


class RawSymbolTable:
    """An object's symbol table checked but not decoded: what a symbol database stores of a
    module (symdb/symtabs.py), read in a few C loops however many symbols it has.

    ``sections``, ``extents``, ``machine``, ``is64``, ``big_endian``: as in SymbolScan;
    ``symtab``, ``strtab``: the two sections' bytes; ``extended``: the SHT_SYMTAB_SHNDX
    section's bytes when a symbol uses SHN_XINDEX, else None; ``name_offsets``: st_name of
    every symbol (each checked to start a NUL-terminated string); ``shndxs``: each symbol's
    section index with SHN_XINDEX resolved (each checked to be in range).
    """

    __slots__ = ("machine", "is64", "big_endian", "sections", "extents", "symtab", "strtab",
                 "extended", "name_offsets", "shndxs")


def scan_symbol_table(data, path):
    """The RawSymbolTable of a relocatable object (ElfError, as scan_symbols, for bad input)."""
    parser, raw, names, index, link = _symbol_table_of(data, path, False)
    table = RawSymbolTable()
    _describe(table, parser, raw, names)
    count = parser.check_symbol_table(index, raw[index])
    table.symtab = data[raw[index][4]:raw[index][4] + raw[index][5]]
    table.strtab = strtab = data[raw[link][4]:raw[link][4] + raw[link][5]]
    offsets, shndxs = name_and_section_columns(parser.codec, table.symtab, count)
    # A name must end with a NUL inside the table: every offset at or before the last NUL.
    if offsets and max(offsets) > strtab.rfind(b"\0"):
        for i, offset in enumerate(offsets):
            parser.string(strtab, offset, f"symbol {i} (in '{names[link]}')")
    table.name_offsets = offsets
    table.shndxs, table.extended = _resolved_shndxs(parser, raw, index, shndxs)
    return table


def _symbol_table_of(data, path, allow_executable):
    """(parser, raw section headers, section names, symtab index, strtab index), checked."""
    parser = _Parser(data, path)
    parser.codec, hdr = parser.read_header(allow_executable)
    raw = parser.read_section_headers(hdr)
    names = parser.read_section_names(hdr, raw)
    parser.header_machine = hdr.machine
    tables = [i for i, r in enumerate(raw) if r[1] == SHT_SYMTAB]
    if not tables:
        parser.fail("no symbol table")
    index = tables[0]
    link = raw[index][6]
    if raw[link][1] != SHT_STRTAB:
        parser.fail(f"symbol table [{index}]: sh_link {link} is not a string table")
    return parser, raw, names, index, link


def _describe(scan, parser, raw, names):
    scan.machine, scan.is64 = parser.header_machine, parser.codec.is64
    scan.big_endian = parser.codec.big_endian
    scan.sections = [(n, r[1], r[2]) for n, r in zip(names, raw)]
    scan.extents = [(r[4], r[5]) for r in raw]


def _resolved_shndxs(parser, raw, index, shndxs):
    """(section index of each symbol with SHN_XINDEX resolved, the SHT_SYMTAB_SHNDX bytes or
    None), every index checked to be a section or a reserved value."""
    extended_bytes = None
    if SHN_XINDEX in shndxs:
        table = next((r for r in raw if r[1] == SHT_SYMTAB_SHNDX and r[6] == index), None)
        if table is None or table[5] != 4 * len(shndxs):
            parser.fail(f"symbol table [{index}] uses SHN_XINDEX without a matching "
                        f"SHT_SYMTAB_SHNDX section")
        extended_bytes = parser.data[table[4]:table[4] + table[5]]
        extended = [v for (v,) in parser.codec.u32.iter_unpack(extended_bytes)]
        shndxs = [e if s == SHN_XINDEX else s for s, e in zip(shndxs, extended)]
    if max(shndxs) >= len(raw) and \
            any(not (s < len(raw) or SHN_LORESERVE <= s) for s in set(shndxs)):  # few distinct
        for i, s in enumerate(shndxs):
            if not (s < len(raw) or SHN_LORESERVE <= s):
                parser.fail(f"symbol {i}: section index {s} is out of range")
    return shndxs, extended_bytes


class SymbolColumns(tuple):
    """(names, values, sizes, infos, others, shndxs) of one symbol table, plus name offsets."""

    def __new__(cls, names, values, sizes, infos, others, shndxs, name_offsets):
        self = super().__new__(cls, (names, values, sizes, infos, others, shndxs))
        self.name_offsets = name_offsets
        return self


def _strings_at(table, offsets):
    """The NUL-terminated string at each offset into an ASCII string table, in C loops where
    it can be; None if the table is not ASCII or an offset has no string (string() says why).
    Offsets may point into the middle of a string: ld and as share tails ('.text' ends
    '.rela.text', a symbol 'foo' ends '__kstrtab_foo'), a quarter of a module's names."""
    if not table.isascii():
        return None
    pieces = table.decode("ascii").split("\0")  # the last one has no NUL after it
    starts = list(accumulate(map(add, map(len, pieces), repeat(1)), initial=0))
    names = list(map(dict(zip(starts, pieces[:-1])).get, offsets))
    if None in names:
        last = len(pieces) - 1
        for i in compress(range(len(names)), map(is_, names, repeat(None))):
            offset = offsets[i]
            piece = bisect_right(starts, offset) - 1
            if piece >= last:
                return None
            names[i] = pieces[piece][offset - starts[piece]:]
    return names


def _string_index(table):
    """Map the offset of every string that starts after a NUL to that string."""
    if table.isascii():  # the usual case: one decode, lengths in characters are in bytes
        pieces = table.decode("ascii").split("\0")[:-1]
    else:
        pieces = [p.decode("utf-8", "surrogateescape") for p in table.split(b"\0")[:-1]]
        offsets = accumulate((len(p.encode("utf-8", "surrogateescape")) + 1 for p in pieces),
                             initial=0)
        return dict(zip(offsets, pieces))
    offsets = accumulate(map(add, map(len, pieces), repeat(1)), initial=0)
    return dict(zip(offsets, pieces))


# Where each field of a symbol lies in its entry, in bytes: (st_name, st_info, st_other,
# st_shndx, st_value, st_size) of Elf32_Sym and of Elf64_Sym.
_SYM_OFFSETS = {False: (0, 12, 13, 14, 4, 8), True: (0, 4, 5, 6, 8, 16)}


def _symbol_fields(codec, data):
    """The columns (st_name, st_info, st_other, st_shndx, st_value, st_size) of a symbol table's
    bytes, each a list. A whole kernel's modules hold about a million symbols: every column
    is one strided slice of an array (C loops), never a tuple per symbol."""
    entry = codec.sym.size
    name_at, info_at, other_at, shndx_at, value_at, size_at = _SYM_OFFSETS[codec.is64]
    u16, u32 = _words("H", 2, codec, data), _words("I", 4, codec, data)
    wide = _words("Q", 8, codec, data) if codec.is64 else u32
    if u16 is None or u32 is None or wide is None:  # exotic platform: struct does it
        cols = list(zip(*codec.sym.iter_unpack(data)))
        return [list(c) for c in (cols if codec.is64 else
                                  (cols[0], cols[3], cols[4], cols[5], cols[1], cols[2]))]
    word = codec.word_size
    return [u32[name_at // 4::entry // 4].tolist(), list(data[info_at::entry]),
            list(data[other_at::entry]), u16[shndx_at // 2::entry // 2].tolist(),
            wide[value_at // word::entry // word].tolist(),
            wide[size_at // word::entry // word].tolist()]


def name_and_section_columns(codec, data, count):
    """(st_name, st_shndx) of every entry of a symbol table's bytes, two strided slices."""
    entry = codec.sym.size
    name_at, _info, _other, shndx_at, _value, _size = _SYM_OFFSETS[codec.is64]
    u16, u32 = _words("H", 2, codec, data), _words("I", 4, codec, data)
    if u16 is None or u32 is None:  # exotic platform: struct does it
        fields = [codec.unpack_sym(raw) for raw in codec.sym.iter_unpack(data)]
        return [f[0] for f in fields], [f[3] for f in fields]
    return (u32[name_at // 4::entry // 4].tolist()[:count],
            u16[shndx_at // 2::entry // 2].tolist()[:count])


def _words(typecode, size, codec, data):
    """``data`` as an array of unsigned ``size``-byte words in the host's order, or None where
    the platform has no array type of that size."""
    words = array(typecode)
    if words.itemsize != size:
        return None
    words.frombytes(data)
    if codec.big_endian != (sys.byteorder == "big"):
        words.byteswap()
    return words


def _column_max(codec, data, entry_size, column):
    """max() of one address-sized column of a table of fixed-size entries, in C loops."""
    words = array("Q" if codec.is64 else "I")
    if words.itemsize != codec.word_size:  # exotic platform: fall back to struct
        fmt = codec.endian + ("Q" if codec.is64 else "I")
        return max(unpack_from(fmt, data, i + column * codec.word_size)[0]
                   for i in range(0, len(data), entry_size))
    words.frombytes(data)
    if codec.big_endian != (sys.byteorder == "big"):
        words.byteswap()
    per_entry = entry_size // codec.word_size
    return max(words[column::per_entry])


def _relocation_decoder(codec, sec):
    """The function that builds ``sec``'s Relocation objects from its bytes, when first used."""
    data, symbols, with_addend = sec.data, sec.link._as_read, sec.with_addend
    rstruct = codec.reloc_struct(with_addend)

    def decode():
        shift, mask = codec.r_shift, codec.r_type_mask  # (codec.r_sym and r_type, inline)
        if with_addend:
            return [Relocation(off, info & mask, symbols[info >> shift], addend)
                    for off, info, addend in rstruct.iter_unpack(data)]
        return [Relocation(off, info & mask, symbols[info >> shift], None)
                for off, info in rstruct.iter_unpack(data)]
    return decode
