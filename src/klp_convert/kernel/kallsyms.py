"""Which vmlinux symbols kallsyms keeps, and in which order (Linux 6.1).

The build makes System.map with scripts/mksysmap (``nm -n vmlinux`` minus a few types and name
prefixes), then scripts/kallsyms reads System.map, drops more symbols and sorts what is left;
the kernel walks that table in order when livepatch resolves ``.klp.sym.vmlinux.<name>,<pos>``
(kernel/kallsyms.c kallsyms_on_each_symbol). This module states those rules once, for all
sources: an ELF vmlinux (we compute nm's letters and order), System.map (already nm-ordered and
mksysmap-filtered) and /proc/kallsyms (already in final order).
"""

from operator import itemgetter

from ..elf.constants import (
    SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHN_ABS, SHN_COMMON, SHN_UNDEF, SHT_NOBITS, STB_GLOBAL,
    STB_LOCAL, STB_WEAK, STT_FILE, STT_GNU_IFUNC, STT_OBJECT, STT_SECTION,
)

STB_GNU_UNIQUE = 10

# scripts/mksysmap: grep -v of these nm letters and name prefixes (the last one is a name).
MKSYSMAP_DROPPED_LETTERS = frozenset("aNUw")
MKSYSMAP_DROPPED_PREFIXES = ("$", ".L", "__crc_", "__kstrtab_", "__kstrtabns_")
MKSYSMAP_DROPPED_NAMES = frozenset({"L0"})

# scripts/kallsyms.c is_ignored_symbol(): exact names, prefixes, suffixes, substrings.
KALLSYMS_IGNORED_NAMES = frozenset({
    "kallsyms_addresses", "kallsyms_offsets", "kallsyms_relative_base", "kallsyms_num_syms",
    "kallsyms_names", "kallsyms_markers", "kallsyms_token_table", "kallsyms_token_index",
    "kallsyms_seqs_of_names", "_SDA_BASE_", "_SDA2_BASE_",
})
KALLSYMS_IGNORED_PREFIXES = (
    "__efistub_", "__kvm_nvhe_$", "__kvm_nvhe_.L", "__AArch64ADRPThunk_", "__ARMV5PILongThunk_",
    "__ARMV7PILongThunk_", "__ThumbV7PILongThunk_", "__LA25Thunk_", "__microLA25Thunk_",
    "__kcfi_typeid_",
)
KALLSYMS_IGNORED_SUFFIXES = ("_from_arm", "_from_thumb", "_veneer")
KALLSYMS_IGNORED_SUBSTRINGS = (".long_branch.", ".plt_branch.")
# Absolute symbols kallsyms keeps although it drops every other 'A'/'a' symbol (ia64, parisc).
KALLSYMS_KEPT_ABSOLUTE = frozenset({
    "__kernel_syscall_via_break", "__kernel_syscall_via_epc", "__kernel_sigtramp", "__gp",
})

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


def mksysmap_keeps(name, letter):
    """Whether scripts/mksysmap writes this nm line to System.map."""
    return not (letter in MKSYSMAP_DROPPED_LETTERS or name.startswith(MKSYSMAP_DROPPED_PREFIXES)
                or name in MKSYSMAP_DROPPED_NAMES)


def kallsyms_ignores(name, letter):
    """scripts/kallsyms.c is_ignored_symbol(): a System.map line kallsyms leaves out."""
    if name in KALLSYMS_IGNORED_NAMES or name.startswith(KALLSYMS_IGNORED_PREFIXES):
        return True
    if name.endswith(KALLSYMS_IGNORED_SUFFIXES):
        return True
    if any(s in name for s in KALLSYMS_IGNORED_SUBSTRINGS):
        return True
    if letter in "UuNn":
        return True
    return letter in "Aa" and name not in KALLSYMS_KEPT_ABSOLUTE


def system_map_order(entries):
    """Sort (address, letter, name, payload...) tuples as ``nm -n`` does under LC_COLLATE=C:
    by address, then by name (byte order)."""
    return sorted(entries, key=_address_then_name)


def _address_then_name(entry):
    return entry[0], entry[2].encode("utf-8", "surrogateescape")


def kallsyms_table(system_map, absolute_percpu=True):
    """The vmlinux kallsyms table from System.map entries, in the kernel's order.

    ``system_map``: (address, letter, name, payload...) tuples in System.map order. Returns the
    kept tuples (letter replaced by 'A' for per-cpu symbols when ``absolute_percpu``, as the
    x86-64 build does with --absolute-percpu) sorted like scripts/kallsyms.c compare_symbols():
    address, then non-weak before weak, then ordinary before linker-script-provided names
    (__start_*, *_end, ...), then fewer leading underscores first, then System.map order.
    With CONFIG_KALLSYMS_ALL (every kernel livepatch supports in practice) no range filter applies.
    """
    kept = [e for e in system_map if not kallsyms_ignores(e[2], e[1])]
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


