"""Rules that need the target kernel's symbols (a klp_convert.symdb index).

klp_find_object_symbol() (kernel/livepatch/core.c) walks kallsyms, counting every symbol of the
name in the object: position 0 wants exactly one, position N wants at least N (and takes the
N-th). Its messages:

  symbol 'X' not found in symbol table                      no symbol of that name
  unresolvable ambiguity for symbol 'X' in object 'O'       position 0, several; O is '(null)'
                                                            for vmlinux (a NULL objname)
  symbol position N for symbol 'X' in object 'O' not found  fewer than N

A module object has two views: while it is still loading (the patch came first) kallsyms holds
its whole symtab; once it is live, only its core symbols. Both can happen, so both must resolve.
"""

from ..elf.constants import EM_386, EM_PPC64, EM_X86_64, SHN_UNDEF, STB_WEAK
from ..kernel.klp_sscanf import scan_klp_sym
from ..kernel.modinfo import (
    license_is_gpl_compatible, modinfo_value, modinfo_values, vermagic_release,
)
from ..kernel.names import is_klp_sym_name
from .context import is_livepatch_symbol, is_vmlinux

KLP = "livepatch: "
LOADER_RESOLVED = {(EM_PPC64, ".TOC."), (EM_X86_64, "_GLOBAL_OFFSET_TABLE_"),
                   (EM_386, "_GLOBAL_OFFSET_TABLE_")}


def names_looked_up(ctx):
    """The names the rules below ask the database about (to ask for them in one batch): the
    target names of livepatch symbols and the undefined symbols that need an export."""
    names = []
    for sym in ctx.obj.symbols[1:]:
        if is_livepatch_symbol(sym):
            scan = scan_klp_sym(sym.name)
            if scan.count == 3:
                names.append(scan.symname)
        elif _needs_export(ctx, sym):
            names.append(sym.name)
    return names


def rule_vermagic(ctx):
    """The module must be built for the kernel the database describes."""
    release = ctx.index.kernel_release
    vermagic = modinfo_value(ctx.modinfo, "vermagic")
    module_release = vermagic_release(vermagic)
    if release and module_release and module_release != release:
        ctx.error("vermagic", f"built for {module_release}, the symbol database is for {release}",
                  kernel=f"{ctx.name}: version magic '{vermagic}' should be '{release} ...'",
                  fix=f"rebuild the patch against the headers of {release}")


def rule_klp_symbol_resolution(ctx):
    """Rules 5 and 6: every '.klp.sym' resolves as klp_find_object_symbol() would resolve it."""
    seen = set()
    objects = {}  # objname -> (in the database, positions known): asked once per object
    for _objname, _sec, rel in ctx.klp_relocations:
        sym = rel.symbol
        if sym.name in seen or not is_livepatch_symbol(sym):
            continue
        seen.add(sym.name)
        scan = scan_klp_sym(sym.name)
        if scan.count != 3:
            continue
        facts = objects.get(scan.objname)
        if facts is None:
            facts = objects[scan.objname] = (ctx.index.has_object(scan.objname),
                                             ctx.index.positions_known(scan.objname))
        if facts[1] and scan.sympos <= 1 and _resolves_alone(ctx, sym.name, scan):
            continue
        _resolve(ctx, scan, *facts)


def _resolves_alone(ctx, klp_name, scan):
    """The common case, decided without the general walk below (a huge patch has tens of
    thousands): the object's only symbol of the name, asked for as position 0 or 1, and, in
    a module, first in both views. A vmlinux symbol at address 0 takes the general walk."""
    records = ctx.resolved.get(klp_name)
    if records is None:
        records = ctx.index.lookup_in(scan.objname, scan.symname)
    if len(records) != 1:
        return False
    record = records[0]
    if record.objname != scan.objname or record.name != scan.symname:
        return False  # (not what the caller was to give: the general walk looks it up)
    if record.position != 1:
        return False
    if is_vmlinux(scan.objname):
        return record.address != 0
    return record.core_position == 1


def _resolve(ctx, scan, present, ranked):
    """``present``: the object is in the database; ``ranked``: its positions are known."""
    objname, name, pos = scan.objname, scan.symname, scan.sympos
    if not present:
        _report_missing_object(ctx, objname, name)
        return
    records = ctx.index.lookup_in(objname, name)
    if not ranked:
        _unranked(ctx, objname, name, pos, records)
        return
    if is_vmlinux(objname) or not records:
        chosen, problem = _resolve_in_view(objname, name, pos, records, "position")
        if problem:
            _report(ctx, problem, "")
        elif chosen.address == 0 and _vmlinux_addresses_known(ctx):
            _report_address_zero(ctx, name)
        return
    _resolve_module_symbol(ctx, objname, name, pos, records)


LATE = " while it is still loading (patch loaded first)"
EARLY = " once it is live (module loaded first)"


def _resolve_module_symbol(ctx, objname, name, pos, records):
    """Both views of a module: report each failure (once when both fail alike), and warn when
    both resolve but to different symbols."""
    if all(r.position == r.core_position for r in records):  # no init symbol: one view
        _, problem = _resolve_in_view(objname, name, pos, records, "position")
        if problem:
            _report(ctx, problem, " whichever loads first")
        return
    late, late_problem = _resolve_in_view(objname, name, pos, records, "position")
    early, early_problem = _resolve_in_view(objname, name, pos, records, "core_position")
    if late_problem and early_problem and late_problem[1] == early_problem[1]:
        _report(ctx, late_problem, " whichever loads first")
        return
    for problem, view in ((late_problem, LATE), (early_problem, EARLY)):
        if problem:
            _report(ctx, problem, view)
    if late is not None and early is not None and late is not early:
        ctx.warning("klp-symbol-views", f"'{name}',{pos} in {objname} is a different symbol "
                    "depending on whether the patch or the module loads first",
                    fix=_candidates(records))


def _report(ctx, problem, view):
    what, kernel, fix = problem
    ctx.error("klp-symbol-resolution", what.replace("{view}", view), kernel=kernel, fix=fix)


def _resolve_in_view(objname, name, pos, records, position_attr):
    """(record the kernel picks, None) or (None, (message with {view}, kernel line, fix)) in
    the view whose ranks are ``position_attr``, as klp_find_object_symbol() decides."""
    ranked = [r for r in records if getattr(r, position_attr) is not None]
    count = len(ranked)
    if count == 0 or (pos == 0 and count > 1) or pos > count:
        return None, _view_problem(objname, name, pos, count, records)
    wanted = max(pos, 1)
    return next(r for r in ranked if getattr(r, position_attr) == wanted), None


def _view_problem(objname, name, pos, count, records):
    """Why the kernel finds no symbol for (``name``, ``pos``) among ``count`` ranked ones."""
    where = "(null)" if is_vmlinux(objname) else objname
    if count == 0:
        return (f"'{name}' is not in {objname}{{view}}",
                f"{KLP}symbol '{name}' not found in symbol table",
                f"check the object: is '{name}' really in {objname}?")
    if pos == 0:
        return (f"'{name}' is ambiguous in {objname}{{view}} ({count} matches) and "
                "position 0 needs a unique name",
                f"{KLP}unresolvable ambiguity for symbol '{name}' in object '{where}'",
                _candidates(records))
    return (f"'{name}' has {count} match{'es' if count != 1 else ''} in "
            f"{objname}{{view}}, position {pos} does not exist",
            f"{KLP}symbol position {pos} for symbol '{name}' in object '{objname}' "
            "not found", _candidates(records))


def _vmlinux_addresses_known(ctx):
    """A /proc/kallsyms dump read without privileges shows every address as 0: only trust a
    zero address when the kernel's first text symbol has a real one."""
    records = ctx.index.lookup_in("vmlinux", "_stext") or ctx.index.lookup_in("vmlinux", "_text")
    return any(r.address for r in records)


def _report_address_zero(ctx, name):
    """klp_find_object_symbol() takes address 0 for 'not found': x86-64 per-cpu symbols such as
    fixed_percpu_data sit at 0 in kallsyms, so a livepatch relocation can never reach them."""
    ctx.error("klp-symbol-resolution", f"'{name}' is at address 0 in vmlinux (a per-cpu "
              "symbol), which the livepatch core takes for 'not found'",
              kernel=f"{KLP}symbol '{name}' not found in symbol table",
              fix="reach per-cpu data through an exported accessor (this_cpu_ptr() of an "
                  "exported symbol)")


def _unranked(ctx, objname, name, pos, records):
    """Objects from an old Symbols.list: names are known, their kallsyms order and (in lists
    that name a symbol once) their number are not."""
    count = len(records)
    if count == 0:
        ctx.error("klp-symbol-resolution", f"'{name}' is not in {objname}",
                  kernel=f"{KLP}symbol '{name}' not found in symbol table")
    elif pos == 0 and count > 1:
        where = "(null)" if is_vmlinux(objname) else objname
        ctx.error("klp-symbol-resolution", f"'{name}' is ambiguous in {objname} ({count} "
                  "matches) and position 0 needs a unique name",
                  kernel=f"{KLP}unresolvable ambiguity for symbol '{name}' in object '{where}'",
                  fix="give the position; a symbol database with kallsyms order tells which")
    elif pos > 1 or count > 1:
        ctx.warning("klp-symbol-resolution", f"'{name}',{pos} in {objname}: the database has "
                    "no kallsyms order for this object, the position cannot be verified",
                    fix="build the database from the kernel's System.map or /proc/kallsyms")
    return None


def _report_missing_object(ctx, objname, name):
    if is_vmlinux(objname):
        return
    ctx.error("klp-symbol-resolution", f"object '{objname}' (for '{name}') is not in the "
              "symbol database: no module of that name exists in the target kernel",
              fix="check the module's runtime name ('-' becomes '_')")


def _candidates(records):
    """'pick the position: 1 at 0x... (t, fs/foo.c); 2 ...; then KLP_SYMPOS(...)' for a fix."""
    parts = []
    for r in sorted(records, key=lambda r: (r.position is None, r.position or 0)):
        details = [str(d) for d in (r.type_letter, r.source_file, r.section) if d]
        if not is_vmlinux(r.objname):  # module values are section offsets: show the views
            details.append(f"position {r.core_position} once live" if r.core_position
                           else "gone once live")
        address = f" at {r.address:#x}" if r.address is not None and is_vmlinux(r.objname) \
            else ""
        described = f" ({', '.join(details)})" if details else ""
        parts.append(f"{r.position if r.position is not None else '?'}{address}{described}")
    first = records[0]
    return (f"pick the position: {'; '.join(parts)}; then KLP_SYMPOS({first.name}, N) or "
            f"klp-convert convert --sympos {first.objname}:{first.name}=N")


def rule_unknown_symbols(ctx):
    """Every undefined symbol the normal loader resolves must be exported by someone
    (kernel/module/main.c simplify_symbols: 'Unknown symbol X (err -2)')."""
    imported = set(modinfo_values(ctx.modinfo, "import_ns"))
    license = modinfo_value(ctx.modinfo, "license")
    for sym in ctx.obj.symbols[1:]:
        if not _needs_export(ctx, sym):
            continue
        exports = ctx.index.exporters(sym.name)
        if not exports:
            ctx.error("unknown-symbol", f"'{sym.name}' is undefined and nobody exports it",
                      kernel=f"{ctx.name}: Unknown symbol {sym.name} (err -2)",
                      fix="convert the reference into a livepatch relocation (klp-convert convert)")
        elif not license_is_gpl_compatible(license) and all(
                "GPL" in (e.export_type or "") for e in exports):
            ctx.error("unknown-symbol", f"'{sym.name}' is exported GPL-only and the module's "
                      f"license ('{license or 'unspecified'}') is not GPL-compatible",
                      kernel=f"{ctx.name}: Unknown symbol {sym.name} (err -2)",
                      fix='MODULE_LICENSE("GPL"); (livepatches must be GPL: klp_enable_patch() '
                          'is EXPORT_SYMBOL_GPL)')
        else:
            _check_namespace(ctx, sym.name, exports, imported)


def _needs_export(ctx, sym):
    if sym.section is not None or sym.reserved_shndx != SHN_UNDEF or not sym.name:
        return False
    if sym.bind == STB_WEAK or is_klp_sym_name(sym.name):
        return False  # weak: left zero; .klp.sym.*: reported by the static rules
    # ppc64's loader turns .TOC. into an absolute symbol (module_64.c dedotify); x86 ignores
    # an unreferenced _GLOBAL_OFFSET_TABLE_ (main.c ignore_undef_symbol)
    return (ctx.obj.machine, sym.name) not in LOADER_RESOLVED


def _check_namespace(ctx, name, exports, imported):
    export = exports[0]
    namespace = getattr(export, "namespace", None)
    if namespace and namespace not in imported:
        ctx.error("unknown-symbol", f"'{name}' is exported in namespace {namespace}, which the "
                  "module does not import",
                  kernel=f"{ctx.name}: module uses symbol ({name}) from namespace {namespace}, "
                  "but does not import it.",
                  fix=f"add MODULE_IMPORT_NS({namespace});")


SYMBOL_RULES = [
    rule_vermagic,
    rule_klp_symbol_resolution,
    rule_unknown_symbols,
]
