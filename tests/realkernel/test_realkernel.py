"""Proof in a real kernel: livepatches built out of tree against Debian's kernel headers,
converted, loaded into Debian's kernel booted under QEMU (TCG), their effect checked in the guest.

One boot runs every scenario (each its own test), one more the broken variants; conftest.py
builds and boots (klp_convert.guest, the harness of `klp-convert try`). Scenario sources live in
tests/realkernel/scenarios/<name>/.
"""

import json
import os
import shlex
import shutil
import subprocess

import pytest

from klp_convert import guest
from klp_convert.check import ERROR, check_module, will_load
from klp_convert.guest.trial import qemu_version
from klp_convert.elf import ElfObject
from klp_convert.symdb import open_symbols
from klp_convert.symdb.sources import read_system_map, read_vmlinux, read_vmlinux_elf

from support.broken import INIT_CORE_FORCED, VARIANTS
from support.kallsyms_dump import decode_dump
from support.kernels import release_version
from support.realkernel import (
    KLP_CONVERT, copy_scenario, refused_build, scenario_symbol_problems, symbol_definitions,
)

pytestmark = [pytest.mark.debian, pytest.mark.realkernel, pytest.mark.slow]

TRY_TIMEOUT = 600  # seconds for a boot under TCG on a loaded machine, as the suite's own boots


def test_kernel_generation_is_known(kernel):
    """The kernel is a generation klp-convert's kernel knowledge (src/klp_convert/kernel/)
    has: when Debian unstable moves past it, this fails and says what to check."""
    from klp_convert.kernel.generations import GENERATIONS  # noqa: PLC0415 (tool side, issue 9)
    known = {generation.version: generation.name for generation in GENERATIONS}
    version = release_version(kernel.release)
    assert version in known, (
        f"{kernel.name}: Debian {getattr(kernel, 'codename', '?')} ships Linux {kernel.release}, "
        f"a generation src/klp_convert/kernel/generations.py does not know "
        f"({', '.join(known.values())}); read that release's sources for what KERNEL-RULES.md "
        "section 6 lists (x86 loader and livepatch messages, scripts/kallsyms.c and "
        "scripts/mksysmap filters, per-cpu symbol letters, special sections, clearing of "
        "module relocations), add a Generation, and check the scenario names in "
        "tests/support/kernels.py")


def test_scenario_names_are_the_kernels(kernel):
    """The duplicated vmlinux names the scenarios pick (tests/support/kernels.py) are defined
    by this kernel as many times, and in the files, the choice says."""
    assert scenario_symbol_problems(kernel) == []


# Guest architectures whose kernel runs at other addresses than vmlinux is linked at, even with
# nokaslr: s390x, whose image has had a virtual base of its own since 6.10 (0x3ffe0000000 in
# the suite's 7.2 guest). Everywhere else the suite's kernels run where they are linked.
RELOCATED_IMAGE = {"s390x"}


@pytest.fixture
def image_offset(suite, ctx):
    """The guest's address of a vmlinux symbol minus its vmlinux value (`_text`, from the
    guest's /proc/kallsyms before any module loads)."""
    dump = decode_dump(suite.scenario("kallsyms").lines).decode()
    [running] = [int(line.split()[0], 16) for line in dump.splitlines()
                 if line.split()[2:3] == ["_text"]]
    [(_file, linked)] = symbol_definitions(ctx.kernel.vmlinux, "_text")
    offset = running - linked
    assert (offset != 0) == (ctx.kernel.arch.name in RELOCATED_IMAGE), hex(offset)
    return offset


def test_proc_kallsyms_equals_elf_and_system_map(suite, ctx, image_offset):
    """The booted kernel's /proc/kallsyms (names, addresses, letters, order; dumped before any
    module loads) is exactly the table klp-convert computes from the -dbg package's ELF
    vmlinux, and names and addresses are System.map's: the positions of every name agree
    across the three sources. (s390x: every address moved by the image's one offset.)"""
    dump = ctx.workdir / "proc-kallsyms"
    dump.write_bytes(decode_dump(suite.scenario("kallsyms").lines))
    guest = read_vmlinux(dump)[0]  # recognised by content: no module was loaded
    elf = read_vmlinux_elf(ctx.kernel.vmlinux)
    text = read_system_map(ctx.kernel.system_map)

    def name_address_letter(obj, offset=0):
        return [(f[0], f[4] + offset, f[2]) for f in map(obj.row_fields, obj.rows)]

    def first_difference(ours, theirs):
        index = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                     min(len(ours), len(theirs)))
        return (f"{ctx.kernel.release}: {len(ours)} vs {len(theirs)} rows; first difference "
                f"at {index}: {ours[index:index + 3]} vs {theirs[index:index + 3]}")

    in_guest, from_elf = name_address_letter(guest), name_address_letter(elf, image_offset)
    assert in_guest == from_elf, first_difference(from_elf, in_guest)
    in_guest = [(r[0], r[2]) for r in guest.rows
                if not r[0].startswith(kallsyms_only_prefixes(ctx.kernel))]
    from_map = [(r[0], r[2] + image_offset) for r in text.rows]
    assert in_guest == from_map, first_difference(from_map, in_guest)


def kallsyms_only_prefixes(kernel):
    """Names /proc/kallsyms lists and System.map cannot: Linux 5.10's scripts/kallsyms.c keeps
    the compiler's local labels (.LC0, ... : 1,236 in Debian 11's kernel), which
    scripts/mksysmap drops (' .L'); 6.1's kallsyms drops them too (seen in the guests)."""
    return (".L",) if release_version(kernel.release) < (6, 1) else ()


def test_cmdline_livepatch_without_conversion(suite):
    """The harness on its own: a livepatch of exported symbols only replaces /proc/cmdline."""
    s = suite.scenario("cmdline")
    assert s.value("insmod") == "ok", s.report()
    assert s.value("klp_cmdline.enabled") == "1" and s.value("klp_cmdline.transition") == "0"
    assert s.value("patched") == "klp_cmdline: this /proc/cmdline comes from a livepatch"
    assert s.value("before") == s.value("after") == suite.kernel_args, s.report()
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
    # `klp-convert kbuild` passed on check's warning where the kernel has that limit: foo
    # cannot be reloaded under the patch.
    warned = "foo cannot be unloaded" in ctx.kbuild_messages["talk"]
    assert warned != target_reloads_under_patch(ctx.kernel), ctx.kbuild_messages["talk"]
    assert s.values("insmod.foo") == s.values("insmod.klp_talk") == ["ok"], s.report()
    assert s.value("klp_talk.enabled") == "1" and s.value("klp_talk.transition") == "0"
    # vmlinux: cmdline_proc_show() replaced; max_threads (static in kernel/fork.c) read, and
    # filesystems_proc_show() (static in fs/filesystems.c) called.
    assert s.value("cmdline") == suite.kernel_args
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
    # bar_init() hit 2; the patched state adds bar_limit (40) once; a fresh bar starts at 2.
    assert s.values("bar") == ["patched", "unpatched"], s.report()
    assert s.value("limit") == "40" and s.values("hits") == ["42", "2"], s.report()
    for symbol in ("bar_limit", "bar_hits", "bar_hit"):
        assert_same_address(s, symbol)
    assert s.value("unpatch") == "ok" and s.value("rmmod.bar") == "ok", s.report()


def target_reloads_under_patch(kernel):
    """Since Linux 6.3 the kernel clears a target module's klp relocations when it goes away
    (kernel/livepatch/core.c klp_clear_object_relocs, arch/x86/kernel/module.c
    clear_relocate_add), so it can come back under an enabled patch; 6.1 and before cannot
    (KERNEL-RULES 10 and section 6)."""
    return release_version(kernel.release) >= (6, 3)


def test_late_patching_target_reload_as_check_predicts(suite, ctx):
    """With the patch enabled, bar goes and comes back patched again where the kernel clears
    its relocations (6.3+), and klp-convert check, run by kbuild, says nothing; before 6.3 it
    cannot come back (its relocations in the patch are still applied), as check warned."""
    s = suite.scenario("late")
    messages = ctx.kbuild_messages["late"]
    assert s.value("rmmod.bar.patched") == "ok", s.report()
    if target_reloads_under_patch(ctx.kernel):
        assert "cannot be unloaded" not in messages, messages
        assert s.value("reload.patched") == "ok", s.report()
        assert s.value("reloaded.bar") == "patched" and s.value("reloaded.hits") == "42"
        assert int(s.value("reloaded.addr.bar_hits"), 16) == int(
            s.value("reloaded.kallsyms.bar_hits"), 16), s.report()
        assert len(s.kmsg_with("applying patch 'klp_late' to loading module 'bar'")) == 2
        assert s.value("rmmod.reloaded") == "ok", s.report()
    else:
        assert "bar cannot be unloaded and loaded again" in messages, messages
        assert s.value("reload.patched") == "failed", s.report()
        assert s.kmsg_with("Skipping invalid relocation target, existing value is nonzero")
    assert s.value("reload.unpatched") == "ok", s.report()


def test_duplicated_vmlinux_name_by_position_and_by_file(suite, ctx, image_offset):
    """A name vmlinux defines twice (cfb_tab32; LL_base in 7.2: kernels.py): position 2 and
    its file each reach the intended one (by the guest's kallsyms order, and by vmlinux's own
    STT_FILE blocks)."""
    s = suite.scenario("vmlinux_dup")
    table = ctx.kernel.scenario_symbols.table
    assert s.value("insmod") == "ok", s.report()
    in_kallsyms_order = [int(a, 16) for a in s.value(f"kallsyms.{table.name}").split()]
    assert len(in_kallsyms_order) == 2, s.report()
    assert int(s.value("addr.by_position"), 16) == in_kallsyms_order[1]
    by_file = {file: value + image_offset
               for file, value in symbol_definitions(ctx.kernel.vmlinux, table.name)}
    assert int(s.value("addr.by_file"), 16) == by_file[table.file]
    assert by_file[table.file] in in_kallsyms_order
    assert s.value("unpatch") == "ok", s.report()


def test_duplicated_vmlinux_name_unannotated_is_refused(ctx):
    """A bare reference to a name vmlinux defines twice: `klp-convert kbuild` fails with the
    converter's message, which lists the candidates."""
    source = copy_scenario("vmlinux_dup", ctx.workdir / "refused")
    status, stderr = refused_build(ctx.kernel, source, [ctx.kernel_database],
                                   "KLP_TEST_UNANNOTATED")
    choice = ctx.kernel.scenario_symbols
    assert status == 1, stderr
    assert "klp-convert: error: " in stderr and choice.attr.name in stderr, stderr
    assert "ambiguous" in stderr, stderr
    assert choice.attr.file in stderr and choice.attr_other_file in stderr, stderr
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


SECTIONS_SYMBOLS = ("nr_processes", "files_stat", "log_buf_len", "uptime_proc_show",
                    "execdomains_proc_show", "loadavg_proc_show")


def vmlinux_references(path, names, klp):
    """{(name, section the relocation patches)} for the relocations to ``names`` in the
    module at ``path``: its plain SHT_RELA sections, or (``klp``) its .klp.rela.vmlinux.*
    ones (symbols .klp.sym.vmlinux.<name>,<pos>). Read with pyelftools, independent of
    klp-convert's ELF layer."""
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415 (dev dependency, test side only)
    found = set()
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        for section in elf.iter_sections():
            if section["sh_type"] != "SHT_RELA" or \
                    section.name.startswith(".klp.rela.vmlinux.") != klp:
                continue
            target = elf.get_section(section["sh_info"]).name
            for relocation in section.iter_relocations():
                name = symtab.get_symbol(relocation["r_info_sym"]).name
                if klp:
                    name = name.removeprefix(".klp.sym.vmlinux.").rpartition(",")[0]
                if name in names:
                    found.add((name, target))
    return found


def test_references_from_many_sections(suite, ctx):
    """Relocations to unexported vmlinux symbols from .text, .text.unlikely, a .text.* of its
    own, .data, .rodata and .data..read_mostly (where the compiler and the module linker
    script put them on this architecture: ppc64 reaches data through .toc, 7.x's module.lds
    merges .text.* into .text) each become a klp relocation of the same section, which the
    kernel applies."""
    s = suite.scenario("sections")
    livepatch = ctx.workdir / "sections" / "livepatch"
    before = vmlinux_references(livepatch / "klp_sections.unconverted.ko", SECTIONS_SYMBOLS,
                                klp=False)
    after = vmlinux_references(livepatch / "klp_sections.ko", SECTIONS_SYMBOLS, klp=True)
    assert {name for name, _section in before} == set(SECTIONS_SYMBOLS), before
    assert after == before
    # at least code, data and .data..read_mostly (s390x: .rodata's pointer is in .data too)
    assert len({section for _name, section in before}) >= 3, before
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


def test_every_annotation_family(suite, ctx, image_offset):
    """KLP_MODULE_RELOC/KLP_SYMPOS, KLP_RELOC_SYMBOL[_POS] spelt with ',' and with '.', and
    KLP_SYMBOL_FILE each reach the symbol they name (names chosen per kernel)."""
    s = suite.scenario("annotations")
    assert s.value("insmod") == "ok", s.report()

    def kallsyms(name):
        return [int(a, 16) for a in s.value(f"kallsyms.{name}").split()]

    def printed(key):
        return int(s.value(f"addr.{key}"), 16)

    choice = ctx.kernel.scenario_symbols  # the names this kernel has (kernels.py)
    attr, table, by_file = choice.attr, choice.table, choice.by_file
    assert len(kallsyms(attr.name)) == attr.count, s.report()
    assert len(kallsyms(table.name)) == 2, s.report()
    assert printed("sympos.attr") == kallsyms(attr.name)[1]
    assert printed("comma.table") == kallsyms(table.name)[0]
    assert printed("dot.table") == kallsyms(table.name)[1]
    assert [printed("dot.max_threads")] == kallsyms("max_threads")
    definitions = {file: value + image_offset
                   for file, value in symbol_definitions(ctx.kernel.vmlinux, by_file.name)}
    assert printed("file.by_file") == definitions[by_file.file]
    assert definitions[by_file.file] in kallsyms(by_file.name), s.report()
    # The annotation tables are gone from the converted module.
    converted = ElfObject.read(ctx.workdir / "annotations" / "livepatch" / "klp_annotations.ko")
    assert not [sec.name for sec in converted.sections
                if sec.name.startswith((".klp.module_relocs.", ".klp.symbol_files."))]
    assert s.value("unpatch") == "ok", s.report()


# The guest architectures whose module loader keeps .init sections with the core ones (ppc64's
# module_64.c: "We don't handle .init for the moment"): there initcore's two helpers are both
# listed once it is live, and position 2 is its core helper in either load order.
INIT_KEPT_IN_CORE = {"ppc64le"}


def init_freed(kernel):
    return kernel.arch.name not in INIT_KEPT_IN_CORE


def init_core_build(ctx, define):
    """`klp-convert kbuild`'s (exit status, stderr) for klp_init_core.c built with ``define``."""
    source = copy_scenario("init_core", ctx.workdir / "variants" / define)
    status, stderr = refused_build(ctx.kernel, source, [ctx.kernel_database], define)
    assert "Traceback" not in stderr, stderr
    return status, stderr


def refused_init_core(ctx, define):
    """`klp-convert kbuild`'s stderr for klp_init_core.c built with ``define`` (it must fail)."""
    status, stderr = init_core_build(ctx, define)
    assert status == 1 and "klp-convert: error: " in stderr, stderr
    return stderr


def test_init_core_duplicate_by_position_is_refused(ctx):
    """KERNEL-RULES 2.6: initcore's core helper is position 2 while initcore loads and 1 once it
    is live; position 1 is the __init helper, gone once live. Neither position means the core
    helper in both load orders: `klp-convert kbuild` refuses both and says why. Where the
    loader keeps .init with the core (ppc64) both positions mean one helper in both orders:
    converted."""
    if not init_freed(ctx.kernel):
        for define in ("KLP_TEST_SYMPOS_2", "KLP_TEST_SYMPOS_1"):
            assert init_core_build(ctx, define) == (0, ""), define
        return
    stderr = refused_init_core(ctx, "KLP_TEST_SYMPOS_2")
    assert "position 2 of 'helper' in 'initcore'" in stderr, stderr
    assert "while the module loads" in stderr and "once it is live" in stderr, stderr
    assert "initcore_init.c init only" in stderr and "initcore_core.c core #1" in stderr
    stderr = refused_init_core(ctx, "KLP_TEST_SYMPOS_1")
    assert "'helper' of 'initcore' is an init symbol" in stderr, stderr


def test_init_core_duplicate_by_file_is_refused(ctx):
    """KLP_SYMBOL_FILE(helper, "initcore_core.c") is no way round it: the file gives position
    2, which the kernel would resolve differently in the two load orders, so it is refused
    for the same reason (converted on ppc64, where position 2 is one helper in both)."""
    if not init_freed(ctx.kernel):
        assert init_core_build(ctx, "KLP_TEST_FILE") == (0, "")
        return
    stderr = refused_init_core(ctx, "KLP_TEST_FILE")
    assert "KLP_SYMBOL_FILE" in stderr and "-> position 2" in stderr, stderr
    assert "while the module loads" in stderr and "once it is live" in stderr, stderr


def test_init_core_forced_position_depends_on_load_order(suite, ctx):
    """The refused choice forced with our ELF layer ('.klp.sym.initcore.helper,2'): the kernel
    refuses it when initcore is live (core symbols: one helper) and patches initcore with its
    core helper when the patch comes first (whole symbol table: two). `klp-convert check`
    with initcore's database predicts exactly that: an error in the live order only. On ppc64
    (.init kept with the core) it patches with the core helper in both orders, and check
    says it will load."""
    s = suite.scenario("init_core")
    freed = init_freed(ctx.kernel)
    assert s.value("insmod.initcore") == "ok", s.report()
    # The unpatched state calls both core functions: helper(42) and initcore_peer(42).
    assert s.value("unpatched.helper") == "4242" and s.value("unpatched.peer") == "1742"
    # Live, /proc/kallsyms lists initcore's core helper only (both helpers on ppc64).
    live_helper = s.value("live.kallsyms.helper").split()
    assert len(live_helper) == (1 if freed else 2), s.report()
    # As klp-convert wrote it, the patch reaches initcore_peer() (a unique name).
    assert s.value("live.good") == "ok" and s.value("live.good.helper") == "1742", s.report()
    assert addresses(s.value("live.good.addr.helper")) == addresses(
        s.value("live.kallsyms.initcore_peer")), s.report()
    assert s.value("unpatch.good") == "ok", s.report()

    # The forced copy: refused in the live order, and only there.
    marker = next(i for i, m in enumerate(s.kmsg) if "klp-test: init_core late order" in m)
    refusal = ("livepatch: symbol position 2 for symbol 'helper' in object 'initcore' "
               "not found")
    assert s.value("live.forced") == ("failed" if freed else "ok"), s.report()
    assert bool([m for m in s.kmsg[:marker] if refusal in m]) == freed, s.report()
    assert not [m for m in s.kmsg[marker:] if refusal in m], s.report()
    # Loaded first, it patches initcore as it loads, with the core helper: the one helper the
    # live initcore's /proc/kallsyms lists (initcore loaded again: a new address), the second
    # of two on ppc64.
    assert s.value("late.forced") == "ok" and s.value("late.insmod.initcore") == "ok"
    assert s.kmsg_with("applying patch 'klp_init_core' to loading module 'initcore'")
    assert s.value("late.forced.initcore") == "patched", s.report()
    assert s.value("late.forced.helper") == "4242", s.report()
    late_helper = s.value("late.kallsyms.helper").split()
    assert len(late_helper) == (1 if freed else 2), s.report()
    assert addresses(s.value("late.forced.addr.helper")) == addresses(late_helper[-1]), \
        s.report()
    assert s.value("unpatch.forced") == "ok" and s.value("rmmod.late.initcore") == "ok"

    # klp-convert check: the converted patch is fine; the forced copy is an error, with the
    # kernel's message, in the live order only (none on ppc64).
    source = ctx.workdir / "init_core"
    databases = [ctx.kernel_database, source / "target.symdb"]
    with open_symbols(databases) as index:
        good = check_module(source / "livepatch" / "klp_init_core.ko", index=index)
        forced = check_module(source / INIT_CORE_FORCED, index=index)
    report = "\n".join(line for f in good + forced for line in f.lines())
    assert will_load(good) and will_load(forced) != freed, report
    errors = [f for f in forced if f.severity == ERROR]
    if not freed:
        assert errors == [], report
        return
    assert [f.kernel_message for f in errors] == [refusal], report
    assert "once it is live" in errors[0].message and "still loading" not in errors[0].message


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


# Where an architecture's loader differs: arm64 applies the unconverted relocations against
# address 0 too, but range-checks the ADRP that takes saved_command_line's page, which cannot
# reach 0 from a module, and refuses the module.
_ADRP_AT_ZERO = (False, "module klp_broken: overflow in relocation type 275 val 0")
ARCH_VERDICTS = {"aarch64": {"no_livepatch_flag": _ADRP_AT_ZERO,
                             "left_in_rela_text": _ADRP_AT_ZERO}}

# Guest architectures where the kernel reads address 0 without a fault: s390, whose lowcore
# (the CPU's prefix area) is mapped there.
NULL_READABLE = {"s390x"}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_broken_variant_kernel_and_check_agree(broken, ctx, variant):
    """The guest shows what the kernel does with each variant; `klp-convert check` predicts
    the same: loads and works / loads silently and breaks when run / refused with message M."""
    result, modules, databases = broken
    s = result.step(f"broken_{variant}")
    loads, message = {**KERNEL_VERDICTS, **ARCH_VERDICTS.get(ctx.kernel.arch.name, {})}[variant]
    oopsed = bool(s.kmsg_with("BUG: ") or s.kmsg_with("Oops"))
    broken_cmdline = ctx.kernel.arch.proc_cmdline(ctx.kernel.broken_kernel_args)
    assert s.value("insmod") == ("ok" if loads else "failed"), s.report()
    if variant == "good":
        assert s.value("cmdline") == broken_cmdline and s.value("hmod") == "patched"
        assert not oopsed, s.report()
    elif loads and ctx.kernel.arch.name in NULL_READABLE:
        # Loaded without a word; the patched code read its pointer at 0: no oops, no cmdline.
        assert not oopsed and s.value("cmdline") != broken_cmdline, s.report()
    elif loads:
        # Loaded without a word, then the patched code read through an unrelocated address.
        assert oopsed and s.value("cmdline.status") != "0", s.report()
    else:
        assert s.kmsg_with(message), s.report()
    with open_symbols(databases) as index:
        findings = check_module(modules[variant], index=index)
    errors = [f for f in findings if f.severity == ERROR]
    report = "\n".join(line for f in findings for line in f.lines())
    assert will_load(findings) == (variant == "good"), report
    if variant != "good" and loads:
        assert all(f.kernel_message is None for f in errors), report  # the kernel is silent
    elif message:
        predicted = [f.kernel_message.split(": ", 1)[-1] for f in errors if f.kernel_message]
        assert message in predicted, report


def test_readme_first_livepatch(suite):
    """The README's walk-through builds, converts, loads and patches /proc/cmdline."""
    s = suite.scenario("readme")
    assert s.value("insmod") == "ok", s.report()
    assert s.value("cmdline") == f"patched: {suite.kernel_args}", s.report()
    assert s.value("unpatch") == "ok", s.report()


def test_try_boots_this_kernel_with_the_readme_livepatch(suite, ctx, tmp_path):
    """`klp-convert try`, the console script as a user runs it, on every generation and
    architecture: the README's livepatch (built for the suite's boot) patches /proc/cmdline and
    is unpatched again, verdict ok. The QEMU is the one the suite boots this kernel with, found
    on PATH as `try` finds it. Where that is not the machine's own (support/emulator.py), `try`
    with the machine's QEMU does what it says it does: refuses at once a QEMU that boots no
    kernel of the architecture, or boots it and notes that this QEMU may run stale code."""
    assert suite.scenario("readme").value("insmod") == "ok"  # built, and loads in the suite
    kernel = ctx.kernel
    proc, report = _try_readme_livepatch(ctx, _qemu_on_path(kernel.arch, tmp_path))
    assert proc.returncode == 0 and report is not None, proc.stdout + proc.stderr
    assert report["verdict"] == "ok" and report["problems"] == [], proc.stdout
    assert (report["arch"], report["notes"]) == (kernel.arch.name, []), proc.stdout
    [cmdline] = report["commands"]
    original = [kernel.arch.proc_cmdline(guest.kernel_args(kernel.arch, False))]
    assert cmdline["before"]["output"] == original, proc.stdout
    assert cmdline["after"]["output"] == [f"patched: {original[0]}"], proc.stdout
    assert cmdline["unpatched"]["output"] == original, proc.stdout

    stock = guest.ARCHES[kernel.arch.name]
    machine_qemu = shutil.which(stock.qemu)
    if machine_qemu in (None, shutil.which(kernel.arch.qemu)):
        return  # the run above was under the machine's QEMU, or the machine has none
    release = qemu_version(machine_qemu)
    proc, report = _try_readme_livepatch(ctx, os.path.dirname(machine_qemu))
    if stock.qemu_boots_after and release[:2] <= stock.qemu_boots_after:
        assert proc.returncode == 2 and report is None, proc.stdout + proc.stderr
        assert f"starts no {stock.name} kernel" in proc.stderr, proc.stderr
        return
    assert proc.returncode == 0 and report["verdict"] == "ok", proc.stdout + proc.stderr
    [note] = report["notes"]
    assert note.startswith(f"{stock.qemu} {'.'.join(map(str, release))} may run stale code"), \
        note


def _try_readme_livepatch(ctx, qemu_directory):
    """(the finished `klp-convert try` of the README's livepatch on this kernel, its --json
    report or None), with ``qemu_directory`` first on PATH."""
    kernel = ctx.kernel
    livepatch = ctx.workdir / "readme" / "livepatch" / "hello_klp.ko"
    command = [KLP_CONVERT, "try", "--json", "--timeout", TRY_TIMEOUT, "--kernel",
               kernel.image, "--busybox", kernel.busybox, "--run", "cat /proc/cmdline",
               "--unpatch", livepatch]
    if kernel.modules:
        command[5:5] = ["--modules", kernel.modules]
    env = dict(os.environ, PATH=f"{qemu_directory}:{os.environ['PATH']}")
    proc = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env,
                          timeout=900)
    return proc, json.loads(proc.stdout) if proc.stdout.startswith("{") else None


def _qemu_on_path(arch, directory):
    """A directory holding `qemu-system-<arch>` as the suite runs it: the machine's own (its
    directory), or the backports' unpacked one (support/emulator.py) through a script that
    adds the options the suite gives it (its firmware directory, -L)."""
    stock = guest.ARCHES[arch.name]
    binary = shutil.which(arch.qemu)
    extra = arch.qemu_args[len(stock.qemu_args):]
    if arch.qemu_args[:len(stock.qemu_args)] != stock.qemu_args:
        raise AssertionError(f"{arch.name}: the suite's QEMU options {arch.qemu_args} do not "
                             f"start with `try`'s {stock.qemu_args}")
    if not extra and os.path.basename(binary) == os.path.basename(stock.qemu):
        return os.path.dirname(binary)
    script = directory / os.path.basename(stock.qemu)
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(binary)} "
                      f"{' '.join(map(shlex.quote, extra))} \"$@\"\n")
    script.chmod(0o755)
    return str(directory)
