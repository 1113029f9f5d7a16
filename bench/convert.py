#!/usr/bin/env python3
"""Time `klp-convert convert` as whole processes, each figure beside its floor measured in the
same run (runs of a figure and of its floor alternate; the minimum of each is shown, the median
for figure 1):

  1. a typical conversion: the real-kernel suite's 'talk' livepatch, built with kbuild against
     Debian's headers, with the database of Debian's whole kernel (unstripped vmlinux of the
     -dbg package, every module, Module.symvers) plus one of its target module; floor: the
     interpreter alone (`python3 -c pass`); target: 40 ms against 12 ms, at most 3.3x the
     floor (medians; bench/startup.py prints this figure alone). Also the imports: no module
     a conversion imports (beyond the interpreter's own) may cost more than 2 ms.
  2. a huge object: 66,000 sections and 33,000 distinct references to names of that kernel
     (vmlinux and modules; unique, exported by vmlinux or by a module), with the database;
     floor: reading and writing the same object with the ELF layer; target: at most 1.5x.
  3. the same huge object with the old Symbols.list of the same kernel instead of the
     database; floor: figure 2; target: at most 2x.
  4. the talk livepatch with that Symbols.list, and an annotation-only object with 66,000
     sections, for the record.

    .venv/bin/python bench/convert.py [--runs N]

Inputs are built once and cached in ${KLP_CONVERT_CACHE}/bench.
"""

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from support import debian  # noqa: E402
from _data import compile_package  # noqa: E402

from klp_convert.errors import KlpError  # noqa: E402
from klp_convert.symdb import open_symbols  # noqa: E402
from klp_convert.symdb.model import CORE, LETTER_SHIFT  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TALK = REPO / "tests" / "realkernel" / "scenarios" / "talk"
HUGE_REFERENCES = 33_000
HUGE_TARGET = 1.5
SYMBOLS_LIST_TARGET = 2.0
# Names an assembler takes unquoted or quoted and the kernel's own names look like.
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")


def klp_convert_argv():
    """The installed console script (what users run), else `python -m klp_convert`."""
    script = Path(sys.executable).with_name("klp-convert")
    return [str(script)] if script.exists() else [sys.executable, "-m", "klp_convert"]


def klp_convert(*args):
    subprocess.run([*klp_convert_argv(), *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)


def run_once(argv):
    """(wall seconds, peak RSS MB) of one whole process; its output is thrown away."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return wall, usage.ru_maxrss / 1024


def side_by_side(figure, floor, runs):
    """Runs of ``figure`` and ``floor`` alternating: (min wall, max peak MB) of each."""
    results = {0: [], 1: []}
    for _ in range(runs):
        for which, argv in enumerate((figure, floor)):
            results[which].append(run_once([str(a) for a in argv]))
    return [(min(w for w, _ in r), max(m for _, m in r)) for r in (results[0], results[1])]


def kbuild(directory, headers):
    subprocess.run(["make", "-s", "-C", str(headers), f"M={directory}", "modules",
                    "KBUILD_MODPOST_WARN=1"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def prepare(work):
    """The kernel database, its Symbols.list, the target's database, the unconverted patch."""
    abi = debian.current_abi()
    release = f"{abi}-{debian.FLAVOUR}"
    headers = Path(f"/usr/src/linux-headers-{release}")
    if not headers.is_dir():
        debian.ensure_installed([f"linux-headers-{release}"])
    _system_map, vmlinux = debian.debug_files(abi)
    modules = debian.unpacked(f"linux-image-{release}-unsigned") / "lib" / "modules" / release
    db, listing = work / f"{release}.symdb", work / f"{release}.Symbols.list"
    if missing_or_old(db):
        klp_convert("symbols", "--vmlinux", vmlinux, "--modules", modules, "--symvers",
                    headers / "Module.symvers", "-o", db)
    if not listing.exists():
        klp_convert("symbols", "--format", "symbols-list", "--vmlinux", vmlinux, "--modules",
                    modules, "-o", listing)
    patch = work / "talk" / "livepatch" / "klp_talk.ko"
    target_db = work / "talk-target.symdb"
    if not patch.exists() or missing_or_old(target_db):
        source = work / "talk"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(TALK, source)
        for part in ("livepatch", "target"):
            shutil.copy(TALK.parent / "klp-test.h", source / part)
        shutil.copy(REPO / "include" / "klp-convert.h", source / "livepatch")
        kbuild(source / "target", headers)
        kbuild(source / "livepatch", headers)
        klp_convert("symbols", "--modules", source / "target", "-o", target_db)
    return db, listing, target_db, patch


def missing_or_old(db):
    """Whether a cached database must be built (again): absent, or of an older schema."""
    try:
        open_symbols([db]).close()
    except KlpError:
        return True
    return False


def assemble(work, stem, lines):
    source, obj = work / f"{stem}.s", work / f"{stem}.o"
    if not obj.exists():
        source.write_text("\n".join(lines) + "\n")
        subprocess.run(["gcc", "-c", "-o", str(obj), str(source)], check=True)
    return obj


def huge_names(db, count):
    """(``count`` distinct names of the kernel a conversion resolves without help, the export
    namespaces): names that occur once in the whole kernel (a module's in its core view),
    taken evenly over the sorted list (so vmlinux and modules, exported or not, as they come)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        namespaces = [ns for (ns,) in con.execute(
            "SELECT DISTINCT namespace FROM exports WHERE namespace IS NOT NULL ORDER BY 1")]
    finally:
        con.close()
    seen, plain = Counter(), set()
    with open_symbols([db]) as index:
        source = index.inputs[0]
        for objname in index.objects():
            for name, flags, *_rest in source.object_symbols(objname)[0]:
                seen[name] += 1
                if flags & CORE and chr(flags >> LETTER_SHIFT) in "BDRTbdrt":
                    plain.add(name)
    names = sorted(name for name in plain if seen[name] == 1 and PLAIN_NAME.fullmatch(name)
                   and len(name) < 100)
    step = len(names) / count
    return [names[int(i * step)] for i in range(count)], namespaces


def huge_object(work, db):
    """66,000 sections: a function per reference, each calling one distinct kernel name."""
    lines = []
    names, namespaces = huge_names(db, HUGE_REFERENCES)
    for i, name in enumerate(names):
        lines += [f'.section .text.f{i},"ax",@progbits', f".globl f{i}", f"f{i}:",
                  f'call "{name}"', "ret"]
    lines += ['.section .modinfo,"a"', '.string "livepatch=Y"', '.string "license=GPL"']
    lines += [f'.string "import_ns={namespace}"' for namespace in namespaces]
    return assemble(work, "huge-db", lines)


def annotated_object(work):
    """66,000 sections with KLP_RELOC_SYMBOL-style references only (no database needed)."""
    lines = []
    for i in range(33_000):
        lines += [f'.section .text.f{i},"ax",@progbits', f".globl f{i}", f"f{i}:",
                  f'call ".klp.sym.rela.vmlinux.vmlinux.target_{i % 5000},0"',
                  "call exported_fn", "ret"]
    lines += ['.section .modinfo,"a"', '.string "livepatch=Y"']
    return assemble(work, "huge", lines)


def import_costs(argv, runs):
    """{module: (self ms, cumulative ms)} of the modules a process imports beyond what the bare
    interpreter imports, each the minimum over ``runs`` runs of `python -X importtime`."""
    def measure(command):
        costs = {}
        for _ in range(runs):
            err = subprocess.run(command, capture_output=True, text=True).stderr
            for line in err.splitlines():
                fields = line.removeprefix("import time:").split("|")
                if len(fields) != 3 or not fields[0].strip().isdigit():
                    continue
                name, mine = fields[2].strip(), (int(fields[0]) / 1000, int(fields[1]) / 1000)
                costs[name] = min(costs.get(name, mine), mine)
        return costs
    base = measure([sys.executable, "-X", "importtime", "-c", "pass"])
    return {m: c for m, c in measure([sys.executable, "-X", "importtime", *argv]).items()
            if m not in base}


def verdict(ok):
    return "ok" if ok else "OVER"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (minimum "
                                                            "shown); the huge ones get 3")
    args = parser.parse_args()
    work = debian.cache_dir() / "bench"
    work.mkdir(exist_ok=True)
    db, listing, target_db, patch = prepare(work)
    compile_package()
    out = work / "converted.ko"
    klp = klp_convert_argv()
    print(f"livepatch: {patch.name} ({patch.stat().st_size} bytes); database {db.name} "
          f"({db.stat().st_size >> 20} MB); Symbols.list ({listing.stat().st_size >> 20} MB); "
          f"load average {os.getloadavg()[0]:.1f}")
    results = []

    from startup import startup_report  # figure 1, as bench/startup.py prints it alone

    lines, met = startup_report(db, target_db, patch, out, max(args.runs, 11))
    results.append(met)
    print("\n".join(lines))

    huge = huge_object(work, db)
    huge_out = work / "huge-db-converted.o"
    elf_floor = [sys.executable, "-c", "import gc, sys; from klp_convert.elf import ElfObject; gc.disable(); "
                 "ElfObject.read(sys.argv[1]).write(sys.argv[2])", huge, huge_out]
    runs = max(1, min(args.runs, 3))
    (with_db, db_mb), (elf, elf_mb) = side_by_side(
        [*klp, "convert", "--symbols", db, huge, "-o", huge_out], elf_floor, runs)
    results.append(with_db <= HUGE_TARGET * elf)
    print(f"2. huge object ({HUGE_REFERENCES} references, 66,000 sections) with the database: "
          f"{with_db:.2f} s wall, peak {db_mb:.0f} MB; floor (ELF read + write of the same "
          f"object) {elf:.2f} s, peak {elf_mb:.0f} MB; ratio {with_db / elf:.2f} "
          f"(target <= {HUGE_TARGET}) {verdict(results[-1])}")

    (with_list, list_mb), (with_db, _) = side_by_side(
        [*klp, "convert", "--symbols", listing, huge, "-o", huge_out],
        [*klp, "convert", "--symbols", db, huge, "-o", huge_out], runs)
    results.append(with_list <= SYMBOLS_LIST_TARGET * with_db)
    print(f"3. the same with Symbols.list: {with_list:.2f} s wall, peak {list_mb:.0f} MB; floor "
          f"(with the database) {with_db:.2f} s; ratio {with_list / with_db:.2f} "
          f"(target <= {SYMBOLS_LIST_TARGET}) {verdict(results[-1])}")

    (talk_list, talk_list_mb), (floor, _) = side_by_side(
        [*klp, "convert", "--symbols", listing, "--symbols", target_db, patch, "-o", out],
        [sys.executable, "-c", "pass"], args.runs)
    print(f"4. talk livepatch with Symbols.list: {talk_list * 1000:.0f} ms wall, peak "
          f"{talk_list_mb:.0f} MB; floor `python3 -c pass` {floor * 1000:.0f} ms")
    annotated = annotated_object(work)
    (annot, annot_mb), (elf, _) = side_by_side(
        [*klp, "convert", annotated, "-o", work / "huge-converted.o"],
        [*elf_floor[:3], annotated, work / "huge-converted.o"], runs)
    print(f"   annotation-only object (66,000 sections, 33,000 references): {annot:.2f} s wall, "
          f"peak {annot_mb:.0f} MB; floor (ELF read + write) {elf:.2f} s")
    print("targets:", "met" if all(results) else "NOT met")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
