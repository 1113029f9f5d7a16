"""ElfObject: one relocatable object in memory, with the edits klp-convert needs."""

import os

from .constants import SHF_INFO_LINK, SHF_LINK_ORDER, SHT_RELA, SHT_REL, SHT_SYMTAB
from .model import GroupSection, RelocationSection, Section, SymbolTable
from .reader import parse
from .writer import serialize
from ..compression import read_module_file
from ..errors import ElfError
from ..files import (
    TEMPORARY_FLAGS, output_mode, refuse_unwritable_output, remove_stale_temporaries,
    temporary_name,
)


class SaveResult:
    """What a save did that the caller should know about."""

    def __init__(self, path, dropped_trailer):
        self.path = path
        #: bytes of trailing data (e.g. an appended module signature) not written, because
        #: the object changed and the data no longer matches it.
        self.dropped_trailer = dropped_trailer


class ElfObject:
    """An ET_REL object: ``sections`` (index 0 is the null section), ``header``, ``codec``."""

    def __init__(self, path, data):
        self.path = str(path)
        self.original = data
        self.codec, self.header, sections, self.layout_end = parse(data, self.path)
        self.sections = sections
        self._original_sections = list(sections)
        self._original_shnum = len(sections)
        self.shstrtab = sections[self.header.shstrndx]

    @classmethod
    def read(cls, path):
        """Read and check the object at ``path`` (an installed module's .ko.xz, .ko.gz or
        .ko.zst decompressed first); raise ElfError for anything wrong with it."""
        return cls(path, read_module_file(path, ElfError))

    @classmethod
    def from_bytes(cls, data, path="<bytes>"):
        return cls(path, bytes(data))

    # -- look-ups -------------------------------------------------------------------------

    @property
    def is64(self):
        return self.codec.is64

    @property
    def big_endian(self):
        return self.codec.big_endian

    @property
    def machine(self):
        return self.header.machine

    @property
    def symtab(self):
        """The symbol table (an ET_REL object has at most one)."""
        cached = getattr(self, "_symtab", None)
        # The index is as of the last read or write; when it no longer points at the cached
        # table (sections were inserted or removed before it), look again.
        if cached is not None and cached.index is not None and \
                cached.index < len(self.sections) and self.sections[cached.index] is cached:
            return cached
        for sec in self.sections:
            if sec.type == SHT_SYMTAB:
                self._symtab = sec
                return sec
        raise ElfError(self.path, "no symbol table")

    @property
    def symbols(self):
        return self.symtab.symbols

    def section_by_name(self, name):
        """The first section called ``name``, or None."""
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def relocation_sections(self):
        return [s for s in self.sections if s.type in (SHT_RELA, SHT_REL)]

    def relocation_sections_for(self, target):
        return [s for s in self.relocation_sections() if s.info is target]

    # -- edits ----------------------------------------------------------------------------

    def add_section(self, section, after=None):
        """Append ``section`` (or insert it after the Section ``after``); returns it."""
        if after is None:
            self.sections.append(section)
        else:
            self.sections.insert(self.sections.index(after) + 1, section)
        return section

    def add_relocation_section(self, name, target, flags=SHF_INFO_LINK, after=None,
                               with_addend=None):
        """A new, empty relocation section for ``target``.

        ``with_addend`` None means the kind this object already uses (RELA; REL on i386).
        """
        if with_addend is None:
            relas = self.relocation_sections()
            with_addend = not relas or any(s.type == SHT_RELA for s in relas)
        entsize = self.codec.reloc_struct(with_addend).size
        sec = RelocationSection(name, target=target, symtab=self.symtab, with_addend=with_addend,
                                flags=flags, addralign=self.codec.word_size, entsize=entsize)
        return self.add_section(sec, after=after)

    def add_symbol(self, symbol):
        return self.symtab.add(symbol)

    def remove_symbol(self, symbol):
        self.symtab.remove(symbol)

    def remove_sections(self, doomed, drop_symbols=False):
        """Remove the given sections together.

        Group member lists lose them. A remaining section that still points at one of them
        through sh_link (SHF_LINK_ORDER, a symbol table's string table ...) or sh_info
        (a relocation section's target, SHF_INFO_LINK) makes this refuse, as does a remaining
        symbol defined in one of them unless ``drop_symbols`` removes such symbols too.
        """
        doomed_ids = {id(s) for s in doomed}
        if any(s is self.sections[0] for s in doomed):
            raise ElfError(self.path, "the null section cannot be removed")
        if self.shstrtab is not None and id(self.shstrtab) in doomed_ids:
            raise ElfError(self.path, f"cannot remove '{self.shstrtab.name}': it holds the "
                                      f"section names")
        remaining = [s for s in self.sections if id(s) not in doomed_ids]
        for sec in remaining:
            for how, ref in (("sh_link", sec.link), ("sh_info", sec.info)):
                if isinstance(ref, Section) and id(ref) in doomed_ids:
                    why = _reference_kind(sec, how)
                    raise ElfError(self.path, f"cannot remove section '{ref.name}': "
                                              f"'{sec.name}' still refers to it ({why})")
        for symtab in (s for s in remaining if isinstance(s, SymbolTable)):
            defined = [y for y in symtab.symbols if y.section is not None
                       and id(y.section) in doomed_ids]
            if defined and not drop_symbols:
                raise ElfError(self.path, f"cannot remove section '{defined[0].section.name}': "
                                          f"symbol '{defined[0].name}' is defined in it")
            if defined:
                gone = {id(y) for y in defined}
                symtab.symbols = [y for y in symtab.symbols if id(y) not in gone]
        for group in (s for s in remaining if isinstance(s, GroupSection)):
            group.members = [m for m in group.members if id(m) not in doomed_ids]
        self.sections = remaining

    # -- output ---------------------------------------------------------------------------

    def to_bytes(self):
        """Serialise; returns (data, dropped_trailer_bytes)."""
        return serialize(self)

    def write(self, path):
        """Write atomically to ``path`` (temporary file in the same directory, then rename).

        Nothing is left behind on any error. The file mode of an existing ``path`` is kept.
        """
        data, dropped = self.to_bytes()
        write_atomically(path, data)
        return SaveResult(str(path), dropped)


def write_atomically(path, data):
    """Write ``data`` to ``path`` through a temporary file and a rename; ElfError on failure.
    The file keeps the old one's permissions, never its set-user/group-ID bits. ``data`` is
    bytes, or an iterable of bytes written as it comes (a large text need not be held whole);
    an exception it raises leaves no file either."""
    path = os.fspath(path)
    refuse_unwritable_output(path, ElfError)
    mode = output_mode(path)
    remove_stale_temporaries(path)
    tmp = None
    try:
        tmp = temporary_name(path)  # (kept before the file exists: see temporary_name)
        with os.fdopen(os.open(tmp, TEMPORARY_FLAGS, 0o600), "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                for chunk in data:
                    f.write(chunk)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise ElfError(path, f"cannot write: {e.strerror}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _reference_kind(sec, how):
    if how == "sh_link" and sec.flags & SHF_LINK_ORDER:
        return "SHF_LINK_ORDER"
    if how == "sh_info" and isinstance(sec, RelocationSection):
        return "relocation target"
    if how == "sh_info" and sec.flags & SHF_INFO_LINK:
        return "SHF_INFO_LINK"
    return how
