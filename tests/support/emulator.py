"""The QEMU each guest architecture boots under: checked in a guest, not trusted.

Linux on s390x copies a module's code into place with memcpy(), which is MVC, and clears module
memory with memset(), which is XC. QEMU's TCG runs both in helpers that must invalidate the
code it translated from the bytes they store. Before QEMU 10.0 (upstream commit e43ced8be18d,
"target/s390x: Fix MVC not always invalidating translation blocks", also in 9.1.3 and 9.2.1)
they invalidated only the translations overlapping the first byte stored, so a module loaded
where an unloaded one had run could execute the unloaded module's translated code. Debian 12's
QEMU is 7.2: the s390x suite's guest once died that way of an "illegal operation" in
klp_vmlinux_dup, which returned from seq_printf() into a stale translation of bar's
klp_test_state_get(), whose `jg` landed inside an instruction of the new code.

REWRITE_PROBES names, per guest architecture, a guest program (tests/realkernel/emulator/) that
rewrites code with the instruction its kernel copies code with and runs it. The suite boots an
architecture under the machine's QEMU when the probe passes there, else under the QEMU of the
machine's release's backports (unpacked in the cache, not installed), which must pass it.
Architectures without a probe copy code with ordinary stores, which TCG tracks itself.

BOOTS_AFTER names, per guest architecture, the newest QEMU known not to boot the suite's kernel
at all: the machine's QEMU up to that version is replaced by the backports' as well
(tests/realkernel/test_emulator.py boots the machine's to show it still fails).
"""

import dataclasses
import gzip
import subprocess
import tempfile
from pathlib import Path

from klp_convert import guest
from klp_convert.guest.trial import qemu_version as release_of
from support.apt import AptRelease, host_codename

PROBES = Path(__file__).resolve().parents[1] / "realkernel" / "emulator"

# guest architecture -> (probe source in PROBES, the values it prints when the code it ran
# the second time was the code stored last)
REWRITE_PROBES = {
    "s390x": ("rewrite_mvc.c", {"mvc.first": "1", "mvc.second": "2"}),
}
# guest architecture -> (the newest QEMU version that does not boot its kernel, what it does)
# (from klp_convert.guest's GuestArch.qemu_boots_after, which `klp-convert try` reads too)
BOOTS_AFTER = {name: (arch.qemu_boots_after, f"starts no {name} kernel without firmware")
               for name, arch in guest.ARCHES.items() if arch.qemu_boots_after}
PROBE_STEP = "rewrite"
PROBE_TIMEOUT = 180  # seconds; the probe's boot takes 2-4 s under TCG on a quiet machine


def build_probe(arch_name, cross_compile, directory):
    """Compile the architecture's probe with the cross compiler ``cross_compile`` (a
    CROSS_COMPILE= prefix) into ``directory``; returns the program's path."""
    source = PROBES / REWRITE_PROBES[arch_name][0]
    program = Path(directory) / source.stem
    command = [f"{cross_compile}gcc", "-O2", "-static", "-nostdlib", "-ffreestanding",
               "-fno-pie", "-no-pie", "-o", str(program), str(source)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"$ {' '.join(command)}\n{proc.stderr}")
    return program


def run_probe(arch, image, busybox, program, workdir):
    """Boot ``image`` under ``arch``'s QEMU with an initramfs that runs ``program``; returns
    the guest's report of it (a klp_convert.guest Step)."""
    step = {"guest.sh": (0o100644, f"./{program.name}\n".encode()),
            program.name: (0o100755, program.read_bytes())}
    return boot_step(arch, image, busybox, step, workdir, PROBE_TIMEOUT).step(PROBE_STEP)


def boot_step(arch, image, busybox, step, workdir, timeout):
    """Boot ``image`` under ``arch``'s QEMU with an initramfs whose one step holds ``step``
    ({file name: (mode, bytes)}, a guest.sh among them); the BootResult."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    files = {"bin/busybox": (0o100755, Path(busybox).read_bytes())}
    files.update({f"steps/{PROBE_STEP}/{name}": item for name, item in step.items()})
    for mount_point in ("proc", "sys", "dev", "tmp"):
        files[mount_point] = (0o040755, b"")
    init = (guest.INIT_PROLOGUE.replace("@REPORT_DEVICE@", arch.report_device)
            + f"run_step {PROBE_STEP}\n" + guest.INIT_EPILOGUE)
    files["init"] = (0o100755, init.encode())
    initrd = workdir / "probe.cpio.gz"
    initrd.write_bytes(gzip.compress(guest.newc_archive(files), compresslevel=1))
    return guest.boot(arch, image, initrd, workdir, guest.kernel_args(arch), timeout=timeout)


def boots(arch, image, busybox, workdir, timeout):
    """Whether ``image`` under ``arch``'s QEMU runs a guest step within ``timeout`` seconds."""
    step = {"guest.sh": (0o100644, b"echo booted=yes\n")}
    result = boot_step(arch, image, busybox, step, workdir, timeout)
    report = result.steps.get(PROBE_STEP)
    return report is not None and report.ended and report.value("booted") == "yes"


def probe_failures(arch, report):
    """What the probe's report says against the emulator: [] when every value is right."""
    expected = REWRITE_PROBES[arch.name][1]
    return [f"{key}={report.value(key)} (expected {value})" for key, value in expected.items()
            if report.value(key) != value]


def backports_qemu(arch):
    """``arch`` with the QEMU of the machine's release's backports, unpacked in the cache:
    the binary from the package named like it where there is one (Debian splits some
    qemu-system-<arch> out of qemu-system-misc since QEMU 9), else from the package the
    machine's release has it in; its firmware from qemu-system-data (-L)."""
    release = AptRelease(f"{host_codename()}-backports")
    name = Path(arch.qemu).name
    package = name if release.candidate(name) else arch.qemu_package
    binary = release.unpacked(package) / "usr" / "bin" / name
    data = release.unpacked("qemu-system-data") / "usr" / "share" / "qemu"
    return dataclasses.replace(arch, qemu=str(binary),
                               qemu_args=(*arch.qemu_args, "-L", str(data)))


def qemu_version(binary):
    """(major, minor) of the QEMU ``binary`` (its --version, read as `try` reads it)."""
    release = release_of(str(binary))
    if release is None:
        raise RuntimeError(f"{binary} --version names no release")
    return release[:2]


def bootable_arch(arch):
    """``arch``, or ``arch`` with the backports' QEMU when the machine's is one BOOTS_AFTER
    says does not boot it (the backports' must be newer)."""
    if arch.name not in BOOTS_AFTER:
        return arch
    last_failing, what = BOOTS_AFTER[arch.name]
    if qemu_version(arch.qemu) > last_failing:
        return arch
    fixed = backports_qemu(arch)
    if qemu_version(fixed.qemu) <= last_failing:
        raise RuntimeError(f"{arch.name} guests: QEMU up to {'.'.join(map(str, last_failing))} "
                           f"{what}, and neither {arch.qemu} nor {fixed.qemu} is newer")
    return fixed


def checked_arch(arch, image, busybox, cross_compile):
    """The GuestArch to boot ``image`` with: a QEMU that boots it (bootable_arch), and
    ``arch`` when it has no probe or its QEMU passes the probe, else ``arch`` with the
    backports' QEMU, which must pass it."""
    if arch.name not in REWRITE_PROBES:
        return bootable_arch(arch)
    with tempfile.TemporaryDirectory(prefix="klp-emulator-") as directory:
        program = build_probe(arch.name, cross_compile, directory)
        failures = probe_failures(arch, run_probe(arch, image, busybox, program,
                                                  Path(directory) / "host"))
        if not failures:
            return arch
        fixed = backports_qemu(arch)
        fixed_failures = probe_failures(fixed, run_probe(fixed, image, busybox, program,
                                                         Path(directory) / "backports"))
    if fixed_failures:
        raise RuntimeError(
            f"{arch.name} guests: neither {arch.qemu} ({'; '.join(failures)}) nor {fixed.qemu} "
            f"({'; '.join(fixed_failures)}) runs code as the guest rewrote it "
            f"({PROBES / REWRITE_PROBES[arch.name][0]}): install a QEMU with upstream commit "
            "e43ced8be18d (10.0, 9.2.1, 9.1.3)")
    return fixed
