"""Build (or extend) a symbol database from its sources, or write the old Symbols.list text.

Modules are read in chunks: each chunk's symbols go into a scratch SQLite file, which the main
process then copies into the database with one INSERT ... SELECT (C speed). With many modules the
chunks are read by a pool of worker processes while the main process reads vmlinux and merges
finished chunks, so a distribution's 4,000 modules cost about what the slowest core can do.
"""

import os
import sqlite3
import sys
import tempfile

from ..elf.constants import EM_386, EM_AARCH64, EM_PPC64, EM_S390, EM_X86_64
from ..errors import KlpError
from ..kernel.generations import rules_for_release
from .sources import (
    SymdbError, find_module_files, format_symbols_list, read_head, read_module,
    read_symbols_list, read_symvers, read_vmlinux, vmlinux_release,
)
from .storage import (
    DatabaseWriter, PartWriter, StorageError, file_digest, is_database, open_database,
)

ARCH_NAMES = {EM_X86_64: "x86_64", EM_386: "i386", EM_AARCH64: "arm64", EM_PPC64: "powerpc",
              EM_S390: "s390"}
# Below this many modules a worker pool costs more than it saves.
PARALLEL_THRESHOLD = 200
# Modules per scratch database: small enough for a smooth progress bar, large enough that the
# per-chunk cost (a file, an ATTACH) stays negligible.
CHUNK = 128
# Inputs up to this size are recorded with their sha256, larger ones with their size only.
HASH_LIMIT = 64 << 20


class BuildReport:
    """What a build did: objects and symbols stored, files skipped (path, reason), livepatch
    modules left out, and what was learnt about the kernel."""

    def __init__(self):
        self.objects = 0
        self.symbols = 0
        self.skipped = []
        self.livepatch = []
        self.kernel_release = None
        self.arch = None
        self.module_bytes = {}
        #: KernelRules the vmlinux input was read with (None without one)
        self.rules = None


class Sources:
    """The inputs of one build: any of vmlinux (ELF, System.map or kallsyms), module trees or
    files, Module.symvers, old Symbols.list files."""

    def __init__(self, vmlinux=None, modules=(), symvers=None, symbols_lists=(),
                 kernel_release=None):
        self.vmlinux, self.modules, self.symvers = vmlinux, list(modules), symvers
        self.symbols_lists, self.kernel_release = list(symbols_lists), kernel_release

    def empty(self):
        return not (self.vmlinux or self.modules or self.symbols_lists)


# -- database builds -----------------------------------------------------------------------------

def build_database(output, sources, strict=False, warn=None, progress=None):
    """Write a new database at ``output`` from ``sources``; returns a BuildReport."""
    if sources.empty():
        raise KlpError(output, "no inputs: give --vmlinux, --modules or a Symbols.list")
    writer = DatabaseWriter(output)
    try:
        report = _fill(writer, sources, {}, strict, warn, progress)
        _check_not_empty(output, report)
        writer.set_meta(kernel_release=report.kernel_release, arch=report.arch,
                        kernel_generation=report.rules.generation.name if report.rules else None)
        _record_inputs(writer, sources, report)
        writer.commit()
    except sqlite3.Error as e:  # a full disk, say: the temporary file goes, nothing is left
        raise StorageError(output, f"cannot write: {e}") from None
    finally:
        writer.abort()
    return report


def add_to_database(database, module_paths, symvers=None, strict=False, warn=None,
                    progress=None):
    """Extend an existing database with more modules (out-of-tree ones built later); a module
    already in the database is an error naming both files."""
    _check_is_database(database)
    writer = DatabaseWriter(database, base=database)
    try:
        known = writer.object_names()
        report = _fill(writer, Sources(modules=module_paths, symvers=symvers), known, strict,
                       warn, progress, existing=database)
        _check_not_empty(module_paths[0] if module_paths else database, report)
        _record_inputs(writer, Sources(modules=module_paths, symvers=symvers), report)
        writer.commit()
    except sqlite3.Error as e:
        raise StorageError(database, f"cannot write: {e}") from None
    finally:
        writer.abort()
    return report


def _check_is_database(path):
    if not is_database(read_head(path)):
        raise SymdbError(path, "not a klp-convert symbol database")
    open_database(path).close()  # ours, and a schema we write


def _fill(writer, sources, known, strict, warn, progress, existing=None):
    """Store every object of ``sources`` (vmlinux first, modules in kbuild's order) and the
    exports; ``known``: {object name: path} already in the database."""
    report = BuildReport()
    seen = dict(known)
    symvers = read_symvers(sources.symvers) if sources.symvers else {}
    # Module.symvers says more than __ksymtab_* symbols (the namespace): it wins where both do.
    exported = writer.exports_known()
    new = [(name, obj, export_type, namespace) for name, entries in symvers.items()
           for obj, export_type, namespace in entries if (name, obj) not in exported]
    writer.add_exports(new)
    exported.update((name, obj) for name, obj, _type, _namespace in new)
    writer.create_export_index()
    files = find_module_files(sources.modules)
    first_module_id = writer.next_object
    writer.next_object += len(files)  # vmlinux and Symbols.list objects are numbered after
    with _ModuleReader(files, first_module_id, progress) as reader:
        first = []
        if sources.vmlinux:
            report.rules = vmlinux_rules(sources, files)
            if report.rules.release and report.rules.note() and warn:
                warn(f"{sources.vmlinux}: {report.rules.note()}")
            first.extend(read_vmlinux(sources.vmlinux, rules=report.rules.generation.kallsyms))
        for path in sources.symbols_lists:
            first.extend(read_symbols_list(path))
        for obj in first:
            _claim(seen, obj.name, obj.path, existing)
            writer.add_object(obj, exported)
            report.objects += 1
            report.symbols += len(obj.rows)
            _learn(report, obj.machine, obj.vermagic)
        for part, results in reader.parts():
            for path, outcome in results:
                _account(report, seen, path, outcome, strict, warn, existing)
            writer.merge(part)
    report.kernel_release = sources.kernel_release or report.kernel_release
    return report


def vmlinux_rules(sources, module_files=()):
    """The kernel generation whose mksysmap/kallsyms rules read the vmlinux input: the release
    given with --kernel-release, else the one the input names, else the first module's
    vermagic (kernel/generations.py)."""
    if sources.kernel_release:
        return rules_for_release(sources.kernel_release, "--kernel-release")
    release = vmlinux_release(sources.vmlinux)
    if release:
        return rules_for_release(release, "the vmlinux input")
    for path, _key in module_files[:8]:  # the first readable one tells
        try:
            obj = read_module(path)
        except KlpError:
            continue
        if obj is not None and obj.vermagic:
            return rules_for_release(obj.vermagic.split()[0], "the modules' vermagic")
    return rules_for_release(None)


def _claim(seen, name, path, existing):
    if name in seen:
        where = f"{existing} (from {seen[name]})" if existing and seen[name] else seen[name]
        raise KlpError(path, f"object '{name}' is already in {where}")
    seen[name] = path


def _account(report, seen, path, outcome, strict, warn, existing):
    kind = outcome[0]
    if kind == "skipped":
        if strict:
            raise SymdbError(path, outcome[1])
        report.skipped.append((path, outcome[1]))
        if warn:
            warn(f"{path}: skipped: {outcome[1]}")
    elif kind == "livepatch":
        report.livepatch.append(path)
    else:
        _kind, name, symbols, size, machine, vermagic = outcome
        _claim(seen, name, path, existing)
        report.objects += 1
        report.symbols += symbols
        report.module_bytes[path] = size
        _learn(report, machine, vermagic)


def _learn(report, machine, vermagic):
    if report.arch is None and machine:
        report.arch = ARCH_NAMES.get(machine)
    # vermagic starts with the release the module was built for: "6.1.0-56-amd64 SMP ...".
    if report.kernel_release is None and vermagic:
        report.kernel_release = vermagic.split()[0]


class _ModuleReader:
    """Reads module files chunk by chunk into scratch databases, in a worker pool when there
    are many; parts() yields (scratch path, [(module path, outcome)]) in file order."""

    def __init__(self, files, first_id, progress):
        self.files, self.first_id, self.progress = files, first_id, progress
        self.tmpdir = tempfile.TemporaryDirectory(prefix="klp-convert-symdb.")
        self.pool = None

    def __enter__(self):
        tasks = []
        for start in range(0, len(self.files), CHUNK):
            chunk = [(path, self.first_id + start + i)
                     for i, (path, _key) in enumerate(self.files[start:start + CHUNK])]
            tasks.append((os.path.join(self.tmpdir.name, f"part{start}.db"), chunk))
        self.tasks = tasks
        workers = _worker_count()
        if len(self.files) >= PARALLEL_THRESHOLD and workers > 1:
            import multiprocessing
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            self.pool = multiprocessing.get_context(method).Pool(workers)
            self.results = self.pool.imap(_read_chunk, tasks)  # starts working right away
        else:
            self.results = map(_read_chunk, tasks)
        return self

    def parts(self):
        done = 0
        for (part, chunk), results in zip(self.tasks, self.results):
            done += len(chunk)
            if self.progress:
                self.progress(done, len(self.files))
            yield part, results
            os.unlink(part)

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        self.tmpdir.cleanup()


def _worker_count():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(4, cores or 1)


def _read_chunk(task):
    """Read a chunk of modules into a scratch database; returns [(path, outcome)] where outcome
    is ('module', name, symbols, bytes, machine, vermagic), ('livepatch',) or ('skipped', why).
    """
    part, chunk = task
    writer = PartWriter(part)
    results = []
    try:
        for path, object_id in chunk:
            try:
                obj = read_module(path)
            except KlpError as e:
                results.append((path, ("skipped", e.detail)))
                continue
            except (OSError, MemoryError, ValueError) as e:
                results.append((path, ("skipped", str(e))))
                continue
            if obj is None:
                results.append((path, ("livepatch",)))
                continue
            writer.add_object(object_id, obj)
            results.append((path, ("module", obj.name, len(obj.rows), obj.input_size,
                                   obj.machine, obj.vermagic)))
    finally:
        writer.close()
    return results


def _check_not_empty(path, report):
    if not report.symbols:
        raise KlpError(path, "no symbols found in the inputs")


def _record_inputs(writer, sources, report):
    for kind, path in (("vmlinux", sources.vmlinux), ("symvers", sources.symvers)):
        if path:
            writer.add_input(kind, path, 1, os.path.getsize(path), _digest(path))
    for path in sources.symbols_lists:
        writer.add_input("symbols-list", path, 1, os.path.getsize(path), _digest(path))
    for given in sources.modules:
        mine = [size for path, size in report.module_bytes.items() if _under(path, given)]
        writer.add_input("modules", given, len(mine), sum(mine))


def _digest(path):
    # An unstripped vmlinux is over 600 MB: its size identifies it well enough, hashing it would
    # cost more than the whole build.
    return file_digest(path) if os.path.getsize(path) <= HASH_LIMIT else None


def _under(file_path, given):
    file_path, given = os.path.abspath(file_path), os.path.abspath(given)
    return file_path == given or file_path.startswith(given.rstrip("/") + "/")


# -- the old text format ---------------------------------------------------------------------------

def write_symbols_list(output, sources, strict=False, warn=None, progress=None):
    """Write the old Symbols.list text for ``sources`` (atomically): vmlinux, then every
    non-livepatch module in kbuild's order (sorted by path in its tree)."""
    from ..elf import write_atomically
    if sources.empty():
        raise KlpError(output, "no inputs: give --vmlinux or --modules")
    report = BuildReport()
    objects = []
    if sources.vmlinux:
        report.rules = vmlinux_rules(sources, find_module_files(sources.modules))
        objects = read_vmlinux(sources.vmlinux, want_listed=True,
                               rules=report.rules.generation.kallsyms)
    for path in sources.symbols_lists:
        objects.extend(read_symbols_list(path))
    seen = {o.name: o.path for o in objects}
    files = find_module_files(sources.modules)
    for done, (path, _key) in enumerate(files, 1):
        try:
            obj = read_module(path, want_listed=True)
            outcome = ("livepatch",) if obj is None else \
                ("module", obj.name, len(obj.listed_names), obj.input_size, obj.machine,
                 obj.vermagic)
        except KlpError as e:
            obj, outcome = None, ("skipped", e.detail)
        _account(report, seen, path, outcome, strict, warn, None)
        if obj is not None:
            objects.append(obj)
        if progress:
            progress(done, len(files))
    report.objects = len(objects)
    report.symbols = sum(len(o.listed_names if o.listed_names is not None else o.rows)
                         for o in objects)
    _check_not_empty(output, report)
    write_atomically(output, format_symbols_list(objects).encode("utf-8", "surrogateescape"))
    return report
