"""Debian's kernel packages for the tests: find the current ABI, download once, cache outside
the repository (${KLP_CONVERT_CACHE:-~/.cache/klp-convert})."""

import os
import subprocess
from pathlib import Path

from support.apt import AptRelease, cache_dir  # noqa: F401 (cache_dir: users)

FLAVOUR = "amd64"


# The release whose kernel the unit tests and bench scripts read as "Debian's kernel": Debian
# 12's Linux 6.1, whose facts they state (its counts, its layout: lib/modules, plain .ko), on
# a Debian 13 machine as on a Debian 12 one (Debian 13 puts .ko.xz under usr/lib/modules). The
# real-kernel suite reads every release so (tests/support/kernels.py).
REFERENCE_CODENAME = "bookworm"


def reference_release():
    """Debian 12 through the private apt configuration (apt.py), whatever the machine's own
    release: its packages share one cache with the real-kernel suite's debian-6.1."""
    return AptRelease(REFERENCE_CODENAME)


def current_abi():
    """The ABI (e.g. '6.1.0-56') that Debian's linux-headers-amd64 points at today."""
    return reference_release().kernel_abi(FLAVOUR)


def _apt_update():
    # It can fail for one index while a mirror syncs; the install step decides.
    subprocess.run(["apt-get", "update", "-q"], capture_output=True)


def download(package):
    """Path of the .deb for ``package`` in the cache, downloading it when missing."""
    return reference_release().download(package)


def unpacked(package):
    """Directory holding the unpacked contents of ``package`` (dpkg-deb -x), cached."""
    return reference_release().unpacked(package)


def kernel_image_modules():
    """(abi, directory of the .ko tree) of Debian's current linux-image-<abi>-amd64-unsigned."""
    abi = current_abi()
    root = unpacked(f"linux-image-{abi}-{FLAVOUR}-unsigned")
    return abi, root / "lib" / "modules" / f"{abi}-{FLAVOUR}"


def debug_files(abi=None):
    """(System.map, unstripped vmlinux) of linux-image-<abi>-amd64-dbg, extracted once.

    The package is about 860 MB; only these two files are taken from it (dpkg-deb --fsys-tarfile
    piped into tar) and kept in the cache, so the .deb itself can be deleted afterwards.
    """
    abi = abi or current_abi()
    release = f"{abi}-{FLAVOUR}"
    target = reference_release().extracted(f"linux-image-{release}-dbg",
                                      [f"./usr/lib/debug/boot/System.map-{release}",
                                       f"./usr/lib/debug/boot/vmlinux-{release}"])
    boot = target / "usr" / "lib" / "debug" / "boot"
    return boot / f"System.map-{release}", boot / f"vmlinux-{release}"


def kernel_headers(abi=None):
    """Directory of linux-headers-<abi>-amd64 (Module.symvers, .config), unpacked into the cache
    (or the installed one under /usr/src when it is there)."""
    abi = abi or current_abi()
    installed = Path(f"/usr/src/linux-headers-{abi}-{FLAVOUR}")
    if (installed / "Module.symvers").exists():
        return installed
    return unpacked(f"linux-headers-{abi}-{FLAVOUR}") / "usr" / "src" / \
        f"linux-headers-{abi}-{FLAVOUR}"


def installed(package):
    """True when dpkg says ``package`` is installed."""
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                          capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.endswith("install ok installed")


def ensure_installed(packages):
    """Install the Debian packages that are missing (needs root: CI runs as root).

    Packages whose name depends on the kernel ABI (linux-headers-<abi>-amd64) can only be named
    at run time, so they are installed here rather than by scripts/test."""
    missing = [p for p in packages if not installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"not root: install {' '.join(missing)} yourself")
    # Other test runs on this machine may hold the dpkg lock: wait for it.
    command = ["apt-get", "-o", "DPkg::Lock::Timeout=900", "install", "-y", "-q",
               "--no-install-recommends", *missing]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        _apt_update()
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"apt-get install {' '.join(missing)} failed:\n{proc.stderr}")
