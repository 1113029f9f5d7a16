"""The guest's initramfs: busybox and an /init that runs a list of steps.

Each step is a directory holding a `guest.sh` (sourced by busybox sh with that directory as its
working directory) and the modules it loads. /init reports on the architecture's report port
(see arches.py); after each step it appends the kernel messages the step caused (`dmesg -c`).
report.py reads the result.
"""

import gzip
import io
from pathlib import Path

# Shell functions every guest.sh can use.
INIT_PROLOGUE = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec 3>@REPORT_DEVICE@

# kallsyms NAME [MODULE]: the addresses /proc/kallsyms gives NAME (in MODULE), in its order,
# on one line.
kallsyms() {
    awk -v n="$1" -v m="${2:+[$2]}" '$3 == n && $4 == m { printf "%s ", $1 }' /proc/kallsyms
}

# report_kallsyms OBJECT NAME...: a line kallsyms.NAME=ADDRESSES for each NAME of OBJECT
# (a module name, or vmlinux). One pass over /proc/kallsyms for all the names: under TCG the
# kernel takes seconds to list its 100,000 symbols.
report_kallsyms() {
    object=$1; shift
    [ "$object" = vmlinux ] && object=
    awk -v names="$*" -v m="${object:+[$object]}" '
        BEGIN { count = split(names, list, " "); for (i = 1; i <= count; i++) wanted[list[i]] = 1 }
        $4 == m && ($3 in wanted) { found[$3] = found[$3] $1 " " }
        END { for (i = 1; i <= count; i++) print "kallsyms." list[i] "=" found[list[i]] }
    ' /proc/kallsyms
}

# wait_patched PATCH: wait (at most 60 s: TCG on a busy machine) until PATCH's transition is
# over; prints its state.
wait_patched() {
    i=0
    while [ "$(cat /sys/kernel/livepatch/$1/transition 2>/dev/null)" = 1 ] && [ $i -lt 600 ]; do
        sleep 0.1; i=$((i + 1))
    done
    echo "$1.enabled=$(cat /sys/kernel/livepatch/$1/enabled 2>/dev/null || echo absent)"
    echo "$1.transition=$(cat /sys/kernel/livepatch/$1/transition 2>/dev/null || echo absent)"
}

# unpatch PATCH MODULE: disable a livepatch, wait for the transition, unload its module.
unpatch() {
    echo 0 > /sys/kernel/livepatch/$1/enabled
    i=0
    while [ -e /sys/kernel/livepatch/$1 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    rmmod $2
}

run_step() {
    echo "@@ begin $1 $(cut -d' ' -f1 /proc/uptime)" >&3
    dmesg -c > /dev/null
    (cd /steps/$1 && . ./guest.sh) >&3 2>&1
    echo "@@ status $1 $?" >&3
    dmesg -c | sed 's/^/kmsg: /' >&3
    echo "@@ end $1 $(cut -d' ' -f1 /proc/uptime)" >&3
}
"""
INIT_EPILOGUE = """echo "@@ poweroff" >&3
poweroff -f
"""


def newc_archive(files):
    """A cpio archive in the kernel's initramfs format ("newc") of ``files``:
    {guest path: (mode, bytes)}, parent directories added."""
    entries = {}
    for path, (mode, data) in sorted(files.items()):
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            entries.setdefault("/".join(parts[:depth]), (0o040755, b""))
        entries["/".join(parts)] = (mode, data)
    out = io.BytesIO()
    for number, (name, (mode, data)) in enumerate(sorted(entries.items()), start=1):
        _newc_entry(out, number, name, mode, data)
    _newc_entry(out, 0, "TRAILER!!!", 0, b"")
    return out.getvalue()


def _newc_entry(out, inode, name, mode, data):
    encoded = name.encode() + b"\0"
    # magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
    # rdevminor, namesize, check: 13 eight-digit hex fields.
    fields = [inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
    out.write(b"070701" + b"".join(b"%08x" % f for f in fields) + encoded)
    out.write(b"\0" * (-out.tell() % 4))
    out.write(data)
    out.write(b"\0" * (-out.tell() % 4))


def build_initramfs(path, step_dirs, arch, busybox, epilogue=INIT_EPILOGUE):
    """Write a gzip'ed initramfs at ``path``: ``busybox`` (a static binary for ``arch``), an
    /init running the steps in order.

    ``step_dirs`` maps a step name to a host directory with guest.sh and its modules.
    """
    files = {"bin/busybox": (0o100755, Path(busybox).read_bytes())}
    for mount_point in ("proc", "sys", "dev", "tmp"):
        files[mount_point] = (0o040755, b"")
    script = [INIT_PROLOGUE.replace("@REPORT_DEVICE@", arch.report_device)]
    for name, directory in step_dirs.items():
        for item in sorted(Path(directory).iterdir()):
            if item.is_file() and (item.suffix == ".ko" or item.name == "guest.sh"):
                files[f"steps/{name}/{item.name}"] = (0o100644, item.read_bytes())
        script.append(f"run_step {name}\n")
    script.append(epilogue)
    files["init"] = (0o100755, "".join(script).encode())
    Path(path).write_bytes(gzip.compress(newc_archive(files), compresslevel=1))
    return path
