"""Out-of-tree livepatch builds: run kbuild, then convert every module it built that says
`livepatch=Y` in its .modinfo. The conversion checks its result as `klp-convert check` does,
with the same symbol databases, before it writes it: check's errors refuse the module, its
warnings go to ``log``.

kbuild links `foo.ko`; we keep that file as `foo.unconverted.ko` and write the converted module
back to `foo.ko`, where kbuild (modules_install, the user) expects it. The converted file gets
the linked file's modification time, so the next `make` sees an up-to-date module and does not
relink; conversion always starts again from the unconverted copy, so running the command twice
converts once. (`make clean` removes `*.ko`, the unconverted copies included.)
"""

import os
import shutil
import subprocess
from pathlib import Path

from .convert import convert_file
from .elf import ElfObject
from .errors import KlpError
from .kernel.installed import kbuild_dir
from .kernel.modinfo import modinfo_value, read_modinfo

UNCONVERTED_SUFFIX = ".unconverted.ko"
# Undefined symbols are what klp-convert converts: modpost must only warn about them.
MODPOST_WARN = "KBUILD_MODPOST_WARN=1"


class KbuildOptions:
    """What `klp-convert kbuild` was asked besides make's own arguments."""

    def __init__(self, kernel_dir=None, jobs=None, symbol_paths=(), keep_module_exports=False,
                 make="make", sympos=(), symbol_files=()):
        self.kernel_dir = kernel_dir
        self.jobs = jobs
        self.symbol_paths = list(symbol_paths)
        self.keep_module_exports = keep_module_exports
        self.make = make
        self.sympos, self.symbol_files = list(sympos), list(symbol_files)


class ConvertedModule:
    """One livepatch module of the build and the Plan its conversion followed."""

    def __init__(self, path, unconverted, plan):
        self.path = path
        self.unconverted = unconverted
        self.plan = plan


def default_kernel_dir():
    """The running kernel's build tree, as for any out-of-tree module (/lib/modules/R/build,
    or /usr/lib/modules/R/build where /lib is not merged into /usr)."""
    return Path(kbuild_dir(os.uname().release))


def module_dir(make_args, cwd=None):
    """The external module directory: the last M= (or KBUILD_EXTMOD=), else the current one."""
    found = None
    for arg in make_args:
        name, eq, value = arg.partition("=")
        if eq and name in ("M", "KBUILD_EXTMOD"):
            found = value
    return (Path(cwd or os.getcwd()) / (found or ".")).resolve()


def make_command(make_args, options, cwd=None):
    """The make command line: -C KDIR, -jN, an absolute M= (kbuild would otherwise read a
    relative one from inside KDIR), the user's arguments, and modpost's warn-only switch."""
    kernel_dir = options.kernel_dir or default_kernel_dir()
    command = [options.make, "-C", str(kernel_dir)]
    if options.jobs:
        command.append(f"-j{options.jobs}")
    command += [a for a in make_args if a.partition("=")[0] not in ("M", "KBUILD_EXTMOD")]
    command += [f"M={module_dir(make_args, cwd)}", MODPOST_WARN]
    return command


def run_make(make_args, options, cwd=None):
    """Run kbuild (its output goes where ours goes); KlpError when it fails."""
    command = make_command(make_args, options, cwd)
    kernel_dir = Path(command[2])
    if not (kernel_dir / "Makefile").is_file():
        raise KlpError(kernel_dir, "not a kernel build tree (no Makefile); give one with -C")
    try:
        status = subprocess.run(command, cwd=cwd).returncode
    except OSError as e:
        raise KlpError(options.make, f"cannot run make: {e.strerror}") from None
    if status != 0:
        raise KlpError(module_dir(make_args, cwd), f"make failed (exit status {status})")


def built_modules(directory):
    """The .ko files kbuild built in ``directory``, in modules.order's order (absolute,
    relative or .o entries: the format changed across kernel versions)."""
    order = Path(directory) / "modules.order"
    if not order.is_file():
        return []
    modules = []
    for line in order.read_text().splitlines():
        entry = line.strip()
        if not entry:
            continue
        path = Path(directory) / entry  # an absolute entry replaces the directory
        modules.append(path.with_suffix(".ko"))
    return modules


def is_livepatch(path):
    """True when the module is a livepatch (MODULE_INFO(livepatch, "Y")), its .modinfo read as
    the kernel's get_modinfo() reads it."""
    return modinfo_value(read_modinfo(ElfObject.read(path)), "livepatch") == "Y"


def unconverted_path(path):
    return Path(path).with_suffix(UNCONVERTED_SUFFIX)


def convert_built_module(path, options, log=None, symvers=()):
    """Convert a livepatch module kbuild just linked, in place, keeping the linked file beside
    it. RefusedError (the converter's message) when it cannot be converted; then the linked
    module is only kept as NAME.unconverted.ko: NAME.ko, where the converted module belongs,
    is removed, so nobody loads or installs the unconverted one by mistake."""
    path = Path(path)
    unconverted = unconverted_path(path)
    linked = path.stat()
    if not (unconverted.is_file() and unconverted.stat().st_mtime_ns == linked.st_mtime_ns):
        # kbuild relinked the module since our last conversion (or never converted it).
        try:
            shutil.copy2(path, unconverted)
        except OSError as e:
            raise KlpError(unconverted, f"cannot write: {e.strerror}") from None
    try:
        plan = convert_file(unconverted, path, options.symbol_paths,
                            keep_module_exports=options.keep_module_exports, log=log,
                            sympos=options.sympos, symbol_files=options.symbol_files,
                            symvers=symvers)
    except KlpError:
        path.unlink()
        raise
    mtime = unconverted.stat().st_mtime_ns
    os.utime(path, ns=(mtime, mtime))
    return ConvertedModule(path, unconverted, plan)


def kbuild(make_args, options, cwd=None, log=None):
    """Build with kbuild, then convert every livepatch module the build produced.

    Returns [ConvertedModule]. Raises KlpError when make fails, RefusedError (exit 1) with the
    converter's message when a module cannot be converted."""
    run_make(make_args, options, cwd)
    directory = module_dir(make_args, cwd)
    kernel_dir = Path(make_command(make_args, options, cwd)[2])
    # What the module loader will resolve, for annotation-only conversions (no --symbols).
    symvers = [p for p in (kernel_dir / "Module.symvers", directory / "Module.symvers")
               if p.is_file()]
    converted = []
    for path in built_modules(directory):
        if is_livepatch(path):
            converted.append(convert_built_module(path, options, log, symvers))
    return converted
