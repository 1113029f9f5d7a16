"""Python's sqlite3 as the symbol database uses it (connect, Error), imported in this one place,
and what reading a database can raise (READ_ERRORS).

`import sqlite3` runs sqlite3/dbapi2.py, which adds to the C extension _sqlite3 only date and
time adapters and a few aliases, and imports datetime (with time and collections.abc) for them:
about 2 ms of every conversion's start, for column types this database never declares.
_sqlite3 is CPython's own module, not a documented interface: an interpreter without it, or
one whose _sqlite3 lacks what is used here, gets the documented module instead.
"""

try:
    import _sqlite3 as sqlite3

    sqlite3.connect, sqlite3.Error  # noqa: B018 (what is used here)
except (ImportError, AttributeError):
    import sqlite3  # noqa: F401

# What reading a database can raise: SQLite's errors, and UnicodeDecodeError for a TEXT value
# that is not UTF-8 (sqlite3 decodes TEXT itself; a damaged file, found by mutating
# databases: no sqlite3.Error says so).
READ_ERRORS = (sqlite3.Error, UnicodeDecodeError)
