"""The kernels the real-kernel suite builds livepatches for and boots: one list, here.

Each entry is a TargetKernel: where its kbuild tree, bootable image, modules and unstripped
vmlinux come from, which guest architecture boots it, and in which userland its out-of-tree
modules are built. tests/realkernel/conftest.py runs every scenario on each selected kernel;
a test's id names the kernel (`test_talk_example[debian-6.1]`), so a failure names it and
`-k debian-6.1` runs one kernel alone. KLP_TEST_KERNELS=name,name selects kernels too.
"""

import os
import subprocess
from pathlib import Path

from klp_convert import guest
from support import debian, kernelbuild
from support.apt import AptRelease


class TargetKernel:
    """What the suite needs of a kernel. ``prepare()`` installs and downloads (once); the
    other attributes are valid after it."""

    #: the test id ("debian-6.1")
    name = None
    arch = guest.ARCHES["x86_64"]

    def prepare(self):
        raise NotImplementedError

    # Filled by prepare():
    release = None       # the kernel release (uname -r)
    headers = None       # the kbuild tree out-of-tree modules are built against
    image = None         # what QEMU boots
    modules = None       # the kernel's module tree (for the symbol database), or None
    symvers = None       # Module.symvers of the kbuild tree
    busybox = None       # a static busybox for the guest's architecture

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

    def run(self, command, cwd=None):
        """Run a build command in the userland this kernel's modules are built in; returns
        the CompletedProcess (output captured as text)."""
        return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True,
                              text=True)


class DebianKernel(TargetKernel):
    """Debian's current amd64 kernel of the machine's own release: kbuild tree
    (linux-headers, installed), boot image (-unsigned), vmlinux (-dbg)."""

    name = "debian-6.1"
    # Packages named by the kernel ABI cannot be listed in scripts/test; installed here.
    HOST_PACKAGES = ["qemu-system-x86", "busybox-static", "make", "gcc"]

    def prepare(self):
        self.abi = debian.current_abi()
        debian.ensure_installed([*self.HOST_PACKAGES,
                                 f"linux-headers-{self.abi}-{debian.FLAVOUR}"])
        self.release = f"{self.abi}-{debian.FLAVOUR}"
        self.headers = Path(f"/usr/src/linux-headers-{self.release}")
        image = debian.unpacked(f"linux-image-{self.release}-unsigned")
        self.image = image / "boot" / f"vmlinuz-{self.release}"
        self.modules = image / "lib" / "modules" / self.release
        self.symvers = self.headers / "Module.symvers"
        self.busybox = Path("/bin/busybox")
        return self

    @property
    def vmlinux(self):
        return debian.debug_files(self.abi)[1]


class SourceBuiltKernel(TargetKernel):
    """A minimal kernel the suite builds from Debian's linux-source with Debian's cross
    compiler (support/kernelbuild.py): Debian's own kernels for these architectures have no
    livepatch. The build tree is the kbuild tree; its ELF vmlinux is the unstripped one."""

    arch_name = None

    def __init__(self):
        self.arch = guest.ARCHES[self.arch_name]

    def prepare(self):
        built = kernelbuild.build(self.arch_name)
        debian.ensure_installed([self.arch.qemu_package])
        self.build_seconds = built.seconds
        self.release = built.release
        self.headers = built.tree
        self.image = built.tree / self.arch.image_in_build_tree
        self.modules = built.modules
        self.symvers = built.tree / "Module.symvers"
        foreign = AptRelease(kernelbuild.SOURCE_RELEASE,
                             arches=tuple(a.debian_arch for a in CROSS_ARCHES))
        # Unstable's packages are usrmerged.
        self.busybox = foreign.unpacked(f"busybox-static:{self.arch.debian_arch}") / "usr" / \
            "bin" / "busybox"
        self._make_args = built.arch.make_args
        return self

    @property
    def vmlinux(self):
        return self.headers / "vmlinux"

    @property
    def make_args(self):
        return self._make_args


def _source_built(arch_name, series):
    label = kernelbuild.BUILD_ARCHES[arch_name].label
    return type(f"SourceBuilt_{label}", (SourceBuiltKernel,),
                {"name": f"{label}-{series}", "arch_name": arch_name})


CROSS_ARCHES = [guest.ARCHES[a] for a in kernelbuild.BUILD_ARCHES]

# Every kernel the suite knows, in the order it runs them.
KERNELS = {kernel.name: kernel for kernel in (
    DebianKernel,
    *(_source_built(a.name, kernelbuild.SOURCE_SERIES) for a in CROSS_ARCHES),
)}


def selected():
    """Names of the kernels to run: KLP_TEST_KERNELS (comma-separated) or all of them."""
    wanted = os.environ.get("KLP_TEST_KERNELS")
    if not wanted:
        return list(KERNELS)
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        raise ValueError(f"KLP_TEST_KERNELS names unknown kernels {unknown}; "
                         f"known: {', '.join(KERNELS)}")
    return names
