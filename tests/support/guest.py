"""Boot Debian's kernel under QEMU with a busybox initramfs and collect what the guest reports.

The guest runs a list of scenarios. Each scenario is a directory holding a `guest.sh` (sourced by
busybox sh with that directory as its working directory) and the modules it loads. The guest
reports on a second serial port (ttyS1), which nothing else writes to, so its lines never
interleave with kernel messages; the kernel console (ttyS0) is kept for failure reports. After
each scenario the guest appends the kernel messages it caused (`dmesg -c`) to its report.

Report format, one scenario after the other:
    @@ begin NAME UPTIME
    ... whatever guest.sh prints; lines `key=value` are values the tests read ...
    @@ status NAME EXIT-STATUS
    kmsg: <kernel message>
    @@ end NAME UPTIME
"""

import gzip
import io
import subprocess
import time
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
BOOT_TIMEOUT = 240  # seconds per boot; a boot with every scenario takes 15-40 s under TCG
QEMU = "qemu-system-x86_64"
# KVM aborts or hangs on these machines: TCG only (KERNEL-RULES.md section 5).
QEMU_ARGS = ["-accel", "tcg", "-cpu", "max", "-m", "1G", "-no-reboot", "-display", "none",
             "-monitor", "none", "-nodefaults"]
# oops=panic: an unexpected oops ends the boot at once instead of hiding in later scenarios.
KERNEL_ARGS = "console=ttyS0 panic=-1 oops=panic nokaslr"

# Shell functions every guest.sh can use.
INIT_PROLOGUE = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec 3>/dev/ttyS1

# kallsyms NAME [MODULE]: the addresses /proc/kallsyms gives NAME (in MODULE), in its order,
# on one line.
kallsyms() {
    awk -v n="$1" -v m="${2:+[$2]}" '$3 == n && $4 == m { printf "%s ", $1 }' /proc/kallsyms
}

# report_kallsyms OBJECT NAME...: a line kallsyms.NAME=ADDRESSES for each NAME of OBJECT
# (a module name, or vmlinux).
report_kallsyms() {
    object=$1; shift
    [ "$object" = vmlinux ] && object=
    for name in "$@"; do echo "kallsyms.$name=$(kallsyms $name $object)"; done
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

run_scenario() {
    echo "@@ begin $1 $(cut -d' ' -f1 /proc/uptime)" >&3
    dmesg -c > /dev/null
    (cd /scenarios/$1 && . ./guest.sh) >&3 2>&1
    echo "@@ status $1 $?" >&3
    dmesg -c | sed 's/^/kmsg: /' >&3
    echo "@@ end $1 $(cut -d' ' -f1 /proc/uptime)" >&3
}
"""
INIT_EPILOGUE = """echo "@@ poweroff" >&3
poweroff -f
"""


class Scenario:
    """What the guest reported for one scenario."""

    def __init__(self, name):
        self.name = name
        self.lines = []        # guest.sh's output, in order
        self.kmsg = []         # kernel messages, without their timestamps
        self.status = None     # guest.sh's exit status
        self.start = None      # guest uptime when it began
        self.seconds = None    # guest time spent in the scenario
        self.ended = False

    def values(self, key):
        """Every value printed as `key=value`, in order."""
        prefix = key + "="
        return [line[len(prefix):] for line in self.lines if line.startswith(prefix)]

    def value(self, key):
        """The one value printed as `key=value`; fails the test when it is absent or repeated."""
        found = self.values(key)
        assert len(found) == 1, f"scenario {self.name}: expected one '{key}=' line, got {found}"
        return found[0]

    def kmsg_with(self, text):
        return [m for m in self.kmsg if text in m]

    def report(self):
        return "\n".join([f"scenario {self.name} (status {self.status}):", *self.lines,
                          *("kmsg: " + m for m in self.kmsg)])


class BootResult:
    """The guest's reports by scenario, and the kernel console for failure messages."""

    def __init__(self, console, report_text, seconds, returncode, timed_out):
        self.console = console
        self.seconds = seconds
        self.returncode = returncode
        self.timed_out = timed_out
        self.scenarios = parse_report(report_text)
        self.powered_off = "@@ poweroff" in report_text

    def console_tail(self, lines=60):
        return "\n".join(self.console.splitlines()[-lines:])

    def scenario(self, name):
        """The scenario's report; fails with the console tail when the guest never finished it."""
        found = self.scenarios.get(name)
        if found is None or not found.ended:
            why = "timed out" if self.timed_out else f"exit status {self.returncode}"
            partial = found.report() if found else "(never started)"
            raise AssertionError(f"the guest did not finish scenario {name} (QEMU {why}).\n"
                                 f"{partial}\n--- console tail ---\n{self.console_tail()}")
        return found


def parse_report(text):
    """{name: Scenario} from the guest's report channel."""
    scenarios = {}
    current = None
    for line in text.replace("\r", "").splitlines():
        if line.startswith("@@ begin "):
            name, start = line.split()[2:4]
            current = scenarios[name] = Scenario(name)
            current.start = float(start)
        elif current is None:
            continue
        elif line.startswith("@@ status "):
            current.status = int(line.split()[3])
        elif line.startswith("@@ end "):
            current.seconds = float(line.split()[3]) - current.start
            current.ended = True
            current = None
        elif line.startswith("kmsg: "):
            current.kmsg.append(_strip_timestamp(line[len("kmsg: "):]))
        else:
            current.lines.append(line)
    return scenarios


def _strip_timestamp(message):
    if message.startswith("[") and "]" in message:
        return message.split("]", 1)[1].lstrip()
    return message


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


def build_initramfs(path, scenario_dirs, epilogue=INIT_EPILOGUE):
    """Write a gzip'ed initramfs at ``path``: busybox, an /init running the scenarios in order.

    ``scenario_dirs`` maps a scenario name to a host directory with guest.sh and its modules.
    """
    files = {"bin/busybox": (0o100755, BUSYBOX.read_bytes())}
    for mount_point in ("proc", "sys", "dev", "tmp"):
        files[mount_point] = (0o040755, b"")
    script = [INIT_PROLOGUE]
    for name, directory in scenario_dirs.items():
        for item in sorted(Path(directory).iterdir()):
            if item.is_file() and (item.suffix == ".ko" or item.name == "guest.sh"):
                files[f"scenarios/{name}/{item.name}"] = (0o100644, item.read_bytes())
        script.append(f"run_scenario {name}\n")
    script.append(epilogue)
    files["init"] = (0o100755, "".join(script).encode())
    Path(path).write_bytes(gzip.compress(newc_archive(files), compresslevel=1))
    return path


def boot(vmlinuz, initrd, workdir, kernel_args=KERNEL_ARGS, timeout=BOOT_TIMEOUT):
    """Boot ``vmlinuz`` with ``initrd`` under QEMU (TCG); wait for poweroff or ``timeout``."""
    workdir = Path(workdir)
    console_path, report_path = workdir / "console.log", workdir / "report.log"
    report_path.write_bytes(b"")
    command = [QEMU, *QEMU_ARGS, "-serial", "stdio", "-serial", f"file:{report_path}",
               "-kernel", str(vmlinuz), "-initrd", str(initrd), "-append", kernel_args]
    started = time.monotonic()
    timed_out = False
    with open(console_path, "wb") as console:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=console,
                                stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
    seconds = time.monotonic() - started
    console_text = console_path.read_bytes().decode(errors="replace")
    report_text = report_path.read_bytes().decode(errors="replace")
    return BootResult(console_text, report_text, seconds, proc.returncode, timed_out)

