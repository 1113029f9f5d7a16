"""A livepatch's trial in a guest (`klp-convert try`): what to boot, the steps the guest runs,
and the verdict on what it reported.

The guest runs these steps (initramfs.py), each reporting its output and the kernel messages it
caused: `boot` (release, taint), `load` (the --load modules and their dependencies), the user's
commands (`before.N`), `patch` (insmod each livepatch, wait for its transition), `late` (target
modules loaded after the patch), the commands again (`after.N`), optionally `reload` (a target
unloaded and loaded again under the patch) with `reloaded.N`, and `unpatch` (disable and
unload) with `unpatched.N`; `end` reads the taint once more.
"""

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..elf.codec import codec_for
from ..elf.constants import ELFMAG
from ..errors import KlpError
from ..kernel.health import BY_DESIGN, by_design_letters, taint_letters, trouble_reports
from ..kernel.generations import RELEASE_KEYED, rules_for_release
from ..kernel.names import module_runtime_name
from ..text import is_decimal
from . import accel as accel_probe
from .arches import IMAGE_HEAD, arch_for_machine, qemu_release, runs_stale_code
from .initramfs import build_initramfs
from .modules import ModuleTree, find_module, load_order, read_guest_module
from .qemu import BOOT_TIMEOUT, boot, kernel_args
from .report import strip_timestamp

# Phases in which the commands run, in boot order, and the step that precedes each.
# Each line a command printed carries this prefix in the report.
OUTPUT_PREFIX = "> "
PHASES = ("before", "after", "reloaded", "unpatched")
PT_INTERP = 3


@dataclass
class TrialRequest:
    """What the user asked for (the command line, as data)."""

    livepatches: list
    kernel: str = None
    modules: str = None
    load: list = field(default_factory=list)
    run: list = field(default_factory=list)
    late: list = field(default_factory=list)
    reload_target: list = field(default_factory=list)
    unpatch: bool = False
    busybox: str = None
    accel: str = None
    timeout: float = BOOT_TIMEOUT


class SetupError(KlpError):
    """Something the trial needs is missing on the host (exit status 2)."""


def running_kernel():
    """(vmlinuz, module tree) of the running kernel; the module tree may not exist."""
    release = os.uname().release
    image = Path("/boot") / f"vmlinuz-{release}"
    # Some releases install modules (and even the image) under /usr/lib/modules only.
    for root in (Path("/lib/modules"), Path("/usr/lib/modules")):
        if (root / release).is_dir():
            if not image.is_file() and (root / release / "vmlinuz").is_file():
                image = root / release / "vmlinuz"
            return image, root / release
    return image, None


class Trial:
    """A prepared trial: every file found and read, the guest's steps written."""

    def __init__(self, request):
        self.request = request
        self.kernel, self.tree = self._kernel_and_tree(request)
        self.patches = [read_guest_module(p) for p in request.livepatches]
        for patch in self.patches:
            if not patch.is_livepatch:
                raise KlpError(patch.source, "not a livepatch module (its .modinfo has no "
                                             "livepatch=Y)")
        self.arch = self._arch()
        self._check_image()
        self.busybox = self._busybox(request.busybox)
        self.qemu = self._qemu()
        # QEMU's release, asked once, where this architecture has a fact about releases
        release = qemu_version(self.qemu) \
            if self.arch.stale_code_fixed_in or self.arch.qemu_boots_after else None
        refuse_unbootable(self.arch, self.qemu, release)
        self.notes = emulator_notes(self.arch, self.qemu, release)
        loaded = set()
        self.loads = load_order([find_module(m, self.tree) for m in request.load], self.tree,
                                loaded)
        loaded |= {m.name for m in self.loads}
        self.patch_loads = load_order(self.patches, self.tree, loaded)
        loaded |= {m.name for m in self.patch_loads}
        self.late_loads = load_order([find_module(m, self.tree) for m in request.late],
                                     self.tree, loaded)
        self.reloads = [self._loaded_module(name) for name in request.reload_target]

    # -- set-up ---------------------------------------------------------------------------

    @staticmethod
    def _kernel_and_tree(request):
        image, tree = running_kernel()
        if request.kernel:
            image = Path(request.kernel)
            tree = None
        if request.modules:
            tree = Path(request.modules)
            if not tree.is_dir():
                raise SetupError(tree, "no such module directory")
        if not image.is_file():
            hint = "" if request.kernel else " (the running kernel's; pass --kernel VMLINUZ)"
            raise SetupError(image, f"no such kernel image{hint}")
        return image, ModuleTree(tree) if tree else None

    def _arch(self):
        machines = {p.machine for p in self.patches}
        if len(machines) != 1:
            raise KlpError(self.patches[0].source, "the livepatches are built for different "
                                                   "architectures")
        arch = arch_for_machine(machines.pop())
        if arch is None:
            raise SetupError(self.patches[0].source, "klp-convert try cannot boot a guest of "
                                                     "this module's architecture")
        return arch

    def _check_image(self):
        """Refuse, before QEMU starts, a file that is no kernel image of the guest's
        architecture (QEMU would fail in its own words, or boot nothing until the timeout)."""
        try:
            with open(self.kernel, "rb") as f:
                head = f.read(IMAGE_HEAD)
        except OSError as e:
            raise SetupError(self.kernel, f"cannot read: {e.strerror}") from None
        if self.arch.images and self.arch.image_kind(head) is None:
            kinds = " or ".join(kind for kind, _offset, _magic in self.arch.images)
            raise SetupError(self.kernel, f"not a kernel image QEMU boots for "
                                          f"{self.arch.name}: it takes {kinds}")

    def _busybox(self, given):
        package = self.arch.busybox_package
        path = Path(given or "/bin/busybox")
        if not path.is_file():
            if given:
                raise SetupError(path, "no such file (a static busybox for the guest, from "
                                       f"Debian's {package})")
            raise SetupError(path, f"missing: install {package.split(':')[0]} "
                                   f"(apt-get install {package}), or pass --busybox PATH")
        machine, dynamic = executable_facts(path)
        if machine != self.arch.machine or dynamic:
            what = "dynamically linked" if dynamic else f"not built for {self.arch.name}"
            raise SetupError(path, f"{what}: the guest needs a static busybox for "
                                   f"{self.arch.name} ({package}; --busybox PATH)")
        return path

    def _qemu(self):
        qemu = shutil.which(self.arch.qemu)
        if qemu is None:
            raise SetupError(self.arch.qemu, f"not found: install {self.arch.qemu_package} "
                                             f"(apt-get install {self.arch.qemu_package})")
        return qemu

    def _loaded_module(self, name):
        for module in self.loads + self.late_loads:
            if module.name == module_runtime_name(name):
                return module
        raise SetupError(name, "--reload-target names a module that --load or --late loads")

    # -- the guest's steps ----------------------------------------------------------------

    def steps(self):
        """[(step name, guest.sh text, modules it carries)] in the order the guest runs them."""
        steps = [("boot", 'echo "release=$(uname -r)"\n' + TAINT_LINE, [])]
        steps.append(("load", insmod_lines(self.loads, "load") + TAINT_LINE, self.loads))
        steps += self.command_steps("before")
        patch = insmod_lines(self.patch_loads, "patch")
        patch += "".join(f"wait_patched {p.name}\n" for p in self.patches)
        steps.append(("patch", patch + TAINT_LINE, self.patch_loads))
        if self.late_loads:
            steps.append(("late", insmod_lines(self.late_loads, "late") + TAINT_LINE,
                          self.late_loads))
        steps += self.command_steps("after")
        if self.reloads:
            steps.append(("reload", self.reload_lines() + TAINT_LINE, []))
            steps += self.command_steps("reloaded")
        if self.request.unpatch:
            steps.append(("unpatch", self.unpatch_lines() + TAINT_LINE, []))
            steps += self.command_steps("unpatched")
        steps.append(("end", TAINT_LINE, []))
        return steps

    def command_steps(self, phase):
        return [(f"{phase}.{number}", command_script(command), [])
                for number, command in enumerate(self.request.run, start=1)]

    def reload_lines(self):
        lines = []
        for module in self.reloads:
            step = "late" if module in self.late_loads else "load"
            lines.append(f"rmmod {module.name} && echo 'rmmod.{module.name}=ok' "
                         f"|| echo 'rmmod.{module.name}=failed'\n")
            lines.append(insmod_line(module, step))
        return "".join(lines)

    def unpatch_lines(self):
        lines = []
        for patch in reversed(self.patches):
            name = patch.name
            lines.append(f"if [ -d /sys/kernel/livepatch/{name} ]; then unpatch {name} {name} "
                         f"&& echo 'unpatch.{name}=ok' || echo 'unpatch.{name}=failed'; fi\n")
        return "".join(lines)

    def write_steps(self, directory):
        """The step directories for build_initramfs: {name: directory}."""
        dirs = {}
        for name, script, modules in self.steps():
            step_dir = Path(directory) / name
            step_dir.mkdir(parents=True)
            (step_dir / "guest.sh").write_text(script)
            for module in modules:
                (step_dir / module.file_name).write_bytes(module.data)
            dirs[name] = step_dir
        return dirs

    # -- the boot -------------------------------------------------------------------------

    def run(self, workdir):
        """Boot the guest once and judge it: a TrialReport."""
        workdir = Path(workdir)
        accel, accel_reason = accel_probe.choose_accel(self.arch, self.request.accel)
        dirs = self.write_steps(workdir / "steps")
        initrd = build_initramfs(workdir / "initrd.cpio.gz", dirs, self.arch, self.busybox)
        # No oops=panic: an oops kills the command that caused it and the guest reports on.
        result = boot(self.arch, self.kernel, initrd, workdir, kernel_args(self.arch, False),
                      timeout=self.request.timeout, accel=accel)
        return TrialReport(self, result, accel, accel_reason)


def refuse_unbootable(arch, qemu, release):
    """A SetupError when QEMU ``release`` starts none of ``arch``'s kernels (a boot would only
    time out)."""
    last_failing = arch.qemu_boots_after
    if last_failing and release is not None and release[:2] <= last_failing:
        raise SetupError(qemu, f"QEMU {'.'.join(map(str, release))} starts no {arch.name} "
                               f"kernel (none up to {'.'.join(map(str, last_failing))} does): "
                               f"install a newer {arch.qemu_package}")


def emulator_notes(arch, qemu, release):
    """What the report must say about the QEMU it boots (``release``, None if unknown): [] or
    one line when this release may run stale code of this architecture (a result after an
    unload or a reload may be its)."""
    if release is None or not runs_stale_code(arch, release):
        return []
    fixed = ", ".join(".".join(map(str, fix)) for fix in arch.stale_code_fixed_in)
    return [f"{os.path.basename(qemu)} {'.'.join(map(str, release))} may run stale code where "
            f"an unloaded module ran (fixed in QEMU {fixed}): what follows an unload or a "
            f"reload may not be this kernel's doing"]


def qemu_version(qemu):
    """(major, minor, micro) of a QEMU binary, None when it does not say."""
    try:
        return qemu_release(subprocess.run([qemu, "--version"], capture_output=True,
                                           text=True, timeout=30).stdout)
    except (OSError, subprocess.SubprocessError):
        return None


TAINT_LINE = 'echo "tainted=$(cat /proc/sys/kernel/tainted)"\n'


def insmod_line(module, step):
    path = f"/steps/{step}/{module.file_name}"
    return (f"if insmod {path}; then echo 'insmod.{module.name}=ok'; "
            f"else echo 'insmod.{module.name}=failed'; fi\n")


def insmod_lines(modules, step):
    return "".join(insmod_line(m, step) for m in modules)


def command_script(command):
    """The user's command in a subshell (if it oopses, the kernel kills that shell only), its
    output collected in a file, then copied to the report with a prefix (nothing it prints can
    pass for one of the report's own lines), its exit status the step's. Not through a pipe:
    `cat` would splice into it, and an oops while it holds the pipe's lock hangs the reader."""
    return (f"(\n{command}\n) > /tmp/output 2>&1\nstatus=$?\n"
            f"sed 's/^/{OUTPUT_PREFIX}/' /tmp/output\nexit $status\n")


def executable_facts(path):
    """(e_machine, dynamically linked) of an ELF executable; (None, False) for anything else."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if len(data) < 64 or data[:4] != ELFMAG:  # 64: the larger (ELF64) header
        return None, False
    try:
        codec = codec_for(data[4], data[5])
        fields = codec.ehdr.unpack_from(data, 0)
    except (ValueError, struct.error):
        return None, False
    machine, phoff, phentsize, phnum = fields[2], fields[5], fields[9], fields[10]
    p_type = struct.Struct(codec.endian + "I")
    dynamic = any(p_type.unpack_from(data, phoff + i * phentsize)[0] == PT_INTERP
                  for i in range(phnum) if phoff + (i + 1) * phentsize <= len(data))
    return machine, dynamic


class TrialReport:
    """The guest's report read as `klp-convert try` presents it, with the verdict."""

    def __init__(self, trial, result, accel, accel_reason):
        self.trial = trial
        self.result = result
        self.accel, self.accel_reason = accel, accel_reason
        self.step_names = [name for name, _, _ in trial.steps()]
        self.problems = []
        self._judge()

    def step(self, name):
        return self.result.steps.get(name)

    def finished(self, name):
        found = self.step(name)
        return found is not None and found.ended

    def value(self, step, key):
        found = self.step(step)
        values = found.values(key) if found else []
        return values[-1] if values else None

    # -- the verdict ----------------------------------------------------------------------

    @property
    def ok(self):
        return not self.problems

    def problem(self, kind, step, what, lines=()):
        """One reason for exit status 1. ``kind``: module, refused, not-enabled, transition,
        reload, unpatch, kernel-report, taint or guest (a stable name for --json readers)."""
        self.problems.append({"kind": kind, "step": step, "what": what, "lines": list(lines)})

    def _judge(self):
        self._judge_modules()
        self._judge_patches()
        self._judge_reload_and_unpatch()
        for name in self.step_names:
            found = self.step(name)
            for report in trouble_reports(found.kmsg if found else []):
                self.problem("kernel-report", name, f"the kernel reported: {report[0]}", report)
        self._judge_taint()
        self._judge_boot()

    def _judge_modules(self):
        for step, modules in (("load", self.trial.loads), ("late", self.trial.late_loads)):
            for module in modules:
                if self.finished(step) and self.value(step, f"insmod.{module.name}") != "ok":
                    self.problem("module", step, f"{module.source.name} did not load",
                                 self.kernel_lines(step))

    def _judge_patches(self):
        if not self.finished("patch"):
            return
        for patch in self.trial.patches:
            state = self.patch_state(patch)
            lines = self.lines_about(patch)
            if self.value("patch", f"insmod.{patch.name}") != "ok":
                self.problem("refused", "patch", f"the kernel refused {patch.source.name}", lines)
            elif state["enabled"] != "1":
                self.problem("not-enabled", "patch",
                             f"{patch.name} is not enabled (enabled={state['enabled']})", lines)
            elif state["transition"] != "0":
                self.problem("transition", "patch",
                             f"{patch.name}'s transition did not finish (after 60 s)", lines)

    def _judge_reload_and_unpatch(self):
        for module in self.trial.reloads:
            if self.finished("reload") and self.value("reload", f"insmod.{module.name}") != "ok":
                self.problem("reload", "reload",
                             f"{module.name} could not be loaded again under the livepatch"
                             + self.reload_limit(), self.kernel_lines("reload"))
        for patch in self.trial.patches:
            if self.finished("unpatch") and \
                    self.value("unpatch", f"unpatch.{patch.name}") not in ("ok", None):
                self.problem("unpatch", "unpatch",
                             f"{patch.name} could not be disabled and unloaded",
                             self.kernel_lines("unpatch"))

    def _judge_taint(self):
        unexpected = [letter for letter in self.new_taint() if letter not in BY_DESIGN]
        if unexpected:
            self.problem("taint", self.last_step(),
                         "the kernel is tainted " + " ".join(unexpected))

    def _judge_boot(self):
        result = self.result
        unfinished = [n for n in self.step_names if not self.finished(n)]
        if not unfinished:
            return
        where = unfinished[0]
        if result.timed_out:
            why = f"the guest did not finish in {self.trial.request.timeout:g} s and was killed"
        else:
            why = f"the guest stopped (QEMU exit status {result.returncode})"
        console = [strip_timestamp(line) for line in result.console.replace("\r", "")
                   .splitlines()]
        reports = trouble_reports(console)
        lines = [line for report in reports for line in report] or console[-20:]
        self.problem("guest", where, f"{why} during step {where}", lines)

    # -- what the report shows ------------------------------------------------------------

    def kernel_lines(self, step):
        found = self.step(step)
        return list(found.kmsg) if found else []

    def reload_limit(self):
        """Why a reload may fail on the guest's kernel, when its generation says so."""
        rules = rules_for_release(self.value("boot", "release"), "the guest")
        if rules.generation.clears_module_relocs:
            return ""
        since = ".".join(map(str, RELEASE_KEYED["clears_module_relocs"][0]))
        return (f": a known limit of Linux {rules.generation.name}, which keeps a module's "
                f"livepatch relocations applied after it unloads (cleared since {since})")

    def lines_about(self, patch):
        """The patch step's kernel messages that are not about another livepatch: the
        loader's and livepatch's complaints often name no module at all."""
        others = [p.name for p in self.trial.patches if p.name != patch.name]
        return [line for line in self.kernel_lines("patch")
                if patch.name in line or not any(other in line for other in others)]

    def patch_state(self, patch):
        return {key: self.value("patch", f"{patch.name}.{key}") for key in ("enabled",
                                                                            "transition")}

    def taint_at(self, step):
        value = self.value(step, "tainted")
        return int(value) if value and is_decimal(value) else None

    def last_step(self):
        return next((n for n in reversed(self.step_names) if self.taint_at(n) is not None),
                    "boot")

    def new_taint(self):
        """Taint letters the trial added (relative to the boot), in bit order."""
        before = self.taint_at("boot") or 0
        after = self.taint_at(self.last_step()) or 0
        return taint_letters(after & ~before)

    def command_output(self, phase, number):
        """{'output', 'status', 'kernel', 'finished'} of command ``number`` in ``phase``, None
        when the guest never started it."""
        found = self.step(f"{phase}.{number}")
        if found is None:
            return None
        output = [line[len(OUTPUT_PREFIX):] if line.startswith(OUTPUT_PREFIX) else line
                  for line in found.lines]
        return {"output": output, "status": found.status, "kernel": list(found.kmsg),
                "finished": found.ended}

    def phases(self):
        return [p for p in PHASES if f"{p}.1" in self.step_names]

    def to_json(self):
        request = self.trial.request
        commands = []
        for number, command in enumerate(request.run, start=1):
            entry = {"command": command}
            for phase in self.phases():
                entry[phase] = self.command_output(phase, number)
            commands.append(entry)
        patches = [{"name": p.name, "file": str(p.source),
                    "loaded": self.value("patch", f"insmod.{p.name}") == "ok",
                    **self.patch_state(p)} for p in self.trial.patches]
        modules = [{"name": m.name, "file": str(m.source), "step": step,
                    "loaded": self.value(step, f"insmod.{m.name}") == "ok"}
                   for step, loads in (("load", self.trial.loads), ("patch",
                                       self.trial.patch_loads), ("late", self.trial.late_loads))
                   for m in loads if not m.is_livepatch]
        steps = []
        for name in self.step_names:
            found = self.step(name)
            steps.append({"name": name, "finished": self.finished(name),
                          "status": found.status if found else None,
                          "lines": list(found.lines) if found else [],
                          "kernel": list(found.kmsg) if found else []})
        return {
            "verdict": "ok" if self.ok else "failed",
            "problems": self.problems,
            "kernel": str(self.trial.kernel),
            "release": self.value("boot", "release"),
            "arch": self.trial.arch.name,
            "accel": self.accel,
            "accel_reason": self.accel_reason,
            "seconds": round(self.result.seconds, 1),
            "timed_out": self.result.timed_out,
            "notes": list(self.trial.notes),
            "patches": patches,
            "modules": modules,
            "commands": commands,
            "taint": {"new": self.new_taint(), "by_design": by_design_letters()},
            "steps": steps,
        }
