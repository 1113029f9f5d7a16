"""Read the inputs of a symbol database: vmlinux (ELF, System.map or /proc/kallsyms), module files,
Module.symvers and old Symbols.list files. Each reader returns ObjectSymbols (model.py) in the
kernel's order; the kernel's rules come from kernel/kallsyms.py and kernel/modules.py.
"""

import mmap
import os
from itertools import compress, repeat
from operator import and_, itemgetter

from ..compression import MODULE_SUFFIXES, compressed_kind, read_module_file
from ..elf.constants import STB_LOCAL, STT_FILE, STT_SECTION
from ..elf.reader import scan_symbols
from ..patterns import Pattern
from ..kernel.generations import DEFAULT, rules_for_release
from ..kernel.kallsyms import (
    KALLSYMS_TABLE_LABELS, absolute_percpu, kallsyms_reads, kallsyms_table, mksysmap_keeps,
    nm_letter, section_letter, system_map_order,
)
from ..kernel.modules import core_sections, in_core_section
from ..kernel.names import module_runtime_name
from ..text import decode_name
from .model import CORE, VMLINUX, ObjectSymbols, pack_flags
# What a conversion needs of this module lives apart (index.py imports it alone):
from .inputs import (  # noqa: F401 (and is this module's API too)
    KSYMTAB_PREFIX, SYMBOLS_LIST_HEADER, SymdbError, is_symbols_list, read_head, read_text_bytes,
)
from .inputs import open_input as _open_input

# /proc/kallsyms lists these pseudo-modules after the real ones: BPF programs and trampolines.
KALLSYMS_PSEUDO_MODULES = ("bpf", "__builtin__ftrace", "__builtin__kprobes")
_BLANKS = Pattern("[ \t]+")
_HEX = Pattern("[0-9a-fA-F]+")


# -- vmlinux ----------------------------------------------------------------------------------

def read_vmlinux(path, want_listed=False, rules=None):
    """vmlinux from an ELF file, a System.map or a /proc/kallsyms dump (detected by content).

    ``rules``: the kernel generation's KallsymsRules (kernel/kallsyms.py), None to take them
    from the release the input names (vmlinux_release()). Returns a list of ObjectSymbols:
    vmlinux first, then the modules a kallsyms dump shows.
    """
    head = read_head(path, 0x210)
    if head[:4] == b"\x7fELF":
        return [read_vmlinux_elf(path, want_listed, rules)]
    _refuse_kernel_image(path, head)
    lines = _text_lines(path)
    _refuse_placeholder(path, lines)
    if _looks_like_kallsyms(lines):
        return read_kallsyms(path, lines)
    return [read_system_map(path, lines, want_listed, rules)]


RUNNING_KALLSYMS = "/proc/kallsyms"


def vmlinux_release(path):
    """The kernel release a vmlinux input names, or None: an ELF vmlinux's banner
    (init/version.c linux_banner, 'Linux version 6.12.118+deb13-amd64 (...'), or the file
    name of a System.map as installed (/boot/System.map-<release>, or
    .../modules/<release>/System.map in Debian's -dbg packages since 7.x), or the running
    kernel's release for /proc/kallsyms itself (a copy of it says nothing). Raises SymdbError
    when the file cannot be read."""
    if os.path.realpath(str(path)) == RUNNING_KALLSYMS:  # the running kernel's own table
        return os.uname().release
    if read_head(path, 4) == b"\x7fELF":
        with _mapped(path) as data:
            return _banner_release(data, scan_symbols(data, str(path), allow_executable=True))
    if os.path.basename(str(path)).startswith("System.map"):
        return vmlinux_release_from_name(path) or _kbuild_tree_release(path)
    return None


def _kbuild_tree_release(path):
    """The release of the kernel build tree a System.map lies in, from the tree's
    include/config/kernel.release (written by kbuild's top Makefile), or None."""
    release_file = os.path.join(os.path.dirname(os.path.abspath(str(path))),
                                "include", "config", "kernel.release")
    try:
        with open(release_file, "rb") as f:
            release = f.read(256).decode("ascii", "replace").strip()
    except OSError:
        return None
    return release if release[:1].isdigit() and "\n" not in release else None


_BANNER = Pattern(rb"Linux version (\d+\.\d+[^\s\0]*) \(")


def _banner_release(data, scan):
    for index, (name, _type, _flags) in enumerate(scan.sections):
        if name == ".rodata":
            offset, size = scan.extents[index]
            match = _BANNER.search(data, offset, offset + size)
            return match.group(1).decode("ascii", "replace") if match else None
    return None


def _mapped(path):
    """The file mapped read-only: an mmap, which `with` closes."""
    with _open_input(path) as f:
        try:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError) as e:
            raise SymdbError(path, f"cannot map the file: {e}") from None


def _kallsyms_rules(release):
    """The KallsymsRules of the generation a release names (None: the default generation)."""
    return (rules_for_release(release).generation if release else DEFAULT).kallsyms


def read_vmlinux_elf(path, want_listed=False, rules=None):
    """vmlinux's kallsyms table computed from its ELF symbol table: nm's letters and order,
    mksysmap's and kallsyms' filters (``rules``, see read_vmlinux), and each local's source
    file from its STT_FILE block."""
    scan, size, entries, listed, files, rules = _elf_nm_listing(path, rules)
    exports = [ksymtab_export(e[2], scan.sections[e[6]][0]) for e in entries
               if e[2].startswith(KSYMTAB_PREFIX) and e[6] < len(scan.sections)]
    table = kallsyms_table(entries, rules, absolute_percpu(entries, rules, scan.machine))
    rows = [(name, pack_flags(True, letter, info), value, sym_size, None, source)
            for value, letter, name, info, sym_size, source, _shndx in table]
    return ObjectSymbols(VMLINUX, "vmlinux", str(path), rows, exports=exports,
                         listed_names=sorted(listed, key=_c_collation) if want_listed else None,
                         input_size=size, machine=scan.machine, files=files)


def system_map_view(path, rules=None):
    """What scripts/mksysmap would write for this vmlinux: (address, letter, name, st_info,
    size, source file index, section index) in System.map order."""
    return _elf_nm_listing(path, rules, for_kallsyms=False)[2]


def _elf_nm_listing(path, rules, for_kallsyms=True):
    """(scan, file size, entries, nm-listed names, STT_FILE names, KallsymsRules): the entries
    are the nm lines scripts/kallsyms reads (``for_kallsyms``, see
    KallsymsRules.reads_system_map), else System.map's. ``rules`` None: those of the release
    the vmlinux's banner names."""
    with _mapped(path) as data:
        scan = scan_symbols(data, str(path), allow_executable=True)
        size = len(data)
        if rules is None:
            rules = _kallsyms_rules(_banner_release(data, scan))
    letters = [section_letter(n, t, fl) for n, t, fl in scan.sections]
    keeps = kallsyms_reads if for_kallsyms else mksysmap_keeps
    names, values, sizes, infos, _others, _raw = scan.columns
    entries, listed, files = [], [], []
    source_file = None
    for name, value, sym_size, info, shndx in zip(names, values, sizes, infos, scan.shndxs):
        if info & 0xF == STT_FILE:
            source_file = len(files)
            files.append(name)
            continue
        letter = nm_letter(info, shndx, letters)
        if letter is None or not name:
            continue
        listed.append(name)
        if keeps(name, letter, rules):
            local = info >> 4 == STB_LOCAL
            entries.append((value, letter, name, info, sym_size,
                            source_file if local else None, shndx))
    return scan, size, system_map_order(entries), listed, files, rules


def read_system_map(path, lines=None, want_listed=False, rules=None):
    """vmlinux from System.map (`nm -n` order after scripts/mksysmap), kallsyms' filter and
    sort applied (``rules``, see read_vmlinux). System.map has no sizes, bindings or source
    files."""
    rules = rules or _kallsyms_rules(vmlinux_release(path))
    lines = _text_lines(path) if lines is None else lines
    _refuse_placeholder(path, lines)
    entries = []
    for number, line in enumerate(lines, 1):
        address, letter, name, module = _parse_symbol_line(path, number, line)
        if module is not None:
            raise SymdbError(path, f"line {number}: a module symbol in a System.map")
        if mksysmap_keeps(name, letter, rules):
            entries.append((address, letter, name))
    if not entries:
        raise SymdbError(path, "no symbols")
    table = kallsyms_table(entries, rules, absolute_percpu(entries, rules, None))
    rows = [(name, pack_flags(True, letter), address, None, None, None)
            for address, letter, name in table]
    exports = [(n[len(KSYMTAB_PREFIX):], None, None) for _a, _l, n in entries
               if n.startswith(KSYMTAB_PREFIX)]
    listed = sorted((n for _a, _l, n in entries), key=_c_collation) if want_listed else None
    return ObjectSymbols(VMLINUX, "vmlinux", str(path), rows, exports=exports,
                         listed_names=listed, input_size=os.path.getsize(path))


def read_kallsyms(path, lines=None):
    """A /proc/kallsyms dump: vmlinux lines in kallsyms order, then `[module]` lines, each
    module's in its core symbol table order (a live module has only its core view, so full-view
    positions are unknown for modules from this source)."""
    lines = _text_lines(path) if lines is None else lines
    vmlinux_rows, modules = [], {}
    for number, line in enumerate(lines, 1):
        address, letter, name, module = _parse_symbol_line(path, number, line)
        row = (name, pack_flags(True, letter), address, None, None, None)
        if module is None:
            vmlinux_rows.append(row)
        elif module not in KALLSYMS_PSEUDO_MODULES:
            modules.setdefault(module, []).append(row)
    if not vmlinux_rows:
        raise SymdbError(path, "no vmlinux symbols")
    if not any(row[2] for row in vmlinux_rows):
        # kernel.kptr_restrict: without CAP_SYSLOG every address reads as 0. The order is still
        # right, but the addresses the database promises (and System.map checks) are not.
        raise SymdbError(path, "every address is 0: the kernel hides them from users without "
                               "CAP_SYSLOG (kernel.kptr_restrict); read it as root")
    exports = [(r[0][len(KSYMTAB_PREFIX):], None, None) for r in vmlinux_rows
               if r[0].startswith(KSYMTAB_PREFIX)]
    objects = [ObjectSymbols(VMLINUX, "vmlinux", str(path), vmlinux_rows, exports=exports,
                             input_size=os.path.getsize(path))]
    for module in sorted(modules):
        objects.append(ObjectSymbols(module, "module", f"{path}[{module}]", modules[module],
                                     positions_known="core"))
    return objects


def _looks_like_kallsyms(lines):
    """A /proc/kallsyms dump has `\t[module]` lines; or two names at one address out of nm's
    C order (kallsyms sorts ties by weakness and leading underscores: `startup_64` before
    `_stext`; an unprivileged dump shows every address as 0); or (until 6.1, whose kallsyms
    left its own tables out) it lacks the kallsyms tables System.map always lists. A kernel
    without those tables has no kallsyms, hence no livepatch, so the test cannot mislead."""
    tables = False
    previous = None
    for line in lines:
        if line.endswith("]") and "\t[" in line:
            return True
        fields = _fields(line)
        if len(fields) != 3:
            continue
        address, _letter, name = fields
        key = name.encode("utf-8", "surrogateescape")
        if previous is not None and previous[0] == address and key < previous[1]:
            return True
        previous = address, key
        if not tables and name.startswith("kallsyms_"):
            tables = name in KALLSYMS_TABLE_LABELS
    return not tables


# What a compressed kernel starts with: an x86 bzImage (MZ, then the setup header's "HdrS" at
# 0x202), an arm64/riscv EFI zboot or Image ("MZ"), or a compressed raw vmlinux.
def _refuse_kernel_image(path, head):
    """A vmlinuz (what the boot loader loads) has no symbol table: say what to give instead."""
    if head[:2] == b"MZ" or head[0x202:0x206] == b"HdrS":
        what = "a bootable kernel image (vmlinuz)"
    else:
        packed = compressed_kind(head)
        if packed is None:
            return
        what = f"a {packed[0]}-compressed file"
    release = vmlinux_release_from_name(path)
    package = f"linux-image-{release}-dbg" if release else "linux-image-<release>-dbg"
    raise SymdbError(path, f"{what}, which has no symbol table: give the unstripped vmlinux "
                           f"or the System.map of the {package} package (under "
                           "/usr/lib/debug/), or /proc/kallsyms of the running kernel")


def vmlinux_release_from_name(path):
    """'6.12.118+deb13-amd64' from vmlinuz-6.12.118+deb13-amd64 or .../modules/<release>/vmlinuz."""
    directory, name = os.path.split(os.path.abspath(str(path)))
    for prefix in ("vmlinuz-", "vmlinux-", "System.map-"):
        if name.startswith(prefix) and name[len(prefix):][:1].isdigit():
            return name[len(prefix):]
    parent, release = os.path.split(directory)
    if os.path.basename(parent) == "modules" and release[:1].isdigit():
        return release
    return None


# Debian's images install a one-line System.map that points at the -dbg package.
_PLACEHOLDER = Pattern(r"The real System\.map is in the (\S+) package")


def _refuse_placeholder(path, lines):
    """Debian's placeholder System.map: say where the real one is."""
    if len(lines) > 2:
        return
    match = next(filter(None, (_PLACEHOLDER.search(line) for line in lines)), None)
    if match is None:
        return
    package = match.group(1)
    release = vmlinux_release(path)
    if "<version>" in package and release:
        package = f"linux-image-{release}-dbg"
    where = ("usr/lib/debug/boot/System.map-<release> or "
             "usr/lib/debug/lib/modules/<release>/System.map")
    raise SymdbError(path, f"Debian's placeholder System.map: the real System.map is in the "
                           f"{package} package ({where}); give that file, the unstripped "
                           "vmlinux beside it, or /proc/kallsyms")


def _parse_symbol_line(path, number, line):
    """(address, letter, name, module or None) of a System.map or kallsyms line."""
    fields = _fields(line)
    module = None
    if len(fields) == 4 and fields[3].startswith("[") and fields[3].endswith("]"):
        module = fields[3][1:-1]
        fields = fields[:3]
    if len(fields) != 3 or len(fields[1]) != 1 or module == "":
        raise SymdbError(path, f"line {number}: expected 'ADDRESS TYPE NAME', got "
                               f"{_shorten(line)!r}")
    if not _HEX.fullmatch(fields[0]):  # int(x, 16) would also take '-5', '0x5', '1_0'
        raise SymdbError(path, f"line {number}: '{_shorten(fields[0])}' is not a hexadecimal "
                               f"address")
    address = int(fields[0], 16)
    if address >= 1 << 64:  # no kernel has wider addresses; SQLite could not store it
        raise SymdbError(path, f"line {number}: address '{_shorten(fields[0])}' is wider than "
                               f"64 bits")
    return address, fields[1], fields[2], module


# -- modules ----------------------------------------------------------------------------------

def find_module_files(paths):
    """[(path, key)] for every module under the given directories and files: ``key`` is the path
    relative to the directory given (kbuild sorted modules.order by that path)."""
    found = []
    for given in paths:
        given = str(given)
        if os.path.isdir(given):
            for root, dirs, files in os.walk(given):
                dirs.sort()
                # os.walk's root is ``given`` joined with the subdirectories walked into
                inside = os.path.relpath(root, given)
                for name in files:
                    if name.endswith(MODULE_SUFFIXES):
                        found.append((os.path.join(root, name), name if inside == "."
                                      else os.path.join(inside, name)))
        elif os.path.exists(given):
            found.append((given, os.path.basename(given)))
        else:
            raise SymdbError(given, "no such file or directory")
    found.sort(key=lambda item: _c_collation(item[1]))
    return found


def read_module_bytes(path):
    """The ELF bytes of a module, decompressed according to its suffix (compression.py)."""
    return read_module_file(path, SymdbError)


def read_module(path, data=None, want_listed=False):
    """One module's symbols in .symtab order with their core-view flags, or None for a livepatch
    module (kbuild's recipe left those out of Symbols.list too)."""
    path = str(path)
    data = read_module_bytes(path) if data is None else data
    scan = scan_symbols(data, path)
    modinfo = module_info(scan, data)
    if modinfo.get("livepatch") == "Y":
        return None
    name = modinfo.get("name") or module_runtime_name(path)
    rows, exports, listed, section_names, files = _module_rows(scan, want_listed)
    return ObjectSymbols(name, "module", path, rows, exports=exports,
                         sections=section_names, files=files,
                         listed_names=sorted(listed, key=_c_collation) if want_listed else None,
                         input_size=len(data), machine=scan.machine,
                         vermagic=modinfo.get("vermagic"))


def _module_rows(scan, want_listed):
    """(rows, exports, nm-listed names, section names, source files) of a module, in .symtab
    order (the full view); rows index the returned section and file name lists, which hold
    only the sections that define a named symbol (a lookup decodes them: keep them short).

    This runs for every symbol of a whole distribution's modules (about a million), so the
    columns are filtered and combined in C loops (compress, map, zip), and what depends only
    on (st_info, section) is computed once per distinct pair.
    """
    sections = scan.sections
    core = core_sections(sections, scan.machine)
    letters = [section_letter(n, t, fl) for n, t, fl in sections]
    names, values, sizes, infos, _others, _raw = scan.columns
    shndxs = scan.shndxs
    # A row per named, defined symbol (section symbols have no name: none can ever match them).
    kept = list(map(and_, map(bool, names), map(bool, shndxs)))
    keys = list(compress(zip(infos, shndxs), kept))
    used = {}  # section index -> position in the short list of sections that define symbols
    # In order of first use, as the short section list must be.
    props_of = {key: _symbol_props(*key, sections, letters, core, used)
                for key in dict.fromkeys(keys)}
    props = list(map(props_of.__getitem__, keys))
    kept_names = list(compress(names, kept))
    files, sources = _source_files(kept_names, props, props_of)
    rows = list(zip(kept_names, map(itemgetter(0), props), compress(values, kept),
                    compress(sizes, kept), map(itemgetter(1), props), sources))
    exports = []
    if any(p[4] for p in props_of.values()):
        named = map(str.startswith, kept_names, repeat(KSYMTAB_PREFIX))
        exports = [ksymtab_export(name, sections[key[1]][0]) for name, key, p in
                   compress(zip(kept_names, keys, props), named) if p[4]]
    listed = []
    if want_listed:  # sorted by the caller: the order here does not matter
        listed = [name for name, info, shndx in zip(names, infos, shndxs)
                  if not shndx and name and info & 0xF != STT_SECTION]
        listed += compress(kept_names, map(itemgetter(5), props))
    return rows, exports, listed, [sections[i][0] for i in used], files


def _source_files(kept_names, props, props_of):
    """(STT_FILE names, each row's index into them or None): a local symbol belongs to the
    last STT_FILE symbol before it. Modules stripped of debug information (Debian's) have none,
    and then no row has a source file."""
    files = []
    if not any(p[3] for p in props_of.values()):
        return files, repeat(None)
    sources, current = [], None
    for name, (_flags, _section, file_block, is_file, _ksymtab, _listed) in \
            zip(kept_names, props):
        if is_file:
            current = len(files)
            files.append(name)
        sources.append(current if file_block else None)
    return files, sources


def _symbol_props(info, shndx, sections, letters, core, used):
    """(row flags, short section index or None, belongs to the STT_FILE block, is STT_FILE, in a
    __ksymtab* section, listed by nm) for a named, defined symbol of this st_info and section;
    ``used`` gains the section if it is new."""
    sym_type = info & 0xF
    section = used.setdefault(shndx, len(used)) if shndx < len(sections) else None
    letter = nm_letter(info, shndx, letters)
    return (pack_flags(in_core_section(shndx, core), letter, info), section,
            info >> 4 == STB_LOCAL and sym_type != STT_FILE, sym_type == STT_FILE,
            section is not None and sections[shndx][0].startswith("__ksymtab"),
            letter is not None)


def module_info(scan, data, keys=("name", "vermagic", "livepatch")):
    """The values of these keys in .modinfo (the last one wins, as modinfo(8) shows them).
    A driver's .modinfo holds hundreds of aliases: only the keys asked for are looked up."""
    for index, (name, _t, _f) in enumerate(scan.sections):
        if name == ".modinfo":
            offset, size = scan.extents[index]
            raw = b"\0" + bytes(data[offset:offset + size])  # every entry follows a NUL
            found = {}
            for key in keys:
                at = raw.rfind(b"\0" + key.encode() + b"=")
                if at >= 0:
                    start = at + len(key) + 2
                    end = raw.find(b"\0", start)
                    found[key] = raw[start:end if end >= 0 else len(raw)].decode(
                        "utf-8", "surrogateescape")
            return found
    return {}


def ksymtab_export(symbol_name, section_name):
    """(exported name, export type, None) for a `__ksymtab_<name>` symbol: EXPORT_SYMBOL_GPL
    entries live in section __ksymtab_gpl; the namespace is not in the symbol table."""
    export_type = "EXPORT_SYMBOL_GPL" if section_name.startswith("__ksymtab_gpl") \
        else "EXPORT_SYMBOL"
    return symbol_name[len(KSYMTAB_PREFIX):], export_type, None


def kbuild_object_name(path):
    """The name kbuild's Symbols.list recipe wrote for a module: `basename` without .ko, '-' kept."""
    base = os.path.basename(path)
    for suffix in MODULE_SUFFIXES[::-1]:
        if base.endswith(suffix):
            return base[:-len(suffix)]
    return base


# -- Module.symvers -----------------------------------------------------------------------------

def read_symvers(path, allow_empty=False):
    """{name: [(objname, export_type, namespace)]} from Module.symvers
    (crc, name, module, export type, namespace; tab-separated). An external module's build
    writes an empty one when it exports nothing (``allow_empty``)."""
    exports = {}
    for number, line in enumerate(_text_lines(path), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 4 or not fields[1] or not fields[2] \
                or not fields[3].startswith("EXPORT_SYMBOL"):
            raise SymdbError(path, f"line {number}: expected 'CRC<tab>NAME<tab>MODULE<tab>"
                                   f"EXPORT_TYPE[<tab>NAMESPACE]', got {_shorten(line)!r}")
        module = fields[2]
        objname = VMLINUX if module == VMLINUX else module_runtime_name(module)
        namespace = fields[4] if len(fields) > 4 and fields[4] else None
        exports.setdefault(fields[1], []).append((objname, fields[3], namespace))
    if not exports and not allow_empty:
        raise SymdbError(path, "no exports")
    return exports


# -- old Symbols.list -------------------------------------------------------------------------

def read_symbols_list(path):
    """ObjectSymbols from an old Symbols.list: names only, so positions are unknown. Object
    names are mapped to runtime names ('-' -> '_'), which kbuild's recipe forgot to do."""
    lines = _text_lines(path)
    if not lines or not lines[0].startswith(SYMBOLS_LIST_HEADER):
        raise SymdbError(path, f"not a Symbols.list (first line is not '{SYMBOLS_LIST_HEADER}')")
    objects, current = {}, None
    for number, line in enumerate(lines[1:], 2):
        name = line.strip(" \t")
        if not name:
            continue
        if name.startswith("*"):
            objname = name[1:]
            objname = objname if objname == VMLINUX else module_runtime_name(objname)
            if not objname:
                raise SymdbError(path, f"line {number}: empty object name")
            current = objects.setdefault(objname, [])
        elif current is None:
            raise SymdbError(path, f"line {number}: symbol '{_shorten(name)}' before the first "
                                   f"'*object' line")
        else:
            current.append((name, CORE, None, None, None, None))
    result = []
    for objname, rows in objects.items():
        exports = [(r[0][len(KSYMTAB_PREFIX):], None, None) for r in rows
                   if r[0].startswith(KSYMTAB_PREFIX)]
        result.append(ObjectSymbols(objname, VMLINUX if objname == VMLINUX else "module",
                                    str(path), rows, positions_known=False, exports=exports))
    return result


def format_symbols_list(objects):
    """The old text format, as kbuild's recipe wrote it: vmlinux then each module in the order
    given, every name nm lists (undefined ones included), in nm's order (C collation)."""
    return SYMBOLS_LIST_HEADER + "\n" + "".join(symbols_list_block(obj) for obj in objects)


def symbols_list_block(obj):
    """One object's part of a Symbols.list: '*<title>' and its names, one a line."""
    title = VMLINUX if obj.kind == VMLINUX else kbuild_object_name(obj.path)
    names = obj.listed_names if obj.listed_names is not None else \
        sorted((r[0] for r in obj.rows), key=_c_collation)
    return "\n".join(["*" + title, *names]) + "\n"


# -- helpers ------------------------------------------------------------------------------------

def _text_lines(path):
    """The lines of a text input. Only LF (and a CR before it) ends a line: str.splitlines()
    would also split at bytes such as 0x1c or 0x85, which a name may hold."""
    lines = decode_name(read_text_bytes(path)).split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _fields(line):
    """A text line's blank-separated fields: blanks are spaces and tabs only (str.split()
    would also split at control characters a name may hold)."""
    fields = line.split()
    # str.split() is four times faster than the regular expression: keep its answer when
    # the line holds no blank but spaces and tabs (every real System.map line).
    if sum(map(len, fields)) + line.count(" ") + line.count("\t") == len(line):
        return fields
    return [field for field in _BLANKS.split(line) if field]


def _c_collation(name):
    """Sort key of LC_COLLATE=C (byte order), which kbuild sets for nm and sort."""
    return name.encode("utf-8", "surrogateescape")


def _shorten(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = [
    "SymdbError", "read_vmlinux", "read_vmlinux_elf", "system_map_view", "read_system_map",
    "read_kallsyms", "find_module_files", "read_module", "read_module_bytes", "read_symvers",
    "read_symbols_list", "is_symbols_list", "format_symbols_list", "symbols_list_block",
    "kbuild_object_name",
    "read_head",
]
