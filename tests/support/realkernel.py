"""The real-kernel suite's host side: Debian's kernel (ABI found at run time), its kbuild tree,
and building the suite's scenarios (target modules with plain kbuild, livepatches with
`klp-convert kbuild`) into directories the guest runs (klp_convert.guest)."""

import concurrent.futures
import mmap
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from klp_convert.elf.reader import scan_symbols
from support.kernels import KERNELS

STT_FILE = 4
SHN_UNDEF = 0

SCENARIOS = Path(__file__).resolve().parent.parent / "realkernel" / "scenarios"
REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"  # klp-convert.h
KLP_CONVERT = Path(sys.executable).parent / "klp-convert"  # the console script pip installed

# scenario name -> {step: seconds}, printed at the end of the run (tests/realkernel/conftest.py).
TIMES = {}


def require_real_kernel_host():
    """Skip on a machine that cannot run the suite (fail in CI, where it must run)."""
    problem = None
    if platform.machine() != "x86_64":
        problem = "the real-kernel suite needs an x86-64 host"
    elif not shutil.which("apt-cache"):
        problem = "the real-kernel suite needs Debian (apt)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def target_kernel(name):
    """Install and download (once) what the suite needs for kernel ``name``
    (support/kernels.py) and return it."""
    require_real_kernel_host()
    return KERNELS[name].prepare()


_PREPARING = {}


def prepared_kernel(name, names):
    """Kernel ``name`` prepared, the others of ``names`` being prepared meanwhile in the
    background, two at a time (one per process when pytest-xdist runs several, each of which
    sees every kernel: the caches' locks make the second one wait for the first): their
    downloads and chroots (network and disk) overlap the current kernel's builds and boots
    (CPU) instead of following them."""
    require_real_kernel_host()
    if not _PREPARING:
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1 if worker else 2,
                                                     thread_name_prefix="prepare")
        # The kernel wanted now first; odd workers walk the others from the list's end, so two
        # workers prepare two kernels at once.
        others = [n for n in names if n != name]
        if worker and int(worker.lstrip("gw") or 0) % 2:
            others.reverse()
        for other in [name, *others]:
            _PREPARING[other] = pool.submit(KERNELS[other].prepare)
        pool.shutdown(wait=False)
    return _PREPARING[name].result()


def timed(scenario, step):
    """Context manager adding the time of ``step`` to TIMES[scenario]."""
    return _Timer(scenario, step)


class _Timer:
    def __init__(self, scenario, step):
        self.scenario, self.step = scenario, step

    def __enter__(self):
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        steps = TIMES.setdefault(self.scenario, {})
        steps[self.step] = steps.get(self.step, 0.0) + time.monotonic() - self.started
        return False


class BuildFailed(Exception):
    """A scenario's modules did not build; the scenario's test reports it."""

    def __init__(self, message, returncode=None, stderr=""):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


def run_logged(command, cwd=None, kernel=None):
    """Run ``command`` (in ``kernel``'s build userland when given); raise BuildFailed with its
    output when it fails."""
    if kernel is not None:
        proc = kernel.run(command, cwd=cwd)
    else:
        proc = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True,
                              text=True)
    if proc.returncode != 0:
        raise BuildFailed(f"$ {' '.join(map(str, command))}\n(exit {proc.returncode})\n"
                          f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}",
                          proc.returncode, proc.stderr)
    return proc


def make_modules(kernel, directory):
    """Plain kbuild of an out-of-tree module directory (the scenario's target modules)."""
    return run_logged(["make", "-C", kernel.headers, *kernel.make_args, f"M={directory}",
                       "modules"], kernel=kernel)


def klp_convert(*args):
    """Run the installed klp-convert command line (as a user would)."""
    return run_logged([sys.executable, "-m", "klp_convert", *args])


def refused_build(kernel, source, symbol_databases, define):
    """Build a scenario's livepatch with ``-D<define>`` (its variant the converter must refuse);
    returns `klp-convert kbuild`'s (exit status, stderr)."""
    try:
        build_livepatch(kernel, source, symbol_databases, {define: None})
    except BuildFailed as e:
        return e.returncode, e.stderr
    return 0, ""


def kernel_symbol_database(kernel, path):
    """Build the kernel's symbol database with our own tool: the unstripped vmlinux of the
    -dbg package (kallsyms order and STT_FILE source files), every module of the image, and
    Module.symvers (exports)."""
    klp_convert("symbols", "--vmlinux", kernel.vmlinux, "--modules", kernel.modules,
                "--symvers", kernel.symvers, "-o", path)
    return path


def scenario_cflags(kernel, defines=None):
    """KCFLAGS= for a scenario's livepatch: the kernel's scenario names (-D, support/kernels.py
    ScenarioSymbols), what its build userland needs (TargetKernel.defines) and ``defines``
    ({name: value or None}); kbuild's shell reads it."""
    values = {**kernel.scenario_symbols.defines(), **kernel.defines, **(defines or {})}
    return "KCFLAGS=" + " ".join(f"-D{name}" if value is None else
                                 f"-D{name}={shlex.quote(value)}"
                                 for name, value in values.items())


def build_livepatch(kernel, source, symbol_databases, defines=None):
    """Build a scenario the way a user would: its target modules (``target/``, if any) with
    kbuild and a database of their symbols, then its livepatch (``livepatch/``) with
    `klp-convert kbuild` against the kernel's database and the targets', in the kernel's build
    userland (its python: the one of the machine, or of the chroot with the repository's src
    on PYTHONPATH). ``defines``: more -D values. Returns the finished `klp-convert kbuild`
    process; BuildFailed when a step fails."""
    databases = list(symbol_databases)
    targets = source / "target"
    if targets.is_dir():
        make_modules(kernel, targets)
        databases.append(source / "target.symdb")
        klp_convert("symbols", "--modules", targets, "-o", databases[-1])
    return run_logged(kbuild_command(kernel, *(f"--symbols={db}" for db in databases),
                                     *kernel.make_args, f"M={source / 'livepatch'}",
                                     scenario_cflags(kernel, defines)), kernel=kernel)


def kbuild_command(kernel, *args):
    """`klp-convert kbuild -C <the kernel's headers> ARGS` as the kernel's build userland runs
    it (kernel.run): its python, the machine's or the chroot's."""
    return [kernel.python or sys.executable, "-m", "klp_convert", "kbuild", "-C",
            kernel.headers, *args]


def symbol_definitions(path, name):
    """[(source file, value)] of every defined symbol ``name`` of an ELF file (vmlinux or a
    module), in symbol-table order, the file being the STT_FILE entry its block follows: the
    host's own view of which definition is which, independent of the symbol database."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        columns = scan_symbols(data, str(path), allow_executable=True).columns
    found, current_file = [], None
    for symbol, value, info, shndx in zip(columns[0], columns[1], columns[3], columns[5]):
        if info & 0xf == STT_FILE:
            current_file = symbol
        elif symbol == name and shndx != SHN_UNDEF:
            found.append((current_file, value))
    return found


def copy_scenario(name, workdir):
    """A fresh copy of the scenario's sources under ``workdir`` (never build in the repository)."""
    destination = Path(workdir) / name
    shutil.copytree(SCENARIOS / name, destination)
    # The headers the modules include, beside their sources (as a user would copy them).
    (destination / "livepatch").mkdir(exist_ok=True)
    shutil.copy(REPO_INCLUDE / "klp-convert.h", destination / "livepatch")
    for part in ("livepatch", "target"):
        if (destination / part).is_dir():
            shutil.copy(SCENARIOS / "klp-test.h", destination / part)
    return destination


def guest_directory(source, kernel):
    """Collect guest.sh, its @KLP_TEST_...@ placeholders replaced by the kernel's scenario
    names, and every built .ko of a scenario (its subdirectories included) in one directory
    for the initramfs."""
    guest = source / "guest"
    guest.mkdir()
    script = (source / "guest.sh").read_text()
    for placeholder, name in kernel.scenario_symbols.placeholders().items():
        script = script.replace(placeholder, name)
    (guest / "guest.sh").write_text(script)
    for ko in source.rglob("*.ko"):
        if ko.parent != guest and not ko.name.endswith(".unconverted.ko"):
            shutil.copy(ko, guest / ko.name)
    return guest


def scenario_symbol_problems(kernel):
    """What is wrong with the kernel's scenario names (kernels.py ScenarioSymbols) by its own
    System.map and vmlinux: one line per name it does not define as the table says."""
    counts = {}
    for line in kernel.system_map.read_text().splitlines():
        name = line.split()[2]
        counts[name] = counts.get(name, 0) + 1
    choice = kernel.scenario_symbols
    problems = []
    for wanted in (choice.table, choice.attr, choice.by_file):
        found = counts.get(wanted.name, 0)
        if found != wanted.count:
            problems.append(f"{kernel.name} ({kernel.release}): vmlinux defines "
                            f"{wanted.name} {found} times, ScenarioSymbols in "
                            f"tests/support/kernels.py expects {wanted.count}: choose another name "
                            "for this kernel")
            continue
        files = [file for file, _ in symbol_definitions(kernel.vmlinux, wanted.name)]
        expected = {wanted.file} | ({choice.attr_other_file} if wanted is choice.attr else set())
        for file in sorted(expected):
            if files.count(file) != 1:
                problems.append(f"{kernel.name} ({kernel.release}): {wanted.name} is defined "
                                f"in {files}, not once in {file} as ScenarioSymbols in "
                                "tests/support/kernels.py says")
    return problems
