"""Kernel knowledge by generation (kernel/generations.py): which generation's rules apply to a
target kernel, and what check and the symbol database do differently per generation, on gcc
objects and small linked "vmlinux" files."""

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from klp_convert.check import check_module, check_module_rules
from klp_convert.cli import main
from klp_convert.elf import ElfObject
from klp_convert.elf.constants import EM_PPC64, EM_X86_64
from klp_convert.kernel.generations import (
    DEFAULT, GENERATIONS, LINUX_5_10, LINUX_6_1, LINUX_6_12, LINUX_7_2, kernel_message,
    nearest_generation, rules_for_release, select_rules,
)
from klp_convert.kernel.kallsyms import KALLSYMS_6_12, KALLSYMS_7_2, kallsyms_table
from klp_convert.symdb.sources import read_vmlinux_elf, system_map_view
from support.broken_modules import build_corpus
from support.toolchains import link_toy_vmlinux, require_tool

DATA = Path(__file__).parent / "data" / "symdb"
KNOWN = {"5.10.0-46-amd64": LINUX_5_10, "6.1.0-56-amd64": LINUX_6_1,
         "6.12.118+deb13-amd64": LINUX_6_12, "7.2.13+deb14-amd64": LINUX_7_2}


# -- choosing the generation ---------------------------------------------------------------------

@pytest.mark.parametrize("release, generation", KNOWN.items())
def test_known_releases_get_their_generation_without_a_note(release, generation):
    rules = rules_for_release(release, "the symbol database")
    assert rules.generation is generation and rules.exact and rules.note() is None
    assert rules.describe() == f"Linux {generation.name} rules ({release}, from the symbol " \
                               "database)"


@pytest.mark.parametrize("release, nearest", [
    ("6.6.30-amd64", "6.1"), ("6.7.0", "6.12"), ("6.16.1", "6.12"), ("6.19.0", "7.2"),
    ("5.15.0-105-generic", "5.10"), ("4.19.0-27-amd64", "5.10"), ("7.5.0", "7.2"), ("8.1", "7.2"),
])
def test_releases_between_and_beyond_get_the_nearest_and_say_so(release, nearest):
    rules = rules_for_release(release, "the module's vermagic")
    assert rules.generation.name == nearest and not rules.exact
    assert rules.note() == (f"Linux {release} (the module's vermagic) is not a known generation "
                            f"(5.10, 6.1, 6.12, 7.2): the rules of the nearest, Linux {nearest}, "
                            "are assumed")


def test_reload_limit_is_keyed_on_its_own_release():
    # klp_clear_object_relocs arrived in 6.3: 6.2 and 6.3 both get 6.1's other rules
    assert nearest_generation((6, 2)) is nearest_generation((6, 3)) is LINUX_6_1
    assert not rules_for_release("6.2.0").generation.clears_module_relocs
    assert rules_for_release("6.3.0").generation.clears_module_relocs
    assert [g.clears_module_relocs for g in GENERATIONS] == [False, False, True, True]


def test_database_release_wins_over_vermagic():
    rules = select_rules("7.2.13+deb14-amd64", "6.1.0-56-amd64 SMP mod_unload modversions ")
    assert (rules.generation, rules.origin) == (LINUX_7_2, "the symbol database")
    rules = select_rules(None, "6.12.118+deb13-amd64 SMP preempt mod_unload modversions ")
    assert (rules.generation, rules.origin) == (LINUX_6_12, "the module's vermagic")


def test_unknown_release_gets_the_default_and_says_so():
    rules = select_rules(None, None)
    assert rules.generation is DEFAULT and rules.release is None
    assert rules.note() == f"kernel release unknown: Linux {DEFAULT.name} rules assumed"
    assert rules.to_json()["assumed"] is True


def test_kernel_messages_stop_at_what_only_the_kernel_knows():
    x86 = LINUX_7_2.loader_for(EM_X86_64)
    assert kernel_message(x86.nonzero_format, 7, 3, 2) == \
        "x86/modules: Invalid relocation target, existing value is nonzero for sec 7, idx 3, type 2"
    assert kernel_message(x86.overflow_format, 10, None, 7, 0) == \
        "overflow in relocation type 10 val"
    assert kernel_message(LINUX_6_12.loader_for(EM_X86_64).nonzero_format, 2) == \
        "x86/modules: Invalid relocation target, existing value is nonzero for type 2"
    assert kernel_message(LINUX_5_10.loader_for(EM_X86_64).nonzero_format, 2) == \
        "x86/modules: Skipping invalid relocation target, existing value is nonzero for type 2"


def _regex_kernel_message(fmt, *values):
    """kernel_message() as regular expressions say it (the reading it replaced)."""
    out, pos, values = [], 0, iter(values)
    for match in re.finditer(r"%[-+ #0]*[0-9]*(?:hh|h|ll|l|L|z)?[diouxXpsc]", fmt):
        value = next(values, None)
        out.append(fmt[pos:match.start()])
        if value is None:
            return re.sub(r",\s*\w+\s*$", "", "".join(out)).rstrip()
        out.append(format(value, "x") if match.group(0)[-1] in "xX" else str(value))
        pos = match.end()
    out.append(fmt[pos:])
    return "".join(out)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(["%", "%%", "-", "+", " ", "#", "0", "12", "h", "hh", "l", "ll",
                                 "L", "z", "d", "u", "x", "X", "p", "s", "c", "q", ",", ", ",
                                 "loc", "_", "\u00e9", "\u0663", "\n", "\u2003"]), max_size=12),
       st.lists(st.one_of(st.none(), st.integers(0, 1 << 64)), max_size=4))
def test_kernel_message_reads_formats_as_regular_expressions_would(pieces, values):
    fmt = "".join(pieces)
    assert kernel_message(fmt, *values) == _regex_kernel_message(fmt, *values)


def test_loader_tables_per_generation():
    # the Power10 prefixed relocations arrived between 6.1 and 6.12; no R_PPC64_NONE anywhere
    assert 116 not in LINUX_6_1.loader_for(EM_PPC64).accepted
    assert {116, 132, 133} <= LINUX_6_12.loader_for(EM_PPC64).accepted
    assert all(0 not in g.loader_for(EM_PPC64).accepted for g in GENERATIONS)
    # x86-64 accepts the same types in every generation
    assert len({g.loader_for(EM_X86_64).accepted for g in GENERATIONS}) == 1
    assert LINUX_5_10.loader_for(258) is None  # no loongarch before 5.19


# -- check, per generation (modules built by gcc, vermagic naming each release) ------------------

@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    return {release: build_corpus(tmp_path_factory.mktemp("corpus"), release)
            for release in ("6.1.0-56-amd64", "6.12.118+deb13-amd64", "7.2.13+deb14-amd64")}


def test_reload_warning_only_where_the_kernel_has_the_limit(corpora):
    rules = {release: [f.rule for f in check_module(corpus["good"])]
             for release, corpus in corpora.items()}
    assert rules == {"6.1.0-56-amd64": ["module-reload"], "6.12.118+deb13-amd64": [],
                     "7.2.13+deb14-amd64": []}


def test_nonzero_target_message_per_generation(corpora):
    expected = {
        "6.1.0-56-amd64": "module: x86/modules: Skipping invalid relocation target, existing "
                          "value is nonzero for type 4",
        "6.12.118+deb13-amd64": "module: x86/modules: Invalid relocation target, existing value is "
                                "nonzero for type 4",
        "7.2.13+deb14-amd64": "module: x86/modules: Invalid relocation target, existing value is "
                              "nonzero for sec {sec}, idx 0, type 4",
    }
    for release, corpus in corpora.items():
        obj = ElfObject.read(corpus["nonzero-target-bytes"])
        klp = next(s for s in obj.relocation_sections() if s.name.startswith(".klp.rela.foo"))
        [finding] = [f for f in check_module(obj) if f.rule == "x86-target-bytes"]
        assert finding.kernel_message == expected[release].format(sec=klp.index), release


def test_not_livepatch_symbol_message_per_generation(corpora):
    for release, corpus in corpora.items():
        obj = ElfObject.read(corpus["symbol-defined-not-livepatch"])
        [finding] = [f for f in check_module(obj) if f.rule == "klp-symbol-shndx"]
        symbol = finding.message.split("'")[1]
        if release.startswith("7.2"):
            assert finding.kernel_message == f"livepatch: symbol {symbol} at rela sec " \
                                             f"{obj.symtab.index} idx 0 is not marked as a " \
                                             "livepatch symbol"
        else:
            assert finding.kernel_message == f"livepatch: symbol {symbol} is not marked as a " \
                                             "livepatch symbol"


def test_special_sections_per_generation(corpora):
    corpus = corpora["7.2.13+deb14-amd64"]
    obj = ElfObject.read(corpus["module-reloc-in-jump-table"])
    for sec in obj.sections:
        if sec.name == "__jump_table":
            sec.name = ".call_sites"  # objtool's call depth tracking sites (6.2+)
    findings = {g.name: [f.rule for f in check_module(obj, rules=rules_for_release(g.name))]
                for g in GENERATIONS}
    assert findings["7.2"] == findings["6.12"] == ["special-section"]
    assert "special-section" not in findings["6.1"] + findings["5.10"]
    assert ".parainstructions" in LINUX_6_1.special_sections
    assert ".parainstructions" not in LINUX_6_12.special_sections


def test_check_output_names_the_generation(corpora, capsys):
    path = corpora["7.2.13+deb14-amd64"]["good"]
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{path}: kernel: Linux 7.2 rules (7.2.13+deb14-amd64, from the module's "
                   "vermagic)", f"{path}: will load"]
    assert main(["check", "--json", str(path)]) == 0
    import json
    kernel = json.loads(capsys.readouterr().out)["modules"][0]["kernel"]
    assert kernel == {"generation": "7.2", "release": "7.2.13+deb14-amd64",
                      "origin": "the module's vermagic", "assumed": False, "note": None}


def test_release_between_generations_is_one_line_in_check(corpora, capsys):
    path = corpora["6.12.118+deb13-amd64"]["good"]
    findings, rules = check_module_rules(path, rules=rules_for_release("6.15.0", "test"))
    assert rules.generation.name == "6.12" and findings == []
    assert "the rules of the nearest, Linux 6.12, are assumed" in rules.describe()


# -- kallsyms and mksysmap per generation (a small linked "vmlinux") ----------------------------

@pytest.fixture(scope="module")
def vmlinux(tmp_path_factory):
    return link_toy_vmlinux(tmp_path_factory.mktemp("genvmlinux") / "vmlinux",
                            [DATA / "vmlinux_a.c", DATA / "vmlinux_b.c",
                             DATA / "vmlinux_generations.c"])


def nm_lines(path):
    lines = subprocess.run(["nm", "-n", str(path)], capture_output=True, text=True, check=True,
                           env={"LC_ALL": "C"}).stdout.splitlines()
    return [line.split() for line in lines]


@pytest.mark.parametrize("generation", GENERATIONS, ids=lambda g: g.name)
def test_system_map_per_generation(vmlinux, generation):
    """Our System.map equals nm -n minus what that generation's mksysmap drops."""
    require_tool("nm")
    view = [e[2] for e in system_map_view(vmlinux, generation.kallsyms)]
    names = [n for _a, _l, n in nm_lines(vmlinux)]
    dropped = {
        "5.10": {"__crc_strong_entry"},
        "6.1": {"__crc_strong_entry", "__kstrtab_strong_entry"},
        "6.12": {"__crc_strong_entry", "__kstrtab_strong_entry"},
        "7.2": {"__crc_strong_entry", "__kstrtab_strong_entry", "__mod_device_table__pci__demo",
                "__UNIQUE_ID_modinfo_12"},
    }[generation.name]
    assert view == [n for n in names if n not in dropped]


@pytest.mark.parametrize("generation", GENERATIONS, ids=lambda g: g.name)
def test_kallsyms_table_per_generation(vmlinux, generation):
    names = {row[0] for row in read_vmlinux_elf(vmlinux, rules=generation.kallsyms).rows}
    listed = generation.name in ("6.12", "7.2")  # the tables' own labels, since 6.2
    assert ("kallsyms_num_syms" in names) == listed
    assert ("__kstrtab_strong_entry" in names) == (generation is LINUX_5_10)
    assert ("__mod_device_table__pci__demo" in names) == (generation is not LINUX_7_2)
    assert "__crc_strong_entry" not in names and "type_show" in names


def test_kallsyms_reads_nm_in_5_10_and_system_map_since(tmp_path):
    """5.10's link-vmlinux.sh pipes `nm -n` into scripts/kallsyms, so the compiler's local labels
    that mksysmap keeps out of System.map (' .L') are in its /proc/kallsyms; since 6.1 kallsyms
    reads mksysmap's output. (as -L keeps .L labels in the symbol table, as some of Debian 11's
    objects have them.)"""
    vmlinux = link_toy_vmlinux(tmp_path / "vmlinux", [DATA / "vmlinux_a.c", DATA / "vmlinux_b.c"],
                               flags=["-Wa,-L"])
    labels = {n for _a, _l, n in nm_lines(vmlinux) if n.startswith(".L")}
    assert labels
    for generation in GENERATIONS:
        listed = {row[0] for row in read_vmlinux_elf(vmlinux, rules=generation.kallsyms).rows}
        in_map = {e[2] for e in system_map_view(vmlinux, generation.kallsyms)}
        assert labels & listed == (labels if generation is LINUX_5_10 else set()), generation
        assert not labels & in_map, generation


def test_absolute_percpu_only_where_the_generation_has_it():
    """x86-64 per-cpu symbols (section linked at 0) show 'A' until KALLSYMS_ABSOLUTE_PERCPU
    went away; 7.2 keeps their letters."""
    system_map = [(0, "D", "__per_cpu_start"), (0x40, "d", "cpu_number"),
                  (0x80, "D", "__per_cpu_end"), (0xffffffff81000000, "T", "_stext")]
    from klp_convert.kernel.kallsyms import absolute_percpu
    for rules, letter in ((KALLSYMS_6_12, "A"), (KALLSYMS_7_2, "d")):
        table = kallsyms_table(system_map, rules,
                               absolute_percpu(system_map, rules, EM_X86_64))
        assert dict((n, l) for _a, l, n in table)["cpu_number"] == letter
    # not on another machine, nor when the per-cpu section is not at 0 (a UP build)
    assert not absolute_percpu(system_map, KALLSYMS_6_12, EM_PPC64)
    moved = [(a + 0x1000, l, n) for a, l, n in system_map]
    assert not absolute_percpu(moved, KALLSYMS_6_12, EM_X86_64)


def test_kallsyms_dump_of_a_newer_kernel_is_told_from_system_map(tmp_path):
    """Since 6.2 /proc/kallsyms lists the kallsyms tables too, so a dump without modules is
    told from System.map by its order at one address (kallsyms: fewer underscores first)."""
    from klp_convert.symdb.sources import read_vmlinux
    lines = ["ffffffff81000000 T startup_64", "ffffffff81000000 T _stext",
             "ffffffff81000000 T _text", "ffffffff82000000 R kallsyms_num_syms"]
    dump = tmp_path / "kallsyms"
    dump.write_text("\n".join(lines) + "\n")
    system_map = tmp_path / "System.map"
    system_map.write_text("\n".join(sorted(lines[:3], key=lambda l: l.split()[2]) + lines[3:])
                          + "\n")
    [from_dump] = read_vmlinux(dump, rules=LINUX_6_12.kallsyms)
    [from_map] = read_vmlinux(system_map, rules=LINUX_6_12.kallsyms)
    assert from_dump.path == str(dump) and from_map.path == str(system_map)
    # the dump is taken as it is; System.map is sorted as kallsyms sorts
    assert [r[0] for r in from_dump.rows][:3] == ["startup_64", "_stext", "_text"]
    assert [r[0] for r in from_map.rows][:3] == ["startup_64", "_stext", "_text"]
    from klp_convert.symdb.sources import _looks_like_kallsyms
    assert _looks_like_kallsyms(lines) and not _looks_like_kallsyms(
        system_map.read_text().splitlines())


def test_proc_kallsyms_names_the_running_kernel():
    """/proc/kallsyms is the running kernel's own table: its release is uname's (a copy of it
    names none)."""
    from klp_convert.symdb.sources import vmlinux_release
    assert vmlinux_release("/proc/kallsyms") == os.uname().release


def test_a_database_records_the_release_its_vmlinux_names(tmp_path, capsys):
    """A database of a vmlinux input alone records the release the input names (here the
    System.map's installed name), so check compares a module's vermagic with it; an input that
    names none gets the default rules and one warning line saying so."""
    from klp_convert.symdb import open_symbols
    system_map = tmp_path / "System.map-6.1.0-99-amd64"
    system_map.write_text("ffffffff81000000 T _stext\nffffffff81000010 t foo\n")
    db = tmp_path / "named.symdb"
    assert main(["symbols", "--vmlinux", str(system_map), "-o", str(db)]) == 0
    assert "warning" not in capsys.readouterr().err
    with open_symbols([db]) as index:
        assert index.kernel_release == "6.1.0-99-amd64"
    copy = tmp_path / "map.txt"
    copy.write_bytes(system_map.read_bytes())
    db = tmp_path / "unnamed.symdb"
    assert main(["symbols", "--vmlinux", str(copy), "-o", str(db)]) == 0
    assert f"klp-convert: warning: {copy}: kernel release unknown: Linux {DEFAULT.name} rules " \
           "assumed (--kernel-release names the release)" in capsys.readouterr().err.splitlines()
    with open_symbols([db]) as index:
        assert index.kernel_release is None


def test_convert_says_which_rules_it_assumed(tmp_path, capsys):
    from support.broken_modules import build_good
    module = build_good(tmp_path, "6.15.0-1-amd64")
    assert main(["convert", str(module), "-o", str(tmp_path / "out.ko")]) == 0
    err = capsys.readouterr().err
    assert f"klp-convert: {module}: note: Linux 6.15.0-1-amd64 (the module's vermagic) is not a " \
           "known generation (5.10, 6.1, 6.12, 7.2): the rules of the nearest, Linux 6.12, are " \
           "assumed" in err.splitlines()
