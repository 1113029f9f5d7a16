"""Build (or extend) a symbol database from its sources, or write the old Symbols.list text.

Module files are read in a pool of worker processes when there are many (the machine's cores,
at most 4): each module is independent and reading symbol tables is CPU-bound.
"""

import os
import sys

from ..elf.constants import EM_386, EM_AARCH64, EM_PPC64, EM_S390, EM_X86_64
from ..errors import KlpError
from .sources import (
    SymdbError, find_module_files, format_symbols_list, read_module, read_symbols_list,
    read_symvers, read_vmlinux,
)
from .storage import DatabaseWriter, file_digest

ARCH_NAMES = {EM_X86_64: "x86_64", EM_386: "i386", EM_AARCH64: "arm64", EM_PPC64: "powerpc",
              EM_S390: "s390"}
# Below this many modules a worker pool costs more than it saves.
PARALLEL_THRESHOLD = 200
# Inputs up to this size are recorded with their sha256, larger ones with their size only.
HASH_LIMIT = 64 << 20


class BuildReport:
    """What a build did: objects and symbols stored, files skipped (path, reason)."""

    def __init__(self):
        self.objects = 0
        self.symbols = 0
        self.skipped = []
        self.livepatch = []
        self.kernel_release = None
        self.arch = None


class Sources:
    """The inputs of one build: any of vmlinux (ELF, System.map, kallsyms), module trees or
    files, Module.symvers, old Symbols.list files."""

    def __init__(self, vmlinux=None, modules=(), symvers=None, symbols_lists=(),
                 kernel_release=None):
        self.vmlinux, self.modules, self.symvers = vmlinux, list(modules), symvers
        self.symbols_lists, self.kernel_release = list(symbols_lists), kernel_release

    def empty(self):
        return not (self.vmlinux or self.modules or self.symbols_lists)


def load_objects(sources, report, strict=False, warn=None, progress=None, want_listed=False):
    """Every ObjectSymbols of the sources, vmlinux first, then modules in kbuild's order (sorted
    by path in their tree), checking that no object name comes twice."""
    objects = []
    if sources.vmlinux:
        objects.extend(read_vmlinux(sources.vmlinux, want_listed))
    for path in sources.symbols_lists:
        objects.extend(read_symbols_list(path))
    objects.extend(read_modules(sources.modules, report, strict, warn, progress, want_listed))
    seen = {}
    for obj in objects:
        if obj.name in seen:
            raise KlpError(obj.path, f"object '{obj.name}' is also read from {seen[obj.name]}")
        seen[obj.name] = obj.path
    report.arch = next((ARCH_NAMES.get(o.machine) for o in objects if o.machine), None)
    report.kernel_release = sources.kernel_release or _release_from(objects)
    return objects


def read_modules(paths, report, strict=False, warn=None, progress=None, want_listed=False):
    """ObjectSymbols of every non-livepatch module under ``paths``; unreadable ones are skipped
    with a warning (an error with ``strict``)."""
    files = find_module_files(paths)
    results = _map_modules(files, want_listed, progress)
    objects = []
    for (path, _key), (obj, problem) in zip(files, results):
        if problem is not None:
            if strict:
                raise SymdbError(path, problem)
            report.skipped.append((path, problem))
            if warn:
                warn(f"{path}: skipped: {problem}")
        elif obj is None:
            report.livepatch.append(path)
        else:
            objects.append(obj)
    return objects


def _read_one(task):
    path, want_listed = task
    try:
        return read_module(path, want_listed=want_listed), None
    except KlpError as e:
        return None, e.detail
    except (OSError, MemoryError, ValueError) as e:
        return None, str(e)


def _map_modules(files, want_listed, progress):
    tasks = [(path, want_listed) for path, _key in files]
    workers = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count() or 1)
    if len(tasks) < PARALLEL_THRESHOLD or workers < 2:
        results = []
        for done, task in enumerate(tasks, 1):
            results.append(_read_one(task))
            if progress:
                progress(done, len(tasks))
        return results
    import multiprocessing
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(workers) as pool:
        results = []
        for done, result in enumerate(pool.imap(_read_one, tasks, chunksize=32), 1):
            results.append(result)
            if progress and (done % 64 == 0 or done == len(tasks)):
                progress(done, len(tasks))
        return results


def _release_from(objects):
    # vermagic starts with the release the module was built for: "6.1.0-56-amd64 SMP ...".
    for obj in objects:
        if obj.vermagic:
            return obj.vermagic.split()[0]
    return None


def build_database(output, sources, strict=False, warn=None, progress=None):
    """Write a new database at ``output`` from ``sources``; returns a BuildReport."""
    if sources.empty():
        raise KlpError(output, "no inputs: give --vmlinux, --modules or a Symbols.list")
    report = BuildReport()
    objects = load_objects(sources, report, strict, warn, progress)
    _check_not_empty(output, objects)
    writer = DatabaseWriter(output)
    try:
        writer.set_meta(kernel_release=report.kernel_release, arch=report.arch)
        _store(writer, objects, sources, report)
        writer.commit()
    finally:
        writer.abort()
    return report


def add_to_database(database, module_paths, symvers=None, strict=False, warn=None,
                    progress=None):
    """Extend an existing database with more modules (out-of-tree ones built later); a module
    already in the database is an error naming both files."""
    report = BuildReport()
    sources = Sources(modules=module_paths, symvers=symvers)
    objects = load_objects(sources, report, strict, warn, progress)
    _check_not_empty(module_paths[0] if module_paths else database, objects)
    writer = DatabaseWriter(database, base=database)
    try:
        known = writer.object_names()
        for obj in objects:
            if obj.name in known:
                raise KlpError(obj.path, f"module '{obj.name}' is already in {database} "
                                         f"(from {known[obj.name]})")
        _store(writer, objects, sources, report)
        writer.commit()
    finally:
        writer.abort()
    return report


def write_symbols_list(output, sources, strict=False, warn=None, progress=None):
    """Write the old Symbols.list text for ``sources`` (atomically); returns a BuildReport."""
    from ..elf import write_atomically
    report = BuildReport()
    objects = load_objects(sources, report, strict, warn, progress, want_listed=True)
    _check_not_empty(output, objects)
    write_atomically(output, format_symbols_list(objects).encode("utf-8", "surrogateescape"))
    report.objects = len(objects)
    report.symbols = sum(len(o.listed_names or o.rows) for o in objects)
    return report


def _check_not_empty(path, objects):
    if not objects or not any(o.rows for o in objects):
        raise KlpError(path, "no symbols found in the inputs")


def _store(writer, objects, sources, report):
    # Module.symvers says more than __ksymtab_* symbols (the namespace): it wins where both speak.
    known = writer.exports_known()
    if sources.symvers:
        rows = [(name, obj, export_type, namespace)
                for name, entries in read_symvers(sources.symvers).items()
                for obj, export_type, namespace in entries if (name, obj) not in known]
        writer.add_exports(rows)
        known.update((name, obj) for name, obj, _t, _n in rows)
    for obj in objects:
        writer.add_object(obj, known)
        report.objects += 1
        report.symbols += len(obj.rows)
    _record_inputs(writer, sources, objects)


def _record_inputs(writer, sources, objects):
    for kind, path in (("vmlinux", sources.vmlinux), ("symvers", sources.symvers)):
        if path:
            writer.add_input(kind, path, 1, os.path.getsize(path), _digest(path))
    for path in sources.symbols_lists:
        writer.add_input("symbols-list", path, 1, os.path.getsize(path), _digest(path))
    for path in sources.modules:
        mine = [o for o in objects if o.kind == "module" and _under(o.path, path)]
        writer.add_input("modules", path, len(mine), sum(o.input_size or 0 for o in mine))


def _digest(path):
    # An unstripped vmlinux is over 600 MB: its size identifies it well enough, hashing it would
    # cost more than the whole build.
    return file_digest(path) if os.path.getsize(path) <= HASH_LIMIT else None


def _under(file_path, given):
    given = os.path.abspath(given)
    return os.path.abspath(file_path) == given or \
        os.path.abspath(file_path).startswith(given.rstrip("/") + "/")
