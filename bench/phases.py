#!/usr/bin/env python3
"""Where a conversion's CPU time goes, phase by phase, in one process: the steps of
convert_file (read, plan with its batched lookups, apply, write, the output check rule by
rule), each the minimum over --runs runs (the scan caches emptied before each). Meant for the
huge object of bench/convert.py, whose whole-process figure is issue 13 item 2; the floor's
two phases are `read` and the write of the object as read (`write as read`).

    .venv/bin/python bench/phases.py [--runs N] DATABASE OBJECT
"""

import argparse
import gc
import time

from klp_convert.annotations import read_annotations, strip_tables
from klp_convert.check.context import CheckContext
from klp_convert.check.static_rules import STATIC_RULES
from klp_convert.check.symbol_rules import SYMBOL_RULES, names_looked_up
from klp_convert.convert import _resolved
from klp_convert.convert.apply import apply_plan
from klp_convert.convert.plan import ConvertOptions, make_plan
from klp_convert.elf import ElfObject
from klp_convert.kernel import klp_sscanf
from klp_convert.symdb import open_symbols


def one_run(database, path, times):
    clock = [time.process_time()]

    def lap(name):
        now = time.process_time()
        times.setdefault(name, []).append(now - clock[0])
        clock[0] = now

    klp_sscanf.scan_klp_sym.cache_clear()
    klp_sscanf.scan_klp_rela.cache_clear()
    index = open_symbols([database])
    lap("open the database")
    ElfObject.read(path).to_bytes()
    lap("read + write as read (the floor)")
    obj = ElfObject.read(path)
    lap("read")
    notes = read_annotations(obj)
    plan = make_plan(obj, notes, index, ConvertOptions())
    lap("plan (with the batched lookups)")
    strip_tables(obj, notes)
    apply_plan(obj, plan)
    lap("apply")
    obj.to_bytes()
    lap("write")
    ctx = CheckContext(obj, str(path), index, None, _resolved(plan))
    lap("check: context")
    for rule in STATIC_RULES:
        rule(ctx)
        lap(f"check: {rule.__name__}")
    index.prefetch(names_looked_up(ctx))
    lap("check: names looked up")
    for rule in SYMBOL_RULES:
        rule(ctx)
        lap(f"check: {rule.__name__}")
    index.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("database")
    parser.add_argument("object")
    args = parser.parse_args()
    gc.disable()  # as the convert command runs
    times = {}
    for _ in range(args.runs):
        one_run(args.database, args.object, times)
        gc.collect()  # (not timed) each run starts with the memory of the first
    best = {name: min(values) for name, values in times.items()}
    floor = best.pop("read + write as read (the floor)")
    for name, seconds in best.items():
        if seconds >= 0.005:
            print(f"{seconds:7.3f} s  {name}")
    print(f"{sum(best.values()):7.3f} s  in all (phases under 5 ms not shown)")
    print(f"{floor:7.3f} s  the floor: read + write of the object as read")


if __name__ == "__main__":
    main()
