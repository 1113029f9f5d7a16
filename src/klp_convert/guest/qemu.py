"""One boot of a kernel under QEMU, with a time limit."""

import subprocess
import time
from pathlib import Path

from .report import ReportError, parse_report

BOOT_TIMEOUT = 240  # seconds per boot; a boot with every real-kernel scenario takes 15-40 s (TCG)
# KVM aborts or hangs on the machines we test on: TCG unless the caller asks for KVM.
ACCELERATORS = ("tcg", "kvm")


def kernel_args(arch, oops_panic=True, extra=""):
    """The kernel command line for a guest of ``arch``. With ``oops_panic`` an unexpected oops
    ends the boot at once instead of hiding in later steps; without it (livepatches broken on
    purpose) an oops kills only the guest's reader and the guest reports on."""
    args = [f"console={arch.console}", "panic=-1"]
    if oops_panic:
        args.append("oops=panic")
    args += [a for a in (arch.extra_kernel_args, extra) if a]
    return " ".join(args)


class BootResult:
    """The guest's reports by step, and the kernel console for failure messages."""

    def __init__(self, console, report_text, seconds, returncode, timed_out):
        self.console = console
        self.seconds = seconds
        self.returncode = returncode
        self.timed_out = timed_out
        self.steps = parse_report(report_text)
        self.powered_off = "@@ poweroff" in report_text

    def console_tail(self, lines=60):
        return "\n".join(self.console.splitlines()[-lines:])

    def step(self, name):
        """The step's report; ReportError with the console tail when the guest never
        finished it."""
        found = self.steps.get(name)
        if found is None or not found.ended:
            why = "timed out" if self.timed_out else f"exit status {self.returncode}"
            partial = found.report() if found else "(never started)"
            raise ReportError(f"the guest did not finish step {name} (QEMU {why}).\n"
                              f"{partial}\n--- console tail ---\n{self.console_tail()}")
        return found


def boot(arch, image, initrd, workdir, kernel_args, timeout=BOOT_TIMEOUT, accel="tcg"):
    """Boot ``image`` with ``initrd`` under QEMU; wait for poweroff or ``timeout`` seconds.
    The console goes to ``workdir``/console.log, the report port to ``workdir``/report.log."""
    workdir = Path(workdir)
    console_path, report_path = workdir / "console.log", workdir / "report.log"
    report_path.write_bytes(b"")
    command = [arch.qemu, "-accel", accel, *arch.qemu_args, "-no-reboot", "-display", "none",
               "-monitor", "none", "-nodefaults", "-serial", "stdio",
               *arch.report_args(report_path),
               "-kernel", str(image), "-initrd", str(initrd), "-append", kernel_args]
    started = time.monotonic()
    timed_out = False
    with open(console_path, "wb") as console:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=console,
                                stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
    seconds = time.monotonic() - started
    console_text = console_path.read_bytes().decode(errors="replace")
    report_text = report_path.read_bytes().decode(errors="replace")
    return BootResult(console_text, report_text, seconds, proc.returncode, timed_out)
