"""Sections the kernel processes while the patch module loads (KERNEL-RULES.md rule 8).

The module loader applies `.klp.rela.vmlinux.*` inside apply_relocations(), before
module_finalize() walks the patch module's alternatives, paravirt sites, jump labels, static
calls, ORC tables and so on, so a vmlinux klp relocation may sit in one of these sections.
A `.klp.rela.<module>.*` section is applied later: when the patch is enabled with the target
module already live, or when the target module loads. By then the kernel has already read the
special section with the bytes still zero (a jump label with key NULL, an alternative patching
the wrong place), so a module-specific klp relocation inside one of them is a bug. kpatch and
objtool refuse it too; each entry says what to write instead.

Which sections a kernel processes depends on its generation (arch/x86/kernel/module.c
module_finalize(), kernel/module/main.c find_module_sections()): kernel/generations.py lists
them per generation (``.parainstructions`` until 6.1, ``.ibt_endbr_seal`` since 6.1,
``.call_sites`` and ``.cfi_sites`` in 6.12 and 7.2).

Usage: ``special_section_for(".static_call_sites", generation.special_sections)``
-> SpecialSection or None.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecialSection:
    """A section the kernel consumes at module load time."""

    name: str
    #: what the kernel does with it, for messages ("jump label entries")
    what: str
    #: what the livepatch author should write instead of referencing a module symbol there
    advice: str


_TABLE = (
    SpecialSection("__jump_table", "jump label entries",
                   "test a module's static key with static_key_enabled(&key) instead of "
                   "static_branch_likely()/static_branch_unlikely()"),
    SpecialSection(".static_call_sites", "static call sites",
                   "call the module's function directly, or through "
                   "static_call_query(), instead of static_call()"),
    SpecialSection(".altinstructions", "alternative instruction entries",
                   "move the reference to the module symbol out of the ALTERNATIVE()"),
    SpecialSection(".altinstr_replacement", "alternative replacement code",
                   "move the reference to the module symbol out of the ALTERNATIVE()"),
    SpecialSection(".altinstr_aux", "alternative auxiliary code",
                   "move the reference to the module symbol out of the ALTERNATIVE()"),
    SpecialSection(".parainstructions", "paravirt patch sites",
                   "reference the module symbol outside the paravirt call site"),
    SpecialSection("__bug_table", "BUG()/WARN() entries",
                   "take the module symbol's address in a local variable before BUG()/WARN()"),
    SpecialSection("__ex_table", "exception table entries",
                   "do not point an exception-table fixup at a module symbol"),
    SpecialSection(".smp_locks", "LOCK prefix sites",
                   "reference the module symbol outside the LOCK_PREFIX site"),
    SpecialSection(".retpoline_sites", "retpoline call sites (objtool)",
                   "regenerate the module with objtool from code that does not reference the "
                   "module symbol in an indirect call thunk"),
    SpecialSection(".return_sites", "return thunk sites (objtool)",
                   "regenerate the module with objtool; return sites only name the patch's "
                   "own code"),
    SpecialSection(".ibt_endbr_seal", "ENDBR sealing sites (objtool)",
                   "regenerate the module with objtool; these entries only name the patch's "
                   "own code"),
    SpecialSection(".call_sites", "call depth tracking sites (objtool)",
                   "regenerate the module with objtool; call sites only name the patch's own "
                   "code (module_finalize() points each call at its thunk when the patch "
                   "loads)"),
    SpecialSection(".cfi_sites", "FineIBT/kCFI sites (objtool)",
                   "regenerate the module with objtool; these entries only name the patch's "
                   "own code"),
    SpecialSection(".orc_unwind_ip", "ORC unwinder table",
                   "regenerate the module with objtool; ORC entries only name the patch's own "
                   "code"),
    SpecialSection(".orc_unwind", "ORC unwinder table",
                   "regenerate the module with objtool; ORC entries only name the patch's own "
                   "code"),
    SpecialSection("__mcount_loc", "ftrace call sites",
                   "rebuild the module; ftrace sites only name the patch's own code"),
    SpecialSection("__patchable_function_entries", "ftrace patchable entries",
                   "rebuild the module; ftrace sites only name the patch's own code"),
)

SPECIAL_SECTIONS = {s.name: s for s in _TABLE}

# Processed by every generation we know (5.10, 6.1, 6.12, 7.2)
COMMON = frozenset({
    "__jump_table", ".static_call_sites", ".altinstructions", ".altinstr_replacement",
    ".altinstr_aux", "__bug_table", "__ex_table", ".smp_locks", ".retpoline_sites",
    ".return_sites", ".orc_unwind_ip", ".orc_unwind", "__mcount_loc",
    "__patchable_function_entries",
})


def special_section_for(section_name, names):
    """The SpecialSection named ``section_name`` (a relocation's *target* section) if the
    kernel processes it (``names``: the generation's set), else None.

    Names may carry a '.<suffix>' added by -ffunction-sections style naming
    ('__jump_table.foo' in some toolchains); the part before it decides.
    """
    if section_name in names:
        return SPECIAL_SECTIONS[section_name]
    for name in names:
        if section_name.startswith(name + "."):
            return SPECIAL_SECTIONS[name]
    return None
