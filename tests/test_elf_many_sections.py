"""Extended section numbering: an object with more than 65,280 sections (SHN_LORESERVE)
round-trips and survives an edit. The object is generated here: 33,000 functions, each in its
own section with its own relocation section."""

import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from klp_convert.elf import SHN_LORESERVE, STB_LOCAL, STT_OBJECT, ElfObject, Section, Symbol
from klp_convert.elf.constants import SHT_PROGBITS
from support.toolchains import assemble, readelf_clean

FUNCTIONS = 33_000


@pytest.fixture(scope="module")
def huge_object(tmp_path_factory):
    directory = tmp_path_factory.mktemp("huge")
    lines = []
    for i in range(FUNCTIONS):
        lines += [f'.section .text.f{i},"ax",@progbits', f".globl f{i}", f"f{i}:",
                  "call ext_fn", f"call f{(i + 1) % FUNCTIONS}", "ret"]
    source = directory / "huge.s"
    source.write_text("\n".join(lines) + "\n")
    return assemble(source, directory / "huge.o")


def test_object_really_uses_extended_numbering(huge_object):
    with open(huge_object, "rb") as f:
        elf = ELFFile(f)
        assert elf.header["e_shnum"] == 0
        assert elf.num_sections() > SHN_LORESERVE
        assert elf.get_section_by_name(".symtab_shndx") is not None


@pytest.mark.slow
def test_huge_round_trip_and_edit(huge_object, tmp_path):
    original = huge_object.read_bytes()
    obj = ElfObject.read(huge_object)
    assert len(obj.sections) > SHN_LORESERVE
    assert obj.to_bytes() == (original, 0)

    last = f"f{FUNCTIONS - 1}"
    sym = next(s for s in obj.symbols if s.name == last)
    assert sym.section.index >= SHN_LORESERVE
    sym.name = "renamed_last"
    high = sym.section
    obj.add_symbol(Symbol("added_local", size=4, bind=STB_LOCAL, type=STT_OBJECT, section=high))
    obj.add_section(Section(".note.added", SHT_PROGBITS, data=b"x" * 8))
    src = obj.relocation_sections_for(high)[0]
    ext = [r for r in src.relocations if r.symbol.name == "ext_fn"]
    klp = obj.add_relocation_section(".klp.rela.vmlinux..text.last", high)
    for rel in ext:
        src.relocations.remove(rel)
        klp.relocations.append(rel)
    out = tmp_path / "edited.o"
    obj.write(out)

    readelf_clean(out)
    with open(out, "rb") as f:
        elf = ELFFile(f)
        assert elf.header["e_shnum"] == 0
        assert elf.num_sections() == len(obj.sections)
        symtab = elf.get_section_by_name(".symtab")
        shndx = elf.get_section_by_name(".symtab_shndx")
        names = {s.name: i for i, s in enumerate(symtab.iter_symbols())}
        assert "renamed_last" in names and last not in names
        added = symtab.get_symbol(names["added_local"])
        assert added["st_shndx"] in ("SHN_XINDEX", 0xFFFF)
        assert shndx.get_section_index(names["added_local"]) == high.index
        new_rela = elf.get_section_by_name(klp.name)
        assert new_rela["sh_info"] == high.index
        moved = [(r["r_offset"], symtab.get_symbol(r["r_info_sym"]).name)
                 for r in new_rela.iter_relocations()]
        assert moved == [(r.offset, "ext_fn") for r in ext]
        assert elf.get_section_by_name(".note.added").data() == b"x" * 8
    again = ElfObject.read(out)
    assert again.to_bytes()[0] == out.read_bytes()
    assert [s.name for s in again.sections] == [s.name for s in obj.sections]


def test_database_of_a_module_with_extended_numbering(huge_object, tmp_path):
    """A symbol database keeps a module's symbol table as it is (symdb/symtabs.py): section
    indices past SHN_LORESERVE come from its SHT_SYMTAB_SHNDX bytes at lookup time, as when
    the module is read whole, whether one name is asked or many at once."""
    from klp_convert.cli import main
    from klp_convert.elf.reader import scan_symbols
    from klp_convert.symdb import open_symbols
    from klp_convert.symdb.model import ranked_records
    from klp_convert.symdb.sources import read_module

    module = tmp_path / "huge.ko"
    module.write_bytes(huge_object.read_bytes())
    db = tmp_path / "huge.symdb"
    assert main(["symbols", "--modules", str(module), "-o", str(db)]) == 0
    obj = read_module(module)
    rows = {row[0]: [row] for row in obj.rows}
    names = ["f0", "f100", "f32700", f"f{FUNCTIONS - 1}"]
    scan = scan_symbols(module.read_bytes(), str(module))  # the last two lie past LORESERVE
    index = dict(zip(scan.columns[0], scan.shndxs))
    assert index[names[0]] < SHN_LORESERVE <= index[names[2]] < index[names[3]]
    with open_symbols([db]) as one_by_one, open_symbols([db]) as batched:
        batched.prefetch(names)
        for name in names:
            expected = ranked_records("huge", "module", True, rows[name], [], obj.sections,
                                      obj.files)
            assert one_by_one.lookup_in("huge", name) == expected
            assert batched.lookup_in("huge", name) == expected
        [record] = batched.lookup_in("huge", f"f{FUNCTIONS - 1}")
        assert record.section == f".text.f{FUNCTIONS - 1}"


def test_symbols_past_the_index_field_are_searched_for(huge_object, tmp_path, monkeypatch):
    """A symbol whose index does not fit a name index entry (symdb/symtabs.py INDEX_SEARCH: a
    table of a million symbols) is entered as 'search the table': a lookup finds it by its
    name, with the same records. Here the field is narrowed to 10 bits."""
    from klp_convert.cli import main
    from klp_convert.symdb import open_symbols, symtabs

    module = tmp_path / "huge.ko"
    module.write_bytes(huge_object.read_bytes())
    wide, narrow = tmp_path / "wide.symdb", tmp_path / "narrow.symdb"
    names = ["f0", "f100", "f32700", f"f{FUNCTIONS - 1}", "f1", "no_such_function"]
    assert main(["symbols", "--modules", str(module), "-o", str(wide)]) == 0
    with open_symbols([wide]) as index:
        expected = {name: index.lookup_in("huge", name) for name in names}
    assert all(expected[name] for name in names[:-1])
    monkeypatch.setattr(symtabs, "INDEX_SEARCH", (1 << 10) - 1)
    assert main(["symbols", "--modules", str(module), "-o", str(narrow)]) == 0
    with open_symbols([narrow]) as one_by_one, open_symbols([narrow]) as batched:
        batched.prefetch(names)
        for name in names:
            assert one_by_one.lookup_in("huge", name) == expected[name]
            assert batched.lookup_in("huge", name) == expected[name]
