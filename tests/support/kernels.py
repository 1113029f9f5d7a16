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
from support import debian


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


# Every kernel the suite knows, in the order it runs them.
KERNELS = {kernel.name: kernel for kernel in (DebianKernel,)}


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
