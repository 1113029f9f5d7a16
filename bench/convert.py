#!/usr/bin/env python3
"""Time `klp-convert convert` as a whole process (start-up included), three ways:

  1. a real livepatch built with kbuild against Debian's headers (the real-kernel suite's
     'talk' scenario, unconverted), with the symbol database of Debian's full kernel
     (unstripped vmlinux of the -dbg package, every module, Module.symvers) plus one of its
     target module: target under 0.2 s wall and 60 MB peak memory;
  2. the same with the old Symbols.list text file of the same kernel: under 0.5 s;
  3. a generated object with more than 65,280 sections and 33,000 references: under 3 s.

    .venv/bin/python bench/convert.py

Best of three runs each. Inputs are built once and cached in ${KLP_CONVERT_CACHE}/bench.
"""

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from support import debian  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TALK = REPO / "tests" / "realkernel" / "scenarios" / "talk"
TARGETS = {"database": (0.2, 60), "symbols-list": (0.5, None), "huge object": (3.0, None)}


def klp_convert(*args):
    subprocess.run([sys.executable, "-m", "klp_convert", *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)


def timed(*args):
    """(best wall seconds, peak RSS MB of the slowest-memory run) of a fresh process."""
    walls, peaks = [], []
    for _ in range(3):
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.execv(sys.executable, [sys.executable, "-m", "klp_convert", *map(str, args)])
        _, status, usage = os.wait4(pid, 0)
        walls.append(time.perf_counter() - start)
        peaks.append(usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"klp-convert {' '.join(map(str, args))} failed")
    return min(walls), max(peaks)


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
    if not db.exists():
        klp_convert("symbols", "--vmlinux", vmlinux, "--modules", modules, "--symvers",
                    headers / "Module.symvers", "-o", db)
    if not listing.exists():
        klp_convert("symbols", "--format", "symbols-list", "--vmlinux", vmlinux, "--modules",
                    modules, "-o", listing)
    source = work / "talk"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(TALK, source)
    for part in ("livepatch", "target"):
        shutil.copy(TALK.parent / "klp-test.h", source / part)
    shutil.copy(REPO / "include" / "klp-convert.h", source / "livepatch")
    kbuild(source / "target", headers)
    kbuild(source / "livepatch", headers)
    target_db = work / "talk-target.symdb"
    klp_convert("symbols", "--modules", source / "target", "-o", target_db)
    return db, listing, target_db, source / "livepatch" / "klp_talk.ko"


def huge_object(work):
    source, obj = work / "huge.s", work / "huge.o"
    if not obj.exists():
        lines = []
        for i in range(33_000):
            lines += [f'.section .text.f{i},"ax",@progbits', f".globl f{i}", f"f{i}:",
                      f'call ".klp.sym.rela.vmlinux.vmlinux.target_{i % 5000},0"',
                      "call exported_fn", "ret"]
        lines += ['.section .modinfo,"a"', '.string "livepatch=Y"']
        source.write_text("\n".join(lines) + "\n")
        subprocess.run(["gcc", "-c", "-o", str(obj), str(source)], check=True)
    return obj


def report(name, wall, peak):
    limit_wall, limit_mb = TARGETS[name]
    verdict = "ok" if wall < limit_wall and (limit_mb is None or peak < limit_mb) else "OVER"
    mb = f", target < {limit_mb} MB" if limit_mb else ""
    print(f"{name:>13}: {wall:.3f} s wall, peak {peak:.0f} MB (target < {limit_wall} s{mb}) "
          f"{verdict}")


def main():
    work = debian.cache_dir() / "bench"
    work.mkdir(exist_ok=True)
    db, listing, target_db, patch = prepare(work)
    out = work / "klp_talk-converted.ko"
    print(f"livepatch: {patch.name} ({patch.stat().st_size} bytes); database {db.name} "
          f"({db.stat().st_size >> 20} MB); Symbols.list ({listing.stat().st_size >> 20} MB)")
    report("database", *timed("convert", "--symbols", db, "--symbols", target_db, patch,
                              "-o", out))
    report("symbols-list", *timed("convert", "--symbols", listing, "--symbols", target_db,
                                  patch, "-o", out))
    huge = huge_object(work)
    report("huge object", *timed(huge, work / "huge-converted.o"))


if __name__ == "__main__":
    main()
