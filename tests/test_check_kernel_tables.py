"""The kernel knowledge check relies on: klp names as the kernel's sscanf() reads them, and the
per-architecture tables of relocation types the module loaders accept."""

import pytest
from hypothesis import example, given, settings, strategies as st

from klp_convert.elf.constants import EM_386, EM_AARCH64, EM_LOONGARCH, EM_PPC64, EM_S390, EM_X86_64
from klp_convert.kernel.klp_sscanf import scan_klp_rela, scan_klp_sym, scan_klp_sym_fields
from klp_convert.kernel.generations import LINUX_6_1, LINUX_7_2
from klp_convert.kernel.modinfo import release_version, vermagic_release
from klp_convert.kernel.relocs import RELOC_NAMES


@pytest.mark.parametrize("name, count, fields, rest", [
    (".klp.sym.vmlinux.hats,1", 3, ("vmlinux", "hats", 1), ""),
    (".klp.sym.vmlinux.name.12345,2", 3, ("vmlinux", "name.12345", 2), ""),
    (".klp.sym.foo.count_it.isra.0,0", 3, ("foo", "count_it.isra.0", 0), ""),
    (".klp.sym.vmlinux.hats, 7", 3, ("vmlinux", "hats", 7), ""),  # %lu skips blanks
    (".klp.sym.vmlinux.hats,1x", 3, ("vmlinux", "hats", 1), "x"),  # the rest is ignored
    (".klp.sym.vmlinux.hats,18446744073709551617", 3, ("vmlinux", "hats", 1), ""),  # wraps
    (".klp.sym.vmlinux.hats", 2, ("vmlinux", "hats", None), ""),
    (".klp.sym.vmlinux.hats,", 2, ("vmlinux", "hats", None), ","),
    (".klp.sym.vmlinux.hats,-1", 2, ("vmlinux", "hats", None), ",-1"),
    (".klp.sym.vmlinux.,0", 1, ("vmlinux", None, None), ",0"),
    (".klp.sym..hats,0", 0, (None, None, None), ""),
    (".klp.sym.rela.vmlinux.vmlinux.hats.1", 2, ("rela", "vmlinux.vmlinux.hats.1", None), ""),
    ("hats", 0, (None, None, None), ""),
])
def test_symbol_names_as_the_kernel_scans_them(name, count, fields, rest):
    scan = scan_klp_sym(name)
    assert scan.count == count
    assert (scan.objname, scan.symname, scan.sympos) == fields
    if count == 3:
        assert scan.rest == rest


def test_symbol_field_widths():
    obj56 = "m" * 56
    scan = scan_klp_sym(f".klp.sym.{obj56}.f,0")
    assert (scan.count, scan.objname) == (1, "m" * 55)  # the 56th char is not the '.'
    assert scan_klp_sym(f".klp.sym.{'m' * 55}.f,0").count == 3
    assert scan_klp_sym(f".klp.sym.vmlinux.{'s' * 511},0").count == 3
    assert scan_klp_sym(f".klp.sym.vmlinux.{'s' * 512},0").count == 2


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([".", ",", " ", "0", "7", "\u0663", "a", "é", "\n", "a" * 54,
                                 "s" * 510]),
                max_size=8))
@example(["a" * 54, "a", ".", "a", ",", "0"]).via("objname of 55")
@example(["a" * 54, "a", "a", ".", "a", ",", "0"]).via("objname of 56")
@example(["a", ".", "s" * 510, "a", ",", "7"]).via("symname of 511")
@example(["a", ".", "s" * 510, "a", "a", ",", "7"]).via("symname of 512")
@example(["a", ".", "a", ",", "0", " "]).via("trailing blank")
@example(["a", ".", "a", ",", " ", "0"]).via("blank before the position")
def test_symbol_names_read_in_one_match_as_field_by_field(pieces):
    """scan_klp_sym's one-match reading of plain names gives what the kernel's field-by-field
    reading gives (for every name, plain or not)."""
    name = ".klp.sym." + "".join(pieces)
    assert scan_klp_sym.__wrapped__(name) == scan_klp_sym_fields(name)


@pytest.mark.parametrize("name, count, objname", [
    (".klp.rela.vmlinux..text", 1, "vmlinux"),
    (".klp.rela.vmlinux.text", 1, "vmlinux"),
    (".klp.rela.foo", 1, "foo"),
    (".klp.rela..text", 0, None),
    (".klp.rela.", 0, None),
    (".rela.text", 0, None),
    (".klp.rela." + "x" * 60 + ".text", 1, "x" * 55),
])
def test_section_names_as_the_kernel_scans_them(name, count, objname):
    scan = scan_klp_rela(name)
    assert (scan.count, scan.objname) == (count, objname)


def test_x86_64_loader_accepts_exactly_the_6_1_types():
    loader = LINUX_6_1.loader_for(EM_X86_64)
    assert sorted(loader.accepted) == [0, 1, 2, 4, 10, 11, 24]
    assert loader.requires_zero_target
    assert loader.unknown_type_message("lp", 9) == "module: lp: Unknown rela relocation: 9"


@pytest.mark.parametrize("machine, common, rtype, message", [
    # REL24; no R_PPC64_NONE case in 6.1
    (EM_PPC64, 10, 0, "module_64: lp: Unknown ADD relocation: 0"),
    (EM_S390, 0, 61, "module lp: unknown relocation: 61"),
    (EM_AARCH64, 283, 1, "module lp: unsupported RELA relocation: 1"),
    (EM_LOONGARCH, 66, 3, "kmod: lp: Unsupport relocation type 3, please add its support."),
])
def test_other_loaders(machine, common, rtype, message):
    loader = LINUX_6_1.loader_for(machine)
    assert common in loader.accepted
    assert rtype not in loader.accepted
    assert loader.unknown_type_message("lp", rtype) == message


def test_loader_special_cases():
    assert LINUX_6_1.loader_for(EM_S390).unknown_type_message("lp", 10) is None  # GLOB_DAT: silent
    assert LINUX_6_1.loader_for(EM_LOONGARCH).unknown_type_message("lp", 200) == \
        "kmod: lp: Unknown relocation type 200"
    assert LINUX_6_1.loader_for(EM_386) is None  # no livepatch on i386


def test_vermagic_release():
    release = vermagic_release("6.1.0-26-amd64 SMP preempt mod_unload modversions ")
    assert release == "6.1.0-26-amd64"
    assert release_version(release) == (6, 1)
    assert release_version("5.7.0-rc1") == (5, 7)
    assert release_version(None) is None and vermagic_release("") is None
    # what is no release: int() reads the Arabic-Indic '٣' as 3, and ' 6' and '+6' too
    for text in ["\u0663.1", " 6.1", "+6.1", "6", "x.1"]:
        assert release_version(text) is None, text


# What GCC emits for a livepatch's references to a module on each architecture whose 7.2
# kernel the real-kernel suite boots (tests/support/arch_relocs.py; the guest applies them):
# named, and applied by that architecture's 7.2 loader.
@pytest.mark.parametrize("machine, names", [
    (EM_PPC64, {"R_PPC64_REL24", "R_PPC64_ADDR64"}),
    (EM_S390, {"R_390_PLT32DBL", "R_390_GOTENT", "R_390_64"}),
    (EM_AARCH64, {"R_AARCH64_CALL26", "R_AARCH64_ADR_PREL_PG_HI21", "R_AARCH64_ABS64"}),
    (EM_LOONGARCH, {"R_LARCH_B26", "R_LARCH_GOT_PC_HI20", "R_LARCH_GOT_PC_LO12", "R_LARCH_64"}),
])
def test_7_2_loaders_apply_the_types_gcc_emits(machine, names):
    numbers = {name: number for number, name in RELOC_NAMES[machine].items()}
    assert names <= set(numbers), names - set(numbers)
    assert {numbers[name] for name in names} <= LINUX_7_2.loader_for(machine).accepted


def test_loongarch_loader_tables_by_generation():
    """loongarch's loader across generations (arch/loongarch/kernel/module.c): 6.12 added
    32_PCREL and 64_PCREL, 7.2 the PCADD forms and a longer handler table; B26 and the GOT
    pairs are applied in every one."""
    names = {name: number for number, name in RELOC_NAMES[EM_LOONGARCH].items()}
    old, new = LINUX_6_1.loader_for(EM_LOONGARCH), LINUX_7_2.loader_for(EM_LOONGARCH)
    assert {names["R_LARCH_B26"], names["R_LARCH_GOT_PC_HI20"], names["R_LARCH_GOT_PC_LO12"]} \
        <= old.accepted
    assert names["R_LARCH_64_PCREL"] not in old.accepted
    added = {names[n] for n in ("R_LARCH_32_PCREL", "R_LARCH_64_PCREL", "R_LARCH_PCADD_HI20",
                                "R_LARCH_PCADD_LO12", "R_LARCH_GOT_PCADD_HI20",
                                "R_LARCH_GOT_PCADD_LO12")}
    assert new.accepted - old.accepted == added
    # CALL36 (110) is past 6.1's table: the second message; in 7.2's table, the first.
    assert old.unknown_type_message("lp", 110) == "kmod: lp: Unknown relocation type 110"
    assert new.unknown_type_message("lp", 110) == \
        "kmod: lp: Unsupport relocation type 110, please add its support."
