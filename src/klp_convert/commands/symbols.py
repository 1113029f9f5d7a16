"""`klp-convert symbols`: build, extend, summarise and query the kernel symbol database.

    klp-convert symbols [--vmlinux FILE] [--modules DIR|FILE]... [--symvers FILE] -o kernel.symdb
    klp-convert symbols --format symbols-list ... -o Symbols.list
    klp-convert symbols --add kernel.symdb MODULE.ko...
    klp-convert symbols --info kernel.symdb
    klp-convert symbols --lookup NAME kernel.symdb...
"""

import os
import sys

from ..kernel.installed import module_dir, system_maps, unstripped_vmlinux
from ..symdb import Sources, add_to_database, build_database, open_symbols, write_symbols_list
# KALLSYMS: the running kernel's symbols when nothing better is installed
from ..symdb.sources import RUNNING_KALLSYMS as KALLSYMS, is_symbols_list, read_head
from ..symdb.storage import database_summary
from ..errors import KlpError
from . import PROG, say, warn

# Trees with fewer modules than this finish too fast for a progress bar to help.
PROGRESS_MIN_FILES = 100


# The arguments that name files, by their argparse dest (cli.py refuses an empty one).
FILE_ARGUMENTS = {
    "vmlinux": "--vmlinux", "modules": "--modules", "symvers": "--symvers",
    "symbols_list": "--symbols-list", "output": "-o", "add": "--add", "info": "--info",
    "inputs": "FILE"}


def register(sub):
    p = sub.add_parser(
        "symbols", help="build or query the kernel symbol database",
        usage="%(prog)s [--vmlinux FILE] [--modules PATH]... [--symvers FILE] [options] -o FILE\n"
              "       %(prog)s --add DB MODULE...\n"
              "       %(prog)s --info DB\n"
              "       %(prog)s --lookup NAME DB...",
        description="Build a symbol database (SQLite) of vmlinux and modules in the kernel's own "
                    "order, extend it with more modules, summarise it or look names up. With no "
                    "inputs, the running kernel's unstripped vmlinux or System.map from its -dbg "
                    "package (/usr/lib/debug/...; else /proc/kallsyms) and its module tree "
                    "(/lib/modules/$(uname -r) or /usr/lib/modules/$(uname -r)) are used.")
    p.add_argument("--vmlinux", metavar="FILE",
                   help="vmlinux (ELF), System.map or a /proc/kallsyms dump")
    p.add_argument("--modules", metavar="PATH", action="append", default=[],
                   help="module tree or module file (.ko, .ko.xz, .ko.gz, .ko.zst); repeatable")
    p.add_argument("--symvers", metavar="FILE", help="Module.symvers (exports and namespaces)")
    p.add_argument("--symbols-list", metavar="FILE", action="append", default=[],
                   help="an old Symbols.list to include (names only: positions unknown)")
    p.add_argument("--kernel-release", metavar="RELEASE",
                   help="kernel release to record (default: from the modules' vermagic)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="required to build: the database (or Symbols.list) to write")
    p.add_argument("--format", choices=("sqlite", "symbols-list"), default="sqlite",
                   help="output format (default sqlite; symbols-list: the old text format)")
    p.add_argument("--strict", action="store_true",
                   help="an unreadable module is an error instead of a warning")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--add", metavar="DB", help="add the given modules to an existing database")
    mode.add_argument("--info", metavar="DB", help="summarise a database")
    mode.add_argument("--lookup", metavar="NAME", help="list every symbol called NAME")
    p.add_argument("inputs", nargs="*", metavar="FILE",
                   help="with --add: module files or trees; with --lookup: databases or "
                        "Symbols.list files")
    p.set_defaults(run=run)


def run(args):
    if args.info is not None:
        return _info(args.info)
    if args.lookup is not None:
        return _lookup(args.lookup, args.inputs)
    if args.add is not None:
        return _add(args)
    return _build(args)


def _build(args):
    if args.inputs:
        raise KlpError(None, f"unexpected arguments {' '.join(args.inputs)} (inputs are given "
                             f"with --vmlinux, --modules, --symvers)")
    if not args.output:
        raise KlpError(None, "no output file: give -o FILE")
    sources = Sources(args.vmlinux, args.modules, args.symvers, args.symbols_list,
                      args.kernel_release)
    if sources.empty():
        sources = _running_system(args.kernel_release)
    write = write_symbols_list if args.format == "symbols-list" else build_database
    report = _with_progress(write, args.output, sources, args.strict)
    _summary(args.output, report)
    return 0


def _add(args):
    if not args.inputs:
        raise KlpError(args.add, "--add needs module files or trees to add")
    report = _with_progress(add_to_database, args.add, args.inputs, args.symvers, args.strict)
    _summary(args.add, report)
    return 0


def _with_progress(action, *args):
    """Run a build step with warnings on stderr and a progress bar when stderr is a terminal."""
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        return action(*args, warn=warn, progress=progress)
    finally:
        if progress:
            progress.finish()


def _running_system(release):
    """Defaults for a running system: the unstripped vmlinux of its -dbg package (source files
    too), else a real System.map, else /proc/kallsyms; its module tree (kernel/installed.py).
    Said on stderr, and refused when they cannot describe the kernel asked for: a kernel that
    is not the running one has no /proc/kallsyms, a missing module tree would give a database
    without modules."""
    running = os.uname().release
    release = release or running
    candidates = [*unstripped_vmlinux(release), *system_maps(release)]
    vmlinux = next((p for p in candidates if _readable_input(p)), None)
    if vmlinux is None and release != running:
        raise KlpError(None, f"no inputs given, and kernel {release} is not the running kernel "
                             f"({running}) and has no vmlinux or System.map installed here: "
                             f"give one with --vmlinux and its modules with --modules")
    vmlinux = vmlinux or KALLSYMS
    modules = module_dir(release)
    if modules is None:
        raise KlpError(None, f"no inputs given, and the modules of kernel {release} are not "
                             f"installed here (/lib/modules/{release}): give --vmlinux and "
                             f"--modules (or --vmlinux alone for a database without modules)")
    say(f"{PROG}: no inputs given: reading {vmlinux} and the modules under {modules} "
        f"(kernel {release})", sys.stderr)
    return Sources(vmlinux, [modules], None, (), release)


def _readable_input(path):
    # Debian's /boot/System.map is a one-line placeholder pointing at the -dbg package.
    try:
        return os.path.getsize(path) > 4096 and os.access(path, os.R_OK)
    except OSError:
        return False


def _summary(output, report):
    message = f"{output}: {report.objects} objects, {report.symbols} symbols"
    if report.livepatch:
        message += f", {len(report.livepatch)} livepatch modules left out"
    say(message, sys.stderr)
    if report.skipped:
        warn(f"{len(report.skipped)} unreadable module files skipped")


def _info(path):
    if is_symbols_list(read_head(path)):
        raise KlpError(path, "an old Symbols.list (names only) has no summary; see --lookup")
    summary = database_summary(path)
    say(f"database: {path}")
    for key in sorted(summary.meta):
        say(f"  {key}: {summary.meta[key]}")
    say("inputs:")
    for kind, ipath, files, size, digest in summary.inputs:
        detail = f"{files} files, {size} bytes" if kind == "modules" else f"{size} bytes"
        if digest:
            detail += f", sha256 {digest[:16]}"
        say(f"  {kind}: {ipath} ({detail})")
    for kind, objects, symbols in summary.kinds:
        say(f"{kind}: {objects} object{'s' if objects != 1 else ''}, {symbols} symbols")
    say(f"exports: {summary.exports}")
    say(f"names duplicated within an object: {summary.duplicated}")
    return 0


def _lookup(name, paths):
    if not name:
        raise KlpError(None, "--lookup needs a symbol name (it was given an empty one)")
    if not paths:
        raise KlpError(None, "--lookup NAME needs one or more databases")
    with open_symbols(paths) as index:
        records = index.lookup(name)
        exports = index.exporters(name)
    if not records and not exports:
        say(f"{name}: not found", sys.stderr)
        return 1
    say(f"{'object':<20} {'pos':>7} {'core':>7} {'type':<4} {'bind':<6} {'kind':<7} "
        f"{'address/value':<18} {'size':>6} source/section  export")
    for r in records:
        say(f"{r.objname:<20} {_pos(r.position, r.count):>7} "
            f"{_pos(r.core_position, r.core_count):>7} {r.type_letter or '?':<4} "
            f"{r.bind or '?':<6} {r.sym_type or '?':<7} {_hex(r.address):<18} "
            f"{'' if r.size is None else r.size:>6} {_where(r)}  {_export(r)}")
    for e in exports:
        if not any(r.objname == e.objname for r in records):
            say(f"{e.objname:<20} exports {name} ({e.export_type or 'export'}"
                f"{', namespace ' + e.namespace if e.namespace else ''}); symbol not listed")
    return 0


def _pos(position, count):
    return "-" if position is None else f"{position}/{count}"


def _hex(value):
    return "?" if value is None else f"{value:#x}"


def _where(record):
    parts = [p for p in (record.source_file, record.section) if p]
    return " ".join(parts) or "-"


def _export(record):
    if not record.exported:
        return ""
    text = record.export_type or "exported"
    return text + (f" ns={record.namespace}" if record.namespace else "")


class _Progress:
    """A one-line progress bar on stderr (only used when stderr is a terminal)."""

    def __init__(self, width=30):
        self.width = width
        self.shown = False

    def __call__(self, done, total):
        if total < PROGRESS_MIN_FILES:
            return
        filled = self.width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (self.width - filled)}] "
                         f"{done}/{total} modules")
        sys.stderr.flush()
        self.shown = True

    def finish(self):
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
