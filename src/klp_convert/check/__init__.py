"""klp-convert check: predict what the kernel will do with a livepatch module.

    findings = check_module("patch.ko", index=open_symbols([...]))
    will_load(findings)   # False when the kernel refuses it or it breaks once loaded

The rules are plain functions (static_rules.STATIC_RULES need only the module,
symbol_rules.SYMBOL_RULES also the target kernel's symbols); each reports Findings with the
kernel message it predicts. convert runs the same list on its output before writing it.
"""

from ..elf import ElfObject
from .context import CheckContext
from .findings import ERROR, WARNING, Finding, will_load
from .static_rules import STATIC_RULES
from .symbol_rules import SYMBOL_RULES, names_looked_up

__all__ = ["check_module", "check_module_rules", "Finding", "will_load", "ERROR", "WARNING", "STATIC_RULES",
           "SYMBOL_RULES"]


def check_module(module, index=None, label=None, rules=None, resolved=None):
    """Every finding for ``module`` (a path or an ElfObject): errors, then warnings.

    ``index`` is an open symbol database (klp_convert.symdb.open_symbols) or None for the static
    rules only; ``label`` names the module in messages (default: its path). Raises ElfError
    when a path cannot be read as an ELF object. ``rules``: the target kernel's KernelRules
    (kernel/generations.py), by default chosen from the database's release or the vermagic.
    ``resolved``: {'.klp.sym.' name: [SymbolRecord]} the caller already read from ``index``
    (its object's records of the name: convert's plan), so the rules need not look them up
    again; the kernel's rules are applied to them all the same.
    """
    return check_module_rules(module, index, label, rules, resolved)[0]


def check_module_rules(module, index=None, label=None, rules=None, resolved=None):
    """(findings, KernelRules): check_module() and the kernel generation whose rules were
    applied (kernel/generations.py: the database's release, else the module's vermagic)."""
    obj = module if isinstance(module, ElfObject) else ElfObject.read(module)
    ctx = CheckContext(obj, label or str(obj.path), index, rules, resolved)
    for rule in STATIC_RULES:
        rule(ctx)
    if index is not None:
        index.prefetch(names_looked_up(ctx))
        for rule in SYMBOL_RULES:
            rule(ctx)
    # errors first, each kind in rule order
    return sorted(ctx.findings, key=lambda f: f.severity != ERROR), ctx.rules
