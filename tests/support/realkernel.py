"""The real-kernel suite's host side: Debian's kernel (ABI found at run time), its kbuild tree,
and building the suite's scenarios (target modules with plain kbuild, livepatches with
`klp-convert kbuild`) into directories the guest runs (see guest.py)."""

import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import debian

SCENARIOS = Path(__file__).resolve().parent.parent / "realkernel" / "scenarios"
REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"  # klp-convert.h
# Packages named by the kernel ABI cannot be listed in scripts/test; these are installed here.
HOST_PACKAGES = ["qemu-system-x86", "busybox-static", "make", "gcc"]

# scenario name -> {step: seconds}, printed at the end of the run (tests/realkernel/conftest.py).
TIMES = {}


class DebianKernel:
    """Debian's current amd64 kernel: kbuild tree (linux-headers) and boot image (unsigned)."""

    def __init__(self, abi):
        self.abi = abi
        self.release = f"{abi}-{debian.FLAVOUR}"
        self.headers = Path(f"/usr/src/linux-headers-{self.release}")
        image = debian.unpacked(f"linux-image-{self.release}-unsigned")
        self.vmlinuz = image / "boot" / f"vmlinuz-{self.release}"
        self.modules = image / "lib" / "modules" / self.release
        self.symvers = self.headers / "Module.symvers"


def require_real_kernel_host():
    """Skip on a machine that cannot run the suite (fail in CI, where it must run)."""
    problem = None
    if platform.machine() != "x86_64":
        problem = "the real-kernel suite needs an x86-64 host"
    elif not shutil.which("apt-cache"):
        problem = "the real-kernel suite needs Debian (apt)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def debian_kernel():
    """Install (once) what the suite needs and return Debian's current kernel."""
    require_real_kernel_host()
    abi = debian.current_abi()
    debian.ensure_installed([*HOST_PACKAGES, f"linux-headers-{abi}-{debian.FLAVOUR}"])
    return DebianKernel(abi)


def timed(scenario, step):
    """Context manager adding the time of ``step`` to TIMES[scenario]."""
    return _Timer(scenario, step)


class _Timer:
    def __init__(self, scenario, step):
        self.scenario, self.step = scenario, step

    def __enter__(self):
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        steps = TIMES.setdefault(self.scenario, {})
        steps[self.step] = steps.get(self.step, 0.0) + time.monotonic() - self.started
        return False


class BuildFailed(Exception):
    """A scenario's modules did not build; the scenario's test reports it."""


def run_logged(command, cwd=None):
    """Run ``command``; raise BuildFailed with its output when it fails."""
    proc = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildFailed(f"$ {' '.join(map(str, command))}\n(exit {proc.returncode})\n"
                          f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def make_modules(kernel, directory):
    """Plain kbuild of an out-of-tree module directory (the scenario's target modules)."""
    return run_logged(["make", "-C", kernel.headers, f"M={directory}", "modules"])


def klp_convert(*args):
    """Run the installed klp-convert command line (as a user would)."""
    return run_logged([sys.executable, "-m", "klp_convert", *args])


def copy_scenario(name, workdir):
    """A fresh copy of the scenario's sources under ``workdir`` (never build in the repository)."""
    destination = Path(workdir) / name
    shutil.copytree(SCENARIOS / name, destination)
    return destination


def guest_directory(source):
    """Collect guest.sh and every built .ko of a scenario (its subdirectories included) in one
    directory for the initramfs."""
    guest = source / "guest"
    guest.mkdir()
    shutil.copy(source / "guest.sh", guest / "guest.sh")
    for ko in source.rglob("*.ko"):
        if ko.parent != guest:
            shutil.copy(ko, guest / ko.name)
    return guest
