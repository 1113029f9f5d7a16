"""Every module of Debian's current kernel image round-trips byte for byte (the appended module
signature included), and an edited one loses its signature and says so."""

import pytest

from klp_convert.elf import ElfObject
from support.debian import kernel_image_modules
from support.toolchains import readelf_clean

pytestmark = pytest.mark.debian


@pytest.fixture(scope="module")
def debian_modules():
    abi, root = kernel_image_modules()
    modules = sorted(root.rglob("*.ko"))
    assert len(modules) > 3000, f"only {len(modules)} modules in {root}"
    return modules


def test_every_debian_module_round_trips(debian_modules):
    different = []
    for path in debian_modules:
        obj = ElfObject.read(path)
        data, dropped = obj.to_bytes()
        if data != obj.original or dropped:
            different.append(str(path))
    assert not different, f"{len(different)} modules changed, e.g. {different[:3]}"


def test_signed_module_edit_drops_signature(debian_modules, tmp_path):
    path = next(p for p in debian_modules if p.name == "af_key.ko")
    raw = path.read_bytes()
    assert raw.endswith(b"~Module signature appended~\n")
    obj = ElfObject.read(path)
    assert obj.layout_end < len(raw)
    sym = next(s for s in obj.symbols if s.name == "pfkey_sendmsg")
    sym.name = "pfkey_sendmsg_renamed"
    result = obj.write(tmp_path / "af_key.ko")
    assert result.dropped_trailer == len(raw) - obj.layout_end
    out = (tmp_path / "af_key.ko").read_bytes()
    assert b"~Module signature appended~" not in out
    readelf_clean(tmp_path / "af_key.ko")
    again = ElfObject.read(tmp_path / "af_key.ko")
    assert any(s.name == "pfkey_sendmsg_renamed" for s in again.symbols)
