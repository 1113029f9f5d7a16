"""Conversion with a symbol database built by `klp-convert symbols` from a toy kernel compiled
here (examples/talk's vmlinux and foo, plus module 'twins' and an extra vmlinux file), for
x86-64 and big-endian s390x: rules a-d, module views, exports, refusals with candidates."""

import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from klp_convert.cli import main
from support.toolchains import TARGETS, compile_c, compile_livepatch, readelf_clean

TESTS = Path(__file__).parent
TOY = TESTS / "data" / "toykernel"
TALK = TESTS.parent / "examples" / "talk"
LD = {"x86_64": "ld", "s390x": "s390x-linux-gnu-ld"}


def build(target, directory):
    """Toy vmlinux (ET_EXEC), modules foo and twins (ld -r), and their symbol database."""
    def cc(source, name):
        return compile_c(target, source, directory / name,
                         flags=("-O2", "-fno-pic", "-fno-common"))
    ld = LD[target]
    vmlinux_objs = [cc(TALK / "vmlinux" / "socks.c", "socks.o"),
                    cc(TALK / "vmlinux" / "closet.c", "closet.o"),
                    cc(TOY / "vmlinux_extra.c", "extra.o")]
    subprocess.run([ld, "-e", "_start", "-o", str(directory / "vmlinux"),
                    *map(str, vmlinux_objs)], check=True)
    subprocess.run([ld, "-r", "-o", str(directory / "foo.ko"),
                    str(cc(TALK / "foo" / "foo.c", "foo.o"))], check=True)
    subprocess.run([ld, "-r", "-o", str(directory / "twins.ko"),
                    str(cc(TOY / "helper_init.c", "h1.o")),
                    str(cc(TOY / "helper_core.c", "h2.o"))], check=True)
    db = directory / "toy.symdb"
    assert main(["symbols", "--vmlinux", str(directory / "vmlinux"), "--modules",
                 str(directory / "foo.ko"), "--modules", str(directory / "twins.ko"),
                 "-o", str(db)]) == 0
    return db


@pytest.fixture(scope="module", params=["x86_64", "s390x"])
def toy(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"toy-{request.param}")
    return request.param, directory, build(request.param, directory)


def livepatch(toy, name, uses=(), annotations=""):
    target, directory, _db = toy
    source = directory / f"{name}.c"
    source.write_text("".join(f"#define USE_{u.upper()}\n" for u in uses)
                      + f'#include "{TOY / "patch.c"}"\n' + annotations)
    return compile_livepatch(target, source, directory / f"{name}.o")


def convert(toy, module, *options):
    _target, directory, db = toy
    out = directory / (module.stem + "-klp.ko")
    if out.exists():
        out.unlink()
    proc = subprocess.run([sys.executable, "-m", "klp_convert", "convert", "--symbols",
                           str(db), str(module), "-o", str(out), *options],
                          capture_output=True, text=True)
    assert "Traceback" not in proc.stderr
    return proc, out


def klp_symbols(path):
    with open(path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return sorted(s.name for s in symtab.iter_symbols() if s["st_shndx"] == 0xFF20)


def test_unique_names_and_exports(toy):
    proc, out = convert(toy, livepatch(toy, "basic"))
    assert proc.returncode == 0, proc.stderr
    readelf_clean(out)
    # num_socks is exported by vmlinux: left alone; foo's export is converted (no hard
    # dependency on foo); statics unique in one object get position 0
    assert klp_symbols(out) == [".klp.sym.foo.count_it,0", ".klp.sym.foo.countdown,0",
                                ".klp.sym.vmlinux.pretzel_logic,0"]
    with open(out, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        assert symtab.get_symbol_by_name("num_socks")[0]["st_shndx"] == "SHN_UNDEF"


def test_keep_module_exports(toy):
    proc, out = convert(toy, livepatch(toy, "keep"), "--keep-module-exports")
    assert proc.returncode == 0, proc.stderr
    assert ".klp.sym.foo.countdown,0" not in klp_symbols(out)


def test_ambiguous_name_lists_candidates_and_is_resolved(toy):
    module = livepatch(toy, "amb", ["hats"])
    proc, out = convert(toy, module)
    assert proc.returncode == 1 and not out.exists()
    lines = proc.stderr.splitlines()
    assert lines[0] == (f"klp-convert: error: {module}: symbol 'hats' is ambiguous in vmlinux "
                        f"(2 matches)")
    assert any("vmlinux #1:" in line and "socks.c" in line for line in lines)
    assert any("vmlinux #2:" in line and "closet.c" in line for line in lines)
    assert any('KLP_SYMBOL_FILE(hats, "closet.c")' in line for line in lines)
    assert any("--sympos vmlinux:hats=2" in line for line in lines)

    proc, out = convert(toy, module, "--sympos", "vmlinux:hats=2")
    assert proc.returncode == 0, proc.stderr
    assert ".klp.sym.vmlinux.hats,2" in klp_symbols(out)
    proc, out = convert(toy, module, "--symbol-file", "vmlinux:hats=closet.c")
    assert proc.returncode == 0, proc.stderr
    assert ".klp.sym.vmlinux.hats,2" in klp_symbols(out)


@pytest.mark.parametrize("annotation, expected", [
    ("KLP_MODULE_RELOC(vmlinux) r[] = { KLP_SYMPOS(hats, 1) };", ".klp.sym.vmlinux.hats,1"),
    ('KLP_SYMBOL_FILES(vmlinux) f[] = { KLP_SYMBOL_FILE(hats, "closet.c") };',
     ".klp.sym.vmlinux.hats,2"),
])
def test_annotations_pick(toy, annotation, expected):
    proc, out = convert(toy, livepatch(toy, "ann", ["hats"], annotation + "\n"))
    assert proc.returncode == 0, proc.stderr
    assert expected in klp_symbols(out)


def test_name_in_vmlinux_and_a_module(toy):
    module = livepatch(toy, "stat", ["stat"])
    proc, _ = convert(toy, module)
    assert proc.returncode == 1
    assert "symbol 'stat_count' is ambiguous in 2 objects (2 matches)" in proc.stderr
    proc, out = convert(toy, module, "--sympos", "twins:stat_count=0")
    assert proc.returncode == 0, proc.stderr
    assert ".klp.sym.twins.stat_count,0" in klp_symbols(out)


def test_module_views_must_agree(toy):
    """twins has an init-only 'helper' (file 1) and a core one (file 2): full view #1 and #2,
    core view #1 only."""
    module = livepatch(toy, "views", ["helper"])
    proc, _ = convert(toy, module, "--sympos", "twins:helper=2")
    assert proc.returncode == 1
    assert "position 2 of 'helper' in 'twins' means this symbol while the module loads" \
        in proc.stderr and "position 1 once it is live" in proc.stderr
    proc, _ = convert(toy, module, "--sympos", "twins:helper=1")
    assert proc.returncode == 1 and "is an init symbol" in proc.stderr
    proc, _ = convert(toy, module, "--sympos", "twins:helper=3")
    assert proc.returncode == 1 and "there is no position 3 for 'helper'" in proc.stderr


def test_unknown_symbol_is_refused(toy):
    proc, out = convert(toy, livepatch(toy, "missing", ["missing"]))
    assert proc.returncode == 1 and not out.exists()
    assert "Unknown symbol no_such_symbol" in proc.stderr
    # and what to do when the name is an out-of-tree module's, said once
    assert proc.stderr.splitlines()[-1] == (
        "  fix: a symbol of an out-of-tree module is found once that module is in the database "
        "(`klp-convert symbols --add DB MODULE.ko`, or its own database given with another "
        "--symbols)")


def test_dotted_label_settled_by_database(toy):
    """'.klp.sym.rela.vmlinux.vmlinux.name.12345' in the '.' spelling reads as 'name'
    position 12345 or as 'name.12345' with no position: only the second exists."""
    label = '\\".klp.sym.rela.vmlinux.vmlinux.name.12345\\"'
    annotation = (f'extern int d __asm__("{label}");\n'
                  "int use_d(void) { return d; }\n")
    proc, out = convert(toy, livepatch(toy, "dot", [], annotation))
    assert proc.returncode == 0, proc.stderr
    assert ".klp.sym.vmlinux.name.12345,0" in klp_symbols(out)


def test_old_symbols_list_form(toy):
    target, directory, db = toy
    listing = directory / "Symbols.list"
    assert main(["symbols", "--format", "symbols-list", "--vmlinux", str(directory / "vmlinux"),
                 "--modules", str(directory / "foo.ko"), "--modules",
                 str(directory / "twins.ko"), "-o", str(listing)]) == 0
    assert listing.read_text().startswith("klp-convert-symbol-data.0.1\n*vmlinux\n")
    module = livepatch(toy, "legacy")
    out = directory / "legacy-out.ko"
    proc = subprocess.run([sys.executable, "-m", "klp_convert", str(listing), str(module),
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert klp_symbols(out) == [".klp.sym.foo.count_it,0", ".klp.sym.foo.countdown,0",
                                ".klp.sym.vmlinux.pretzel_logic,0"]


def test_old_symbols_list_annotated_position_is_unverified(toy, capsys):
    _target, directory, _db = toy
    listing = directory / "Symbols.list"
    if not listing.exists():
        assert main(["symbols", "--format", "symbols-list", "--vmlinux",
                     str(directory / "vmlinux"), "--modules", str(directory / "foo.ko"),
                     "-o", str(listing)]) == 0
    module = livepatch(toy, "legacy-hats", ["hats"],
                       "KLP_MODULE_RELOC(vmlinux) r[] = { KLP_SYMPOS(hats, 2) };\n")
    out = directory / "legacy-hats-out.ko"
    capsys.readouterr()
    assert main(["convert", "-v", "--symbols", str(listing), str(module), "-o", str(out)]) == 0
    plan = [line for line in capsys.readouterr().out.splitlines() if "hats ->" in line]
    assert len(plan) == 1 and "hats -> vmlinux,2: KLP_SYMPOS" in plan[0]
    assert plan[0].endswith("[position unverified: names-only database]")
    assert ".klp.sym.vmlinux.hats,2" in klp_symbols(out)
    # a position the list cannot hold is still refused
    bad = livepatch(toy, "legacy-bad", ["hats"],
                    "KLP_MODULE_RELOC(vmlinux) r[] = { KLP_SYMPOS(hats, 3) };\n")
    assert main(["convert", "--symbols", str(listing), str(bad), "-o", str(out) + "2"]) == 1


def test_partly_converted_module_is_extended(toy):
    """First pass: annotations only (hats); second pass with the database: the rest, into the
    same klp sections, which are reused, not duplicated."""
    _target, directory, db = toy
    module = livepatch(toy, "partial", ["hats"],
                       "KLP_MODULE_RELOC(vmlinux) r[] = { KLP_SYMPOS(hats, 1) };\n")
    first = directory / "partial-1.ko"
    assert main([str(module), str(first)]) == 0
    assert klp_symbols(first) == [".klp.sym.vmlinux.hats,1"]
    second = directory / "partial-2.ko"
    assert main(["convert", "--symbols", str(db), str(first), "-o", str(second)]) == 0
    assert klp_symbols(second) == [".klp.sym.foo.count_it,0", ".klp.sym.foo.countdown,0",
                                   ".klp.sym.vmlinux.hats,1",
                                   ".klp.sym.vmlinux.pretzel_logic,0"]
    with open(second, "rb") as f:
        names = [s.name for s in ELFFile(f).iter_sections() if s.name.startswith(".klp.rela.")]
    assert sorted(names) == sorted(set(names)) and ".klp.rela.vmlinux..text.patched" in names
    third = directory / "partial-3.ko"
    assert main(["convert", "--symbols", str(db), str(second), "-o", str(third)]) == 0
    assert third.read_bytes() == second.read_bytes()


# Three functions, each in a section of its own: relocations that all go to vmlinux; one that
# goes to vmlinux beside one the module loader keeps (num_socks, exported by vmlinux); and
# relocations to two objects (vmlinux's pretzel_logic, foo's countdown).
SECTION_SHAPES = r"""
static const char modinfo_livepatch[] __attribute__((used, section(".modinfo"))) = "livepatch=Y";
extern int num_socks;
extern void pretzel_logic(void);
extern int countdown;
__attribute__((section(".text.to_vmlinux"))) void to_vmlinux(void) { pretzel_logic(); }
__attribute__((section(".text.with_kept"))) int with_kept(void)
{
	pretzel_logic();
	return num_socks;
}
__attribute__((section(".text.to_two"))) int to_two(void)
{
	pretzel_logic();
	return countdown;
}
"""


def test_relocation_sections_become_klp_sections_in_place(toy):
    """A .rela section all of whose entries move becomes a klp section where it lies (its
    first entry's object's; the other object's entries get a section of their own); one
    that keeps an entry for the loader stays beside a new klp section. Read back by
    pyelftools: names, flags, sh_info, entries, and the section count."""
    target, directory, _db = toy
    source = directory / "shapes.c"
    source.write_text(SECTION_SHAPES)
    module = compile_livepatch(target, source, directory / "shapes.o")
    with open(module, "rb") as f:
        before = {s.name: i for i, s in enumerate(ELFFile(f).iter_sections())}
    proc, out = convert(toy, module)
    assert proc.returncode == 0, proc.stderr
    readelf_clean(out)
    with open(out, "rb") as f:
        elf = ELFFile(f)
        sections = list(elf.iter_sections())
        after = {s.name: i for i, s in enumerate(sections)}
        symtab = elf.get_section_by_name(".symtab")

        def entries(name):
            sec = sections[after[name]]
            return sorted(symtab.get_symbol(r["r_info_sym"]).name
                          for r in sec.iter_relocations())

        def flags(name):
            return sections[after[name]]["sh_flags"]

        assert ".rela.text.to_vmlinux" not in after
        assert after[".klp.rela.vmlinux..text.to_vmlinux"] == before[".rela.text.to_vmlinux"]
        assert entries(".klp.rela.vmlinux..text.to_vmlinux") == [
            ".klp.sym.vmlinux.pretzel_logic,0"]
        assert entries(".rela.text.with_kept") == ["num_socks"]
        assert entries(".klp.rela.vmlinux..text.with_kept") == [
            ".klp.sym.vmlinux.pretzel_logic,0"]
        assert ".rela.text.to_two" not in after
        assert entries(".klp.rela.vmlinux..text.to_two") == [".klp.sym.vmlinux.pretzel_logic,0"]
        assert entries(".klp.rela.foo..text.to_two") == [".klp.sym.foo.countdown,0"]
        taken = {after[n] for n in after if n.startswith(".klp.rela.")} & set(before.values())
        assert len(taken) == 2  # to_vmlinux's, and one of to_two's (its first entry's object)
        for name in after:
            if name.startswith(".klp.rela."):
                sec = sections[after[name]]
                _objname, target_name = name[len(".klp.rela."):].split(".", 1)
                assert sec["sh_type"] == "SHT_RELA" and flags(name) == 0x100042, name
                assert sections[sec["sh_info"]].name == target_name, name
        # one section more than the input: with_kept's klp section; to_two's second object's
        assert len(sections) == len(before) + 2


def test_show_json(toy, capsys):
    import json

    proc, out = convert(toy, livepatch(toy, "json"))
    assert proc.returncode == 0, proc.stderr
    capsys.readouterr()
    assert main(["show", "--json", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_object = {s["object"]: s for s in doc["sections"]}
    assert set(by_object) == {"vmlinux", "foo"}
    foo = by_object["foo"]
    assert foo["name"] == ".klp.rela.foo..text.patched" and foo["target"] == ".text.patched"
    assert {r["symbol"] for r in foo["relocations"]} == {".klp.sym.foo.count_it,0",
                                                        ".klp.sym.foo.countdown,0"}
    assert foo["flags"] & 0x00100000


@pytest.mark.parametrize("options, message", [
    (["--sympos", "vm.linux:hats=1"], "object name 'vm.linux' contains '.'"),
    (["--sympos", "nosuchmod:hats=1"], "object 'nosuchmod' is not in the symbol database"),
    (["--symbol-file", "vmlinux:hats=nowhere.c"],
     "no 'hats' of 'vmlinux' in file 'nowhere.c'"),
    (["--sympos", "foo:hats=1"], "'hats' is not a symbol of 'foo'"),
])
def test_refused_choices(toy, options, message):
    proc, out = convert(toy, livepatch(toy, "choices", ["hats"]), *options)
    assert proc.returncode == 1 and not out.exists()
    assert message in proc.stderr


def test_symbol_name_too_long_for_the_kernel(toy):
    long_name = "x" * 600
    annotation = (f'extern int long_one __asm__("{long_name}");\n'
                  "int use_long(void) { return long_one; }\n")
    proc, out = convert(toy, livepatch(toy, "long", [], annotation))
    assert proc.returncode == 1 and not out.exists()
    assert "is longer than 511 characters" in proc.stderr


def test_candidates_that_no_position_can_name_are_marked(toy):
    proc, _ = convert(toy, livepatch(toy, "twins-amb", ["helper"]))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    init = lines.index(next(line for line in lines if "twins #1:" in line))
    core = lines.index(next(line for line in lines if "twins #2:" in line))
    assert lines[init].endswith("init only") and lines[core].endswith("core #1")
    assert "cannot be picked: an init symbol" in lines[init + 1]
    assert "cannot be picked: #2 while the module loads but #1 once it is live" \
        in lines[core + 1]
    assert "--sympos twins:helper" not in proc.stderr


# Modules a conversion must not import: other commands' code, the database build (worker pool,
# hashing), and standard modules that cost milliseconds at every start (issue 13): argparse
# (with gettext and locale; a plain command line is parsed by commands/convert.py), sqlite3's
# Python part (datetime; symdb/sqlite.py takes CPython's _sqlite3, cli.py _signal), importlib,
# contextlib, json (an object's name lists of plain names are read without it: storage.name_list),
# re (with enum: patterns.py compiles a regular expression only when a rare input needs one; a
# console script of pip >= 25.2 imports neither).
NOT_FOR_CONVERT = ["klp_convert.kbuild", "klp_convert.symdb.build", "klp_convert.commands.check",
                   "klp_convert.commands.kbuild", "klp_convert.commands.show",
                   "klp_convert.commands.symbols", "klp_convert.commands.try_",
                   "klp_convert.guest", "klp_convert.disassemble", "klp_convert.cli_parser",
                   "klp_convert.symdb.sources",
                   "dataclasses", "inspect", "subprocess", "multiprocessing", "tempfile",
                   "hashlib", "shutil", "pathlib", "typing", "urllib.parse", "ipaddress",
                   "difflib", "argparse", "gettext", "locale", "importlib", "contextlib", "json",
                   "re", "enum"]
if sys.implementation.name == "cpython":
    NOT_FOR_CONVERT += ["sqlite3", "datetime", "signal"]


def test_a_conversion_imports_only_its_own_code(toy):
    """A whole conversion with a database in a fresh interpreter, then what it imported."""
    _target, directory, db = toy
    module = livepatch(toy, "imports")
    script = ("import sys; from klp_convert.cli import main; "
              "status = main(sys.argv[1:]); print(' '.join(sorted(sys.modules))); "
              "sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", script, "convert", "--symbols", str(db),
                           str(module), "-o", str(directory / "imports-klp.ko")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    imported = set(proc.stdout.split())
    assert {"klp_convert.convert", "klp_convert.check", "klp_convert.symdb.index"} <= imported
    assert sorted(imported & set(NOT_FOR_CONVERT)) == []


def test_compressed_livepatch_modules_are_read_as_installed(toy):
    """An installed module is compressed (.ko.xz, .ko.gz): convert, check and show read it as
    the plain file, the output of convert is byte for byte the plain file's; an output named
    for compression is refused before anything is written (klp-convert writes plain ELF), and
    a damaged file is one error line naming it."""
    import gzip
    import lzma
    _target, directory, db = toy
    module = livepatch(toy, "packed")
    plain_proc, plain_out = convert(toy, module)
    assert plain_proc.returncode == 0, plain_proc.stderr
    packers = {".ko.xz": lambda data: lzma.compress(data, check=lzma.CHECK_CRC32),
               ".ko.gz": gzip.compress}
    for suffix, pack in packers.items():
        path = directory / f"packed-in{suffix}"
        path.write_bytes(pack(module.read_bytes()))
        proc, out = convert(toy, path)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes() == plain_out.read_bytes(), suffix
        installed = directory / f"packed-installed{suffix}"
        installed.write_bytes(pack(out.read_bytes()))
        for command in (["check", "--symbols", str(db)], ["show"]):
            shown = [subprocess.run([sys.executable, "-m", "klp_convert", *command, str(f)],
                                    capture_output=True, text=True) for f in (out, installed)]
            assert shown[0].returncode == shown[1].returncode == 0, shown[1].stderr
            assert shown[1].stdout == shown[0].stdout.replace(str(out), str(installed))
            assert shown[1].stdout and shown[1].stderr == shown[0].stderr

    target = directory / "packed-out.ko.xz"
    proc = subprocess.run([sys.executable, "-m", "klp_convert", "convert", "--symbols", str(db),
                           str(module), "-o", str(target)], capture_output=True, text=True)
    assert proc.returncode == 2 and not target.exists()
    assert proc.stderr == (f"klp-convert: error: {target}: klp-convert writes a plain ELF "
                           f"module: give -o NAME.ko (and compress it afterwards, as "
                           f"modules_install does)\n")

    damaged = directory / "damaged.ko.xz"
    whole = packers[".ko.xz"](module.read_bytes())
    damaged.write_bytes(whole[:len(whole) // 2])
    for command in (["convert", str(damaged), "-o", str(directory / "d.ko")],
                    ["check", str(damaged)], ["show", str(damaged)]):
        proc = subprocess.run([sys.executable, "-m", "klp_convert", *command],
                              capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == (f"klp-convert: error: {damaged}: cannot decompress: the file "
                               f"ends inside an xz stream\n")
    assert not (directory / "d.ko").exists()

    mislabeled = directory / "mislabeled.ko"  # compressed data under a plain module name
    mislabeled.write_bytes(whole)
    proc = subprocess.run([sys.executable, "-m", "klp_convert", "check", str(mislabeled)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr == (
        f"klp-convert: error: {mislabeled}: xz-compressed data under a plain name: decompress "
        f"it, or name it mislabeled.ko.xz\n")
