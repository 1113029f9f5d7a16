"""check with a symbol database: every '.klp.sym' resolved as klp_find_object_symbol() would,
module objects in both views, undefined symbols against the exports, vermagic against the
database's release. The database is built by `klp-convert symbols` from a System.map written
here and module foo compiled from tests/data/check/foo_*.c (init 'helper' first, core second)."""

import subprocess
from pathlib import Path

import pytest

from klp_convert.check import check_module, will_load
from klp_convert.cli import main
from klp_convert.elf import Symbol
from klp_convert.elf.constants import STB_GLOBAL, STB_WEAK
from support.broken_modules import (
    Variant, build_corpus, build_variant, klp_section, set_license, symbol,
)
from support.toolchains import compile_c

pytest.importorskip("klp_convert.symdb")

DATA = Path(__file__).parent / "data" / "check"
RELEASE = "6.1.0-99-amd64"
# address, type, name: vmlinux in address order; 'hats' and 'name.12345' twice
SYSTEM_MAP = """\
0000000000000000 D __per_cpu_start
0000000000000000 D fixed_percpu_data
0000000000001000 D cpu_number
0000000000002000 D __per_cpu_end
ffffffff81000000 T _stext
ffffffff81001000 T pretzel_logic
ffffffff81002000 t name.12345
ffffffff81003000 t name.12345
ffffffff81004000 T printk
ffffffff82000000 D jump_key
ffffffff82001000 d hats
ffffffff82002000 d hats
"""
SYMVERS = "0x00000001\tcountdown\tfoo\tEXPORT_SYMBOL_GPL\t{namespace}\n"


def build_foo(directory):
    objects = [compile_c("x86_64", DATA / f"foo_{part}.c", directory / f"foo_{part}.o",
                         flags=("-O2", "-fno-pic", "-mcmodel=kernel"))
               for part in ("init", "core")]
    foo = directory / "foo.ko"
    subprocess.run(["ld", "-r", "-o", str(foo), *map(str, objects)], check=True)
    return foo


def build_database(directory, name="kernel.symdb", namespace=""):
    system_map = directory / "System.map"
    system_map.write_text(SYSTEM_MAP)
    symvers = directory / f"Module.symvers{namespace}"
    symvers.write_text(SYMVERS.format(namespace=namespace))
    db = directory / name
    status = main(["symbols", "--vmlinux", str(system_map), "--modules",
                   str(build_foo(directory)), "--symvers", str(symvers),
                   "--kernel-release", RELEASE, "-o", str(db)])
    assert status == 0
    return db


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    directory = tmp_path_factory.mktemp("symbols")
    corpus = build_corpus(directory / "corpus", release=RELEASE)
    from klp_convert.symdb import open_symbols

    index = open_symbols([build_database(directory)])
    yield corpus, index, directory
    index.close()


def rename(old, new):
    def edit(obj):
        symbol(obj, old).name = new
    return edit


def retarget_foo_to(objname):
    """Name both the section and the symbol after an object the kernel does not have."""
    def edit(obj):
        klp_section(obj, ".klp.rela.foo.").name = f".klp.rela.{objname}..text.patched_foo"
        symbol(obj, ".klp.sym.foo.count_it,0").name = f".klp.sym.{objname}.count_it,0"
    return edit


def add_undefined(name, bind=STB_GLOBAL):
    def edit(obj):
        obj.add_symbol(Symbol(name, bind=bind))
    return edit


K = "livepatch: "
CASES = [
    ("vmlinux-ambiguous", rename(".klp.sym.vmlinux.hats,1", ".klp.sym.vmlinux.hats,0"),
     "error", f"{K}unresolvable ambiguity for symbol 'hats' in object '(null)'"),
    ("vmlinux-position-missing",
     rename(".klp.sym.vmlinux.name.12345,2", ".klp.sym.vmlinux.name.12345,3"),
     "error", f"{K}symbol position 3 for symbol 'name.12345' in object 'vmlinux' not found"),
    ("vmlinux-not-found", rename(".klp.sym.vmlinux.pretzel_logic,0",
                                 ".klp.sym.vmlinux.pretzel_logik,0"),
     "error", f"{K}symbol 'pretzel_logik' not found in symbol table"),
    ("module-ambiguous-while-loading",
     rename(".klp.sym.foo.count_it,0", ".klp.sym.foo.helper,0"),
     "error", f"{K}unresolvable ambiguity for symbol 'helper' in object 'foo'"),
    ("module-position-gone-once-live",
     rename(".klp.sym.foo.count_it,0", ".klp.sym.foo.helper,2"),
     "error", f"{K}symbol position 2 for symbol 'helper' in object 'foo' not found"),
    ("module-not-found", rename(".klp.sym.foo.count_it,0", ".klp.sym.foo.count_them,0"),
     "error", f"{K}symbol 'count_them' not found in symbol table"),
    ("module-views-differ", rename(".klp.sym.foo.count_it,0", ".klp.sym.foo.helper,1"),
     "warning", None),
    ("unknown-object", retarget_foo_to("bar"), "error", None),
    ("vmlinux-at-address-zero", rename(".klp.sym.vmlinux.jump_key,0",
                                       ".klp.sym.vmlinux.fixed_percpu_data,0"),
     "error", f"{K}symbol 'fixed_percpu_data' not found in symbol table"),
    ("vmlinux-percpu-elsewhere", rename(".klp.sym.vmlinux.jump_key,0",
                                        ".klp.sym.vmlinux.cpu_number,0"),
     None, None),
    ("not-exported", add_undefined("hats"),
     "error", "klp_check_demo: Unknown symbol hats (err -2)"),
    ("proprietary-uses-gpl-only", set_license("Proprietary"),
     "error", "klp_check_demo: Unknown symbol countdown (err -2)"),
    ("dual-license-uses-gpl-only", set_license("Dual MIT/GPL"), None, None),
    ("weak-not-exported", add_undefined("hats", STB_WEAK), None, None),
    ("got-ignored-on-x86", add_undefined("_GLOBAL_OFFSET_TABLE_"), None, None),
]


def test_good_module_resolves(kernel):
    corpus, index, _ = kernel
    findings = check_module(corpus["good"], index=index)
    assert [f.rule for f in findings] == ["module-reload"]


def test_json_says_resolution_was_checked(kernel, capsys):
    import json
    corpus, _index, directory = kernel
    status = main(["check", "--json", "--symbols", str(directory / "kernel.symdb"),
                   str(corpus["good"])])
    doc = json.loads(capsys.readouterr().out)
    assert status == 0 and doc["resolution_checked"] is True


@pytest.mark.parametrize("name, edit, severity, kernel_message", CASES,
                         ids=[c[0] for c in CASES])
def test_resolution_as_the_kernel_does_it(kernel, name, edit, severity, kernel_message):
    corpus, index, directory = kernel
    path = build_variant(corpus["good"], Variant(name, edit), directory)
    findings = [f for f in check_module(path, index=index) if f.rule != "module-reload"]
    if severity is None:
        assert findings == []
        return
    assert len(findings) == 1, findings
    assert findings[0].severity == severity
    assert findings[0].kernel_message == kernel_message
    assert will_load(findings) == (severity == "warning")


@pytest.mark.parametrize("name, edit", [c[:2] for c in CASES], ids=[c[0] for c in CASES])
def test_records_handed_over_change_nothing(kernel, name, edit):
    """convert hands the check the records its plan read (check_module(resolved=...)): the same
    findings whether they are right, missing, or belong to another name."""
    from klp_convert.elf import ElfObject
    from klp_convert.kernel.klp_sscanf import scan_klp_sym

    corpus, index, directory = kernel
    path = build_variant(corpus["good"], Variant(f"{name}-handed", edit), directory)
    names = [s.name for s in ElfObject.read(path).symbols if s.name.startswith(".klp.sym.")]
    right = {n: index.lookup_in(scan_klp_sym(n).objname, scan_klp_sym(n).symname)
             for n in names if scan_klp_sym(n).count == 3}
    other = {n: index.lookup_in("vmlinux", "printk") for n in names}
    expected = check_module(path, index=index)
    assert names and expected == check_module(path, index=index, resolved=right)
    assert expected == check_module(path, index=index, resolved=other)


def test_ambiguity_lists_the_candidates(kernel):
    corpus, index, directory = kernel
    path = build_variant(corpus["good"], Variant("cand", CASES[0][1]), directory)
    finding = next(f for f in check_module(path, index=index) if f.rule != "module-reload")
    assert finding.fix.startswith("pick the position: 1 at 0xffffffff82001000 (d")
    assert "; 2 at 0xffffffff82002000 (d" in finding.fix


def test_vermagic_must_match(tmp_path, kernel):
    _, index, _ = kernel
    corpus = build_corpus(tmp_path, release="6.1.0-98-amd64")
    findings = check_module(corpus["good"], index=index)
    assert [f.rule for f in findings if f.severity == "error"] == ["vermagic"]


def test_namespace_must_be_imported(tmp_path, kernel):
    corpus, _, _ = kernel
    from klp_convert.symdb import open_symbols

    with open_symbols([build_database(tmp_path, namespace="FOO_NS")]) as index:
        findings = check_module(corpus["good"], index=index)
    assert [f.kernel_message for f in findings if f.severity == "error"] == [
        "klp_check_demo: module uses symbol (countdown) from namespace FOO_NS, but does not "
        "import it."]


def test_command_line_with_symbols(kernel, capsys):
    corpus, _, directory = kernel
    path = build_variant(corpus["good"], Variant("cli", CASES[0][1]), directory)
    status = main(["check", "--symbols", str(directory / "kernel.symdb"), str(path)])
    out = capsys.readouterr().out
    assert status == 1
    assert f"  kernel: {CASES[0][3]}" in out.splitlines()


def test_old_symbols_list_cannot_verify_positions(kernel, tmp_path):
    corpus, _, directory = kernel
    listing = tmp_path / "Symbols.list"
    assert main(["symbols", "--vmlinux", str(directory / "System.map"), "--modules",
                 str(directory / "foo.ko"), "--symvers", str(directory / "Module.symvers"),
                 "--format", "symbols-list", "-o", str(listing)]) == 0
    from klp_convert.symdb import open_symbols

    with open_symbols([listing]) as index:
        findings = check_module(corpus["good"], index=index)
    # Symbols.list keeps every duplicate name (System.map has two 'hats'), but not their
    # order: no position of a duplicated name can be verified.
    assert sorted(f.message for f in findings if f.rule == "klp-symbol-resolution") == [
        f"'{name}',{pos} in vmlinux: the database has no kallsyms order for this object, the "
        "position cannot be verified" for name, pos in (("hats", 1), ("name.12345", 2))]
