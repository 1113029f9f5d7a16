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
