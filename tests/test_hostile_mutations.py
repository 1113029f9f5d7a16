"""Seeded mutations of real modules through every command (issue 11: no traceback, whatever
the bytes): a converted livepatch, its unconverted form, the target module, with a database of
the target; and of databases through every command that reads one. Each command must end with
one of its exit statuses, its messages escaped. CI runs a small fixed budget; `bench/hostile.py`
runs the long campaigns whose figures the README gives."""

import contextlib
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klp_convert.cli import main
from test_hostile_names import assert_clean, pair, renamed  # noqa: F401 -- the fixture

EDITS = st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(
    [b"\xff", b"\x00", b"\x80", b"\xff" * 4, b"\x00" * 4, b"\x00\x00\x00\x80", b"\xff" * 8,
     b"\x01", b"\x7f"])), min_size=1, max_size=8)


def mutate(data, edits):
    data = bytearray(data)
    for where, value in edits:
        at = where % len(data)
        data[at:at + len(value)] = value
    return bytes(data[:len(data)])


def commands(module, db, out):
    # The mutated module's own database is looked up too, by name and by converting the
    # intact livepatch (prepare() left it beside the database) against it: a module is stored
    # as its symbol table and decoded at lookup time (symdb/symtabs.py).
    return (["symbols", "--modules", module, "-o", out / "x.symdb"],
            ["symbols", "--lookup", "use", out / "x.symdb"],
            ["convert", "--symbols", out / "x.symdb", db.parent / "lp.ko", "-o", out / "o3.ko"],
            ["convert", "--symbols", db, module, "-o", out / "o.ko"],
            ["convert", module, "-o", out / "o2.ko"], ["check", "--symbols", db, module],
            ["check", module], ["show", module])


# weird_target is in the database three times (vmlinux twice, the target module once)
PICK = ["--sympos", "vmlinux:weird_target=2"]


def database_commands(db, tmp):
    """Every command that reads a database, given the one at ``db`` (prepare_database())."""
    return (["symbols", "--info", db], ["symbols", "--lookup", "weird_target", db],
            ["symbols", "--lookup", "_stext", db],
            ["convert", "--symbols", db, *PICK, tmp / "lp.ko", "-o", tmp / "o.ko"],
            ["check", "--symbols", db, tmp / "converted.ko"],
            ["symbols", "--add", db, tmp / "other.ko"])


def run_all(module, db, out):
    """Every command on one module; returns the commands that raised (a traceback)."""
    return run_commands(commands(module, db, out))


def run_commands(argvs):
    """Run each command line; returns the commands that raised (a traceback)."""
    failed = []
    for argv in argvs:
        stdout, stderr = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                status = main([str(a) for a in argv])
        except BaseException as e:  # noqa: BLE001 -- what we count
            failed.append((argv[0], f"{type(e).__name__}: {e}"))
            continue
        assert status in (0, 1, 2), (argv, status)
        assert_clean(stdout.getvalue())
        assert_clean(stderr.getvalue())
    return failed


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2), edits=EDITS)
def test_mutated_modules_never_end_in_a_traceback(pair, tmp_path_factory, seed, edits):
    tmp = tmp_path_factory.mktemp("mut")
    db, seeds = prepare(pair, tmp)
    module = tmp / "m.ko"
    module.write_bytes(mutate(seeds[seed], edits))
    assert run_all(module, db, tmp) == []


def prepare(pair, tmp):  # noqa: F811
    """(database of the target, [target, livepatch, converted livepatch] bytes)."""
    target = tmp / "target.ko"
    target.write_bytes(pair[0])
    db = tmp / "t.symdb"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["symbols", "--modules", str(target), "-o", str(db)]) == 0
        converted = tmp / "converted.ko"
        assert main(["convert", "--symbols", str(db), str(renamed(pair[1], tmp / "lp.ko", "", "")),
                     "-o", str(converted)]) == 0
    return db, [pair[0], pair[1], converted.read_bytes()]


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=EDITS)
def test_mutated_databases_never_end_in_a_traceback(pair, tmp_path_factory, edits):
    tmp = tmp_path_factory.mktemp("mutdb")
    intact = prepare_database(pair, tmp)
    db = tmp / "m.symdb"
    db.write_bytes(mutate(intact, edits))
    assert run_commands(database_commands(db, tmp)) == []


def prepare_database(pair, tmp):  # noqa: F811
    """The bytes of a database of a System.map and the target module, with beside it in
    ``tmp`` the livepatch (lp.ko), it converted against that database (converted.ko) and
    another module to add (other.ko)."""
    target = renamed(pair[0], tmp / "target.ko", "weird_target", "weird_target")
    renamed(pair[0], tmp / "other.ko", "weird_target", "other_target")
    system_map = tmp / "System.map"
    system_map.write_bytes(b"ffffffff81000000 T _stext\nffffffff81000010 t weird_target\n"
                           b"ffffffff81000020 t weird_target\nffffffff81000030 T printk\n")
    db = tmp / "intact.symdb"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["symbols", "--vmlinux", str(system_map), "--modules", str(target), "-o",
                     str(db)]) == 0
        assert main(["convert", "--symbols", str(db), *PICK,
                     str(renamed(pair[1], tmp / "lp.ko", "", "")), "-o",
                     str(tmp / "converted.ko")]) == 0
    return db.read_bytes()
