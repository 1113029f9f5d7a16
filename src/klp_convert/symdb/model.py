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

    def __init__(self, objname, name, **fields):
        self.objname, self.name = objname, name
        for slot in self.__slots__[2:]:
            setattr(self, slot, fields.get(slot))
        self.exported = bool(self.exported)

    def __repr__(self):
        return (f"SymbolRecord({self.objname!r}, {self.name!r}, position={self.position}, "
                f"core_position={self.core_position}, type={self.type_letter!r})")


class Row:
    """A symbol as stored: what the source knows, without positions (they are ranks, computed
    at lookup time from the row order). ``core`` says whether it is in the module core view."""

    __slots__ = ("name", "core", "letter", "info", "value", "size", "section", "source_file")

    def __init__(self, name, core=True, letter=None, info=None, value=None, size=None,
                 section=None, source_file=None):
        self.name, self.core, self.letter, self.info = name, core, letter, info
        self.value, self.size, self.section, self.source_file = value, size, section, source_file

    def as_tuple(self):
        return (self.name, self.core, self.letter, self.info, self.value, self.size,
                self.section, self.source_file)


class ObjectSymbols:
    """Every symbol the kernel can find in one object, in the order it walks them.

    ``rows``: tuples (name, core, letter, st_info, value, size, section, source_file) in
    kallsyms order (modules: the full symtab view). ``positions_known`` is False when the source
    had names only (an old Symbols.list). ``exports``: (name, export_type, namespace) found in
    the object itself (``__ksymtab_*`` symbols). ``listed_names``: nm's view of the object
    (undefined symbols included), kept only to write the old Symbols.list format.
    """

    __slots__ = ("name", "kind", "path", "positions_known", "rows", "exports", "listed_names",
                 "input_size", "machine", "vermagic")

    def __init__(self, name, kind, path, rows, positions_known=True, exports=(),
                 listed_names=None, input_size=None, machine=None, vermagic=None):
        self.name, self.kind, self.path = name, kind, path
        self.rows, self.positions_known = rows, positions_known
        self.exports, self.listed_names = list(exports), listed_names
        self.input_size, self.machine, self.vermagic = input_size, machine, vermagic


def bind_name(info):
    """'LOCAL', 'GLOBAL', 'WEAK', ... of an st_info value (None stays None)."""
    return None if info is None else BIND_NAMES.get(info >> 4, str(info >> 4))


def type_name(info):
    """'FUNC', 'OBJECT', ... of an st_info value (None stays None)."""
    return None if info is None else TYPE_NAMES.get(info & 0xF, str(info & 0xF))


def ranked_records(objname, kind, positions_known, rows, exports):
    """SymbolRecords for the rows of one name in one object, positions counted as the kernel does.

    ``rows``: (name, core, letter, info, value, size, section, source_file) of ONE name, in the
    object's order. ``positions_known``: True (both views), "core" (a /proc/kallsyms dump shows
    a live module's core view only) or False (names only). vmlinux has one view, so
    core_position equals position there.
    """
    records = []
    core_rank = 0
    core_count = sum(1 for r in rows if r[1]) if kind != VMLINUX else len(rows)
    export = exports[0] if exports else None
    for rank, (name, core, letter, info, value, size, section, source_file) in \
            enumerate(rows, 1):
        in_core = core or kind == VMLINUX
        if in_core:
            core_rank += 1
        records.append(SymbolRecord(
            objname, name,
            position=rank if positions_known is True else None, count=len(rows),
            core_position=(core_rank if in_core else None) if positions_known else None,
            core_count=core_count,
            type_letter=letter, bind=bind_name(info), sym_type=type_name(info), address=value,
            size=size, section=section, source_file=source_file,
            exported=export is not None and _is_global(letter, info),
            export_type=export.export_type if export and _is_global(letter, info) else None,
            namespace=export.namespace if export and _is_global(letter, info) else None))
    return records


def _is_global(letter, info):
    """Exports name global symbols; a local of the same name in the same object is not it."""
    if info is not None:
        return info >> 4 != 0
    return letter is None or not letter.islower() or letter in "vw"
