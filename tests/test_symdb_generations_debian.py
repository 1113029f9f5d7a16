"""Debian 11's 5.10, Debian 13's 6.12 and unstable's newest kernel, read as a user would: the System.map computed
from the unstripped vmlinux equals the real one line for line, the kallsyms tables from both
agree (letters included: no absolute per-cpu symbols on 7.x), and the files that look right but
are not (the image's placeholder System.map, the vmlinuz) get errors that say what to use.

Only vmlinux and System.map are extracted from the ~1 GB -dbg packages (cached, shared with
every user of tests/support/apt.py)."""

import pytest

from klp_convert.cli import main
from klp_convert.symdb.sources import read_system_map, read_vmlinux_elf, system_map_view

pytestmark = pytest.mark.debian

# release -> where its -dbg package keeps System.map and vmlinux, and its images the placeholder
LAYOUTS = {
    "bullseye": {"dbg": ("./usr/lib/debug/boot/System.map-{r}",
                         "./usr/lib/debug/boot/vmlinux-{r}"),
                 "image": "linux-image-{r}-unsigned", "placeholder": "boot/System.map-{r}",
                 "vmlinuz": "boot/vmlinuz-{r}", "generation": "5.10"},
    "trixie": {"dbg": ("./usr/lib/debug/boot/System.map-{r}", "./usr/lib/debug/boot/vmlinux-{r}"),
               "image": "linux-image-{r}-unsigned", "placeholder": "boot/System.map-{r}",
               "vmlinuz": "boot/vmlinuz-{r}", "generation": "6.12"},
    "sid": {"dbg": ("./usr/lib/debug/lib/modules/{r}/System.map",
                    "./usr/lib/debug/lib/modules/{r}/vmlinux"),
            "image": "linux-binary-{r}", "placeholder": None,
            "vmlinuz": "usr/lib/modules/{r}/vmlinuz", "generation": "7."},
}


class Release:
    def __init__(self, codename):
        from support.apt import AptRelease
        self.apt = AptRelease(codename)
        self.layout = LAYOUTS[codename]
        self.release = f"{self.apt.kernel_abi()}-amd64"

    def debug_files(self):
        members = [m.format(r=self.release) for m in self.layout["dbg"]]
        root = self.apt.extracted(f"linux-image-{self.release}-dbg", members)
        return [root / m for m in members]

    def image(self):
        return self.apt.unpacked(self.layout["image"].format(r=self.release))


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def release(request):
    return Release(request.param)


def test_elf_system_map_equals_the_real_one(release):
    system_map, vmlinux = release.debug_files()
    computed = [f"{a:016x} {letter} {name}" for a, letter, name, *_ in system_map_view(vmlinux)]
    real = system_map.read_text().splitlines()
    assert len(computed) == len(real)
    mismatches = [(c, r) for c, r in zip(computed, real) if c != r]
    assert not mismatches, mismatches[:10]


def test_elf_and_system_map_give_one_kallsyms_table(release):
    system_map, vmlinux = release.debug_files()
    from_elf = read_vmlinux_elf(vmlinux).rows
    from_map = read_system_map(system_map).rows
    assert [(r[0], r[1] >> 10, r[2]) for r in from_elf] == \
        [(r[0], r[1] >> 10, r[2]) for r in from_map]
    labels = {r[0] for r in from_elf if r[0].startswith("kallsyms_")}
    listed = release.layout["generation"] != "5.10"  # kallsyms lists its own tables since 6.2
    assert ({"kallsyms_num_syms", "kallsyms_names"} <= labels) == listed
    absolute = sum(1 for r in from_elf if r[1] >> 10 == ord("A"))
    if release.layout["generation"] == "7.":
        assert absolute == 0  # no KALLSYMS_ABSOLUTE_PERCPU
    else:
        assert absolute > 100  # per-cpu symbols


def test_database_records_the_generation(release, tmp_path, capsys):
    system_map, _vmlinux = release.debug_files()
    db = tmp_path / "k.symdb"
    assert main(["symbols", "--vmlinux", str(system_map), "-o", str(db)]) == 0
    capsys.readouterr()
    assert main(["symbols", "--info", str(db)]) == 0
    info = capsys.readouterr().out
    assert f"kernel_generation: {release.layout['generation']}" in info


def test_placeholder_and_vmlinuz_say_what_to_use(release, tmp_path, capsys):
    image = release.image()
    package = f"linux-image-{release.release}-dbg"
    if release.layout["placeholder"]:
        placeholder = image / release.layout["placeholder"].format(r=release.release)
        assert main(["symbols", "--vmlinux", str(placeholder), "-o", str(tmp_path / "a")]) == 2
        err = capsys.readouterr().err
        assert f"the real System.map is in the {package} package" in err
    vmlinuz = image / release.layout["vmlinuz"].format(r=release.release)
    assert main(["symbols", "--vmlinux", str(vmlinuz), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "a bootable kernel image (vmlinuz), which has no symbol table" in err
    assert package in err and err.count("\n") == 1
