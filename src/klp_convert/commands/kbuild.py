"""`klp-convert kbuild [options] [MAKE_ARG...]`: build an out-of-tree livepatch with kbuild and
convert it where kbuild put it."""

from ..kbuild import KbuildOptions, kbuild
from ..text import is_decimal
from . import note, say
from .convert import object_symbol_value, position


# The arguments that name files, by their argparse dest (cli.py refuses an empty one).
FILE_ARGUMENTS = {"kernel_dir": "-C", "symbols": "--symbols"}


def register(sub):
    p = sub.add_parser(
        "kbuild", help="build out-of-tree livepatch modules with kbuild and convert them",
        description="Run `make -C KDIR M=DIR KBUILD_MODPOST_WARN=1` (undefined symbols only "
                    "warn), then convert every built module whose .modinfo says livepatch=Y. "
                    "The converted module replaces the one kbuild linked, which is kept as "
                    "NAME.unconverted.ko. Put klp-convert's options first; make's own options "
                    "other than -C and -j go after `--`.",
        epilog="example: klp-convert kbuild -C /lib/modules/$(uname -r)/build "
               "--symbols kernel.symdb M=$PWD")
    p.add_argument("-C", "--directory", dest="kernel_dir", metavar="KDIR",
                   help="kernel build tree (default: /lib/modules/$(uname -r)/build)")
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N", help="make's parallel jobs")
    p.add_argument("--symbols", metavar="DB", action="append", default=[],
                   help="symbol database (.symdb) or Symbols.list; repeat to combine the "
                        "kernel's with one of out-of-tree target modules; none: annotations only")
    p.add_argument("--sympos", metavar="OBJ:NAME=N", action="append", default=[],
                   type=object_symbol_value(position), help="pick position N of NAME in OBJ")
    p.add_argument("--symbol-file", metavar="OBJ:NAME=FILE", action="append", default=[],
                   type=object_symbol_value(str),
                   help="pick the NAME of OBJ defined in source file FILE")
    p.add_argument("--keep-module-exports", action="store_true",
                   help="leave symbols exported by modules as normal relocations")
    p.add_argument("-v", "--verbose", action="store_true", help="print each conversion's plan")
    p.add_argument("make_args", nargs="*", metavar="MAKE_ARG",
                   help="make variables and targets, e.g. M=DIR (default: the current "
                        "directory) or V=1")
    p.set_defaults(run=run)


def run(args):
    options = KbuildOptions(args.kernel_dir, args.jobs, args.symbols, args.keep_module_exports,
                            sympos=args.sympos, symbol_files=args.symbol_file)
    converted = kbuild(args.make_args, options, log=note)
    for module in converted:
        # kbuild's own style, so the line sits well among make's output.
        say(f"  KLP     {module.path}: {len(module.plan.conversions)} symbol(s) converted")
        if args.verbose:
            for line in module.plan.lines():
                say(f"    {line}")
    return 0


def _jobs(text):
    """-j N: a positive number (make refuses the others, later and less clearly)."""
    if not is_decimal(text) or int(text) == 0:
        from argparse import ArgumentTypeError
        raise ArgumentTypeError(f"'{text}' is not a positive number of jobs")
    return int(text)
