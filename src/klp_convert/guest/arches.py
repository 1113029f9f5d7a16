"""What differs between guest architectures, in one table.

Each entry says how QEMU boots that architecture's kernel, where the guest's console and its
report channel are (a second port that nothing else writes to, so report lines never
interleave with kernel messages), and which Debian packages bring QEMU and busybox for it.
To boot another architecture, add a GuestArch here; nothing else changes.
"""

import platform
from dataclasses import dataclass

from ..elf.constants import EM_AARCH64, EM_LOONGARCH, EM_PPC64, EM_S390, EM_X86_64
from ..text import is_decimal


@dataclass(frozen=True)
class GuestArch:
    """One guest architecture."""

    #: the kernel's name for it (uname -m)
    name: str
    #: e_machine of its ELF objects (a livepatch's header picks the guest)
    machine: int
    #: Debian's architecture name (busybox-static:<debian_arch>)
    debian_arch: str
    qemu: str
    qemu_package: str
    #: machine, CPU and memory options
    qemu_args: tuple
    #: the kernel console device (console=...)
    console: str
    #: QEMU options that give the guest its report port, as a function of the host file
    #: that receives it
    report_args: object
    #: the report port as the guest sees it
    report_device: str
    #: the kernel image to boot, relative to a kernel build tree
    image_in_build_tree: str
    #: kernel command-line options this architecture needs besides the console
    extra_kernel_args: str = ""
    #: what the kernel adds after the command line it was given, in /proc/cmdline
    cmdline_tail: str = ""
    #: a tiny guest proving that KVM runs code on a host of this architecture: a function of
    #: a directory to write its files in, returning (QEMU options, the exit status QEMU ends
    #: with when the guest ran); None: never try KVM (see accel.py)
    kvm_probe: object = None
    #: the QEMU releases, one per series, from which TCG drops every translation of code this
    #: architecture's kernel rewrites (empty: every release does); older ones may run a module's
    #: stale code where an unloaded module ran (see runs_stale_code)
    stale_code_fixed_in: tuple = ()
    #: the newest QEMU (major, minor) known to start none of this architecture's kernels
    #: (None: every release the suite met does)
    qemu_boots_after: tuple = None
    #: the kernel images QEMU's -kernel boots: (what it is, offset, the bytes found there)
    images: tuple = ()

    def image_kind(self, head):
        """What kind of this architecture's bootable images ``head`` (a file's first
        IMAGE_HEAD bytes) starts, or None."""
        return next((kind for kind, offset, magic in self.images
                     if head[offset:offset + len(magic)] == magic), None)

    def proc_cmdline(self, kernel_args):
        """The guest's /proc/cmdline when booted with ``kernel_args``."""
        return kernel_args + self.cmdline_tail

    @property
    def busybox_package(self):
        """The Debian package whose /bin/busybox runs in this guest."""
        return f"busybox-static:{self.debian_arch}"


# How much of a kernel image image_kind() reads: s390's marker lies 64 KiB in.
IMAGE_HEAD = 0x10010
# Bootable kernel images (magic numbers QEMU's loaders look for, and the kernel's own headers).
ELF_IMAGE = ("an ELF vmlinux", 0, b"\x7fELF")
PE_IMAGE = ("a PE/EFI image", 0, b"MZ")
BZIMAGE = ("a bzImage (Documentation/arch/x86/boot.rst: 'HdrS' at 0x202)", 0x202, b"HdrS")
ARM64_IMAGE = ("an arm64 Image (Documentation/arch/arm64/booting.rst: 'ARM\\x64' at 0x38)",
               0x38, b"ARM\x64")
GZIP_IMAGE = ("a gzip-compressed Image", 0, b"\x1f\x8b")
S390_IMAGE = ("an s390 image ('S390EP' at 0x10008, as QEMU's s390-ccw loader checks)",
              0x10008, b"S390EP")


def _x86_boot_sector_probe(directory):
    """A 512-byte boot sector, `mov al, 0x31; out 0xf4, al; hlt`: SeaBIOS boots it and the
    isa-debug-exit device at port 0xf4 ends QEMU with status (0x31 << 1) | 1 = 99."""
    code = bytes([0xB0, 0x31, 0xE6, 0xF4, 0xF4, 0xEB, 0xFE])  # ... then `jmp $`
    image = directory / "kvm-probe.img"
    image.write_bytes(code + bytes(510 - len(code)) + b"\x55\xaa")
    options = ("-machine", "pc", "-m", "16M", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
               "-drive", f"file={image},format=raw,if=ide")
    return options, 99


def _serial_file(path):
    """QEMU options for a second serial port writing to a host file: the report port of
    machines with several UARTs."""
    return ("-serial", f"file:{path}")


X86_64 = GuestArch(
    name="x86_64", machine=EM_X86_64, debian_arch="amd64",
    qemu="qemu-system-x86_64", qemu_package="qemu-system-x86",
    qemu_args=("-cpu", "max", "-m", "1G"),
    console="ttyS0",
    # The second serial port is ttyS1 in the guest.
    report_args=_serial_file,
    report_device="/dev/ttyS1",
    image_in_build_tree="arch/x86/boot/bzImage",
    images=(BZIMAGE, ELF_IMAGE),
    extra_kernel_args="nokaslr",
    kvm_probe=_x86_boot_sector_probe,
)



def _virtio_console(transport):
    """QEMU options for a virtio console on ``transport`` (the guest's /dev/hvc0) writing to
    a host file: the report port of machines with a single serial port."""
    def report_args(path):
        return ("-device", transport, "-chardev", f"file,id=report,path={path}",
                "-device", "virtconsole,chardev=report")
    return report_args


PPC64LE = GuestArch(
    name="ppc64le", machine=EM_PPC64, debian_arch="ppc64el",
    qemu="qemu-system-ppc64", qemu_package="qemu-system-ppc",
    qemu_args=("-M", "pseries", "-m", "1G"),
    # pseries gives each -serial its own spapr-vty: hvc0, then hvc1.
    console="hvc0",
    report_args=_serial_file,
    report_device="/dev/hvc1",
    # SLOF boots the ELF vmlinux itself.
    image_in_build_tree="vmlinux",
    images=(ELF_IMAGE,),
)

S390X = GuestArch(
    name="s390x", machine=EM_S390, debian_arch="s390x",
    qemu="qemu-system-s390x", qemu_package="qemu-system-misc",
    qemu_args=("-M", "s390-ccw-virtio", "-m", "1G"),
    # -serial is the SCLP VT220 terminal.
    console="ttysclp0",
    report_args=_virtio_console("virtio-serial-ccw"),
    report_device="/dev/hvc0",
    image_in_build_tree="arch/s390/boot/bzImage",
    images=(S390_IMAGE, ELF_IMAGE),
    # Linux copies module code with MVC and clears it with XC; QEMU's helpers for them dropped
    # only the translations of the first byte stored until commit e43ced8be18d ("target/s390x:
    # Fix MVC not always invalidating translation blocks"), released in 10.0, 9.2.1 and 9.1.3.
    stale_code_fixed_in=((9, 1, 3), (9, 2, 1), (10, 0, 0)),
)

AARCH64 = GuestArch(
    name="aarch64", machine=EM_AARCH64, debian_arch="arm64",
    qemu="qemu-system-aarch64", qemu_package="qemu-system-arm",
    # pauth-impdef: TCG emulates pointer authentication much faster with QEMU's own hash.
    qemu_args=("-M", "virt", "-cpu", "max,pauth-impdef=on", "-m", "1G"),
    # virt has one PL011 UART.
    console="ttyAMA0",
    report_args=_virtio_console("virtio-serial-device"),
    report_device="/dev/hvc0",
    image_in_build_tree="arch/arm64/boot/Image",
    images=(ARM64_IMAGE, GZIP_IMAGE, PE_IMAGE, ELF_IMAGE),
)

LOONGARCH64 = GuestArch(
    name="loongarch64", machine=EM_LOONGARCH, debian_arch="loong64",
    qemu="qemu-system-loongarch64", qemu_package="qemu-system-misc",
    qemu_args=("-M", "virt", "-m", "1G"),
    # virt's NS16550 UARTs: ttyS0, then ttyS1.
    console="ttyS0",
    report_args=_serial_file,
    report_device="/dev/ttyS1",
    # virt loads the ELF vmlinux itself (QEMU 8.1 and later: no firmware).
    image_in_build_tree="vmlinux",
    images=(ELF_IMAGE, PE_IMAGE),
    # Debian 12's 7.2 loads the ELF vmlinux on the virt machine, and nothing follows: no console
    # line in minutes (bookworm-backports' 10.0 boots it in seconds).
    qemu_boots_after=(7, 2),
    # With a device tree, bootcmdline_init() (arch/loongarch/kernel/setup.c) appends " " and
    # then the line it was given, unless strstr() finds it there, which it does.
    cmdline_tail=" ",
)

ARCHES = {arch.name: arch for arch in (X86_64, PPC64LE, S390X, AARCH64, LOONGARCH64)}


def runs_stale_code(arch, version):
    """Whether QEMU ``version`` ((major, minor, micro)) may run stale translations of code the
    guest rewrote: older than the fix of its own series, or than the last fix when its series
    has none."""
    fixes = arch.stale_code_fixed_in
    if not fixes:
        return False
    same_series = [fix for fix in fixes if fix[:2] == version[:2]]
    return version < (same_series[0] if same_series else fixes[-1])


def qemu_release(text):
    """(major, minor, micro) from `qemu-system-* --version` ("QEMU emulator version 7.2.22
    (Debian ...)"), None when it says none."""
    for word in text.split():
        parts = word.split(".")
        if len(parts) >= 2 and all(map(is_decimal, parts[:3])):
            return tuple(int(part) for part in (parts + ["0"])[:3])
    return None


def arch_for_machine(machine):
    """The GuestArch whose ELF e_machine is ``machine``, None when none is known."""
    return next((a for a in ARCHES.values() if a.machine == machine), None)


def host_arch():
    """The GuestArch of this machine, None when it is not one we boot."""
    return ARCHES.get(platform.machine())
