"""What the module loader does with a module's symbols (kernel/module/kallsyms.c, kernel/module.c
in 5.10): the same result in 5.10, 6.1, 6.12 and 7.2 (is_core_symbol tests init sections
through mod_mem_type_is_init() since 6.4, through INIT_OFFSET_MASK before).

Livepatch finds a module symbol by walking that module's kallsyms symbol table in ELF .symtab
order, skipping undefined symbols (module_kallsyms_on_each_symbol). Which table it walks depends
on timing:
  - full view: while the module is still loading (a patch loaded before its target), the table is
    the module's whole .symtab, init and non-allocated symbols included;
  - core view: once the module is live, only core symbols remain (kallsyms.c is_core_symbol):
    named, defined in a real section that stays allocated and is not an init section (ppc64
    has none, see INIT_SECTIONS_KEPT), or in the per-cpu section (CONFIG_KALLSYMS_ALL,
    which Debian and most distributions set).
"""

from ..elf.constants import EM_PPC64, SHF_ALLOC, SHN_LORESERVE, SHN_UNDEF

PERCPU_SECTION = ".data..percpu"
# The loader clears SHF_ALLOC of these before laying the module out (main.c setup_load_info,
# rewrite_section_headers); the per-cpu section is allocated apart, hence is_core's special case.
UNALLOCATED_BY_LOADER = frozenset({".modinfo", "__versions", PERCPU_SECTION})


# Machines whose module loader lays .init sections out with the core ones, so their symbols stay
# in the core view: ppc64, in every generation (arch/powerpc/kernel/module_64.c, "We don't handle
# .init for the moment": 5.10's module_frob_arch_sections renames them to "_init", 6.1 on its
# module_init_section() returns false).
INIT_SECTIONS_KEPT = frozenset({EM_PPC64})


def is_init_section(name, machine=None):
    """Section placed in the module's init area and freed after init (main.c
    module_init_layout_section with CONFIG_MODULE_UNLOAD: names starting '.init', except on
    the machines of INIT_SECTIONS_KEPT)."""
    return machine not in INIT_SECTIONS_KEPT and name.startswith(".init")


def core_sections(sections, machine=None):
    """Per section index, whether a symbol defined there survives into the core view.

    ``sections``: (name, sh_type, sh_flags) per section index; ``machine``: the module's
    e_machine.
    """
    return [is_core_section(index, name, flags, machine)
            for index, (name, _sh_type, flags) in enumerate(sections)]


def is_core_section(index, name, flags, machine=None):
    """core_sections() of one section: section ``index`` called ``name`` with sh_flags
    ``flags``."""
    if index == 0:
        return False
    if name == PERCPU_SECTION:
        return bool(flags & SHF_ALLOC)  # find_sec() sees only allocated sections
    return bool(flags & SHF_ALLOC) and name not in UNALLOCATED_BY_LOADER \
        and not is_init_section(name, machine)


def is_core_symbol(name, shndx, core_by_section):
    """kallsyms.c is_core_symbol(): named, in a real section (not SHN_ABS or any other reserved
    index), and that section is core."""
    return bool(name) and in_core_section(shndx, core_by_section)


def in_core_section(shndx, core_by_section):
    """The section half of is_core_symbol(): a real section index (not SHN_UNDEF, SHN_ABS or
    another reserved one) of a core section."""
    if shndx == SHN_UNDEF or shndx >= SHN_LORESERVE:
        return False
    return shndx < len(core_by_section) and core_by_section[shndx]


def in_full_view(shndx):
    """Every defined symbol counts while the module is still loading (only SHN_UNDEF is skipped)."""
    return shndx != SHN_UNDEF
