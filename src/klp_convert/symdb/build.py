"""Build (or extend) a symbol database from its sources, or write the old Symbols.list text.

Modules are read in chunks. With many modules a pool of worker processes reads the chunks (the
decompression and the symbol tables: most of the work) and sends each module's checked symbol
table back as bytes, with the chunk's name index entries (symtabs.py); the main process stores
them as they come, after vmlinux, so a distribution's 4,000 modules cost about what the cores
can do together. No scratch file is written.
"""

import gc
import os
import signal
import sys
from collections import deque
from contextlib import contextmanager

from ..elf.constants import EM_386, EM_AARCH64, EM_PPC64, EM_S390, EM_X86_64
from ..errors import KlpError
from ..files import refuse_unwritable_output, same_file
from ..kernel.generations import rules_for_release
from .sources import (
    SYMBOLS_LIST_HEADER, SymdbError, find_module_files, read_head, read_module,
    read_symbols_list, read_symvers, read_vmlinux, symbols_list_block, vmlinux_release,
)
from .sqlite import sqlite3
from .storage import (
    DatabaseWriter, StorageError, file_digest, is_database, open_database, read_rows,
)
from .symtabs import MAX_OBJECT_ID, chunk_index, extract_module

ARCH_NAMES = {EM_X86_64: "x86_64", EM_386: "i386", EM_AARCH64: "arm64", EM_PPC64: "powerpc",
              EM_S390: "s390"}
# Below this many modules a worker pool costs more than it saves.
PARALLEL_THRESHOLD = 200
# Modules a worker reads per task: small enough for a smooth progress bar, large enough that
# the per-task cost (a round trip to the pool) stays negligible.
CHUNK = 128
# Chunks read ahead per worker: what the workers sent back waits in the main process's memory
# until it is stored (a whole tree's symbols as Python objects would take hundreds of MB).
AHEAD = 2
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
        #: (path, release) of the modules built for another kernel than the database's
        self.other_kernel = []


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
    files = find_module_files(sources.modules)
    refuse_input_as_output(output, sources, files)
    with _no_cycle_collection(), _Written(output) as written:
        with _ModuleReader(files, 1, progress, output) as reader:
            writer = written.open()
            report = _fill(writer, reader, sources, {}, strict, warn)
            _check_not_empty(output, report)
            writer.set_meta(kernel_release=report.kernel_release, arch=report.arch,
                            kernel_generation=report.rules.generation.name if report.rules
                            else None)
            _record_inputs(writer, sources, report)
        writer.commit()
    return report


def add_to_database(database, module_paths, symvers=None, strict=False, warn=None,
                    progress=None):
    """Extend an existing database with more modules (out-of-tree ones built later); a module
    already in the database is an error naming both files."""
    first_id = _check_is_database(database)
    sources = Sources(modules=module_paths, symvers=symvers)
    files = find_module_files(module_paths)
    refuse_input_as_output(database, sources, files)
    with _no_cycle_collection(), _Written(database) as written:
        with _ModuleReader(files, first_id, progress, database) as reader:
            writer = written.open(base=database)
            known = writer.object_names()
            report = _fill(writer, reader, sources, known, strict, warn, existing=database,
                           release=writer.meta_value("kernel_release"))
            _check_not_empty(module_paths[0] if module_paths else database, report)
            _record_inputs(writer, sources, report)
        writer.commit()
    return report


class _Written:
    """The database a build writes, committed (renamed into place) by the build only once its
    workers are gone: a build stopped before that (an error, SIGINT, SIGTERM) leaves nothing,
    and nothing of the build runs after its output appears. An SQLite error is a StorageError
    naming the output."""

    def __init__(self, output):
        self.output, self.writer = output, None

    def __enter__(self):
        return self

    def open(self, base=None):
        """The DatabaseWriter of the output (extending a copy of ``base``), kept here before it
        creates its file: a SIGINT or SIGTERM landing between the file's creation and the
        writer's recording left the file behind."""
        self.writer = DatabaseWriter(self.output, base=base)
        return self.writer.start()

    def __exit__(self, exc_type, exc, _tb):
        if self.writer is not None:
            self.writer.abort()  # nothing once committed
        if isinstance(exc, sqlite3.Error):  # a full disk, say: the temporary file is gone
            raise StorageError(self.output, f"cannot write: {exc}") from None
        return False


@contextmanager
def _no_cycle_collection():
    """The cyclic garbage collector off for a build (its workers fork with it off): a build
    makes millions of tuples and lists that hold no cycles, which the collector walked again
    and again (measured: a sixth of the instructions of making one big module's rows, 1% of
    a whole compressed tree's build)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def refuse_input_as_output(output, sources, module_files=None):
    """An output that is one of the inputs (a System.map, a module, Module.symvers) would be
    destroyed by the build that reads it: refused before anything is read or written.
    ``module_files``: find_module_files(sources.modules), if the caller has it already.
    An output that cannot be a file (a directory) is refused too."""
    refuse_unwritable_output(output, KlpError)
    given = [sources.vmlinux, sources.symvers, *sources.symbols_lists, *sources.modules]
    given = [path for path in given if path]
    if not os.path.exists(output):
        return
    if any(os.path.isdir(path) for path in sources.modules):
        if module_files is None:
            module_files = find_module_files(sources.modules)
        given += [path for path, _key in module_files]
    for path in given:
        if same_file(output, path):
            raise KlpError(output, f"the output is an input ({path}): give another -o")


def _check_is_database(path):
    """Refuse anything but a database of ours; returns the first free object id."""
    if not is_database(read_head(path)):
        raise SymdbError(path, "not a klp-convert symbol database")
    db = open_database(path)  # ours, and a schema we write
    try:
        return 1 + read_rows(db, path, "SELECT COALESCE(MAX(id), 0) FROM objects")[0][0]
    finally:
        db.close()


def _fill(writer, reader, sources, known, strict, warn, existing=None, release=None):
    """Store every object of ``sources`` (vmlinux and Symbols.list objects first, then the
    modules ``reader`` reads, in kbuild's order) and the exports; ``known``: {object name:
    path} already in the database; ``release``: the kernel release of the database extended."""
    report = BuildReport()
    report.kernel_release = release
    seen = dict(known)
    symvers = read_symvers(sources.symvers) if sources.symvers else {}
    # Module.symvers says more than __ksymtab_* symbols (the namespace): it wins where both do.
    exported = writer.exports_known()
    new = [(name, obj, export_type, namespace) for name, entries in symvers.items()
           for obj, export_type, namespace in entries if (name, obj) not in exported]
    writer.add_exports(new)
    exported.update((name, obj) for name, obj, _type, _namespace in new)
    del symvers, new
    # The reader numbers the modules from its first id; vmlinux and Symbols.list objects after.
    writer.next_object = reader.first_id + len(reader.files)
    # vmlinux first, while the workers (started when the reader was entered) read the first
    # chunks: its rows are the most this process holds at once, and are gone before the
    # modules' symbol tables and name index come (what the workers send meanwhile waits in
    # at most AHEAD chunks per worker).
    _store_text_objects(writer, reader, sources, report, seen, exported, warn, existing)
    # A module built for another kernel than the database's is named (it would not load).
    if report.kernel_release is None:
        report.kernel_release = _stated_release(sources, report.rules)
    for results, index in reader.chunks():
        for (path, _object_id), outcome in results:
            _account(report, seen, path, outcome, strict, warn, existing)
        writer.add_modules([(outcome[-1], object_id) for (_path, object_id), outcome in results
                            if outcome[0] == "module"], index, exported)
    _warn_other_kernels(report, warn)
    return report


def _store_text_objects(writer, reader, sources, report, seen, exported, warn, existing):
    """Read and store vmlinux, then the objects of old Symbols.list files, one input at a time."""
    def store(objects):
        for obj in objects:
            _claim(seen, obj.name, obj.path, existing)
            writer.add_object(obj, exported)
            report.objects += 1
            report.symbols += len(obj.rows)
            _learn(report, obj.machine, obj.vermagic)

    if sources.vmlinux:
        report.rules = vmlinux_rules(sources, reader.files)
        store(read_vmlinux(sources.vmlinux, rules=report.rules.generation.kallsyms))
        if report.rules.note() and warn:  # a release unknown, or not a known generation
            hint = "" if report.rules.release else " (--kernel-release names the release)"
            warn(f"{sources.vmlinux}: {report.rules.note()}{hint}")
    for path in sources.symbols_lists:
        store(read_symbols_list(path))


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


def _stated_release(sources, rules):
    """The kernel release an output describes before its modules are read: the one given
    (--kernel-release), else the one vmlinux_rules() found; None: the first module's vermagic
    will say (_learn)."""
    return sources.kernel_release or (rules.release if rules else None)


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
        _kind, name, symbols, size, machine, vermagic, _obj = outcome
        _claim(seen, name, path, existing)
        report.objects += 1
        report.symbols += symbols
        report.module_bytes[path] = size
        _learn(report, machine, vermagic, path)


def _learn(report, machine, vermagic, path=None):
    if report.arch is None and machine:
        report.arch = ARCH_NAMES.get(machine)
    # vermagic starts with the release the module was built for: "6.1.0-56-amd64 SMP ...".
    release = next(iter(vermagic.split()), None) if vermagic else None
    if report.kernel_release is None:
        report.kernel_release = release
    elif release and release != report.kernel_release and path is not None:
        report.other_kernel.append((path, release))


# Modules of another kernel named one line each up to this many, then in one line.
OTHER_KERNEL_LINES = 3


def _warn_other_kernels(report, warn, output="the database"):
    """Say which modules were built for another kernel than the one ``output`` describes:
    their symbols and positions are not that kernel's (an out-of-tree module built against
    other headers, or a tree holding two kernels' modules)."""
    others, release = report.other_kernel, report.kernel_release
    if not others or not warn:
        return
    if len(others) <= OTHER_KERNEL_LINES:
        for path, other in others:
            warn(f"{path}: built for {other}, {output} is for {release}: its symbols are not "
                 f"that kernel's")
        return
    path, other = others[0]
    warn(f"{len(others)} modules are built for another kernel than {release}, which {output} "
         f"is for (the first: {path}, built for {other}): their symbols are not that kernel's")


class _ModuleReader:
    """Reads module files chunk by chunk, in worker processes when there are many; chunks()
    yields ([((module path, object id), outcome)], name index entries) per chunk, in file
    order (_read_chunk).

    Enter it before opening any database: the workers are forked then, and an SQLite
    connection must never be carried across a fork. The workers are a ProcessPoolExecutor,
    not a multiprocessing.Pool: stopping a Pool while a worker is sending a large result
    (a chunk's symbol tables, a few MB) deadlocks (its terminate() waits for a pipe lock that
    worker holds while nobody reads), whereas the executor keeps reading results until its
    workers have finished the chunk they hold and exit. Leaving normally or after a failure
    is the same: chunks not started are cancelled, the workers end, nothing is left running."""

    def __init__(self, files, first_id, progress, output):
        if first_id + len(files) - 1 > MAX_OBJECT_ID:
            raise KlpError(output, f"a symbol database holds at most {MAX_OBJECT_ID} modules; "
                                   f"this one would hold {first_id + len(files) - 1}")
        self.files, self.first_id, self.progress = files, first_id, progress
        self.executor = None

    def __enter__(self):
        numbered = [(path, self.first_id + i) for i, (path, _key) in enumerate(self.files)]
        self.tasks = [numbered[start:start + CHUNK] for start in range(0, len(numbered), CHUNK)]
        self.pending = deque()  # futures of the chunks handed to the workers, in order
        workers = _worker_count()
        if len(self.files) >= PARALLEL_THRESHOLD and workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            method = _start_method()
            # SIGINT is blocked while the workers start, so that a Ctrl-C in that moment
            # reaches a worker only once it ignores it (_worker_signals); the main process
            # gets it when it unblocks.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                self.executor = ProcessPoolExecutor(
                    workers, mp_context=multiprocessing.get_context(method),
                    initializer=_worker_signals)
                for chunk in self.tasks[:AHEAD * workers]:  # forks them; they start at once
                    self.pending.append(self.executor.submit(_read_chunk, chunk))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return self

    def chunks(self):
        done = 0
        for number, chunk in enumerate(self.tasks):
            if self.executor is None:
                results, index = _read_chunk(chunk)
            else:
                results, index = _chunk_result(self.pending.popleft())
                ahead = number + len(self.pending) + 1
                if ahead < len(self.tasks):
                    self.pending.append(self.executor.submit(_read_chunk, self.tasks[ahead]))
            done += len(chunk)
            if self.progress:
                self.progress(done, len(self.files))
            yield list(zip(chunk, results)), index

    def __exit__(self, exc_type, *exc):
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


def _start_method():
    """How the workers start: forked (at once, sharing what this process has read) from the
    command's process, which has one thread; from a fork server where the caller runs other
    threads (a library user, a test runner: a fork copies no thread, so a lock one of them
    held would stay locked in the worker; Python 3.12 and later warn of it); spawned where
    there is no fork."""
    if not sys.platform.startswith("linux"):
        return "spawn"
    try:  # the kernel's count: threads Python's threading module never saw count too
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = 2  # not knowing: the start method that is safe either way
    return "fork" if threads == 1 else "forkserver"


def _chunk_result(future):
    """A chunk's outcomes; a worker that died (killed, out of memory) is an error, not a hang."""
    from concurrent.futures.process import BrokenProcessPool
    try:
        return future.result()
    except BrokenProcessPool:
        raise KlpError(None, "a worker process reading the modules died (killed, or out of "
                             "memory?)") from None


def _worker_signals():
    """Workers leave SIGINT (a Ctrl-C reaches the whole process group) to the main process,
    which stops them, and die quietly on the SIGTERM Pool.terminate() sends after a failure:
    no traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _worker_count():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(4, cores or 1)


def _read_chunk(chunk):
    """([outcome of each module of a chunk [(path, object id)]], the name index entries of
    its modules (symtabs.chunk_index)); an outcome is ('module', name, symbols, bytes,
    machine, vermagic, StoredModule), ('livepatch',) or ('skipped', why)."""
    outcomes = [_read_one(path, object_id) for path, object_id in chunk]
    return outcomes, chunk_index(outcome[-1] for outcome in outcomes if outcome[0] == "module")


def _read_one(path, object_id):
    """One module's outcome (see _read_chunk). Whatever goes wrong with one module skips that
    module only: a tree build never ends on one bad file (--strict turns the skip into an
    error)."""
    try:
        module = extract_module(path, object_id)
        if module is None:
            return ("livepatch",)
        return ("module", module.name, module.symbols, module.input_size, module.machine,
                module.vermagic, module)
    except Exception as e:  # noqa: BLE001 -- see _skip_reason
        return ("skipped", _skip_reason(e))


def _skip_reason(error):
    """Why a module is skipped: our error's message; for anything else (a defect met on odd
    input, or no memory left) its type and text, and the build goes on."""
    if isinstance(error, KlpError):
        return error.detail
    if isinstance(error, MemoryError):
        return "out of memory while reading it"
    return f"unreadable ({type(error).__name__}: {error})"


def _check_not_empty(path, report):
    if not report.symbols:
        raise KlpError(path, "no symbols found in the inputs")


def _record_inputs(writer, sources, report):
    for kind, path in (("vmlinux", sources.vmlinux), ("symvers", sources.symvers)):
        if path:
            writer.add_input(kind, path, 1, *_size_and_digest(path))
    for path in sources.symbols_lists:
        writer.add_input("symbols-list", path, 1, *_size_and_digest(path))
    for given in sources.modules:
        mine = [size for path, size in report.module_bytes.items() if _under(path, given)]
        writer.add_input("modules", given, len(mine), sum(mine))


def _size_and_digest(path):
    """(size, sha256 or None) of an input. An unstripped vmlinux is over 600 MB: its size
    identifies it well enough, hashing it would cost more than the whole build."""
    size = os.path.getsize(path)
    if size > HASH_LIMIT:
        return size, None
    digest, size = file_digest(path)
    return size, digest


def _under(file_path, given):
    file_path, given = os.path.abspath(file_path), os.path.abspath(given)
    return file_path == given or file_path.startswith(given.rstrip("/") + "/")


# -- the old text format ---------------------------------------------------------------------------

def write_symbols_list(output, sources, strict=False, warn=None, progress=None):
    """Write the old Symbols.list text for ``sources`` (atomically): vmlinux, then every
    non-livepatch module in kbuild's order (sorted by path in its tree). Each object is
    written as soon as it is read, so memory holds one module at a time, not the kernel."""
    from ..elf import write_atomically
    if sources.empty():
        raise KlpError(output, "no inputs: give --vmlinux or --modules")
    refuse_input_as_output(output, sources)
    report = BuildReport()
    with _no_cycle_collection():
        write_atomically(output, _symbols_list_chunks(output, sources, report, strict, warn,
                                                      progress))
    return report


def _symbols_list_chunks(output, sources, report, strict, warn, progress):
    """The encoded Symbols.list, object by object, counting into ``report``; raises before
    the last chunk when there is nothing to list (so no file is left)."""
    yield (SYMBOLS_LIST_HEADER + "\n").encode()
    files = find_module_files(sources.modules)
    objects = []
    if sources.vmlinux:
        report.rules = vmlinux_rules(sources, files)
        objects = read_vmlinux(sources.vmlinux, want_listed=True,
                               rules=report.rules.generation.kallsyms)
    report.kernel_release = _stated_release(sources, report.rules)
    for path in sources.symbols_lists:
        objects.extend(read_symbols_list(path))
    seen = {o.name: o.path for o in objects}
    for obj in objects:
        yield _listed_block(obj, report)
    del objects
    for done, (path, _key) in enumerate(files, 1):
        try:
            obj = read_module(path, want_listed=True)
            outcome = ("livepatch",) if obj is None else \
                ("module", obj.name, len(obj.listed_names), obj.input_size, obj.machine,
                 obj.vermagic, None)
        except Exception as e:  # noqa: BLE001 -- see _skip_reason
            obj, outcome = None, ("skipped", _skip_reason(e))
        _account(report, seen, path, outcome, strict, warn, None)
        if obj is not None:
            yield _listed_block(obj, report, counted=True)
        if progress:
            progress(done, len(files))
    _check_not_empty(output, report)
    _warn_other_kernels(report, warn, "the Symbols.list")


def _listed_block(obj, report, counted=False):
    if not counted:  # _account counted the modules already
        report.objects += 1
        report.symbols += len(obj.listed_names if obj.listed_names is not None else obj.rows)
    return symbols_list_block(obj).encode("utf-8", "surrogateescape")
