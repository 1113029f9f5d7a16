"""Module symbol tables as a symbol database keeps them (schema 6): each module's own .symtab
and .strtab bytes, checked when the database is built and decoded only where a lookup asks.

Why not a row per symbol: a distribution's module tree has about a million symbols, and making
each a row (in a worker), sending it to the main process and inserting it into SQLite cost
more than reading the tables did, about as much as decompressing every `.ko.xz` (issue 9: a
build within 1.3x of decompressing alone). A lookup needs the symbols of a few names in the
few modules that define them, so that is what is decoded, then (StoredSymtab.rows_at).

Build side (a worker per module): extract_module() checks the table (elf/reader.py
scan_symbol_table), reads .modinfo and the module's own exports, counts its symbols and makes
each one's name index entry (chunk_index puts a chunk's entries in their buckets). Query side:
StoredSymtab turns the symbols the index points at into rows exactly as sources._module_rows
does for a whole module, except that a row's section indexes the module's full section list.

The name index: one 64-bit entry per defined symbol, (hash << 32 | object id << 16 | symbol
index), with the hash its name's crc32, one row per bucket of the hash's top BUCKET_BITS bits,
the entries in the order the modules were read (schema 6; schema 4 sorted them). A lookup reads
its name's bucket, finds the entries of its hash with bytes.find (a row holds its entries'
hashes, then their other halves: bucket_blob) and decodes just the symbols they point at, each
checked against the name's bytes (a hash shared by two names costs one needless look, never a
wrong answer). A symbol beyond the index field's range is entered as INDEX_SEARCH: its
module's table is searched for the name instead.

Why unsorted: a tree's million entries are 64-bit ints, which CPython sorts with its generic
compare (its fast path takes one-digit ints only); sorting them cost the build a twentieth of
decompressing a compressed tree, and putting each in its bucket with a loop costs half of that.
"""

import struct
import sys
from array import array
from bisect import bisect_left
from collections import Counter, deque
from itertools import accumulate, chain, compress, repeat, starmap
from operator import lshift, or_, rshift
from zlib import crc32

from ..compression import read_module_file
from ..elf.codec import codec_for
from ..elf.constants import (
    ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, SHN_XINDEX, SHT_STRTAB, SHT_SYMTAB,
    SHT_SYMTAB_SHNDX, STB_LOCAL, STT_FILE,
)
from ..elf.reader import name_and_section_columns, scan_symbol_table, section_extents
from ..kernel.kallsyms import nm_letter, section_letter
from ..kernel.modules import in_core_section, is_core_section
from ..kernel.names import module_runtime_name
from ..text import decode_name, name_bytes
from .inputs import KSYMTAB_PREFIX, SymdbError
from .model import pack_flags

# A name index entry: hash << HASH_SHIFT | object id << OBJECT_SHIFT | symbol index
HASH_BITS, OBJECT_BITS, INDEX_BITS = 32, 16, 16
OBJECT_SHIFT, HASH_SHIFT = INDEX_BITS, INDEX_BITS + OBJECT_BITS
MAX_OBJECT_ID = (1 << OBJECT_BITS) - 1
# the index field of a symbol at this index or beyond: search its module's table for the name
INDEX_SEARCH = (1 << INDEX_BITS) - 1
BUCKET_BITS = 12
BUCKETS = 1 << BUCKET_BITS
_BUCKET_SHIFT = 64 - BUCKET_BITS  # an entry's bucket: entry >> _BUCKET_SHIFT
_KSYMTAB = KSYMTAB_PREFIX.encode()
# layout column: which ELF class and byte order the stored bytes are in
LAYOUT_64, LAYOUT_BIG_ENDIAN = 1, 2


class StoredModule:
    """What a worker sends back for one module: its identity and counts, its exports, and the
    symtabs row (symtab and strtab bytes, section names (NUL-separated), types and flags) with
    its name index entries."""

    __slots__ = ("name", "path", "vermagic", "machine", "input_size", "symbols", "duplicated",
                 "exports", "layout", "symtab", "strtab", "extended", "section_names",
                 "section_types", "section_flags", "entries")


def extract_module(path, object_id, data=None):
    """The StoredModule of one module file, to be stored as object ``object_id`` (its name
    index entries say it), or None for a livepatch module (kbuild's recipe left those out of
    Symbols.list too); SymdbError or ElfError for a file that is not one."""
    from .sources import module_info  # (sources imports much that a lookup does not need)
    path = str(path)
    data = read_module_file(path, SymdbError, parts_read) if data is None else data
    table = scan_symbol_table(data, path)
    modinfo = module_info(table, data)
    if modinfo.get("livepatch") == "Y":
        return None
    module = StoredModule()
    module.name = modinfo.get("name") or module_runtime_name(path)
    module.path, module.vermagic = path, modinfo.get("vermagic")
    module.machine, module.input_size = table.machine, len(data)
    module.layout = (LAYOUT_64 if table.is64 else 0) | (LAYOUT_BIG_ENDIAN if table.big_endian
                                                        else 0)
    module.symtab, module.strtab, module.extended = table.symtab, table.strtab, table.extended
    names, types, flags = zip(*table.sections)  # (a module has at least section 0)
    module.section_names = name_bytes("\0".join(names))
    module.section_types, module.section_flags = _pack("I", types), _pack("Q", flags)
    _count_and_index(module, table, object_id)
    return module


def parts_read(image):
    """The byte ranges of a module file extract_module reads, as far as ``image`` tells them
    (compression.read_module_file ``parts``: of a big module in an .xz file of several blocks,
    only the blocks that hold these are decompressed, 4 of amdgpu.ko's 10): the ELF header,
    the section headers, the section name, symbol and string tables, the extended section
    indices and .modinfo."""
    ranges, sections = section_extents(image)
    return ranges + [(start, end) for name, sh_type, start, end in sections
                     if sh_type in _TABLES_READ or name == ".modinfo"]


_TABLES_READ = (SHT_SYMTAB, SHT_STRTAB, SHT_SYMTAB_SHNDX)


def _count_and_index(module, table, object_id):
    """symbols, duplicated, name index entries and exports of a module. This runs for every
    symbol of a distribution's modules, so it is all C loops: a symbol counts when it is
    defined (st_shndx) and named (st_name is not 0, or points at a string that is not empty)."""
    offsets, shndxs, strtab = table.name_offsets, table.shndxs, table.strtab
    defined_offsets = list(compress(offsets, shndxs))
    first = object_id << OBJECT_SHIFT  # a symbol's object id and index: first + index
    symbols = list(compress(compress(range(first, first + len(offsets)), shndxs),
                            defined_offsets))
    kept_offsets = list(compress(defined_offsets, defined_offsets))
    names = list(map(strtab.__getitem__, map(slice, kept_offsets, map(
        strtab.index, repeat(b"\0"), kept_offsets))))
    hashes = list(map(crc32, names))
    module.symbols, module.duplicated = len(names), 0
    # The hashes, not the names, tell the usual module (no name twice, none empty) quickly: an
    # int's hash costs nothing, a name's must be computed. Two names of one crc32, or one
    # whose crc32 is that of b"" (0), only take the exact way.
    distinct = set(hashes)
    if 0 in distinct or len(distinct) < len(hashes):  # static functions of one name, say
        counts = Counter(names)
        if counts.pop(b"", None):  # an empty name is no name (only in a hand-made table)
            symbols, hashes = list(compress(symbols, names)), list(compress(hashes, names))
            names = list(filter(None, names))
        module.symbols = len(names)
        module.duplicated = len(counts) - list(counts.values()).count(1)
    module.exports = _exports(table, names, symbols, first)
    module.entries = _index_entries(hashes, symbols, first)


def _index_entries(hashes, symbols, first):
    """The name index entries of a module's symbols: their names' hashes, and their object ids
    and indices (``first`` + index)."""
    if symbols and symbols[-1] > first + INDEX_SEARCH:  # a table of 65,535 symbols or more
        symbols = [min(symbol, first + INDEX_SEARCH) for symbol in symbols]
    # (operator's functions: called from map, they take half the time of int's slot wrappers,
    # int.__lshift__ and the like)
    return list(map(or_, map(lshift, hashes, repeat(HASH_SHIFT)), symbols))


def _exports(table, names, symbols, first):
    """(name, export type, None) of every defined `__ksymtab_<name>` symbol in a __ksymtab*
    section, in symbol table order (as sources._module_rows finds them), given the module's
    named symbols (their names, and ``first`` + their indices)."""
    if _KSYMTAB not in table.strtab:  # most modules export nothing
        return []
    marked = list(map(bytes.startswith, names, repeat(_KSYMTAB)))
    if not any(marked):
        return []
    from .sources import ksymtab_export
    sections, shndxs, exports = table.sections, table.shndxs, []
    for name, symbol in compress(zip(names, symbols), marked):
        shndx = shndxs[symbol - first]
        if shndx < len(sections) and sections[shndx][0].startswith("__ksymtab"):
            exports.append(ksymtab_export(decode_name(name), sections[shndx][0]))
    return exports


def _pack(code, values):
    """Little-endian bytes of unsigned integers (a database reads the same on any host)."""
    return struct.pack(f"<{len(values)}{code}", *values)


_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")  # a stored section's type and flags


# -- the name index ----------------------------------------------------------------------------

def name_hash(name):
    """The index's hash of a name (a str as the symbol tables hold it, see text.py)."""
    return crc32(name_bytes(name))


def bucket_of(hash_value):
    return hash_value >> (HASH_BITS - BUCKET_BITS)


def chunk_index(modules):
    """(entries, bounds) of the StoredModules of a chunk (their ``entries`` are dropped): all
    their name index entries bucket by bucket (each bucket's in the modules' order), and where
    each bucket starts, so that the main process takes a bucket's entries as one slice (a
    worker puts each entry in its bucket, the main process does not loop per entry)."""
    buckets = [[] for _ in range(BUCKETS)]
    modules = list(modules)
    entries = list(chain.from_iterable(module.entries for module in modules))
    for module in modules:
        module.entries = None
    # list.append(bucket, entry) for each entry, its bucket the entry's top bits: called by
    # starmap and drained by a deque of length 0, every step a C loop (a for loop, a third
    # slower)
    deque(starmap(list.append, zip(map(buckets.__getitem__, map(
        rshift, entries, repeat(_BUCKET_SHIFT))), entries)), maxlen=0)
    bounds = array("I", accumulate(map(len, buckets), initial=0))
    return array("Q", chain.from_iterable(buckets)), bounds


class NameIndex:
    """The name index a build writes: each chunk's entries as chunk_index grouped them, kept
    (8 bytes an entry) until rows() makes each bucket's row of that bucket's slice of every
    chunk, after the entries of the database being extended, if any."""

    def __init__(self, stored_rows=()):
        self.stored = {bucket: _interleaved(row) for bucket, row in stored_rows}
        self.chunks = []  # (entries as little-endian u64 bytes, bounds)

    def add(self, entries, bounds):
        self.chunks.append((_little_endian(entries), bounds))

    def rows(self):
        """(bucket, row bytes) of every bucket that holds an entry."""
        for bucket in range(BUCKETS):
            joined = b"".join([self.stored.get(bucket, b""),
                               *[data[8 * bounds[bucket]:8 * bounds[bucket + 1]]
                                 for data, bounds in self.chunks]])
            if joined:
                yield bucket, _row_of(joined)


def bucket_blob(entries):
    """A bucket row's bytes: its entries' top halves (the hashes), then their bottom halves
    (object id and symbol index), each a little-endian u32 (a lookup searches the hashes
    alone: half the bytes, and no hit inside another field)."""
    return _row_of(_little_endian(entries))


def _little_endian(entries):
    """Entries (an array or a list) as little-endian u64 bytes."""
    packed = array("Q", entries)  # 8 bytes wide wherever CPython runs
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _row_of(interleaved):
    """A row's bytes of entries given as little-endian u64 bytes."""
    words = memoryview(interleaved).cast("I")  # each entry's two halves, as bytes
    return words[1::2].tobytes() + words[0::2].tobytes()


def _interleaved(row):
    """The little-endian u64 bytes of a row's entries (ValueError if it is not a row)."""
    count = len(checked_bucket(row)) // 8
    interleaved = bytearray(8 * count)
    words, halves = memoryview(interleaved).cast("I"), memoryview(row).cast("B").cast("I")
    words[1::2], words[0::2] = halves[:count], halves[count:]
    return bytes(interleaved)


def bucket_entries(blob):
    """The entries of a bucket row as an array (ValueError if it is not one)."""
    entries = array("Q")
    entries.frombytes(_interleaved(blob))
    if sys.byteorder == "big":
        entries.byteswap()
    return entries


def checked_bucket(blob):
    """A bucket row's bytes, as a lookup searches them (ValueError if it is not one)."""
    if not isinstance(blob, bytes) or len(blob) % 8:
        raise ValueError("a name index bucket is not a list of 64-bit entries")
    return blob


def symbols_in(blob, hash_value):
    """[(object id, symbol index)] a bucket row (checked_bucket, bucket_blob) lists for one
    hash: every entry whose hash it is, found with bytes.find in the hashes (a C search, where
    a loop over the entries would take as long as the rest of the lookup)."""
    needle, found = (hash_value & 0xFFFFFFFF).to_bytes(4, "little"), []
    end = len(blob) // 2  # the hashes; each entry's other half lies ``end`` bytes further
    at = blob.find(needle, 0, end)
    while at >= 0:
        if at % 4 == 0:  # a hash, not the end of one and the start of the next
            low = int.from_bytes(blob[end + at:end + at + 4], "little")
            found.append((low >> OBJECT_SHIFT & MAX_OBJECT_ID, low & INDEX_SEARCH))
            at = blob.find(needle, at + 4, end)
        else:
            at = blob.find(needle, at + 1, end)
    return found


# -- the query side ----------------------------------------------------------------------------

class StoredSymtab:
    """One module's stored symbol table, decoded as far as lookups need it: the symbols the
    name index points at (rows_at). Any defect of a hand-made database shows as ValueError,
    IndexError or struct.error (the caller's StorageError)."""

    def __init__(self, layout, machine, symtab, strtab, extended, section_names, types, flags):
        if not all(isinstance(b, bytes) for b in (symtab, strtab, types, flags)) or \
                not isinstance(layout, int) or not isinstance(machine, int):
            raise ValueError("a symtabs row holds a value of the wrong type")
        self.codec = codec_for(ELFCLASS64 if layout & LAYOUT_64 else ELFCLASS32,
                               ELFDATA2MSB if layout & LAYOUT_BIG_ENDIAN else ELFDATA2LSB)
        entry = self.codec.sym.size
        if len(symtab) % entry or not strtab.endswith(b"\0"):
            raise ValueError("a stored symbol table is not whole")
        self.symtab, self.strtab, self.count = symtab, strtab, len(symtab) // entry
        if not isinstance(section_names, bytes):
            raise ValueError("a symtabs row holds a value of the wrong type")
        section_names = decode_name(section_names).split("\0")
        if len(types) != 4 * len(section_names) or len(flags) != 8 * len(section_names):
            raise ValueError("section names, types and flags do not match")
        self.machine, self.section_names = machine, section_names
        # (each section's type and flags are read when a row first meets it: a lookup opens
        # hundreds of modules' tables for a name such as __func__.12, a row or two of each)
        self.section_types, self.section_flags = types, flags
        self.extended, self.order = extended, ">" if layout & LAYOUT_BIG_ENDIAN else "<"
        self.columns = None  # (st_name, section index) of every symbol, when first needed
        self.info_at = 4 if layout & LAYOUT_64 else 12
        self.name_at = 0  # where st_name lies in an entry, whatever the class
        self.letters = None  # and core, files, file_positions: when a row is first made

    def rows_at(self, name, indices):
        """The rows of ``name`` among the symbols at ``indices`` (its name index entries for
        this module), in table order; a row is (name, flags, value, size, section,
        source_file)."""
        raw = name_bytes(name)
        if not raw:
            return []
        if INDEX_SEARCH in indices:
            return [self._row(name, index, self._entry(index)) for index in self.indices_of(raw)]
        needle, rows = raw + b"\0", []
        for index in sorted(set(indices)):
            entry = self._entry_named(index, needle)
            if entry is not None:
                rows.append(self._row(name, index, entry))
        return rows

    def _entry_named(self, index, needle):
        """_entry(index) if symbol ``index`` is defined and named ``needle`` (the name and its
        NUL), else None (another name of the same hash)."""
        if index >= self.count:
            raise ValueError(f"the name index points at symbol {index} of {self.count}")
        entry = self._entry(index)
        return entry if entry[3] and self.strtab.startswith(needle, entry[0]) else None

    @property
    def offsets(self):
        return self._columns()[0]

    @property
    def shndxs(self):
        return self._columns()[1]

    def _columns(self):
        if self.columns is None:
            offsets, shndxs = name_and_section_columns(self.codec, self.symtab, self.count)
            if self.extended is not None:
                extra = struct.unpack(f"{self.order}{len(self.extended) // 4}I", self.extended)
                shndxs = [e if s == SHN_XINDEX else s for s, e in zip(shndxs, extra)]
            self.columns = offsets, shndxs
        return self.columns

    def indices_of(self, raw):
        """The indices of the defined symbols called ``raw`` (bytes), in table order: every
        place the string table holds the name with a NUL after it (whole or as a tail), and
        the entries whose st_name says that place (searched for in the table's bytes; for a
        table too long for the name index to say where its symbols are)."""
        if not raw:
            return []
        needle, strtab, symtab, found = raw + b"\0", self.strtab, self.symtab, []
        entry = self.codec.sym.size
        at = strtab.find(needle)
        while at >= 0:
            key = struct.pack(f"{self.order}I", at)
            hit = symtab.find(key)
            while hit >= 0:
                if hit % entry == self.name_at:
                    found.append(hit // entry)
                hit = symtab.find(key, hit + 1)
            at = strtab.find(needle, at + 1)
        if len(found) > 1:
            found.sort()
        return [i for i in found if self._entry(i)[3]]

    def _entry(self, index):
        """(st_name, st_info, st_other, section index with SHN_XINDEX resolved, st_value,
        st_size) of symbol ``index``."""
        name, info, other, shndx, value, size = self.codec.unpack_sym(
            self.codec.sym.unpack_from(self.symtab, index * self.codec.sym.size))
        if shndx == SHN_XINDEX and self.extended is not None:
            shndx = struct.unpack_from(f"{self.order}I", self.extended, 4 * index)[0]
        return name, info, other, shndx, value, size

    def _section_facts(self):
        """The section facts rows need, each section's computed when a row first meets it (a
        huge patch meets a few sections of each of thousands of modules)."""
        names, types, flags = self.section_names, self.section_types, self.section_flags
        machine = self.machine

        def section(i):  # (name, sh_type, sh_flags) of section i
            return names[i], _U32.unpack_from(types, 4 * i)[0], _U64.unpack_from(flags, 8 * i)[0]

        self.letters = _PerSection(len(names), lambda i: section_letter(*section(i)))
        self.core = _PerSection(len(names), lambda i: is_core_section(
            i, names[i], section(i)[2], machine))
        self.files, self.file_positions = self._file_symbols()

    def _file_symbols(self):
        """(names, symbol indices) of the named STT_FILE symbols, in order (Debian's modules,
        stripped of debugging information, have none)."""
        infos = self.symtab[self.info_at::self.codec.sym.size]
        marks = infos.translate(_FILE_TYPE)
        names, positions = [], []
        at = marks.find(1)
        while at >= 0:
            raw = self._name_at(self.offsets[at])
            if raw and self.shndxs[at]:
                names.append(decode_name(raw))
                positions.append(at)
            at = marks.find(1, at + 1)
        return names, positions

    def _name_at(self, offset):
        return self.strtab[offset:self.strtab.index(b"\0", offset)]

    def _row(self, name, index, entry):
        """The row of symbol ``index``, whose _entry() is ``entry``."""
        if self.letters is None:
            self._section_facts()
        _off, info, _other, shndx, value, size = entry
        flags = pack_flags(in_core_section(shndx, self.core),
                           nm_letter(info, shndx, self.letters), info)
        source = None
        if self.file_positions and info >> 4 == STB_LOCAL and info & 0xF != STT_FILE:
            before = bisect_left(self.file_positions, index) - 1
            source = before if before >= 0 else None
        return (name, flags, value, size, shndx if shndx < len(self.section_names) else None,
                source)

    def all_rows(self):
        """Every row of the module in table order (what a whole-object listing needs)."""
        rows = []
        for index, (offset, shndx) in enumerate(zip(self.offsets, self.shndxs)):
            if shndx and self.strtab[offset]:
                rows.append(self._row(decode_name(self._name_at(offset)), index,
                                      self._entry(index)))
        return rows

    def lists(self):
        """(section names, file names) the rows index."""
        if self.letters is None:
            self._section_facts()
        return self.section_names, self.files


class _PerSection:
    """A list of one fact per section, each computed when first read (nm_letter and
    in_core_section take it as they take a list)."""

    __slots__ = ("count", "compute", "known")

    def __init__(self, count, compute):
        self.count, self.compute, self.known = count, compute, {}

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if not 0 <= index < self.count:
            raise IndexError(index)
        fact = self.known.get(index, _UNKNOWN)
        if fact is _UNKNOWN:
            fact = self.known[index] = self.compute(index)
        return fact


_UNKNOWN = object()


# st_info byte -> 1 where its type is STT_FILE (any binding), else 0
_FILE_TYPE = bytes(int(value & 0xF == STT_FILE) for value in range(256))
