"""Debian 11's 5.10, Debian 13's 6.12 and unstable's newest kernel, read as a user would: the System.map computed
from the unstripped vmlinux equals the real one line for line, the kallsyms tables from both
agree (letters included: no absolute per-cpu symbols on 7.x), and the files that look right but
are not (the image's placeholder System.map, the vmlinuz) get errors that say what to use.

Only vmlinux and System.map are extracted from the ~1 GB -dbg packages (cached, shared with
every user of tests/support/apt.py)."""

import re

import pytest

from klp_convert.cli import main
from klp_convert.kernel.generations import rules_for_release
from klp_convert.symdb.sources import read_system_map, read_vmlinux_elf, system_map_view
from support import kernels

pytestmark = pytest.mark.debian

# The Debian kernels other than Debian 12's (tests/test_symdb_debian.py reads that one, on any
# machine), found where tests/support/kernels.py finds them.
CODENAMES = ("bullseye", "trixie", "sid")
# Debian's image package ships a placeholder System.map until 7.x, which has none.
PLACEHOLDER = "boot/System.map-{release}"


class Release:
    def __init__(self, codename):
        from support.apt import AptRelease
        self.apt = AptRelease(codename)
        self.abi = self.apt.kernel_abi(kernels.FLAVOUR)
        self.release = f"{self.abi}-{kernels.FLAVOUR}"
        self.generation = rules_for_release(self.release).generation

    def debug_files(self):
        """(System.map, vmlinux) of the -dbg package."""
        root = [self.apt.extracted(f"linux-image-{self.release}-dbg", kernels.DEBUG_MEMBERS)]
        return (kernels.find_in(root, kernels.SYSTEM_MAPS, self.release, "System.map"),
                kernels.find_in(root, kernels.VMLINUXES, self.release, "vmlinux"))

    def image_trees(self):
        return [self.apt.unpacked(p) for p in kernels.image_packages(self.apt, self.abi)]


@pytest.fixture(scope="module", params=CODENAMES)
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
    # 5.10's kallsyms reads `nm -n` (compiler labels included), System.map has none of them
    compiler_labels = [r for r in from_elf if r[0].startswith(".L")]
    assert bool(compiler_labels) == (release.generation.name == "5.10")
    assert [(r[0], r[1] >> 10, r[2]) for r in from_elf if not r[0].startswith(".L")] == \
        [(r[0], r[1] >> 10, r[2]) for r in from_map]
    labels = {r[0] for r in from_elf if r[0].startswith("kallsyms_")}
    listed = release.generation.name != "5.10"  # kallsyms lists its own tables since 6.2
    assert ({"kallsyms_num_syms", "kallsyms_names"} <= labels) == listed
    absolute = sum(1 for r in from_elf if r[1] >> 10 == ord("A"))
    if release.generation.name == "7.2":
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
    assert f"kernel_generation: {release.generation.name}" in info


def test_placeholder_and_vmlinuz_say_what_to_use(release, tmp_path, capsys):
    trees = release.image_trees()
    package = f"linux-image-{release.release}-dbg"
    placeholders = [t / PLACEHOLDER.format(release=release.release) for t in trees]
    placeholders = [p for p in placeholders if p.exists()]
    assert bool(placeholders) == (release.generation.name != "7.2")
    for placeholder in placeholders:
        assert main(["symbols", "--vmlinux", str(placeholder), "-o", str(tmp_path / "a")]) == 2
        err = capsys.readouterr().err
        assert f"the real System.map is in the {package} package" in err
    vmlinuz = kernels.find_in(trees, kernels.IMAGE_PATHS, release.release, "boot image")
    assert main(["symbols", "--vmlinux", str(vmlinuz), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "a bootable kernel image (vmlinuz), which has no symbol table" in err
    assert package in err and err.count("\n") == 1


# -- the facts of kernel/generations.py, against each release's own source ---------------------

SOURCE_FILES = ("kernel/livepatch/core.c", "arch/x86/kernel/module.c", "scripts/mksysmap",
                "scripts/kallsyms.c", "arch/powerpc/kernel/module_64.c",
                "scripts/link-vmlinux.sh")
SOURCES = {"bullseye": "5.10", "bookworm": "6.1", "trixie": "6.12", "sid": "7.2"}


def kernel_sources(codename, version):
    """{file: text} of SOURCE_FILES from linux-source-<version> of that release (the tarball is
    taken out of the .deb once, the few files out of the tarball once; both cached)."""
    from support.apt import AptRelease, cache_dir, fill_atomically, locked
    import hashlib
    import subprocess
    apt = AptRelease(codename)
    package = f"linux-source-{version}"
    tarball_dir = apt.extracted(package, [f"./usr/src/{package}.tar.xz"])
    listed = hashlib.sha256("\n".join(SOURCE_FILES).encode()).hexdigest()[:12]
    target = cache_dir() / "extracted" / codename / f"{package}-files-{listed}"
    with locked(target.with_name(target.name + ".lock")):
        if not (target / ".complete").exists():
            members = [f"{package}/{f}" for f in SOURCE_FILES]
            fill_atomically(target, lambda tmp: subprocess.run(
                ["tar", "-xJf", str(tarball_dir / "usr" / "src" / f"{package}.tar.xz"),
                 "-C", str(tmp), *members], check=True))
    return {f: (target / package / f).read_text(errors="replace") for f in SOURCE_FILES}


@pytest.mark.parametrize("codename", sorted(SOURCES))
def test_generation_facts_are_in_that_kernels_source(codename):
    from klp_convert.elf.constants import EM_PPC64, EM_X86_64
    from klp_convert.kernel.generations import GENERATIONS

    version = SOURCES[codename]
    generation = next(g for g in GENERATIONS if g.name == version)
    src = kernel_sources(codename, version)
    core, x86 = src["kernel/livepatch/core.c"], src["arch/x86/kernel/module.c"]
    assert f'"{generation.not_livepatch_format}\\n"' in core
    loader = generation.loader_for(EM_X86_64)
    assert f'"{loader.nonzero_format}\\n"' in x86
    assert f'"{loader.overflow_format}\\n"' in x86
    assert generation.clears_module_relocs == ("klp_clear_object_relocs" in core)
    for name in (".parainstructions", ".ibt_endbr_seal", ".call_sites", ".cfi_sites"):
        assert (name in generation.special_sections) == (f'"{name}"' in x86), name
    rules = generation.kallsyms
    assert bool(rules.absolute_percpu_machines) == ("absolute-percpu" in src["scripts/kallsyms.c"])
    kallsyms_c = src["scripts/kallsyms.c"]
    start = kallsyms_c.index("static bool is_ignored_symbol(")
    is_ignored_symbol = kallsyms_c[start:kallsyms_c.index("\n}\n", start)]
    assert ("kallsyms_num_syms" in rules.ignored_names.names) == \
        ('"kallsyms_num_syms"' in is_ignored_symbol)
    # 5.10 pipes `${NM} -n` into scripts/kallsyms; later ones give it mksysmap's output
    piped_nm = re.search(r"\$\{NM\} -n .*\| *scripts/kallsyms", src["scripts/link-vmlinux.sh"])
    assert rules.reads_system_map == (piped_nm is None)
    mksysmap = src["scripts/mksysmap"]
    assert ("__mod_device_table__" in rules.mksysmap_names.prefixes) == \
        ("__mod_device_table__" in mksysmap)
    assert ("__kstrtab_" in rules.mksysmap_names.prefixes) == ("__kstrtab_" in mksysmap)
    assert (132 in generation.loader_for(EM_PPC64).accepted) == \
        ("case R_PPC64_PCREL34" in src["arch/powerpc/kernel/module_64.c"])
    # the loaders' lines carry their file's pr_fmt: KBUILD_MODNAME of module.o, module_64.o
    modname_prefix = '#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt'
    assert modname_prefix in x86 and loader.message_prefix == "module: "
    assert modname_prefix in src["arch/powerpc/kernel/module_64.c"]
    assert generation.loader_for(EM_PPC64).message_prefix == "module_64: "
