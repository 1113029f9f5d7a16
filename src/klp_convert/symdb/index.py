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
    StorageError, from_sql, is_database, open_database, positions_flag, sql_name, to_unsigned,
)


class _DatabaseInput:
    """One SQLite database. Opening reads only its metadata; objects and symbols are read when
    a question needs them, so a lookup touches a few index pages whatever the kernel's size."""

    def __init__(self, path):
        self.path = str(path)
        self.db = open_database(path)
        self.meta = {key: from_sql(value)
                     for key, value in self._query("SELECT key, value FROM meta")}
        self.info = {}  # objname -> (id, kind, positions), filled as objects are met
        self.names = None
        self.name_lists = {}

    def _query(self, sql, args=()):
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StorageError(self.path, f"unreadable symbol database ({e})") from None

    def object_names(self):
        """Every object name in the database."""
        if self.names is None:
            self.names = [from_sql(name) for (name,) in self._query("SELECT name FROM objects")]
        return self.names

    def object_info(self, objname):
        """(kind, positions flag) of an object, or None if the database does not have it."""
        if objname not in self.info:
            found = self._query("SELECT id, kind, positions FROM objects WHERE name = ?",
                                (sql_name(objname),))
            self.info[objname] = (found[0][0], found[0][1], positions_flag(found[0][2])) \
                if found else None
        info = self.info[objname]
        return info and info[1:]

    def lists(self, objname):
        """(section names, file names) of one object, read when first needed."""
        if objname not in self.name_lists:
            self.load_lists([objname])
        return self.name_lists[objname]

    def load_lists(self, objnames):
        """Read the name lists of several objects with one query (a lookup meets many)."""
        wanted = [o for o in objnames if o not in self.name_lists and self.object_info(o)]
        if not wanted:
            return
        by_id = {self.info[o][0]: o for o in wanted}
        marks = ", ".join("?" * len(wanted))
        for object_id, sections, files in self._query(
                f"SELECT object, sections, files FROM object_lists WHERE object IN ({marks})",
                list(by_id)):
            try:
                self.name_lists[by_id[object_id]] = (json.loads(sections or "[]"),
                                                     json.loads(files or "[]"))
            except ValueError as e:
                raise StorageError(self.path, f"unreadable symbol database ({e})") from None
        for objname in wanted:
            self.name_lists.setdefault(objname, ([], []))

    def rows(self, name, objname=None):
        """{objname: [row...]} of the symbols called ``name``, each object's in its order."""
        query = ("SELECT o.name, o.id, o.kind, o.positions, s.name, s.flags, s.value, s.size, "
                 "s.section, s.source_file FROM symbols s JOIN objects o ON o.id = s.object "
                 "WHERE s.name = ?")
        args = [sql_name(name)]
        if objname is not None:
            query += " AND o.name = ?"
            args.append(sql_name(objname))
        found = {}
        info = self.info
        for obj, object_id, kind, positions, sym, flags, value, size, section, source in \
                self._query(query + " ORDER BY s.object, s.id", args):
            obj = from_sql(obj)
            if obj not in found:
                info[obj] = (object_id, kind, positions_flag(positions))
                found[obj] = []
            if not _integers(flags, value, size, section, source):
                raise StorageError(self.path, f"unreadable symbol database (a row of "
                                              f"'{name}' holds a value of the wrong type)")
            found[obj].append((name, flags, to_unsigned(value), to_unsigned(size), section,
                               source))
        return found

    def exports(self, name):
        try:
            return [Export(from_sql(obj), from_sql(export_type), from_sql(namespace))
                    for obj, export_type, namespace in
                    self.db.execute("SELECT object, export_type, namespace FROM exports "
                                    "WHERE name = ?", (sql_name(name),))]
        except sqlite3.Error as e:
            raise StorageError(self.path, f"unreadable symbol database ({e})") from None

    def close(self):
        self.db.close()


def _integers(flags, *optional):
    """A symbols row's integer columns hold integers (a hand-made database may hold anything)."""
    return type(flags) is int and all(v is None or type(v) is int for v in optional)


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
        self.owners_sorted = sorted(self.objects)
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

    def object_names(self):
        return self.owners_sorted

    def object_info(self, objname):
        return self.objects.get(objname)

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
        if len(inputs) > 1:  # one input cannot hold an object twice: no need to read them all
            for source in inputs:
                for objname in source.object_names():
                    if objname in self.owner:
                        other = self.owner[objname]
                        raise KlpError(source.path, f"object '{objname}' is also in "
                                                    f"{other.path}; an object may come from "
                                                    f"one input only")
                    self.owner[objname] = source
        self.kernel_release = self._meta("kernel_release")
        self.arch = self._meta("arch")

    def _source_of(self, objname):
        """The input holding ``objname``, or None."""
        if len(self.inputs) > 1:
            return self.owner.get(objname)
        source = self.inputs[0] if self.inputs else None
        return source if source is not None and source.object_info(objname) else None

    def _meta(self, key):
        values = [s.meta[key] for s in self.inputs if s.meta.get(key)]
        return values[0] if values else None

    def lookup(self, name):
        """Every symbol called ``name`` in every object, ordered by (object, position)."""
        return self._records(name, None)

    def lookup_in(self, objname, name):
        """The symbols called ``name`` in one object, in position order."""
        return self._records(name, objname) if self._source_of(objname) else []

    def _records(self, name, objname):
        exports = self.exporters(name)
        by_object = {}
        sources = [self._source_of(objname)] if objname is not None else self.inputs
        for source in sources:
            found = source.rows(name, objname)
            source.load_lists(found)
            for obj, rows in found.items():
                by_object[obj] = (source, rows)
        records = []
        for obj in sorted(by_object, key=_object_order):
            source, rows = by_object[obj]
            kind, positions = source.object_info(obj)
            mine = [e for e in exports if e.objname == obj]
            try:
                records.extend(ranked_records(obj, kind, positions, rows, mine,
                                              *source.lists(obj)))
            except (IndexError, TypeError):  # a section or file index its lists do not have
                raise StorageError(source.path, f"unreadable symbol database (object '{obj}' "
                                                f"has rows its name lists do not match)") \
                    from None
        return records

    def exporters(self, name):
        """Export(objname, export_type, namespace) for every object exporting ``name``."""
        seen = {}
        for source in self.inputs:
            for export in source.exports(name):
                seen.setdefault(export.objname, export)
        return [seen[obj] for obj in sorted(seen, key=_object_order)]

    def has_object(self, objname):
        return self._source_of(objname) is not None

    def objects(self):
        """'vmlinux' first, then module runtime names in sorted order."""
        return sorted({o for s in self.inputs for o in s.object_names()}, key=_object_order)

    def positions_known(self, objname):
        """Whether every record of this object has its positions (position and core_position).
        False for an old Symbols.list (names only) and for the modules of a /proc/kallsyms
        dump, which shows a live module's core view only (see core_positions_known)."""
        source = self._source_of(objname)
        return source is not None and source.object_info(objname)[1] is True

    def core_positions_known(self, objname):
        """Whether core_position is known (True also for a kallsyms dump's modules)."""
        source = self._source_of(objname)
        return source is not None and source.object_info(objname)[1] is not False

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
