"""check on a livepatch built by kbuild against Debian's kernel headers and converted by
klp-convert: real module output (__versions, .gnu.linkonce.this_module, __mcount_loc, ORC,
.return_sites, __jump_table with a vmlinux key) passes; every corpus variant applied to it is
caught by its rule."""

import shutil
from pathlib import Path

import pytest

from klp_convert.check import check_module, will_load
from klp_convert.cli import main
from support.broken_modules import VARIANTS, Variant, build_variant, symbol
from support.kernels import KERNELS

pytestmark = [pytest.mark.debian, pytest.mark.slow]

SOURCES = Path(__file__).parent / "data" / "check" / "kbuild"
HEADER = Path(__file__).parent.parent / "include" / "klp-convert.h"


@pytest.fixture(scope="module")
def kernel():
    """Debian 12's kernel as the real-kernel suite prepares it: its headers installed on the
    machine when it runs Debian 12, else in a Debian 12 chroot (its userland builds against
    them), the whole-kernel facts below being Linux 6.1's on either machine."""
    return KERNELS["debian-6.1"].prepare()


@pytest.fixture(scope="module")
def converted(tmp_path_factory, kernel):
    build = tmp_path_factory.mktemp("kbuild")
    for source in (SOURCES / "Kbuild", SOURCES / "klp_check_kbuild.c", HEADER):
        shutil.copy(source, build)
    kernel.share(build)
    made = kernel.run(["make", "-C", kernel.headers, f"M={build}", "modules",
                       "KBUILD_MODPOST_WARN=1"])
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    out = build / "out" / "klp_check_kbuild.ko"
    out.parent.mkdir()
    assert main([str(build / "klp_check_kbuild.ko"), str(out)]) == 0
    return out


def test_kbuild_livepatch_will_load(converted):
    findings = check_module(converted)
    assert [f.rule for f in findings] == ["module-reload"]
    assert will_load(findings)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_variant_of_kbuild_livepatch(converted, variant, tmp_path):
    findings = check_module(build_variant(converted, variant, tmp_path))
    assert will_load(findings) == variant.loads, findings
    rules = {f.rule for f in findings}
    if variant.rule:
        assert variant.rule in rules, findings
    else:  # another tool's convention: nothing but the kernel's reload limit
        assert rules == {"module-reload"}, findings


def test_kbuild_livepatch_against_debian_symbols(converted, kernel, tmp_path):
    """The database of Debian's real modules and Module.symvers: isofs_bread resolves in
    isofs (both views), every other undefined symbol is exported, the vermagic matches."""
    pytest.importorskip("klp_convert.symdb")
    from klp_convert.symdb import open_symbols

    db = tmp_path / "debian.symdb"
    assert main(["symbols", "--modules", str(kernel.modules), "--symvers", str(kernel.symvers),
                 "--kernel-release", kernel.release, "-o", str(db)]) == 0
    with open_symbols([db]) as index:
        findings = check_module(converted, index=index)
        assert [f.rule for f in findings] == ["module-reload"], findings
        wrong = build_variant(converted, Variant("isofs-position-2", rename_isofs_bread),
                              tmp_path)
        assert [f.kernel_message for f in check_module(wrong, index=index)
                if f.severity == "error"] == [
            "livepatch: symbol position 2 for symbol 'isofs_bread' in object 'isofs' not found"]


def rename_isofs_bread(obj):
    symbol(obj, ".klp.sym.isofs.isofs_bread,0").name = ".klp.sym.isofs.isofs_bread,2"
