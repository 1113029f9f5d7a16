"""The long hostile-input campaign (issue 11): N seeded mutations of real modules (a target
module, a livepatch, the livepatch converted) through every command, as
tests/test_hostile_mutations.py does with a small budget. Prints runs, clean and failed.

    .venv/bin/python bench/hostile.py --runs 20000 [--seed 1]
"""

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_hostile_mutations import commands, mutate, prepare, run_all  # noqa: E402
from test_hostile_names import build_pair  # noqa: E402

VALUES = [b"\xff", b"\x00", b"\x80", b"\xff" * 4, b"\x00" * 4, b"\x00\x00\x00\x80", b"\xff" * 8,
          b"\x01", b"\x7f"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", metavar="DIR", help="copy each module that failed into DIR")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db, seeds = prepare(build_pair(tmp), tmp)
        module = tmp / "m.ko"
        per_module = len(commands(module, db, tmp))
        clean = failed = 0
        started = time.monotonic()
        for run in range(args.runs):
            edits = [(rng.randrange(1 << 20), rng.choice(VALUES))
                     for _ in range(rng.randint(1, 8))]
            module.write_bytes(mutate(rng.choice(seeds), edits))
            failures = run_all(module, db, tmp)
            failed += len(failures)
            clean += per_module - len(failures)
            for command, error in failures:
                print(f"FAILED run {run} {command}: {error}", file=sys.stderr)
            if failures and args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                (Path(args.keep) / f"run{run}.ko").write_bytes(module.read_bytes())
    print(f"mutated modules: {args.runs}, command runs: {args.runs * per_module}, "
          f"clean: {clean}, failed: {failed} ({time.monotonic() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
