"""The kernel symbol database: every symbol of a kernel build in the kernel's own order.

    index = open_symbols(["kernel.symdb", "extra.symdb", "Symbols.list"])
    index.lookup("type_show")      -> [SymbolRecord ...] ordered by (object, position)
    index.exporters("printk")      -> [Export(objname, export_type, namespace)]

Building: build.build_database / add_to_database / write_symbols_list from build.Sources.

The names below are imported from their modules on first use: a conversion needs the query
side only, not the build's (worker pool, hashing).
"""

_HOMES = {
    "open_symbols": "index", "SymbolIndex": "index",
    "SymbolRecord": "model", "Export": "model",
    "Sources": "build", "BuildReport": "build", "build_database": "build",
    "add_to_database": "build", "write_symbols_list": "build",
    "SymdbError": "inputs", "StorageError": "storage",
}

__all__ = list(_HOMES)


def __getattr__(name):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib.import_module: the importlib package (and warnings, which it
    # imports) is no part of a conversion's start otherwise.
    value = getattr(__import__(f"{__name__}.{home}", fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))
