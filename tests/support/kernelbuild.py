"""Minimal kernels the suite builds itself from Debian's linux-source with Debian's cross
compilers: Debian enables no livepatch for ppc64el, s390x, arm64 or loong64, so the proof on
those architectures needs kernels of our own (issue 10).

Recipe: unpack linux-source-<series> of a Debian release once; per architecture,
`make tinyconfig`, merge tests/realkernel/kconfig/common.config and <arch>.config with
scripts/kconfig/merge_config.sh, `make olddefconfig`, check that every option the fragments
set survived, then `make -j2` the image and modules (out of tree, O=). An architecture whose
cross compiler the machine's release lacks (loongarch64: Debian 13 has the first) is built in
a chroot of a release that has it (support/buildroot.py), which its modules are built in too.

Builds are cached outside the repository (${KLP_CONVERT_CACHE}/kernels/), keyed by the source
package's version, the architecture and a hash of the fragments and the compiler's version;
each is built under a lock in a temporary directory renamed when complete, so concurrent runs
share one build and an interrupted one is never taken for finished.

    python3 -m support.kernelbuild ppc64le s390x arm64   (from tests/: build ahead of a run)
"""

import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from support.apt import AptRelease, cache_dir, fill_atomically, locked
from support.buildroot import BuildRoot
from support.debian import ensure_installed

FRAGMENTS = Path(__file__).resolve().parent.parent / "realkernel" / "kconfig"
JOBS = os.environ.get("KLP_KERNEL_JOBS", "2")
# Host tools a kernel build needs besides the cross compiler.
HOST_PACKAGES = ["make", "flex", "bison", "bc", "kmod", "libssl-dev", "libelf-dev", "xz-utils"]


@dataclass(frozen=True)
class BuildArch:
    """How kbuild builds one architecture (QEMU's side is klp_convert.guest.arches)."""

    #: the guest architecture (uname -m)
    name: str
    #: what the suite calls it: its fragment <label>.config, its kernels' ids
    label: str
    #: kbuild's ARCH=
    kernel_arch: str
    #: CROSS_COMPILE= (Debian's gcc-<triplet> package)
    cross_compile: str
    #: the make target of the bootable image
    image_target: str
    #: the Debian release whose userland has the cross compiler, None for the machine's own
    toolchain_release: str = None

    @property
    def compiler_package(self):
        return "gcc-" + self.cross_compile.rstrip("-")

    def userland(self):
        """The BuildRoot (chroot) this architecture's kernel and modules are built in, with
        the kernel tree cache visible inside; None when they are built on the machine."""
        if self.toolchain_release is None:
            return None
        ensure_installed(["debootstrap"])
        root = BuildRoot(AptRelease(self.toolchain_release), f"{self.label}-cross",
                         [*HOST_PACKAGES, self.compiler_package, "python3"]).prepare()
        root.share(cache_dir() / "kernels")
        return root

    @property
    def make_args(self):
        return (f"ARCH={self.kernel_arch}", f"CROSS_COMPILE={self.cross_compile}")

    def fragments(self):
        return [FRAGMENTS / "common.config", FRAGMENTS / f"{self.label}.config"]


BUILD_ARCHES = {a.name: a for a in (
    BuildArch("ppc64le", "ppc64le", "powerpc", "powerpc64le-linux-gnu-", "vmlinux"),
    BuildArch("s390x", "s390x", "s390", "s390x-linux-gnu-", "bzImage"),
    BuildArch("aarch64", "arm64", "arm64", "aarch64-linux-gnu-", "Image"),
    # Debian 12 has no loongarch64 cross compiler; Debian 13's gcc 14.
    BuildArch("loongarch64", "loongarch64", "loongarch", "loongarch64-linux-gnu-", "vmlinux",
              toolchain_release="trixie"),
)}

# The source the suite builds: Debian unstable's 7.2 (arm64 livepatch support; one download
# for every architecture).
SOURCE_RELEASE, SOURCE_SERIES = "sid", "7.2"


class KernelBuildFailed(RuntimeError):
    """A step of the recipe failed; the message holds the command and its output's tail."""


def _run(command, cwd=None, log=None, userland=None):
    """Run ``command`` on the machine, or in ``userland`` (a BuildRoot) when given."""
    if userland is None:
        proc = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True)
    else:
        proc = userland.run(command, cwd=cwd)
    if log is not None:
        with open(log, "a") as f:
            f.write(f"$ {' '.join(map(str, command))}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        raise KernelBuildFailed(f"$ {' '.join(map(str, command))} (exit {proc.returncode})\n"
                                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def source_tree(release=SOURCE_RELEASE, series=SOURCE_SERIES):
    """(version, directory) of linux-source-<series>'s unpacked tarball, cached."""
    apt = AptRelease(release)
    package = f"linux-source-{series}"
    version = apt.candidate(package)
    if version is None:
        raise KernelBuildFailed(f"Debian {release} has no {package}")
    target = cache_dir() / "kernels" / "src" / f"{package}_{version}"
    with locked(target.with_name(target.name + ".lock")):
        if not (target / ".complete").exists():
            tarball = apt.unpacked(package) / "usr" / "src" / f"{package}.tar.xz"
            fill_atomically(target, lambda tmp: _run(
                ["tar", "-xf", tarball, "-C", tmp, "--strip-components=1"]))
    return version, target


def fragment_options(paths):
    """{CONFIG_X: value} the fragments set ('n' for `# CONFIG_X is not set`)."""
    options = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            match = re.match(r"(CONFIG_\w+)=(.*)", line) or re.match(
                r"# (CONFIG_\w+) is not set", line)
            if match:
                options[match.group(1)] = match.group(2) if match.lastindex == 2 else "n"
    return options


def config_values(config):
    values = {}
    for line in Path(config).read_text().splitlines():
        match = re.match(r"(CONFIG_\w+)=(.*)", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def build_key(arch, version, userland=None):
    """The cache key: source version, architecture, fragments and compiler version."""
    digest = hashlib.sha256()
    for path in arch.fragments():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    compiler = _run([f"{arch.cross_compile}gcc", "--version"],
                    userland=userland).stdout.splitlines()[0]
    digest.update(compiler.encode())
    return f"{arch.label}-{version}-{digest.hexdigest()[:12]}"


@dataclass
class BuiltKernel:
    """A finished build: its O= tree (the kbuild tree for out-of-tree modules)."""

    arch: BuildArch
    tree: Path
    seconds: float  # time of this call: the build, or only the cache lookup

    @property
    def release(self):
        return (self.tree / "include" / "config" / "kernel.release").read_text().strip()

    @property
    def modules(self):
        return self.tree / "modroot" / "lib" / "modules" / self.release


def build(arch_name):
    """The kernel for guest architecture ``arch_name``, built once and cached."""
    started = time.monotonic()
    arch = BUILD_ARCHES[arch_name]
    userland = arch.userland()
    if userland is None:
        ensure_installed([*HOST_PACKAGES, arch.compiler_package])
    version, source = source_tree()
    tree = cache_dir() / "kernels" / "build" / build_key(arch, version, userland)
    with locked(tree.with_name(tree.name + ".lock")):
        if not (tree / ".complete").exists():
            # Built in place (kbuild remembers its output directory's path); the marker
            # says it is finished.
            subprocess.run(["rm", "-rf", str(tree)], check=True)
            tree.mkdir(parents=True)
            _build_into(arch, source, tree, userland)
            (tree / ".complete").touch()
    return BuiltKernel(arch, tree, time.monotonic() - started)


def _build_into(arch, source, out, userland=None):
    """The recipe, in build directory ``out`` (on the machine, or in ``userland``)."""
    log = out / "build.log"
    make = ["make", "-C", source, f"O={out}", *arch.make_args]
    _run([*make, "tinyconfig"], log=log, userland=userland)
    fragments = arch.fragments()
    env_make = ["env", f"ARCH={arch.kernel_arch}", f"CROSS_COMPILE={arch.cross_compile}"]
    _run([*env_make, source / "scripts" / "kconfig" / "merge_config.sh", "-m", "-O", out,
          out / ".config", *fragments], cwd=source, log=log, userland=userland)
    _run([*make, "olddefconfig"], log=log, userland=userland)
    values = config_values(out / ".config")
    lost = [f"{name}={want} (now {values.get(name, 'n')})"
            for name, want in fragment_options(fragments).items() if values.get(name, "n") != want]
    if lost:
        raise KernelBuildFailed(f"{arch.name}: options of the fragments lost by olddefconfig "
                                f"(a dependency is missing): {', '.join(lost)}")
    _run([*make, f"-j{JOBS}", arch.image_target, "modules"], log=log, userland=userland)
    _run([*make, "modules_install", f"INSTALL_MOD_PATH={out / 'modroot'}"], log=log,
         userland=userland)


def main(argv):
    for name in argv or list(BUILD_ARCHES):
        built = build(name)
        print(f"{name}: {built.tree} ({built.release}, {built.seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    main(sys.argv[1:])
