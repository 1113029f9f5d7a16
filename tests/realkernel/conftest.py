"""Builds the real-kernel suite's scenarios and boots them (session fixtures); tests/conftest.py
prints the time each took."""

import shutil

import pytest

from klp_convert import guest
from klp_convert.elf import ElfObject
from support import arch_relocs
from support.broken import INIT_CORE_FORCED, VARIANTS, renamed_klp_symbol
from support.readme import write_hello_livepatch
from support.realkernel import (
    TIMES, BuildFailed, build_livepatch, copy_scenario, guest_directory, kernel_symbol_database,
    make_modules, prepared_kernel, scenario_symbol_problems, timed,
)
from support.kernels import KERNELS, selected


# Seconds per boot: every scenario (and the kallsyms dump) in one boot takes 1-2 minutes under
# TCG, four times that on a 2-core machine other jobs load (load average 15 seen).
SUITE_BOOT_TIMEOUT = 600


class BuildContext:
    """What scenario builders share: the kernel, and its symbol database built on first use."""

    def __init__(self, kernel, workdir):
        self.kernel = kernel
        self.workdir = workdir
        self._database = None
        self.kbuild_messages = {}  # scenario -> what `klp-convert kbuild` said on stderr

    @property
    def kernel_database(self):
        if self._database is None:
            with timed(f"{self.kernel.name} (symbols)", "kernel.symdb"):
                self._database = kernel_symbol_database(self.kernel,
                                                        self.workdir / "kernel.symdb")
        return self._database


def build_nothing(ctx, source):
    """A step that only runs its guest.sh (the kallsyms dump)."""


def build_with_vmlinux_names(ctx, source):
    """A scenario that picks the kernel's duplicated vmlinux names (kernels.py
    ScenarioSymbols): refused before building when the kernel no longer has them."""
    problems = scenario_symbol_problems(ctx.kernel)
    if problems:
        raise BuildFailed("\n".join(problems))
    return build_converted(ctx, source)


def build_plain(ctx, source):
    """A livepatch that needs no conversion: plain kbuild."""
    make_modules(ctx.kernel, source / "livepatch")


def build_readme_example(ctx, source):
    """The README's walk-through: its C file and Kbuild line, then `klp-convert kbuild`."""
    write_hello_livepatch(source / "livepatch")
    return build_livepatch(ctx.kernel, source, [ctx.kernel_database])


def build_converted(ctx, source):
    """Target modules, their database, and the livepatch through `klp-convert kbuild`."""
    return build_livepatch(ctx.kernel, source, [ctx.kernel_database])


def build_init_core(ctx, source):
    """klp_init_core.ko as klp-convert wrote it (it calls initcore's unique initcore_peer()),
    and a copy whose reference asks for initcore's 'helper', position 2 instead: the position
    klp-convert refuses (tests: test_init_core_*), forced with our ELF layer so the guest can
    show what each load order does with it."""
    kbuild = build_livepatch(ctx.kernel, source, [ctx.kernel_database])
    obj = ElfObject.read(source / "livepatch" / "klp_init_core.ko")
    renamed_klp_symbol("initcore", "initcore_peer", "helper", 2)(obj)
    (source / INIT_CORE_FORCED).parent.mkdir()
    obj.write(source / INIT_CORE_FORCED)
    return kbuild


def build_arch_relocs(ctx, source):
    """klp_arch_relocs.ko as klp-convert wrote it, and the copies the architecture's loader
    refuses (support/arch_relocs.py), which the guest loads after it."""
    kbuild = build_livepatch(ctx.kernel, source, [ctx.kernel_database])
    converted = source / "livepatch" / "klp_arch_relocs.ko"
    (source / "refused").mkdir()
    for stem, edit in arch_relocs.refused_variants(ElfObject.read(converted).machine).items():
        obj = ElfObject.read(converted)
        edit(obj)
        obj.write(source / "refused" / f"{stem}.ko")
    return kbuild


# scenario -> how its modules are built; the boot runs them in this order (the kallsyms
# dump first: no module loaded yet).
BUILDERS = {
    "kallsyms": build_nothing,
    "cmdline": build_plain,
    "talk": build_converted,
    "late": build_converted,
    "vmlinux_dup": build_with_vmlinux_names,
    "module_dup": build_converted,
    "sections": build_converted,
    "static_keys": build_converted,
    "annotations": build_with_vmlinux_names,
    "init_core": build_init_core,
    "readme": build_readme_example,
    "arch_relocs": build_arch_relocs,
}


class Suite:
    """The boot's result and the scenarios that could not be built."""

    def __init__(self, boot_result, build_failures, kernel_args):
        self.boot_result = boot_result
        self.build_failures = build_failures
        self.kernel_args = kernel_args  # the guest's /proc/cmdline

    def scenario(self, name):
        if name in self.build_failures:
            pytest.fail(f"scenario {name} did not build:\n{self.build_failures[name]}")
        return self.boot_result.step(name)


def kernels_in_run(session):
    """The kernels the collected tests run on (after -k and deselection), in order."""
    names = (item.callspec.params.get("kernel") for item in session.items
             if hasattr(item, "callspec"))
    # (an empty parametrization's placeholder is no kernel)
    return list(dict.fromkeys(name for name in names if name in KERNELS))


@pytest.fixture(scope="session", params=selected())
def kernel(request):
    """Each kernel of support/kernels.py in turn: every test of the suite runs on each, and
    its id names the kernel."""
    return prepared_kernel(request.param, kernels_in_run(request.session))


@pytest.fixture(scope="session")
def ctx(kernel, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(f"realkernel-{kernel.name}")
    kernel.share(workdir)  # builds in a chroot see it at the same path
    return BuildContext(kernel, workdir)


@pytest.fixture(scope="session")
def suite(ctx):
    kernel, workdir = ctx.kernel, ctx.workdir
    guest_dirs, failures = {}, {}
    for name, build in BUILDERS.items():
        source = copy_scenario(name, workdir)
        try:
            with timed(f"{kernel.name} {name}", "build"):
                kbuild = build(ctx, source)
            if kbuild is not None:
                ctx.kbuild_messages[name] = kbuild.stderr
            guest_dirs[name] = guest_directory(source, kernel)
        except BuildFailed as e:
            failures[name] = str(e)
    initrd = guest.build_initramfs(workdir / "initrd.cpio.gz", guest_dirs, kernel.arch,
                                   kernel.busybox)
    result = guest.boot(kernel.arch, kernel.image, initrd, workdir, kernel.kernel_args,
                        timeout=SUITE_BOOT_TIMEOUT)
    TIMES.setdefault(f"{kernel.name} (boot)", {})["qemu"] = result.seconds
    for name, report in result.steps.items():
        if report.seconds is not None:
            TIMES.setdefault(f"{kernel.name} {name}", {})["guest"] = report.seconds
    return Suite(result, failures, kernel.arch.proc_cmdline(kernel.kernel_args))


@pytest.fixture(scope="session")
def broken(ctx):
    """Every variant of klp_broken.ko (support/broken.py) run in a boot of its own, kept
    apart so an oops cannot disturb the other scenarios."""
    source = copy_scenario("broken", ctx.workdir / "broken-build")
    with timed(f"{ctx.kernel.name} broken", "build"):
        build_livepatch(ctx.kernel, source, [ctx.kernel_database])
    converted = source / "livepatch" / "klp_broken.ko"
    guest_dirs, modules = {}, {}
    for variant, edit in VARIANTS.items():
        directory = ctx.workdir / "broken" / variant
        directory.mkdir(parents=True)
        shutil.copy(source / "guest.sh", directory)
        shutil.copy(source / "target" / "hmod.ko", directory)
        obj = ElfObject.read(converted)
        if edit is not None:
            edit(obj)
        obj.write(directory / "klp_broken.ko")
        guest_dirs[f"broken_{variant}"] = directory
        modules[variant] = directory / "klp_broken.ko"
    initrd = guest.build_initramfs(ctx.workdir / "broken.cpio.gz", guest_dirs, ctx.kernel.arch,
                                   ctx.kernel.busybox)
    result = guest.boot(ctx.kernel.arch, ctx.kernel.image, initrd, ctx.workdir / "broken",
                        ctx.kernel.broken_kernel_args, timeout=SUITE_BOOT_TIMEOUT)
    TIMES[f"{ctx.kernel.name} broken"]["qemu"] = result.seconds
    databases = [ctx.kernel_database, source / "target.symdb"]
    return result, modules, databases
