"""The query side: open_symbols(paths) combines SQLite databases and old Symbols.list files into
one index that answers lookups by name (the contract between symdb, convert and check)."""

import json
import re
import sqlite3
from bisect import bisect_right

from ..errors import KlpError
from ..kernel.names import module_runtime_name
from .model import CORE, VMLINUX, Export, ranked_records
from .sources import (
    KSYMTAB_PREFIX, SYMBOLS_LIST_HEADER, SymdbError, is_symbols_list, read_head, read_text_bytes,
)
from .storage import (
    StorageError, is_database, open_database, positions_flag, to_unsigned,
)


class _DatabaseInput:
    """One SQLite database: objects are read at open, symbols only when a name is looked up."""

    def __init__(self, path):
        self.path = str(path)
        self.db = open_database(path)
        try:
            self.meta = dict(self.db.execute("SELECT key, value FROM meta"))
            rows = self.db.execute("SELECT id, name, kind, positions FROM objects").fetchall()
        except sqlite3.Error as e:
            raise StorageError(path, f"unreadable symbol database ({e})") from None
        self.objects = {name: (kind, positions_flag(positions)) for _i, name, kind, positions
                        in rows}
        self.ids = {name: object_id for object_id, name, _k, _p in rows}
        self.names = {object_id: name for object_id, name, _k, _p in rows}
        self.name_lists = {}

    def lists(self, objname):
        """(section names, file names) of one object, read when first needed."""
        if objname not in self.name_lists:
            self.load_lists([objname])
        return self.name_lists[objname]

    def load_lists(self, objnames):
        """Read the name lists of several objects with one query (a lookup meets many)."""
        wanted = [o for o in objnames if o not in self.name_lists]
        if not wanted:
            return
        marks = ", ".join("?" * len(wanted))
        try:
            for object_id, sections, files in self.db.execute(
                    f"SELECT object, sections, files FROM object_lists WHERE object IN ({marks})",
                    [self.ids[o] for o in wanted]):
                self.name_lists[self.names[object_id]] = (json.loads(sections or "[]"),
                                                          json.loads(files or "[]"))
        except (sqlite3.Error, ValueError) as e:
            raise StorageError(self.path, f"unreadable symbol database ({e})") from None
        for objname in wanted:
            self.name_lists.setdefault(objname, ([], []))

    def rows(self, name, objname=None):
        """{objname: [row...]} of the symbols called ``name``, each object's in its order."""
        query = ("SELECT object, name, flags, value, size, section, source_file FROM symbols "
                 "WHERE name = ?")
        args = [name]
        if objname is not None:
            query += " AND object = ?"
            args.append(self.ids[objname])
        found = {}
        names = self.names
        try:
            cursor = self.db.execute(query + " ORDER BY object, id", args)
            for obj, sym, flags, value, size, section, source in cursor:
                found.setdefault(names[obj], []).append(
                    (sym, flags, to_unsigned(value), size, section, source))
        except (sqlite3.Error, KeyError) as e:  # KeyError: a symbol of no known object
            raise StorageError(self.path, f"unreadable symbol database ({e})") from None
        return found

    def exports(self, name):
        try:
            return [Export(obj, export_type, namespace) for obj, export_type, namespace in
                    self.db.execute("SELECT object, export_type, namespace FROM exports "
                                    "WHERE name = ?", (name,))]
        except sqlite3.Error as e:
            raise StorageError(self.path, f"unreadable symbol database ({e})") from None

    def close(self):
        self.db.close()


class _SymbolsListInput:
    """An old Symbols.list, searched where it lies instead of parsed whole: a distribution's is
    about 16 MB and a conversion asks for a few dozen names. Each look-up finds the name's lines
    with bytes.find (C speed) and the object each belongs to from the '*object' line offsets."""

    _OBJECT_LINE = re.compile(rb"^\*(.*)$", re.M)

    def __init__(self, path):
        self.path = str(path)
        self.meta = {}
        data = read_text_bytes(path)
        if re.search(rb"[ \t\r]", data):  # stray blanks: normalise once, names have none
            data = re.sub(rb"[ \t\r]+$|^[ \t]+", b"", data, flags=re.M)
        self.data = b"\n" + data + (b"" if data.endswith(b"\n") else b"\n")
        header = b"\n" + SYMBOLS_LIST_HEADER.encode() + b"\n"
        if not self.data.startswith(header):
            raise SymdbError(path, f"not a Symbols.list (first line is not "
                                   f"'{SYMBOLS_LIST_HEADER}')")
        self.starts, self.owners, self.objects = [], [], {}
        for match in self._OBJECT_LINE.finditer(self.data):
            objname = match.group(1).decode("utf-8", "surrogateescape")
            objname = objname if objname == VMLINUX else module_runtime_name(objname)
            if not objname:
                line = self.data.count(b"\n", 0, match.start())
                raise SymdbError(path, f"line {line}: empty object name")
            self.starts.append(match.start())
            self.owners.append(objname)
            self.objects[objname] = (VMLINUX if objname == VMLINUX else "module", False)
        first = self.starts[0] if self.starts else len(self.data)
        stray = self.data[len(header):first].strip()
        if stray:
            name = stray.split(b"\n", 1)[0].decode("utf-8", "surrogateescape")
            raise SymdbError(path, f"line 2: symbol '{name[:60]}' before the first '*object' "
                                   f"line")

    def rows(self, name, objname=None):
        found = {}
        needle = b"\n" + name.encode("utf-8", "surrogateescape") + b"\n"
        at = self.data.find(needle)
        while at >= 0:
            owner = self.owners[bisect_right(self.starts, at) - 1]
            if objname is None or owner == objname:
                found.setdefault(owner, []).append((name, CORE, None, None, None, None))
            at = self.data.find(needle, at + 1)
        return found

    def exports(self, name):
        return [Export(obj, None, None) for obj in self.rows(KSYMTAB_PREFIX + name)]

    def lists(self, objname):
        return [], []

    def load_lists(self, objnames):
        pass  # a names-only list has no section or file names

    def close(self):
        self.data = b""


class SymbolIndex:
    """Several inputs seen as one: each object comes from exactly one input."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.owner = {}
        for source in inputs:
            for objname in source.objects:
                if objname in self.owner:
                    other = self.owner[objname]
                    raise KlpError(source.path, f"object '{objname}' is also in {other.path}; "
                                                f"an object may come from one input only")
                self.owner[objname] = source
        self.kernel_release = self._meta("kernel_release")
        self.arch = self._meta("arch")

    def _meta(self, key):
        values = [s.meta[key] for s in self.inputs if s.meta.get(key)]
        return values[0] if values else None

    def lookup(self, name):
        """Every symbol called ``name`` in every object, ordered by (object, position)."""
        return self._records(name, None)

    def lookup_in(self, objname, name):
        """The symbols called ``name`` in one object, in position order."""
        source = self.owner.get(objname)
        return self._records(name, objname) if source is not None else []

    def _records(self, name, objname):
        exports = self.exporters(name)
        by_object = {}
        sources = [self.owner[objname]] if objname is not None else self.inputs
        for source in sources:
            found = source.rows(name, objname)
            source.load_lists(found)
            for obj, rows in found.items():
                by_object[obj] = (source, rows)
        records = []
        for obj in sorted(by_object, key=_object_order):
            source, rows = by_object[obj]
            kind, positions = source.objects[obj]
            mine = [e for e in exports if e.objname == obj]
            records.extend(ranked_records(obj, kind, positions, rows, mine,
                                          *source.lists(obj)))
        return records

    def exporters(self, name):
        """Export(objname, export_type, namespace) for every object exporting ``name``."""
        seen = {}
        for source in self.inputs:
            for export in source.exports(name):
                seen.setdefault(export.objname, export)
        return [seen[obj] for obj in sorted(seen, key=_object_order)]

    def has_object(self, objname):
        return objname in self.owner

    def objects(self):
        """'vmlinux' first, then module runtime names in sorted order."""
        return sorted(self.owner, key=_object_order)

    def positions_known(self, objname):
        """Whether every record of this object has its positions (position and core_position).
        False for an old Symbols.list (names only) and for the modules of a /proc/kallsyms
        dump, which shows a live module's core view only (see core_positions_known)."""
        source = self.owner.get(objname)
        return source is not None and source.objects[objname][1] is True

    def core_positions_known(self, objname):
        """Whether core_position is known (True also for a kallsyms dump's modules)."""
        source = self.owner.get(objname)
        return source is not None and source.objects[objname][1] is not False

    def close(self):
        for source in self.inputs:
            source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _object_order(objname):
    return (objname != VMLINUX, objname)


def open_symbols(paths):
    """Open symbol databases and/or old Symbols.list files (detected by content) as one index."""
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    inputs = []
    try:
        for path in paths:
            inputs.append(_open_input(path))
        return SymbolIndex(inputs)
    except BaseException:
        for source in inputs:
            source.close()
        raise


def _open_input(path):
    head = read_head(path)
    if is_database(head):
        return _DatabaseInput(path)
    if is_symbols_list(head):
        return _SymbolsListInput(path)
    raise SymdbError(path, "neither a klp-convert symbol database nor a Symbols.list")
