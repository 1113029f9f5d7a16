"""`klp-convert show --disassemble`: objdump's listing of a module with every relocation shown
at its offset, the livepatch ones included. objdump -r leaves .klp.rela.* sections out of its
listing (they are SHF_RELA_LIVEPATCH, not ordinary relocation sections to it), so a reviewer
could not see where a converted reference sits in the code: we run objdump -d for the code and
insert the relocation lines ourselves, from our own reading of the file, in objdump's format.

Like kbuild.py this runs a program, so it sits beside the commands, above the layers it uses.
"""

import re
import shutil
import subprocess

from .elf.constants import EM_386, EM_AARCH64, EM_LOONGARCH, EM_PPC64, EM_S390, EM_X86_64
from .errors import KlpError
from .kernel.names import is_klp_rela_name
from .kernel.relocs import reloc_type_name

SHF_EXECINSTR = 0x4
# objdump disassembles only its own architecture: the cross binutils' names (Debian's), tried
# after the plain one.
OBJDUMP_PREFIXES = {EM_X86_64: "x86_64-linux-gnu-", EM_386: "i686-linux-gnu-",
                    EM_S390: "s390x-linux-gnu-", EM_PPC64: "powerpc64le-linux-gnu-",
                    EM_AARCH64: "aarch64-linux-gnu-", EM_LOONGARCH: "loongarch64-linux-gnu-"}
_SECTION = re.compile(r"^Disassembly of section (.*):$")
_INSTRUCTION = re.compile(r"^\s*([0-9a-f]+):\t")


def disassembly(obj):
    """[line] of objdump -d's listing of ElfObject ``obj`` (read from obj.path) with every
    relocation after the instruction it patches; klp ones name their section. Relocations of
    sections objdump does not disassemble follow the listing."""
    listing = _objdump(obj)
    pending = _relocations_by_section(obj)
    queues = {}  # section name -> [Section] in index order (names may repeat)
    for sec in obj.sections[1:]:
        if sec.flags & SHF_EXECINSTR:
            queues.setdefault(sec.name, []).append(sec)
    out, current = [], []
    for line in listing:
        match = _SECTION.match(line)
        if match:
            out += [_format(obj, *entry) for entry in current]
            names = queues.get(match.group(1)) or [None]
            sec = names.pop(0)
            current = pending.pop(id(sec), []) if sec is not None else []
        else:
            at = _INSTRUCTION.match(line)
            if at:
                address = int(at.group(1), 16)
                while current and current[0][1].offset < address:
                    out.append(_format(obj, *current.pop(0)))
        out.append(line)
    out += [_format(obj, *entry) for entry in current]
    rest = [(sec, entries) for sec in obj.sections if (entries := pending.get(id(sec)))]
    for sec, entries in rest:
        out += ["", f"Relocations of {sec.name} (not disassembled):"]
        out += [_format(obj, *entry) for entry in entries]
    return out


def _relocations_by_section(obj):
    """id(target section) -> [(relocation section, Relocation)] sorted by offset."""
    found = {}
    for rela in obj.relocation_sections():
        if rela.target is None:
            continue
        for rel in rela.relocations:
            found.setdefault(id(rela.target), []).append((rela, rel))
    for entries in found.values():
        entries.sort(key=lambda entry: entry[1].offset)
    return found


def _format(obj, rela, rel):
    """objdump -r's line for one relocation: '\\t\\t\\tOFFSET: TYPE\\tSYMBOL-0x4'."""
    addend = rel.addend or 0
    text = f"\t\t\t{rel.offset:x}: {reloc_type_name(obj.machine, rel.type)}\t{rel.symbol.name}"
    if addend:
        text += f"{'-' if addend < 0 else '+'}{abs(addend):#x}"
    if is_klp_rela_name(rela.name):
        text += f"\t[{rela.name}]"
    return text


def _objdump(obj):
    names = ["objdump"]
    if obj.machine in OBJDUMP_PREFIXES:
        names.insert(0, OBJDUMP_PREFIXES[obj.machine] + "objdump")
    for name in names:
        program = shutil.which(name)
        if program is None:
            continue
        done = subprocess.run([program, "-d", "-w", obj.path], capture_output=True)
        if done.returncode == 0:
            text = done.stdout.decode("utf-8", "surrogateescape")
            return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    raise KlpError(obj.path, f"cannot disassemble: no objdump for machine {obj.machine} "
                             f"(install binutils, or binutils-multiarch for other "
                             f"architectures)")
