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
