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
# target -> (a relocation type its 6.1 module loader lacks, the message it prints)
UNSUPPORTED = {
    "x86_64": (9, "lp: Unknown rela relocation: 9"),
    "s390x": (61, "module lp: unknown relocation: 61"),
    "ppc64le": (0, "lp: Unknown ADD relocation: 0"),
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
    assert {f.rule for f in findings} <= {"module-reload"}


def test_type_the_loader_lacks(converted):
    target, path = converted
    rtype, message = UNSUPPORTED[target]
    obj = ElfObject.read(path)
    klp = next(s for s in obj.relocation_sections() if s.name.startswith(".klp.rela.vmlinux."))
    klp.relocations[0].type = rtype
    findings = check_module(obj)
    assert [(f.rule, f.kernel_message) for f in findings if f.severity == "error"] == [
        ("reloc-type", message)]
