"""`klp-convert show MODULE`: the livepatch relocations of a module, grouped like the talk's slide."""

import json
import sys

from ..elf import ElfObject
from ..kernel.names import KlpName, is_klp_rela_name, parse_klp_rela_name
from ..kernel.relocs import reloc_type_name
from . import say


# The arguments that name files, by their argparse dest (cli.py refuses an empty one).
FILE_ARGUMENTS = {"module": "MODULE"}


def register(sub):
    p = sub.add_parser(
        "show", help="list a module's livepatch relocations by object and section",
        description="List the livepatch relocations (.klp.rela.* sections) of a module, grouped "
                    "by object and target section, or (--disassemble) objdump's listing with "
                    "every klp relocation shown at its offset.")
    p.add_argument("module", metavar="MODULE", help="a livepatch module (.ko)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--disassemble", action="store_true",
                   help="objdump -d's listing with every relocation (klp ones too) at its "
                        "offset")
    p.set_defaults(run=run)


def klp_relocation_groups(obj):
    """[(objname or None, section, [Relocation...])] for every .klp.rela. section, in file order."""
    groups = []
    for sec in obj.relocation_sections():
        if not is_klp_rela_name(sec.name):
            continue
        try:
            objname = parse_klp_rela_name(sec.name)
        except KlpName:
            objname = None
        groups.append((objname, sec, sec.relocations))
    return groups


def run(args):
    obj = ElfObject.read(args.module)
    if args.disassemble:
        from ..disassemble import disassembly
        for line in disassembly(obj):
            say(line.expandtabs(8))  # tabs as objdump lays them out; escape() would show \t
        return 0
    groups = klp_relocation_groups(obj)
    if args.json:
        doc = {"module": args.module, "sections": [_section_json(obj, o, s, r)
                                                   for o, s, r in groups]}
        json.dump(doc, sys.stdout, indent=2, sort_keys=True)
        print()
        return 0
    if not groups:
        say(f"{args.module}: no livepatch relocations")
        return 0
    for objname, sec, relocs in groups:
        target = sec.target.name if sec.target is not None else "?"
        count = f"{len(relocs)} entr{'y' if len(relocs) == 1 else 'ies'}"
        say(f"Relocation section '{sec.name}' (object {objname or '?'}, for {target}) "
            f"contains {count}:")
        say(f"  {'Offset':<18} {'Type':<24} Symbol's Name + Addend")
        for rel in relocs:
            addend = rel.addend or 0
            sign = "-" if addend < 0 else "+"
            say(f"  {rel.offset:#018x} {reloc_type_name(obj.machine, rel.type):<24} "
                f"{rel.symbol.name} {sign} {abs(addend)}")
        say()
    return 0


def _section_json(obj, objname, sec, relocs):
    return {
        "name": sec.name,
        "object": objname,
        "target": sec.target.name if sec.target is not None else None,
        "flags": sec.flags,
        "relocations": [
            {"offset": r.offset, "type": reloc_type_name(obj.machine, r.type),
             "type_number": r.type, "symbol": r.symbol.name, "addend": r.addend}
            for r in relocs
        ],
    }
