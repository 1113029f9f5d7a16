"""`klp-convert try` without a boot: argument and set-up errors (the console script in a
subprocess), finding modules and their dependencies, the steps the guest runs, and the verdict
and report read from a guest report written the way /init writes it (guest/initramfs.py).

The modules are real objects compiled here with a `.modinfo` section, as modpost writes it."""

import lzma
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from klp_convert import guest
from klp_convert.cli import main
from klp_convert.commands.try_ import format_report
from klp_convert.errors import KlpError
from klp_convert.files import WorkDirectory
from klp_convert.guest import BootResult
from klp_convert.guest.accel import choose_accel
from klp_convert.guest.modules import ModuleTree, find_module, load_order, read_guest_module
from klp_convert.guest.trial import Trial, TrialReport, TrialRequest
from klp_convert.kernel.health import taint_letters, trouble_reports
from support.toolchains import compile_c, require_tool

KLP_CONVERT = Path(sys.executable).parent / "klp-convert"


def module(directory, name, modinfo, target="x86_64"):
    """A module object `name.ko` whose .modinfo holds ``modinfo`` (key=value strings)."""
    source = Path(directory) / f"{name}.c"
    entries = "".join(f"{entry}\\0" for entry in [f"name={name}", *modinfo])
    source.write_text('static const char modinfo[] __attribute__((section(".modinfo"), used)) '
                      f'= "{entries}";\nint {name}_value = 1;\n')
    return compile_c(target, source, Path(directory) / f"{name}.ko")


def klp_try(*args):
    """The console script in a subprocess, as a user runs it."""
    return subprocess.run([str(KLP_CONVERT), "try", *map(str, args)], capture_output=True,
                          text=True)


@pytest.fixture
def try_main(capsys):
    """`klp-convert try ARGS` in this process (cli.main, what the console script calls): a
    CompletedProcess-like result, faster than a subprocess for the many error cases."""
    def run(*args):
        try:
            status = main(["try", *map(str, args)])
        except SystemExit as e:  # argparse's usage errors
            status = e.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, out, err)
    return run


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """The modules most tests use, compiled once."""
    directory = tmp_path_factory.mktemp("try-objects")
    image = directory / "vmlinuz"
    image.write_bytes(bytes(0x202) + b"HdrS" + b" not booted by these tests")  # a bzImage's
    return {"vmlinuz": image,
            "tiny_klp": module(directory, "tiny_klp", ["livepatch=Y", "license=GPL"]),
            "other_klp": module(directory, "other_klp", ["livepatch=Y", "license=GPL"]),
            "plain": module(directory, "plain", ["license=GPL"]),
            "bar": module(directory, "bar", ["license=GPL"])}


@pytest.fixture
def livepatch(objects):
    return objects["tiny_klp"]


@pytest.fixture
def vmlinuz(objects):
    return objects["vmlinuz"]


def one_error_line(proc, status=2):
    assert proc.returncode == status, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("klp-convert: error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize("args", [[], ["--accel", "xen", "x.ko"], ["--timeout", "0", "x.ko"],
                                  ["--timeout", "soon", "x.ko"]])
def test_usage_errors(try_main, args):
    proc = try_main(*args)
    assert proc.returncode == 2 and "usage: klp-convert try" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_livepatch(tmp_path, vmlinuz):
    line = one_error_line(klp_try("--kernel", vmlinuz, tmp_path / "absent.ko"))
    assert line.endswith("absent.ko: no such module file")


def test_missing_kernel(try_main, tmp_path, livepatch):
    line = one_error_line(try_main("--kernel", tmp_path / "vmlinuz-none", livepatch))
    assert line.endswith("vmlinuz-none: no such kernel image")


@pytest.mark.parametrize("content", [b"", b"root:x:0:0:root:/root:/bin/bash\n",
                                     b"\x7fELF" + bytes(60), bytes(0x202) + b"HdrZ"])
def test_not_a_kernel_image_of_the_guest(try_main, tmp_path, livepatch, content):
    """A file QEMU cannot boot for the livepatch's architecture (x86-64: a bzImage or an ELF
    vmlinux) is refused before QEMU starts: it once booted /etc/passwd, and the verdict was
    FAILED with QEMU's 'linux kernel too old to load a ram disk'."""
    image = tmp_path / "vmlinuz"
    image.write_bytes(content)
    if content.startswith(b"\x7fELF"):  # an ELF file is taken (QEMU says what it lacks)
        assert guest.ARCHES["x86_64"].image_kind(content) == "an ELF vmlinux"
        return
    line = one_error_line(try_main("--kernel", image, livepatch))
    assert line == (f"klp-convert: error: {image}: not a kernel image QEMU boots for x86_64: it "
                    "takes a bzImage (Documentation/arch/x86/boot.rst: 'HdrS' at 0x202) or an "
                    "ELF vmlinux")


def test_each_guest_takes_the_images_the_suite_boots():
    """Every architecture's table knows the image the real-kernel suite boots for it."""
    heads = {"x86_64": bytes(0x202) + b"HdrS", "ppc64le": b"\x7fELF",
             "s390x": bytes(0x10008) + b"S390EP", "aarch64": bytes(0x38) + b"ARM\x64",
             "loongarch64": b"\x7fELF"}
    assert set(heads) == set(guest.ARCHES)
    for name, head in heads.items():
        assert guest.ARCHES[name].image_kind(head), name
        assert guest.ARCHES[name].image_kind(b"#!/bin/sh\n" + bytes(0x10010)) is None, name


def test_not_a_livepatch(try_main, objects, vmlinuz):
    line = one_error_line(try_main("--kernel", vmlinuz, objects["plain"]))
    assert "plain.ko: not a livepatch module" in line


def test_not_a_module(try_main, tmp_path, vmlinuz):
    text = tmp_path / "notes.ko"
    text.write_text("hello\n")
    assert "notes.ko: not an ELF file" in one_error_line(try_main("--kernel", vmlinuz, text))


def test_architecture_without_a_guest(try_main, tmp_path, vmlinuz):
    """The guest's architecture comes from the livepatch's ELF header."""
    i686 = module(tmp_path, "klp_i686", ["livepatch=Y"], target="i686")
    line = one_error_line(try_main("--kernel", vmlinuz, i686))
    assert "cannot boot a guest of this module's architecture" in line


def test_busybox_must_be_static_for_the_guest(try_main, tmp_path, vmlinuz, livepatch):
    """A dynamically linked program (the host's own ls), or a file that is no program at all,
    cannot be the guest's busybox."""
    line = one_error_line(try_main("--kernel", vmlinuz, "--busybox", "/bin/ls", livepatch))
    assert "/bin/ls: dynamically linked: the guest needs a static busybox for x86_64" in line
    short = tmp_path / "busybox"
    short.write_bytes(b"\x7fELF")
    line = one_error_line(try_main("--kernel", vmlinuz, "--busybox", short, livepatch))
    assert "busybox: not built for x86_64" in line and "busybox-static:amd64" in line


def test_module_name_not_in_tree(try_main, tmp_path, vmlinuz, livepatch):
    tree = tmp_path / "modules"
    tree.mkdir()
    line = one_error_line(try_main("--kernel", vmlinuz, "--modules", tree, "--load", "nosuch",
                                  livepatch))
    assert f"nosuch: no such module file, and no module of that name in {tree}" in line


def test_reload_target_must_be_loaded(try_main, vmlinuz, livepatch):
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86 is not installed")
    line = one_error_line(try_main("--kernel", vmlinuz, "--reload-target", "bar", livepatch))
    assert "bar: --reload-target names a module that --load or --late loads" in line


def test_dependencies_first_from_the_tree(tmp_path):
    """.modinfo depends= chains are followed in the tree (compressed modules too), each
    dependency before its user, none twice, built-in modules skipped."""
    tree = tmp_path / "lib" / "modules" / "6.1.0-test"
    (tree / "kernel" / "fs").mkdir(parents=True)
    module(tree / "kernel" / "fs", "base_mod", ["depends=builtin_mod"])
    middle = module(tree / "kernel" / "fs", "middle_mod", ["depends=base_mod"])
    middle.with_suffix(".ko.xz").write_bytes(lzma.compress(middle.read_bytes()))
    middle.unlink()
    module(tree / "kernel", "top_mod", ["depends=middle_mod,base_mod"])
    (tree / "modules.builtin").write_text("kernel/builtin_mod.ko\n")
    modules = ModuleTree(tree)
    order = load_order([find_module("top-mod", modules), find_module("base_mod", modules)],
                       modules)
    assert [m.name for m in order] == ["base_mod", "middle_mod", "top_mod"]
    assert order[1].data[:4] == b"\x7fELF"  # decompressed on the host


@pytest.mark.parametrize("with_zstandard", [True, False])
def test_zstd_modules(tmp_path, objects, monkeypatch, with_zstandard):
    """.ko.zst (Ubuntu's, Arch's) through the zstandard extra, or the zstd program."""
    from klp_convert import compression
    from klp_convert.guest import modules as guest_modules

    require_tool("zstd", "zstd")
    monkeypatch.setattr(compression, "has_zstandard", lambda: with_zstandard)
    packed = tmp_path / "tiny_klp.ko.zst"
    subprocess.run(["zstd", "-q", "-o", str(packed), str(objects["tiny_klp"])], check=True)
    module = guest_modules.read_guest_module(packed)
    assert module.name == "tiny_klp" and module.data == objects["tiny_klp"].read_bytes()
    packed.write_bytes(b"(|\xb5/ truncated")
    with pytest.raises(KlpError, match="tiny_klp.ko.zst: cannot decompress"):
        guest_modules.read_guest_module(packed)


# -- steps, verdict and report, from a guest report as /init writes it ----------------------


def trial(objects, **options):
    if not shutil.which("qemu-system-x86_64") or not Path("/bin/busybox").is_file():
        pytest.skip("qemu-system-x86 and busybox-static are not installed")
    request = TrialRequest(livepatches=[str(objects["tiny_klp"])], kernel=str(objects["vmlinuz"]),
                           run=["cat /proc/cmdline"], late=[str(objects["bar"])], **options)
    return Trial(request)


def guest_report(steps):
    """The report port's text for {step: (lines, status, kernel messages)}."""
    text = []
    for uptime, (name, (lines, status, kmsg)) in enumerate(steps.items()):
        text += [f"@@ begin {name} {uptime}.00", *lines, f"@@ status {name} {status}",
                 *(f"kmsg: [    {uptime}.5] {m}" for m in kmsg), f"@@ end {name} {uptime}.50"]
    return "\n".join(text + ["@@ poweroff"]) + "\n"


PATCHED = {
    "boot": (["release=6.1.0-test", "tainted=0"], 0, []),
    "load": (["tainted=0"], 0, []),
    "before.1": (["> console=ttyS0"], 0, []),
    "patch": (["insmod.tiny_klp=ok", "tiny_klp.enabled=1", "tiny_klp.transition=0",
               "tainted=45056"], 0,
              ["livepatch: enabling patch 'tiny_klp'",
               "livepatch: 'tiny_klp': patching complete"]),
    "late": (["insmod.bar=ok", "tainted=45056"], 0, []),
    "after.1": (["> patched: console=ttyS0"], 0, []),
    "end": (["tainted=45056"], 0, []),
}


def judged(trial_, steps, timed_out=False):
    result = BootResult("console\n", guest_report(steps), 12.0, 0, timed_out)
    return TrialReport(trial_, result, "tcg", "as asked (--accel)")


def test_steps_in_order(objects):
    t = trial(objects, unpatch=True, reload_target=["bar"])
    assert [name for name, _, _ in t.steps()] == [
        "boot", "load", "before.1", "patch", "late", "after.1", "reload", "reloaded.1",
        "unpatch", "unpatched.1", "end"]
    scripts = dict((name, script) for name, script, _ in t.steps())
    assert "insmod /steps/patch/tiny_klp.ko" in scripts["patch"]
    assert "wait_patched tiny_klp" in scripts["patch"]
    assert "rmmod bar" in scripts["reload"] and "insmod /steps/late/bar.ko" in scripts["reload"]
    assert "unpatch tiny_klp tiny_klp" in scripts["unpatch"]
    assert "cat /proc/cmdline" in scripts["after.1"]


def test_verdict_ok_and_side_by_side(objects):
    report = judged(trial(objects), PATCHED)
    assert report.ok and report.new_taint() == ["O", "E", "K"]  # 45056 = bits 12, 13, 15
    lines = format_report(report.to_json())
    assert lines[0].startswith("klp-convert try: tiny_klp.ko on Linux 6.1.0-test (x86_64, tcg")
    assert "  before        | after" in lines
    assert "* console=ttyS0 | patched: console=ttyS0" in lines
    assert "livepatch tiny_klp: enabled=1 transition=0" in lines
    assert "  patch: livepatch: enabling patch 'tiny_klp'" in lines
    assert lines[-1].startswith("verdict: ok")


def test_guest_output_is_escaped(objects):
    """What the guest printed reaches the terminal as escapes, not as control sequences."""
    steps = dict(PATCHED, patch=(PATCHED["patch"][0], 0,
                                 ["livepatch: \x1b[2Jcleared\x07", *PATCHED["patch"][2]]))
    lines = format_report(judged(trial(objects), steps).to_json())
    assert "  patch: livepatch: \\x1b[2Jcleared\\x07" in lines
    assert not [line for line in lines if not line.isprintable()]


def test_verdict_refused(objects):
    message = "livepatch: symbol 'x' not found in symbol table"
    steps = dict(PATCHED, patch=(["insmod: can't insert 'tiny_klp.ko': Invalid argument",
                                  "insmod.tiny_klp=failed", "tiny_klp.enabled=absent",
                                  "tiny_klp.transition=absent", "tainted=0"], 0, [message]))
    report = judged(trial(objects), steps)
    assert report.problems == [{"kind": "refused", "step": "patch",
                                "what": "the kernel refused tiny_klp.ko", "lines": [message]}]
    lines = format_report(report.to_json())
    assert "verdict: FAILED (1 problem(s))" in lines and f"      {message}" in lines
    assert "livepatch tiny_klp: not loaded" in lines


def test_refusal_quotes_what_is_not_about_the_other_patch(objects):
    t = trial(objects)
    t.patches.append(read_guest_module(objects["other_klp"]))
    refusal = "livepatch: symbol position 2 for symbol 'x' in object 'vmlinux' not found"
    steps = dict(PATCHED, patch=(
        ["insmod.tiny_klp=failed", "insmod.other_klp=ok", "other_klp.enabled=1",
         "other_klp.transition=0", "tainted=45056"], 0,
        ["tiny_klp: tainting kernel with TAINT_LIVEPATCH", refusal,
         "livepatch: enabling patch 'other_klp'", "livepatch: 'other_klp': patching complete"]))
    report = judged(t, steps)
    assert [(p["what"], p["lines"]) for p in report.problems] == [
        ("the kernel refused tiny_klp.ko",
         ["tiny_klp: tainting kernel with TAINT_LIVEPATCH", refusal])]


def test_verdict_oops_and_taint(objects):
    oops = ["BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "Oops: 0000 [#1] PREEMPT SMP NOPTI", "Call Trace:", " <TASK>",
            "---[ end trace 0000000000000000 ]---", "unrelated later line"]
    steps = dict(PATCHED, **{"after.1": ([], 137, oops), "end": (["tainted=45184"], 0, [])})
    report = judged(trial(objects), steps)
    lines = format_report(report.to_json())
    # The kernel messages show the oops' first line; the verdict quotes all of it.
    assert "  after.1: " + oops[0] + "  [5 lines: see the verdict]" in lines
    assert "           unrelated later line" in lines and "      Call Trace:" in lines
    assert [(p["kind"], p["step"], p["what"]) for p in report.problems] == [
        ("kernel-report", "after.1", "the kernel reported: " + oops[0]),
        ("taint", "end", "the kernel is tainted D")]
    # (The harness strips each message's timestamp and the blanks after it.)
    assert report.problems[0]["lines"] == [line.strip() for line in oops[:5]]
    assert report.command_output("after", 1)["status"] == 137


@pytest.mark.parametrize("release, limit", [("6.1.0-56-amd64", True),
                                            ("6.12.118+deb13-amd64", False)])
def test_reload_failure_names_the_generation_limit(objects, release, limit):
    """A target that cannot come back under the patch: on 6.1 a known kernel limit (its
    generation's fact, kernel/generations.py), on 6.12 just a failure."""
    steps = dict(PATCHED, boot=([f"release={release}", "tainted=0"], 0, []),
                 reload=(["rmmod.bar=ok", "insmod.bar=failed", "tainted=45056"], 0,
                         ["bar: Skipping invalid relocation target"]))
    report = judged(trial(objects, reload_target=["bar"]), steps)
    reload = [p for p in report.problems if p["kind"] == "reload"]
    assert [p["lines"] for p in reload] == [["bar: Skipping invalid relocation target"]]
    assert ("a known limit of Linux 6.1" in reload[0]["what"]) == limit, reload


def test_verdict_transition_and_timeout(objects):
    steps = {name: PATCHED[name] for name in ("boot", "load", "before.1")}
    steps["patch"] = (["insmod.tiny_klp=ok", "tiny_klp.enabled=1", "tiny_klp.transition=1"],
                      0, [])
    report = judged(trial(objects), steps, timed_out=True)
    whats = [p["what"] for p in report.problems]
    assert "tiny_klp's transition did not finish (after 60 s)" in whats
    assert "the guest did not finish in 240 s and was killed during step late" in whats
    assert report.command_output("after", 1) is None
    assert "(not run)" in "\n".join(format_report(report.to_json()))


def test_accel_as_asked():
    from klp_convert.guest import ARCHES

    assert choose_accel(ARCHES["x86_64"], "tcg") == ("tcg", "as asked (--accel)")


def test_taint_and_trouble():
    assert taint_letters(0) == [] and taint_letters(1 << 15 | 1 << 9) == ["W", "K"]
    messages = ["ok", "WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2", "Call Trace:",
                "---[ end trace 0 ]---", "later"]
    assert trouble_reports(messages) == [messages[1:4]]


@pytest.mark.parametrize("version, stale", [
    ((7, 2, 22), True), ((9, 1, 2), True), ((9, 1, 3), False), ((9, 2, 0), True),
    ((9, 2, 1), False), ((9, 0, 4), True), ((10, 0, 0), False), ((10, 1, 2), False)])
def test_qemu_releases_that_run_stale_s390x_code(version, stale):
    """QEMU before e43ced8be18d (10.0, 9.2.1, 9.1.3) kept translations of s390x code that MVC
    rewrote beyond its first byte; other guests are not concerned."""
    assert guest.arches.runs_stale_code(guest.ARCHES["s390x"], version) is stale
    assert guest.arches.runs_stale_code(guest.ARCHES["x86_64"], version) is False


def test_qemu_release_is_read_from_its_version_line():
    assert guest.arches.qemu_release(
        "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright") == (7, 2, 22)
    assert guest.arches.qemu_release("QEMU emulator version 10.0.2 (Debian)") == (10, 0, 2)
    assert guest.arches.qemu_release("no version here") is None


def test_report_says_the_emulator_note(objects):
    report = judged(trial(objects), PATCHED)
    data = report.to_json()
    assert data["notes"] == []  # x86-64: no note
    data["notes"] = ["qemu-system-s390x 7.2.22 may run stale code"]
    assert format_report(data)[1] == "note: qemu-system-s390x 7.2.22 may run stale code"


def test_a_qemu_that_starts_no_kernel_of_the_guest_is_refused():
    """Debian 12's qemu-system-loongarch64 (7.2) starts no loongarch64 kernel: `try` says so at
    once instead of waiting for the boot to time out; a newer one is used."""
    arch = guest.ARCHES["loongarch64"]
    require_tool(arch.qemu, arch.qemu_package)
    qemu = shutil.which(arch.qemu)
    release = guest.trial.qemu_version(qemu)
    if release[:2] <= arch.qemu_boots_after:
        with pytest.raises(KlpError, match=r"QEMU [\d.]+ starts no loongarch64 kernel"):
            guest.trial.refuse_unbootable(arch, qemu, release)
    else:
        guest.trial.refuse_unbootable(arch, qemu, release)


def test_work_directories_are_private_and_left_by_nobody(tmp_path, monkeypatch):
    """`try`'s work directory (files.WorkDirectory): private, gone after its block whatever
    ended it, and one a dead run left (SIGKILL) is removed by the next run; a live run's and
    anything not ours stay."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"klp-convert-try-{dead.pid}.abc"
    (stale / "steps").mkdir(parents=True)
    alive = tmp_path / f"klp-convert-try-{os.getpid()}.live"
    alive.mkdir()
    other = tmp_path / "klp-convert-try-not-a-pid"
    other.mkdir()
    (tmp_path / "klp-convert-try-\u00b2.x").mkdir()  # str.isdigit() takes '²', int() not
    with WorkDirectory("klp-convert-try-") as path:
        assert os.path.isdir(path) and os.stat(path).st_mode & 0o777 == 0o700
        (Path(path) / "initrd").write_bytes(b"x")
    assert not os.path.exists(path) and not stale.exists() and alive.exists() and other.exists()
    with pytest.raises(KeyboardInterrupt):
        with WorkDirectory("klp-convert-try-") as path:
            raise KeyboardInterrupt
    assert not os.path.exists(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, other.name, "klp-convert-try-\u00b2.x"])
