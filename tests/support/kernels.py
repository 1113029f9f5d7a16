"""The kernels the real-kernel suite builds livepatches for and boots: one list, here.

Each entry is a TargetKernel: where its kbuild tree, bootable image, modules and unstripped
vmlinux come from, which guest architecture boots it, in which userland its out-of-tree
modules are built, and which vmlinux names its scenarios use. tests/realkernel/conftest.py runs
every scenario on each selected kernel; a test's id names the kernel
(`test_talk_example[debian-6.12]`), so a failure names it and KLP_TEST_KERNELS=name,name
selects kernels (`-k debian-6.12` too).
"""

import concurrent.futures
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from klp_convert import guest
from klp_convert.kernel.modinfo import release_version  # noqa: F401 (the suite's tests use it)
from support import debian, emulator, kernelbuild
from support.apt import AptRelease, host_codename
from support.buildroot import BuildRoot


@dataclass(frozen=True)
class VmlinuxName:
    """A name vmlinux defines ``count`` times, one of them in a file called ``file``."""

    name: str
    count: int
    file: str = None


@dataclass(frozen=True)
class ScenarioSymbols:
    """The vmlinux names the scenarios pick among duplicates, chosen per kernel by what it
    has (the suite checks them against its System.map and vmlinux before building).

    Passed to the scenarios' C sources as -D values (klp-test.h) and to their guest.sh as
    @NAME@ placeholders.
    """

    #: two definitions: picked by position 1 and 2 and by file (vmlinux_dup, annotations)
    table: VmlinuxName
    #: two or more: position 2 (KLP_SYMPOS), and a bare reference klp-convert must refuse,
    #: listing the files of both first definitions
    attr: VmlinuxName
    attr_other_file: str
    #: two definitions, picked by file only (KLP_SYMBOL_FILE)
    by_file: VmlinuxName

    def defines(self):
        """The C preprocessor definitions (name -> value) the scenarios are built with."""
        return {"KLP_TEST_TABLE": self.table.name,
                "KLP_TEST_TABLE_FILE": f'"{self.table.file}"',
                "KLP_TEST_ATTR": self.attr.name,
                "KLP_TEST_BY_FILE": self.by_file.name,
                "KLP_TEST_BY_FILE_FILE": f'"{self.by_file.file}"'}

    def placeholders(self):
        """@KLP_TEST_...@ in a guest.sh -> the bare names."""
        return {f"@{k}@": v.strip('"') for k, v in self.defines().items()}


# Linux 5.10 to 6.12: the static tables of fbdev's cfbimgblt.c and sysimgblt.c, the
# attribute groups of kernel/power/main.c and hibernate.c, net_namespace.c's list beside
# a per-cpu variable of arch/x86/kernel/apic/vector.c (6.1 and before).
SYMBOLS_5_10 = ScenarioSymbols(VmlinuxName("cfb_tab32", 2, "cfbimgblt.c"),
                               VmlinuxName("attr_group", 2, "main.c"), "hibernate.c",
                               VmlinuxName("cleanup_list", 2, "net_namespace.c"))
# 6.12: vector.c's cleanup_list is gone; the microcode loaders' ucode_path (intel.c, amd.c).
SYMBOLS_6_12 = ScenarioSymbols(SYMBOLS_5_10.table, SYMBOLS_5_10.attr, "hibernate.c",
                               VmlinuxName("ucode_path", 2, "amd.c"))
# 7.2: cfb_tab32 is gone (fbdev's blitters were merged); zstd's LL_base table of
# zstd_decompress.c and zstd_decompress_block.c instead; attr_group has a third definition.
SYMBOLS_7_2 = ScenarioSymbols(VmlinuxName("LL_base", 2, "zstd_decompress_block.c"),
                              VmlinuxName("attr_group", 3, "main.c"), "hibernate.c",
                              SYMBOLS_6_12.by_file)
# The minimal 7.2 kernels of other architectures (kernelbuild.py): no power management,
# networking or microcode loader, but the initramfs' zstd decompressor, whose tables
# zstd_decompress.c and zstd_decompress_block.c both define.
SYMBOLS_MINIMAL = ScenarioSymbols(SYMBOLS_7_2.table,
                                  VmlinuxName("ML_base", 2, "zstd_decompress.c"),
                                  "zstd_decompress_block.c",
                                  VmlinuxName("OF_base", 2, "zstd_decompress.c"))


class TargetKernel:
    """What the suite needs of a kernel. ``prepare()`` installs and downloads (once); the
    other attributes are valid after it."""

    #: the test id ("debian-6.1")
    name = None
    arch = guest.ARCHES["x86_64"]
    #: the vmlinux names the scenarios use
    scenario_symbols = SYMBOLS_5_10
    #: the interpreter that runs `python -m klp_convert` where modules are built
    python = None
    #: more -D values for the scenarios' livepatches ({name: value or None}): what the build
    #: userland needs
    defines = {}

    def prepare(self):
        raise NotImplementedError

    # Filled by prepare():
    release = None       # the kernel release (uname -r)
    headers = None       # the kbuild tree out-of-tree modules are built against
    image = None         # what QEMU boots
    modules = None       # the kernel's module tree (for the symbol database), or None
    symvers = None       # Module.symvers of the kbuild tree
    busybox = None       # a static busybox for the guest's architecture
    system_map = None    # the real System.map

    @property
    def vmlinux(self):
        """The unstripped vmlinux (kallsyms order and STT_FILE source files)."""
        raise NotImplementedError

    @property
    def make_args(self):
        """Extra make variables for builds against this kernel (ARCH=, CROSS_COMPILE=)."""
        return ()

    @property
    def kernel_args(self):
        """The guest's kernel command line (its /proc/cmdline)."""
        return guest.kernel_args(self.arch)

    @property
    def broken_kernel_args(self):
        """The command line for livepatches broken on purpose: an oops does not panic."""
        return guest.kernel_args(self.arch, oops_panic=False)

    #: the chroot (support/buildroot.py BuildRoot) modules are built in, None: the machine
    userland = None

    def share(self, directory):
        """Builds will name files under ``directory`` (the test's work directory)."""
        if self.userland is not None:
            self.userland.share(directory)

    def run(self, command, cwd=None):
        """Run a build command in the userland this kernel's modules are built in; returns
        the CompletedProcess (output captured as text)."""
        if self.userland is None:
            return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True,
                                  text=True)
        env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        return self.userland.run([str(c) for c in command], cwd=cwd, env=env)


FLAVOUR = "amd64"
# Where a Debian kernel's files are, relative to the unpacked packages: the layouts of
# 5.10 to 6.12 (-unsigned image: boot/, lib/modules/) and of 7.x (linux-binary-*,
# linux-modules-*: usr/lib/modules/), and of their -dbg packages.
IMAGE_PATHS = ("boot/vmlinuz-{release}", "usr/lib/modules/{release}/vmlinuz")
MODULE_TREES = ("lib/modules/{release}/kernel", "usr/lib/modules/{release}/kernel")
SYSTEM_MAPS = ("usr/lib/debug/boot/System.map-{release}",
               "usr/lib/debug/lib/modules/{release}/System.map")
VMLINUXES = ("usr/lib/debug/boot/vmlinux-{release}", "usr/lib/debug/lib/modules/{release}/vmlinux")
DEBUG_MEMBERS = ("*/System.map*", "*/vmlinux*")


def image_packages(apt, abi):
    """The packages holding the bootable image and the modules of kernel ``abi``: the
    -unsigned image where the release has one, else what linux-image-<abi> depends on that
    carries the ABI in its name (7.x: linux-binary-*, linux-modules-*, linux-base-*)."""
    unsigned = f"linux-image-{abi}-{FLAVOUR}-unsigned"
    if apt.candidate(unsigned):
        return [unsigned]
    depends = apt.field(f"linux-image-{abi}-{FLAVOUR}", "Depends")
    parts = re.findall(rf"\b(linux-[a-z]+-{re.escape(abi)}-{FLAVOUR})\b", depends)
    if not parts:
        raise RuntimeError(f"{apt.codename}: linux-image-{abi}-{FLAVOUR} has neither an "
                           f"-unsigned image nor parts named by its ABI: {depends!r}")
    return sorted(set(parts))


def find_in(trees, patterns, release, what):
    """The first of ``patterns`` (formatted with ``release``) that exists in one of
    ``trees``."""
    candidates = [tree / p.format(release=release) for p in patterns for tree in trees]
    for path in candidates:
        if path.exists():
            return path
    raise RuntimeError(f"no {what} of {release} in {', '.join(map(str, trees))} "
                       f"(looked for {', '.join(p.format(release=release) for p in patterns)})")


class DebianKernel(TargetKernel):
    """Debian's current amd64 kernel of one release, ABI found at run time in that release's
    package index (tests/support/apt.py): the boot image and modules of its image packages,
    System.map and vmlinux of its -dbg package, and its headers, installed on the machine when
    the release is the machine's own, else in a chroot of the release (support/buildroot.py).
    """

    # Packages named by the kernel ABI cannot be listed in scripts/test; installed here.
    HOST_PACKAGES = ["qemu-system-x86", "busybox-static", "make", "gcc"]

    def __init__(self, codename, generation, scenario_symbols, defines=None):
        #: '6.12'; None for a release whose kernel moves (unstable): its newest
        self.generation = generation
        self.codename = codename
        self.name = f"debian-{generation or codename}"
        self.scenario_symbols = scenario_symbols
        self.defines = defines or {}
        self.userland = None
        self.python = None

    def prepare(self):
        apt = AptRelease(self.codename)
        self.abi = apt.kernel_abi(FLAVOUR)
        self.release = f"{self.abi}-{FLAVOUR}"
        self._check_generation()
        # The downloads (the -dbg package is about 1 GB) go on while the headers install.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            downloads = pool.submit(self._download, apt)
            self._install_headers(apt)
            downloads.result()
        self.symvers = self.headers / "Module.symvers"
        self.busybox = Path("/bin/busybox")
        return self

    def _install_headers(self, apt):
        headers = f"linux-headers-{self.release}"
        if self.codename == host_codename():
            debian.ensure_installed([*self.HOST_PACKAGES, headers])
            self.headers = Path(f"/usr/src/{headers}")
        else:
            debian.ensure_installed([*self.HOST_PACKAGES, "debootstrap"])
            self.userland = BuildRoot(apt, self.abi, [headers, "python3"]).prepare()
            self.headers = self.userland.path / "usr" / "src" / headers
            self.python = "python3"

    def _download(self, apt):
        trees = [apt.unpacked(p) for p in image_packages(apt, self.abi)]
        self.image = find_in(trees, IMAGE_PATHS, self.release, "boot image")
        self.modules = find_in(trees, MODULE_TREES, self.release, "module tree").parent
        debug = [apt.extracted(f"linux-image-{self.release}-dbg", DEBUG_MEMBERS)]
        self.system_map = find_in(debug, SYSTEM_MAPS, self.release, "System.map")
        self._vmlinux = find_in(debug, VMLINUXES, self.release, "vmlinux")

    def _check_generation(self):
        if self.generation and release_version(self.release) != release_version(self.generation):
            raise RuntimeError(f"{self.name}: Debian {self.codename}'s kernel is "
                               f"{self.release} now, not Linux {self.generation}: update "
                               "KERNELS in tests/support/kernels.py")

    @property
    def vmlinux(self):
        return self._vmlinux


class SourceBuiltKernel(TargetKernel):
    """A minimal kernel the suite builds from Debian's linux-source with Debian's cross
    compiler (support/kernelbuild.py): Debian's own kernels for these architectures have no
    livepatch. The build tree is the kbuild tree; its ELF vmlinux is the unstripped one and
    its System.map the real one."""

    def __init__(self, arch_name, scenario_symbols, defines=None):
        self.build_arch = kernelbuild.BUILD_ARCHES[arch_name]
        self.arch = guest.ARCHES[arch_name]
        self.name = f"{self.build_arch.label}-{kernelbuild.SOURCE_SERIES}"
        self.scenario_symbols = scenario_symbols
        self.defines = defines or {}

    def prepare(self):
        built = kernelbuild.build(self.arch.name)
        # Modules are built where the kernel was: the machine, or a chroot with the compiler.
        self.userland = self.build_arch.userland()
        self.python = "python3" if self.userland is not None else None
        debian.ensure_installed([self.arch.qemu_package])
        self.build_seconds = built.seconds
        self.release = built.release
        self.headers = built.tree
        self.image = built.tree / self.arch.image_in_build_tree
        self.modules = built.modules
        self.symvers = built.tree / "Module.symvers"
        self.system_map = built.tree / "System.map"
        foreign = AptRelease(kernelbuild.SOURCE_RELEASE,
                             arches=tuple(guest.ARCHES[a].debian_arch
                                          for a in kernelbuild.BUILD_ARCHES))
        # Unstable's packages are usrmerged.
        self.busybox = (foreign.unpacked(self.arch.busybox_package) / "usr" / "bin"
                        / "busybox")
        # A QEMU that runs the code the guest rewrote (support/emulator.py).
        self.arch = emulator.checked_arch(guest.ARCHES[self.arch.name], self.image,
                                          self.busybox, self.build_arch.cross_compile)
        return self

    @property
    def vmlinux(self):
        return self.headers / "vmlinux"

    @property
    def make_args(self):
        return self.build_arch.make_args


# Every kernel the suite knows, in the order it runs them: the generation livepatch authors
# target, the Debian release that ships it, the scenario names that kernel has. Unstable's
# kernel moves: its generation is whatever the archive has today (test_newest_kernel_is_known).
#: Debian 11's GNU as (2.35.2) cannot assemble a quoted symbol name holding ',' in an operand
#: (`"....cfb_tab32,2"`: "missing closing '\"'"): its livepatches spell KLP_RELOC_SYMBOL's
#: position with '.', which it takes.
DOT_SPELLING = {"KLP_RELOC_SYMBOL_DOT": None}
#: GNU as of loongarch (Debian 13's 2.44) takes no quoted name at all in a relocation
#: operator's operand (`%got_pc_hi20("....LL_base,2")`: "no match insn"; kbuild's
#: -mexplicit-relocs writes those): the '.' spelling is also the unquoted one.
SPELLINGS = {"loongarch64": DOT_SPELLING}

# Then the other architectures, in minimal kernels of our own (their names: SYMBOLS_MINIMAL).
KERNELS = {kernel.name: kernel for kernel in (
    DebianKernel("bullseye", "5.10", SYMBOLS_5_10, DOT_SPELLING),
    DebianKernel("bookworm", "6.1", SYMBOLS_5_10),
    DebianKernel("trixie", "6.12", SYMBOLS_6_12),
    DebianKernel("sid", None, SYMBOLS_7_2),
    *(SourceBuiltKernel(arch, SYMBOLS_MINIMAL, SPELLINGS.get(arch))
      for arch in kernelbuild.BUILD_ARCHES),
)}


def selected():
    """Names of the kernels to run: KLP_TEST_KERNELS (comma-separated names), else all of
    KERNELS (`scripts/test`, and so CI, runs them all; `all` says so too)."""
    wanted = os.environ.get("KLP_TEST_KERNELS")
    if not wanted or wanted.strip() == "all":
        return list(KERNELS)
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        raise ValueError(f"KLP_TEST_KERNELS names unknown kernels {unknown}; "
                         f"known: {', '.join(KERNELS)}")
    return names
