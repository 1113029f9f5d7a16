"""The klp names exactly as the kernel's sscanf() reads them (lib/vsprintf.c vsscanf).

kernel/livepatch/core.c reads

  section  sscanf(name, ".klp.rela.%55[^.]", objname)                    needs 1 field
  symbol   sscanf(name, ".klp.sym.%55[^.].%511[^,],%lu", obj, sym, &pos)  needs 3 fields

names.py builds and parses names strictly (what we write). This module answers a different
question: what does the kernel make of a name somebody else wrote? Its sscanf stops at the first
mismatch and returns the number of fields filled; a %[ field takes at most its width (the rest
stays in the input, so a 56-character object name makes the following '.' mismatch); %lu skips
white space, needs a digit and ignores what follows the number.
"""

from functools import lru_cache

from ..patterns import Pattern
from ..text import is_decimal

from .names import KLP_RELA_PREFIX, KLP_SYM_PREFIX, MODULE_NAME_MAX, SYMBOL_NAME_MAX

OBJNAME_WIDTH = MODULE_NAME_MAX  # %55[^.]
SYMNAME_WIDTH = SYMBOL_NAME_MAX  # %511[^,]
ULONG_MASK = (1 << 64) - 1
# isspace() in the kernel's lib/ctype.c, then the digits (ASCII only, unlike Python's \d)
_ULONG = Pattern(r"[ \t\n\v\f\r]*([0-9]+)")


class Scan(tuple):
    """Fields the kernel's sscanf filled (``count`` of them) and where it stopped: (count,
    objname, symname, sympos, rest), ``rest`` being the input left after the last conversion
    (ignored by the kernel). A tuple, not a record: a huge patch has one per klp name, and a
    tuple is made in a quarter of the time."""

    __slots__ = ()

    def __new__(cls, count, objname=None, symname=None, sympos=None, rest=""):
        return _new_scan(cls, (count, objname, symname, sympos, rest))

    count = property(lambda scan: scan[0])
    objname = property(lambda scan: scan[1])
    symname = property(lambda scan: scan[2])
    sympos = property(lambda scan: scan[3])
    rest = property(lambda scan: scan[4])

    def __repr__(self):
        return "Scan(count={!r}, objname={!r}, symname={!r}, sympos={!r}, rest={!r})".format(
            *self)


_new_scan = tuple.__new__  # Scan(...) without the call of __new__, where every name passes


def _scan_set(text, pos, width, stop):
    """A '%<width>[^<stop>]' conversion: (field, new pos) or (None, pos) when nothing matches."""
    end = text.find(stop, pos, pos + width)
    if end < 0:
        end = min(len(text), pos + width)
    if end == pos:
        return None, pos
    return text[pos:end], end


def _scan_ulong(text, pos):
    """A '%lu' conversion: white space skipped, then decimal digits (wrapping like the C code)."""
    match = _ULONG.match(text, pos)
    if match is None:
        return None, pos
    return int(match.group(1)) & ULONG_MASK, match.end()


def _scan_objname(name, prefix):
    """The '<prefix>%55[^.]' part both names start with: (objname, position after it), or
    (None, 0) when the literal prefix or the object name is missing."""
    if not name.startswith(prefix):
        return None, 0
    return _scan_set(name, len(prefix), OBJNAME_WIDTH, ".")


# The check rules read each klp name several times; a huge patch has tens of thousands.
SCANS_KEPT = 1 << 16


@lru_cache(maxsize=SCANS_KEPT)
def scan_klp_rela(name):
    """How the kernel reads a section name flagged SHF_RELA_LIVEPATCH: Scan(count 0 or 1)."""
    objname, pos = _scan_objname(name, KLP_RELA_PREFIX)
    if objname is None:
        return Scan(0)
    return _new_scan(Scan, (1, objname, None, None, name[pos:]))


@lru_cache(maxsize=SCANS_KEPT)
def scan_klp_sym(name):
    """How klp_resolve_symbols() reads a symbol name: Scan(count 0..3); 3 means accepted."""
    plain = _scan_plain_klp_sym(name)
    return plain if plain is not None else scan_klp_sym_fields(name)


# Where a plain name's fields may lie: %55[^.] then '.', %511[^,] then ','.
_OBJNAME_START = len(KLP_SYM_PREFIX)
_DOT_BEFORE = _OBJNAME_START + OBJNAME_WIDTH + 1
_COMMA_WITHIN = SYMNAME_WIDTH + 2


def _scan_plain_klp_sym(name):
    """Scan(3) of a name every field of which fits, with nothing after the position (what
    klp-convert writes: sscanf reads it whole), else None. A huge patch has tens of thousands;
    str.find does it without the regular expressions whose import alone would be a tenth of a
    typical conversion's start-up."""
    if not name.startswith(KLP_SYM_PREFIX):
        return None
    dot = name.find(".", _OBJNAME_START, _DOT_BEFORE)
    if dot <= _OBJNAME_START:
        return None
    comma = name.find(",", dot + 1, dot + _COMMA_WITHIN)
    digits = name[comma + 1:]
    if comma <= dot + 1 or not is_decimal(digits):
        return None
    return _new_scan(Scan, (3, name[_OBJNAME_START:dot], name[dot + 1:comma],
                            int(digits) & ULONG_MASK, ""))


def scan_klp_sym_fields(name):
    """scan_klp_sym() field by field, as the kernel's sscanf goes (any name)."""
    objname, pos = _scan_objname(name, KLP_SYM_PREFIX)
    if objname is None:
        return Scan(0)
    if not name.startswith(".", pos):
        return Scan(1, objname=objname, rest=name[pos:])
    symname, pos = _scan_set(name, pos + 1, SYMNAME_WIDTH, ",")
    if symname is None:
        return Scan(1, objname=objname, rest=name[pos + 1:])
    if not name.startswith(",", pos):
        return Scan(2, objname=objname, symname=symname, rest=name[pos:])
    sympos, end = _scan_ulong(name, pos + 1)
    if sympos is None:
        return Scan(2, objname=objname, symname=symname, rest=name[pos:])
    return Scan(3, objname=objname, symname=symname, sympos=sympos, rest=name[end:])
