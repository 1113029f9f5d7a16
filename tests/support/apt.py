"""Any Debian release's packages, read through a private apt configuration.

The machine's own apt sources are never changed (KERNEL-RULES.md section 6): each release gets
its own sources file, package lists and package cache under the cache directory
(${KLP_CONVERT_CACHE:-~/.cache/klp-convert}/apt/<codename>), and every apt command names them
with `-o Dir::...` options. The archive's addresses are taken from the machine's own sources
(the first URI ending in /debian, and /debian-security), so the project names no mirror.

    bullseye = AptRelease("bullseye")
    bullseye.candidate("linux-headers-amd64")         # '5.10.223-1'
    bullseye.download("linux-image-5.10.0-32-amd64-unsigned")   # cached .deb
    AptRelease("sid", arches=("ppc64el",)).download("busybox-static")

Downloads and unpacked trees are cached by release; concurrent users (several test runs on one
machine) serialize on file locks, and a half-finished download or extraction is never taken
for a finished one.
"""

import fcntl
import os
import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# A release's package lists are read again after this long (security updates move ABIs).
LISTS_MAX_AGE = 12 * 3600

# codename -> (suites of the main archive, suite of the security archive or None)
SUITES = {
    "bullseye": (("bullseye", "bullseye-updates"), "bullseye-security"),
    "bookworm": (("bookworm", "bookworm-updates"), "bookworm-security"),
    "trixie": (("trixie", "trixie-updates"), "trixie-security"),
    # Newer builds for a release, e.g. its QEMU (support/emulator.py); read, never installed.
    "bookworm-backports": (("bookworm-backports",), None),
    "trixie-backports": (("trixie-backports",), None),
    "sid": (("sid",), None),
}


def cache_dir():
    root = Path(os.environ.get("KLP_CONVERT_CACHE", Path.home() / ".cache" / "klp-convert"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def locked(path):
    """An exclusive lock on ``path`` (created if missing), held for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def host_codename():
    """The machine's own Debian release ('bookworm', 'trixie', ...), None elsewhere."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return None
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", text, re.M)
    return match.group(1) if match else None


def host_archive_uris():
    """(main archive URI, security archive URI) from the machine's own apt sources."""
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.suffix in (".list", ".sources") or path.name == "sources.list":
            try:
                texts.append(path.read_text())
            except OSError:
                pass
    uris = re.findall(r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)", "\n".join(texts), re.M)
    main = next((u.rstrip("/") for u in uris if u.rstrip("/").endswith("/debian")), None)
    security = next((u.rstrip("/") for u in uris
                     if u.rstrip("/").endswith("/debian-security")), None)
    if main is None:
        raise RuntimeError("no Debian archive (an URI ending in /debian) in the machine's apt "
                           "sources")
    return main, security


# The machine's apt settings a release's own apt (in a chroot, tests/support/buildroot.py) needs
# to reach the archive as the machine does: proxies, and whether an expired Release file is
# accepted (a mirror that lags behind the clock).
ACQUIRE_SETTINGS = ("Acquire::Check-Valid-Until", "Acquire::http::Proxy",
                    "Acquire::https::Proxy", "Acquire::Retries")


def host_acquire_configuration():
    """apt.conf lines repeating the machine's ACQUIRE_SETTINGS that are set."""
    dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True).stdout
    return "".join(line + "\n" for line in dump.splitlines()
                   if line.split(" ", 1)[0] in ACQUIRE_SETTINGS)


# (release root, apt-cache arguments) -> output, for this process (AptRelease.apt_cache).
_ANSWERS = {}


class AptError(RuntimeError):
    """An apt command failed; the message holds its output."""


class AptRelease:
    """One Debian release (and set of architectures) through a private apt configuration."""

    def __init__(self, codename, arches=("amd64",)):
        if codename not in SUITES:
            raise ValueError(f"unknown Debian release {codename!r} (known: {', '.join(SUITES)})")
        self.codename = codename
        self.arches = tuple(arches)
        suffix = "" if self.arches == ("amd64",) else "-" + "+".join(self.arches)
        self.root = cache_dir() / "apt" / (codename + suffix)
        self.debs = cache_dir() / "debs" / codename

    def __repr__(self):
        return f"AptRelease({self.codename!r}, arches={self.arches!r})"

    # -- the private configuration ----------------------------------------------------------

    def _options(self):
        options = {
            "Dir::Etc::SourceList": self.root / "sources.list",
            "Dir::Etc::SourceParts": "/dev/null",
            "Dir::State::Lists": self.root / "lists",
            "Dir::Cache": self.root / "cache",
            # Kept even where the machine's apt keeps none (Docker images): without it each
            # apt-cache call parses the whole lists again (10 s for unstable on a busy machine).
            "Dir::Cache::pkgcache": "pkgcache.bin",
            "Dir::Cache::srcpkgcache": "srcpkgcache.bin",
            "Dir::State::status": self.root / "status",
            "APT::Architecture": self.arches[0],
            "Acquire::Languages": "none",
            "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled": "false",
        }
        args = []
        for key, value in options.items():
            args += ["-o", f"{key}={value}"]
        args += ["-o", "APT::Architectures::=" + self.arches[0]]
        for arch in self.arches[1:]:
            args += ["-o", "APT::Architectures::=" + arch]
        return args

    @staticmethod
    def archive_uris():
        """(main archive URI, security archive URI or None): the machine's own."""
        return host_archive_uris()

    def sources_list(self):
        """The sources.list text of this release (its suites on the machine's archive); also
        the one a chroot of the release uses (tests/support/buildroot.py)."""
        main, security = self.archive_uris()
        suites, security_suite = SUITES[self.codename]
        arch = ",".join(self.arches)
        lines = [f"deb [arch={arch} signed-by={KEYRING}] {main} {suite} main" for suite in suites]
        if security_suite and security:
            lines.append(f"deb [arch={arch} signed-by={KEYRING}] {security} {security_suite} main")
        return "\n".join(lines) + "\n"

    def _write_configuration(self):
        (self.root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(self.sources_list())
        (self.root / "status").touch()

    def update(self, force=False):
        """Read the release's package lists (at most every LISTS_MAX_AGE seconds)."""
        stamp = self.root / "updated"
        with locked(self.root.with_name(self.root.name + ".lock")):
            if not force and stamp.exists() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE:
                return
            self._write_configuration()
            proc = subprocess.run(["apt-get", *self._options(), "update", "-q"],
                                  capture_output=True, text=True)
            # One index can fail while a mirror syncs: fatal only when no list came.
            if proc.returncode != 0 and not any((self.root / "lists").glob("*Packages*")):
                raise AptError(f"apt-get update for {self.codename} failed:\n{proc.stderr}")
            stamp.touch()
            for key in [k for k in _ANSWERS if k[0] == self.root]:
                del _ANSWERS[key]

    def apt_cache(self, *args):
        """apt-cache's output for ``args``; answers are kept for the process (each call
        takes seconds on unstable's lists) until the lists are read again."""
        self.update()
        key = (self.root, args)
        if key not in _ANSWERS:
            proc = subprocess.run(["apt-cache", *self._options(), *args],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise AptError(f"apt-cache {' '.join(args)} ({self.codename}) failed: "
                               f"{proc.stderr.strip()}")
            _ANSWERS[key] = proc.stdout
        return _ANSWERS[key]

    # -- questions ----------------------------------------------------------------------------

    def candidate(self, package):
        """The version apt would take of ``package``, None when the release has none."""
        match = re.search(r"Candidate:\s*(\S+)", self.apt_cache("policy", package))
        if not match or match.group(1) == "(none)":
            return None
        return match.group(1)

    def show(self, package):
        """`apt-cache show` of the candidate version of ``package``."""
        version = self.candidate(package)
        if version is None:
            raise AptError(f"{self.codename} has no package {package}")
        return self.apt_cache("show", f"{package}={version}")

    def field(self, package, name):
        """One field (e.g. 'Depends') of the candidate version's record, '' when absent."""
        match = re.search(rf"^{name}:\s*(.*(?:\n .*)*)", self.show(package), re.M)
        return match.group(1).replace("\n", " ") if match else ""

    def kernel_abi(self, flavour="amd64"):
        """The ABI ('6.12.57+deb13', '5.10.0-32', ...) that linux-headers-<flavour> points at."""
        depends = self.field(f"linux-headers-{flavour}", "Depends")
        match = re.search(rf"linux-headers-(\d[\w.+~-]*?)-{flavour}\b", depends)
        if not match:
            raise AptError(f"cannot find the kernel ABI in {self.codename}'s "
                           f"linux-headers-{flavour}: {depends!r}")
        return match.group(1)

    # -- files ----------------------------------------------------------------------------------

    def download(self, package):
        """The cached .deb of ``package`` (the candidate version), downloaded when missing."""
        self.debs.mkdir(parents=True, exist_ok=True)
        arch_glob = f"{package.split(':')[0]}_*.deb"
        with locked(self.debs / (package.replace(":", "_") + ".lock")):
            version = self.candidate(package)
            if version is None:
                self.update(force=True)
                version = self.candidate(package)
            if version is None:
                raise AptError(f"{self.codename} has no package {package}")
            # apt-get download writes an epoch as %3a (busybox-static_1%3a1.38.0-3_...).
            quoted = version.replace(":", "%3a")
            found = [p for p in self.debs.glob(arch_glob) if f"_{quoted}_" in p.name
                     and self._arch_matches(p, package)]
            if found:
                return found[0]
            command = ["apt-get", *self._options(), "download", "-q", f"{package}={version}"]
            proc = subprocess.run(command, cwd=self.debs, capture_output=True, text=True)
            if proc.returncode != 0:
                self.update(force=True)
                proc = subprocess.run(command, cwd=self.debs, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise AptError(f"apt-get download {package} ({self.codename}) failed:\n"
                                   f"{proc.stderr}")
            found = [p for p in self.debs.glob(arch_glob) if f"_{quoted}_" in p.name
                     and self._arch_matches(p, package)]
            return found[0]

    @staticmethod
    def _arch_matches(path, package):
        if ":" not in package:
            return True
        return path.name.endswith(f"_{package.split(':')[1]}.deb")

    def unpacked(self, package):
        """Directory holding the unpacked contents of ``package`` (dpkg-deb -x), cached."""
        target = cache_dir() / "unpacked" / self.codename / package.replace(":", "_")
        with locked(target.with_name(target.name + ".lock")):
            if not (target / ".complete").exists():
                deb = self.download(package)
                fill_atomically(target, lambda tmp: subprocess.run(
                    ["dpkg-deb", "-x", str(deb), str(tmp)], check=True))
        return target

    def extracted(self, package, patterns):
        """Directory holding only the members of ``package`` that match the shell
        ``patterns`` (tar --wildcards), extracted once; for the ~1 GB -dbg packages, whose
        .deb need not be kept afterwards."""
        target = cache_dir() / "extracted" / self.codename / package
        with locked(target.with_name(target.name + ".lock")):
            if not (target / ".complete").exists():
                deb = self.download(package)
                quoted = " ".join(f"'{p}'" for p in patterns)
                fill_atomically(target, lambda tmp: subprocess.run(
                    f"dpkg-deb --fsys-tarfile '{deb}' | tar -x --wildcards -C '{tmp}' {quoted}",
                    shell=True, check=True))
        return target


def fill_atomically(target, fill):
    """Create directory ``target`` by filling a temporary one and renaming it, then mark it
    complete: an interrupted download or extraction is never taken for a finished one."""
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    subprocess.run(["rm", "-rf", str(target)], check=True)
    tmp.rename(target)
    (target / ".complete").touch()
