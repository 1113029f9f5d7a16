"""The oldest Python the package supports (pyproject: requires-python >= 3.9) runs the tool: the
symbol database build, a conversion, check and show of the toy kernel, each byte for byte what
this interpreter's run gives. The tool needs only the standard library, so the source tree is
run as it is (PYTHONPATH=src), no virtual environment."""

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import debian
from support.apt import AptRelease
from support.buildroot import BuildRoot
from test_convert_database import build, livepatch

OLDEST = (3, 9)
VERSION = "import sys; print(tuple(sys.version_info[:2]))"
SRC = Path(__file__).resolve().parent.parent / "src"


def oldest_python(work):
    """An interpreter of the oldest supported version that runs: one pyenv installed, else one
    on PATH (a pyenv shim there fails unless that version is selected), else Debian 11's
    python3 (3.9) in a chroot of Debian 11 (support/buildroot.py: a machine without pyenv, a
    Debian 13 one say; ``work``, the test's directory, is seen there). None of them (not root,
    so no chroot): skipped on a developer's machine, a failure in CI."""
    name = f"python{OLDEST[0]}.{OLDEST[1]}"
    candidates = sorted(glob.glob(os.path.expanduser(
        f"~/.pyenv/versions/{OLDEST[0]}.{OLDEST[1]}.*/bin/{name}")))
    candidates += [found for found in [shutil.which(name)] if found]
    for python in candidates:
        version = subprocess.run([python, "-c", VERSION], capture_output=True, text=True)
        if version.returncode == 0 and version.stdout.strip() == str(OLDEST):
            return HostPython(python)
    if os.geteuid() == 0:
        debian.ensure_installed(["debootstrap"])
        userland = BuildRoot(AptRelease(OLDEST_DEBIAN), "python", ["python3"]).prepare()
        userland.share(work)
        python = ChrootPython(userland)
        version = python.userland.run(["python3", "-c", VERSION]).stdout.strip()
        assert version == str(OLDEST), f"Debian {OLDEST_DEBIAN}'s python3 is {version}"
        return python
    message = f"no {name} that runs (under ~/.pyenv/versions or on PATH), and not root"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


# The Debian release whose python3 is the oldest supported version.
OLDEST_DEBIAN = "bullseye"
TOOL_ENV = {"PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}


class HostPython:
    """An interpreter of this machine."""

    def __init__(self, path):
        self.path, self.name = path, Path(path).name

    def run(self, argv):
        return subprocess.run([self.path, "-m", "klp_convert", *argv],
                              env=dict(os.environ, **TOOL_ENV), capture_output=True, text=True,
                              timeout=300)


class ChrootPython:
    """python3 of a Debian release's chroot (the directories it shares, the source tree's
    among them, seen there at their own paths)."""

    def __init__(self, userland):
        self.userland, self.name = userland, f"python3-{OLDEST_DEBIAN}"

    def run(self, argv):
        return self.userland.run(["python3", "-m", "klp_convert", *argv], env=TOOL_ENV)


def run(python, *argv, check=True):
    proc = python.run([str(a) for a in argv])
    assert "Traceback" not in proc.stderr, proc.stderr
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_the_oldest_python_does_what_this_one_does(tmp_path):
    old = oldest_python(tmp_path)
    build("x86_64", tmp_path)
    toy = ("x86_64", tmp_path, tmp_path / "toy.symdb")
    module = livepatch(toy, "oldest")
    outputs = {}
    this = HostPython(sys.executable)
    for python in (old, this):
        out = tmp_path / python.name
        out.mkdir(exist_ok=True)
        db = out / "toy.symdb"
        run(python, "symbols", "--vmlinux", tmp_path / "vmlinux", "--modules",
            tmp_path / "foo.ko", "--modules", tmp_path / "twins.ko", "-o", db)
        run(python, "convert", "--symbols", db, module, "-o", out / "patch.ko")
        refused = run(python, "convert", "--symbols", db, livepatch(toy, "oldest-amb", ["hats"]),
                      "-o", out / "amb.ko", check=False)
        assert refused.returncode == 1 and "is ambiguous" in refused.stderr
        outputs[python] = (
            (out / "patch.ko").read_bytes(),
            run(python, "check", "--symbols", db, out / "patch.ko").stdout.replace(str(out), ""),
            run(python, "show", "--json", out / "patch.ko").stdout.replace(str(out), ""),
            run(python, "symbols", "--info", db).stdout.replace(str(out), ""),
            refused.stderr.replace(str(out), ""))
    assert outputs[old] == outputs[this]
