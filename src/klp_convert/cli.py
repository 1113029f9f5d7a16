"""Command line: parse arguments, call the library, turn errors into messages and exit codes.

Exit status: 0 success, 1 the work was refused (a conversion or check found a problem),
2 usage error or unreadable input. Library errors never reach the user as a traceback.
"""

import gc
import os
import sys

try:
    # The C module that `signal` wraps: `import signal` turns every constant into an enum
    # (0.6 ms at every start) for the one handler set here. CPython's own, not a documented
    # interface: without it, the documented module.
    import _signal as signal

    signal.signal, signal.SIGTERM  # noqa: B018 (what is used)
except (ImportError, AttributeError):
    import signal

from . import __version__
from .errors import KlpError
from .files import command_done, command_started
from .text import escape

# Sub-commands in the order --help lists them: name -> (module, one-line help). Only the chosen
# command's module is imported (each pulls in its own layers; a conversion should not pay for
# kbuild's or the database build's imports), so the help of the others is written here.
COMMANDS = {
    "convert": ("klp_convert.commands.convert",
                "turn references to unexported symbols into livepatch relocations"),
    "check": ("klp_convert.commands.check",
              "predict what the kernel will do with livepatch modules"),
    "kbuild": ("klp_convert.commands.kbuild",
               "build out-of-tree livepatch modules with kbuild and convert them"),
    "show": ("klp_convert.commands.show",
             "list a module's livepatch relocations by object and section"),
    "symbols": ("klp_convert.commands.symbols", "build or query the kernel symbol database"),
    "try": ("klp_convert.commands.try_",
            "boot the target kernel under QEMU and try livepatch modules in it"),
}

PROG = "klp-convert"


CLASSIC_FORMS = f"""the old command lines still work (the first argument is an existing file):
  {PROG} IN.ko OUT.ko                 annotations only (convert IN.ko -o OUT.ko)
  {PROG} Symbols.list IN.ko OUT.ko    with the old symbol list (convert --symbols ...)

exit status: 0 done, 1 refused (nothing written), 2 usage error or unreadable input,
130 interrupted (SIGINT), 143 terminated (SIGTERM)"""


def build_parser(chosen=None):
    """The parser; the sub-command ``chosen`` gets its full options, the others their name
    and help only (enough for `klp-convert --help`)."""
    from .cli_parser import ArgumentParser, RawDescriptionHelpFormatter

    parser = ArgumentParser(
        prog=PROG,
        description="Convert a livepatch module's references to unexported kernel and module "
                    "symbols into livepatch relocations (.klp.rela.* / .klp.sym.*).",
        epilog=CLASSIC_FORMS, formatter_class=RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name, (module, help_text) in COMMANDS.items():
        if name == chosen:
            command_module(name).register(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def command_module(name):
    """The module of command ``name``, imported now (__import__ and sys.modules rather than
    importlib.import_module: the importlib package, with the warnings module it imports, is
    not otherwise loaded at a conversion's start)."""
    module = COMMANDS[name][0]
    __import__(module)
    return sys.modules[module]


def chosen_command(argv):
    """The sub-command argv names (its first word that is not an option), or None."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def _classic_form(argv):
    """`klp-convert [Symbols.list] IN OUT`, the old tool's command lines, still work: only when
    the first argument is an existing file, so that a mistyped command is not taken for one."""
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        if os.path.isfile(argv[0]):
            mapped = command_module("convert").legacy_argv(argv)
            if mapped is not None:
                return mapped
        import difflib  # only for this message: not every start's cost
        close = difflib.get_close_matches(argv[0], sorted(COMMANDS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise _UsageError(f"unknown command '{argv[0]}' (commands: "
                          f"{', '.join(sorted(COMMANDS))}){hint}")
    return argv


def _quick_parse(argv):
    """The arguments of a plain command line of a command that parses its own (``quick_parse``:
    convert, whose start-up is the one that counts), else None: then argparse parses it, and
    says what is wrong with it or prints the help."""
    if not argv or argv[0] not in COMMANDS:
        return None
    quick_parse = getattr(command_module(argv[0]), "quick_parse", None)
    return quick_parse(argv[1:]) if quick_parse is not None else None


class _UsageError(Exception):
    pass


def _refuse_empty_file_names(args):
    """An empty file name is a usage error, not a file that cannot be read (the message would
    name no file) nor an option not given (`--vmlinux ''` would read the running kernel's)."""
    arguments = getattr(command_module(args.command), "FILE_ARGUMENTS", {})
    for dest, label in arguments.items():
        value = getattr(args, dest, None)
        if value == "" or isinstance(value, list) and "" in value:
            named = label if label.startswith("-") else f"argument {label}"
            raise _UsageError(f"{named} needs a file name (it was given an empty one)")


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that clean-ups run (like KeyboardInterrupt)."""


def _on_sigterm(_signum, _frame):
    raise Terminated()


def main(argv=None):
    """Run the command line ``argv``; None: the process's own (the console script, `python -m
    klp_convert`), and the process ends when this returns."""
    process_ends = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    command_started()
    try:
        argv = _classic_form(argv)
        args = _quick_parse(argv)
        if args is None:
            parser = build_parser(chosen_command(argv))
            args = parser.parse_args(argv)
            if not getattr(args, "run", None):
                parser.print_help(sys.stderr)
                return 2
        _refuse_empty_file_names(args)
        args.process_ends = process_ends
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
    except MemoryError:  # none of the bounds on what an input may claim came first: one line
        print(f"{PROG}: error: out of memory", file=sys.stderr)
        return 2
    finally:
        command_done()
        signal.signal(signal.SIGTERM, previous)
        if process_ends:
            # The interpreter's exit runs the cycle collector over every object the imports and
            # the command left (modules, functions, the model): frozen, they are out of its
            # sight, and the process is gone a few milliseconds sooner (about 5% of a small
            # conversion's time).
            gc.freeze()
