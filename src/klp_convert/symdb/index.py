"""The query side: open_symbols(paths) combines SQLite databases and old Symbols.list files into
one index that answers lookups by name (the contract between symdb, convert and check)."""

import struct
from bisect import bisect_right
from collections import Counter

from ..errors import KlpError
from ..kernel.names import module_runtime_name
from ..patterns import Pattern
from .model import CORE, FLAGS_END, VMLINUX, Export, ranked_records
from .inputs import (
    KSYMTAB_PREFIX, SYMBOLS_LIST_HEADER, SymdbError, is_symbols_list, read_head, read_text_bytes,
)
from .symtabs import StoredSymtab, bucket_of, checked_bucket, name_hash, symbols_in
from .storage import (
    StorageError, from_sql, is_database, name_list, open_database, positions_flag, read_rows,
    sql_name, to_unsigned,
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
        self.names_by_id = {}  # id -> objname, likewise
        self.names = None
        self.name_lists = {}
        self.symtabs = {}  # object id -> StoredSymtab (or None: no such row), as met
        self.buckets = {}  # name index bucket -> its entries, as read

    def _query(self, sql, args=()):
        return read_rows(self.db, self.path, sql, args)

    def object_names(self):
        """Every object name in the database."""
        if self.names is None:
            self.names = [from_sql(name) for (name,) in self._query("SELECT name FROM objects")]
        return self.names

    def object_count(self):
        return self._query("SELECT count(*) FROM objects")[0][0]

    def holds(self, objnames):
        """The names among ``objnames`` that this database has objects of."""
        found = set()
        for batch, marks, asked in _sql_batches(objnames):
            found.update(asked.get(name) or from_sql(name) for (name,) in self._query(
                f"SELECT name FROM objects WHERE name IN ({marks})", batch))
        return found

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
                self.name_lists[by_id[object_id]] = (name_list(sections), name_list(files))
            except ValueError as e:
                raise StorageError(self.path, f"unreadable symbol database ({e})") from None
        missing = [objname for objname in wanted if objname not in self.name_lists]
        if missing:  # modules stored as symbol tables: their lists come with the table
            self._load_symtabs([self.info[objname][0] for objname in missing])
            for objname in missing:
                object_id = self.info[objname][0]
                table = self.symtabs.get(object_id)
                with self._decoding(object_id):
                    self.name_lists[objname] = table.lists() if table else ([], [])

    def rows_many(self, names):
        """{name: {objname: [row...]}} for many names: one indexed query per BATCH names
        instead of one per name (a huge patch asks for tens of thousands)."""
        by_id = {}
        for batch, marks, asked in _sql_batches(names):
            for object_id, sym, flags, value, size, section, source in self._query(
                    f"SELECT object, name, flags, value, size, section, source_file FROM symbols "
                    f"WHERE name IN ({marks}) ORDER BY id", batch):
                name = asked.get(sym) or from_sql(sym)
                if not _integers(object_id, flags, value, size, section, source):
                    raise StorageError(self.path, f"unreadable symbol database (a row of "
                                                  f"'{name}' holds a value of the wrong type)")
                by_id.setdefault(object_id, {}).setdefault(name, []).append(
                    (name, flags, to_unsigned(value), to_unsigned(size), section, source))
        self._stored_rows(names, by_id)
        found = {}
        for object_id, objname in self._object_names(by_id).items():
            for sym, rows in by_id[object_id].items():
                found.setdefault(sym, {})[objname] = rows
            table = self.symtabs.get(object_id)
            if table is not None and objname not in self.name_lists:
                with self._decoding(object_id):
                    self.name_lists[objname] = table.lists()
        return found

    def _stored_rows(self, names, by_id):
        """Add the rows of ``names`` in modules stored as symbol tables (symtabs.py) to
        ``by_id``: the name index says which symbols of which modules may be each name, and
        only those symbols are decoded."""
        hashes = {name: name_hash(name) for name in names}
        self._load_buckets({bucket_of(value) for value in hashes.values()})
        wanted = {}  # object id -> {name: [indices of the symbols that may be that name]}
        for name, value in hashes.items():
            entries = self.buckets[bucket_of(value)]
            if entries:
                for object_id, index in symbols_in(entries, value):
                    wanted.setdefault(object_id, {}).setdefault(name, []).append(index)
        if not wanted:
            return
        self._load_symtabs(wanted)
        for object_id, asked in sorted(wanted.items()):
            table = self.symtabs.get(object_id)
            if table is None:
                raise StorageError(self.path, f"unreadable symbol database (the name index "
                                              f"lists object {object_id}, which has no "
                                              f"symbol table)")
            with self._decoding(object_id):
                for name, indices in asked.items():
                    rows = table.rows_at(name, indices)
                    if rows:
                        by_id.setdefault(object_id, {})[name] = rows

    def _decoding(self, object_id):
        return _Decoding(self.path, object_id)

    def _load_buckets(self, buckets):
        wanted = [bucket for bucket in buckets if bucket not in self.buckets]
        for batch, marks in _batches(wanted):
            for bucket, entries in self._query(
                    f"SELECT bucket, entries FROM name_index WHERE bucket IN ({marks})", batch):
                try:
                    self.buckets[bucket] = checked_bucket(entries)
                except (ValueError, TypeError) as e:
                    raise StorageError(self.path, f"unreadable symbol database ({e})") \
                        from None
        for bucket in wanted:
            self.buckets.setdefault(bucket, None)

    def _load_symtabs(self, object_ids):
        """Read the stored symbol tables of these objects (None where an object has none)."""
        wanted = [i for i in object_ids if i not in self.symtabs]
        for batch, marks in _batches(wanted):
            for row in self._query(
                    f"SELECT object, layout, machine, symtab, strtab, extended, sections, "
                    f"section_types, section_flags FROM symtabs WHERE object IN ({marks})",
                    batch):
                object_id, layout, machine, symtab, strtab, extended, sections, types, \
                    flags = row
                with self._decoding(object_id):
                    self.symtabs[object_id] = StoredSymtab(
                        layout, machine, symtab, strtab, extended, sections, types,
                        flags)
        for object_id in wanted:
            self.symtabs.setdefault(object_id, None)

    def object_symbols(self, objname):
        """(rows, section names, file names) of one whole object, in its order (listings and
        tests; a lookup reads only what it asks about)."""
        if not self.object_info(objname):
            return [], [], []
        object_id = self.info[objname][0]
        self._load_symtabs([object_id])
        table = self.symtabs[object_id]
        if table is not None:
            with self._decoding(object_id):
                return (table.all_rows(), *table.lists())
        rows = [(from_sql(sym), flags, to_unsigned(value), to_unsigned(size), section, source)
                for sym, flags, value, size, section, source in self._query(
                    "SELECT name, flags, value, size, section, source_file FROM symbols "
                    "WHERE object = ? ORDER BY id", (object_id,))]
        return (rows, *self.lists(objname))

    def _object_names(self, object_ids):
        """{id: name} of these objects, their info recorded on the way (and kept)."""
        known = self.names_by_id
        for batch, marks in _batches([i for i in object_ids if i not in known]):
            for object_id, name, kind, positions in self._query(
                    f"SELECT id, name, kind, positions FROM objects WHERE id IN ({marks}) "
                    f"ORDER BY id", batch):
                name = from_sql(name)
                self.info.setdefault(name, (object_id, kind, positions_flag(positions)))
                known[object_id] = name
        return {object_id: known[object_id] for object_id in sorted(object_ids)
                if object_id in known}

    def answers(self, names):
        """(rows_many(names), exports_many(names))."""
        return self.rows_many(names), self.exports_many(names)

    def exports_many(self, names):
        """{name: [Export...]} for many names, batched like rows_many."""
        found = {}
        for batch, marks, asked in _sql_batches(names):
            for name, obj, export_type, namespace in self._query(
                    f"SELECT name, object, export_type, namespace FROM exports "
                    f"WHERE name IN ({marks})", batch):
                found.setdefault(asked.get(name) or from_sql(name), []).append(
                    Export(from_sql(obj), from_sql(export_type), from_sql(namespace)))
        return found

    def close(self):
        self.db.close()


_INT_OR_NONE = (int, type(None))


def _integers(object_id, flags, value, size, section, source):
    """A symbols row's integer columns hold integers, its flags such as pack_flags() makes (a
    hand-made or damaged database may hold anything). (Spelled out: it runs for every row a
    huge patch asks about.)"""
    return (type(object_id) is int and type(flags) is int and 0 <= flags < FLAGS_END and
            type(value) in _INT_OR_NONE and type(size) in _INT_OR_NONE and
            type(section) in _INT_OR_NONE and type(source) in _INT_OR_NONE)


# Blanks at either end of a Symbols.list line (compiled when a file has any).
_STRAY_BLANKS = Pattern(rb"(?m)[ \t\r]+$|^[ \t]+")
# Up to this many names, searching the file once per name beats one pass over all of it.
FEW_NAMES = 8


class _SymbolsListInput:
    """An old Symbols.list, searched where it lies instead of parsed whole: a distribution's is
    about 19 MB. The '*object' line offsets say which object a line belongs to; names are
    looked up in batches (rows_many), so a lookup never costs a pass over the file per name."""

    def __init__(self, path):
        self.path = str(path)
        self.meta = {}
        data = read_text_bytes(path)
        # stray blanks: normalise once, names have none (bytes.find is ten times a regex)
        if any(blank in data for blank in (b" ", b"\t", b"\r")):
            data = _STRAY_BLANKS.sub(b"", data)
        self.data = b"\n" + data + (b"" if data.endswith(b"\n") else b"\n")
        header = b"\n" + SYMBOLS_LIST_HEADER.encode() + b"\n"
        if not self.data.startswith(header):
            raise SymdbError(path, f"not a Symbols.list (first line is not "
                                   f"'{SYMBOLS_LIST_HEADER}')")
        self.starts, self.owners, self.objects = [], [], {}
        for start, title in _object_lines(self.data):
            objname = title.decode("utf-8", "surrogateescape")
            objname = objname if objname == VMLINUX else module_runtime_name(objname)
            if not objname:
                line = self.data.count(b"\n", 0, start)
                raise SymdbError(path, f"line {line}: empty object name")
            self.starts.append(start)
            self.owners.append(objname)
            self.objects[objname] = (VMLINUX if objname == VMLINUX else "module", False)
        self.owners_sorted = sorted(self.objects)
        first = self.starts[0] if self.starts else len(self.data)
        stray = self.data[len(header):first].strip()
        if stray:
            name = stray.split(b"\n", 1)[0].decode("utf-8", "surrogateescape")
            raise SymdbError(path, f"line 2: symbol '{name[:60]}' before the first '*object' "
                                   f"line")

    def rows(self, name):
        """{objname: [row...]} of one name: its lines found with bytes.find (C speed)."""
        found = {}
        needle = b"\n" + name.encode("utf-8", "surrogateescape") + b"\n"
        at = self.data.find(needle)
        while at >= 0:
            owner = self.owners[bisect_right(self.starts, at) - 1]
            found.setdefault(owner, []).append((name, CORE, None, None, None, None))
            at = self.data.find(needle, at + 1)
        return found

    def rows_many(self, names):
        """{name: {objname: [row...]}}. A few names are searched for one by one; more in one
        pass over the file: each object's block of lines becomes a set that the wanted names
        are intersected with (C speed), so the cost is the file's size plus the names, not
        their product (a search costs about what a pass costs over a few dozen objects)."""
        if len(names) <= FEW_NAMES:
            return {name: rows for name in names for rows in [self.rows(name)] if rows}
        wanted = {name.encode("utf-8", "surrogateescape") for name in names}
        found = {}
        data, starts, owners = self.data, self.starts, self.owners
        for number, (start, owner) in enumerate(zip(starts, owners)):
            end = starts[number + 1] if number + 1 < len(starts) else len(data)
            lines = data[data.index(b"\n", start + 1) + 1:end].split(b"\n")
            unique = set(lines)
            hits = wanted.intersection(unique)
            if not hits:
                continue
            # nm lists most names once per object; count (in C) only where some are repeated
            counts = Counter(lines) if len(unique) < len(lines) else None
            for hit in hits:
                name = hit.decode("utf-8", "surrogateescape")
                found.setdefault(name, {}).setdefault(owner, []).extend(
                    [(name, CORE, None, None, None, None)] * (counts[hit] if counts else 1))
        return found

    def answers(self, names):
        """(rows_many, {name: [Export...]}) of many names in one pass: an export is an object
        listing '__ksymtab_<name>'."""
        rows = self.rows_many([*names, *(KSYMTAB_PREFIX + name for name in names)])
        return rows, {name: [Export(obj, None, None) for obj in rows[KSYMTAB_PREFIX + name]]
                      for name in names if KSYMTAB_PREFIX + name in rows}

    def object_names(self):
        return self.owners_sorted

    def object_count(self):
        return len(self.objects)

    def holds(self, objnames):
        return set(self.objects).intersection(objnames)

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
        _refuse_shared_objects(inputs)
        self.kernel_release = self._meta("kernel_release")
        self.arch = self._meta("arch")
        self._answers = {}  # name -> ([(objname, input, rows)], [Export]) as read
        self._records_cache = {}  # name -> [SymbolRecord] of every object, ranked
        self._exports_cache = {}  # name -> [Export], one per object, in object order
        self._owners = {}  # objname -> the input holding it, or None

    def _source_of(self, objname):
        """The input holding ``objname`` (at most one does: see _refuse_shared_objects), or
        None. Asked once per object: a check asks for each of its symbols."""
        source = self._owners.get(objname, _UNKNOWN)
        if source is _UNKNOWN:
            source = next((s for s in self.inputs if s.object_info(objname)), None)
            self._owners[objname] = source
        return source

    def _meta(self, key):
        values = [s.meta[key] for s in self.inputs if s.meta.get(key)]
        return values[0] if values else None

    def prefetch(self, names):
        """Read the answers for many names at once (one batched query per input, not several
        per name): a conversion or a check knows every name it will ask about up front. The
        answers are kept, so later lookup(), lookup_in() and exporters() calls of these names,
        the output check's included, do not ask the inputs again."""
        names = [n for n in dict.fromkeys(names) if n not in self._answers]
        if not names:
            return
        rows, exports = {}, {}
        for source in self.inputs:
            found, source_exports = source.answers(names)
            for name, entries in source_exports.items():
                exports.setdefault(name, []).extend(entries)
            source.load_lists({obj for by_object in found.values() for obj in by_object})
            for name, by_object in found.items():
                answer = rows.setdefault(name, [])
                for obj, object_rows in by_object.items():
                    answer.append((obj, source, object_rows))
        answers = self._answers
        for name in names:
            answers[name] = (rows.get(name, ()), exports.get(name, ()))

    def lookup(self, name):
        """Every symbol called ``name`` in every object, ordered by (object, position)."""
        return list(self._records_of(name))

    def lookup_in(self, objname, name):
        """The symbols called ``name`` in one object, in position order."""
        if not self._source_of(objname):
            return []
        return [r for r in self._records_of(name) if r.objname == objname]

    def exporters(self, name):
        """Export(objname, export_type, namespace) for every object exporting ``name``."""
        return list(self._exports_of(name))

    def _exports_of(self, name):
        """exporters(), the kept list itself (for this class's own use: not to be changed)."""
        exports = self._exports_cache.get(name)
        if exports is None:
            seen = {}
            for export in self._answer(name)[1]:
                seen.setdefault(export.objname, export)
            exports = self._exports_cache[name] = \
                [seen[obj] for obj in sorted(seen, key=_object_order)] if seen else []
        return exports

    def _answer(self, name):
        answer = self._answers.get(name)
        if answer is None:
            self.prefetch([name])
            answer = self._answers[name]
        return answer

    def _records_of(self, name):
        """SymbolRecords of one name, ranked when first asked for (and kept)."""
        records = self._records_cache.get(name)
        if records is None:
            found = self._answer(name)[0]
            exports = self._exports_of(name) if found else []
            records = []
            for obj, source, rows in sorted(found, key=lambda f: _object_order(f[0])) \
                    if len(found) > 1 else found:
                kind, positions = source.object_info(obj)
                mine = [e for e in exports if e.objname == obj]
                try:
                    records.extend(ranked_records(obj, kind, positions, rows, mine,
                                                  *source.lists(obj)))
                except (IndexError, TypeError):  # a section or file index the lists lack
                    raise StorageError(source.path, f"unreadable symbol database (object "
                                                    f"'{obj}' has rows its name lists do not "
                                                    f"match)") from None
            self._records_cache[name] = records
        return records

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


def _refuse_shared_objects(inputs):
    """KlpError when two inputs hold the same object: each object must come from one input.
    The names of every input but the largest are read and the largest is asked about those
    only (the kernel's database has thousands of objects, a target's a few: reading them all
    would be a third of a typical conversion)."""
    if len(inputs) < 2:
        return
    largest = max(inputs, key=lambda source: source.object_count())
    owner = {}
    for source in inputs:
        if source is largest:
            continue
        for objname in source.object_names():
            if objname in owner:
                _shared(objname, owner[objname], source, inputs)
            owner[objname] = source
    for objname in sorted(largest.holds(owner)):
        _shared(objname, owner[objname], largest, inputs)


def _shared(objname, one, another, inputs):
    """The refusal, naming the later input of the two (in the order given) as the one at fault."""
    earlier, later = sorted((one, another), key=lambda source: inputs.index(source))
    raise KlpError(later.path, f"object '{objname}' is also in {earlier.path}; an object may "
                               f"come from one input only")


def _object_lines(data):
    """(offset of '*', title) of each '*object' line of a Symbols.list (``data`` starts with a
    newline)."""
    at = data.find(b"\n*")
    while at >= 0:
        end = data.index(b"\n", at + 1)
        yield at + 1, data[at + 2:end]
        at = data.find(b"\n*", end)


_UNKNOWN = object()


def _object_order(objname):
    return (objname != VMLINUX, objname)


# Names per batched query: well under SQLite's limit on bound parameters (999 before 3.32).
BATCH = 500


def _batches(values):
    """(values, '?, ?, ...') in slices of at most BATCH."""
    values = list(values)
    for start in range(0, len(values), BATCH):
        batch = values[start:start + BATCH]
        yield batch, ", ".join("?" * len(batch))


def _sql_batches(names):
    """(names as SQLite stores them, '?, ...', {stored form: name}) in slices of BATCH."""
    for batch, marks in _batches(names):
        stored = [sql_name(name) for name in batch]
        yield stored, marks, dict(zip(stored, batch))


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


class _Decoding:
    """A context in which a defect of a stored symbol table (a hand-made database: StoredSymtab
    raises ValueError, IndexError, TypeError or struct.error) becomes one StorageError naming
    the object. (A class, not contextlib: a conversion imports nothing it can do without.)"""

    def __init__(self, path, object_id):
        self.path, self.object_id = path, object_id

    def __enter__(self):
        return self

    def __exit__(self, _type, exc, _tb):
        if isinstance(exc, (ValueError, IndexError, TypeError, struct.error)):
            raise StorageError(self.path, f"unreadable symbol database (object "
                                          f"{self.object_id}: {exc})") from None
        return False
