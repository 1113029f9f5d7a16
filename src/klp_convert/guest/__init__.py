"""Boot a kernel under QEMU with a busybox initramfs and collect what the guest reports.

This is the harness behind `klp-convert try` and the real-kernel test suite (one harness, not
two). It runs programs (QEMU), so it sits beside `kbuild` in the layers: nothing below the
command layer imports it.

- arches.py: one table per guest architecture (QEMU binary and machine, console, the channel
  the guest reports on, the busybox package);
- initramfs.py: the cpio archive (busybox, an /init that runs a list of steps);
- report.py: the guest's report, step by step (its lines, `key=value` values, kernel messages);
- qemu.py: one boot, with a time limit.
"""

from .arches import ARCHES, GuestArch, arch_for_machine, host_arch
from .initramfs import INIT_EPILOGUE, INIT_PROLOGUE, build_initramfs, newc_archive
from .qemu import BOOT_TIMEOUT, BootResult, boot, kernel_args
from .report import ReportError, Step, parse_report

__all__ = [
    "ARCHES", "BOOT_TIMEOUT", "BootResult", "GuestArch", "INIT_EPILOGUE", "INIT_PROLOGUE",
    "ReportError", "Step", "arch_for_machine", "boot", "build_initramfs", "host_arch",
    "kernel_args", "newc_archive", "parse_report",
]
