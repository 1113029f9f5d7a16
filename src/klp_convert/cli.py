"""Command line: parse arguments, call the library, turn errors into messages and exit codes.

Exit status: 0 success, 1 the work was refused (a conversion or check found a problem),
2 usage error or unreadable input. Library errors never reach the user as a traceback.
"""

import argparse
import difflib
import os
import signal
import sys

from . import __version__
from .errors import KlpError
from .text import escape

PROG = "klp-convert"


CLASSIC_FORMS = f"""the old command lines still work (the first argument is an existing file):
  {PROG} IN.ko OUT.ko                 annotations only (convert IN.ko -o OUT.ko)
  {PROG} Symbols.list IN.ko OUT.ko    with the old symbol list (convert --symbols ...)

exit status: 0 done, 1 refused (nothing written), 2 usage error or unreadable input,
130 interrupted (SIGINT), 143 terminated (SIGTERM)"""


def command_modules():
    """Sub-command modules, in the order --help lists them. Imported when main() runs, inside
    its handlers: a Ctrl-C while they load is an interruption like any other, no traceback."""
    from .commands import check, convert, kbuild, show, symbols, try_
    return [convert, check, kbuild, show, symbols, try_]


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert a livepatch module's references to unexported kernel and module "
                    "symbols into livepatch relocations (.klp.rela.* / .klp.sym.*).",
        epilog=CLASSIC_FORMS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        module.register(sub)
    parser.command_names = set(sub.choices)
    return parser


def _classic_form(parser, argv):
    """`klp-convert [Symbols.list] IN OUT`, the old tool's command lines, still work: only when
    the first argument is an existing file, so that a mistyped command is not taken for one."""
    if argv and argv[0] not in parser.command_names and not argv[0].startswith("-"):
        if os.path.isfile(argv[0]):
            from .commands.convert import legacy_argv
            mapped = legacy_argv(argv)
            if mapped is not None:
                return mapped
        close = difflib.get_close_matches(argv[0], sorted(parser.command_names), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise _UsageError(f"unknown command '{argv[0]}' (commands: "
                          f"{', '.join(sorted(parser.command_names))}){hint}")
    return argv


class _UsageError(Exception):
    pass


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that clean-ups run (like KeyboardInterrupt)."""


def _on_sigterm(_signum, _frame):
    raise Terminated()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        parser = build_parser()
        argv = _classic_form(parser, argv)
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help(sys.stderr)
            return 2
        return args.run(args)
    except _UsageError as e:
        print(f"{PROG}: error: {escape(str(e))}", file=sys.stderr)
        return 2
    except KlpError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return getattr(e, "exit_status", 2)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 143
    except BrokenPipeError:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
