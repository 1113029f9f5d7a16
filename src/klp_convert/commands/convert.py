"""`klp-convert convert`: and the classic forms `klp-convert [Symbols.list] IN OUT`."""

import gc
import os
import sys

from ..convert import convert_file
from ..errors import KlpError
from ..text import is_decimal
from . import note, say


def position(text):
    """A --sympos value: a decimal number of ASCII digits, as the kernel's sympos is (int()
    also takes '-1', '+1', '1_0' and '٣')."""
    if not is_decimal(text):
        raise ValueError(text)
    return int(text)


def object_symbol_value(convert):
    def parse(text):
        target, eq, value = text.partition("=")
        objname, colon, name = target.partition(":")
        if not (eq and colon and objname and name and value):
            from argparse import ArgumentTypeError  # a usage error: argparse prints it
            raise ArgumentTypeError(f"'{text}' is not OBJ:NAME=VALUE")
        try:
            return (objname, name), convert(value)
        except ValueError:
            from argparse import ArgumentTypeError
            raise ArgumentTypeError(f"'{value}' in '{text}' is not a number") from None
    return parse


# The options: argparse's add_argument() arguments, which quick_parse() reads too.
OPTIONS = (
    (("-o", "--output"), dict(
        metavar="OUT.ko", help="required (unless --dry-run): where to write the result (may be "
                               "IN.ko itself)")),
    (("--symbols",), dict(
        metavar="DB", action="append", default=[],
        help="symbol database (.symdb) or old Symbols.list; repeat to combine the kernel's with "
             "one of out-of-tree target modules")),
    (("--sympos",), dict(
        metavar="OBJ:NAME=N", action="append", default=[], type=object_symbol_value(position),
        help="pick position N of NAME in OBJ")),
    (("--symbol-file",), dict(
        metavar="OBJ:NAME=FILE", action="append", default=[], type=object_symbol_value(str),
        help="pick the NAME of OBJ defined in source file FILE")),
    (("--symvers",), dict(
        metavar="FILE", action="append", default=[],
        help="without --symbols: the build tree's Module.symvers, to tell which references the "
             "module loader resolves (default: that of the kernel the module was built for, "
             "when it is installed)")),
    (("--keep-module-exports",), dict(
        action="store_true",
        help="leave symbols exported by modules as normal relocations (the old klp-convert's "
             "behaviour; the patch then depends on those modules)")),
    (("--dry-run",), dict(action="store_true", help="print the plan, write nothing")),
    (("-v", "--verbose"), dict(action="store_true", help="print the plan")),
)


# The arguments that name files, by their argparse dest (cli.py refuses an empty one).
FILE_ARGUMENTS = {"input": "IN.ko", "output": "-o", "symbols": "--symbols", "symvers": "--symvers"}


def register(sub):
    p = sub.add_parser(
        "convert", help="turn references to unexported symbols into livepatch relocations",
        usage="%(prog)s [options] IN.ko -o OUT.ko\n       %(prog)s [options] IN.ko --dry-run",
        description="Convert a built livepatch module. Without --symbols only annotated "
                    "references are converted (annotation-only mode), and the references "
                    "left as they are are listed.")
    p.add_argument("input", metavar="IN.ko", help="the livepatch module as kbuild linked it")
    for flags, settings in OPTIONS:
        p.add_argument(*flags, **settings)
    p.set_defaults(run=run)


class Arguments:
    """What quick_parse() found: the attributes argparse's Namespace would have."""

    def __init__(self, **values):
        self.__dict__.update(values)


def quick_parse(argv):
    """``argv`` (after `convert`) parsed as argparse parses it, for the command lines a build
    runs (an input, options spelt out whole, `--option VALUE` or `--option=VALUE`), else None:
    help, abbreviations, `--`, a value that looks like an option and every error are left to
    argparse, which then parses the same line and says what it says today. (argparse and the
    parser's construction would be a third of a conversion's start-up.)"""
    values, inputs, settings = {"command": "convert", "run": run}, [], {}
    for flags, setting in OPTIONS:
        dest = flags[-1][2:].replace("-", "_")  # as argparse names it
        settings.update((flag, (dest, setting)) for flag in flags)
        values[dest] = {"append": [], "store_true": False}.get(setting.get("action"))
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            inputs.append(word)
            continue
        flag, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if flag not in settings:
            return None
        dest, setting = settings[flag]
        if setting.get("action") == "store_true":
            if equals:
                return None
            values[dest] = True
            continue
        if not equals:
            value = next(words, "-")
        if value.startswith("-") or not value:
            return None
        if "type" in setting:
            try:
                value = setting["type"](value)
            except Exception:  # argparse's ArgumentTypeError: argparse says it
                return None
        if setting.get("action") == "append":
            values[dest].append(value)
        else:
            values[dest] = value
    if len(inputs) != 1:
        return None
    values["input"] = inputs[0]
    return Arguments(**values)


def run(args):
    if not args.output and not args.dry_run:
        raise KlpError(None, "convert: -o OUT.ko is required (or --dry-run)")
    # The process ends after this one conversion: Python's cycle collector, which
    # convert_file turns on again when it returns, would only walk the whole model
    # (millions of objects on a huge patch) while the plan is reported and freed.
    gc.disable()
    plan = convert_file(args.input, args.output, args.symbols,
                        keep_module_exports=args.keep_module_exports, sympos=args.sympos,
                        symbol_files=args.symbol_file, dry_run=args.dry_run,
                        log=note, symvers=args.symvers or ([] if args.symbols else None))
    if args.dry_run or args.verbose:
        lines = plan.lines()
        say(f"{args.input}: {len(plan.conversions)} symbol(s) to convert")
        for line in lines:
            say(f"  {line}")
    if getattr(args, "process_ends", False):
        _end_process()
    return 0


def _end_process():
    """The output is written and everything is said: end the process here. Python's own exit
    would first free the model, the plan and the database's answers object by object (about
    0.13 s of CPU on a 33,000-reference patch) for memory the system takes back anyway."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def legacy_argv(argv):
    """Map the classic forms onto `convert`: `IN OUT` and `Symbols.list IN OUT`."""
    if len(argv) == 2:
        return ["convert", argv[0], "-o", argv[1]]
    if len(argv) == 3:
        return ["convert", "--symbols", argv[0], argv[1], "-o", argv[2]]
    return None
