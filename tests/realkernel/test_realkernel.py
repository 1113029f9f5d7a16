"""Proof in a real kernel: livepatches built out of tree against Debian's kernel headers,
converted, loaded into Debian's kernel booted under QEMU (TCG), their effect checked in the guest.

One boot runs every scenario (each its own test); the guest's reports are parsed by
support/guest.py. Scenario sources live in tests/realkernel/scenarios/<name>/.
"""

import shutil
from pathlib import Path

import pytest

from klp_convert.elf import ElfObject

from support import guest
from support.broken import VARIANTS
from support.realkernel import (
    TIMES, BuildFailed, build_livepatch, copy_scenario, debian_kernel, guest_directory,
    kernel_symbol_database, make_modules, refused_build, timed, symbol_definitions,
)

pytestmark = [pytest.mark.debian, pytest.mark.realkernel, pytest.mark.slow]


class BuildContext:
    """What scenario builders share: the kernel, and its symbol database built on first use."""

    def __init__(self, kernel, workdir):
        self.kernel = kernel
        self.workdir = workdir
        self._database = None

    @property
    def kernel_database(self):
        if self._database is None:
            with timed("(symbols)", "kernel.symdb"):
                self._database = kernel_symbol_database(self.kernel,
                                                        self.workdir / "kernel.symdb")
        return self._database


def build_plain(ctx, source):
    """A livepatch that needs no conversion: plain kbuild."""
    make_modules(ctx.kernel, source / "livepatch")


README = Path(__file__).resolve().parents[2] / "README.md"


def build_readme_example(ctx, source):
    """The README's walk-through: its C file and Kbuild line, then `klp-convert kbuild`."""
    text = README.read_text()
    start = text.index("    cat > hello_klp.c <<'C'\n")
    body = text[text.index("\n", start) + 1:text.index("\n    C\n", start)]
    livepatch = source / "livepatch"
    (livepatch / "hello_klp.c").write_text(
        "\n".join(line[4:] for line in body.splitlines()) + "\n")
    (livepatch / "Kbuild").write_text("obj-m += hello_klp.o\n")
    build_livepatch(ctx.kernel, source, [ctx.kernel_database])


def build_converted(ctx, source):
    """Target modules, their database, and the livepatch through `klp-convert kbuild`."""
    build_livepatch(ctx.kernel, source, [ctx.kernel_database])


# scenario -> how its modules are built; the boot runs them in this order.
BUILDERS = {
    "cmdline": build_plain,
    "talk": build_converted,
    "late": build_converted,
    "vmlinux_dup": build_converted,
    "module_dup": build_converted,
    "sections": build_converted,
    "static_keys": build_converted,
    "annotations": build_converted,
    "readme": build_readme_example,
}


class Suite:
    """The boot's result and the scenarios that could not be built."""

    def __init__(self, boot_result, build_failures):
        self.boot_result = boot_result
        self.build_failures = build_failures

    def scenario(self, name):
        if name in self.build_failures:
            pytest.fail(f"scenario {name} did not build:\n{self.build_failures[name]}")
        return self.boot_result.scenario(name)


@pytest.fixture(scope="session")
def kernel():
    return debian_kernel()


@pytest.fixture(scope="session")
def ctx(kernel, tmp_path_factory):
    return BuildContext(kernel, tmp_path_factory.mktemp("realkernel"))


@pytest.fixture(scope="session")
def suite(ctx):
    kernel, workdir = ctx.kernel, ctx.workdir
    guest_dirs, failures = {}, {}
    for name, build in BUILDERS.items():
        source = copy_scenario(name, workdir)
        try:
            with timed(name, "build"):
                build(ctx, source)
            guest_dirs[name] = guest_directory(source)
        except BuildFailed as e:
            failures[name] = str(e)
    initrd = guest.build_initramfs(workdir / "initrd.cpio.gz", guest_dirs)
    result = guest.boot(kernel.vmlinuz, initrd, workdir)
    TIMES.setdefault("(boot)", {})["qemu"] = result.seconds
    for name, report in result.scenarios.items():
        if report.seconds is not None:
            TIMES.setdefault(name, {})["guest"] = report.seconds
    return Suite(result, failures)


def test_cmdline_livepatch_without_conversion(suite):
    """The harness on its own: a livepatch of exported symbols only replaces /proc/cmdline."""
    s = suite.scenario("cmdline")
    assert s.value("insmod") == "ok", s.report()
    assert s.value("klp_cmdline.enabled") == "1" and s.value("klp_cmdline.transition") == "0"
    assert s.value("patched") == "klp_cmdline: this /proc/cmdline comes from a livepatch"
    assert s.value("before") == s.value("after") == guest.KERNEL_ARGS, s.report()
    assert s.kmsg_with("livepatch: 'klp_cmdline': patching complete"), s.report()
    assert s.status == 0, s.report()


def addresses(text):
    """The set of addresses in a `%px` or /proc/kallsyms listing (hex, space separated)."""
    return {int(word, 16) for word in text.split()}


def assert_same_address(s, key, kallsyms_key=None):
    """Every address the livepatch printed for ``key`` is the one the guest's /proc/kallsyms
    gives that symbol (and /proc/kallsyms has exactly one)."""
    printed = set().union(*(addresses(v) for v in s.values(f"addr.{key}")))
    listed = addresses(s.value(f"kallsyms.{kallsyms_key or key}"))
    assert len(listed) == 1 and printed == listed, (
        f"{key}: livepatch used {sorted(map(hex, printed))}, kallsyms has "
        f"{sorted(map(hex, listed))}\n{s.report()}")


def test_talk_example(suite, ctx):
    """The talk's example: one livepatch patches vmlinux and foo and reads unexported symbols
    of both, which klp-convert found in its databases (no annotation in the source)."""
    s = suite.scenario("talk")
    # "num_socks": loops_per_jiffy is exported by vmlinux and stays a normal relocation.
    converted = ElfObject.read(ctx.workdir / "talk" / "livepatch" / "klp_talk.ko")
    names = {sym.name for sym in converted.symbols}
    assert "loops_per_jiffy" in names and ".klp.sym.vmlinux.max_threads,0" in names
    assert not [n for n in names if n.startswith(".klp.sym.") and "loops_per_jiffy" in n]
    assert s.values("insmod.foo") == s.values("insmod.klp_talk") == ["ok"], s.report()
    assert s.value("klp_talk.enabled") == "1" and s.value("klp_talk.transition") == "0"
    # vmlinux: cmdline_proc_show() replaced; max_threads (static in kernel/fork.c) read, and
    # filesystems_proc_show() (static in fs/filesystems.c) called.
    assert s.value("cmdline") == guest.KERNEL_ARGS
    assert s.value("max_threads") == s.value("expected.max_threads")
    assert len(s.values("fs")) > 5 and s.values("patched.fs") == s.values("fs"), s.report()
    # foo: "if (--countdown) count_it();" on each read, then unpatched again.
    assert s.values("foo") == ["unpatched", "patched", "patched", "patched", "unpatched"]
    assert s.values("countdown") == ["3", "2", "1", "0", "0"], s.report()
    assert s.values("counted") == ["1", "2", "3", "3", "3"], s.report()
    for symbol in ("max_threads", "saved_command_line", "filesystems_proc_show",
                   "countdown", "counted", "count_it"):
        assert_same_address(s, symbol)
    assert s.value("unpatch") == "ok" and s.value("rmmod.foo") == "ok", s.report()
    assert s.status == 0, s.report()


def test_late_patching(suite):
    """The livepatch loads while its target is absent (bar's export was converted too), and
    the kernel resolves its relocations when bar loads."""
    s = suite.scenario("late")
    assert s.value("bar.before") == "absent"
    assert s.value("insmod.klp_late") == "ok", s.report()
    assert s.value("insmod.bar") == "ok", s.report()
    assert s.kmsg_with("applying patch 'klp_late' to loading module 'bar'"), s.report()
    # bar_init() hit 2; the patched state adds bar_limit (40) once.
    assert s.values("bar") == ["patched", "unpatched"], s.report()
    assert s.value("limit") == "40" and s.values("hits") == ["42", "42"], s.report()
    for symbol in ("bar_limit", "bar_hits", "bar_hit"):
        assert_same_address(s, symbol)
    assert s.value("unpatch") == "ok" and s.value("rmmod.bar") == "ok", s.report()


def test_duplicated_vmlinux_name_by_position_and_by_file(suite, ctx):
    """cfb_tab32 exists twice in vmlinux: position 2 and file cfbimgblt.c each reach the
    intended one (by the guest's kallsyms order, and by vmlinux's own STT_FILE blocks)."""
    s = suite.scenario("vmlinux_dup")
    assert s.value("insmod") == "ok", s.report()
    in_kallsyms_order = [int(a, 16) for a in s.value("kallsyms.cfb_tab32").split()]
    assert len(in_kallsyms_order) == 2, s.report()
    assert int(s.value("addr.by_position"), 16) == in_kallsyms_order[1]
    by_file = dict(symbol_definitions(ctx.kernel.vmlinux, "cfb_tab32"))
    assert int(s.value("addr.by_file"), 16) == by_file["cfbimgblt.c"]
    assert by_file["cfbimgblt.c"] in in_kallsyms_order
    assert s.value("unpatch") == "ok", s.report()


def test_duplicated_vmlinux_name_unannotated_is_refused(ctx):
    """A bare reference to a name vmlinux defines twice: `klp-convert kbuild` fails with the
    converter's message, which lists the candidates."""
    source = copy_scenario("vmlinux_dup", ctx.workdir / "refused")
    status, stderr = refused_build(ctx.kernel, source, [ctx.kernel_database],
                                   "KLP_TEST_UNANNOTATED")
    assert status == 1, stderr
    assert "klp-convert: error: " in stderr and "attr_group" in stderr, stderr
    assert "ambiguous" in stderr and "main.c" in stderr and "hibernate.c" in stderr, stderr
    assert "Traceback" not in stderr


def test_same_name_module_statics_by_position_and_by_file(suite, ctx):
    """twins.ko defines twin_value, twin_label.12345, twin_scale.constprop.0 and
    twin_get.isra.0 in two files: each reference reaches the definition it asked for."""
    s = suite.scenario("module_dup")
    assert s.value("insmod.klp_module_dup") == "ok", s.report()
    # Values: twins_a.c holds 1111/3333, twins_b.c 2222/4444 (the unpatched state says so).
    assert [s.value(f"{f}.value") for f in "ab"] == ["1111", "2222"], s.report()
    assert [s.value(f"{f}.label") for f in "ab"] == ["3333", "4444"], s.report()
    assert s.value("value.pos1") == "1111" and s.value("value.pos2") == "2222"
    assert s.value("value.file_b") == "2222"
    assert s.value("label.pos2") == "4444" and s.value("label.file_a") == "3333"
    # Functions: the guest's kallsyms order for twins is the module's symbol-table order, so
    # the position of the twins_b.c definition comes from the .ko's own STT_FILE blocks.
    twins_ko = ctx.workdir / "module_dup" / "target" / "twins.ko"
    for key, name, position in (("scale", "twin_scale.constprop.0", 2),
                                ("get", "twin_get.isra.0", 1)):
        listed = [int(a, 16) for a in s.value(f"kallsyms.{name}").split()]
        files = [file for file, _ in symbol_definitions(twins_ko, name)]
        assert files == ["twins_a.c", "twins_b.c"] and len(listed) == 2, s.report()
        assert int(s.value(f"addr.{key}.pos{position}"), 16) == listed[position - 1]
        assert int(s.value(f"addr.{key}.file_b"), 16) == listed[files.index("twins_b.c")]
    assert s.value("unpatch") == "ok" and s.value("rmmod.twins") == "ok", s.report()


def kernel_config(kernel, name):
    """A value of the kernel's .config (from its headers)."""
    for line in (kernel.headers / ".config").read_text().splitlines():
        if line.startswith(name + "="):
            return line.split("=", 1)[1]
    raise KeyError(name)


def test_references_from_many_sections(suite, ctx):
    """Relocations to unexported vmlinux symbols from .text, .text.unlikely, a .text.* of its
    own, .data, .rodata and .data..read_mostly each become a klp section the kernel applies."""
    s = suite.scenario("sections")
    converted = ElfObject.read(ctx.workdir / "sections" / "livepatch" / "klp_sections.ko")
    targets = {sec.target.name for sec in converted.relocation_sections()
               if sec.name.startswith(".klp.rela.vmlinux.")}
    assert {".text", ".text.unlikely", ".text.klp_sections", ".data", ".rodata",
            ".data..read_mostly"} <= targets, targets
    assert s.value("insmod") == "ok", s.report()
    for symbol in ("nr_processes", "files_stat", "log_buf_len", "uptime_proc_show",
                   "execdomains_proc_show", "loadavg_proc_show"):
        assert_same_address(s, symbol)
    assert int(s.value("nr_processes")) > 0
    # One CPU: printk's buffer keeps its configured size.
    shift = int(kernel_config(ctx.kernel, "CONFIG_LOG_BUF_SHIFT"))
    assert int(s.value("log_buf_len")) == 1 << shift
    assert s.value("unpatch") == "ok", s.report()


def test_static_keys(suite):
    """A vmlinux key works with static_branch_unlikely() in the patch; a module key works
    through static_key_enabled()."""
    s = suite.scenario("static_keys")
    assert s.value("insmod.klp_static_keys") == "ok", s.report()
    assert s.value("schedstats.sysctl") == "0"
    assert s.values("schedstats.branch") == ["off", "on", "off"], s.report()
    assert s.values("keys") == ["patched"] * 3 and s.values("feature") == ["0", "1", "0"]
    assert_same_address(s, "sched_schedstats")
    assert_same_address(s, "keys_feature")
    assert s.value("unpatch") == "ok" and s.value("rmmod.keys") == "ok", s.report()


def test_module_static_key_in_static_branch_is_refused(ctx):
    """static_branch_*() on a module's key would put a module-specific klp relocation in
    __jump_table: klp-convert refuses it and says what to write instead."""
    source = copy_scenario("static_keys", ctx.workdir / "refused")
    status, stderr = refused_build(ctx.kernel, source, [ctx.kernel_database],
                                   "KLP_TEST_STATIC_BRANCH")
    assert status == 1, stderr
    assert "keys_feature" in stderr and "__jump_table" in stderr, stderr
    assert "static_key_enabled" in stderr and "Traceback" not in stderr, stderr


def test_every_annotation_family(suite, ctx):
    """KLP_MODULE_RELOC/KLP_SYMPOS, KLP_RELOC_SYMBOL[_POS] spelt with ',' and with '.', and
    KLP_SYMBOL_FILE each reach the symbol they name."""
    s = suite.scenario("annotations")
    assert s.value("insmod") == "ok", s.report()

    def kallsyms(name):
        return [int(a, 16) for a in s.value(f"kallsyms.{name}").split()]

    def printed(key):
        return int(s.value(f"addr.{key}"), 16)

    assert len(kallsyms("attr_group")) == 2 and len(kallsyms("cfb_tab32")) == 2, s.report()
    assert printed("sympos.attr_group") == kallsyms("attr_group")[1]
    assert printed("comma.cfb_tab32") == kallsyms("cfb_tab32")[0]
    assert printed("dot.cfb_tab32") == kallsyms("cfb_tab32")[1]
    assert [printed("dot.max_threads")] == kallsyms("max_threads")
    by_file = dict(symbol_definitions(ctx.kernel.vmlinux, "cleanup_list"))
    assert printed("file.cleanup_list") == by_file["net_namespace.c"]
    assert by_file["net_namespace.c"] in kallsyms("cleanup_list"), s.report()
    # The annotation tables are gone from the converted module.
    converted = ElfObject.read(ctx.workdir / "annotations" / "livepatch" / "klp_annotations.ko")
    assert not [sec.name for sec in converted.sections
                if sec.name.startswith((".klp.module_relocs.", ".klp.symbol_files."))]
    assert s.value("unpatch") == "ok", s.report()


# The kernel without oops=panic: a broken variant may oops, and the guest must go on to report.
BROKEN_KERNEL_ARGS = guest.KERNEL_ARGS.replace(" oops=panic", "")


@pytest.fixture(scope="session")
def broken(ctx):
    """Every variant of klp_broken.ko (support/broken.py) run in a boot of its own, kept
    apart so an oops cannot disturb the other scenarios."""
    source = copy_scenario("broken", ctx.workdir / "broken-build")
    with timed("broken", "build"):
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
            edit(obj, "hmod")
        obj.write(directory / "klp_broken.ko")
        guest_dirs[f"broken_{variant}"] = directory
        modules[variant] = directory / "klp_broken.ko"
    initrd = guest.build_initramfs(ctx.workdir / "broken.cpio.gz", guest_dirs)
    result = guest.boot(ctx.kernel.vmlinuz, initrd, ctx.workdir / "broken",
                        kernel_args=BROKEN_KERNEL_ARGS)
    TIMES["broken"]["qemu"] = result.seconds
    databases = [ctx.kernel_database, source / "target.symdb"]
    return result, modules, databases


# What Linux 6.1 does with each variant: (loads?, what it prints when it refuses).
KERNEL_VERDICTS = {
    "good": (True, None),
    "no_livepatch_flag": (True, None),
    "left_in_rela_text": (True, None),
    "wrong_position": (False, "symbol position 2 for symbol 'saved_command_line' in object "
                              "'vmlinux' not found"),
    "vmlinux_symbol_in_module_section": (False, "invalid access to vmlinux symbol "
                                                "'saved_command_line' from module-specific "
                                                "livepatch relocation section"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_broken_variant_kernel_and_check_agree(broken, variant):
    """The guest shows what the kernel does with each variant; `klp-convert check` predicts
    the same: loads and works / loads silently and breaks when run / refused with message M."""
    result, modules, databases = broken
    s = result.scenario(f"broken_{variant}")
    loads, message = KERNEL_VERDICTS[variant]
    oopsed = bool(s.kmsg_with("BUG: ") or s.kmsg_with("Oops"))
    assert s.value("insmod") == ("ok" if loads else "failed"), s.report()
    if variant == "good":
        assert s.value("cmdline") == BROKEN_KERNEL_ARGS and s.value("hmod") == "patched"
        assert not oopsed, s.report()
    elif loads:
        # Loaded without a word, then the patched code read through an unrelocated address.
        assert oopsed and s.value("cmdline.status") != "0", s.report()
    else:
        assert s.kmsg_with(message), s.report()
    check = pytest.importorskip("klp_convert.check", reason="klp-convert check (issue 5)")
    from klp_convert.symdb import open_symbols

    with open_symbols(databases) as index:
        findings = check.check_module(modules[variant], index=index)
    errors = [f for f in findings if f.severity == check.ERROR]
    report = "\n".join(line for f in findings for line in f.lines())
    assert check.will_load(findings) == (variant == "good"), report
    if variant != "good" and loads:
        assert all(f.kernel_message is None for f in errors), report  # the kernel is silent
    elif message:
        predicted = [f.kernel_message.split(": ", 1)[-1] for f in errors if f.kernel_message]
        assert message in predicted, report


def test_readme_first_livepatch(suite):
    """The README's walk-through builds, converts, loads and patches /proc/cmdline."""
    s = suite.scenario("readme")
    assert s.value("insmod") == "ok", s.report()
    assert s.value("cmdline") == f"patched: {guest.KERNEL_ARGS}", s.report()
    assert s.value("unpatch") == "ok", s.report()
