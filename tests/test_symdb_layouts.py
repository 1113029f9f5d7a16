"""Where Debian 12, 13 and unstable put a kernel's files, and the errors for the files that look
right but are not: the placeholder System.map and a compressed vmlinuz."""

import lzma
import os

import pytest

from klp_convert.cli import main
from klp_convert.commands import symbols
from klp_convert.errors import KlpError
from klp_convert.kernel import installed

PLACEHOLDER = "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n"
RELEASE = "6.12.118+deb13-amd64"


def run(capsys, *args):
    status = main([str(a) for a in args])
    return status, capsys.readouterr()


def test_placeholder_system_map_names_the_dbg_package(tmp_path, capsys):
    path = tmp_path / f"System.map-{RELEASE}"
    path.write_text(PLACEHOLDER)
    status, out = run(capsys, "symbols", "--vmlinux", path, "-o", tmp_path / "k.symdb")
    assert status == 2 and out.err.count("\n") == 1
    assert out.err.startswith(f"klp-convert: error: {path}: Debian's placeholder System.map: "
                              f"the real System.map is in the linux-image-{RELEASE}-dbg package")
    assert not (tmp_path / "k.symdb").exists()


def test_placeholder_in_unstable_layout(tmp_path, capsys):
    # Debian unstable's linux-base-* puts it at usr/lib/modules/<release>/System.map, already
    # naming the package
    directory = tmp_path / "usr" / "lib" / "modules" / "7.2.13+deb14-amd64"
    directory.mkdir(parents=True)
    (directory / "System.map").write_text(
        PLACEHOLDER.replace("<version>", "7.2.13+deb14-amd64"))
    status, out = run(capsys, "symbols", "--vmlinux", directory / "System.map",
                      "-o", tmp_path / "k.symdb")
    assert status == 2
    assert "the real System.map is in the linux-image-7.2.13+deb14-amd64-dbg package" in out.err


@pytest.mark.parametrize("head, what", [
    (b"MZ" + b"\0" * 0x200 + b"HdrS", "a bootable kernel image (vmlinuz)"),  # x86 bzImage
    (lzma.compress(b"\x7fELF" + b"\0" * 60), "a xz-compressed file"),
])
def test_compressed_kernel_says_what_to_give(tmp_path, capsys, head, what):
    path = tmp_path / f"vmlinuz-{RELEASE}"
    path.write_bytes(head + b"\0" * 1024)
    status, out = run(capsys, "symbols", "--vmlinux", path, "-o", tmp_path / "k.symdb")
    assert status == 2 and out.err.count("\n") == 1
    assert out.err == (f"klp-convert: error: {path}: {what}, which has no symbol table: give "
                       f"the unstripped vmlinux or the System.map of the linux-image-{RELEASE}-dbg "
                       "package (under /usr/lib/debug/), or /proc/kallsyms of the running "
                       "kernel\n")


@pytest.mark.parametrize("layout", ["debian-12", "debian-13", "unstable"])
def test_running_system_defaults_follow_each_layout(tmp_path, monkeypatch, layout):
    """With no inputs: the -dbg package's vmlinux where that release puts it, modules under
    /lib/modules or /usr/lib/modules."""
    vmlinux = {"debian-12": f"/usr/lib/debug/boot/vmlinux-{RELEASE}",
               "debian-13": f"/usr/lib/debug/boot/vmlinux-{RELEASE}",
               "unstable": f"/usr/lib/debug/lib/modules/{RELEASE}/vmlinux"}[layout]
    lib, usr_lib = tmp_path / "lib" / "modules", tmp_path / "usr" / "lib" / "modules"
    tree = (lib if layout == "debian-12" else usr_lib) / RELEASE
    tree.mkdir(parents=True)
    monkeypatch.setattr(installed, "MODULE_ROOTS", (str(lib), str(usr_lib)))
    monkeypatch.setattr(symbols, "_readable_input", lambda path: path == vmlinux)
    sources = symbols._running_system(RELEASE)
    assert (sources.vmlinux, sources.modules) == (vmlinux, [str(tree)])
    assert installed.kbuild_dir(RELEASE) == str(lib / RELEASE / "build")


def test_running_system_prefers_a_real_system_map_over_kallsyms(tmp_path, monkeypatch):
    running = os.uname().release
    for release in {RELEASE, running}:
        (tmp_path / release).mkdir()
    monkeypatch.setattr(installed, "MODULE_ROOTS", (str(tmp_path),))
    real = f"/usr/lib/debug/lib/modules/{RELEASE}/System.map"
    monkeypatch.setattr(symbols, "_readable_input", lambda path: path == real)
    assert symbols._running_system(RELEASE).vmlinux == real
    monkeypatch.setattr(symbols, "_readable_input", lambda path: False)
    assert symbols._running_system(running).vmlinux == "/proc/kallsyms"
    # /proc/kallsyms describes the running kernel only (issue 11, class 11).
    if RELEASE != running:
        with pytest.raises(KlpError, match="is not the running kernel"):
            symbols._running_system(RELEASE)


def test_system_map_of_a_build_tree_takes_its_release_from_kbuild(tmp_path, capsys):
    """A kernel build tree's System.map has no release in its name: kbuild's
    include/config/kernel.release says it, so the database gets that generation's rules (7.2:
    kallsyms lists its own tables' labels, which 6.1's rules would drop)."""
    (tmp_path / "include" / "config").mkdir(parents=True)
    (tmp_path / "include" / "config" / "kernel.release").write_text("7.2.13\n")
    (tmp_path / "System.map").write_text("c000000000008000 T _stext\n"
                                         "c0000000003752ec D kallsyms_num_syms\n")
    database = tmp_path / "k.symdb"
    assert run(capsys, "symbols", "--vmlinux", tmp_path / "System.map", "-o", database)[0] == 0
    status, out = run(capsys, "symbols", "--info", database)
    assert status == 0 and "kernel_generation: 7.2" in out.out
    status, out = run(capsys, "symbols", "--lookup", "kallsyms_num_syms", database)
    assert status == 0 and "0xc0000000003752ec" in out.out, out
