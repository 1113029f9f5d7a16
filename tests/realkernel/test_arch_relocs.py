"""Per-architecture truth in the guest: a livepatch whose references to module rtarget use
every relocation type GCC emits for the architecture is converted and works; the copies the
architecture's loader refuses are refused, with the message `klp-convert check` predicted.
(Scenario arch_relocs; support/arch_relocs.py; one boot with the other scenarios.)"""

import pytest

from klp_convert.check import ERROR, check_module
from klp_convert.elf import ElfObject
from klp_convert.symdb import open_symbols

from support.arch_relocs import EXPECTED_TYPES, klp_types, refused_variants, target_types

pytestmark = [pytest.mark.debian, pytest.mark.realkernel, pytest.mark.slow]

RTARGET = {"rt_u8", "rt_u16", "rt_u32", "rt_u64", "rt_name", "rt_add", "rt_twice"}


def test_every_relocation_type_is_converted(suite, ctx):
    """Each type GCC used to reach rtarget became a klp relocation, and they are the types
    listed for the architecture (a compiler emitting another one fails here, by name)."""
    suite.scenario("arch_relocs")
    livepatch = ctx.workdir / "arch_relocs" / "livepatch"
    converted = ElfObject.read(livepatch / "klp_arch_relocs.ko")
    unconverted = ElfObject.read(livepatch / "klp_arch_relocs.unconverted.ko")
    emitted = target_types(unconverted, RTARGET)
    assert emitted <= klp_types(converted), emitted - klp_types(converted)
    assert not target_types(converted, RTARGET)  # nothing left for the normal loader
    assert klp_types(converted) == EXPECTED_TYPES[converted.machine]


def test_every_relocation_type_works(suite):
    """The patched rtarget state read, wrote and called through each relocation: the values
    and addresses are rtarget's own (its /proc/kallsyms), and the stores stayed."""
    s = suite.scenario("arch_relocs")
    assert s.value("insmod.klp_arch_relocs") == "ok", s.report()
    assert s.value("klp_arch_relocs.enabled") == "1", s.report()
    assert s.value("before.rtarget") == "unpatched" and s.value("rtarget") == "patched"
    assert (s.value("add"), s.value("tail"), s.value("by_pointer")) == ("103", "8", "109")
    assert s.value("name") == "rtarget", s.report()
    values = {"u8": "0x12", "u16": "0x3456", "u32": "0x789abcde", "u64": "0x123456789abcdef"}
    for key, value in values.items():
        assert s.value(f"before.{key}") == s.value(key) == value, s.report()
    assert s.value("u32.by_pointer") == values["u32"]
    # Every address printed (through the code and through the .data pointers) is the one
    # /proc/kallsyms lists.
    for name in ("rt_u8", "rt_u16", "rt_u32", "rt_u64", "rt_name", "rt_add"):
        printed = {int(a, 16) for a in s.values(f"addr.{name}")}
        listed = {int(a, 16) for a in s.value(f"kallsyms.{name}").split()}
        assert len(listed) == 1 and printed == listed, (name, s.report())
    after = {"u8": "0x13", "u16": "0x3457", "u32": "0x789abcdf", "u64": "0x123456789abcdf0"}
    for key, value in after.items():
        assert s.value(f"after.{key}") == value, s.report()
    assert s.value("unpatch") == "ok" and s.value("rmmod.rtarget") == "ok", s.report()


def test_refusals_check_predicts(suite, ctx):
    """The copies the loader must refuse (a type it does not apply; on ppc64 a `bl` without
    the `nop` after it): the kernel refuses each with the line `klp-convert check` predicted
    from the file and the target's database."""
    s = suite.scenario("arch_relocs")
    source = ctx.workdir / "arch_relocs"
    machine = ElfObject.read(source / "livepatch" / "klp_arch_relocs.ko").machine
    variants = sorted(refused_variants(machine))
    with open_symbols([ctx.kernel_database, source / "target.symdb"]) as index:
        for stem in variants:
            assert s.value(f"{stem}.ko") == "failed", s.report()
            errors = [f for f in check_module(source / "refused" / f"{stem}.ko", index=index)
                      if f.severity == ERROR]
            assert len(errors) == 1 and errors[0].kernel_message, errors
            start = next(i for i, m in enumerate(s.kmsg) if f"klp-test: {stem}.ko" in m)
            later = s.kmsg[start + 1:]
            assert [m for m in later[:5] if errors[0].kernel_message in m], (
                errors[0].kernel_message, s.report())
