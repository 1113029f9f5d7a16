"""What differs between the kernel generations livepatch authors target: one frozen object each.

    rules = select_rules(database_release, vermagic)   # once, from what the inputs say
    rules.generation.loaders[obj.machine]              # then passed down and read
    rules.describe()    # 'Linux 6.12 rules (6.12.118+deb13-amd64, from the symbol database)'

Known generations, each checked against Debian's linux-source of that release (5.10.262,
6.1.192, 6.12.118, 7.2.13) and, by the real-kernel suite, in a guest:

  5.10  Debian 11   kallsyms.c keeps its own name lists; mksysmap keeps __kstrtab_*
  6.1   Debian 12   the messages and limits this tool first quoted
  6.12  Debian 13   module klp relocations cleared on unload (since 6.3); "Invalid relocation
                    target" messages; name filters in mksysmap; .call_sites/.cfi_sites
  7.2   unstable    no absolute per-cpu symbols; sec/idx in the x86 and livepatch messages;
                    mksysmap drops __mod_device_table__* and __UNIQUE_ID_modinfo_N

What is the same in all four is not here: the klp name grammar (kernel/names.py), the
livepatch core's resolution messages (kernel/livepatch/core.c klp_find_object_symbol), the
module core/init views (kernel/modules.py), kallsyms' sort order (kernel/kallsyms.py).

A release between or beyond the known ones gets the nearest generation's rules, counted in
releases (a major version has had about 20), and a note saying so; facts whose first release is
known exactly (RELEASE_KEYED) are keyed on that release instead.
"""

from ..records import record, replace

from . import kallsyms, loader
from .modinfo import modinfo_value, read_modinfo, release_version, vermagic_release
from .special_sections import COMMON

RELEASES_PER_MAJOR = 20


@record
class Generation:
    """The facts of one kernel generation that our rules depend on."""

    #: '6.12': the release the facts were read from
    name: str
    version: tuple
    #: where users meet it (for notes and the README)
    distribution: str
    #: kernel/livepatch/core.c klp_resolve_symbols(): a klp section names a symbol that is not
    #: SHN_LIVEPATCH (printf format: symbol name, then in 7.2 the symtab section and the index)
    not_livepatch_format: str
    #: kernel/livepatch/core.c klp_clear_object_relocs() with arch/x86/kernel/module.c
    #: clear_relocate_add(): a target module's klp relocations are cleared when it goes away,
    #: so it can be unloaded and loaded again under the patch (KERNEL-RULES rule 10)
    clears_module_relocs: bool
    #: scripts/mksysmap and scripts/kallsyms.c
    kallsyms: kallsyms.KallsymsRules
    #: sections arch/x86/kernel/module.c module_finalize() and kernel/module/main.c
    #: find_module_sections() process at load time (KERNEL-RULES rule 8)
    special_sections: frozenset
    #: e_machine -> arch/*/kernel/module*.c apply_relocate_add()
    loaders: dict
    #: .klp.arch.* sections are ignored (kernel/livepatch/core.c lost klp_init_object_loaded's
    #: arch part in 5.8, KERNEL-RULES rule 11)
    ignores_klp_arch: bool = True

    def __hash__(self):
        return hash(self.name)

    def loader_for(self, machine):
        """The ModuleLoader of an ELF e_machine, or None when we have no table for it."""
        return self.loaders.get(machine)


_NOT_LIVEPATCH = "symbol %s is not marked as a livepatch symbol"

LINUX_5_10 = Generation(
    "5.10", (5, 10), "Debian 11 (bullseye)", _NOT_LIVEPATCH, False, kallsyms.KALLSYMS_5_10,
    COMMON | {".parainstructions"},
    loader.loader_table(loader.X86_64_5_10, loader.PPC64_5_10, loader.S390, loader.ARM64),
)
LINUX_6_1 = Generation(
    "6.1", (6, 1), "Debian 12 (bookworm)", _NOT_LIVEPATCH, False, kallsyms.KALLSYMS_6_1,
    COMMON | {".parainstructions", ".ibt_endbr_seal"},
    loader.loader_table(loader.X86_64_5_10, loader.PPC64_5_10, loader.S390, loader.ARM64,
                        loader.LOONGARCH_6_1),
)
LINUX_6_12 = Generation(
    "6.12", (6, 12), "Debian 13 (trixie)", _NOT_LIVEPATCH, True, kallsyms.KALLSYMS_6_12,
    # paravirt patching became part of alternatives (no .parainstructions)
    COMMON | {".ibt_endbr_seal", ".call_sites", ".cfi_sites"},
    loader.loader_table(loader.X86_64_6_12, loader.PPC64_6_12, loader.S390, loader.ARM64_6_12,
                        loader.LOONGARCH_6_12),
)
LINUX_7_2 = Generation(
    "7.2", (7, 2), "Debian unstable", "symbol %s at rela sec %u idx %d is not marked as a "
    "livepatch symbol", True, kallsyms.KALLSYMS_7_2,
    COMMON | {".ibt_endbr_seal", ".call_sites", ".cfi_sites"},
    loader.loader_table(loader.X86_64_7_2, loader.PPC64_6_12, loader.S390, loader.ARM64_6_12,
                        loader.LOONGARCH_7_2),
)

GENERATIONS = (LINUX_5_10, LINUX_6_1, LINUX_6_12, LINUX_7_2)
#: the rules when nothing names the release (no database release, no vermagic): the
#: generation this tool was first proven on
DEFAULT = LINUX_6_1

#: Facts whose first release is known: field -> (first release, where it comes from).
RELEASE_KEYED = {
    # Song Liu, "livepatch,x86: Clear relocation targets on a module removal" (v11, January
    # 2023, merged for 6.3): absent from 6.1, present in 6.12
    "clears_module_relocs": ((6, 3), "kernel/livepatch/core.c klp_clear_object_relocs"),
    # Josh Poimboeuf's removal of .klp.arch sections (Linux 5.8)
    "ignores_klp_arch": ((5, 8), "kernel/livepatch/core.c klp_apply_object_relocs"),
}


def _ordinal(version):
    return version[0] * RELEASES_PER_MAJOR + version[1]


def nearest_generation(version):
    """The known Generation nearest to (major, minor), counted in releases; ties go to the
    newer one (its rules carry the changes in between)."""
    return min(GENERATIONS, key=lambda g: (abs(_ordinal(g.version) - _ordinal(version)),
                                           -_ordinal(g.version)))


@record
class KernelRules:
    """The rules chosen for one target kernel, and why: pass this down, never a release."""

    generation: Generation
    #: the release the rules were chosen from ('6.12.118+deb13-amd64'), None when unknown
    release: str = None
    #: what named the release ('the symbol database', 'the module's vermagic', ...)
    origin: str = None

    @property
    def exact(self):
        """True when the release is one of the known generations."""
        version = release_version(self.release)
        return version is not None and version == self.generation.version

    def note(self):
        """The line saying which rules were assumed, or None when the release is known."""
        if self.release is None:
            return f"kernel release unknown: Linux {self.generation.name} rules assumed"
        if release_version(self.release) is None:
            return (f"kernel release '{self.release}' ({self.origin}) is not a version number: "
                    f"Linux {self.generation.name} rules assumed")
        if not self.exact:
            known = ", ".join(g.name for g in GENERATIONS)
            return (f"Linux {self.release} ({self.origin}) is not a known generation "
                    f"({known}): the rules of the nearest, Linux {self.generation.name}, "
                    "are assumed")
        return None

    def describe(self):
        """One line: which generation's rules apply and why."""
        note = self.note()
        if note:
            return note
        return f"Linux {self.generation.name} rules ({self.release}, from {self.origin})"

    def to_json(self):
        return {"generation": self.generation.name, "release": self.release,
                "origin": self.origin, "assumed": self.note() is not None,
                "note": self.note()}


def rules_for_release(release, origin=None):
    """KernelRules for a release string ('6.12.118+deb13-amd64'), None: the default."""
    version = release_version(release)
    if version is None:
        return KernelRules(DEFAULT, release, origin)
    generation = nearest_generation(version)
    if version != generation.version:
        changes = {field: version >= since for field, (since, _where) in RELEASE_KEYED.items()}
        generation = replace(generation, **changes)
    return KernelRules(generation, release, origin)


def select_rules(database_release=None, vermagic=None):
    """The rules for a livepatch's target: the symbol database's kernel release, else the
    module's vermagic, else the default generation."""
    if database_release:
        return rules_for_release(database_release, "the symbol database")
    release = vermagic_release(vermagic)
    if release:
        return rules_for_release(release, "the module's vermagic")
    return KernelRules(DEFAULT)


def rules_for_module(obj, database_release=None, modinfo=None):
    """The rules for livepatch ElfObject ``obj``: the symbol database's kernel release, else
    the module's vermagic (``modinfo``: its read_modinfo() entries, when already read)."""
    modinfo = read_modinfo(obj) if modinfo is None else modinfo
    return select_rules(database_release, modinfo_value(modinfo, "vermagic"))


def kernel_message(fmt, *values):
    """The start of the line the kernel prints for printf format ``fmt``, with the values a file
    can tell filled in, left to right, up to the first one known only at run time (None: an
    address, a computed value): the result is a part of the real dmesg line, to search for."""
    out, pos = [], 0
    values = iter(values)
    for start, end in _printf_conversions(fmt):
        value = next(values, None)
        out.append(fmt[pos:start])
        if value is None:  # drop the value's label too when it is one of a list (', loc')
            return _without_list_label("".join(out)).rstrip()
        out.append(format(value, "x") if fmt[end - 1] in "xX" else str(value))
        pos = end
    out.append(fmt[pos:])
    return "".join(out)


# The parts of a kernel printf conversion the messages use: %[flags][width][length]type.
_FLAGS, _DIGITS, _TYPES = "-+ #0", "0123456789", "diouxXpsc"
_LENGTHS = ("hh", "ll", "h", "l", "L", "z")


def _printf_conversions(fmt):
    """(start, end) of each conversion in ``fmt``, left to right. (Read with str methods: the
    regular expressions' import alone would be a tenth of a typical conversion's start-up,
    and a warning on a 6.1 kernel quotes a message.)"""
    pos = fmt.find("%")
    while pos >= 0:
        end = pos + 1
        while end < len(fmt) and fmt[end] in _FLAGS:
            end += 1
        while end < len(fmt) and fmt[end] in _DIGITS:
            end += 1
        end += next((len(length) for length in _LENGTHS if fmt.startswith(length, end)), 0)
        if end < len(fmt) and fmt[end] in _TYPES:
            yield pos, end + 1
            pos = fmt.find("%", end + 1)
        else:
            pos = fmt.find("%", pos + 1)


def _without_list_label(text):
    """``text`` without a last ', label' (a comma, then one word between blanks)."""
    head, comma, label = text.rpartition(",")
    word = label.strip()
    if comma and word and all(c.isalnum() or c == "_" for c in word):
        return head
    return text
