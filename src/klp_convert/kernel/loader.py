"""What each architecture's module loader accepts in a RELA section, per kernel generation.

The tables are the `case` labels of apply_relocate_add() in arch/*/kernel/module*.c; any other
type makes the loader print its message and refuse the module (-ENOEXEC / -EINVAL). Klp
relocation sections are applied by the same function (kernel/livepatch/core.c
klp_apply_section_relocs), so the same table holds for them. Where a table changed between the
generations we know (5.10, 6.1, 6.12, 7.2: checked against Debian's linux-source of each), both
versions are below; kernel/generations.py says which generation uses which.
"""

from ..records import record, replace

from ..elf.constants import EM_AARCH64, EM_LOONGARCH, EM_PPC64, EM_S390, EM_X86_64


@record
class ModuleLoader:
    """One architecture's apply_relocate_add()."""

    arch: str
    machine: int
    #: relocation types the loader applies
    accepted: frozenset
    #: printf-style message for any other type: % (module name, type number)
    unknown_message: str
    #: x86-64: every applied relocation first checks that the bytes it patches are zero
    requires_zero_target: bool = False
    #: types the loader refuses without a message (s390: GLOB_DAT, JMP_SLOT, ...)
    silent_refusals: frozenset = frozenset()
    #: loongarch: types at or past this number have no table slot and get ``beyond_message``
    table_size: int = 0
    beyond_message: str = ""
    #: x86-64: printf formats of the zero-target check and of the range check, exactly as the
    #: kernel prints them (arch/x86/kernel/module.c __apply_relocate_add or, since 6.3,
    #: __write_relocate_add); kernel.messages fills in what a file can tell
    nonzero_format: str = ""
    overflow_format: str = ""
    #: what the loader's file puts before each pr_err() line (its pr_fmt: KBUILD_MODNAME ": "
    #: on x86-64 and ppc64, "Modules: " on arm64 since 6.x, "kmod: " on loongarch; s390
    #: calls printk itself)
    message_prefix: str = ""
    #: types the loader range-checks and that cannot reach address 0 from a module's address:
    #: applied by the normal loader against an unresolved livepatch symbol (value 0) they make
    #: it refuse the module with ``unreachable_format`` (% module, type, value) instead of
    #: loading it silently
    zero_unreachable: frozenset = frozenset()
    unreachable_format: str = ""

    def zero_target_refusal(self, module, rtype, addend):
        """The line the loader prints when it applies a relocation of ``rtype`` to a symbol of
        value 0, or None when it writes the value and the module loads."""
        if rtype not in self.zero_unreachable:
            return None
        return self.printed(self.unreachable_format % (module, rtype, addend % (1 << 64)))

    def unknown_type_message(self, module, rtype):
        """The line the kernel prints when it meets ``rtype`` (None when it prints nothing)."""
        if rtype in self.silent_refusals:
            return None
        if self.table_size and rtype >= self.table_size:
            return self.message_prefix + self.beyond_message % (module, rtype)
        return self.message_prefix + self.unknown_message % (module, rtype)

    def printed(self, fmt):
        """A message format of this loader as the kernel prints it (with its prefix)."""
        return self.message_prefix + fmt


def _range(first, last):
    return set(range(first, last + 1))


# x86-64: NONE 64 PC32 PLT32 32 32S PC64, the same in 5.10 ... 7.2; the messages changed.
X86_64_TYPES = frozenset({0, 1, 2, 4, 10, 11, 24})
X86_64_5_10 = ModuleLoader(
    "x86_64", EM_X86_64, X86_64_TYPES,
    "%s: Unknown rela relocation: %d",
    requires_zero_target=True,
    nonzero_format="x86/modules: Skipping invalid relocation target, existing value is nonzero "
                   "for type %d, loc %p, val %Lx",
    overflow_format="overflow in relocation type %d val %Lx",
    message_prefix="module: ",  # arch/x86/kernel/module.o
)
X86_64_6_12 = replace(
    X86_64_5_10,
    nonzero_format="x86/modules: Invalid relocation target, existing value is nonzero for type "
                   "%d, loc %p, val %Lx",
)
X86_64_7_2 = replace(
    X86_64_5_10,
    nonzero_format="x86/modules: Invalid relocation target, existing value is nonzero for sec "
                   "%u, idx %u, type %d, loc %lx, val %llx",
    overflow_format="overflow in relocation type %d val %llx sec %u idx %d",
)

# ppc64: ADDR32 REL24 REL32 ADDR64 REL64 TOC16 TOC16_LO TOC16_HA TOC TOC16_DS TOC16_LO_DS
# TOCSAVE ENTRY REL16_LO REL16_HA.  No R_PPC64_NONE case in any of them (7.2 included).
PPC64_5_10 = ModuleLoader(
    "ppc64", EM_PPC64,
    frozenset({1, 10, 26, 38, 44, 47, 48, 50, 51, 63, 64, 109, 118, 250, 252}),
    "%s: Unknown ADD relocation: %d",
    message_prefix="module_64: ",  # arch/powerpc/kernel/module_64.o
)
# 6.12 adds the Power10 prefixed forms: REL24_NOTOC (116), PCREL34 (132), GOT_PCREL34 (133)
PPC64_6_12 = replace(PPC64_5_10, accepted=PPC64_5_10.accepted | {116, 132, 133})

S390 = ModuleLoader(
    "s390", EM_S390,
    frozenset({0, 1, 2, 3, 57, 4, 22, 16, 17, 19, 5, 23, 6, 15, 58, 7, 24, 26, 29, 59, 30, 31,
               32, 33, 18, 20, 8, 25, 34, 35, 36, 27, 13, 28, 14, 21}),
    "module %s: unknown relocation: %d",
    # COPY GLOB_DAT JMP_SLOT RELATIVE: "only needed for -shared", -ENOEXEC without a message
    silent_refusals=frozenset({9, 10, 11, 12}),
)

ARM64 = ModuleLoader(
    "arm64", EM_AARCH64,
    # R_ARM_NONE (0), R_AARCH64_NONE (256), ABS64..PREL16, MOVW_*, LD_PREL_LO19, ADR_PREL_*,
    # ADD_ABS_LO12_NC, LDST*_ABS_LO12_NC, TSTBR14, CONDBR19, JUMP26, CALL26
    frozenset({0, 256} | _range(257, 262) | _range(263, 272) | _range(287, 293)
              | _range(273, 280) | {282, 283, 284, 285, 286, 299}),
    "module %s: unsupported RELA relocation: %d",
    # PREL32, PREL16, LD_PREL_LO19, ADR_PREL_LO21, ADR_PREL_PG_HI21, TSTBR14, CONDBR19: modules
    # live in the top half of the address space, far from 0 (CALL26 and JUMP26 get a PLT entry)
    zero_unreachable=frozenset({261, 262, 273, 274, 275, 279, 280}),
    unreachable_format="module %s: overflow in relocation type %d val %x",
)
# 6.12 (a change between 6.1 and 6.12): arm64's module.c prints through pr_fmt "Modules: "
ARM64_6_12 = replace(ARM64, message_prefix="Modules: ")

LOONGARCH_6_1 = ModuleLoader(
    "loongarch", EM_LOONGARCH,
    # NONE 32 64 MARK_LA MARK_PCREL SOP_PUSH_{PCREL,ABSOLUTE,DUP,PLT_PCREL} SOP_SUB..IF_ELSE
    # SOP_POP_32_* ADD32..SUB64 B26 PCALA_* GOT_PC_*
    frozenset({0, 1, 2, 20, 21, 22, 23, 24, 29} | _range(32, 37) | _range(38, 46)
              | _range(50, 56) | {66} | _range(71, 76)),
    # reloc_rela_handlers[] has a slot up to R_LARCH_64_PCREL (109); empty slots in that range
    # print the first message, numbers past it the second
    "%s: Unsupport relocation type %d, please add its support.",
    table_size=110,
    beyond_message="%s: Unknown relocation type %d",
    message_prefix="kmod: ",
)

# 6.12: B26, GOT_PC_HI20/LO12 and SOP_PUSH_PLT_PCREL moved from the table to a switch in
# apply_relocate_add() (still applied); 32_PCREL (99) and 64_PCREL (109) added
LOONGARCH_6_12 = replace(LOONGARCH_6_1, accepted=LOONGARCH_6_1.accepted | {99, 109})
# 7.2: PCADD_HI20/LO12 (128, 129), GOT_PCADD_HI20/LO12 (130, 131); the table now reaches
# R_LARCH_TLS_DESC_PCADD_LO12 (139)
LOONGARCH_7_2 = replace(LOONGARCH_6_12, accepted=LOONGARCH_6_12.accepted | {128, 129, 130, 131},
                        table_size=140)


def loader_table(*loaders):
    """{e_machine: ModuleLoader} of one kernel generation."""
    return {loader.machine: loader for loader in loaders}
