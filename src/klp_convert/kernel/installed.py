"""Where a distribution installs a kernel's files, for the running system's defaults.

Debian 12 puts modules under /lib/modules/<release> and the real System.map and unstripped
vmlinux (linux-image-<release>-dbg) under /usr/lib/debug/boot/; Debian 13 moved modules to
/usr/lib/modules/<release> (/lib is a link to /usr/lib on merged-/usr systems) and keeps the
-dbg files in /usr/lib/debug/boot/; Debian unstable (7.x) puts them in
/usr/lib/debug/lib/modules/<release>/. Every image's /boot/System.map-<release> is a one-line
placeholder pointing at the -dbg package.
"""

import os

MODULE_ROOTS = ("/lib/modules", "/usr/lib/modules")


def module_dir(release):
    """The running kernel's module tree (None when neither place has one)."""
    return _first_dir(os.path.join(root, release) for root in MODULE_ROOTS)


def kbuild_dir(release):
    """The kbuild tree linux-headers-<release> links as <module dir>/build (the first of the
    module roots when none has one, for the error message)."""
    found = _first_dir(os.path.join(root, release, "build") for root in MODULE_ROOTS)
    return found or os.path.join(MODULE_ROOTS[0], release, "build")


def unstripped_vmlinux(release):
    """Paths where a -dbg package puts the unstripped vmlinux, newest layout last."""
    return (f"/usr/lib/debug/boot/vmlinux-{release}",
            f"/usr/lib/debug/lib/modules/{release}/vmlinux")


def system_maps(release):
    """Paths of System.map, the installed one (maybe a placeholder) first."""
    return (f"/boot/System.map-{release}", f"/usr/lib/modules/{release}/System.map",
            f"/usr/lib/debug/boot/System.map-{release}",
            f"/usr/lib/debug/lib/modules/{release}/System.map")


def _first_dir(paths):
    return next((p for p in paths if os.path.isdir(p)), None)
