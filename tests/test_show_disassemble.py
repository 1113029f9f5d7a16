"""`klp-convert show --disassemble` (issue 11, class 15): objdump's listing with every klp
relocation at its offset, where objdump -r shows the same references before conversion."""

import re
import subprocess
from pathlib import Path

import pytest

from klp_convert.cli import main
from support.toolchains import TARGETS, compile_c, require_tool

DATA = Path(__file__).parent / "data" / "show"
OBJDUMP = {"x86_64": "objdump", "s390x": "s390x-linux-gnu-objdump"}
LD = {"x86_64": "ld", "s390x": "s390x-linux-gnu-ld"}


@pytest.mark.parametrize("target", ["x86_64", "s390x"])
def test_klp_relocations_sit_where_objdump_showed_the_references(tmp_path, capsys, target):
    require_tool(OBJDUMP[target])
    flags = ("-O2", "-fno-pic", "-fno-common") + (("-mcmodel=kernel",)
                                                  if target == "x86_64" else ())
    patch = compile_c(target, DATA / "disasm.c", tmp_path / "lp.ko", flags=flags)
    target_o = compile_c(target, DATA / "target.c", tmp_path / "t.o", flags=flags)
    subprocess.run([LD[target], "-r", "-o", str(tmp_path / "target.ko"), str(target_o)],
                   check=True)
    db = tmp_path / "t.symdb"
    assert main(["symbols", "--modules", str(tmp_path / "target.ko"), "-o", str(db)]) == 0
    out = tmp_path / "out.ko"
    assert main(["convert", "--symbols", str(db), str(patch), "-o", str(out)]) == 0
    before = subprocess.run([OBJDUMP[target], "-d", "-r", "-w", str(patch)], check=True,
                            capture_output=True, text=True).stdout
    capsys.readouterr()
    assert main(["show", "--disassemble", str(out)]) == 0
    listing = capsys.readouterr().out
    # objdump -r on the unconverted module: (offset, type, symbol) of the code references.
    expected = re.findall(r"\s([0-9a-f]+): (R_\w+)\s+(hidden_\w+)", before)
    assert len(expected) == 2
    for offset, rtype, name in expected:
        line = re.search(rf"^ +{offset}: {rtype} +\.klp\.sym\.target\.{name},0\S* +"
                         rf"\[\.klp\.rela\.target\.\.?text\S*\]$", listing, re.M)
        assert line, (offset, rtype, name, listing)
        # ... right after the instruction that holds the offset.
        previous = listing[:line.start()].rstrip("\n").rsplit("\n", 1)[-1]
        start = int(re.match(r"^ *([0-9a-f]+):", previous).group(1), 16)
        assert start <= int(offset, 16)
    assert re.search(r"^Relocations of \.data\S* \(not disassembled\):$", listing, re.M)
    assert ".klp.sym.target.hidden_counter,0" in listing.split("not disassembled")[1]


def test_without_objdump_for_the_machine_one_line(tmp_path, capsys, monkeypatch):
    require_tool("gcc")
    patch = compile_c("x86_64", DATA / "disasm.c", tmp_path / "lp.ko")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["show", "--disassemble", str(patch)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("klp-convert: error: ") and "cannot disassemble" in err \
        and err.count("\n") == 1
