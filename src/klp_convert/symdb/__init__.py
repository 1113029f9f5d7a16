"""The kernel symbol database: every symbol of a kernel build in the kernel's own order.

    index = open_symbols(["kernel.symdb", "extra.symdb", "Symbols.list"])
    index.lookup("type_show")      -> [SymbolRecord ...] ordered by (object, position)
    index.exporters("printk")      -> [Export(objname, export_type, namespace)]

Building: build.build_database / add_to_database / write_symbols_list from build.Sources.
"""

from .build import BuildReport, Sources, add_to_database, build_database, write_symbols_list
from .index import SymbolIndex, open_symbols
from .model import Export, SymbolRecord
from .sources import SymdbError
from .storage import StorageError

__all__ = [
    "open_symbols", "SymbolIndex", "SymbolRecord", "Export", "Sources", "BuildReport",
    "build_database", "add_to_database", "write_symbols_list", "SymdbError", "StorageError",
]
