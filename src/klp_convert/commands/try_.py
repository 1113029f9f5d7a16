"""`klp-convert try [options] LIVEPATCH.ko...`: boot the target kernel under QEMU, load the
livepatches, and show what changed.

Exit 0 when every livepatch was enabled, its transition finished, and the kernel reported no
oops, BUG or WARN and no taint a livepatch does not cause by design; 1 otherwise (the report
quotes the kernel's lines); 2 for usage and set-up errors (QEMU or busybox missing, no kernel).
(`try` is a Python keyword, hence the module's name.)
"""

import json
import sys

from ..files import WorkDirectory
from ..guest.qemu import ACCELERATORS, BOOT_TIMEOUT
from ..guest.trial import SetupError, Trial, TrialRequest
from ..kernel.health import taint_description
from ..text import escape

# The widest a column of the side-by-side listing grows before its lines just run on.
COLUMN_MAX = 48


# The arguments that name files, by their argparse dest (cli.py refuses an empty one).
FILE_ARGUMENTS = {
    "livepatches": "LIVEPATCH.ko", "kernel": "--kernel", "modules": "--modules", "load": "--load",
    "late": "--late", "busybox": "--busybox"}


def register(sub):
    p = sub.add_parser(
        "try", help="boot the target kernel under QEMU and try livepatch modules in it",
        description="Boot a kernel under QEMU with a small busybox initramfs, load modules the "
                    "livepatches need, run the commands, load the livepatches, wait until "
                    "their transition ends, run the commands again, and show side by side what "
                    "they printed, the kernel messages each step caused and the patches' "
                    "state. Exit 0 when every patch is enabled and the kernel reported no "
                    "oops, BUG, WARN or unexpected taint; 1 otherwise; 2 for usage or set-up "
                    "errors.",
        epilog="example: klp-convert try --run 'cat /proc/cmdline' hello_klp.ko")
    p.add_argument("livepatches", nargs="+", metavar="LIVEPATCH.ko",
                   help="livepatch modules, loaded in this order")
    p.add_argument("--kernel", metavar="VMLINUZ",
                   help="kernel image to boot (default: /boot/vmlinuz-$(uname -r))")
    p.add_argument("--modules", metavar="DIR",
                   help="the kernel's module tree, where modules named without a path and "
                        "dependencies are found (default with no --kernel: "
                        "/lib/modules/$(uname -r))")
    p.add_argument("--load", action="append", default=[], metavar="MOD.ko",
                   help="module to load before the livepatches (a file, or a name in "
                        "--modules; its dependencies come along); repeatable")
    # dest: `run` is the sub-command's entry point (cli.py).
    p.add_argument("--run", dest="commands", action="append", default=[], metavar="CMD",
                   help="shell command run in the guest before and after patching; repeatable")
    p.add_argument("--late", action="append", default=[], metavar="MOD.ko",
                   help="target module loaded after the livepatches (late patching)")
    p.add_argument("--reload-target", action="append", default=[], metavar="MOD",
                   help="unload and load again this --load/--late module while the patch is "
                        "enabled, then run the commands again")
    p.add_argument("--unpatch", action="store_true",
                   help="at the end, disable and unload the livepatches and run the commands "
                        "again")
    p.add_argument("--busybox", metavar="PATH",
                   help="static busybox of the guest's architecture (default: /bin/busybox, "
                        "from Debian's busybox-static)")
    p.add_argument("--accel", choices=ACCELERATORS,
                   help="QEMU accelerator (default: kvm when a test guest runs with it, else "
                        "tcg)")
    p.add_argument("--timeout", type=_positive_seconds, default=BOOT_TIMEOUT, metavar="SECONDS",
                   help=f"time limit of the boot (default: {BOOT_TIMEOUT}, enough for TCG)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


def _positive_seconds(text):
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def run(args):
    request = TrialRequest(
        livepatches=args.livepatches, kernel=args.kernel, modules=args.modules, load=args.load,
        run=args.commands, late=args.late, reload_target=args.reload_target, unpatch=args.unpatch,
        busybox=args.busybox, accel=args.accel, timeout=args.timeout)
    try:
        trial = Trial(request)
        with WorkDirectory("klp-convert-try-") as workdir:
            report = trial.run(workdir)
    except OSError as e:  # busybox, the work directory, the initramfs, starting QEMU
        raise SetupError(e.filename or "klp-convert try", e.strerror or str(e)) from None
    data = report.to_json()
    if args.json:
        json.dump(data, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        sys.stdout.write("\n".join(format_report(data)) + "\n")
    return 0 if report.ok else 1


# -- the text report ------------------------------------------------------------------------


def format_report(data):
    """The report's lines, from its JSON form (so both say the same), each escaped: they quote
    what the guest printed, which a terminal must not act on."""
    return [escape(line) for line in _report_lines(data)]


def _report_lines(data):
    names = " ".join(p["file"].rsplit("/", 1)[-1] for p in data["patches"])
    lines = [f"klp-convert try: {names} on Linux {data['release'] or '?'} ({data['arch']}, "
             f"{data['accel']}: {data['accel_reason']}), {data['seconds']:g} s"]
    lines += [f"note: {note}" for note in data.get("notes", ())]
    for command in data["commands"]:
        lines += [""] + _side_by_side(command, [k for k in ("before", "after", "reloaded",
                                                             "unpatched") if k in command])
    lines.append("")
    for module in data["modules"]:
        lines.append(f"module {module['name']} ({module['step']}): "
                     + ("loaded" if module["loaded"] else "NOT loaded"))
    for patch in data["patches"]:
        state = (f"enabled={patch['enabled']} transition={patch['transition']}"
                 if patch["loaded"] else "not loaded")
        lines.append(f"livepatch {patch['name']}: {state}")
    taint = data["taint"]["new"]
    named = ", ".join(f"{letter} ({taint_description(letter)})" for letter in taint)
    lines.append(f"new taint: {named or 'none'}; by design: "
                 + " ".join(data["taint"]["by_design"]))
    messages = [(s["name"], _without_trouble(s["kernel"], s["name"], data["problems"]))
                for s in data["steps"] if s["kernel"]]
    if messages:
        lines += ["", "kernel messages:"]
        width = max(len(name) for name, _ in messages) + 2
        for name, kernel in messages:
            for i, message in enumerate(kernel):
                lines.append(f"  {(name + ':') if i == 0 else '':<{width}}{message}")
    lines.append("")
    if not data["problems"]:
        lines.append("verdict: ok: every livepatch enabled, transition finished, no oops, BUG "
                     "or WARN, no unexpected taint")
        return lines
    lines.append(f"verdict: FAILED ({len(data['problems'])} problem(s))")
    for problem in data["problems"]:
        lines.append(f"  {problem['step']}: {problem['what']}")
        lines += [f"      {line}" for line in problem["lines"]]
    return lines


def _without_trouble(messages, step, problems):
    """A step's kernel messages, each oops, BUG or WARN the verdict quotes in full reduced to
    its first line."""
    quoted = [p["lines"] for p in problems if p["step"] == step and p["kind"] == "kernel-report"]
    kept, index = [], 0
    while index < len(messages):
        report = next((q for q in quoted if messages[index:index + len(q)] == q), None)
        if report is None:
            kept.append(messages[index])
            index += 1
        else:
            kept.append(f"{report[0]}  [{len(report)} lines: see the verdict]")
            index += len(report)
    return kept


def _side_by_side(command, phases):
    """`$ CMD`, then one column per phase (before, after, ...), rows that differ from
    `before` marked with `*`."""
    columns = []
    for phase in phases:
        ran = command[phase]
        if ran is None:
            cells = ["(not run)"]
        else:
            cells = ran["output"] or ["(no output)"]
            if not ran["finished"]:
                cells = cells + ["(did not finish)"]
            elif ran["status"]:
                cells = cells + [f"(exit status {ran['status']})"]
        columns.append([phase] + cells)
    widths = [min(COLUMN_MAX, max(len(c) for c in column)) for column in columns]
    lines = [f"$ {command['command']}"]
    for row in range(max(len(c) for c in columns)):
        cells = [c[row] if row < len(c) else "" for c in columns]
        marker = "*" if row and any(cell != cells[0] for cell in cells[1:]) else " "
        padded = [cell.ljust(w) for cell, w in zip(cells[:-1], widths)] + [cells[-1]]
        lines.append(f"{marker} " + " | ".join(padded).rstrip())
    return lines
