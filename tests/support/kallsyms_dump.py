"""A real /proc/kallsyms of Debian's kernel: boot its vmlinuz under QEMU (TCG) with a busybox
initramfs that prints the file (gzip + base64 over the serial console) and powers off.
The dump is cached per ABI beside the other downloads; a boot takes about 7 s.

The real-kernel suite takes the same dump as the first step of its scenario boot
(tests/realkernel/scenarios/kallsyms/guest.sh, the commands used here too) and decodes it with
decode_dump()."""

import binascii
import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

from .debian import FLAVOUR, cache_dir, current_abi, unpacked
from .toolchains import require_tool

BEGIN, END = "KALLSYMS-BEGIN", "KALLSYMS-END"
DUMP = (Path(__file__).resolve().parent.parent / "realkernel" / "scenarios" / "kallsyms" /
        "guest.sh").read_text()
INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
{DUMP}
poweroff -f
"""


def guest_kallsyms(abi=None):
    """Path of /proc/kallsyms as Debian's kernel <abi> shows it to root (nokaslr), cached."""
    abi = abi or current_abi()
    target = cache_dir() / "kallsyms" / f"kallsyms-{abi}-{FLAVOUR}"
    if target.exists():
        return target
    for tool, package in (("qemu-system-x86_64", "qemu-system-x86"), ("cpio", "cpio")):
        require_tool(tool, package)
    busybox = shutil.which("busybox")
    if busybox is None:
        require_tool("busybox", "busybox-static")
    kernel = unpacked(f"linux-image-{abi}-{FLAVOUR}-unsigned") / "boot" / \
        f"vmlinuz-{abi}-{FLAVOUR}"
    with tempfile.TemporaryDirectory() as tmp:
        initrd = _initramfs(Path(tmp), busybox)
        console = subprocess.run(
            ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "1G", "-no-reboot",
             "-display", "none", "-serial", "stdio", "-monitor", "none", "-nodefaults",
             "-kernel", str(kernel), "-initrd", str(initrd),
             "-append", "console=ttyS0 panic=-1 quiet nokaslr"],
            capture_output=True, text=True, timeout=300, errors="replace").stdout
    data = decode_dump(console.splitlines())
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    partial.write_bytes(data)
    partial.rename(target)
    return target


def _initramfs(tmp, busybox):
    root = tmp / "root"
    (root / "bin").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "tmp").mkdir()
    shutil.copy(busybox, root / "bin" / "busybox")
    (root / "init").write_text(INIT)
    (root / "init").chmod(0o755)
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    archive = subprocess.run(["cpio", "-o", "-H", "newc"], cwd=root, input=files,
                             capture_output=True, check=True).stdout
    initrd = tmp / "initrd.gz"
    initrd.write_bytes(gzip.compress(archive))
    return initrd


def decode_dump(lines):
    """The kallsyms bytes from the guest's output lines between the markers (uuencode -m
    format)."""
    lines = [line.rstrip("\r") for line in lines]
    try:
        body = lines[lines.index(BEGIN) + 1:lines.index(END)]
    except ValueError:
        tail = "\n".join(lines[-20:])
        raise RuntimeError(f"no kallsyms dump in the guest's output:\n{tail}")
    if not body or not body[0].startswith("begin-base64"):
        raise RuntimeError(f"unexpected dump header: {body[:1]}")
    encoded = "".join(body[1:body.index("====")])
    return gzip.decompress(binascii.a2b_base64(encoded))
