"""SQLite storage of the symbol database (Python's sqlite3, nothing else).

Schema (version 6):

  meta(key, value)            kernel_release, arch, tool_version, schema_version, created_by
  inputs(kind, path, files, bytes, sha256)
                              one row per input: 'vmlinux', 'modules', 'symvers', 'symbols-list';
                              a module tree counts its files and bytes, single files get a sha256
  objects(id, name, kind, path, positions)
                              name: 'vmlinux' or a module's runtime name (unique);
                              positions: 'both' (full and core views known), 'core' (only the
                              core view: a /proc/kallsyms dump) or 'none' (an old Symbols.list)
  symtabs(object, layout, machine, symbols, duplicated, symtab, strtab, extended, sections,
          section_types, section_flags)
                              a module read from its ELF file: its .symtab and .strtab bytes as
                              they are (layout: ELF class and byte order), the SHT_SYMTAB_SHNDX
                              bytes if it needs them, its section names (NUL-separated bytes),
                              types and flags (little-endian u32 and u64 arrays), its symbol
                              count and how many of its names repeat; decoded at lookup time
                              (symtabs.py)
  name_index(bucket, entries) the symbols those modules define, by name: one row per bucket
                              of the hash's top bits, its entries in the order the modules
                              were read: the names' hashes (crc32), then the object ids and
                              symbol indices (u16 each), both little-endian u32 arrays
                              (symtabs.py)
  object_lists(object, sections, files)
                              JSON lists of the section names and STT_FILE names the symbols
                              rows of an object refer to by index (a table of their own, so
                              that opening a database reads only the narrow objects table)
  symbols(id, object, name, flags, value, size, section, source_file)
                              the symbols of every other object (vmlinux, a kallsyms dump, an
                              old Symbols.list) in kallsyms order, so a name's position is its
                              rank by id among the rows of that name in that object; flags
                              packs st_info, whether it is known, the module core view bit and
                              the nm letter (model.py pack_flags); section, source_file:
                              indices into the object's lists; value is stored as a signed
                              64-bit integer (vmlinux addresses are above 2**63)
  exports(name, object, export_type, namespace)

Names are bytes (text.py): a name that is valid UTF-8 is stored as TEXT, one that is not as a
BLOB of its exact bytes (sql_name); a lookup binds its name the same way, so it matches exactly,
and from_sql turns a BLOB back into the same surrogate-escaped string. size, like value, is
stored signed.

Indices: symbols(name, object) and exports(name), so a lookup reads a few pages, not the file.
Positions are computed at lookup time (model.ranked_records), which keeps the build a plain
sequential insert.
"""

import os
from .sqlite import READ_ERRORS, sqlite3
from functools import lru_cache
from itertools import chain

from .. import __version__
from ..errors import KlpError
from ..files import (
    TEMPORARY_FLAGS, hold_interrupts, output_mode, refuse_unwritable_output,
    remove_stale_temporaries, temporary_name,
)
from ..text import decode_name, is_decimal, name_bytes
from .symtabs import NameIndex

SCHEMA_VERSION = "6"
SQLITE_MAGIC = b"SQLite format 3\0"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE inputs (kind TEXT NOT NULL, path TEXT NOT NULL, files INTEGER, bytes INTEGER,
                     sha256 TEXT);
CREATE TABLE objects (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
                      path TEXT, positions TEXT NOT NULL);
CREATE TABLE object_lists (object INTEGER PRIMARY KEY, sections TEXT, files TEXT);
CREATE TABLE symbols (id INTEGER PRIMARY KEY, object INTEGER NOT NULL, name TEXT NOT NULL,
                      flags INTEGER NOT NULL, value INTEGER, size INTEGER, section INTEGER,
                      source_file INTEGER);
CREATE TABLE exports (name TEXT NOT NULL, object TEXT NOT NULL, export_type TEXT,
                      namespace TEXT);
CREATE TABLE symtabs (object INTEGER PRIMARY KEY, layout INTEGER NOT NULL,
                      machine INTEGER NOT NULL, symbols INTEGER NOT NULL,
                      duplicated INTEGER NOT NULL, symtab BLOB NOT NULL, strtab BLOB NOT NULL,
                      extended BLOB, sections BLOB NOT NULL, section_types BLOB NOT NULL,
                      section_flags BLOB NOT NULL);
CREATE TABLE name_index (bucket INTEGER PRIMARY KEY, entries BLOB NOT NULL);
"""
# The columns of each table, as SCHEMA creates them.
TABLE_COLUMNS = {
    "meta": ("key", "value"),
    "inputs": ("kind", "path", "files", "bytes", "sha256"),
    "objects": ("id", "name", "kind", "path", "positions"),
    "object_lists": ("object", "sections", "files"),
    "symbols": ("id", "object", "name", "flags", "value", "size", "section", "source_file"),
    "exports": ("name", "object", "export_type", "namespace"),
    "symtabs": ("object", "layout", "machine", "symbols", "duplicated", "symtab", "strtab",
                "extended", "sections", "section_types", "section_flags"),
    "name_index": ("bucket", "entries"),
}
INDICES = """
CREATE INDEX IF NOT EXISTS symbols_by_name ON symbols (name);
CREATE INDEX IF NOT EXISTS exports_by_name ON exports (name);
"""

_POSITIONS = {True: "both", "core": "core", False: "none"}
_POSITIONS_BACK = {v: k for k, v in _POSITIONS.items()}


class StorageError(KlpError):
    """A symbol database file cannot be read or written."""


def to_signed(value):
    """SQLite integers are signed 64-bit: store u64 values above 2**63 as negatives."""
    return value - (1 << 64) if value is not None and value >= 1 << 63 else value


def to_unsigned(value):
    return value + (1 << 64) if value is not None and value < 0 else value


def sql_name(name):
    """A name as SQLite stores it: TEXT when it is UTF-8, else a BLOB of its bytes (sqlite3
    cannot encode a surrogate-escaped str). None stays None."""
    if name is None or name.isascii():
        return name
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name_bytes(name)


def from_sql(value):
    """The name sql_name stored (a BLOB comes back as bytes)."""
    return decode_name(value) if isinstance(value, bytes) else value


def positions_value(flag):
    return _POSITIONS[flag]


def positions_flag(value):
    return _POSITIONS_BACK.get(value, False)


class DatabaseWriter:
    """A database written at a temporary path beside ``path`` (start() creates it); commit()
    renames it into place, so a failed build leaves no partial file (and an existing database
    is replaced only at the end). Keep the writer before start(): abort() then removes whatever
    start() made, however far it got."""

    def __init__(self, path, base=None):
        self.path, self.base = os.fspath(path), base
        # A rebuilt (or extended) database keeps the old file's permissions.
        self.mode = output_mode(self.path)
        self.tmp = self.db = None

    def start(self):
        base = self.base
        refuse_unwritable_output(self.path, StorageError)
        remove_stale_temporaries(self.path)
        import shutil  # the build's: a conversion only reads databases
        try:
            self.tmp = temporary_name(self.path)  # (kept before the file exists)
            os.close(os.open(self.tmp, TEMPORARY_FLAGS, 0o600))
            if base is not None:  # --add: extend a copy
                with open(base, "rb") as src, open(self.tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            self.db = sqlite3.connect(self.tmp)
            _fast_writes(self.db)
            if base is None:
                self.db.executescript(SCHEMA)
                self.set_meta(schema_version=SCHEMA_VERSION, tool_version=__version__,
                              created_by="klp-convert symbols")
            self.next_object = 1 + (self.db.execute("SELECT COALESCE(MAX(id), 0) FROM objects")
                                    .fetchone()[0])
            self.name_index = NameIndex(self.db.execute("SELECT bucket, entries FROM name_index")
                                        if base is not None else ())
            self.module_exports = []  # stored at commit, in one statement
        except (OSError, sqlite3.Error) as e:  # a full disk, say: nothing is left behind
            self.abort()
            raise StorageError(self.path, f"cannot write: {getattr(e, 'strerror', None) or e}") \
                from None
        except ValueError as e:  # the database extended holds a name index row that is none
            self.abort()
            raise StorageError(base, f"unreadable symbol database ({e})") from None
        except BaseException:  # interrupted (SIGINT, SIGTERM) while starting: likewise
            self.abort()
            raise
        return self

    def set_meta(self, **values):
        self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                            [(k, sql_name(v)) for k, v in values.items() if v is not None])

    def add_input(self, kind, path, files=None, size=None, digest=None):
        self.db.execute("INSERT INTO inputs VALUES (?, ?, ?, ?, ?)",
                        (kind, sql_name(str(path)), files, size, digest))

    def meta_value(self, key):
        """A metadata value of the database being written (an extended one's own), or None."""
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return from_sql(rows[0][0]) if rows else None

    def object_names(self):
        return {from_sql(name): from_sql(path)
                for name, path in self._read("SELECT name, path FROM objects")}

    def _read(self, sql, args=()):
        """The rows of a query of the database being written, which holds an extended
        database's own rows: a damaged one is a StorageError naming it."""
        return read_rows(self.db, self.base or self.path, sql, args)

    def add_object(self, obj, known_exports=frozenset(), object_id=None):
        """Store one ObjectSymbols: its row, its symbols in order, and its own exports except
        those in ``known_exports`` ({(name, objname)} already stored from Module.symvers); as
        object ``object_id``, else the next free one."""
        if object_id is None:
            object_id = self.next_object
            self.next_object += 1
        insert_object(self.db, object_id, obj)
        self.add_exports((name, obj.name, export_type, namespace)
                         for name, export_type, namespace in obj.exports
                         if (name, obj.name) not in known_exports)

    def add_modules(self, numbered, index, known_exports=frozenset()):
        """Store StoredModules (symtabs.py) [(module, object id)]: their objects and symtabs
        rows, their name index entries ``index`` (symtabs.chunk_index: written at commit) and
        their own exports except those in ``known_exports`` ({(name, objname)} already
        stored)."""
        self.db.executemany("INSERT INTO objects VALUES (?, ?, ?, ?, ?)",
                            [(object_id, sql_name(module.name), "module", sql_name(module.path),
                              positions_value(True)) for module, object_id in numbered])
        self.db.executemany("INSERT INTO symtabs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [(object_id, module.layout, module.machine, module.symbols,
                              module.duplicated, module.symtab, module.strtab, module.extended,
                              module.section_names, module.section_types, module.section_flags)
                             for module, object_id in numbered])
        self.name_index.add(*index)
        for module, _object_id in numbered:
            self.module_exports += [(name, module.name, export_type, namespace)
                                    for name, export_type, namespace in module.exports
                                    if (name, module.name) not in known_exports]

    def write_name_index(self):
        """Store the modules' exports and name index kept so far, and let go of them (a build
        does so before it reads vmlinux, whose rows are the most it holds at once)."""
        self.add_exports(self.module_exports)
        self.db.executemany("INSERT OR REPLACE INTO name_index VALUES (?, ?)",
                            self.name_index.rows())
        self.module_exports, self.name_index = [], NameIndex()

    def add_exports(self, rows):
        """rows: (name, objname, export_type, namespace)."""
        self.db.executemany("INSERT INTO exports VALUES (?, ?, ?, ?)", _export_rows(rows))

    def exports_known(self):
        """{(name, objname)} already stored: a later source adds only what is missing."""
        return {(from_sql(name), from_sql(obj))
                for name, obj in self._read("SELECT name, object FROM exports")}

    def commit(self, create_indices=True):
        try:
            self.write_name_index()
            if create_indices:
                self.db.executescript(INDICES)
            self.db.commit()
            self.db.close()
            os.chmod(self.tmp, self.mode)
            hold_interrupts()  # the database is done: see files.py
            os.replace(self.tmp, self.path)
            self.tmp = None
        except (OSError, sqlite3.Error) as e:
            raise StorageError(self.path, f"cannot write: {e}") from None
        finally:
            self.abort()

    def abort(self):
        if self.tmp is not None:
            try:
                if self.db is not None:
                    self.db.close()
            except sqlite3.Error:
                pass
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def _fast_writes(db):
    """A file nobody else sees until it is renamed into place needs no journal and no fsync.
    (A larger page cache made the index build slower, measured: SQLite's sorter does better.)
    Pages of 16 KB: most of the file is modules' symbol tables, blobs of tens of KB, which
    SQLite writes a third faster so than in 4 KB pages (a new file only: --add keeps its
    database's page size)."""
    db.execute("PRAGMA page_size=16384")
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")


def _export_rows(rows):
    return [tuple(map(sql_name, row)) for row in rows]


def name_list_text(names):
    """An object's section or file names as object_lists stores them: a JSON list."""
    import json  # (here: a conversion only reads lists, see name_list)
    return json.dumps(names)


def name_list(text):
    """The names of a list name_list_text() wrote; ValueError when ``text`` is no such list.
    What json.dumps writes of plain ASCII names, '["a", "b"]', holds no quote inside a name
    (it would be escaped), so it is split as it is; anything else is read by json, whose
    import (with the regular expressions it compiles) would be a twentieth of a typical
    conversion's start-up."""
    if text is None or text == "[]":
        return []
    if not isinstance(text, str):
        raise ValueError(f"a list of names is text, not {type(text).__name__}")
    if len(text) >= 4 and text[:2] == '["' and text[-2:] == '"]' and text.isascii() \
            and text.isprintable() and "\\" not in text:
        names = text[2:-2].split('", "')
        if not any('"' in name for name in names):
            return names
    import json
    names = json.loads(text)
    if not (isinstance(names, list) and all(isinstance(name, str) for name in names)):
        raise ValueError("not a list of names")
    return names


def insert_object(db, object_id, obj):
    """Insert the objects row and the symbols of one ObjectSymbols, in order."""
    db.execute("INSERT INTO objects VALUES (?, ?, ?, ?, ?)",
               (object_id, sql_name(obj.name), obj.kind, sql_name(obj.path),
                positions_value(obj.positions_known)))
    db.execute("INSERT INTO object_lists VALUES (?, ?, ?)",
               (object_id, name_list_text(obj.sections), name_list_text(obj.files)))
    rows = obj.rows
    if obj.kind != "vmlinux":  # vmlinux addresses are above 2**63: converted at once
        try:
            _insert_symbols(db, object_id, rows, obj.sections, obj.files)
            return
        # A value or size above 2**63, or a name that is not UTF-8: only in an odd module.
        except (OverflowError, UnicodeEncodeError):
            db.execute("DELETE FROM symbols WHERE object = ?", (object_id,))
    rows = [(sql_name(n), f, to_signed(v), to_signed(z), s, src) for n, f, v, z, s, src in rows]
    _insert_symbols(db, object_id, rows, obj.sections, obj.files)


# Rows one INSERT statement takes: a million single-row statements cost more than the rows.
INSERT_BATCH = 64
# The nullable columns of a symbol row (name, flags, value, size, section, source_file).
_NULLABLE = (2, 3, 4, 5)


def _insert_symbols(db, object_id, rows, sections, files):
    """Insert one object's rows in their order. A column that is None in every row
    is a NULL in the statement: sqlite3 binds a None parameter through its adapter lookup,
    which costs more than the rest of the row."""
    nulls = tuple(k for k in _NULLABLE if _all_none(rows, k, sections, files))
    width = 6 - len(nulls)
    flat = list(chain.from_iterable(rows))
    for stride, k in enumerate(reversed(nulls)):  # the last columns first
        del flat[k::6 - stride]
    done = len(rows) - len(rows) % INSERT_BATCH
    step = INSERT_BATCH * width
    db.executemany(_insert_statement(INSERT_BATCH, nulls),
                   ([object_id, *flat[at:at + step]] for at in range(0, done * width, step)))
    size = INSERT_BATCH
    while done < len(rows):  # the rest in statements of 32, 16, ... rows (few to prepare)
        size //= 2
        if len(rows) - done >= size:
            at = done * width
            db.execute(_insert_statement(size, nulls),
                       [object_id, *flat[at:at + size * width]])
            done += size


def _all_none(rows, column, sections, files):
    """Whether ``column`` is None in every row: a row's section and source file index the
    object's lists, so with no list there is none; a value or size is looked at."""
    if column == 4:
        return not sections
    if column == 5:
        return not files
    return all(row[column] is None for row in rows)


@lru_cache(maxsize=None)
def _insert_statement(count, nulls):
    """INSERT of ``count`` symbol rows: ?1 the object, then each row's bound columns (those
    not in ``nulls``)."""
    values, number = [], 2
    for _row in range(count):
        cells = ["?1", f"?{number}", f"?{number + 1}"]
        number += 2
        for k in _NULLABLE:
            if k in nulls:
                cells.append("NULL")
            else:
                cells.append(f"?{number}")
                number += 1
        values.append(f"({', '.join(cells)})")
    return ("INSERT INTO symbols (object, name, flags, value, size, section, source_file) "
            "VALUES " + ", ".join(values))


def is_database(head):
    return head.startswith(SQLITE_MAGIC)


# Bytes a URI path may hold as they are (RFC 3986 unreserved characters and '/').
_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")


def _uri_path(path):
    """``path`` percent-encoded for an SQLite URI, as urllib.parse.quote does: urllib.parse
    imports ipaddress, a few milliseconds at every conversion's start."""
    return "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in os.fsencode(path))


def read_rows(db, path, sql, args=()):
    """The rows of a query of the database at ``path``; whatever reading it raises (SQLite's
    errors, TEXT that is not UTF-8) is a StorageError naming it."""
    try:
        return db.execute(sql, args).fetchall()
    except READ_ERRORS as e:
        raise StorageError(path, f"unreadable symbol database ({e})") from None


def open_database(path):
    """A read-only connection to a database file; StorageError if it is not one of ours.

    The path is quoted into the URI (a file called `a?b.symdb` is that file, not `a` with a
    query); `immutable=1` means SQLite takes no lock and never creates a journal or WAL file
    beside it (nobody changes a database in place: a rebuild renames a new file over it)."""
    uri = f"file:{_uri_path(os.path.abspath(path))}?mode=ro&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as e:
        raise StorageError(path, f"not a klp-convert symbol database ({e})") from None
    try:
        _check_tables(path, db)
        version = dict(db.execute("SELECT key, value FROM meta")).get("schema_version")
    except READ_ERRORS as e:
        db.close()
        raise StorageError(path, f"not a klp-convert symbol database ({e})") from None
    except StorageError:
        db.close()
        raise
    if version != SCHEMA_VERSION:
        db.close()
        raise StorageError(path, _schema_problem(version))
    return db


def _schema_problem(version):
    """What to tell about a database of another schema version than ours."""
    if isinstance(version, str) and is_decimal(version) and int(version) < int(SCHEMA_VERSION):
        return (f"symbol database of an older klp-convert (schema {version}; this one reads "
                f"schema {SCHEMA_VERSION}): build it again with `klp-convert symbols`")
    if isinstance(version, str) and is_decimal(version):
        return (f"symbol database of a newer klp-convert (schema {version}; this one reads "
                f"schema {SCHEMA_VERSION})")
    return f"symbol database schema {version!r} is not supported (expected {SCHEMA_VERSION})"


def _check_tables(path, db):
    """Each table we read is a table with our columns. A view in its place could recurse for
    ever, so this is looked at before anything is read from it."""
    found = dict(db.execute("SELECT name, type FROM sqlite_master WHERE name IN "
                            f"({', '.join('?' * len(TABLE_COLUMNS))})", list(TABLE_COLUMNS)))
    for table, columns in TABLE_COLUMNS.items():
        if found.get(table) != "table":
            what = f"is a {found[table]}" if table in found else "is missing"
            raise StorageError(path, f"not a klp-convert symbol database (table {table} {what})")
        names = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
        if names != columns:
            raise StorageError(path, f"not a klp-convert symbol database (table {table} has "
                                     f"columns {', '.join(names)})")


class Summary:
    """What `klp-convert symbols --info` shows: meta, inputs, per-kind counts, exports, and
    how many names occur more than once in one object (those need a sympos)."""

    __slots__ = ("meta", "inputs", "kinds", "exports", "duplicated")


def database_summary(path):
    """A Summary of a database file (StorageError if it is not one we can read)."""
    db = open_database(path)
    try:
        summary = Summary()
        summary.meta = {key: from_sql(value)
                        for key, value in db.execute("SELECT key, value FROM meta")}
        if not all(isinstance(key, str) for key in summary.meta):  # (--info sorts them)
            raise StorageError(path, "unreadable symbol database (a meta key is not text)")
        summary.inputs = [(kind, from_sql(ipath), files, size, digest) for
                          kind, ipath, files, size, digest in db.execute(
                              "SELECT kind, path, files, bytes, sha256 FROM inputs "
                              "ORDER BY rowid")]
        summary.kinds = db.execute(
            "SELECT o.kind, COUNT(*), SUM(COALESCE(r.n, 0) + COALESCE(t.symbols, 0)) "
            "FROM objects o LEFT JOIN (SELECT object, COUNT(*) n FROM symbols GROUP BY object) "
            "r ON r.object = o.id LEFT JOIN symtabs t ON t.object = o.id GROUP BY o.kind "
            "ORDER BY o.kind = 'vmlinux' DESC, o.kind").fetchall()
        summary.exports = db.execute("SELECT COUNT(*) FROM exports").fetchone()[0]
        summary.duplicated = db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM symbols GROUP BY object, name "
            "HAVING COUNT(*) > 1)").fetchone()[0] + db.execute(
            "SELECT COALESCE(SUM(duplicated), 0) FROM symtabs").fetchone()[0]
        return summary
    except READ_ERRORS as e:
        raise StorageError(path, f"unreadable symbol database ({e})") from None
    finally:
        db.close()


def file_digest(path):
    """(sha256, size) of a file, read in chunks (the size counted as read: a /proc file's
    st_size is 0)."""
    import hashlib  # the build's only
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
