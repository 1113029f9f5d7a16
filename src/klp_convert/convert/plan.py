"""Decide, without touching the module, what to convert: which references, to which object,
with which sympos, and why. Everything the user sees (--dry-run, errors, tests) reads the plan.

Rules, first match wins (the decision records which one):
  a. explicit choice: --sympos OBJ:NAME=N, KLP_SYMPOS, KLP_RELOC_SYMBOL_POS
  b. source file:     --symbol-file OBJ:NAME=FILE, KLP_SYMBOL_FILE
  c. unique:          the name exists once, in one object -> sympos 0
  d. refuse, listing every candidate and the annotation or option that picks it.
Exports: a symbol exported by vmlinux stays a normal relocation; one exported by a module is
converted (objname = that module) unless --keep-module-exports.
"""

from ..elf import SHF_ALLOC, SHN_UNDEF
from ..kernel.names import VMLINUX, KlpName, check_objname, check_symname, is_klp_rela_name
from ..kernel.generations import rules_for_module
from ..kernel.special_sections import special_section_for
from ..annotations import Choice

TOC_SYMBOL = ".TOC."  # ppc64: resolved by the module loader itself


class ConvertOptions:
    """What the command line can say besides the input and the databases."""

    def __init__(self, sympos=(), symbol_files=(), keep_module_exports=False):
        # (objname, name) -> position / file; from --sympos and --symbol-file
        self.sympos = dict(sympos)
        self.symbol_files = dict(symbol_files)
        self.keep_module_exports = keep_module_exports


class Decision:
    """One undefined symbol of the livepatch and what becomes of it."""

    def __init__(self, symbol, name, references):
        self.symbol = symbol
        self.name = name  # the name in the target (for KLP_RELOC_SYMBOL: taken from the label)
        self.references = references  # [(RelocationSection, Relocation)] in allocated sections
        self.objname = None
        self.sympos = None
        self.rule = None  # 'explicit', 'source file', 'unique', 'module export', 'kept'
        self.reason = ""
        self.verified = True  # False when the database had names only (old Symbols.list)
        self.records = None  # the object's records of the name the position was checked in

    @property
    def converted(self):
        return self.objname is not None

    def describe(self):
        where = f"{len(self.references)} reference{'s' if len(self.references) != 1 else ''}"
        if not self.converted:
            return f"{self.name}: kept as a normal relocation ({self.reason}; {where})"
        unverified = " [position unverified: names-only database]" if not self.verified else ""
        return (f"{self.name} -> {self.objname},{self.sympos}: {self.reason} "
                f"({where}){unverified}")


class Problem:
    """A reason to refuse: a one-line summary and the lines that explain it; ``advice``: a line
    said once after all the problems that share it."""

    def __init__(self, summary, details=(), advice=None):
        self.summary = summary
        self.details = list(details)
        self.advice = advice


# What to do about a name that no object of the databases defines and none exports.
UNKNOWN_NAME_ADVICE = ("fix: a symbol of an out-of-tree module is found once that module is in "
                       "the database (`klp-convert symbols --add DB MODULE.ko`, or its own "
                       "database given with another --symbols)")


class Plan:
    def __init__(self):
        self.decisions = []
        self.problems = []
        # Annotation-only mode: the names of the undefined symbols left to the module loader,
        # which finds only exported ones (the caller tells the user about the others).
        self.left_to_loader = []
        # --sympos / --symbol-file options naming a symbol the module does not reference
        # (a typo, or one meant for another module of a kbuild run): the caller warns.
        self.unused_options = []

    @property
    def conversions(self):
        return [d for d in self.decisions if d.converted]

    def lines(self):
        out = []
        for d in self.decisions:
            out.append(d.describe())
        return out


def make_plan(obj, notes, index, options):
    """Build the Plan for ElfObject ``obj`` with its Annotations and a symbol index (or None)."""
    plan = Plan()
    table_ids = {id(s) for s in notes.tables}
    references = _undefined_references(obj, table_ids)
    for key in set(notes.choices) - set(references):
        plan.problems.append(Problem(
            f"annotation for '{notes.choices[key].symbol.name}', which the module does not "
            f"otherwise reference"))
    referenced = [(sym, refs) for sym in obj.symbols  # in symbol table order
                  for refs in [references.get(id(sym))] if refs is not None]
    _find_unused_options(plan, options, {sym.name for sym, _refs in referenced})
    if index is not None:  # every name the decisions below will ask about, in one go
        index.prefetch(_names_asked(referenced, notes))
    for sym, refs in referenced:
        decision = _decide(obj, sym, refs, notes, index, options, plan)
        if decision is not None:
            plan.decisions.append(decision)
    _refuse_special_sections(plan, rules_for_module(
        obj, index.kernel_release if index is not None else None).generation)
    return plan


def _names_asked(referenced, notes):
    """The names the decisions ask the index about: a referenced symbol's own, or for a
    KLP_RELOC_SYMBOL label each name it can be read as (asked one by one, each was a pass
    over a whole Symbols.list: 5,000 labels took a minute)."""
    for sym, _refs in referenced:
        reloc_name = notes.reloc_symbols.get(id(sym))
        if reloc_name is None:
            yield sym.name
        else:
            yield from (name for name, _pos in reloc_name.splits)


def _find_unused_options(plan, options, referenced_names):
    for option, choices in (("--sympos", options.sympos), ("--symbol-file", options.symbol_files)):
        for (objname, name), value in choices.items():
            if name not in referenced_names:
                plan.unused_options.append((f"{option} {objname}:{name}={value}", name))


def _refuse_special_sections(plan, generation):
    """KERNEL-RULES rule 8: .klp.rela.<module> sections are applied after the patch module's
    special sections were processed, so a module symbol may not be referenced from one.
    vmlinux ones are applied at patch load, before: they may."""
    for decision in plan.conversions:
        if decision.objname == VMLINUX:
            continue
        for rela, rel in decision.references:
            special = special_section_for(rela.target.name, generation.special_sections)
            if special is not None:
                plan.problems.append(Problem(
                    f"'{decision.name}' of module '{decision.objname}' is referenced from "
                    f"{rela.target.name}+{rel.offset:#x} ({special.what}): the kernel "
                    f"processes that section before it resolves module-specific livepatch "
                    f"relocations", [f"advice: {special.advice}"]))
                break


def _undefined_references(obj, table_ids):
    """id(Symbol) -> [(section, relocation)] for undefined symbols used by allocated sections."""
    null = obj.symbols[0]
    refs = {}
    for rela in obj.relocation_sections():
        target = rela.target
        if id(rela) in table_ids or target is None or id(target) in table_ids:
            continue
        if not target.flags & SHF_ALLOC or is_klp_rela_name(rela.name):
            continue  # debug info is never relocated by the kernel; klp sections are done
        for rel in rela.relocations:
            sym = rel.symbol
            if sym is null or sym.section is not None or sym.reserved_shndx != SHN_UNDEF \
                    or sym.name in ("", TOC_SYMBOL):  # (not sym.is_undefined, inline)
                continue
            refs.setdefault(id(sym), []).append((rela, rel))
    return refs


def _decide(obj, sym, refs, notes, index, options, plan):
    decision = Decision(sym, sym.name, refs)
    reloc_name = notes.reloc_symbols.get(id(sym))
    if reloc_name is not None:
        return _decide_reloc_symbol(decision, reloc_name, index, plan)
    choice = _explicit_choice(sym, notes, options)
    if choice is None and index is None:
        plan.left_to_loader.append(sym.name)
        return None  # annotation-only mode: the loader resolves everything else
    try:
        check_symname(sym.name)
    except KlpName as e:
        plan.problems.append(Problem(f"cannot convert '{sym.name[:60]}': {e}"))
        return None
    if choice is not None:
        return _apply_choice(decision, choice, index, plan)
    return _decide_from_database(decision, index, options, plan)


def _explicit_choice(sym, notes, options):
    """Command line first, then annotations in the module."""
    if not (options.sympos or options.symbol_files or notes.choices):
        return None  # the common case, asked for every undefined symbol
    for (objname, name), pos in options.sympos.items():
        if name == sym.name:
            return Choice(objname, sym, sympos=pos, origin=f"--sympos {objname}:{name}={pos}")
    for (objname, name), path in options.symbol_files.items():
        if name == sym.name:
            return Choice(objname, sym, source_file=path,
                          origin=f"--symbol-file {objname}:{name}={path}")
    return notes.choices.get(id(sym))


def _decide_reloc_symbol(decision, reloc_name, index, plan):
    """KLP_RELOC_SYMBOL: the label says everything; the database only settles dotted names."""
    label = decision.symbol.name
    if reloc_name.lp_obj != reloc_name.sym_obj:
        plan.problems.append(Problem(
            f"'{label}': a reference patched in '{reloc_name.lp_obj}' to a symbol of "
            f"'{reloc_name.sym_obj}' breaks the kernel's rule that each .klp.rela.<obj> "
            f"section uses only <obj>'s symbols",
            [f"write KLP_RELOC_SYMBOL({reloc_name.sym_obj}, {reloc_name.sym_obj}, ...)"]))
        return None
    splits = reloc_name.splits
    if len(splits) > 1 and index is not None and index.has_object(reloc_name.sym_obj):
        splits = [(n, p) for n, p in splits if _position_exists(index, reloc_name.sym_obj, n, p)]
        if len(splits) > 1:
            plan.problems.append(Problem(
                f"'{label}' can be read as " + " or ".join(f"'{n}' position {p}"
                                                           for n, p in splits),
                ["write it with the ',' spelling: KLP_RELOC_SYMBOL_POS(obj, obj, sym, pos) "
                 "without KLP_RELOC_SYMBOL_DOT"]))
            return None
        if not splits:
            plan.problems.append(Problem(
                f"'{label}': no reading of it names a symbol of '{reloc_name.sym_obj}'"))
            return None
    name, pos = splits[0]
    decision.name = name
    choice = Choice(reloc_name.sym_obj, decision.symbol, sympos=pos,
                    origin=f"KLP_RELOC_SYMBOL ('{reloc_name.spelling}' spelling)")
    if index is None:
        decision.objname, decision.sympos = reloc_name.sym_obj, pos
        decision.rule, decision.reason = "explicit", choice.origin
        decision.verified = False
        return decision
    return _apply_choice(decision, choice, index, plan)


def _position_exists(index, objname, name, pos):
    records = index.lookup_in(objname, name)
    return bool(records) and (pos == 0 and len(records) == 1 or 1 <= pos <= len(records))


def _apply_choice(decision, choice, index, plan):
    """Rules a and b: check an author's choice against the database."""
    try:
        check_objname(choice.objname)
    except KlpName as e:
        plan.problems.append(Problem(f"{choice.origin}: {e}"))
        return None
    decision.objname = choice.objname
    if index is None:
        if choice.sympos is None:
            plan.problems.append(Problem(
                f"{choice.origin}: a source-file choice needs a symbol database (--symbols)"))
            return None
        decision.sympos, decision.rule = choice.sympos, "explicit"
        decision.reason, decision.verified = f"{choice.origin}, unverified (no database)", False
        return decision
    records = _records_in(index, choice.objname, decision.name, plan, choice.origin)
    if records is None:
        return None
    if choice.source_file is not None:
        return _choose_by_file(decision, choice, records, index, plan)
    return _check_position(decision, choice.sympos, records, index, plan, choice.origin,
                           "explicit")


def _records_in(index, objname, name, plan, origin):
    if not index.has_object(objname):
        plan.problems.append(Problem(f"{origin}: object '{objname}' is not in the symbol "
                                     f"database"))
        return None
    records = index.lookup_in(objname, name)
    if not records:
        plan.problems.append(Problem(f"{origin}: '{name}' is not a symbol of '{objname}'",
                                     _elsewhere(index, name)))
        return None
    return records


def _elsewhere(index, name):
    objects = sorted({r.objname for r in index.lookup(name)})
    return [f"'{name}' exists in: {', '.join(objects)}"] if objects else []


def _choose_by_file(decision, choice, records, index, plan):
    matches = [r for r in records if _file_matches(r.source_file, choice.source_file)]
    if len(matches) != 1:
        known = sorted({r.source_file or "?" for r in records})
        what = "no" if not matches else f"{len(matches)}"
        plan.problems.append(Problem(
            f"{choice.origin}: {what} '{decision.name}' of '{choice.objname}' in file "
            f"'{choice.source_file}'", [f"its files: {', '.join(known)}"]))
        return None
    record = matches[0]
    pos = 0 if record.count == 1 else record.position
    return _check_position(decision, pos, records, index, plan,
                           f"{choice.origin} -> position {record.position}", "source file")


def _file_matches(source_file, wanted):
    """'drivers/base/core.c' matches 'core.c', 'base/core.c' and itself."""
    if not source_file:
        return False
    source_file, wanted = source_file.lstrip("./"), wanted.lstrip("./")
    return source_file == wanted or source_file.endswith("/" + wanted)


def _check_position(decision, pos, records, index, plan, origin, rule):
    """A position must exist, and for modules mean the same symbol in both views."""
    objname, name = decision.objname, decision.name
    decision.sympos, decision.rule, decision.reason = pos, rule, origin
    decision.records = records
    if not index.positions_known(objname):
        if pos > len(records) or (pos == 0 and len(records) > 1):
            plan.problems.append(Problem(f"{origin}: '{objname}' has {len(records)} "
                                         f"'{name}', no position {pos}"))
            return None
        decision.verified = False
        return decision
    if pos == 0 and len(records) > 1:
        plan.problems.append(_ambiguity(name, records, f"{origin}: position 0 needs a unique "
                                                       f"name, but"))
        return None
    if pos > len(records):
        plan.problems.append(Problem(
            f"{origin}: there is no position {pos} for '{name}' in '{objname}' (it has "
            f"{len(records)})", _candidate_lines(records)))
        return None
    record = records[0] if pos == 0 else next(r for r in records if r.position == pos)
    trouble = _view_mismatch(record, pos)
    if trouble:
        plan.problems.append(Problem(f"{origin}: {trouble}", _candidate_lines(records)))
        return None
    return decision


def _view_mismatch(record, pos):
    """Why ``pos`` would resolve differently before and after the target module is live."""
    if record.objname == VMLINUX:
        return None
    if record.core_position is None:
        return (f"'{record.name}' of '{record.objname}' is an init symbol: it is gone once "
                f"the module is live, so a patch loaded then cannot resolve it")
    if pos == 0 and (record.core_count or 0) != 1:
        return (f"'{record.name}' is unique in '{record.objname}' only while it loads")
    if pos and record.core_position != pos:
        return (f"position {pos} of '{record.name}' in '{record.objname}' means this symbol "
                f"while the module loads (full symbol table) but position "
                f"{record.core_position} once it is live (core symbols only); the patch may "
                f"be loaded either way")
    return None


def _decide_from_database(decision, index, options, plan):
    name = decision.name
    exporters = index.exporters(name)
    if exporters and any(e.objname == VMLINUX for e in exporters):
        decision.rule, decision.reason = "kept", "exported by vmlinux"
        return decision
    if exporters and options.keep_module_exports:
        decision.rule = "kept"
        decision.reason = f"exported by {exporters[0].objname}, --keep-module-exports"
        return decision
    if exporters:
        objname = exporters[0].objname
        records = index.lookup_in(objname, name)
        exported = [r for r in records if r.bind in ("GLOBAL", "WEAK")] or records
        if not records:
            decision.objname, decision.sympos = objname, 0
            decision.rule, decision.reason = "module export", f"exported by {objname}"
            return decision
        decision.objname = objname
        pos = 0 if len(records) == 1 else exported[0].position
        return _check_position(decision, pos, records, index, plan,
                               f"exported by {objname}", "module export")
    records = index.lookup(name)
    if not records:
        plan.problems.append(Problem(
            f"'{name}' is not exported and not in the symbol database: the kernel would "
            f"refuse the module (Unknown symbol {name})", advice=UNKNOWN_NAME_ADVICE))
        return None
    if len(records) == 1:
        decision.objname = records[0].objname
        return _check_position(decision, 0, records, index, plan,
                               f"unique in {records[0].objname}", "unique")
    plan.problems.append(_ambiguity(name, records, ""))
    return None


def _ambiguity(name, records, prefix):
    objects = sorted({r.objname for r in records})
    where = objects[0] if len(objects) == 1 else f"{len(objects)} objects"
    lead = f"{prefix} " if prefix else ""
    return Problem(f"{lead}symbol '{name}' is ambiguous in {where} ({len(records)} matches)",
                   ["candidates (pick one):"] + _candidate_lines(records))


def _unpickable(record):
    """Why no position can name this module symbol in both load orders, or None."""
    if record.objname == VMLINUX or record.position is None:
        return None
    if record.core_position is None:
        return "an init symbol, gone once the module is live"
    if record.core_position != record.position:
        return (f"#{record.position} while the module loads but #{record.core_position} once "
                f"it is live; rename it or reach it through a symbol that is not duplicated")
    return None


def _candidate_lines(records):
    lines = []
    for r in records:
        pos = r.position if r.position is not None else "?"
        addr = f"{r.address:#x}" if r.address is not None else "-"
        size = f"size {r.size:#x}" if r.size is not None else ""
        kind = r.type_letter or (r.sym_type or "?")
        views = ""
        if r.objname != VMLINUX and r.position is not None:
            views = (f" init only" if r.core_position is None else
                     f" core #{r.core_position}" if r.core_position != r.position else "")
        parts = [f"  {r.objname} #{pos}:", kind, r.bind or "", addr, size,
                 r.source_file or "(file unknown)"]
        lines.append(" ".join(p for p in parts if p) + views)
        unpickable = _unpickable(r)
        if unpickable:
            lines.append(f"      cannot be picked: {unpickable}")
            continue
        picks = [f"--sympos {r.objname}:{r.name}={pos}",
                 f"KLP_SYMPOS({r.name}, {pos}) in KLP_MODULE_RELOC({r.objname})"]
        if r.source_file:
            picks.append(f'KLP_SYMBOL_FILE({r.name}, "{r.source_file}") in '
                         f"KLP_SYMBOL_FILES({r.objname})")
        lines.append("      pick with: " + " | ".join(picks))
    return lines
