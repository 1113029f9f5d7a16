"""Which vmlinux symbols kallsyms keeps, and in which order, per kernel generation.

The build makes System.map with scripts/mksysmap (``nm -n vmlinux`` minus a few types and
names), then scripts/kallsyms reads System.map, drops more symbols (is_ignored_symbol) and sorts
what is left; the kernel walks that table in order when livepatch resolves
``.klp.sym.vmlinux.<name>,<pos>`` (kernel/kallsyms.c kallsyms_on_each_symbol, or since 6.2
kallsyms_on_each_match_symbol, which gives the same ranks). This module states those rules once,
for all sources: an ELF vmlinux (we compute nm's letters and order), System.map (already
nm-ordered and mksysmap-filtered) and /proc/kallsyms (already in final order). The filters
changed between kernel generations: each generation's KallsymsRules is below, chosen by
kernel/generations.py.
"""

from ..patterns import Pattern
from ..records import record
from operator import itemgetter

from ..elf.constants import (
    EM_X86_64, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHN_ABS, SHN_COMMON, SHN_UNDEF, SHT_NOBITS,
    STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_FILE, STT_GNU_IFUNC, STT_OBJECT, STT_SECTION,
)

STB_GNU_UNIQUE = 10


@record
class NameFilter:
    """Names a filter drops: exact ``names``, ``prefixes``, ``suffixes``, ``substrings`` and
    ``patterns`` (patterns.Pattern, regular expressions that must match the whole name)."""

    names: frozenset = frozenset()
    prefixes: tuple = ()
    suffixes: tuple = ()
    substrings: tuple = ()
    patterns: tuple = ()

    def matches(self, name):
        if name in self.names or name.startswith(self.prefixes) or name.endswith(self.suffixes):
            return True
        # runs for each of a vmlinux's ~200,000 symbols: no generator when there is nothing
        if self.substrings and any(s in name for s in self.substrings):
            return True
        return bool(self.patterns) and any(p.fullmatch(name) for p in self.patterns)


@record
class KallsymsRules:
    """scripts/mksysmap and scripts/kallsyms.c of one kernel generation."""

    #: nm letters scripts/mksysmap drops
    mksysmap_letters: frozenset
    #: names scripts/mksysmap drops
    mksysmap_names: NameFilter
    #: letters is_ignored_symbol() drops (besides absolute symbols)
    ignored_letters: frozenset
    #: names is_ignored_symbol() drops
    ignored_names: NameFilter
    #: machines whose build runs kallsyms with --absolute-percpu (CONFIG_KALLSYMS_ABSOLUTE_PERCPU:
    #: x86-64 with SMP, whose per-cpu section is linked at address 0)
    absolute_percpu_machines: frozenset = frozenset()
    #: what scripts/link-vmlinux.sh feeds scripts/kallsyms: mksysmap's output (True, 6.1 on),
    #: or the raw `nm -n` listing (False, 5.10), whose compiler labels (.LC0 ...) kallsyms keeps
    reads_system_map: bool = True


# Absolute symbols kallsyms keeps although it drops every other 'A'/'a' symbol (ia64, parisc);
# the same list in every generation.
KALLSYMS_KEPT_ABSOLUTE = frozenset({
    "__kernel_syscall_via_break", "__kernel_syscall_via_epc", "__kernel_sigtramp", "__gp",
})
# The kallsyms tables' own labels: is_ignored_symbol() dropped them until 6.1 ("symbols which
# vary between passes"); since the name filters moved to mksysmap they are listed.
KALLSYMS_TABLE_LABELS = frozenset({
    "kallsyms_addresses", "kallsyms_offsets", "kallsyms_relative_base", "kallsyms_num_syms",
    "kallsyms_names", "kallsyms_markers", "kallsyms_token_table", "kallsyms_token_index",
    "kallsyms_seqs_of_names",
})
_THUNK_PREFIXES = ("__AArch64ADRPThunk_", "__ARMV5PILongThunk_", "__ARMV7PILongThunk_",
                   "__ThumbV7PILongThunk_", "__LA25Thunk_", "__microLA25Thunk_")
_ARM_SUFFIXES = ("_from_arm", "_from_thumb", "_veneer")
_PPC_STUBS = (".long_branch.", ".plt_branch.")

# Linux 5.10: link-vmlinux.sh kallsyms() pipes `${NM} -n` straight into scripts/kallsyms, so
# only is_ignored_symbol() filters what kallsyms lists (.LC<N> labels stay: 1,236 in Debian
# 11's kernel); scripts/mksysmap, which makes System.map alone, greps out ' [aNUw] ', '__crc_'
# anywhere, ' $[adt]', ' .L' and ' L0' (both at the name's start); scripts/kallsyms.c
# is_ignored_symbol() has the long lists.
KALLSYMS_5_10 = KallsymsRules(
    mksysmap_letters=frozenset("aNUw"),
    mksysmap_names=NameFilter(prefixes=("$a", "$d", "$t", ".L", "L0"), substrings=("__crc_",)),
    ignored_letters=frozenset("UuNn"),
    ignored_names=NameFilter(
        names=KALLSYMS_TABLE_LABELS - {"kallsyms_seqs_of_names"} | {"_SDA_BASE_", "_SDA2_BASE_"},
        prefixes=("$", ".LASANPC", "__crc_", "__efistub_", "__kvm_nvhe_") + _THUNK_PREFIXES,
        suffixes=_ARM_SUFFIXES, substrings=_PPC_STUBS),
    absolute_percpu_machines=frozenset({EM_X86_64}),
    reads_system_map=False,
)

# Linux 6.1: link-vmlinux.sh kallsyms_step() runs scripts/kallsyms on mksysmap's output.
# mksysmap drops ' [aNUw] ', ' $', ' .L', ' __crc_', ' __kstrtab_', ' __kstrtabns_', ' L0$';
# is_ignored_symbol() as in 5.10 with kallsyms_seqs_of_names, __kcfi_typeid_ and only
# the local ('$', '.L') part of the __kvm_nvhe_ namespace.
KALLSYMS_6_1 = KallsymsRules(
    mksysmap_letters=frozenset("aNUw"),
    mksysmap_names=NameFilter(names=frozenset({"L0"}),
                              prefixes=("$", ".L", "__crc_", "__kstrtab_", "__kstrtabns_")),
    ignored_letters=frozenset("UuNn"),
    ignored_names=NameFilter(
        names=KALLSYMS_TABLE_LABELS | {"_SDA_BASE_", "_SDA2_BASE_"},
        prefixes=("__efistub_", "__kvm_nvhe_$", "__kvm_nvhe_.L") + _THUNK_PREFIXES
        + ("__kcfi_typeid_",),
        suffixes=_ARM_SUFFIXES, substrings=_PPC_STUBS),
    absolute_percpu_machines=frozenset({EM_X86_64}),
)

# Linux 6.12: scripts/mksysmap is a sed script holding every name filter; is_ignored_symbol()
# drops only types 'u' and 'n' and absolute symbols, so the kallsyms tables' labels are listed.
_MKSYSMAP_6_12_PREFIXES = (
    "$", ".L", "__efistub_", "__pi_$", "__pi_.L", "__kvm_nvhe_$", "__kvm_nvhe_.L",
    "__kcfi_typeid_", "__kvm_nvhe___kcfi_typeid_", "__pi___kcfi_typeid_", "__crc_",
    "__kstrtab_", "__kstrtabns_",
)
KALLSYMS_6_12 = KallsymsRules(
    mksysmap_letters=frozenset("aNUw"),
    mksysmap_names=NameFilter(
        names=frozenset({"L0", "_SDA_BASE_", "_SDA2_BASE_"}), prefixes=_MKSYSMAP_6_12_PREFIXES,
        suffixes=_ARM_SUFFIXES, substrings=_PPC_STUBS,
        patterns=(Pattern(r"(?s)__[0-9A-Za-z]*Thunk_.*"),)),
    ignored_letters=frozenset("un"),
    ignored_names=NameFilter(),
    absolute_percpu_machines=frozenset({EM_X86_64}),
)

# Linux 7.2: mksysmap also drops '__mod_device_table__*' and '__UNIQUE_ID_modinfo_<N>';
# KALLSYMS_ABSOLUTE_PERCPU is gone (x86-64 per-cpu symbols keep their D/d/R letters).
KALLSYMS_7_2 = KallsymsRules(
    mksysmap_letters=frozenset("aNUw"),
    mksysmap_names=NameFilter(
        names=frozenset({"L0", "_SDA_BASE_", "_SDA2_BASE_"}),
        prefixes=_MKSYSMAP_6_12_PREFIXES + ("__mod_device_table__",),
        suffixes=_ARM_SUFFIXES, substrings=_PPC_STUBS,
        patterns=(Pattern(r"(?s)__[0-9A-Za-z]*Thunk_.*"),
                  Pattern(r"__UNIQUE_ID_modinfo_[0-9]*"))),
    ignored_letters=frozenset("un"),
    ignored_names=NameFilter(),
)

PERCPU_START, PERCPU_END = "__per_cpu_start", "__per_cpu_end"

# Section names binutils treats as debugging information ('N' in nm).
_DEBUG_SECTION_PREFIXES = (".debug", ".zdebug", ".gnu.debuglto_.debug_", ".gnu.linkonce.wi.",
                           ".line", ".stab")


def section_letter(name, sh_type, flags):
    """nm's letter (lower case) for a symbol defined in this section (binutils' rules for ELF)."""
    if flags & SHF_EXECINSTR:
        return "t"
    if flags & SHF_ALLOC and sh_type != SHT_NOBITS:
        return "d" if flags & SHF_WRITE else "r"
    if sh_type == SHT_NOBITS:
        return "b"
    if name.startswith(_DEBUG_SECTION_PREFIXES):
        return "N"
    return "n" if not flags & SHF_WRITE else "?"


def nm_letter(info, shndx, section_letters):
    """nm's letter for a symbol, or None for the ones nm never lists (section and file symbols).

    ``info`` is st_info, ``shndx`` the resolved section index, ``section_letters`` the result of
    section_letter() per section index.
    """
    bind, sym_type = info >> 4, info & 0xF
    if sym_type in (STT_SECTION, STT_FILE):
        return None
    if shndx == SHN_UNDEF:
        if bind == STB_WEAK:
            return "v" if sym_type == STT_OBJECT else "w"
        return "U"
    if shndx == SHN_COMMON:
        return "C"
    if sym_type == STT_GNU_IFUNC:
        return "i"
    if bind == STB_WEAK:
        return "V" if sym_type == STT_OBJECT else "W"
    if bind == STB_GNU_UNIQUE:
        return "u"
    if bind not in (STB_LOCAL, STB_GLOBAL):
        return "?"
    if shndx == SHN_ABS:
        letter = "a"
    elif shndx < len(section_letters):
        letter = section_letters[shndx]
    else:
        return "?"
    return letter.upper() if bind == STB_GLOBAL else letter


def mksysmap_keeps(name, letter, rules):
    """Whether scripts/mksysmap writes this nm line to System.map."""
    return not (letter in rules.mksysmap_letters or rules.mksysmap_names.matches(name))


def kallsyms_reads(name, letter, rules):
    """Whether this nm line reaches scripts/kallsyms (see KallsymsRules.reads_system_map)."""
    return not rules.reads_system_map or mksysmap_keeps(name, letter, rules)


def kallsyms_ignores(name, letter, rules):
    """scripts/kallsyms.c is_ignored_symbol(): a System.map line kallsyms leaves out."""
    if letter in rules.ignored_letters or rules.ignored_names.matches(name):
        return True
    return letter in "Aa" and name not in KALLSYMS_KEPT_ABSOLUTE


def system_map_order(entries):
    """Sort (address, letter, name, payload...) tuples as ``nm -n`` does under LC_COLLATE=C:
    by address, then by name (byte order)."""
    return sorted(entries, key=_address_then_name)


def _address_then_name(entry):
    return entry[0], entry[2].encode("utf-8", "surrogateescape")


def absolute_percpu(system_map, rules, machine):
    """Whether this vmlinux's kallsyms was built with --absolute-percpu: its generation does so
    on this machine (x86-64 until KALLSYMS_ABSOLUTE_PERCPU went away) and the vmlinux shows it
    (its per-cpu section linked at 0: an SMP build). ``machine`` None: not known (a
    System.map), then the vmlinux alone decides."""
    if machine is not None and machine not in rules.absolute_percpu_machines:
        return False
    if machine is None and not rules.absolute_percpu_machines:
        return False
    return any(e[2] == PERCPU_START and e[0] == 0 for e in system_map)


def kallsyms_table(system_map, rules, absolute_percpu=False):
    """The vmlinux kallsyms table from System.map entries, in the kernel's order.

    ``system_map``: (address, letter, name, payload...) tuples in System.map order; ``rules``:
    the generation's KallsymsRules. Returns the kept tuples (letter replaced by 'A' for per-cpu
    symbols when ``absolute_percpu``, see absolute_percpu()) sorted like scripts/kallsyms.c
    compare_symbols():
    address, then non-weak before weak, then ordinary before linker-script-provided names
    (__start_*, *_end, ...), then fewer leading underscores first, then System.map order.
    With CONFIG_KALLSYMS_ALL (every kernel livepatch supports in practice) no range filter applies.
    """
    kept = [e for e in system_map if not kallsyms_ignores(e[2], e[1], rules)]
    if absolute_percpu:
        kept = _percpu_absolute(kept)
    kept.sort(key=itemgetter(0))  # stable, and linear on System.map, which is address-ordered
    # Only symbols sharing an address need the tie-breaks: sort each such run on its own.
    start = 0
    for end in range(1, len(kept) + 1):
        if end == len(kept) or kept[end][0] != kept[start][0]:
            if end - start > 1:
                kept[start:end] = sorted(kept[start:end], key=_tie_break)
            start = end
    return kept


def _tie_break(entry):
    """compare_symbols() after the address; Python's stable sort keeps System.map order last."""
    name = entry[2]
    return entry[1] in "wW", _linker_provided(name), len(name) - len(name.lstrip("_"))


def _percpu_absolute(entries):
    start = next((e[0] for e in entries if e[2] == PERCPU_START), None)
    end = next((e[0] for e in entries if e[2] == PERCPU_END), None)
    if start is None or end is None:
        return entries
    return [(e[0], "A", *e[2:]) if start <= e[0] <= end else e for e in entries]


def _linker_provided(name):
    """scripts/kallsyms.c may_be_linker_script_provide_symbol()."""
    if len(name) < 8 or not name.startswith("__"):
        return False
    return (name.startswith(("__start_", "__stop_", "__end_"))
            or name.endswith(("_start", "_end")))


