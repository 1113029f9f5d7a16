"""The symbol database's model: what one object (vmlinux or a module) holds, in kernel order.

Sources (sources.py) produce ObjectSymbols; storage (storage.py) writes and reads them; the query
side (index.py) hands out SymbolRecord and Export objects. Positions are never stored: each
object's rows are kept in kallsyms order, and a name's position is its rank among the rows of
that name, counted when a name is looked up (see ranked_records).
"""

from ..elf.constants import BIND_NAMES, TYPE_NAMES

VMLINUX = "vmlinux"


class Export:
    """One export of a symbol: which object exports it, how (EXPORT_SYMBOL, EXPORT_SYMBOL_GPL,
    ..., or None when the source does not say) and in which namespace (None if none)."""

    __slots__ = ("objname", "export_type", "namespace")

    def __init__(self, objname, export_type, namespace=None):
        self.objname, self.export_type, self.namespace = objname, export_type, namespace or None

    def __iter__(self):
        return iter((self.objname, self.export_type, self.namespace))

    def __eq__(self, other):
        return isinstance(other, Export) and tuple(self) == tuple(other)

    def __hash__(self):
        return hash(tuple(self))

    def __repr__(self):
        return f"Export({self.objname!r}, {self.export_type!r}, {self.namespace!r})"


class SymbolRecord:
    """One symbol of one object, with its positions in both module views (see the API in
    README: position/count in the full view, core_position/core_count in the core view)."""

    __slots__ = ("objname", "name", "position", "count", "core_position", "core_count",
                 "type_letter", "bind", "sym_type", "address", "size", "section",
                 "source_file", "exported", "export_type", "namespace")

    def __init__(self, objname, name, position=None, count=None, core_position=None,
                 core_count=None, type_letter=None, bind=None, sym_type=None, address=None,
                 size=None, section=None, source_file=None, exported=False, export_type=None,
                 namespace=None):
        self.objname, self.name = objname, name
        self.position, self.count = position, count
        self.core_position, self.core_count = core_position, core_count
        self.type_letter, self.bind, self.sym_type = type_letter, bind, sym_type
        self.address, self.size, self.section = address, size, section
        self.source_file, self.exported = source_file, bool(exported)
        self.export_type, self.namespace = export_type, namespace

    def __eq__(self, other):
        return isinstance(other, SymbolRecord) and all(
            getattr(self, slot) == getattr(other, slot) for slot in self.__slots__)

    __hash__ = None

    def __repr__(self):
        return (f"SymbolRecord({self.objname!r}, {self.name!r}, position={self.position}, "
                f"core_position={self.core_position}, type={self.type_letter!r})")


# A stored symbol is a row (name, flags, value, size, section, source_file): ``flags`` packs
# what the source knows in one integer (stored rows stay narrow: a kernel has about a million),
# ``section`` and ``source_file`` index the object's own lists of section and file names.
# Positions are not stored: they are ranks, computed at lookup time from the row order.
INFO_MASK = 0xFF  # st_info
INFO_KNOWN = 1 << 8
CORE = 1 << 9  # in the module core view (always set for vmlinux)
LETTER_SHIFT = 10  # ord() of the nm/kallsyms letter, 0 if unknown
FLAGS_END = 0x110000 << LETTER_SHIFT  # every flags value is below (the letter is a character)


def pack_flags(core, letter=None, info=None):
    """The flags field of a row."""
    flags = CORE if core else 0
    if info is not None:
        flags |= INFO_KNOWN | info
    if letter:
        flags |= ord(letter) << LETTER_SHIFT
    return flags


def unpack_flags(flags):
    """(core, letter or None, st_info or None) of a row's flags."""
    letter = flags >> LETTER_SHIFT
    return (bool(flags & CORE), chr(letter) if letter else None,
            flags & INFO_MASK if flags & INFO_KNOWN else None)


class ObjectSymbols:
    """Every symbol the kernel can find in one object, in the order it walks them.

    ``rows``: (name, flags, value, size, section, source_file) in kallsyms order (modules: the
    full symtab view), ``section`` and ``source_file`` being indices into ``sections`` and
    ``files`` (or None). ``positions_known``: True, "core" (only the core view: a kallsyms dump
    of a live module) or False (names only: an old Symbols.list). ``exports``: (name,
    export_type, namespace) found in the object itself (``__ksymtab_*`` symbols).
    ``listed_names``: nm's view of the object (undefined symbols included), kept only to write
    the old Symbols.list format.
    """

    __slots__ = ("name", "kind", "path", "positions_known", "rows", "sections", "files",
                 "exports", "listed_names", "input_size", "machine", "vermagic")

    def __init__(self, name, kind, path, rows, positions_known=True, exports=(),
                 listed_names=None, input_size=None, machine=None, vermagic=None,
                 sections=(), files=()):
        self.name, self.kind, self.path = name, kind, path
        self.rows, self.positions_known = rows, positions_known
        self.sections, self.files = list(sections), list(files)
        self.exports, self.listed_names = list(exports), listed_names
        self.input_size, self.machine, self.vermagic = input_size, machine, vermagic

    def row_fields(self, row):
        """(name, core, letter, st_info, value, size, section name, source file) of a row."""
        name, flags, value, size, section, source = row
        core, letter, info = unpack_flags(flags)
        return (name, core, letter, info, value, size,
                None if section is None else self.sections[section],
                None if source is None else self.files[source])


def bind_name(info):
    """'LOCAL', 'GLOBAL', 'WEAK', ... of an st_info value (None stays None)."""
    return None if info is None else BIND_NAMES.get(info >> 4, str(info >> 4))


def type_name(info):
    """'FUNC', 'OBJECT', ... of an st_info value (None stays None)."""
    return None if info is None else TYPE_NAMES.get(info & 0xF, str(info & 0xF))


def ranked_records(objname, kind, positions_known, rows, exports, sections=(), files=()):
    """SymbolRecords for the rows of one name in one object, positions counted as the kernel does.

    ``rows``: (name, flags, value, size, section, source_file) of ONE name, in the object's
    order; ``sections``/``files``: the object's name lists the rows index. ``positions_known``:
    True (both views), "core" (a /proc/kallsyms dump shows a live module's core view only) or
    False (names only). vmlinux has one view, so core_position equals position there.
    """
    is_vmlinux = kind == VMLINUX
    count = len(rows)
    fields = [_flag_fields(row[1]) for row in rows]
    core_count = count if is_vmlinux else sum(1 for f in fields if f[0])
    export = exports[0] if exports else None
    export_type = export and export.export_type
    namespace = export and export.namespace
    records = []
    core_rank = 0
    for rank, ((name, _flags, value, size, section, source), (core, letter, bind, sym_type,
                                                                 is_global)) in \
            enumerate(zip(rows, fields), 1):
        in_core = core or is_vmlinux
        if in_core:
            core_rank += 1
        mine = export is not None and is_global
        records.append(SymbolRecord(
            objname, name, rank if positions_known is True else None, count,
            (core_rank if in_core else None) if positions_known else None, core_count,
            letter, bind, sym_type, value, size,
            None if section is None else sections[section],
            None if source is None else files[source],
            mine, export_type if mine else None, namespace if mine else None))
    return records


# flags -> (core, letter, bind name, type name, global): a kernel's rows have few distinct
# flags, and a huge patch ranks tens of thousands of names.
_FLAG_FIELDS = {}


def _flag_fields(flags):
    fields = _FLAG_FIELDS.get(flags)
    if fields is None:
        core, letter, info = unpack_flags(flags)
        fields = _FLAG_FIELDS[flags] = (core, letter, bind_name(info), type_name(info),
                                        _is_global(letter, info))
    return fields


def _is_global(letter, info):
    """Exports name global symbols; a local of the same name in the same object is not it."""
    if info is not None:
        return info >> 4 != 0
    return letter is None or not letter.islower() or letter in "vw"
