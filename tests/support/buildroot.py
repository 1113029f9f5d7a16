"""Another Debian release's userland to build out-of-tree modules in: a debootstrap chroot.

A kernel's headers need the compiler it was built with and host tools (objtool, modpost, ...)
linked against its release's C library, so modules for Debian 11, 13 or unstable are built in
that release's own userland (KERNEL-RULES.md section 6). The chroot is made once per release and
kernel ABI with `debootstrap --variant=buildd`, then the kernel's headers and python3 are
installed by its own apt, which reads the archive the machine uses (the private apt
configuration's sources, tests/support/apt.py) with the machine's proxy and Release-expiry
settings. It is cached under
${KLP_CONVERT_CACHE}/chroots/<release>-<abi>, built in a temporary directory under a lock and
renamed when complete.

Each command runs in a mount namespace of its own (unshare): /proc (objtool reads it) and the
directories the build names (the repository, the test's work directory) are mounted there at
their own paths and vanish with the process, so nothing is left mounted whatever happens. Paths
into the chroot (the headers) are given as the host sees them and translated: kbuild 6.13+
takes a -C directory that is not the tree's own path for an output directory and writes its
Makefile and the module's build there.
"""

import os
import shlex
import subprocess
from pathlib import Path

from support.apt import cache_dir, fill_atomically, host_acquire_configuration, locked

REPOSITORY = Path(__file__).resolve().parents[2]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildRootError(RuntimeError):
    """Creating the chroot or running in it failed for a reason of its own (not the build's)."""


class BuildRoot:
    """The userland of Debian release ``apt_release`` (an AptRelease) with ``packages``."""

    def __init__(self, apt_release, key, packages):
        self.apt_release = apt_release
        self.packages = list(packages)
        self.path = cache_dir() / "chroots" / f"{apt_release.codename}-{key}"
        self.shared = {REPOSITORY}

    def prepare(self):
        """Create the chroot when the cache has none (about 3 minutes); returns self."""
        with locked(self.path.with_name(self.path.name + ".lock")):
            if not (self.path / ".complete").exists():
                fill_atomically(self.path, self._create)
        return self

    def share(self, directory):
        """Make ``directory`` (and what is under it) visible at the same path inside."""
        self.shared.add(Path(directory))

    def _create(self, root):
        if os.geteuid() != 0:
            raise BuildRootError(f"not root: cannot create the {self.apt_release.codename} "
                                 "build chroot (debootstrap, mount)")
        main, _security = self.apt_release.archive_uris()
        proc = subprocess.run(["debootstrap", "--variant=buildd", self.apt_release.codename,
                               str(root), main], capture_output=True, text=True)
        if proc.returncode != 0:
            log = root / "debootstrap" / "debootstrap.log"
            detail = log.read_text()[-3000:] if log.exists() else proc.stderr[-3000:]
            raise BuildRootError(f"debootstrap {self.apt_release.codename} failed:\n{detail}")
        (root / "etc/apt/sources.list").write_text(self.apt_release.sources_list())
        (root / "etc/apt/apt.conf.d/99klp-convert-host").write_text(host_acquire_configuration())
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                         *self.packages],
                        ["apt-get", "clean"]):
            proc = self._run_in(root, command, "/", env, shared=())
            if proc.returncode != 0:
                raise BuildRootError(f"{' '.join(command)} in the {self.apt_release.codename} "
                                     f"chroot failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def run(self, command, cwd=None, env=None):
        """Run ``command`` inside (its paths as on the host); the CompletedProcess, as text."""
        return self._run_in(self.path, [self.inside(c) for c in command],
                            self.inside(cwd or "/"), env or {}, self.shared)

    def inside(self, text):
        """``text`` with host paths into the chroot made paths inside it."""
        return str(text).replace(str(self.path) + "/", "/")

    @staticmethod
    def _run_in(root, command, cwd, env, shared):
        mounts = [f"mount -t proc proc {shlex.quote(str(root / 'proc'))}"]
        for directory in sorted(map(str, shared)):
            inside = shlex.quote(str(root) + directory)
            mounts.append(f"mkdir -p {inside} && mount --bind {shlex.quote(directory)} {inside}")
        variables = [f"{k}={v}" for k, v in {"PATH": PATH, "HOME": "/root", "LC_ALL": "C.UTF-8",
                                             **env}.items()]
        inner = " ".join(shlex.quote(str(c)) for c in
                         ["env", "-i", *variables, "sh", "-c", 'cd "$0" && exec "$@"', cwd,
                          *command])
        script = " && ".join([*mounts, f"exec chroot {shlex.quote(str(root))} {inner}"])
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                               "sh", "-c", script], capture_output=True, text=True)
