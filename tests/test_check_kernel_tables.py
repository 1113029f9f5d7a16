"""The kernel knowledge check relies on: klp names as the kernel's sscanf() reads them, and the
per-architecture tables of relocation types the module loaders accept."""

import pytest

from klp_convert.elf.constants import EM_386, EM_AARCH64, EM_LOONGARCH, EM_PPC64, EM_S390, EM_X86_64
from klp_convert.kernel.klp_sscanf import scan_klp_rela, scan_klp_sym
from klp_convert.kernel.generations import LINUX_6_1
from klp_convert.kernel.modinfo import release_version, vermagic_release


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
