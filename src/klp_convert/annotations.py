"""Read the annotations a livepatch author put in a module (see include/klp-convert.h).

Three families:
  KLP_MODULE_RELOC(obj) / KLP_SYMPOS(sym, pos)   table in .klp.module_relocs.<obj>:
                                                packed (pointer, u32 position) entries
  KLP_RELOC_SYMBOL[_POS](lp_obj, sym_obj, sym)  the reference's own name:
                                                .klp.sym.rela.<lp_obj>.<sym_obj>.<sym>,<pos>
                                                (or '.<pos>', the v3 spelling)
  KLP_SYMBOL_FILES(obj) / KLP_SYMBOL_FILE(sym, "file.c")
                                                table in .klp.symbol_files.<obj>:
                                                (pointer, pointer to file name) entries
The tables are paired with their relocation section by offset: the relocation at the start of
entry i names the symbol entry i is about.
"""

from .elf import SHF_ALLOC, SHT_NOBITS
from .errors import ElfError, RefusedError
from .kernel.names import KlpName, check_objname
from .text import is_decimal

MODULE_RELOCS_PREFIX = ".klp.module_relocs."
SYMBOL_FILES_PREFIX = ".klp.symbol_files."
RELOC_SYMBOL_PREFIX = ".klp.sym.rela."


class Choice:
    """An author's choice for one referenced symbol: a position or a source file."""

    def __init__(self, objname, symbol, sympos=None, source_file=None, origin=""):
        self.objname = objname
        self.symbol = symbol  # the (undefined) Symbol in the livepatch module
        self.sympos = sympos
        self.source_file = source_file
        self.origin = origin

    def same_as(self, other):
        return (self.objname, self.sympos, self.source_file) == (
            other.objname, other.sympos, other.source_file)

    def describe(self):
        what = f"position {self.sympos}" if self.sympos is not None else \
            f"file {self.source_file}"
        return f"{self.objname} {what} ({self.origin})"


class RelocSymbolName:
    """A KLP_RELOC_SYMBOL name taken apart: lp_obj, sym_obj and the possible (name, pos) splits.

    With the ',' spelling there is one split. With the '.' spelling, 'name.12345.0' could be
    ('name.12345', 0) or, for a hand-written name without a position, ('name.12345.0', 0)...
    so every split is kept and the symbol database decides (see convert.plan)."""

    def __init__(self, lp_obj, sym_obj, splits, spelling):
        self.lp_obj = lp_obj
        self.sym_obj = sym_obj
        self.splits = splits  # [(symname, sympos)], most likely first
        self.spelling = spelling


class Annotations:
    """Every annotation of a module. ``tables`` are the sections that must leave the output."""

    def __init__(self):
        self.choices = {}  # id(Symbol) -> Choice
        self.tables = []  # annotation sections and their relocation sections
        self.reloc_symbols = {}  # id(Symbol) -> RelocSymbolName

    def add(self, path, choice):
        key = id(choice.symbol)
        old = self.choices.get(key)
        if old is not None and not old.same_as(choice):
            raise RefusedError(path, f"conflicting annotations for '{choice.symbol.name}': "
                                     f"{old.describe()} and {choice.describe()}")
        self.choices.setdefault(key, choice)


def read_annotations(obj):
    """Collect all three families from an ElfObject; RefusedError for malformed tables."""
    notes = Annotations()
    for sec in list(obj.sections):
        if sec.name.startswith(MODULE_RELOCS_PREFIX):
            _read_table(obj, notes, sec, MODULE_RELOCS_PREFIX, _module_reloc_entry)
        elif sec.name.startswith(SYMBOL_FILES_PREFIX):
            _read_table(obj, notes, sec, SYMBOL_FILES_PREFIX, _symbol_file_entry)
    for sym in obj.symbols:
        if sym.name.startswith(RELOC_SYMBOL_PREFIX) and sym.is_undefined:
            notes.reloc_symbols[id(sym)] = parse_reloc_symbol(obj.path, sym.name)
    return notes


def _read_table(obj, notes, sec, prefix, read_entry):
    objname = sec.name[len(prefix):]
    try:
        check_objname(objname)
    except KlpName as e:
        raise RefusedError(obj.path, f"annotation section '{sec.name}': {e}") from None
    relas = obj.relocation_sections_for(sec)
    notes.tables += [sec] + relas
    entry_size = _entry_size(obj, prefix)
    if sec.type == SHT_NOBITS or len(sec.data) % entry_size:
        raise RefusedError(obj.path, f"annotation section '{sec.name}' is {sec.size} bytes, "
                                     f"not a whole number of {entry_size}-byte entries")
    by_offset = {}
    for rela in relas:
        for rel in rela.relocations:
            by_offset[rel.offset] = (rela, rel)
    for start in range(0, len(sec.data), entry_size):
        if start not in by_offset:
            raise RefusedError(obj.path, f"annotation section '{sec.name}': entry at "
                                         f"{start:#x} names no symbol")
        rela, rel = by_offset[start]
        choice = read_entry(obj, sec, start, rel, by_offset, objname)
        if not choice.symbol.is_undefined:
            raise RefusedError(obj.path, f"annotation in '{sec.name}' is for "
                                         f"'{choice.symbol.name}', which this module defines "
                                         f"itself")
        notes.add(obj.path, choice)


def _entry_size(obj, prefix):
    word = obj.codec.word_size
    return word + 4 if prefix == MODULE_RELOCS_PREFIX else 2 * word


def _module_reloc_entry(obj, sec, start, rel, by_offset, objname):
    word = obj.codec.word_size
    (sympos,) = obj.codec.u32.unpack_from(sec.data, start + word)
    return Choice(objname, rel.symbol, sympos=sympos,
                  origin=f"KLP_SYMPOS in {sec.name}")


def _symbol_file_entry(obj, sec, start, rel, by_offset, objname):
    word = obj.codec.word_size
    pointer = by_offset.get(start + word)
    if pointer is None:
        raise RefusedError(obj.path, f"annotation section '{sec.name}': entry at {start:#x} "
                                     f"has no file name")
    path = _string_at(obj, sec, start + word, pointer[1])
    return Choice(objname, rel.symbol, source_file=path,
                  origin=f"KLP_SYMBOL_FILE in {sec.name}")


def _string_at(obj, sec, where, rel):
    """The C string a pointer field points at (through its relocation)."""
    target = rel.symbol.section
    if target is None or target.type == SHT_NOBITS:
        raise RefusedError(obj.path, f"annotation section '{sec.name}': the file name at "
                                     f"{where:#x} is not a string in this module")
    addend = rel.addend
    if addend is None:  # SHT_REL: the addend is in the field itself
        addend = obj.codec.address.unpack_from(sec.data, where)[0]
    start = rel.symbol.value + addend
    end = target.data.find(b"\0", start)
    if start < 0 or end < 0:
        raise RefusedError(obj.path, f"annotation section '{sec.name}': bad file name "
                                     f"pointer at {where:#x}")
    return target.data[start:end].decode("utf-8", "replace")


def parse_reloc_symbol(path, name):
    """Take a '.klp.sym.rela.<lp_obj>.<sym_obj>.<sym>{,|.}<pos>' name apart."""
    rest = name[len(RELOC_SYMBOL_PREFIX):]
    parts = rest.split(".", 2)
    if len(parts) != 3 or not parts[2]:
        raise RefusedError(path, f"'{name}' is not <lp_obj>.<sym_obj>.<symbol>,<pos>")
    lp_obj, sym_obj, tail = parts
    for objname in (lp_obj, sym_obj):
        try:
            check_objname(objname)
        except KlpName as e:
            raise RefusedError(path, f"'{name}': {e}") from None
    if "," in tail:
        symname, _, pos = tail.rpartition(",")
        if not is_decimal(pos) or not symname:
            raise RefusedError(path, f"'{name}': position '{pos}' is not a number")
        return RelocSymbolName(lp_obj, sym_obj, [(symname, int(pos))], ",")
    splits = []
    head, dot, pos = tail.rpartition(".")
    if dot and head and is_decimal(pos):
        splits.append((head, int(pos)))
    splits.append((tail, 0))  # no position written at all
    return RelocSymbolName(lp_obj, sym_obj, splits, ".")


def strip_tables(obj, notes):
    """Remove the annotation tables, their relocations and the symbols defined in them.

    Debug information may still point at a table (with -g, .debug_info describes it); those
    relocations go too. Code or data that uses a table is refused: the table will not exist.
    """
    if not notes.tables:
        return
    tables = {id(s) for s in notes.tables}
    defined = {id(y) for y in obj.symbols if y.section is not None and id(y.section) in tables}
    for rela in obj.relocation_sections():
        if id(rela) in tables or not any(id(r.symbol) in defined for r in rela.relocations):
            continue
        if rela.target is not None and rela.target.flags & SHF_ALLOC:
            user = next(r for r in rela.relocations if id(r.symbol) in defined)
            raise RefusedError(obj.path, f"'{rela.target.name}'+{user.offset:#x} uses the "
                                         f"annotation table '{user.symbol.name}', which "
                                         f"does not exist at run time")
        rela.relocations = [r for r in rela.relocations if id(r.symbol) not in defined]
    try:
        obj.remove_sections(notes.tables, drop_symbols=True)
    except ElfError as e:
        raise RefusedError(obj.path, f"cannot remove the annotation tables: {e.detail}") \
            from None
