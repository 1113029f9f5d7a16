"""The inputs of a symbol database as a conversion meets them: reading one's first bytes or
whole text, telling an old Symbols.list, and the error they raise. Apart from sources.py (the
readers of every input format, for the database build), which a conversion need not import."""

from ..errors import KlpError
from ..files import open_regular

KSYMTAB_PREFIX = "__ksymtab_"
SYMBOLS_LIST_HEADER = "klp-convert-symbol-data.0.1"


class SymdbError(KlpError):
    """An input of the symbol database is unreadable or malformed."""


def is_symbols_list(head):
    """Whether the first bytes of a file are an old Symbols.list header."""
    return head.startswith(SYMBOLS_LIST_HEADER.encode())


def read_head(path, size=64):
    """The first bytes of an input, to tell its format by content."""
    with open_input(path) as f:
        try:
            return f.read(size)
        except OSError as e:
            raise SymdbError(path, f"cannot read: {e.strerror}") from None


def open_input(path):
    return open_regular(path, SymdbError)


def read_text_bytes(path):
    """The bytes of a text input (decompressed), refusing binary files."""
    with open_input(path) as f:
        try:
            data = f.read()
        except OSError as e:
            raise SymdbError(path, f"cannot read: {e.strerror}") from None
    if b"\0" in data[:65536]:
        raise SymdbError(path, "binary file, expected text")
    return data
