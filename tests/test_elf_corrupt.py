"""Malformed input: our error type with a one-line message naming the file, nothing else; and
never a partial output file. Hypothesis truncates and corrupts real objects."""

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klp_convert.elf import ElfError, ElfObject
from support.toolchains import compile_c

SAMPLE = Path(__file__).parent / "data" / "sample.c"
TARGETS = ["x86_64", "s390x", "i686"]


_SEEDS = {}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Real objects to corrupt (kept out of the test arguments so failures print short)."""
    if not _SEEDS:
        directory = tmp_path_factory.mktemp("seeds")
        _SEEDS.update({t: compile_c(t, SAMPLE, directory / f"{t}.o").read_bytes()
                       for t in TARGETS})
    return _Seeds()


class _Seeds:
    def __getitem__(self, target):
        return _SEEDS[target]

    def __repr__(self):
        return "<seeds>"


def exercise(data, out_dir):
    """Everything a caller may do with an object read from untrusted bytes."""
    out = out_dir / "out.o"
    try:
        obj = ElfObject.from_bytes(data, "corrupt.o")
        for sec in obj.relocation_sections():
            sec.relocations  # noqa: B018
        if obj.symbols[1:]:
            obj.symbols[-1].name += "_x"
        obj.write(out)
    except ElfError as e:
        message = str(e)
        assert message.startswith("corrupt.o: ") or message.startswith(str(out)), message
        assert "\n" not in message
        assert not out.exists(), "partial output file left behind"
        assert [p.name for p in out_dir.iterdir()] == [], "temporary file left behind"
    else:
        ElfObject.read(out)  # what we wrote must read back
        out.unlink()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), cut=st.floats(0, 1))
def test_truncated(seeds, tmp_path_factory, target, cut):
    data = seeds[target]
    exercise(data[:int(len(data) * cut)], tmp_path_factory.mktemp("t"))


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), edits=st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)),
    min_size=1, max_size=6))
def test_random_bytes_overwritten(seeds, tmp_path_factory, target, edits):
    data = bytearray(seeds[target])
    for where, value in edits:
        pos = int(where * len(data))
        data[pos:pos + len(value)] = value
    exercise(bytes(data[:len(seeds[target])]), tmp_path_factory.mktemp("r"))


def header_fields(data):
    """(offset, size) of every header, section header, symbol and relocation field."""
    is64 = data[4] == 2
    e = ">" if data[5] == 2 else "<"
    fields = [(o, s) for o, s in ((16, 2), (0x20 if is64 else 0x1c, 8 if is64 else 4),
                                  (0x28 if is64 else 0x20, 8 if is64 else 4),
                                  (0x3a if is64 else 0x2e, 2), (0x3c if is64 else 0x30, 2),
                                  (0x3e if is64 else 0x32, 2))]
    shoff = struct.unpack_from(e + ("Q" if is64 else "I"), data, 0x28 if is64 else 0x20)[0]
    shnum = struct.unpack_from(e + "H", data, 0x3c if is64 else 0x30)[0]
    shsize = 64 if is64 else 40
    layout = [(0, 4), (4, 4), (8, 8), (24, 8), (32, 8), (40, 4), (44, 4), (56, 8)] if is64 else \
        [(0, 4), (4, 4), (8, 4), (16, 4), (20, 4), (24, 4), (28, 4), (36, 4)]
    for i in range(shnum):
        base = shoff + i * shsize
        fields += [(base + o, s) for o, s in layout]
        sh_type, = struct.unpack_from(e + "I", data, base + 4)
        off, size = struct.unpack_from(e + ("QQ" if is64 else "II"), data,
                                       base + (24 if is64 else 16))
        if sh_type == 2:  # every symbol's name and section index
            step = 24 if is64 else 16
            fields += [(off + k, 4) for k in range(0, size, step)]
            fields += [(off + k + (6 if is64 else 14), 2) for k in range(0, size, step)]
        if sh_type in (4, 9):  # every relocation's info
            step = (24 if sh_type == 4 else 16) if is64 else (12 if sh_type == 4 else 8)
            fields += [(off + k + (8 if is64 else 4), 8 if is64 else 4)
                       for k in range(0, size, step)]
    return fields


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), choice=st.floats(0, 1, exclude_max=True),
       value=st.one_of(st.integers(0, 0xFFFFFFFFFFFFFFFF), st.sampled_from(
           [0, 1, 0xFF00, 0xFF20, 0xFFF1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63])))
def test_structured_field_corrupted(seeds, tmp_path_factory, target, choice, value):
    data = bytearray(seeds[target])
    fields = header_fields(bytes(data))
    offset, size = fields[int(choice * len(fields))]
    order = "big" if data[5] == 2 else "little"
    data[offset:offset + size] = (value % (1 << (8 * size))).to_bytes(size, order)
    exercise(bytes(data), tmp_path_factory.mktemp("s"))


@pytest.mark.parametrize("data, message", [
    (b"", "not an ELF file"),
    (b"hello world, not elf at all", "not an ELF file"),
    (b"\x7fELF\x03\x01\x01" + bytes(57), "unsupported ELF class"),
    (b"\x7fELF\x02\x01\x01" + bytes(20), "truncated ELF header"),
])
def test_simple_refusals(data, message):
    with pytest.raises(ElfError, match=message):
        ElfObject.from_bytes(data, "bad.o")


def test_not_relocatable(tmp_path):
    exe = tmp_path / "a.out"
    src = tmp_path / "m.c"
    src.write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", str(exe), str(src)], check=True)
    with pytest.raises(ElfError, match=r"a.out: not a relocatable object \(e_type 3"):
        ElfObject.read(exe)


def test_cli_reports_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.ko"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(20))
    proc = subprocess.run([sys.executable, "-m", "klp_convert", "show", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == f"klp-convert: error: {bad}: truncated ELF header (27 bytes)\n"
    assert proc.stdout == ""


def test_missing_file_is_our_error(tmp_path):
    with pytest.raises(ElfError, match="cannot read: No such file"):
        ElfObject.read(tmp_path / "nope.ko")
