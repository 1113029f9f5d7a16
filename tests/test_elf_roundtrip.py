"""The ELF layer on real gcc output for five targets: byte-identical round trips, and an edit
checked by two independent readers (pyelftools and readelf)."""

import os
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection as PyRelocationSection

from klp_convert.elf import SHN_LIVEPATCH, STB_LOCAL, STT_OBJECT, ElfObject, Section, Symbol
from klp_convert.elf.model import StringTable
from klp_convert.elf.constants import SHT_PROGBITS, SHF_ALLOC
from support.toolchains import TARGETS, compile_c, readelf_clean

SAMPLE = Path(__file__).parent / "data" / "sample.c"


@pytest.fixture(params=sorted(TARGETS))
def sample_object(request, tmp_path):
    return compile_c(request.param, SAMPLE, tmp_path / f"sample-{request.param}.o")


def pyelf_sections(path):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        return {s.name: (s["sh_type"], s.data() if s["sh_type"] != "SHT_NOBITS" else b"")
                for s in elf.iter_sections()}


def pyelf_symbols(path):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        return [(s.name, s["st_info"]["bind"], s["st_info"]["type"], s["st_shndx"], s["st_value"],
                 s["st_size"]) for s in symtab.iter_symbols()]


def pyelf_relocations(path):
    """{rela section name: [(offset, type, symbol name, addend)]} as pyelftools reads them."""
    out = {}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        for sec in elf.iter_sections():
            if isinstance(sec, PyRelocationSection):
                out[sec.name] = [(r["r_offset"], r["r_info_type"],
                                  symtab.get_symbol(r["r_info_sym"]).name,
                                  r["r_addend"] if r.is_RELA() else None)
                                 for r in sec.iter_relocations()]
    return out


def test_noop_round_trip_is_byte_identical(sample_object, tmp_path):
    original = sample_object.read_bytes()
    obj = ElfObject.read(sample_object)
    data, dropped = obj.to_bytes()
    assert dropped == 0
    assert data == original
    out = tmp_path / "copy.o"
    result = obj.write(out)
    assert out.read_bytes() == original and result.dropped_trailer == 0


def test_round_trip_after_decoding_everything(sample_object):
    """Decoding every relocation (so the writer re-encodes them) still gives the same bytes."""
    obj = ElfObject.read(sample_object)
    for sec in obj.relocation_sections():
        sec.relocations  # noqa: B018 - force decoding
    assert obj.to_bytes()[0] == sample_object.read_bytes()


def test_edit_seen_by_independent_readers(sample_object, tmp_path):
    before_sections = pyelf_sections(sample_object)
    before_symbols = pyelf_symbols(sample_object)
    before_relocs = pyelf_relocations(sample_object)
    obj = ElfObject.read(sample_object)

    # 1. rename a global, and make an undefined symbol a livepatch symbol
    countdown = next(s for s in obj.symbols if s.name == "countdown")
    countdown.name = "countdown_renamed"
    ext = next(s for s in obj.symbols if s.name == "ext_counter")
    ext.name = ".klp.sym.vmlinux.ext_counter,0"
    ext.place(SHN_LIVEPATCH)
    # 2. add a local: every global moves up one index
    data_sec = obj.section_by_name(".data.num_socks") or obj.section_by_name(".bss.num_socks")
    new_local = obj.add_symbol(Symbol("added_local", value=0, size=4, bind=STB_LOCAL,
                                      type=STT_OBJECT, section=data_sec))
    # 3. add a section, 4. move the relocations of one symbol into a new relocation section
    # (ppc64 reaches ext_counter through .toc, the others from .text.*)
    src = next(rs for rs in obj.relocation_sections() if any(r.symbol is ext
                                                              for r in rs.relocations))
    text = src.target
    moved = [r for r in src.relocations if r.symbol is ext]
    klp = obj.add_relocation_section(".klp.rela.vmlinux." + text.name, text)
    klp.flags |= SHF_ALLOC | 0x00100000
    for rel in moved:
        src.relocations.remove(rel)
        klp.relocations.append(rel)
    obj.add_section(Section(".note.added", SHT_PROGBITS, data=b"hello\0"))

    out = tmp_path / "edited.o"
    obj.write(out)
    readelf_clean(out)

    after_sections = pyelf_sections(out)
    after_symbols = pyelf_symbols(out)
    after_relocs = pyelf_relocations(out)
    # untouched sections: byte-identical
    derived = {".symtab", ".strtab", ".shstrtab", ".symtab_shndx"}
    for name, (sh_type, data) in before_sections.items():
        if name in derived or sh_type in ("SHT_RELA", "SHT_REL"):
            continue
        assert after_sections[name] == (sh_type, data), name
    assert after_sections[".note.added"][1] == b"hello\0"
    # symbols: locals first, the new local right after the old locals, globals shifted by one
    names_after = [s[0] for s in after_symbols]
    n_locals = sum(1 for s in before_symbols if s[1] == "STB_LOCAL")
    assert names_after[n_locals] == "added_local"
    assert all(s[1] == "STB_LOCAL" for s in after_symbols[:n_locals + 1])
    assert all(s[1] != "STB_LOCAL" for s in after_symbols[n_locals + 1:])
    expected = [("countdown_renamed" if s[0] == "countdown" else
                 ".klp.sym.vmlinux.ext_counter,0" if s[0] == "ext_counter" else s[0])
                for s in before_symbols]
    assert [n for n in names_after if n != "added_local"] == expected
    klp_sym = next(s for s in after_symbols if s[0] == ".klp.sym.vmlinux.ext_counter,0")
    assert klp_sym[3] == SHN_LIVEPATCH
    # relocations: the moved ones, in order, and nothing else changed
    src_name = src.name
    moved_t = [(r.offset, r.type, ".klp.sym.vmlinux.ext_counter,0", r.addend) for r in moved]
    assert after_relocs[klp.name] == moved_t
    for name, entries in before_relocs.items():
        renamed = [(o, t, {"countdown": "countdown_renamed",
                           "ext_counter": ".klp.sym.vmlinux.ext_counter,0"}.get(s, s), a)
                   for o, t, s, a in entries]
        if name == src_name:
            renamed = [e for e in renamed if e not in moved_t]
        assert after_relocs[name] == renamed, name
    assert new_local.index == n_locals
    # and our own reader agrees with itself
    again = ElfObject.read(out)
    assert again.to_bytes()[0] == out.read_bytes()


def test_edit_drops_trailing_signature(sample_object, tmp_path):
    signed = tmp_path / "signed.o"
    trailer = b"\0" * 7 + b"SIGNATURE" + b"~Module signature appended~\n"
    signed.write_bytes(sample_object.read_bytes() + trailer)
    obj = ElfObject.read(signed)
    assert obj.to_bytes() == (signed.read_bytes(), 0)
    next(s for s in obj.symbols if s.name == "countdown").name = "other"
    data, dropped = obj.to_bytes()
    assert dropped == len(trailer)
    assert not data.endswith(trailer)
    result = obj.write(tmp_path / "out.o")
    assert result.dropped_trailer == len(trailer)


def test_in_place_write_keeps_mode_and_leaves_no_temp(sample_object):
    os.chmod(sample_object, 0o640)
    obj = ElfObject.read(sample_object)
    next(s for s in obj.symbols if s.name == "countdown").name = "x"
    obj.write(sample_object)
    assert os.stat(sample_object).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in sample_object.parent.iterdir()) == [sample_object.name]
    assert ElfObject.read(sample_object).section_by_name(".symtab") is not None


def test_string_table_keeps_the_first_offset_and_appends_new_names():
    """A name already in the table keeps its first offset (a table may hold a string twice);
    a new one is appended once, after the old bytes, and the table's bytes say so."""
    table = StringTable(".strtab", data=b"\0a\0b\0a\0.text\0")
    assert [table.offset_of(n) for n in ("", "a", "b", ".text")] == [0, 1, 3, 7]
    assert table.content_preview() == b"\0a\0b\0a\0.text\0"
    assert table.offset_of("new") == 13
    assert table.offset_of("b") == 3
    assert table.offset_of("n\udcffw") == 17  # not UTF-8: its bytes, as read
    assert table.offset_of("new") == 13
    assert table.content_preview() == b"\0a\0b\0a\0.text\0new\0n\xffw\0"
