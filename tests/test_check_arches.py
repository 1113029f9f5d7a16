"""check on livepatches converted by klp-convert for other architectures (cross-compiled):
the good module passes each loader's table; a type that loader lacks is refused with its
message."""

from pathlib import Path

import pytest

from klp_convert.check import check_module, will_load
from klp_convert.cli import main
from klp_convert.elf import ElfObject
from support.toolchains import compile_livepatch

SOURCE = Path(__file__).parent / "data" / "annotated" / "livepatch.c"
# target -> (a relocation type its 6.1 module loader lacks, the line it prints: pr_fmt's
# KBUILD_MODNAME prefix on x86-64 and ppc64, none on s390x, and none on arm64 in 6.1)
UNSUPPORTED = {
    "x86_64": (9, "module: lp: Unknown rela relocation: 9"),
    "s390x": (61, "module lp: unknown relocation: 61"),
    "ppc64le": (0, "module_64: lp: Unknown ADD relocation: 0"),
    "aarch64": (1, "module lp: unsupported RELA relocation: 1"),
}


@pytest.fixture(params=sorted(UNSUPPORTED))
def converted(request, tmp_path):
    obj = compile_livepatch(request.param, SOURCE, tmp_path / "lp.o")
    out = tmp_path / "lp.ko"
    assert main([str(obj), str(out)]) == 0
    return request.param, out


def test_converted_module_will_load(converted):
    _target, path = converted
    findings = check_module(path)
    assert will_load(findings), findings
    # annotated/livepatch.c is no kbuild module: no struct module section
    assert {f.rule for f in findings} <= {"module-reload", "module-object"}


def test_type_the_loader_lacks(converted):
    target, path = converted
    rtype, message = UNSUPPORTED[target]
    obj = ElfObject.read(path)
    klp = next(s for s in obj.relocation_sections() if s.name.startswith(".klp.rela.vmlinux."))
    klp.relocations[0].type = rtype
    findings = check_module(obj)
    assert [(f.rule, f.kernel_message) for f in findings if f.severity == "error"] == [
        ("reloc-type", message)]


def _ppc64_klp_call(obj):
    """(klp section, relocation) of the first `bl` to a converted function."""
    for sec in obj.relocation_sections():
        if sec.name.startswith(".klp.rela.") and ".text" in sec.name:
            for rel in sec.relocations:
                if rel.type == 10:  # R_PPC64_REL24
                    return sec, rel
    raise AssertionError("no R_PPC64_REL24 klp relocation")


@pytest.mark.parametrize("after, refused", [(0x7C000378, True), (0x60000000, False),
                                            (0xE8410018, False)])
def test_ppc64_call_without_nop(tmp_path, after, refused):
    """ppc64: the loader routes a `bl` to a converted function through a stub and needs the
    `nop` after it (or the r2 restore it writes there); anything else is refused, and check
    says what the kernel prints: module, the word found, the function and offset (%pS)."""
    obj = compile_livepatch("ppc64le", SOURCE, tmp_path / "lp.o")
    out = tmp_path / "lp.ko"
    assert main([str(obj), str(out)]) == 0
    converted = ElfObject.read(out)
    sec, rel = _ppc64_klp_call(converted)
    data = bytearray(sec.info.data)
    data[rel.offset + 4:rel.offset + 8] = after.to_bytes(4, "little")
    sec.info.data = bytes(data)
    errors = [f for f in check_module(converted) if f.severity == "error"]
    if not refused:
        assert not errors, errors
        return
    assert [f.rule for f in errors] == ["ppc64-call-nop"], errors
    function = next(s for s in converted.symbols[1:] if s.section is sec.info and s.type == 2
                    and s.value <= rel.offset + 4 < s.value + s.size)
    assert errors[0].kernel_message == (
        f"lp: Expected nop after call, got {after:08x} at "
        f"{function.name}+{rel.offset + 4 - function.value:#x}")


@pytest.mark.parametrize("release, prefix", [("6.1.0-56-arm64", ""),
                                             ("7.2.13+deb14-arm64", "Modules: ")])
def test_arm64_loader_refuses_an_unflagged_klp_section(tmp_path, release, prefix):
    """Without SHF_RELA_LIVEPATCH the loader applies a klp section against address 0: x86-64
    writes it and the module loads (and breaks when run); arm64 range-checks the ADRP, which
    cannot reach 0 from a module, and refuses the module with its overflow line (seen in the
    real-kernel suite's arm64 guest)."""
    from klp_convert.elf.constants import SHF_RELA_LIVEPATCH
    obj = compile_livepatch("aarch64", SOURCE, tmp_path / "lp.o")
    out = tmp_path / "lp.ko"
    assert main([str(obj), str(out)]) == 0
    module = ElfObject.read(out)
    module.section_by_name(".modinfo").data += f"vermagic={release} SMP mod_unload \0".encode()
    klp = next(s for s in module.relocation_sections()
               if s.name.startswith(".klp.rela.vmlinux.") and
               any(r.type == 275 for r in s.relocations))  # R_AARCH64_ADR_PREL_PG_HI21
    klp.flags &= ~SHF_RELA_LIVEPATCH
    [finding] = [f for f in check_module(module) if f.rule == "klp-section-flag"]
    assert finding.kernel_message.startswith(
        f"{prefix}module lp: overflow in relocation type 275 val "), finding.kernel_message
    assert "cannot reach address 0 with its R_AARCH64_ADR_PREL_PG_HI21" in finding.message
