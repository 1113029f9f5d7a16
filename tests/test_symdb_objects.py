"""The symbol database on small gcc-built objects: module views, source files, exports,
livepatch modules left out, a tiny linked "vmlinux" checked against nm, and the query API."""

import shutil
import subprocess
from pathlib import Path

import pytest

from klp_convert.elf.reader import scan_symbols
from klp_convert.errors import KlpError
from klp_convert.symdb import Export, Sources, build_database, open_symbols
from klp_convert.symdb.sources import read_module, read_vmlinux_elf, system_map_view
from support.toolchains import (
    KERNEL_LIKE_FLAGS, TARGETS, compile_c, link_toy_vmlinux, require_tool,
)

DATA = Path(__file__).parent / "data" / "symdb"


def compile_objects(tmp, *sources):
    require_tool("gcc")
    objects = []
    for source in sources:
        obj = tmp / (Path(source).stem + ".o")
        subprocess.run(["gcc", "-c", "-O2", "-fno-asynchronous-unwind-tables", "-o", str(obj),
                        str(DATA / source)], check=True, capture_output=True, text=True)
        objects.append(obj)
    return objects


def link_module(tmp, name, *sources):
    """A relocatable .ko from C files, linked as kbuild does (ld -r)."""
    out = tmp / name
    subprocess.run(["ld", "-r", "-o", str(out), *map(str, compile_objects(tmp, *sources))],
                   check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A module tree: demo-mod.ko (alpha.c + beta.c) and a livepatch module, in subdirectories."""
    tmp = tmp_path_factory.mktemp("symdb")
    root = tmp / "tree"
    (root / "drivers" / "demo").mkdir(parents=True)
    (root / "live").mkdir()
    link_module(tmp, "demo-mod.ko", "alpha.c", "beta.c").rename(
        root / "drivers" / "demo" / "demo-mod.ko")
    link_module(tmp, "patch.ko", "patch.c").rename(root / "live" / "patch.ko")
    return root


@pytest.fixture(scope="module")
def vmlinux(tmp_path_factory):
    return link_toy_vmlinux(tmp_path_factory.mktemp("vmlinux") / "vmlinux",
                            [DATA / "vmlinux_a.c", DATA / "vmlinux_b.c"])


def readelf_symbols(path):
    """(name, ndx) per .symtab entry except section symbols (readelf shows them with their
    section's name), from readelf: an independent view of the table order."""
    out = subprocess.run(["readelf", "-sW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0].endswith(":") and fields[0][:-1].isdigit() \
                and fields[3] != "SECTION":
            rows.append((fields[7] if len(fields) > 7 else "", fields[6]))
    return rows


def test_module_rows_follow_symtab_order(tree):
    path = tree / "drivers" / "demo" / "demo-mod.ko"
    obj = read_module(path)
    assert obj.name == "demo_mod"  # from .modinfo name=
    expected = [name for name, ndx in readelf_symbols(path) if ndx != "UND" and name]
    assert [r[0] for r in obj.rows] == expected


def test_a_bucket_lists_only_the_entries_of_the_hash_asked_for():
    """A name index bucket (its entries' hashes, then their object ids and indices) is
    searched with bytes.find: the hash's bytes across two hashes, across the end of the hashes
    or among the object ids and indices are not an entry of that hash."""
    from klp_convert.symdb.symtabs import (
        HASH_SHIFT, OBJECT_SHIFT, bucket_blob, bucket_entries, symbols_in,
    )
    wanted = 0x12345678  # little-endian: 78 56 34 12
    entries = [0xCCCC1234 << HASH_SHIFT | 1 << OBJECT_SHIFT | 0x1234,
               wanted << HASH_SHIFT | 7 << OBJECT_SHIFT | 42,
               0x5678AAAA << HASH_SHIFT | wanted,  # hashes: 78 56 | 34 12; its own: the bytes
               0xCCCC1234 << HASH_SHIFT | 0xBBBB << OBJECT_SHIFT | 1,
               wanted << HASH_SHIFT | 9 << OBJECT_SHIFT | 3,
               0x5678BBBB << HASH_SHIFT]  # its 78 56, then the first object id's 34 12
    blob = bucket_blob(entries)
    needle = wanted.to_bytes(4, "little")
    hits, at = [], blob.find(needle)
    while at >= 0:
        hits.append(at)
        at = blob.find(needle, at + 1)
    assert hits == [4, 10, 16, 22, 32]  # two hashes; across two, across the end, among ids
    assert symbols_in(blob, wanted) == [(7, 42), (9, 3)]
    assert symbols_in(blob, 0xCCCC1234) == [(1, 0x1234), (0xBBBB, 1)]
    assert symbols_in(blob, 0x11111111) == [] == symbols_in(b"", wanted)
    assert list(bucket_entries(blob)) == entries
    assert symbols_in(blob, 0x5678AAAA) == [(0x1234, 0x5678)]


def test_livepatch_module_is_left_out(tree):
    assert read_module(tree / "live" / "patch.ko") is None


@pytest.fixture(scope="module")
def index(tree, vmlinux, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "kernel.symdb"
    report = build_database(db, Sources(str(vmlinux), [str(tree)]))
    assert report.livepatch == [str(tree / "live" / "patch.ko")]
    with open_symbols([db]) as index:
        yield index


def test_batched_lookups_answer_as_single_ones(index, monkeypatch):
    """prefetch() asks for many names in one query (in slices of BATCH, made small here so
    there are several); what lookup(), lookup_in() and exporters() then answer is what a
    fresh index answers name by name."""
    db = index.inputs[0].path
    with open_symbols([db]) as single:
        everything = sorted({r.name for obj in single.objects()
                             for r in _all_records(single, obj)})
        names = everything + ["no_such_symbol"]
        expected = {n: (single.lookup(n), single.lookup_in("demo_mod", n), single.exporters(n))
                    for n in names}
    assert len(everything) > 20 and any(expected[n][2] for n in names)
    monkeypatch.setattr("klp_convert.symdb.index.BATCH", 7)
    with open_symbols([db]) as batched:
        batched.prefetch(names)
        got = {n: (batched.lookup(n), batched.lookup_in("demo_mod", n), batched.exporters(n))
               for n in names}
    assert got == expected


def _all_records(index, objname):
    """Every record of one object, through the database itself (the API looks up by name)."""
    names = dict.fromkeys(row[0] for row in index.inputs[0].object_symbols(objname)[0])
    return [r for name in names for r in index.lookup_in(objname, name)]


def test_two_locals_from_two_compilation_units(index):
    helpers = index.lookup_in("demo_mod", "helper")
    assert [(h.position, h.count, h.source_file) for h in helpers] == \
        [(1, 2, "alpha.c"), (2, 2, "beta.c")]
    assert [(h.core_position, h.core_count) for h in helpers] == [(1, 2), (2, 2)]
    assert all(h.bind == "LOCAL" and h.sym_type == "FUNC" and h.section == ".text"
               for h in helpers)


def test_init_duplicate_makes_views_differ(index):
    init, core = index.lookup_in("demo_mod", "setup")
    assert (init.section, init.position, init.core_position) == (".init.text", 1, None)
    assert (core.section, core.position, core.core_position) == (".text", 2, 1)
    assert (init.count, init.core_count) == (2, 1)


@pytest.mark.parametrize("target, init_freed", [("x86_64", True), ("s390x", True),
                                                 ("aarch64", True), ("ppc64le", False)])
def test_init_sections_per_architecture(tmp_path, target, init_freed):
    """ppc64's module loader keeps .init sections with the core ones (module_64.c: "We don't
    handle .init for the moment"), so a live module's kallsyms still lists their symbols."""
    compiler = TARGETS[target][0]
    sources = {  # alpha.c and beta.c without their x86 assembly
        "init.c": "static int __attribute__((noinline, used, section(\".init.text\"))) "
                  "setup(void) { return 1; }\nint init_entry(void) { return setup(); }\n",
        "core.c": "static int __attribute__((noinline, used)) setup(void) { return 2; }\n"
                  "int core_entry(void) { return setup(); }\n"
                  "static const char name[] __attribute__((section(\".modinfo\"), used, "
                  "aligned(1))) = \"name=demo_mod\";\n",
    }
    objects = []
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
        objects.append(compile_c(target, tmp_path / name, tmp_path / f"{name}.o",
                                 flags=KERNEL_LIKE_FLAGS))
    module = tmp_path / "demo-mod.ko"
    subprocess.run([compiler, "-nostdlib", "-r", "-o", str(module), *map(str, objects)],
                   check=True, capture_output=True, text=True)
    database = tmp_path / "modules.symdb"
    build_database(database, Sources(None, [str(module)]))
    with open_symbols([database]) as index:
        init, core = index.lookup_in("demo_mod", "setup")
    assert (init.section, core.section) == (".init.text", ".text.setup")
    if init_freed:
        assert (init.core_position, core.core_position, core.core_count) == (None, 1, 1)
    else:
        assert (init.core_position, core.core_position, core.core_count) == (1, 2, 2)


def test_names_with_dots(index):
    [clone] = index.lookup_in("demo_mod", "beta_work.isra.0")
    assert clone.source_file == "beta.c" and clone.position == 1
    [static] = index.lookup_in("demo_mod", "calls.0")
    assert static.sym_type == "OBJECT" and static.section == ".bss"
    [vstatic] = index.lookup("name.0")
    assert vstatic.objname == "vmlinux" and vstatic.source_file == "vmlinux_b.c"


def test_exports_from_ksymtab(index):
    assert index.exporters("alpha_entry") == [Export("demo_mod", "EXPORT_SYMBOL_GPL", None)]
    [entry] = index.lookup("alpha_entry")
    assert entry.exported and entry.export_type == "EXPORT_SYMBOL_GPL"
    [other] = index.lookup("beta_entry")
    assert not other.exported and index.exporters("beta_entry") == []


def test_objects_and_metadata(index):
    assert index.objects() == ["vmlinux", "demo_mod"]
    assert index.has_object("demo_mod") and not index.has_object("patch")
    assert index.positions_known("vmlinux") and index.positions_known("demo_mod")
    assert index.arch == "x86_64"


def test_vmlinux_positions_and_files(index):
    shows = index.lookup_in("vmlinux", "type_show")
    assert [(s.position, s.core_position, s.count, s.source_file) for s in shows] == \
        [(1, 1, 2, "vmlinux_a.c"), (2, 2, 2, "vmlinux_b.c")]
    assert shows[0].address < shows[1].address
    assert all(s.section is None and s.type_letter == "t" for s in shows)


def test_kallsyms_filters(index):
    # absolute (__crc_*), mksysmap's prefixes (__kstrtab_*) and kallsyms' own list
    for name in ("__crc_strong_entry", "__kstrtab_strong_entry", "kallsyms_num_syms"):
        assert index.lookup(name) == []
    assert [r.type_letter for r in index.lookup("weak_entry")] == ["W"]


def test_system_map_view_matches_nm(vmlinux):
    """Our letters and `nm -n` order, filtered like scripts/mksysmap, equal nm's own output."""
    require_tool("nm")
    lines = subprocess.run(["nm", "-n", str(vmlinux)], capture_output=True, text=True,
                           check=True, env={"LC_ALL": "C"}).stdout.splitlines()
    expected = []
    for line in lines:
        address, letter, name = line.split()
        if letter in "aNUw" or name.startswith(("$", ".L", "__crc_", "__kstrtab_")):
            continue
        expected.append((int(address, 16), letter, name))
    assert [e[:3] for e in system_map_view(vmlinux)] == expected


def test_kallsyms_order_at_one_address(index, vmlinux):
    # At _edata's address: ordinary names first, then by leading underscores, and
    # linker-provided names (__bss_start) last; the weak alias after the strong symbol.
    at = {}
    for name in ("name.0", "_edata", "__bss_start", "strong_entry", "weak_entry"):
        [record] = index.lookup_in("vmlinux", name)
        at[name] = record
    obj = read_vmlinux_elf(vmlinux)
    order = [r[0] for r in obj.rows]
    assert order.index("name.0") < order.index("_edata") < order.index("__bss_start")
    assert order.index("strong_entry") + 1 == order.index("weak_entry")
    assert at["name.0"].address == at["_edata"].address == at["__bss_start"].address


def test_two_inputs_with_one_object_is_an_error(tree, tmp_path):
    one, two = tmp_path / "one.symdb", tmp_path / "two.symdb"
    build_database(one, Sources(None, [str(tree)]))
    shutil.copy(one, two)
    with pytest.raises(KlpError, match="demo_mod.*also in .*one.symdb"):
        open_symbols([one, two])


def _symbols_list(path, objects):
    """An old Symbols.list holding ``objects`` ({objname: [name...]})."""
    lines = ["klp-convert-symbol-data.0.1"]
    for objname, names in objects.items():
        lines += [f"*{objname}", *names]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_object_in_two_inputs_is_refused_whichever_is_largest(tree, tmp_path):
    """Only the largest input's names are not read whole: a shared object is found between
    any two inputs, and the later of the two is named."""
    database = tmp_path / "kernel.symdb"
    build_database(database, Sources(None, [str(tree)]))
    small = _symbols_list(tmp_path / "small.list", {"other_mod": ["a"]})
    shares = _symbols_list(tmp_path / "shares.list", {"another": ["b"], "demo_mod": ["c"]})
    twice = _symbols_list(tmp_path / "twice.list", {"other_mod": ["d"]})
    with pytest.raises(KlpError, match="'demo_mod' is also in .*kernel.symdb") as refused:
        open_symbols([database, small, shares])
    assert refused.value.path == str(shares)
    with pytest.raises(KlpError, match="'demo_mod' is also in .*shares.list") as refused:
        open_symbols([shares, database])
    assert refused.value.path == str(database)
    with pytest.raises(KlpError, match="'other_mod' is also in .*small.list"):
        open_symbols([small, database, twice])
    with open_symbols([small, database]) as index:  # no object shared: each from its own
        assert [r.objname for r in index.lookup("a")] == ["other_mod"]
        assert index.has_object("demo_mod") and index.has_object("other_mod")
        assert not index.has_object("absent")


def test_corrupt_modules_raise_only_klp_errors(tree):
    """Truncated or byte-flipped modules: read_module returns or raises KlpError (a module
    tree's reader turns that into a warning), never anything else."""
    import random
    data = (tree / "drivers" / "demo" / "demo-mod.ko").read_bytes()
    rng = random.Random(3)
    cases = [data[:n] for n in range(0, len(data), max(1, len(data) // 60))]
    # where a flipped byte matters most: ELF header, section headers, symbol and string tables
    scan = scan_symbols(data, "demo-mod.ko")
    shoff = int.from_bytes(data[0x28:0x30], "little")
    regions = [(0, 64), (shoff, len(data))] + [
        (offset, offset + size) for (name, _t, _f), (offset, size)
        in zip(scan.sections, scan.extents) if name in (".symtab", ".strtab", ".modinfo")]
    for _ in range(600):
        corrupt = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            start, end = rng.choice(regions)
            corrupt[rng.randrange(start, end)] = rng.randrange(256)
        cases.append(bytes(corrupt))
    for case in cases:
        try:
            read_module("corrupt.ko", data=case)
        except KlpError as e:
            assert str(e).startswith("corrupt.ko: ") and "\n" not in str(e)
