"""KVM or TCG: KVM only when it really runs a guest here.

On some hosts /dev/kvm exists and opens, but QEMU aborts or hangs as soon as a virtual CPU runs
(nested virtualization without the features QEMU asks for; KERNEL-RULES.md section 5). So the
probe boots the architecture's tiny probe guest (arches.py `kvm_probe`) with KVM, with a time
limit, and takes KVM only when that guest ran to its end. The answer is cached per process.
"""

import os
import platform
import subprocess
from pathlib import Path

from ..files import WorkDirectory

PROBE_TIMEOUT = 8  # seconds; the probe guest ends in well under a second when KVM works

_probed = {}  # GuestArch name -> "kvm" | "tcg"


def choose_accel(arch, requested=None):
    """(accelerator, why) for booting a guest of ``arch``: ``requested`` when given, otherwise
    KVM when this host can run the guest with it, else TCG."""
    if requested:
        return requested, "as asked (--accel)"
    if arch.name not in _probed:
        _probed[arch.name] = _probe(arch)
    return _probed[arch.name]


def _probe(arch):
    if arch.kvm_probe is None or platform.machine() != arch.name:
        return "tcg", f"KVM cannot run a {arch.name} guest on this host"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "/dev/kvm is missing or not accessible"
    with WorkDirectory("klp-convert-kvm-") as tmp:
        options, expected = arch.kvm_probe(Path(tmp))
        # The guest's own CPU model: a host whose KVM runs a plain CPU can still fail to set
        # up `-cpu max` (seen: "failed to set MSR 0x10a", QEMU aborts at the first vCPU).
        command = [arch.qemu, "-accel", "kvm", "-nodefaults", "-display", "none", "-monitor",
                   "none", "-serial", "none", "-no-reboot", *options, *_cpu_options(arch)]
        try:
            proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            return "tcg", f"a KVM test guest did not finish in {PROBE_TIMEOUT} s"
        except OSError as e:
            return "tcg", f"cannot run {arch.qemu}: {e.strerror}"
    if proc.returncode != expected:
        return "tcg", f"a KVM test guest failed (QEMU exit status {proc.returncode})"
    return "kvm", "a KVM test guest ran"


def _cpu_options(arch):
    """The `-cpu MODEL` of the architecture's QEMU options (empty when it names none)."""
    args = list(arch.qemu_args)
    if "-cpu" in args and args.index("-cpu") + 1 < len(args):
        return ["-cpu", args[args.index("-cpu") + 1]]
    return []
