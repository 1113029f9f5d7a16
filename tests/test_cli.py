"""The command line's dispatch: each command's code is imported only when it runs, and the
help stays complete (the top level lists every command, each command has its own --help)."""

from importlib import import_module

import pytest

from klp_convert import cli


def test_top_level_help_lists_every_command_with_its_help(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--help"])
    assert exit.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # help lines wrap at the terminal width
    for name, (_module, help_text) in cli.COMMANDS.items():
        assert f" {name} {help_text}" in out


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_command_has_its_options_and_the_table_help(name, capsys):
    """The table's one-line help is what the command registers itself (they cannot drift)."""
    with pytest.raises(SystemExit) as exit:
        cli.main([name, "--help"])
    assert exit.value.code == 0
    assert f"usage: klp-convert {name}" in capsys.readouterr().out
    parser = cli.build_parser(name)
    sub = next(a for a in parser._actions if a.dest == "command")
    registered = {c.dest: c.help for c in sub._choices_actions}
    module = import_module(cli.COMMANDS[name][0])
    assert registered[name] == cli.COMMANDS[name][1], module.__name__


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["convrt", "a", "b"]) == 2
    assert "unknown command 'convrt'" in capsys.readouterr().err


# Command lines of `convert`: quick_parse() takes the plain ones (a build's), argparse the rest.
PLAIN_CONVERT_LINES = [
    ["in.ko", "-o", "out.ko"],
    ["-o", "out.ko", "in.ko"],
    ["--symbols", "a.symdb", "--symbols=b.symdb", "in.ko", "--output", "out.ko"],
    ["in.ko", "--output=out.ko", "-v", "--dry-run", "--keep-module-exports"],
    ["in.ko", "--dry-run", "--sympos", "vmlinux:f=2", "--sympos=foo:g=0"],
    ["in.ko", "-o", "o", "--symbol-file", "vmlinux:f=a/b.c", "--symvers", "M.symvers"],
    ["in.ko", "--verbose", "-o", "in.ko", "-o", "again.ko"],
    ["", "-o", "out.ko"],
]
OTHER_CONVERT_LINES = [
    [], ["-h"], ["in.ko", "--help"], ["in.ko", "--sym", "a.symdb"], ["in.ko", "-oout.ko"],
    ["in.ko", "-o"], ["in.ko", "-o", "-x"], ["in.ko", "--output=-x"], ["--", "in.ko"],
    ["a.ko", "b.ko"], ["-", "-o", "o"], ["in.ko", "--dry-run=yes"], ["in.ko", "--output="],
    ["in.ko", "--sympos", "vmlinux:f=two"], ["in.ko", "--sympos", "f=2"], ["in.ko", "-vo", "x"],
    ["in.ko", "--unknown"], ["in.ko", "-o=x"],
    *(["in.ko", "--sympos", f"vmlinux:f={n}"] for n in ("-1", "+1", "1_0", " 1", "\u0663")),
]


@pytest.mark.parametrize("value", ["-1", "+1", "1_0", " 1", "\u0663", "\u00b2", ""])
@pytest.mark.parametrize("command", ["convert", "kbuild"])
def test_a_position_is_ascii_digits_only(command, value, capsys):
    """A --sympos position is what the kernel's sympos is: ASCII decimal digits (int() also
    takes '-1', '+1', '1_0', ' 1' and the Arabic-Indic three; '-1' ended in a traceback)."""
    argv = [command, "--sympos", f"vmlinux:f={value}", *(["in.ko"] if command == "convert"
                                                         else ["M=."])]
    with pytest.raises(SystemExit) as stopped:  # argparse's usage error
        cli.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --sympos:" in err and "Traceback" not in err, err


def _argparse_values(argv):
    """What argparse makes of `convert ARGV`: its attributes, or the exit status it gave."""
    try:
        args = cli.build_parser("convert").parse_args(["convert", *argv])
    except SystemExit as e:
        return e.code
    return vars(args)


@pytest.mark.parametrize("argv", PLAIN_CONVERT_LINES, ids=" ".join)
def test_convert_parses_a_plain_line_as_argparse_does(argv):
    quick = cli.command_module("convert").quick_parse(argv)
    assert quick is not None, "a plain command line must not need argparse"
    assert vars(quick) == _argparse_values(argv)


@pytest.mark.parametrize("argv", OTHER_CONVERT_LINES, ids=" ".join)
def test_convert_leaves_the_other_lines_to_argparse(argv, capsys):
    assert cli.command_module("convert").quick_parse(argv) is None
    _argparse_values(argv)  # parsed there (or refused with its usage message)


# An empty file name given to each command: one usage line naming the option (it once read as
# "cannot read: No such file or directory" naming no file, and `symbols --vmlinux ''` as no
# --vmlinux at all: a build of the running kernel).
EMPTY_FILE_NAMES = [
    (["convert", "", "-o", "out.ko"], "argument IN.ko"),
    (["convert", "in.ko", "--symbols=", "-o", "out.ko"], "--symbols"),
    (["convert", "in.ko", "-o", ""], "-o"),
    (["convert", "in.ko", "--dry-run", "--symvers", ""], "--symvers"),
    (["check", "a.ko", ""], "argument MODULE"),
    (["check", "--symbols", "", "a.ko"], "--symbols"),
    (["show", ""], "argument MODULE"),
    (["symbols", "--vmlinux", "", "-o", "k.symdb"], "--vmlinux"),
    (["symbols", "--modules", "m", "--modules", "", "-o", "k.symdb"], "--modules"),
    (["symbols", "--vmlinux", "v", "--symvers", "", "-o", "k.symdb"], "--symvers"),
    (["symbols", "--symbols-list", "", "-o", "k.symdb"], "--symbols-list"),
    (["symbols", "--vmlinux", "v", "-o", ""], "-o"),
    (["symbols", "--info", ""], "--info"),
    (["symbols", "--add", "", "m.ko"], "--add"),
    (["symbols", "--add", "k.symdb", ""], "argument FILE"),
    (["symbols", "--lookup", "f", ""], "argument FILE"),
    (["kbuild", "-C", ""], "-C"),
    (["try", ""], "argument LIVEPATCH.ko"),
    (["try", "--kernel", "", "p.ko"], "--kernel"),
    (["try", "--load", "", "p.ko"], "--load"),
]


@pytest.mark.parametrize("argv,label", EMPTY_FILE_NAMES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_an_empty_file_name_is_a_usage_error(argv, label, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # nothing is written, whatever goes wrong
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == (f"klp-convert: error: {label} needs a file name (it was "
                                       f"given an empty one)\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_the_file_arguments_are_the_commands_own(name):
    """Each command's FILE_ARGUMENTS names options it has, as its help spells them."""
    parser = cli.build_parser(name)
    sub = next(a for a in parser._actions if a.dest == "command")
    actions = {a.dest: a for a in sub.choices[name]._actions}
    table = import_module(cli.COMMANDS[name][0]).FILE_ARGUMENTS
    assert table
    for dest, label in table.items():
        action = actions[dest]
        assert label in action.option_strings or label == action.metavar, (dest, label)


def test_an_error_about_an_empty_path_still_names_it():
    from klp_convert.errors import KlpError
    assert str(KlpError("", "cannot read")) == "'': cannot read"
    assert str(KlpError(None, "no path")) == "no path"


def test_running_out_of_memory_is_one_line(monkeypatch, capsys):
    """Whatever runs out of memory (a machine smaller than the input needs, an allocation no
    bound of ours caught) ends in one line and status 2, not a traceback."""
    symbols = import_module("klp_convert.commands.symbols")

    def exhausted(_args):
        raise MemoryError()

    monkeypatch.setattr(symbols, "run", exhausted)
    assert cli.main(["symbols", "--info", "x.symdb"]) == 2
    assert capsys.readouterr().err == "klp-convert: error: out of memory\n"
