"""System.map, /proc/kallsyms and Symbols.list inputs, written by hand: the same build seen
through each must give the same positions; malformed lines are errors with line numbers."""

from pathlib import Path

import pytest

from klp_convert.errors import KlpError
from klp_convert.symdb import Sources, build_database, open_symbols
from klp_convert.symdb.sources import (
    read_kallsyms, read_symbols_list, read_system_map, read_vmlinux,
)

DATA = Path(__file__).parent / "data" / "symdb"

# A System.map as scripts/mksysmap writes it (nm -n order: address, then name), x86-64 style:
# per-cpu symbols at 0, a weak symbol sharing an address, linker-script names at one address,
# two locals called 'type_show', names with dots, and names kallsyms drops.
SYSTEM_MAP = (DATA / "System.map").read_text()

# What /proc/kallsyms of the same build shows: kallsyms order, per-cpu symbols as 'A', the
# kallsyms_* table gone; then a module's core symbols and the pseudo-module [bpf].
KALLSYMS = (DATA / "kallsyms.txt").read_text()

SYMBOLS_LIST = (DATA / "Symbols.list").read_text()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def names(obj):
    return [row[0] for row in obj.rows]


def test_system_map_gives_kallsyms_order(tmp_path):
    obj = read_system_map(write(tmp_path, "System.map", SYSTEM_MAP))
    expected = [line.split()[2] for line in KALLSYMS.splitlines() if "\t[" not in line]
    assert names(obj) == expected


def test_kallsyms_dump_splits_vmlinux_and_modules(tmp_path):
    vmlinux, module = read_kallsyms(write(tmp_path, "kallsyms", KALLSYMS))
    assert (vmlinux.name, module.name) == ("vmlinux", "demo_mod")
    assert names(module) == ["helper", "helper", "demo_entry"]


def test_system_map_and_kallsyms_same_positions(tmp_path):
    system_map = write(tmp_path, "System.map", SYSTEM_MAP)
    kallsyms = write(tmp_path, "kallsyms", KALLSYMS)
    indexes = []
    for source in (system_map, kallsyms):
        db = tmp_path / f"{source.name}.symdb"
        build_database(db, Sources(str(source)))
        indexes.append(open_symbols([db]))
    for name in ("type_show", "foo.isra.0", "do_work", "weak_work", "name.12345", "_etext",
                 "__stop_foo", "runqueues"):
        seen = [[(r.position, r.core_position, r.count, r.address) for r in i.lookup(name)]
                for i in indexes]
        assert seen[0] == seen[1] and seen[0], name
    first, second = indexes[0].lookup("type_show")
    assert (first.position, second.position) == (1, 2)
    assert first.address < second.address
    for index in indexes:
        assert index.lookup("kallsyms_num_syms") == []
        assert index.lookup("not_kept_by_kallsyms") == []
        index.close()


def test_percpu_symbols_become_absolute(tmp_path):
    obj = read_system_map(write(tmp_path, "System.map", SYSTEM_MAP))
    letters = {fields[0]: fields[2] for fields in map(obj.row_fields, obj.rows)}
    assert letters["runqueues"] == "A" and letters["do_work"] == "T"


def test_kallsyms_modules_know_core_view_only(tmp_path):
    db = tmp_path / "k.symdb"
    build_database(db, Sources(str(write(tmp_path, "kallsyms", KALLSYMS))))
    with open_symbols([db]) as index:
        assert index.objects() == ["vmlinux", "demo_mod"]  # [bpf] is not a module
        helpers = index.lookup_in("demo_mod", "helper")
        assert [(h.position, h.core_position, h.core_count) for h in helpers] == \
            [(None, 1, 2), (None, 2, 2)]
        assert index.core_positions_known("demo_mod") and not index.positions_known("demo_mod")
        assert index.positions_known("vmlinux") and index.core_positions_known("vmlinux")


def test_symbols_list_has_names_only(tmp_path):
    path = write(tmp_path, "Symbols.list", SYMBOLS_LIST)
    objects = read_symbols_list(path)
    assert [o.name for o in objects] == ["vmlinux", "demo_mod"]  # '-' -> '_'
    with open_symbols([path]) as index:
        shows = index.lookup("type_show")
        assert [(s.position, s.count, s.objname) for s in shows] == \
            [(None, 2, "vmlinux"), (None, 2, "vmlinux")]
        assert not index.positions_known("vmlinux")
        assert [tuple(e) for e in index.exporters("do_work")] == [("vmlinux", None, None)]


def test_symbols_list_answers_alike_one_name_or_many(tmp_path):
    """Many names are looked up in one pass over the file (each object's lines as a set), a
    few one by one; both give the same records, repeated names and '__ksymtab_' exports
    included, and a name in no object gives nothing."""
    text = SYMBOLS_LIST + "*other-mod\nhelper\nlonely\n" + "".join(
        f"filler_{n}\n" for n in range(40))
    path = write(tmp_path, "Symbols.list", text)
    names = ["type_show", "helper", "do_work", "lonely", "absent"] + \
        [f"filler_{n}" for n in range(0, 40, 3)]

    def answers(index):
        return {name: ([(r.objname, r.name, r.count) for r in index.lookup(name)],
                       [tuple(e) for e in index.exporters(name)]) for name in names}

    with open_symbols([path]) as one_by_one:
        single = answers(one_by_one)
    with open_symbols([path]) as batched:
        batched.prefetch(names)
        assert answers(batched) == single
    assert single["helper"][0] == [("demo_mod", "helper", 2), ("demo_mod", "helper", 2),
                                   ("other_mod", "helper", 1)]
    assert single["do_work"][1] == [("vmlinux", None, None)]
    assert single["absent"] == ([], [])


def test_symbols_list_combines_with_a_database(tmp_path):
    db = tmp_path / "k.symdb"
    build_database(db, Sources(str(write(tmp_path, "System.map", SYSTEM_MAP))))
    extra = write(tmp_path, "extra.list", "klp-convert-symbol-data.0.1\n*oot_mod\nhelper\n")
    with open_symbols([db, extra]) as index:
        assert index.objects() == ["vmlinux", "oot_mod"]
        assert [r.objname for r in index.lookup("helper")] == ["oot_mod"]
        assert index.positions_known("vmlinux") and not index.positions_known("oot_mod")


@pytest.mark.parametrize("text, line, message", [
    ("0000 T a\nzz T b\n", 2, "'zz' is not a hexadecimal address"),
    ("0000 T a\n0010 T\n", 2, "expected 'ADDRESS TYPE NAME'"),
    ("0000 T a\n0010 TT b\n", 2, "expected 'ADDRESS TYPE NAME'"),
    ("0000 T a b c d\n", 1, "expected 'ADDRESS TYPE NAME'"),
])
def test_malformed_lines_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, "System.map", text)
    with pytest.raises(KlpError) as error:
        read_system_map(path)
    assert str(error.value).startswith(f"{path}: line {line}: {message}")


def test_malformed_symbols_list(tmp_path):
    path = write(tmp_path, "Symbols.list", "klp-convert-symbol-data.0.1\nloose_name\n")
    with pytest.raises(KlpError, match=r"line 2: symbol 'loose_name' before the first"):
        read_symbols_list(path)
    other = write(tmp_path, "other", "something else\n")
    with pytest.raises(KlpError, match="neither a klp-convert symbol database"):
        open_symbols([other])


def test_empty_system_map_is_an_error(tmp_path):
    path = write(tmp_path, "System.map", "")
    with pytest.raises(KlpError, match="no symbols"):
        read_system_map(path)


def test_kallsyms_dump_without_modules_is_recognised(tmp_path):
    """No module loaded: no `[module]` line, but no kallsyms_* table either (System.map always
    lists them), so the dump is still read as kallsyms: per-cpu 'A' symbols are kept."""
    vmlinux_only = "".join(line + "\n" for line in KALLSYMS.splitlines() if "\t[" not in line)
    path = write(tmp_path, "kallsyms", vmlinux_only)
    [obj] = read_vmlinux(path)
    assert names(obj)[:2] == ["fixed_percpu_data", "__per_cpu_start"]
    assert len(obj.rows) == len(vmlinux_only.splitlines())
    [system_map] = read_vmlinux(write(tmp_path, "System.map", SYSTEM_MAP))
    assert names(system_map) == names(obj)
