"""Where Debian 12, 13 and unstable put a kernel's files, and the errors for the files that look
right but are not: the placeholder System.map and a compressed vmlinuz."""

import lzma

import pytest

from klp_convert.cli import main
from klp_convert.commands import symbols
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


def test_running_system_prefers_a_real_system_map_over_kallsyms(monkeypatch):
    real = f"/usr/lib/debug/lib/modules/{RELEASE}/System.map"
    monkeypatch.setattr(symbols, "_readable_input", lambda path: path == real)
    assert symbols._running_system(RELEASE).vmlinux == real
    monkeypatch.setattr(symbols, "_readable_input", lambda path: False)
    assert symbols._running_system(RELEASE).vmlinux == "/proc/kallsyms"
