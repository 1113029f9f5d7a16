"""Conversion of a livepatch module: plan (pure decisions) -> apply (edit) -> check -> write."""

import gc
import os

from ..annotations import read_annotations, strip_tables
from ..compression import is_compressed
from ..elf import ElfObject, write_atomically
from ..errors import KlpError, RefusedError
from ..files import refuse_unwritable_output, same_file
from ..kernel.generations import rules_for_module
from ..kernel.installed import kbuild_dir
from ..kernel.modinfo import modinfo_value, read_modinfo, vermagic_release
from ..symdb import open_symbols
from .apply import apply_plan
from .plan import ConvertOptions, Plan, make_plan

__all__ = ["convert_file", "convert_object", "ConvertOptions", "Plan"]


def convert_object(obj, index=None, options=None):
    """Plan and apply the conversion of ElfObject ``obj``; RefusedError lists every problem."""
    options = options or ConvertOptions()
    notes = read_annotations(obj)
    plan = make_plan(obj, notes, index, options)
    if plan.problems:
        raise RefusedError(obj.path, _refusal_text(plan))
    strip_tables(obj, notes)
    apply_plan(obj, plan)
    return plan


def convert_file(input_path, output_path, symbol_paths=(), *, keep_module_exports=False,
                 sympos=(), symbol_files=(), dry_run=False, log=None, symvers=()):
    """Convert ``input_path`` into ``output_path`` (which may be the same file).

    ``symbol_paths``: symbol databases (.symdb) or old Symbols.list files; none means
    annotation-only. Returns the Plan. Nothing is written when the conversion is refused
    or ``dry_run`` is set. The result is checked (klp_convert.check) before it is written.
    ``symvers``: the build tree's Module.symvers files, which tell annotation-only mode which
    references the module loader will resolve (the others are logged as a warning); None: that
    of the kernel the module was built for (its vermagic), when it is installed.
    """
    if output_path and is_compressed(output_path):
        raise KlpError(output_path, "klp-convert writes a plain ELF module: give -o NAME.ko "
                                    "(and compress it afterwards, as modules_install does)")
    if output_path and not dry_run:
        refuse_unwritable_output(output_path, KlpError)
    for path in symbol_paths:
        if output_path and same_file(output_path, path):
            raise KlpError(output_path, f"the output is the symbol database given with "
                                        f"--symbols ({path}): give another -o")
    index = open_symbols(list(symbol_paths)) if symbol_paths else None
    # The ELF model, the plan and the records all live until the file is written, and what
    # dies earlier is freed by reference counting: Python's cycle collector would only walk
    # the growing model again and again (a third of the time on a 66,000-section object).
    collecting = gc.isenabled()
    gc.disable()
    try:
        obj = ElfObject.read(input_path)
        options = ConvertOptions(sympos, symbol_files, keep_module_exports)
        plan = convert_object(obj, index, options)
        _note_assumed_rules(obj, input_path, index, log)
        data, dropped = obj.to_bytes()
        _check_output(obj, output_path or input_path, index, log, _resolved(plan))
    finally:
        if collecting:
            gc.enable()
        if index is not None:
            index.close()
    if index is None and plan.left_to_loader and log is not None:
        symvers = _installed_symvers(obj) if symvers is None else symvers
        _warn_unresolved(input_path, plan.left_to_loader, symvers, log)
    for option, name in plan.unused_options if log is not None else ():
        log(f"{input_path}: warning: {option} was not used: the module does not reference "
            f"'{name}'")
    if not dry_run:
        write_atomically(output_path, data)
        if dropped and log is not None:
            log(f"{input_path}: note: dropped {dropped} bytes of trailing data (a module "
                f"signature, no longer valid after conversion: sign the output)")
    return plan


def _installed_symvers(obj):
    """[Module.symvers of the build tree of the kernel the module was built for], or [] (its
    release told by the model in hand: reading the module again for it cost a huge patch a
    fifth of its conversion)."""
    release = vermagic_release(modinfo_value(read_modinfo(obj), "vermagic"))
    if not release:
        return []
    path = os.path.join(kbuild_dir(release), "Module.symvers")
    return [path] if os.path.isfile(path) else []


def _warn_unresolved(path, names, symvers, log):
    """Annotation-only mode converts annotated references only: say loudly which others no
    Module.symvers exports (the kernel will refuse the module: Unknown symbol), and what to add."""
    from ..symdb.sources import read_symvers

    exported = set()
    for symvers_path in symvers:
        exported.update(read_symvers(symvers_path, allow_empty=True))
    missing = sorted(set(n for n in names if n not in exported))
    if not missing:
        return
    known = f"exported in {', '.join(map(str, symvers))}" if symvers else \
        "known to be exported (no Module.symvers to tell)"
    shown = ", ".join(missing[:20]) + (f", ... ({len(missing)} in all)" if len(missing) > 20
                                       else "")
    log([f"{path}: warning: no --symbols: {len(missing)} undefined symbol(s) neither annotated "
         f"nor {known} were left as they are: {shown}",
         "  the kernel refuses the module if one is not exported (Unknown symbol); give "
         "--symbols kernel.symdb (built by `klp-convert symbols`) to convert them"])


def _note_assumed_rules(obj, label, index, log):
    """One line when the target's release is between or beyond the kernel generations we know
    (kernel/generations.py): whose rules the conversion and its check assumed."""
    rules = rules_for_module(obj, index.kernel_release if index is not None else None)
    if log is not None and rules.release and rules.note():
        log(f"{label}: note: {rules.note()}")


def _resolved(plan):
    """{'.klp.sym.' name: the records the plan checked its position in}, for the output check
    to judge without looking each name up again."""
    return {d.symbol.name: d.records for d in plan.conversions if d.records}


def _check_output(obj, label, index, log, resolved):
    """Run klp-convert check on the object about to be written (just serialised, so every
    index in the model is the one in the file): a converter bug, or an input the kernel would
    refuse anyway, must not produce a module that check refuses. (Checking the model, not a
    re-read of the bytes, halves the time on huge objects; the writer's fidelity has tests of
    its own.)

    (The one call upwards in the layers: check sits above convert, and this is its client.)"""
    from ..check import ERROR, check_module

    findings = check_module(obj, index=index, label=str(label), resolved=resolved)
    errors = [f for f in findings if f.severity == ERROR]
    if errors:
        lines = [f"the converted module would not work: {errors[0].message}"]
        for finding in errors:
            lines += ["  " + line for line in finding.lines()]
        raise RefusedError(label, lines)
    if log is not None:
        for finding in findings:
            log(finding.lines())  # [line]: the caller escapes each


def _refusal_text(plan):
    """[line]: first what is wrong, then one block per problem (RefusedError escapes each)."""
    problems = plan.problems
    first = problems[0].summary if len(problems) == 1 else \
        f"conversion refused ({len(problems)} problems)"
    lines = [first]
    for p in problems:
        if len(problems) > 1:
            lines.append(f"  {p.summary}")
        lines += [f"  {d}" for d in p.details]
    lines += [f"  {advice}" for advice in dict.fromkeys(p.advice for p in problems) if advice]
    return lines
