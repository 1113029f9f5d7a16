"""Command line: parse arguments, call the library, turn errors into messages and exit codes.

Exit status: 0 success, 1 the work was refused (a conversion or check found a problem),
2 usage error or unreadable input. Library errors never reach the user as a traceback.
"""

import argparse
import sys

from . import __version__
from .commands import check, convert, kbuild, show, symbols, try_
from .errors import KlpError

# Sub-command modules, in the order --help lists them.
COMMANDS = [convert, check, kbuild, show, symbols, try_]

PROG = "klp-convert"


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert a livepatch module's references to unexported kernel and module "
                    "symbols into livepatch relocations (.klp.rela.* / .klp.sym.*).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    parser.command_names = set(sub.choices)
    return parser


def _classic_form(parser, argv):
    """`klp-convert [Symbols.list] IN OUT`, the old tool's command lines, still work."""
    if argv and argv[0] not in parser.command_names and not argv[0].startswith("-"):
        mapped = convert.legacy_argv(argv)
        if mapped is not None:
            return mapped
    return argv


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    argv = _classic_form(parser, argv)
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help(sys.stderr)
            return 2
        return args.run(args)
    except KlpError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return getattr(e, "exit_status", 2)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
