"""`klp-convert convert`: and the classic forms `klp-convert [Symbols.list] IN OUT`."""

import argparse
import gc
import os

from ..convert import convert_file
from ..errors import KlpError
from . import note, say


def register(sub):
    p = sub.add_parser(
        "convert", help="turn references to unexported symbols into livepatch relocations",
        usage="%(prog)s [options] IN.ko -o OUT.ko\n       %(prog)s [options] IN.ko --dry-run",
        description="Convert a built livepatch module. Without --symbols only annotated "
                    "references are converted (annotation-only mode), and the references "
                    "left as they are are listed.")
    p.add_argument("input", metavar="IN.ko", help="the livepatch module as kbuild linked it")
    p.add_argument("-o", "--output", metavar="OUT.ko",
                   help="required (unless --dry-run): where to write the result (may be IN.ko "
                        "itself)")
    p.add_argument("--symbols", metavar="DB", action="append", default=[],
                   help="symbol database (.symdb) or old Symbols.list; repeat to combine the "
                        "kernel's with one of out-of-tree target modules")
    p.add_argument("--sympos", metavar="OBJ:NAME=N", action="append", default=[],
                   type=object_symbol_value(int), help="pick position N of NAME in OBJ")
    p.add_argument("--symbol-file", metavar="OBJ:NAME=FILE", action="append", default=[],
                   type=object_symbol_value(str),
                   help="pick the NAME of OBJ defined in source file FILE")
    p.add_argument("--symvers", metavar="FILE", action="append", default=[],
                   help="without --symbols: the build tree's Module.symvers, to tell which "
                        "references the module loader resolves (default: that of the kernel "
                        "the module was built for, when it is installed)")
    p.add_argument("--keep-module-exports", action="store_true",
                   help="leave symbols exported by modules as normal relocations (the old "
                        "klp-convert's behaviour; the patch then depends on those modules)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    p.add_argument("-v", "--verbose", action="store_true", help="print the plan")
    p.set_defaults(run=run)


def object_symbol_value(convert):
    def parse(text):
        target, eq, value = text.partition("=")
        objname, colon, name = target.partition(":")
        if not (eq and colon and objname and name and value):
            raise argparse.ArgumentTypeError(f"'{text}' is not OBJ:NAME=VALUE")
        try:
            return (objname, name), convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' in '{text}' is not a number") from None
    return parse


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
                        log=note, symvers=args.symvers or ([] if args.symbols else
                                                      _installed_symvers(args.input)))
    if args.dry_run or args.verbose:
        lines = plan.lines()
        say(f"{args.input}: {len(plan.conversions)} symbol(s) to convert")
        for line in lines:
            say(f"  {line}")
    return 0


def _installed_symvers(module):
    """[Module.symvers of the build tree of the kernel the module was built for], or []."""
    from ..kbuild import modinfo
    try:
        release = (modinfo(module).get("vermagic") or "").split(" ")[0]
    except KlpError:
        return []  # convert_file says what is wrong with the module
    path = os.path.join("/lib/modules", release, "build", "Module.symvers")
    return [path] if release and os.path.isfile(path) else []


def legacy_argv(argv):
    """Map the classic forms onto `convert`: `IN OUT` and `Symbols.list IN OUT`."""
    if len(argv) == 2:
        return ["convert", argv[0], "-o", argv[1]]
    if len(argv) == 3:
        return ["convert", "--symbols", argv[0], argv[1], "-o", argv[2]]
    return None
