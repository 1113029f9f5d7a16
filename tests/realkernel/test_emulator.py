"""The emulator under the suite's guests runs code as the guest rewrote it (support/emulator.py):
on s390x, code stored with MVC, as Linux stores a module's code. Debian 12's QEMU 7.2 runs the
old code instead, which once killed the s390x guest in a livepatch loaded where an unloaded
module had run; the suite then boots s390x under the QEMU of the machine's backports. And a
QEMU too old to boot an architecture at all (BOOTS_AFTER: Debian 12's 7.2 and loongarch64) is
replaced the same way."""

import pytest

from klp_convert import guest
from support.emulator import (
    BOOTS_AFTER, REWRITE_PROBES, boots, build_probe, probe_failures, qemu_version, run_probe,
)
from support.kernels import KERNELS, selected

pytestmark = [pytest.mark.debian, pytest.mark.realkernel, pytest.mark.slow]

# The selected kernels whose guest architecture has a probe (a parameter of the suite's
# `kernel` fixture, so they are prepared once with the rest).
WITH_PROBE = [name for name in selected() if KERNELS[name].arch.name in REWRITE_PROBES]
WITH_BOOT_LIMIT = [name for name in selected() if KERNELS[name].arch.name in BOOTS_AFTER]
# Seconds the machine's QEMU gets to show it does not boot: the suite's QEMU runs the same step
# in 5-20 s under TCG.
NO_BOOT_TIMEOUT = 60


def probe(arch, kernel, directory):
    """The probe's report from ``kernel``'s guest booted under ``arch``'s QEMU (its files
    under ``directory``)."""
    directory.mkdir()
    program = build_probe(arch.name, kernel.build_arch.cross_compile, directory)
    return run_probe(arch, kernel.image, kernel.busybox, program, directory / "boot")


# Without a selected kernel that has a probe there is no test (rather than a skipped one).
if WITH_PROBE:
    @pytest.mark.parametrize("kernel", WITH_PROBE, indirect=True)
    def test_guest_runs_code_as_rewritten(kernel, tmp_path):
        """Under the QEMU the suite boots the kernel with, the function the guest stored last is
        the one that runs; and when that QEMU is not the machine's, the machine's runs the old
        function (as Debian 12's 7.2 does: mvc.second=1), which is why it was replaced."""
        report = probe(kernel.arch, kernel, tmp_path / "suite")
        assert probe_failures(kernel.arch, report) == [], f"{kernel.arch.qemu}\n{report.report()}"
        machine = guest.ARCHES[kernel.arch.name]
        if kernel.arch.qemu != machine.qemu:
            report = probe(machine, kernel, tmp_path / "machine")
            assert probe_failures(machine, report), f"{machine.qemu} passes:\n{report.report()}"


# The same for a kernel whose architecture the machine's QEMU may not boot at all.
if WITH_BOOT_LIMIT:
    @pytest.mark.parametrize("kernel", WITH_BOOT_LIMIT, indirect=True)
    def test_guest_boots(kernel, tmp_path):
        """The QEMU the suite boots the kernel with runs a guest step; when that QEMU is not the
        machine's, the machine's is one BOOTS_AFTER names and it still does not."""
        assert boots(kernel.arch, kernel.image, kernel.busybox, tmp_path / "suite",
                     NO_BOOT_TIMEOUT * 4), kernel.arch.qemu
        machine = guest.ARCHES[kernel.arch.name]
        if kernel.arch.qemu != machine.qemu:
            assert qemu_version(machine.qemu) <= BOOTS_AFTER[machine.name][0]
            assert not boots(machine, kernel.image, kernel.busybox, tmp_path / "machine",
                             NO_BOOT_TIMEOUT), f"{machine.qemu} boots {kernel.image}"
