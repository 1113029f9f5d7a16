"""`klp-convert try` as a user runs it (the console script, in a subprocess), on Debian's kernel
booted under QEMU: livepatches built with `klp-convert kbuild` against Debian's headers (the
README's hello_klp, the real-kernel suite's late and broken scenarios), broken variants made
with our ELF layer (support/broken.py).

Two boots: one where everything works (two livepatches, a module from Debian's tree with its
dependency, late patching, a target reloaded, unpatching), one where one livepatch is refused,
another oopses when its code runs, and a patched target cannot be reloaded (Linux 6.1). The
set-up errors need no boot.
"""

import json
import os
import subprocess

import pytest

from klp_convert import guest
from klp_convert.elf import ElfObject
from support.broken import left_in_plain_rela, wrong_position
from support.readme import write_hello_livepatch
from support.realkernel import (
    KLP_CONVERT, build_livepatch, copy_scenario, kernel_symbol_database, target_kernel,
)

pytestmark = [pytest.mark.debian, pytest.mark.realkernel, pytest.mark.slow]

CMDLINE = "cat /proc/cmdline"
BAR_STATE = "cat /sys/module/bar/parameters/state"


def klp_try(kernel, *args, env=None):
    """Run `klp-convert try` on Debian's kernel; the finished process."""
    command = [KLP_CONVERT, "try", "--kernel", kernel.image, "--modules", kernel.modules,
               *args]
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env,
                          timeout=900)


@pytest.fixture(scope="module")
def kernel():
    return target_kernel("debian-6.1")


@pytest.fixture(scope="module")
def built(kernel, tmp_path_factory):
    """{name: path} of every module the tests load, built as a user would."""
    workdir = tmp_path_factory.mktemp("try")
    kernel.share(workdir)  # (the modules are built in a Debian 12 chroot on another release)
    database = kernel_symbol_database(kernel, workdir / "kernel.symdb")
    hello = copy_scenario("readme", workdir)
    write_hello_livepatch(hello / "livepatch")
    build_livepatch(kernel, hello, [database])
    late = copy_scenario("late", workdir)
    build_livepatch(kernel, late, [database])
    broken = copy_scenario("broken", workdir)
    build_livepatch(kernel, broken, [database])
    modules = {
        "hello": hello / "livepatch" / "hello_klp.ko",
        "klp_late": late / "livepatch" / "klp_late.ko",
        "bar": late / "target" / "bar.ko",
        "hmod": broken / "target" / "hmod.ko",
    }
    # Variants made with our ELF layer (KERNEL-RULES.md section 2): hello_klp asking for a
    # position of saved_command_line that vmlinux lacks (the kernel refuses it), klp_broken
    # with its vmlinux relocations left in .rela.text (it loads and oopses when it runs).
    for name, source, edit in (("hello_refused", modules["hello"], wrong_position),
                               ("klp_broken_oops", broken / "livepatch" / "klp_broken.ko",
                                left_in_plain_rela)):
        obj = ElfObject.read(source)
        edit(obj)
        (workdir / name).mkdir()
        modules[name] = workdir / name / source.name
        obj.write(modules[name])
    return modules


@pytest.fixture(scope="module")
def working(kernel, built):
    """One boot where everything should work; accelerator chosen by the probe."""
    proc = klp_try(kernel, "--json", "--load", "vfat", "--late", built["bar"],
                   "--reload-target", "vfat", "--unpatch", "--run", CMDLINE, "--run", BAR_STATE,
                   built["hello"], built["klp_late"])
    return proc, json.loads(proc.stdout) if proc.stdout.startswith("{") else None


def outputs(report, command):
    return next(c for c in report["commands"] if c["command"] == command)


def test_working_livepatch(kernel, working):
    """hello_klp (the README's) replaces /proc/cmdline until it is unpatched; exit 0."""
    proc, report = working
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["verdict"] == "ok" and report["problems"] == []
    assert report["release"] == kernel.release and report["accel"] in ("kvm", "tcg")
    cmdline = outputs(report, CMDLINE)
    original = guest.kernel_args(kernel.arch, oops_panic=False)
    assert cmdline["before"]["output"] == [original]
    assert cmdline["after"]["output"] == [f"patched: {original}"]
    assert cmdline["reloaded"]["output"] == [f"patched: {original}"]
    assert cmdline["unpatched"]["output"] == [original]
    for patch in report["patches"]:
        assert (patch["loaded"], patch["enabled"], patch["transition"]) == (True, "1", "0")
    patch_messages = next(s["kernel"] for s in report["steps"] if s["name"] == "patch")
    assert "livepatch: 'hello_klp': patching complete" in patch_messages
    assert "K" in report["taint"]["new"] and set(report["taint"]["new"]) <= {"K", "O", "E"}


def test_module_from_the_tree_with_its_dependency(working):
    """--load vfat finds vfat in Debian's module tree, and fat (its .modinfo depends=) first;
    --reload-target unloads and loads it again under the patch."""
    _, report = working
    loaded = [(m["name"], m["step"], m["loaded"]) for m in report["modules"]]
    assert loaded[:2] == [("fat", "load", True), ("vfat", "load", True)]
    reload = next(s for s in report["steps"] if s["name"] == "reload")
    assert "rmmod.vfat=ok" in reload["lines"] and "insmod.vfat=ok" in reload["lines"]


def test_late_patching(working):
    """bar loads after klp_late and is patched as it loads."""
    _, report = working
    state = outputs(report, BAR_STATE)
    assert state["before"]["output"] and state["before"]["status"] != 0  # bar absent
    assert "bar=patched" in state["after"]["output"]
    assert "bar=unpatched" in state["unpatched"]["output"]
    assert ("bar", "late", True) in [(m["name"], m["step"], m["loaded"])
                                     for m in report["modules"]]
    late = next(s["kernel"] for s in report["steps"] if s["name"] == "late")
    assert "livepatch: applying patch 'klp_late' to loading module 'bar'" in late


@pytest.fixture(scope="module")
def failing(kernel, built):
    """One boot: a livepatch the kernel refuses, one that oopses when /proc/cmdline is read,
    and klp_late, whose target bar cannot come back under it on 6.1. Text output, as a user
    reads it."""
    return klp_try(kernel, "--accel", "tcg", "--timeout", "400", "--load", built["hmod"],
                   "--late", built["bar"], "--reload-target", "bar", "--run", CMDLINE,
                   built["hello_refused"], built["klp_broken_oops"], built["klp_late"])


def test_refused_livepatch(failing):
    """Exit 1, and the report quotes the kernel's reason."""
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "verdict: FAILED" in failing.stdout
    assert "  patch: the kernel refused hello_klp.ko" in failing.stdout
    assert ("livepatch: symbol position 2 for symbol 'saved_command_line' in object 'vmlinux' "
            "not found") in failing.stdout
    assert "livepatch klp_broken: enabled=1 transition=0" in failing.stdout


def test_oops_when_the_patch_runs(failing):
    """The oops is in the report, under the command that caused it; the guest went on (no
    hang) and the kernel's D taint is named."""
    out = failing.stdout
    assert "  after.1: the kernel reported: BUG: kernel NULL pointer dereference" in out, out
    assert "Oops:" in out and "the kernel is tainted D" in out
    assert "timed out" not in out and "did not finish" not in out
    assert "Traceback" not in failing.stderr


def test_target_reload_under_the_patch(failing):
    """--reload-target: Linux 6.1 keeps bar's relocations in klp_late applied after bar goes
    (KERNEL-RULES rule 10), so bar cannot load again; the report says why, with the kernel's
    line."""
    out = failing.stdout
    assert ("  reload: bar could not be loaded again under the livepatch: a known limit of "
            "Linux 6.1") in out, out
    assert "Skipping invalid relocation target, existing value is nonzero" in out


def test_missing_qemu(kernel, built, tmp_path):
    """Exit 2 before any boot, naming the Debian package to install."""
    env = dict(os.environ, PATH=str(tmp_path))  # an empty directory: no QEMU on the PATH
    proc = klp_try(kernel, built["hello"], env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("klp-convert: error: qemu-system-x86_64: not found: install "
                                  "qemu-system-x86"), proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr


def test_missing_busybox(kernel, built, tmp_path):
    proc = klp_try(kernel, "--busybox", tmp_path / "busybox", built["hello"])
    assert proc.returncode == 2 and "busybox-static" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
