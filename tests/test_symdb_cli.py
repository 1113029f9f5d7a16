"""`klp-convert symbols` on gcc-built module trees: compressed modules, bad modules skipped or
refused, --add and out-of-tree databases, --format symbols-list against kbuild's recipe,
--info, --lookup, and the defaults for a running system."""

import gzip
import lzma
import os
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from klp_convert import compression
from klp_convert.cli import main
from klp_convert.symdb import open_symbols
from klp_convert.symdb.inputs import SymdbError
from klp_convert.symdb.symtabs import extract_module, parts_read
from support.toolchains import compile_c, require_tool
from support.zstd import zstd_compress
from test_symdb_objects import link_module



@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """demo-mod.ko (two compilation units), one-mod.ko (one), a livepatch module."""
    tmp = tmp_path_factory.mktemp("mods")
    return {
        "demo": link_module(tmp, "demo-mod.ko", "alpha.c", "beta.c"),
        "one": link_module(tmp, "one-mod.ko", "vmlinux_b.c"),
        "patch": link_module(tmp, "patch.ko", "patch.c"),
    }


def make_tree(root, modules, compress=None):
    """A module tree like /lib/modules/R/kernel, modules compressed as distributions do."""
    layout = {"demo": "drivers/demo", "one": "fs/one", "patch": "extra"}
    for key, path in modules.items():
        target = root / layout[key] / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        if compress == "xz":
            target, data = target.with_name(target.name + ".xz"), lzma.compress(data)
        elif compress == "gz":
            target, data = target.with_name(target.name + ".gz"), gzip.compress(data)
        elif compress == "zst":
            target = target.with_name(target.name + ".zst")
            data = zstd_compress(data)
        target.write_bytes(data)
    return root


def run(*argv, capsys=None):
    status = main([str(a) for a in argv])
    out = capsys.readouterr() if capsys else None
    return status, out


def rows_of(db):
    """Every object's symbols, objects in the order they were stored, each row with its
    section and file names resolved (a module's rows index its stored section list)."""
    with open_symbols([db]) as index:
        source = index.inputs[0]
        rows = []
        for (objname,) in source.db.execute("SELECT name FROM objects ORDER BY id"):
            object_rows, sections, files = source.object_symbols(objname)
            rows += [(objname, name, flags, value, size,
                      None if section is None else sections[section],
                      None if file is None else files[file])
                     for name, flags, value, size, section, file in object_rows]
        return rows


@pytest.mark.parametrize("compress", ["xz", "gz", "zst"])
def test_compressed_modules_read_like_plain_ones(tmp_path, modules, compress, capsys):
    plain = make_tree(tmp_path / "plain", modules)
    packed = make_tree(tmp_path / "packed", modules, compress)
    assert run("symbols", "--modules", plain, "-o", tmp_path / "a.symdb")[0] == 0
    assert run("symbols", "--modules", packed, "-o", tmp_path / "b.symdb")[0] == 0
    assert rows_of(tmp_path / "a.symdb") == rows_of(tmp_path / "b.symdb")
    err = capsys.readouterr().err
    assert "2 objects" in err and "1 livepatch modules left out" in err


def xz_in_blocks(data, block_size):
    """``data`` as xz compresses it in blocks of ``block_size`` bytes (xz -T0 makes blocks of 3
    MiB: Debian's amdgpu.ko.xz is 10 of them), with the CRC32 check kmod's modules have."""
    require_tool("xz", "xz-utils")
    return subprocess.run(["xz", "--check=crc32", f"--block-size={block_size}", "-c"],
                          input=data, stdout=subprocess.PIPE, check=True).stdout


def read_outcome(path, parts):
    try:
        return compression.read_module_file(path, SymdbError, parts)
    except SymdbError as e:
        return str(e)


def stored_fields(module):
    return {field: getattr(module, field) for field in module.__slots__}


def test_an_xz_module_of_several_blocks_is_read_in_the_blocks_that_hold_its_tables(
        tmp_path, modules, capsys):
    """A build decompresses only the blocks of an .xz module that hold what it reads (ELF
    header, section headers, symbol, string and name tables, .modinfo), each whole so that its
    CRC32 vouches for it: the rest stays zeros, and the database is the whole file's."""
    data = modules["demo"].read_bytes()
    packed = xz_in_blocks(data, 64)
    assert len(compression._xz_blocks(packed)) >= len(data) // 64
    path = tmp_path / "demo-mod.ko.xz"
    path.write_bytes(packed)
    image = compression.read_module_file(path, SymdbError, parts_read)
    assert len(image) == len(data)
    skipped = [at for at in range(0, len(data), 64) if image[at:at + 64] != data[at:at + 64]]
    assert skipped and all(image[at:at + 64] == bytes(len(image[at:at + 64]))
                           for at in skipped)
    assert compression.read_module_file(path, SymdbError) == data  # without parts: whole
    # two streams one after the other, or bytes after the stream: read whole, as without parts
    for name, other in (("two", xz_in_blocks(b"\0" * 100, 64) + packed),
                        ("padded", packed + bytes(8)), ("trailer", packed + b"not xz")):
        (tmp_path / f"{name}.ko.xz").write_bytes(other)
        assert read_outcome(tmp_path / f"{name}.ko.xz", parts_read) == \
            read_outcome(tmp_path / f"{name}.ko.xz", None), name
    assert stored_fields(extract_module(path, 3)) == stored_fields(extract_module(path, 3, data))
    plain = make_tree(tmp_path / "plain", {"demo": modules["demo"]})
    packed_tree = tmp_path / "packed"
    (packed_tree / "drivers").mkdir(parents=True)
    (packed_tree / "drivers" / "demo-mod.ko.xz").write_bytes(packed)
    assert run("symbols", "--modules", plain, "-o", tmp_path / "a.symdb")[0] == 0
    assert run("symbols", "--modules", packed_tree, "-o", tmp_path / "b.symdb")[0] == 0
    assert rows_of(tmp_path / "a.symdb") == rows_of(tmp_path / "b.symdb")


@pytest.mark.parametrize("target", ["s390x", "i686", "ppc64le"])
def test_the_xz_blocks_a_build_reads_are_found_in_any_elf_layout(tmp_path, target):
    """Big-endian ELF64 and ELF32 objects in xz blocks read in part give what they give whole."""
    data = compile_c(target, Path(__file__).parent / "data" / "symdb" / "alpha.c",
                     tmp_path / "alpha.o").read_bytes()
    path = tmp_path / "alpha.ko.xz"
    path.write_bytes(xz_in_blocks(data, 64))
    assert compression.read_module_file(path, SymdbError, parts_read) != data
    assert stored_fields(extract_module(path, 3)) == stored_fields(extract_module(path, 3, data))


def with_index_claiming(packed, claimed):
    """One stream ``packed`` with its index (and footer) made anew to say that its last block
    holds ``claimed`` bytes (The .xz File Format 1.2.1, 4 and 2.1.2), every CRC32 right."""
    blocks, varint = compression._xz_blocks(packed), compression._varint_bytes
    sizes = [plain_end - plain_start for _start, _end, plain_start, plain_end in blocks]
    sizes[-1] = claimed
    records = b"".join(varint(end - start) + varint(size)
                       for (start, end, _plain_start, _plain_end), size in zip(blocks, sizes))
    index = b"\0" + varint(len(blocks)) + records
    index += bytes(-len(index) % 4)
    index += zlib.crc32(index).to_bytes(4, "little")
    flags = packed[6:8]
    backward = (len(index) // 4 - 1).to_bytes(4, "little")
    footer = zlib.crc32(backward + flags).to_bytes(4, "little") + backward + flags + b"YZ"
    start = len(packed) - 12 - (int.from_bytes(packed[-8:-4], "little") + 1) * 4
    return packed[:start] + index + footer


def test_an_xz_index_claiming_more_than_its_blocks_hold_is_read_whole(tmp_path, modules):
    """An index that lies about a block's size takes no memory for the lie: a file of a few
    KB claiming 900 MB is read whole (the whole read refuses it), not given a 900 MB image;
    one claiming a few bytes too many is caught when the block is decompressed."""
    packed = xz_in_blocks(modules["demo"].read_bytes(), 64)
    for claimed in (900 << 20, 65):
        path = tmp_path / f"claims{claimed}.ko.xz"
        path.write_bytes(with_index_claiming(packed, claimed))
        assert compression._xz_blocks(path.read_bytes())[-1][3] > len(modules["demo"].read_bytes())
        assert read_outcome(path, parts_read) == read_outcome(path, None)
        assert "cannot decompress" in read_outcome(path, None)
    peak = subprocess.run(
        [sys.executable, "-c", "import resource, sys; from klp_convert import compression; "
         "from klp_convert.symdb.symtabs import parts_read; "
         "compression._xz_parts(open(sys.argv[1], 'rb').read(), parts_read); "
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
         tmp_path / f"claims{900 << 20}.ko.xz"], capture_output=True, text=True, check=True)
    assert int(peak.stdout) < 200 << 10  # KB: far below the 900 MB claimed


def test_a_damaged_xz_block_fails_the_build_of_that_module_only_where_the_build_reads_it(
        tmp_path, modules):
    """A byte changed in a block the build reads, in its compressed data or in its CRC32 (the
    data then decompresses as before: only the check tells): the module is unreadable as when
    it is read whole (never other symbols); in a block it does not read: the same symbols. The
    blocks refused are the same either way. A damaged index: the file is read whole, and that
    read fails."""
    data = modules["demo"].read_bytes()
    packed = xz_in_blocks(data, 64)
    intact = stored_fields(extract_module(tmp_path / "x.ko.xz", 3, data))
    refused = {}
    for kind in ("data", "check"):
        refused[kind] = set()
        for number, (start, end, _plain_start, _plain_end) in \
                enumerate(compression._xz_blocks(packed)):
            damaged = bytearray(packed)
            # the middle of the compressed data, or the CRC32 that ends the Unpadded Size
            damaged[(start + end) // 2 + 4 if kind == "data" else end - 1] ^= 0x55
            path = tmp_path / f"{kind}{number}.ko.xz"
            path.write_bytes(damaged)
            try:
                module = extract_module(path, 3)
            except SymdbError as e:
                assert "cannot decompress" in str(e), e
                refused[kind].add(number)
            else:
                assert {**stored_fields(module), "path": str(tmp_path / "x.ko.xz")} == intact
        assert 0 < len(refused[kind]) < len(compression._xz_blocks(packed)), kind
    assert refused["data"] == refused["check"]
    damaged = bytearray(packed)
    damaged[-20] ^= 0x55  # the index
    (tmp_path / "index.ko.xz").write_bytes(damaged)
    with pytest.raises(SymdbError, match="cannot decompress"):
        extract_module(tmp_path / "index.ko.xz", 3)


# Two names of one crc32 (the name index's hash): found by a birthday search, checked below.
CRC_TWINS = ("f_wlkffsvo", "f_okxxbftd")


def test_names_of_one_hash_are_two_names_and_duplicates_are_counted(tmp_path, capsys):
    """A module's symbols are counted, indexed and told duplicated by their names: two names
    of one crc32 are two symbols found apart, a static name in two compilation units is one
    name duplicated, and a symbol whose name is empty (a hand-made table) is none."""
    assert len({zlib.crc32(name.encode()) for name in CRC_TWINS}) == 1
    for source, value, twin in (("a.c", 1, CRC_TWINS[0]), ("b.c", 2, CRC_TWINS[1])):
        (tmp_path / source).write_text(
            f"static __attribute__((noinline)) int same(void) {{ return {value}; }}\n"
            f"int {twin}(void) {{ return same(); }}\n")
    module = link_module(tmp_path, "twins.ko", tmp_path / "a.c", tmp_path / "b.c")
    with open(module, "rb") as f:  # pyelftools' count: defined symbols with a name
        named = [sym.name for sym in ELFFile(f).get_section_by_name(".symtab").iter_symbols()
                 if sym.name and sym["st_shndx"] != "SHN_UNDEF"]
    stored = extract_module(module, 3)
    assert (stored.symbols, stored.duplicated) == (len(named), 1) and named.count("same") == 2
    db = tmp_path / "twins.symdb"
    assert run("symbols", "--modules", module, "-o", db)[0] == 0
    with open_symbols([db]) as index:
        assert [(r.objname, r.name, r.count) for r in index.lookup(CRC_TWINS[0])] == \
            [("twins", CRC_TWINS[0], 1)]
        assert [r.name for r in index.lookup(CRC_TWINS[1])] == [CRC_TWINS[1]]
        assert [r.position for r in index.lookup("same")] == [1, 2]
    capsys.readouterr()
    assert run("symbols", "--info", db)[0] == 0
    assert "names duplicated within an object: 1\n" in capsys.readouterr().out
    # the second twin's st_name pointed at the NUL that ends the first twin's name: empty
    data = bytearray(module.read_bytes())
    with open(module, "rb") as f:
        elf = ELFFile(f)
        symtab, strtab = elf.get_section_by_name(".symtab"), elf.get_section_by_name(".strtab")
        entry = next(i for i, sym in enumerate(symtab.iter_symbols())
                     if sym.name == CRC_TWINS[1])
        first = next(sym["st_name"] for sym in symtab.iter_symbols() if sym.name == CRC_TWINS[0])
        at = symtab["sh_offset"] + entry * symtab["sh_entsize"]
        assert strtab.get_string(first + len(CRC_TWINS[0])) == ""
    data[at:at + 4] = (first + len(CRC_TWINS[0])).to_bytes(4, "little")
    blank = tmp_path / "blank.ko"
    blank.write_bytes(data)
    stored = extract_module(blank, 3)
    assert (stored.symbols, stored.duplicated) == (len(named) - 1, 1)


def test_modules_may_be_trees_and_files_mixed(tmp_path, modules, capsys):
    tree = make_tree(tmp_path / "t", {"demo": modules["demo"]})
    db = tmp_path / "k.symdb"
    assert run("symbols", "--modules", tree, "--modules", modules["one"], "-o", db)[0] == 0
    with open_symbols([db]) as index:
        assert index.objects() == ["demo_mod", "one_mod"]


def test_bad_module_is_skipped_with_a_warning(tmp_path, modules, capsys):
    tree = make_tree(tmp_path / "t", modules)
    bad = tree / "drivers" / "demo" / "broken.ko"
    bad.write_bytes(modules["demo"].read_bytes()[:200])
    (tree / "fs" / "one" / "bad.ko.xz").write_bytes(b"not xz at all")
    db = tmp_path / "k.symdb"
    status, out = run("symbols", "--modules", tree, "-o", db, capsys=capsys)
    assert status == 0
    assert f"warning: {bad}: skipped:" in out.err
    assert "bad.ko.xz: skipped: cannot decompress" in out.err
    assert "2 unreadable module files skipped" in out.err
    with open_symbols([db]) as index:
        assert index.objects() == ["demo_mod", "one_mod"]
    strict = tmp_path / "strict.symdb"
    status, out = run("symbols", "--strict", "--modules", tree, "-o", strict, capsys=capsys)
    assert status == 2 and not strict.exists()
    assert out.err.count("error:") == 1 and "Traceback" not in out.err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".strict")]


def test_empty_result_is_an_error(tmp_path, modules, capsys):
    tree = make_tree(tmp_path / "t", {"patch": modules["patch"]})
    db = tmp_path / "k.symdb"
    status, out = run("symbols", "--modules", tree, "-o", db, capsys=capsys)
    assert status == 2 and "no symbols found" in out.err and not db.exists()


def test_unreadable_input_is_one_line_error(tmp_path, capsys):
    status, out = run("symbols", "--vmlinux", tmp_path / "missing", "-o", tmp_path / "x",
                      capsys=capsys)
    assert status == 2
    assert out.err.strip().splitlines() == [
        f"klp-convert: error: {tmp_path / 'missing'}: cannot read: No such file or directory"]
    assert not (tmp_path / "x").exists()


def test_add_out_of_tree_module(tmp_path, modules, capsys):
    db = tmp_path / "k.symdb"
    assert run("symbols", "--modules", modules["demo"], "-o", db)[0] == 0
    before = rows_of(db)
    assert run("symbols", "--add", db, modules["one"])[0] == 0
    after = rows_of(db)
    assert after[:len(before)] == before and len(after) > len(before)
    with open_symbols([db]) as index:
        assert index.objects() == ["demo_mod", "one_mod"]
        [record] = index.lookup_in("one_mod", "other_entry")
        assert record.position == 1
    status, out = run("symbols", "--add", db, modules["one"], capsys=capsys)
    assert status == 2
    assert f"object 'one_mod' is already in {db} (from {modules['one']})" in out.err
    assert rows_of(db) == after


def test_separate_out_of_tree_database_combines(tmp_path, modules, capsys):
    kernel, extra = tmp_path / "kernel.symdb", tmp_path / "extra.symdb"
    assert run("symbols", "--modules", modules["demo"], "-o", kernel)[0] == 0
    assert run("symbols", "--modules", modules["one"], "-o", extra)[0] == 0
    with open_symbols([kernel, extra]) as index:
        assert index.objects() == ["demo_mod", "one_mod"]
        assert [r.objname for r in index.lookup("type_show")] == ["one_mod"]
    status, out = run("symbols", "--lookup", "helper", kernel, extra, capsys=capsys)
    assert status == 0
    lines = out.out.splitlines()
    assert len(lines) == 3 and lines[1].split()[:3] == ["demo_mod", "1/2", "1/2"]
    assert "alpha.c" in lines[1] and "beta.c" in lines[2]


def test_lookup_missing_name(tmp_path, modules, capsys):
    db = tmp_path / "k.symdb"
    run("symbols", "--modules", modules["demo"], "-o", db)
    status, out = run("symbols", "--lookup", "no_such_symbol", db, capsys=capsys)
    assert status == 1 and "no_such_symbol: not found" in out.err
    # an empty name is a usage error, not a build with stray arguments
    status, out = run("symbols", "--lookup", "", db, capsys=capsys)
    assert status == 2 and out.err == ("klp-convert: error: --lookup needs a symbol name (it "
                                       "was given an empty one)\n")


def test_info_summarises(tmp_path, modules, capsys):
    db = tmp_path / "k.symdb"
    run("symbols", "--modules", make_tree(tmp_path / "t", modules), "-o", db,
        "--kernel-release", "9.9.9-test")
    capsys.readouterr()
    status, out = run("symbols", "--info", db, capsys=capsys)
    assert status == 0
    assert "kernel_release: 9.9.9-test" in out.out and "arch: x86_64" in out.out
    assert "module: 2 objects" in out.out
    assert f"modules: {tmp_path / 't'} (2 files," in out.out


def nm_names(path):
    """What kbuild's recipe took from each object: `nm -f posix X | cut -d' ' -f1`."""
    out = subprocess.run(["nm", "-f", "posix", str(path)], capture_output=True, text=True,
                         check=True, env={**os.environ, "LC_ALL": "C"}).stdout
    return [line.split(" ")[0] for line in out.splitlines()]


def test_symbols_list_format_equals_kbuild_recipe(tmp_path, modules, capsys):
    """The recipe: header, '*vmlinux' and nm's names, then each non-livepatch module sorted by
    path, '*<basename>' and nm's names. Run here with nm on the same inputs."""
    require_tool("nm")
    tree = make_tree(tmp_path / "t", modules)
    vmlinux = tmp_path / "vmlinux"
    subprocess.run(["gcc", "-O2", "-nostdlib", "-static", "-no-pie", "-o", str(vmlinux),
                    str(Path(__file__).parent / "data" / "symdb" / "vmlinux_a.c"),
                    str(Path(__file__).parent / "data" / "symdb" / "vmlinux_b.c")], check=True)
    out = tmp_path / "Symbols.list"
    assert run("symbols", "--format", "symbols-list", "--vmlinux", vmlinux, "--modules", tree,
               "-o", out)[0] == 0
    expected = ["klp-convert-symbol-data.0.1", "*vmlinux", *nm_names(vmlinux)]
    for module in sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.ko")):
        if module.startswith("extra/"):  # the livepatch module
            continue
        expected += ["*" + Path(module).name[:-3], *nm_names(tree / module)]
    assert out.read_text().splitlines() == expected
    with open_symbols([out]) as index:  # and it reads back
        assert index.objects() == ["vmlinux", "demo_mod", "one_mod"]


def system_root(root, modules, release, system_map=None, kallsyms=None):
    """A directory laid out like a system: boot/System.map-R, proc/kallsyms, lib/modules/R."""
    root.mkdir()
    if modules is not None:
        make_tree(root / "lib" / "modules" / release, modules)
    if system_map is not None:
        (root / "boot").mkdir()
        (root / "boot" / f"System.map-{release}").write_text(system_map)
    if kallsyms is not None:
        (root / "proc").mkdir()
        (root / "proc" / "kallsyms").write_text(kallsyms)
    return root


def use_system(monkeypatch, root):
    """Point the running system's defaults (kernel/installed.py) at ``root``."""
    where = "klp_convert.commands.symbols."
    monkeypatch.setattr(where + "unstripped_vmlinux", lambda release: ())
    monkeypatch.setattr(where + "system_maps",
                        lambda release: (f"{root}/boot/System.map-{release}",))
    monkeypatch.setattr(where + "KALLSYMS", f"{root}/proc/kallsyms")
    monkeypatch.setattr(where + "module_dir", lambda release: (
        f"{root}/lib/modules/{release}" if os.path.isdir(f"{root}/lib/modules/{release}")
        else None))


def test_defaults_use_the_running_system(tmp_path, modules, capsys, monkeypatch):
    """No inputs: /proc/kallsyms (or a System.map) and /lib/modules/R of the running kernel,
    and the command says what it read (issue 11, class 11)."""
    if not os.access("/proc/kallsyms", os.R_OK):
        pytest.skip("/proc/kallsyms is not readable here")
    release = os.uname().release
    root = system_root(tmp_path / "root", modules, release,
                       kallsyms=Path("/proc/kallsyms").read_text())
    use_system(monkeypatch, root)
    db = tmp_path / "running.symdb"
    status, out = run("symbols", "-o", db, capsys=capsys)
    if status == 2 and "every address is 0" in out.err:
        pytest.skip("/proc/kallsyms hides its addresses here (not root)")
    assert status == 0, out.err
    assert f"no inputs given: reading {root}/proc/kallsyms and the modules under " \
           f"{root}/lib/modules/{release} (kernel {release})" in out.err
    with open_symbols([db]) as index:
        assert index.kernel_release == release
        assert index.lookup_in("vmlinux", "_stext") and index.has_object("demo_mod")


def test_defaults_refuse_what_cannot_describe_the_kernel(tmp_path, modules, capsys,
                                                          monkeypatch):
    release = os.uname().release
    system_map = "".join(f"ffffffff81{i:06x} T name_{i}\n" for i in range(300))
    kallsyms = "".join(f"0000000000000000 T name_{i}\n" for i in range(10))
    cases = [  # (root, --kernel-release, what the error says)
        (system_root(tmp_path / "a", modules, "9.9.9-other"), "9.9.9-other",
         "kernel 9.9.9-other is not the running kernel"),
        (system_root(tmp_path / "b", None, release, system_map=system_map), None,
         "are not installed here"),
        (system_root(tmp_path / "c", modules, release, kallsyms=kallsyms), None,
         "every address is 0"),
    ]
    for root, option, message in cases:
        use_system(monkeypatch, root)
        argv = ["symbols", "-o", tmp_path / "x.symdb"] + \
            (["--kernel-release", option] if option else [])
        status, out = run(*argv, capsys=capsys)
        assert status == 2 and message in out.err.splitlines()[-1], out.err
        assert not (tmp_path / "x.symdb").exists()
    # A System.map of that other kernel makes it fine.
    root = system_root(tmp_path / "d", modules, "9.9.9-other", system_map=system_map)
    use_system(monkeypatch, root)
    status, out = run("symbols", "--kernel-release", "9.9.9-other", "-o", tmp_path / "y.symdb",
                      capsys=capsys)
    assert status == 0, out.err


def test_progress_bar_only_on_a_terminal(tmp_path, modules, capsys, monkeypatch):
    tree = make_tree(tmp_path / "t", modules)
    run("symbols", "--modules", tree, "-o", tmp_path / "quiet.symdb")
    assert "\r" not in capsys.readouterr().err  # not a terminal: no bar
    monkeypatch.setattr("klp_convert.commands.symbols.PROGRESS_MIN_FILES", 1)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    run("symbols", "--modules", tree, "-o", tmp_path / "bar.symdb")
    err = capsys.readouterr().err
    assert "\r[" in err and "3/3 modules" in err and err.split("\r")[-1].count("\n") >= 1


@pytest.mark.parametrize("content", [
    b"SQLite format 3\0" + b"\xff" * 4000,  # the magic, then garbage
    None,  # a valid SQLite database that is not ours
])
def test_bad_database_is_one_line_error(tmp_path, content, capsys):
    path = tmp_path / "bad.symdb"
    if content is None:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()
    else:
        path.write_bytes(content)
    for argv in (["--info", path], ["--lookup", "x", path], ["--add", path, path]):
        status, out = run("symbols", *argv, capsys=capsys)
        assert status == 2, argv
        lines = out.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"klp-convert: error: {path}: "), argv


def test_module_symvers_wins_over_ksymtab(tmp_path, modules, capsys):
    symvers = tmp_path / "Module.symvers"
    symvers.write_text("0x12345678\talpha_entry\tdrivers/demo/demo-mod\tEXPORT_SYMBOL_GPL\t"
                       "DEMO_NS\n0x9abcdef0\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n")
    db = tmp_path / "k.symdb"
    assert run("symbols", "--modules", modules["demo"], "--symvers", symvers, "-o", db)[0] == 0
    with open_symbols([db]) as index:
        [export] = index.exporters("alpha_entry")
        assert tuple(export) == ("demo_mod", "EXPORT_SYMBOL_GPL", "DEMO_NS")
        [record] = index.lookup("alpha_entry")
        assert record.exported and record.namespace == "DEMO_NS"
        assert [tuple(e) for e in index.exporters("printk")] == [("vmlinux", "EXPORT_SYMBOL",
                                                                  None)]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM exports").fetchone()[0] == 2
    conn.close()
    symvers.write_text("0x1\tgood\tvmlinux\tEXPORT_SYMBOL\t\nbroken line\n")
    status, out = run("symbols", "--modules", modules["demo"], "--symvers", symvers, "-o",
                      tmp_path / "x.symdb", capsys=capsys)
    assert status == 2 and f"{symvers}: line 2: expected" in out.err


def test_build_is_deterministic_and_parallel_equals_serial(tmp_path, modules, monkeypatch):
    """The same inputs give the same bytes; reading modules in worker processes (chunks of one
    module, so several scratch databases are merged) gives the same content as reading them
    here."""
    tree = make_tree(tmp_path / "t", modules)
    serial, again, parallel = (tmp_path / n for n in ("s.symdb", "a.symdb", "p.symdb"))
    assert run("symbols", "--modules", tree, "-o", serial)[0] == 0
    assert run("symbols", "--modules", tree, "-o", again)[0] == 0
    assert serial.read_bytes() == again.read_bytes()
    monkeypatch.setattr("klp_convert.symdb.build.PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr("klp_convert.symdb.build.CHUNK", 1)
    monkeypatch.setattr("klp_convert.symdb.build._worker_count", lambda: 2)
    # A caller's with threads, and the command's where this process may fork (a test
    # runner's worker has threads of its own: its builds use the fork server; the command's
    # forked workers are in every real-kernel build and bench/symdb_build.py).
    from klp_convert.symdb.build import _start_method
    methods = ["forkserver"] + (["fork"] if _start_method() == "fork" else [])
    for method in methods:
        monkeypatch.setattr("klp_convert.symdb.build._start_method", lambda: method)
        parallel.unlink(missing_ok=True)
        assert run("symbols", "--modules", tree, "-o", parallel)[0] == 0
        assert dump(serial) == dump(parallel)  # bytes differ only in SQLite's change counter


def test_workers_are_forked_only_from_a_process_of_one_thread():
    """A fork copies no thread: where another runs (a library caller's, a test runner's), the
    build's workers start from a fork server instead (Python 3.12+ warns of such forks)."""
    script = ("import threading, time\n"
              "from klp_convert.symdb.build import _start_method\n"
              "print(_start_method())\n"
              "threading.Thread(target=time.sleep, args=(2,), daemon=True).start()\n"
              "print(_start_method())\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stdout.split() == ["fork", "forkserver"], proc.stderr


def dump(db):
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def module_built_for(directory, name, release):
    """A module object whose .modinfo says it was built for kernel ``release``."""
    source = directory / f"{name}.c"
    source.write_text('static const char modinfo[] __attribute__((section(".modinfo"), used)) '
                      f'= "name={name}\\0vermagic={release} SMP mod_unload \\0";\n'
                      f"int {name}_value = 1;\n")
    out = directory / f"{name}.ko"
    subprocess.run(["gcc", "-c", "-o", str(out), str(source)], check=True)
    return out


def test_modules_of_another_kernel_are_named(tmp_path, capsys):
    """A module whose vermagic names another kernel than the database's would not load into
    that kernel, and its symbols are not that kernel's: a build, --add and a Symbols.list
    name it (one line each up to three, then one line for all)."""
    require_tool("gcc", "gcc")
    tree = tmp_path / "tree"
    tree.mkdir()
    module_built_for(tree, "one", "6.1.0-56-amd64")  # the first: the database's release
    two = module_built_for(tree, "two", "6.12.9-amd64")
    db = tmp_path / "k.symdb"
    assert main(["symbols", "--modules", str(tree), "-o", str(db)]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        f"klp-convert: warning: {two}: built for 6.12.9-amd64, the database is for "
        "6.1.0-56-amd64: its symbols are not that kernel's")
    three = module_built_for(tmp_path, "three", "6.1.0-57-amd64")
    assert main(["symbols", "--add", str(db), str(three)]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        f"klp-convert: warning: {three}: built for 6.1.0-57-amd64, the database is for "
        "6.1.0-56-amd64: its symbols are not that kernel's")
    for i in range(3):
        module_built_for(tree, f"x{i}", "7.0.0")
    assert main(["symbols", "--format", "symbols-list", "--modules", str(tree), "-o",
                 str(tmp_path / "Symbols.list")]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        "klp-convert: warning: 4 modules are built for another kernel than 6.1.0-56-amd64, "
        f"which the Symbols.list is for (the first: {two}, built for 6.12.9-amd64): their "
        "symbols are not that kernel's")
    alike = tmp_path / "alike"
    alike.mkdir()
    module_built_for(alike, "four", "6.1.0-56-amd64")
    module_built_for(alike, "five", "6.1.0-56-amd64")
    assert main(["symbols", "--modules", str(alike), "-o", str(tmp_path / "a.symdb")]) == 0
    assert "warning" not in capsys.readouterr().err
