"""`klp-convert check [--symbols DB] MODULE...`: what the kernel will do with livepatch modules.

Exit 0 when every module will load and work, 1 when one will not, 2 when one cannot be read.
"""

import json
import sys

from ..check import WARNING, check_module_rules, will_load
from ..errors import KlpError
from . import say, warn


# Without a database the verdicts cover the module's own structure only: say so.
NOT_RESOLVED = ("no --symbols: symbol resolution was not checked (that every .klp.sym symbol "
                "names one symbol of the target kernel, that the others are exported); give "
                "--symbols kernel.symdb")


# The arguments that name files, by their argparse dest (cli.py refuses an empty one).
FILE_ARGUMENTS = {"modules": "MODULE", "symbols": "--symbols"}


def register(sub):
    p = sub.add_parser(
        "check", help="predict what the kernel will do with livepatch modules",
        description="Apply the kernel's rules for livepatch modules (names, flags, relocation "
                    "types, special sections, the cross-object rule) and say, per module, "
                    "'will load' or what will fail and why. With --symbols, every .klp.sym "
                    "symbol is resolved as the kernel will resolve it and every other undefined "
                    "symbol must be exported; without it, resolution is not checked.")
    p.add_argument("modules", nargs="+", metavar="MODULE", help="livepatch modules (.ko)")
    p.add_argument("--symbols", action="append", default=[], metavar="DB",
                   help="the target kernel's symbol database (.symdb) or an old Symbols.list; "
                        "repeatable")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args):
    index = _open_index(args.symbols)
    try:
        reports = [_check_one(path, index) for path in args.modules]
    finally:
        if index is not None:
            index.close()
    if args.json:
        json.dump({"modules": [_report_json(r) for r in reports],
                   "resolution_checked": index is not None}, sys.stdout, indent=2,
                  sort_keys=True)
        print()
    else:
        for report in reports:
            _print_report(report)
        if index is None and any(not r["error"] for r in reports):
            warn(NOT_RESOLVED)
    return max(_exit_status(r) for r in reports)


def _open_index(paths):
    if not paths:
        return None
    from ..symdb import open_symbols  # only when asked for: the static rules need no database

    return open_symbols(paths)


def _check_one(path, index):
    """{'module', 'verdict', 'findings', 'error'} for one module; unreadable input is reported,
    not raised, so the other modules are still checked."""
    try:
        findings, rules = check_module_rules(path, index=index, label=path)
    except KlpError as e:
        return {"module": path, "verdict": "unreadable", "error": str(e), "findings": [],
                "kernel": None}
    verdict = "will load" if will_load(findings) else "will not load"
    return {"module": path, "verdict": verdict, "error": None, "findings": findings,
            "kernel": rules}


def _report_json(report):
    kernel = report["kernel"].to_json() if report["kernel"] else None
    return dict(report, findings=[f.to_json() for f in report["findings"]], kernel=kernel)


def _print_report(report):
    if report["error"]:
        print(f"klp-convert: error: {report['error']}", file=sys.stderr)  # escaped by KlpError
        return
    # which generation's messages and limits the findings quote (or which were assumed)
    print(f"{report['module']}: kernel: {report['kernel'].describe()}")
    for finding in report["findings"]:
        for line in finding.lines():
            say(line)
    warnings = sum(f.severity == WARNING for f in report["findings"])
    errors = len(report["findings"]) - warnings
    counts = f" ({_plural(errors, 'error')}, {_plural(warnings, 'warning')})" \
        if report["findings"] else ""
    say(f"{report['module']}: {report['verdict']}{counts}")


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _exit_status(report):
    if report["error"]:
        return 2
    return 0 if report["verdict"] == "will load" else 1
