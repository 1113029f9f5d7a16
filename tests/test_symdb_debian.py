"""The symbol database on Debian's real kernel (current ABI, found at run time): the unstripped
vmlinux and the real System.map from linux-image-<abi>-amd64-dbg, the module tree from
linux-image-<abi>-amd64-unsigned, Module.symvers from linux-headers-<abi>-amd64.

The booted kernel's /proc/kallsyms against the ELF vmlinux and System.map is a test of the
real-kernel suite, on every kernel generation (tests/realkernel/test_realkernel.py
test_proc_kallsyms_equals_elf_and_system_map)."""

from collections import defaultdict

import pytest

from klp_convert.cli import main
from klp_convert.symdb import Sources, build_database, open_symbols
from klp_convert.symdb.model import ranked_records
from klp_convert.symdb.sources import (
    read_module, read_symvers, read_system_map, read_vmlinux_elf,
    system_map_view,
)
from support.debian import debug_files, kernel_headers, kernel_image_modules
from test_symdb_cli import nm_names
from test_symdb_objects import readelf_symbols

pytestmark = [pytest.mark.debian, pytest.mark.slow]


@pytest.fixture(scope="module")
def dbg():
    return debug_files()


@pytest.fixture(scope="module")
def system_map_lines(dbg):
    return [line.split() for line in dbg[0].read_text().splitlines()]


def test_elf_view_is_the_real_system_map(dbg, system_map_lines):
    """nm's letters and order computed from vmlinux's ELF symbol table, filtered as
    scripts/mksysmap does, are exactly Debian's System.map."""
    ours = [(f"{address:016x}", letter, name)
            for address, letter, name, *_rest in system_map_view(dbg[1])]
    assert ours == [tuple(fields) for fields in system_map_lines]


def test_positions_from_elf_equal_positions_from_system_map(dbg):
    elf = read_vmlinux_elf(dbg[1])
    text = read_system_map(dbg[0])
    assert [(r[0], r[2]) for r in elf.rows] == [(r[0], r[2]) for r in text.rows]
    # the ELF adds what System.map cannot know: sizes, bindings and source files
    assert sum(1 for r in elf.rows if r[5] is not None) > len(elf.rows) // 2


def test_duplicated_names_against_system_map_addresses(dbg, system_map_lines, tmp_path):
    """For every duplicated name, position N is the N-th System.map line of that name."""
    addresses = defaultdict(list)
    for address, _letter, name in system_map_lines:
        addresses[name].append(int(address, 16))
    duplicated = sorted(name for name, found in addresses.items() if len(found) > 1)
    assert len(duplicated) > 500
    db = tmp_path / "vmlinux.symdb"
    build_database(db, Sources(str(dbg[1])))
    with open_symbols([db]) as index:
        for name in duplicated:
            records = index.lookup_in("vmlinux", name)
            assert [r.position for r in records] == list(range(1, len(records) + 1))
            assert [r.address for r in records] == addresses[name], name
            assert all(r.count == len(addresses[name]) for r in records)
        shows = index.lookup_in("vmlinux", "type_show")
        # STT_FILE names are base names: two different core.c files can both define one
        assert all(r.source_file and r.bind == "LOCAL" for r in shows)


@pytest.fixture(scope="module")
def kernel_db(dbg, tmp_path_factory):
    abi, tree = kernel_image_modules()
    symvers = kernel_headers(abi) / "Module.symvers"
    db = tmp_path_factory.mktemp("kernel") / "kernel.symdb"
    report = build_database(db, Sources(str(dbg[0]), [str(tree)], str(symvers)))
    assert not report.skipped
    with open_symbols([db]) as index:
        yield abi, tree, symvers, index


def test_whole_kernel_objects_and_release(kernel_db):
    abi, tree, _symvers, index = kernel_db
    modules = list(tree.rglob("*.ko"))
    assert len(index.objects()) == 1 + len(modules)
    assert index.kernel_release.startswith(abi) and index.arch == "x86_64"


def test_exports_come_from_module_symvers(kernel_db):
    _abi, _tree, symvers, index = kernel_db
    exports = read_symvers(symvers)
    sample = sorted(exports)[::997]
    for name in sample:
        got = [tuple(e) for e in index.exporters(name)]
        assert got == sorted(exports[name], key=lambda e: (e[0] != "vmlinux", e[0])), name
    stored = index.inputs[0].db.execute("SELECT COUNT(*) FROM exports").fetchone()[0]
    assert stored == sum(len(entries) for entries in exports.values())  # no duplicates
    namespaced = next(n for n in sorted(exports) if exports[n][0][2])
    [export] = index.exporters(namespaced)
    assert export.namespace == exports[namespaced][0][2]


def test_module_rows_against_readelf(kernel_db):
    """For a sample of real modules, the full view is readelf's .symtab order minus undefined
    and section symbols, and the core view drops init, non-allocated and absolute symbols."""
    _abi, tree, _symvers, index = kernel_db
    paths = sorted(tree.rglob("*.ko"))[::400]
    for path in paths:
        obj = read_module(path)
        expected = [name for name, ndx in readelf_symbols(path) if ndx != "UND" and name]
        assert [r[0] for r in obj.rows] == expected, path
        for name, core, _letter, _info, _value, _size, section, _file in map(obj.row_fields,
                                                                             obj.rows):
            if core:
                assert section and not section.startswith(".init") and section != ".modinfo"
        names = sorted({r[0] for r in obj.rows})[:5]
        for name in names:
            records = index.lookup_in(obj.name, name)
            assert [r.position for r in records] == list(range(1, len(records) + 1))


def test_stored_symbol_tables_answer_as_the_modules_read_whole(kernel_db):
    """A module is stored as its symbol table and decoded per name at lookup time: for a sample
    of real modules, every name's records from the database equal those made from the rows of
    the whole module read as it was before (sources.read_module), exports included."""
    _abi, tree, _symvers, index = kernel_db
    paths = sorted(tree.rglob("*.ko"))[::40]
    checked = 0
    for path in paths:
        obj = read_module(path)
        by_name = defaultdict(list)
        for row in obj.rows:
            by_name[row[0]].append(row)
        index.prefetch(by_name)
        for name, rows in by_name.items():
            mine = [e for e in index.exporters(name) if e.objname == obj.name]
            expected = ranked_records(obj.name, "module", True, rows, mine, obj.sections,
                                      obj.files)
            assert index.lookup_in(obj.name, name) == expected, (path, name)
            checked += 1
    assert len(paths) > 50 and checked > 10_000


def test_symbols_list_equals_kbuild_recipe_on_real_kernel(dbg, tmp_path):
    """--format symbols-list on the real vmlinux and a sample of real modules equals what
    kbuild's recipe (nm -f posix | cut -d' ' -f1, modules sorted by path) gives."""
    _abi, tree = kernel_image_modules()
    sample = tmp_path / "tree"
    chosen = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.ko"))[::200]
    for rel in chosen:
        (sample / rel).parent.mkdir(parents=True, exist_ok=True)
        (sample / rel).symlink_to(tree / rel)
    out = tmp_path / "Symbols.list"
    assert main(["symbols", "--format", "symbols-list", "--vmlinux", str(dbg[1]),
                 "--modules", str(sample), "-o", str(out)]) == 0
    expected = ["klp-convert-symbol-data.0.1", "*vmlinux", *nm_names(dbg[1])]
    for rel in chosen:
        expected += ["*" + rel.rsplit("/", 1)[-1][:-3], *nm_names(tree / rel)]
    assert out.read_text().splitlines() == expected

