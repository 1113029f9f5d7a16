"""Names read from inputs are bytes: how they become text, and how text reaches a terminal.

Every name that enters klp-convert (ELF string tables, System.map, kallsyms dumps,
Module.symvers, Symbols.list) is decoded as UTF-8 with ``surrogateescape``: a byte that is not
UTF-8 becomes a lone surrogate, so the name round-trips to the exact bytes (``name_bytes``)
and compares exactly. Such a string cannot be printed, and a name may hold ESC, CR or LF, which
would let an input write to the terminal or forge a second ``klp-convert: error:`` line:
everything we print goes through ``escape``.
"""

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def decode_name(raw):
    """bytes -> str, every byte kept (see the module's docstring)."""
    return raw.decode("utf-8", "surrogateescape")


def name_bytes(name):
    """str -> the exact bytes the name was read from."""
    return name.encode("utf-8", "surrogateescape")


def is_decimal(text):
    """Whether ``text`` is a decimal number in ASCII digits, as the kernel's sscanf and our
    formats write one (str.isdigit() also takes '²', which int() refuses, and '٣', which it
    reads as 3)."""
    return text.isascii() and text.isdigit()


def escape(text):
    """``text`` with every character a terminal would act on shown as an escape: control
    characters as \\n, \\t, \\xNN or \\uNNNN, bytes that were not UTF-8 as \\xNN, a backslash as
    \\\\ (so an escape in the output always means one). Plain text is returned as it is."""
    text = str(text)
    if text.isprintable() and "\\" not in text:
        return text  # the usual case, and fast
    return "".join(_escape_char(c) for c in text)


def _escape_char(c):
    if c in _ESCAPES:
        return _ESCAPES[c]
    if c.isprintable():
        return c
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte surrogateescape kept: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def escape_lines(lines):
    """Several lines, each escaped, joined by newlines: the newlines between them are ours."""
    return "\n".join(escape(line) for line in lines)
