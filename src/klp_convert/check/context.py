"""What every rule needs to know about one module, computed once."""

from functools import cached_property

from ..elf.constants import SHF_ALLOC, SHF_RELA_LIVEPATCH, SHN_LIVEPATCH
from ..kernel.klp_sscanf import scan_klp_rela
from ..kernel.generations import rules_for_module
from ..kernel.modinfo import modinfo_value, read_modinfo
from ..kernel.names import is_klp_rela_name, module_runtime_name, VMLINUX
from .findings import ERROR, WARNING, Finding


class CheckContext:
    """One module as the kernel sees it, plus the symbol database (or None)."""

    def __init__(self, obj, label, index=None, rules=None, resolved=None):
        self.obj = obj
        self.label = label
        self.index = index
        #: {'.klp.sym.' name: [SymbolRecord]} the caller read from ``index`` (check_module)
        self.resolved = resolved or {}
        self.modinfo = read_modinfo(obj)
        # The kernel names a module after KBUILD_MODNAME, which modpost also writes as 'name='.
        self.name = modinfo_value(self.modinfo, "name") or module_runtime_name(str(obj.path))
        #: the target kernel's rules (kernel/generations.py), chosen once for every rule
        self.rules = rules or rules_for_module(
            obj, index.kernel_release if index is not None else None, self.modinfo)
        self.generation = self.rules.generation
        self.loader = self.generation.loader_for(obj.machine)
        self.findings = []

    # -- reporting ------------------------------------------------------------------------

    def error(self, rule, message, kernel=None, fix=None):
        self.findings.append(Finding(self.label, ERROR, rule, message, kernel, fix))

    def warning(self, rule, message, kernel=None, fix=None):
        self.findings.append(Finding(self.label, WARNING, rule, message, kernel, fix))

    # -- the module's sections, as the loader classifies them -----------------------------
    # Each list is computed once: the rules only read the module, and a huge patch has tens
    # of thousands of relocation sections that every rule would otherwise sort again.

    @cached_property
    def relocation_sections(self):
        """Every SHT_RELA / SHT_REL section, in file order."""
        return self.obj.relocation_sections()

    @cached_property
    def klp_sections(self):
        """Relocation sections the kernel treats as klp ones: flagged SHF_RELA_LIVEPATCH."""
        return [s for s in self.relocation_sections if s.flags & SHF_RELA_LIVEPATCH]

    @cached_property
    def klp_sections_by_object(self):
        """[(objname, section)] for flagged sections the kernel can ever apply. Names cut at 55
        characters or holding '-' match no object: the name rule reports them, skipped here."""
        out = []
        for sec in self.klp_sections:
            scan = scan_klp_rela(sec.name)
            if scan.count == 1 and (not scan.rest or scan.rest.startswith(".")) \
                    and "-" not in scan.objname:
                out.append((scan.objname, sec))
        return out

    @cached_property
    def klp_relocations(self):
        """[(objname, section, relocation)] of klp_sections_by_object, in order: the rules
        that look at every klp relocation walk this one list (a huge patch has tens of
        thousands of sections, and each walk section by section costs as much again)."""
        return [(objname, sec, rel) for objname, sec in self.klp_sections_by_object
                for rel in sec.relocations]

    @cached_property
    def applied_relocations(self):
        """[(section, relocation)] of applied_sections, in order (see klp_relocations)."""
        return [(sec, rel) for sec in self.applied_sections for rel in sec.relocations]

    @cached_property
    def normal_applied_sections(self):
        """Non-klp relocation sections the loader applies: those whose target is allocated."""
        return [s for s in self.applied_sections if not s.flags & SHF_RELA_LIVEPATCH]

    @cached_property
    def applied_sections(self):
        """Every relocation section the kernel applies to a live section (klp or normal).
        A klp section with a non-allocated target is reported by its own rule."""
        return [s for s in self.relocation_sections if target_is_alloc(s)]

    @cached_property
    def klp_like_sections(self):
        """Sections of any type named '.klp.rela.*' or flagged SHF_RELA_LIVEPATCH."""
        return [s for s in self.obj.sections
                if s.flags & SHF_RELA_LIVEPATCH or is_klp_rela_name(s.name)]


def target_is_alloc(sec):
    """True when the relocation section's sh_info names an allocated section."""
    target = sec.info
    return hasattr(target, "flags") and bool(target.flags & SHF_ALLOC)


def is_livepatch_symbol(sym):
    return sym.section is None and sym.reserved_shndx == SHN_LIVEPATCH


def is_vmlinux(objname):
    return objname == VMLINUX
