"""Hostile input, names and numbers (issue 11, classes 1, 2 and 7): a name is bytes, whatever
it holds (not UTF-8, ESC, CR, LF, BEL); it is stored and matched exactly, and every command
prints it escaped, so no input can write to the terminal or forge a `klp-convert: error:` line.
Numbers at their limits are stored exactly or refused in one line."""

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klp_convert.cli import main
from klp_convert.elf import ElfObject
from klp_convert.symdb import open_symbols
from klp_convert.symdb.storage import SCHEMA_VERSION, name_list, name_list_text
from klp_convert.symdb.symtabs import HASH_SHIFT, OBJECT_SHIFT, bucket_blob, name_hash
from klp_convert.text import decode_name, escape, name_bytes
from support.toolchains import require_tool

DATA = Path(__file__).parent / "data" / "hostile"
FORGED = b"\xff\x1b[31m\r\nklp-convert: error: forged\x07"
# Names that are no C identifier: what a corrupt or hand-made input may hold.
NAMES = st.binary(min_size=1, max_size=24).filter(lambda b: b"\0" not in b)


def assert_clean(text):
    """Output a terminal may show: every character printable, newlines only between lines,
    and no line an input could have forged."""
    for line in text.split("\n"):
        assert line.isprintable(), repr(line)
    assert sum(line.startswith("klp-convert: error:") for line in text.split("\n")) <= 1, text


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert_clean(out)
    assert_clean(err)
    return status, out, err


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(target module bytes, livepatch bytes) compiled here; the tests rename `weird_target`."""
    require_tool("gcc")
    return build_pair(tmp_path_factory.mktemp("hostile"))


def build_pair(tmp):
    flags = ["-c", "-O2", "-fno-pic", "-mcmodel=kernel", "-fno-asynchronous-unwind-tables"]
    subprocess.run(["gcc", *flags, "-o", str(tmp / "target.o"), str(DATA / "target.c")],
                   check=True)
    subprocess.run(["ld", "-r", "-o", str(tmp / "target.ko"), str(tmp / "target.o")], check=True)
    subprocess.run(["gcc", *flags, "-o", str(tmp / "lp.ko"), str(DATA / "livepatch.c")],
                   check=True)
    return _Pair((tmp / "target.ko").read_bytes(), (tmp / "lp.ko").read_bytes())


class _Pair(tuple):
    def __new__(cls, *items):
        return super().__new__(cls, items)

    def __repr__(self):  # keep hypothesis' failure reports short
        return "<pair>"


def renamed(data, path, old, new, **fields):
    """Write ``data`` to ``path`` with symbol ``old`` renamed ``new`` (other fields set too)."""
    obj = ElfObject.from_bytes(data, str(path))
    for sym in obj.symbols:
        if sym.name == old:
            sym.name = new
            for key, value in fields.items():
                setattr(sym, key, value)
    obj.write(path)
    return path


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=NAMES)
def test_any_name_is_stored_matched_and_printed_escaped(pair, tmp_path_factory, capsys, raw):
    tmp = tmp_path_factory.mktemp("name")
    name = decode_name(raw)
    target = renamed(pair[0], tmp / "target.ko", "weird_target", name)
    patch = renamed(pair[1], tmp / "lp.ko", "weird_target", name)
    db = tmp / "t.symdb"
    assert run(capsys, "symbols", "--modules", target, "-o", db)[0] == 0
    with open_symbols([db]) as index:
        records = index.lookup(name)
    assert [(r.objname, name_bytes(r.name)) for r in records] == [("target", raw)]
    status, out, _err = run(capsys, "symbols", "--lookup", name, db)
    assert status == 0 and "target" in out
    status, _out, err = run(capsys, "convert", "--symbols", db, patch, "-o", tmp / "out.ko")
    assert status in (0, 1), err  # 1: a name the kernel cannot parse (',' in it) is refused
    if status == 0:
        klp = [s.name for s in ElfObject.read(tmp / "out.ko").symbols
               if s.name.startswith(".klp.sym.")]
        assert [name_bytes(n) for n in klp] == [b".klp.sym.target." + raw + b",0"]
        assert run(capsys, "show", tmp / "out.ko")[1].count(".klp.sym.target.") == 1
        assert run(capsys, "check", "--symbols", db, tmp / "out.ko")[0] == 0
    else:
        assert not (tmp / "out.ko").exists()
        assert "klp-convert: error:" in err
    run(capsys, "check", "--symbols", db, patch)
    run(capsys, "show", patch)


def test_a_forged_name_reaches_no_output_raw(pair, tmp_path, capsys):
    """ESC, CR, LF, BEL and a byte that is not UTF-8 in a name: every command shows them
    escaped (the examples of the issue), the data keeps them exactly."""
    name = decode_name(b"bad" + FORGED)
    target = renamed(pair[0], tmp_path / "target.ko", "weird_target", name)
    patch = renamed(pair[1], tmp_path / "lp.ko", "weird_target", name)
    db = tmp_path / "t.symdb"
    assert run(capsys, "symbols", "--modules", target, "-o", db)[0] == 0
    assert run(capsys, "convert", "--symbols", db, patch, "-o", tmp_path / "out.ko")[0] == 0
    out = run(capsys, "show", tmp_path / "out.ko")[1]
    assert escape(name) in out and "\\x1b[31m\\r\\nklp-convert: error: forged\\x07" in out
    # A refusal quoting the name: a database that lacks it.
    other = tmp_path / "other.symdb"
    plain = renamed(pair[0], tmp_path / "plain.ko", "weird_target", "something_else")
    assert run(capsys, "symbols", "--modules", plain, "-o", other)[0] == 0
    status, _out, err = run(capsys, "convert", "--symbols", other, patch, "-o",
                            tmp_path / "x.ko")
    assert status == 1 and escape(name) in err
    # check's findings, a text input's error, --lookup of a missing name, --info.
    status, out, _err = run(capsys, "check", "--symbols", other, tmp_path / "out.ko")
    assert status == 1 and escape(name) in out
    bad_map = tmp_path / "System.map"
    bad_map.write_bytes(b"ffffffff81000000 T ok\n" + FORGED.replace(b"\n", b"") + b" T x\n")
    status, _out, err = run(capsys, "symbols", "--vmlinux", bad_map, "-o", tmp_path / "m.symdb")
    assert status == 2 and err.count("\n") == 1
    status, _out, err = run(capsys, "symbols", "--lookup", name, other)
    assert status == 1 and escape(name) in err
    odd = tmp_path / decode_name(b"db\x1b]0;title\x07.symdb")
    odd.write_bytes(db.read_bytes())
    status, out, _err = run(capsys, "symbols", "--info", odd)
    assert status == 0 and "\\x1b]0;title\\x07" in out


def test_text_inputs_keep_names_as_bytes(tmp_path, capsys):
    """System.map, a kallsyms dump, Module.symvers and Symbols.list with names that are not
    UTF-8 and hold control characters (0x1c..0x1f, 0x85 are line breaks to str.splitlines)."""
    odd = [b"caf\xe9", b"sep\x1carator", b"nel\xc2\x85x", b"esc\x1b[0m"]
    system_map = tmp_path / "System.map"
    system_map.write_bytes(b"".join(b"ffffffff8100%04x T %s\n" % (i, n)
                                    for i, n in enumerate([b"_stext", *odd]))
                           + b"ffffffff82000000 D kallsyms_names\n")
    symvers = tmp_path / "Module.symvers"
    symvers.write_bytes(b"0x0\t%s\tvmlinux\tEXPORT_SYMBOL\t\n" % odd[0])
    db = tmp_path / "k.symdb"
    assert run(capsys, "symbols", "--vmlinux", system_map, "--symvers", symvers, "-o", db)[0] == 0
    symbols_list = tmp_path / "Symbols.list"
    symbols_list.write_bytes(b"klp-convert-symbol-data.0.1\n*mod\x1ex\n" + b"\n".join(odd)
                             + b"\n")
    dump = tmp_path / "kallsyms"
    dump.write_bytes(b"".join(b"ffffffff8100%04x t %s\n" % (i, n) for i, n in enumerate(odd))
                     + b"ffffffffc0000000 t %s\t[m\xffod]\n" % odd[1])
    dump_db = tmp_path / "d.symdb"
    assert run(capsys, "symbols", "--vmlinux", dump, "-o", dump_db)[0] == 0
    for raw in odd:
        name = decode_name(raw)
        with open_symbols([db]) as index:
            assert [name_bytes(r.name) for r in index.lookup(name)] == [raw]
            assert [e.objname for e in index.exporters(name)] == (["vmlinux"]
                                                                  if raw == odd[0] else [])
        with open_symbols([symbols_list]) as index:
            assert [name_bytes(r.objname) for r in index.lookup(name)] == [b"mod\x1ex"]
        with open_symbols([dump_db]) as index:
            found = [(name_bytes(r.objname), r.position) for r in index.lookup(name)]
            assert found[0] == (b"vmlinux", 1)
        run(capsys, "symbols", "--lookup", name, db, symbols_list)
    with open_symbols([dump_db]) as index:
        assert name_bytes(index.objects()[1]) == b"m\xffod"
    # a type letter beyond ASCII is stored and shown as it is (a row's flags hold any
    # character's code: FLAGS_END)
    system_map.write_bytes(b"ffffffff81000000 T _stext\nffffffff81000010 \xc3\xa9 accent\n"
                           b"ffffffff81000020 \xe9 latin\n")
    assert run(capsys, "symbols", "--vmlinux", system_map, "-o", tmp_path / "l.symdb")[0] == 0
    with open_symbols([tmp_path / "l.symdb"]) as index:
        assert [r.type_letter for r in index.lookup("accent")] == ["\u00e9"]
        assert [r.type_letter for r in index.lookup("latin")] == [decode_name(b"\xe9")]


def test_numbers_at_their_limits(pair, tmp_path, capsys):
    """st_value and st_size of 2**63 and more are stored exactly; an address wider than 64
    bits is refused in one line."""
    big = (1 << 64) - 1
    target = renamed(pair[0], tmp_path / "target.ko", "weird_target", "weird_target",
                     value=1 << 63, size=big)
    db = tmp_path / "t.symdb"
    assert run(capsys, "symbols", "--modules", target, "-o", db)[0] == 0
    with open_symbols([db]) as index:
        (record,) = index.lookup("weird_target")
    assert (record.address, record.size) == (1 << 63, big)
    run(capsys, "symbols", "--lookup", "weird_target", db)
    for address in (b"1" + b"0" * 16, b"-5", b"0x10"):
        system_map = tmp_path / "System.map"
        system_map.write_bytes(b"ffffffff81000000 T _stext\n%s T wide\n" % address)
        status, _out, err = run(capsys, "symbols", "--vmlinux", system_map, "-o",
                                tmp_path / "w.symdb")
        assert status == 2 and err.count("\n") == 1 and "line 2" in err, err
        assert not (tmp_path / "w.symdb").exists()


def two_databases(pair, tmp_path, capsys):
    """(a database of the target module, one of a System.map), both holding `weird_target`."""
    target = renamed(pair[0], tmp_path / "target.ko", "weird_target", "weird_target")
    module_db, vmlinux_db = tmp_path / "t.symdb", tmp_path / "v.symdb"
    assert run(capsys, "symbols", "--modules", target, "-o", module_db)[0] == 0
    system_map = tmp_path / "System.map"
    system_map.write_bytes(b"ffffffff81000000 T _stext\nffffffff81000010 t weird_target\n")
    assert run(capsys, "symbols", "--vmlinux", system_map, "-o", vmlinux_db)[0] == 0
    return module_db, vmlinux_db


def damaged(db, sql, path):
    """A copy of database ``db`` at ``path`` changed by ``sql`` (which must change a row)."""
    path.write_bytes(db.read_bytes())
    conn = sqlite3.connect(path)
    changed = conn.execute(sql).rowcount
    conn.commit()
    conn.close()
    assert changed, sql
    return path


def test_wrong_types_in_a_database_give_one_line(pair, tmp_path, capsys):
    """A module is stored as its symbol table (symtabs, name_index), vmlinux as rows (symbols,
    object_lists): a hand-made database may hold anything in either."""
    module_db, vmlinux_db = two_databases(pair, tmp_path, capsys)
    for db, sql in [
            (vmlinux_db, "UPDATE symbols SET flags = 'x'"),
            (vmlinux_db, "UPDATE symbols SET section = 99"),
            (vmlinux_db, "UPDATE object_lists SET sections = '7'"),
            (vmlinux_db, "UPDATE symbols SET value = x'00'"),
            # flags no build makes (the letter beyond ASCII, or none), an object id of text:
            # found by mutating databases (bench/hostile.py --databases)
            (vmlinux_db, "UPDATE symbols SET flags = 1 << 40"),
            (vmlinux_db, "UPDATE symbols SET flags = -1"),
            (vmlinux_db, "UPDATE symbols SET object = 'x'"),
            (module_db, "UPDATE symtabs SET symtab = x'00'"),
            (module_db, "UPDATE symtabs SET strtab = 'weird_target'"),
            (module_db, "UPDATE symtabs SET layout = 'x'"),
            (module_db, "UPDATE symtabs SET sections = '7'"),
            (module_db, "UPDATE symtabs SET section_types = x''"),
            (module_db, "UPDATE name_index SET entries = x'0001'"),
            # the name's entry pointing past the module's table, and at an object not stored
            (module_db, f"UPDATE name_index SET entries = x'{index_entry(1, 60000)}'"),
            (module_db, f"UPDATE name_index SET entries = x'{index_entry(999, 1)}'"),
            (module_db, "DELETE FROM symtabs")]:
        bad = damaged(db, sql, tmp_path / "bad.symdb")
        status, _out, err = run(capsys, "symbols", "--lookup", "weird_target", bad)
        assert status == 2 and err.count("\n") == 1 and "bad.symdb" in err, (sql, err)
        if sql.endswith("x'0001'"):  # extending it reads every row of its name index
            other = renamed(pair[0], tmp_path / "other.ko", "other_target", "other_target")
            before = bad.read_bytes()
            status, _out, err = run(capsys, "symbols", "--add", bad, other)
            assert status == 2 and err.count("\n") == 1 and "bad.symdb" in err, (sql, err)
            assert bad.read_bytes() == before and sorted(tmp_path.glob("bad*")) == [bad]
    # what --info alone reads: every key of meta (found by mutating databases)
    bad = damaged(vmlinux_db, "UPDATE meta SET key = NULL WHERE key = 'tool_version'",
                  tmp_path / "bad.symdb")
    status, _out, err = run(capsys, "symbols", "--info", bad)
    assert status == 2 and err.count("\n") == 1 and \
        "bad.symdb: unreadable symbol database (a meta key is not text)" in err, err


def test_text_that_is_not_utf8_in_a_database_gives_one_line(pair, tmp_path, capsys):
    """SQLite keeps whatever bytes a TEXT value is given, and sqlite3 raises UnicodeDecodeError
    (no sqlite3.Error) for one that is not UTF-8: a damaged database (found by mutating
    databases: a traceback from every command that opened one)."""
    module_db, vmlinux_db = two_databases(pair, tmp_path, capsys)
    livepatch = tmp_path / "lp.ko"
    livepatch.write_bytes(pair[1])
    other = renamed(pair[0], tmp_path / "other.ko", "weird_target", "other_target")
    not_utf8 = "CAST(x'80ff' AS TEXT)"
    for db, sql in [
            (module_db, f"UPDATE objects SET name = {not_utf8}"),
            (module_db, f"UPDATE objects SET path = {not_utf8}"),
            (vmlinux_db, f"UPDATE object_lists SET sections = {not_utf8}"),
            (vmlinux_db, f"UPDATE meta SET value = {not_utf8} WHERE key = 'schema_version'"),
            (vmlinux_db, f"UPDATE inputs SET path = {not_utf8}")]:
        bad = damaged(db, sql, tmp_path / "bad.symdb")
        before = bad.read_bytes()
        errors = []
        for argv in (["symbols", "--info", bad], ["symbols", "--lookup", "weird_target", bad],
                     ["symbols", "--add", bad, other],
                     ["convert", "--symbols", bad, livepatch, "-o", tmp_path / "out.ko"],
                     ["check", "--symbols", bad, livepatch]):
            status, _out, err = run(capsys, *argv)
            assert status in (0, 1, 2) and "Traceback" not in err, (sql, argv, err)
            if f"error: {bad}: " in err:
                assert status == 2 and err.count("\n") == 1, (sql, argv, err)
                errors.append(err)
                assert bad.read_bytes() == before, (sql, argv)  # (--add leaves it as it was)
            (tmp_path / "out.ko").unlink(missing_ok=True)
            before = bad.read_bytes()
        assert any(": unreadable symbol database (" in err or
                   ": not a klp-convert symbol database (" in err for err in errors), (sql, errors)
        assert sorted(tmp_path.glob("bad*")) == [bad], sql


def test_a_database_full_of_objects_takes_no_more_modules(pair, tmp_path, capsys):
    """A name index entry has room for 65,535 module ids (symdb/symtabs.py): adding a module
    past that is refused, and the database is left as it was."""
    target = renamed(pair[0], tmp_path / "target.ko", "full_target", "full_target")
    other = renamed(pair[0], tmp_path / "other.ko", "other_target", "other_target")
    db = tmp_path / "full.symdb"
    assert run(capsys, "symbols", "--modules", target, "-o", db)[0] == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE objects SET id = 65535")
    conn.execute("UPDATE symtabs SET object = 65535")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    status, _out, err = run(capsys, "symbols", "--add", db, other)
    assert status != 0 and err.count("\n") == 1 and "at most 65535 modules" in err, err
    assert db.read_bytes() == before


OLDER, NEWER = str(int(SCHEMA_VERSION) - 1), str(int(SCHEMA_VERSION) + 5)


@pytest.mark.parametrize("version, says", [
    (OLDER, f"older klp-convert (schema {OLDER}; this one reads schema {SCHEMA_VERSION}): "
            f"build it again"),
    (NEWER, f"newer klp-convert (schema {NEWER}; this one reads schema {SCHEMA_VERSION})"),
    ("x", "schema 'x' is not supported"), ("\u00b2", "schema '\u00b2' is not supported")])
def test_a_database_of_another_schema_is_refused_with_what_to_do(pair, tmp_path, capsys,
                                                                   version, says):
    target = renamed(pair[0], tmp_path / "target.ko", "old_target", "old_target")
    db = tmp_path / "old.symdb"
    assert run(capsys, "symbols", "--modules", target, "-o", db)[0] == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    conn.commit()
    conn.close()
    status, _out, err = run(capsys, "symbols", "--lookup", "old_target", db)
    assert status == 2 and err.count("\n") == 1 and says in err and "old.symdb" in err, err


def index_entry(object_id, symbol_index, name="weird_target"):
    """A name index bucket (hex of its bytes) of one entry for ``name`` saying what we like."""
    entry = name_hash(name) << HASH_SHIFT | object_id << OBJECT_SHIFT | symbol_index
    return bucket_blob([entry]).hex()


# An object's name lists (symdb/storage.py): read without json where json.dumps wrote plain
# ASCII names, by json otherwise; a conversion must read exactly what json would.
ANY_CHARACTER = st.characters(blacklist_categories=())  # surrogates (undecodable bytes) too


@given(st.lists(st.text(alphabet=ANY_CHARACTER)))
def test_name_lists_read_back_as_written(names):
    assert name_list(name_list_text(names)) == names


@given(st.one_of(
    st.text(alphabet=ANY_CHARACTER),
    st.lists(st.text(alphabet='ab"\\, []\x07é')).map(lambda parts: '["' + '", "'.join(parts)
                                                      + '"]')))
def test_name_list_reads_any_text_as_json_does(text):
    try:
        expected = json.loads(text)
    except ValueError:
        expected = None
    if isinstance(expected, list) and all(isinstance(name, str) for name in expected):
        assert name_list(text) == expected
    else:
        with pytest.raises(ValueError):
            name_list(text)


@pytest.mark.parametrize("command", ["symbols", "convert"])
def test_an_interrupt_right_after_a_temporary_is_made_leaves_nothing(pair, tmp_path, capsys,
                                                                     monkeypatch, command):
    """A SIGINT or SIGTERM acts at any moment of the main thread, even one another thread took
    (a build's executor threads: blocking it in the main thread does not hold it back). Here
    it lands right after os.open made the temporary file: its name was kept before
    (files.temporary_name), so the clean-up removes it. (Left behind once in about eight
    interrupted builds before.)"""
    target = renamed(pair[0], tmp_path / "target.ko", "weird_target", "weird_target")
    patch = tmp_path / "lp.ko"
    patch.write_bytes(pair[1])
    db = tmp_path / "t.symdb"
    assert run(capsys, "symbols", "--modules", target, "-o", db)[0] == 0
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real_open = os.open

    def made_then_interrupted(path, flags, *args):
        fd = real_open(path, flags, *args)
        if flags & os.O_EXCL:
            raise KeyboardInterrupt
        return fd

    monkeypatch.setattr(os, "open", made_then_interrupted)
    argv = (["symbols", "--modules", target, "-o", out_dir / "t.symdb"] if command == "symbols"
            else ["convert", "--symbols", db, patch, "-o", out_dir / "out.ko"])
    status, _out, err = run(capsys, *argv)
    assert status == 130 and err.endswith("klp-convert: interrupted\n"), err
    assert list(out_dir.iterdir()) == []


def test_an_option_for_a_symbol_the_module_does_not_reference_is_said(pair, tmp_path, capsys):
    """--sympos and --symbol-file name a symbol: one the module does not reference (a typo, or
    one meant for another module of the same kbuild run) is a warning naming the option."""
    target = renamed(pair[0], tmp_path / "target.ko", "weird_target", "weird_target")
    patch = tmp_path / "lp.ko"
    patch.write_bytes(pair[1])
    db = tmp_path / "t.symdb"
    assert run(capsys, "symbols", "--modules", target, "-o", db)[0] == 0
    status, _out, err = run(capsys, "convert", "--symbols", db, patch, "-o", tmp_path / "o.ko",
                            "--sympos", "target:weird_targt=1", "--symbol-file",
                            "target:nope=a.c")
    assert status == 0, err
    assert "warning: --sympos target:weird_targt=1 was not used: the module does not " \
           "reference 'weird_targt'" in err
    assert "warning: --symbol-file target:nope=a.c was not used" in err
