"""The long hostile-input campaign (issue 11): N seeded mutations of real modules (a target
module, a livepatch, the livepatch converted) through every command, or with --databases of a
symbol database through every command that reads one, as tests/test_hostile_mutations.py does
with a small budget. Prints runs, clean and failed.

    .venv/bin/python bench/hostile.py --runs 20000 [--seed 1] [--databases]
"""

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_hostile_mutations import (  # noqa: E402
    commands, database_commands, mutate, prepare, prepare_database, run_all, run_commands)
from test_hostile_names import build_pair  # noqa: E402

VALUES = [b"\xff", b"\x00", b"\x80", b"\xff" * 4, b"\x00" * 4, b"\x00\x00\x00\x80", b"\xff" * 8,
          b"\x01", b"\x7f"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--databases", action="store_true",
                        help="mutate a symbol database instead of modules")
    parser.add_argument("--keep", metavar="DIR", help="copy each input that failed into DIR")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pair = build_pair(tmp)
        if args.databases:
            seeds, mutated = [prepare_database(pair, tmp)], tmp / "m.symdb"
            argvs = database_commands(mutated, tmp)
        else:
            (db, seeds), mutated = prepare(pair, tmp), tmp / "m.ko"
            argvs = commands(mutated, db, tmp)
        clean = failed = 0
        started = time.monotonic()
        for run in range(args.runs):
            edits = [(rng.randrange(1 << 20), rng.choice(VALUES))
                     for _ in range(rng.randint(1, 8))]
            data = mutate(rng.choice(seeds), edits)
            mutated.write_bytes(data)
            failures = run_commands(argvs) if args.databases else run_all(mutated, db, tmp)
            failed += len(failures)
            clean += len(argvs) - len(failures)
            for command, error in failures:
                print(f"FAILED run {run} {command}: {error}", file=sys.stderr)
            if failures and args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                (Path(args.keep) / f"run{run}{mutated.suffix}").write_bytes(data)
    what = "databases" if args.databases else "modules"
    print(f"mutated {what}: {args.runs}, command runs: {args.runs * len(argvs)}, "
          f"clean: {clean}, failed: {failed} ({time.monotonic() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
