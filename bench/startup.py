#!/usr/bin/env python3
"""Issue 13 item 1: a typical conversion's whole-process wall time beside the interpreter's.

The typical conversion is the one of bench/convert.py (figure 1): the real-kernel suite's talk
livepatch, built with kbuild against Debian's headers, converted with the database of Debian's
whole kernel plus one of its target module. It runs as users run it, the console script
`klp-convert` (scripts/test installs it with pip >= 25.2, whose wrapper imports nothing but
sys; an older pip's imports re, about 5 ms more), and as `python -m klp_convert`, in turns
with the floor `python3 -c pass` (the same interpreter); each figure is the median of --runs
runs.
Target: 40 ms against 12 ms for the floor where the issue was filed, so at most 40/12 = 3.3
times the floor. Then the imports: each module the conversion imports beyond the interpreter's,
by its own import time (`python -X importtime`, the minimum over runs); target: none above 2 ms.

    .venv/bin/python bench/startup.py [--runs N]

The package is compiled first (compileall), as an installed copy is: with
PYTHONDONTWRITEBYTECODE set and no .pyc, every start would compile it all again (about 60 ms).
"""

import argparse
import os
import statistics
import sys

from _data import compile_package
from convert import debian, import_costs, klp_convert_argv, prepare, run_once, verdict

TARGET_MS, TARGET_FLOOR_MS = 40, 12
IMPORT_TARGET_MS = 2.0


def medians(commands, runs):
    """The median wall seconds of each command, the commands run in turns (A B C A B C ...) so
    that the machine's changing load touches all of them alike."""
    walls = [[] for _ in commands]
    for _ in range(runs):
        for which, argv in enumerate(commands):
            walls[which].append(run_once([str(a) for a in argv])[0])
    return [statistics.median(w) for w in walls]


def startup_report(db, target_db, patch, out, runs):
    """(lines to print, whether the targets are met) for the typical conversion."""
    args = ["convert", "--symbols", db, "--symbols", target_db, patch, "-o", out]
    script = klp_convert_argv()
    console, module, floor = medians(
        [[*script, *args], [sys.executable, "-m", "klp_convert", *args],
         [sys.executable, "-c", "pass"]], runs)
    ratio, target = console / floor, TARGET_MS / TARGET_FLOOR_MS
    lines = [f"1. typical conversion (talk livepatch, whole Debian database), medians of {runs}: "
             f"{os.path.basename(script[-1])} {console * 1000:.0f} ms, `python -m klp_convert` "
             f"{module * 1000:.0f} ms; floor `python3 -c pass` {floor * 1000:.0f} ms; ratio "
             f"{ratio:.2f} (target <= {target:.2f}: {TARGET_MS} ms against {TARGET_FLOOR_MS} ms) "
             f"{verdict(ratio <= target)}"]
    costs = import_costs([*(script[1:] if len(script) > 1 else script), *map(str, args)], runs)
    worst = sorted(costs, key=lambda m: -costs[m][0])
    ours = [m for m in costs if m.startswith("klp_convert")]
    met = costs[worst[0]][0] <= IMPORT_TARGET_MS
    lines.append(f"   imports beyond the interpreter's: {len(costs)} modules ({len(ours)} of "
                 f"klp_convert), {sum(c[0] for c in costs.values()):.1f} ms in all "
                 f"(`-X importtime`); the costliest: "
                 + ", ".join(f"{m} {costs[m][0]:.2f} ms" for m in worst[:3])
                 + f" (target <= {IMPORT_TARGET_MS} ms) {verdict(met)}")
    return lines, ratio <= target and met


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (medians)")
    args = parser.parse_args()
    work = debian.cache_dir() / "bench"
    work.mkdir(exist_ok=True)
    db, _listing, target_db, patch = prepare(work)
    compile_package()
    print(f"load average {os.getloadavg()[0]:.1f}")
    lines, met = startup_report(db, target_db, patch, work / "converted.ko", args.runs)
    print("\n".join(lines))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
