#!/usr/bin/env python3
"""Read the symbol table of every module of Debian's kernel; compare with `nm -f posix` run once
per module (what kbuild's old Symbols.list recipe did).

    .venv/bin/python bench/elf_symtabs.py [MODULE_DIR]

Our side runs pinned to one core. Target (issue 2): under 1.5 s, at least 40x the nm loop.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from klp_convert.elf.reader import scan_symbols


def read_all(paths):
    count = 0
    for path in paths:
        with open(path, "rb") as f:
            count += len(scan_symbols(f.read(), str(path)).shndxs)
    return count


def nm_loop(paths):
    for path in paths:
        subprocess.run(["nm", "-f", "posix", str(path)], stdout=subprocess.DEVNULL, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", help="module tree (default: Debian's, downloaded)")
    parser.add_argument("--skip-nm", action="store_true", help="do not time the nm loop")
    args = parser.parse_args()
    if args.tree:
        tree = Path(args.tree)
    else:
        sys.path.insert(0, os.path.dirname(__file__))
        from _data import kernel_image_modules
        tree = kernel_image_modules()[1]
    paths = sorted(tree.rglob("*.ko"))
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    read_all(paths[:50])  # warm the page cache for both sides alike
    for p in paths:
        p.read_bytes()
    start = time.perf_counter()
    symbols = read_all(paths)
    ours = time.perf_counter() - start
    print(f"klp-convert: {len(paths)} modules, {symbols} symbols in {ours:.2f} s (one core)")
    if args.skip_nm:
        return 0
    start = time.perf_counter()
    nm_loop(paths)
    theirs = time.perf_counter() - start
    print(f"nm -f posix once per module: {theirs:.2f} s")
    print(f"ratio: {theirs / ours:.0f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
