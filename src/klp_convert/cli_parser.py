"""argparse as the command line uses it: imported only when a command line needs the full
parser (--help, a usage error, any command but a plain conversion), because argparse with the
re and gettext it imports, and the parser's construction, would be a third of a conversion's
start-up (cli.main parses a plain `convert` command line itself, see commands/convert.py)."""

import argparse
import os
import sys


class _Width:
    """argparse's formatters with the terminal width found as shutil.get_terminal_size() finds
    it: argparse makes a formatter for every option added, and its own imports shutil (and
    through it bz2 and lzma) at every start to learn the width."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class HelpFormatter(_Width, argparse.HelpFormatter):
    pass


class RawDescriptionHelpFormatter(_Width, argparse.RawDescriptionHelpFormatter):
    pass


def _terminal_columns():
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class ArgumentParser(argparse.ArgumentParser):
    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)
