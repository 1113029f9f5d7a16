"""klp-convert check on a corpus built from real gcc output: the good module passes, each
broken variant is refused by the right rule with the kernel's own message."""

import json

import pytest

from klp_convert.check import check_module, will_load
from klp_convert.cli import main
from klp_convert.commands.check import NOT_RESOLVED
from klp_convert.convert import convert_object
from klp_convert.elf import ElfObject, Section
from klp_convert.elf.constants import SHF_ALLOC, SHF_RELA_LIVEPATCH, SHT_PROGBITS, SHT_REL
from support.broken_modules import VARIANTS, build_corpus, build_unconverted, klp_section


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"))


def run_check(capsys, *args):
    status = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


# Linux 6.1 cannot reload a patched module (rule 10): every module patching foo gets this warning.
RELOAD_WARNING = "module-reload"


def test_good_module_will_load(corpus, capsys):
    status, out, err = run_check(capsys, corpus["good"])
    assert (status, err) == (0, f"klp-convert: warning: {NOT_RESOLVED}\n")
    lines = out.splitlines()
    assert lines[0] == f"{corpus['good']}: kernel: Linux 6.1 rules (6.1.0-99-amd64, from the " \
                       "module's vermagic)"
    assert lines[1].startswith(f"{corpus['good']}: warning: while this patch is enabled, foo "
                               "cannot be unloaded and loaded again: Linux 6.1 leaves its "
                               "livepatch relocations applied")
    assert lines[-1] == f"{corpus['good']}: will load (0 errors, 1 warning)"


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_variant_verdict(corpus, variant):
    findings = check_module(corpus[variant.name])
    assert will_load(findings) == variant.loads, findings
    if variant.rule is None:
        assert {f.rule for f in findings} <= {RELOAD_WARNING}, findings
        return
    assert {f.rule for f in findings} >= {variant.rule}, findings
    if variant.kernel is not None:
        assert variant.kernel in [f.kernel_message for f in findings], findings


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.loads][:3],
                         ids=lambda v: v.name)
def test_refused_variant_exits_1_with_message_lines(corpus, capsys, variant):
    status, out, _ = run_check(capsys, corpus[variant.name])
    assert status == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{corpus[variant.name]}: kernel: Linux 6.1 rules")
    assert lines[1].startswith(f"{corpus[variant.name]}: error: ")
    assert lines[-1].startswith(f"{corpus[variant.name]}: will not load (")
    if variant.kernel:
        assert f"  kernel: {variant.kernel}" in lines


def test_unconverted_module_is_refused(corpus):
    findings = check_module(corpus["unconverted"])
    assert [f.rule for f in findings] == ["unconverted"] * 3
    assert findings[2].kernel_message == \
        "klp_check_demo: Unknown symbol .klp.sym.rela.vmlinux.vmlinux.name.12345,2 (err -2)"


def test_json_lists_every_module(corpus, capsys):
    status, out, _ = run_check(capsys, "--json", corpus["good"],
                               corpus["symbol-not-livepatch"])
    doc = json.loads(out)
    assert status == 1
    assert [m["verdict"] for m in doc["modules"]] == ["will load", "will not load"]
    finding = doc["modules"][1]["findings"][0]
    assert finding["severity"] == "error" and finding["rule"] == "klp-symbol-shndx"
    assert doc["resolution_checked"] is False  # no --symbols: structure only


def test_unreadable_input_exits_2(corpus, capsys, tmp_path):
    junk = tmp_path / "junk.ko"
    junk.write_bytes(b"not an ELF file")
    status, out, err = run_check(capsys, junk, corpus["good"])
    assert status == 2
    assert err.startswith(f"klp-convert: error: {junk}: ") and len(err.splitlines()) == 2
    assert out.splitlines()[-1] == f"{corpus['good']}: will load (0 errors, 1 warning)"


def test_in_memory_object_checks_what_the_reader_would_refuse(corpus):
    """convert checks its output before writing it: check_module takes an ElfObject, and
    catches header mistakes our reader would refuse in a file."""
    obj = ElfObject.read(corpus["good"])
    sec = klp_section(obj, ".klp.rela.foo.")
    sec.type = SHT_REL
    sec.entsize = 0
    sec.name = ".klp.rela.f-oo..text.patched_foo"
    obj.add_section(Section(".klp.rela.vmlinux..data", SHT_PROGBITS,
                            flags=SHF_ALLOC | SHF_RELA_LIVEPATCH, link=0, info=0))
    findings = check_module(obj, label="out.ko")
    assert [(f.severity, f.rule) for f in findings] == [
        ("error", "klp-section-name"), ("error", "klp-section-type"),
        ("error", "klp-section-type"), ("warning", "klp-section-layout")]
    assert findings[2].message.startswith("section '.klp.rela.vmlinux..data' is of type 1:")
    assert all(f.module == "out.ko" for f in findings)


def test_convert_output_checked_before_writing(tmp_path):
    """What convert does before it writes (issue 5 point 4): the same rules on its in-memory
    result, which must pass."""
    obj = ElfObject.read(build_unconverted(tmp_path))
    convert_object(obj)
    findings = check_module(obj)
    assert will_load(findings) and [f.rule for f in findings] == [RELOAD_WARNING]


def patch_of_modules(directory, count):
    """A converted livepatch (annotation-only) calling one function of each of ``count``
    modules m1, m2, ..., built for Linux 6.1."""
    directory.mkdir()
    source = directory / "many.c"
    lines = ['#include "klp-convert.h"',
             'static const char modinfo[] __attribute__((used, section(".modinfo"))) = '
             '"livepatch=Y\\0name=many\\0vermagic=6.1.0-99-amd64 SMP mod_unload ";']
    for i in range(1, count + 1):
        lines += [f"extern int f{i}(void);",
                  f"KLP_MODULE_RELOC(m{i}) m{i}_relocs[] = {{ KLP_SYMPOS(f{i}, 0) }};",
                  f"int call{i}(void) {{ return f{i}(); }}"]
    source.write_text("\n".join(lines) + "\n")
    from support.toolchains import compile_livepatch
    unconverted = compile_livepatch("x86_64", source, directory / "many.o",
                                    extra=("-mcmodel=kernel",))
    out = directory / "many.ko"
    assert main([str(unconverted), str(out)]) == 0
    return out


def test_reload_limit_is_one_warning_for_a_patch_of_many_modules(tmp_path, capsys):
    """Up to three patched modules get a warning each; more get one that counts them (a
    patch of 3,220 modules printed 9,660 lines)."""
    few = [f for f in check_module(patch_of_modules(tmp_path / "three", 3))
           if f.rule == RELOAD_WARNING]
    assert [f.fix for f in few] == [f"disable the patch before reloading m{i}" for i in (1, 2, 3)]
    [many] = [f for f in check_module(patch_of_modules(tmp_path / "four", 4))
              if f.rule == RELOAD_WARNING]
    assert many.message == ("while this patch is enabled, none of the 4 modules it patches "
                            "(m1, m2, m3, ...) can be unloaded and loaded again: Linux 6.1 "
                            "leaves their livepatch relocations applied (cleared on unload "
                            "since 6.3)")
    assert many.fix == "disable the patch before reloading any of them"
    assert many.kernel_message.startswith("module: x86/modules: Skipping invalid relocation")
