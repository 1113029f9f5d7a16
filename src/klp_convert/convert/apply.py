"""Carry out a Plan on the ElfObject: the only place where the module is edited.

Each step is idempotent (find-or-create), so a module that already has klp sections or
.klp.sym symbols is extended, and converting a converted module changes nothing.
"""

from ..elf import (
    RelocationSection, SHF_ALLOC, SHF_GROUP, SHF_INFO_LINK, SHF_RELA_LIVEPATCH, SHN_LIVEPATCH,
)
from ..errors import RefusedError
from ..kernel.names import klp_rela_name, klp_sym_name
from ..kernel.relocs import implicit_addend_bytes

KLP_RELA_FLAGS = SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH


def apply_plan(obj, plan):
    """Rename the symbols and move their relocations into .klp.rela.<obj>.<section>."""
    conversions = plan.conversions
    for decision in conversions:
        sym = decision.symbol
        sym.name = klp_sym_name(decision.objname, decision.name, decision.sympos)
        sym.place(SHN_LIVEPATCH)
    # {id(relocation section): {id(relocation): objname}} of the relocations that move.
    moving = {}
    for decision in conversions:
        objname = decision.objname
        for sec, rel in decision.references:
            moved = moving.get(id(sec))
            if moved is None:
                moved = moving[id(sec)] = {}
            moved[id(rel)] = objname
    # Walk sources in file order and relocations in their order, so entries keep their order.
    relocation_sections = obj.relocation_sections()  # as they are before klp ones are added
    klp_sections = KlpSections(obj, relocation_sections)
    for rela in relocation_sections:
        moved = moving.get(id(rela))
        if moved is None:
            continue
        taken = klp_sections.take_over(rela, moved)  # rela is now that object's klp section
        kept = []
        with_addend = rela.with_addend
        for rel in rela.relocations:
            objname = moved.get(id(rel))
            if objname is None or objname == taken:
                kept.append(rel)
            else:
                klp = klp_sections.find_or_add(objname, rela)
                if not with_addend:
                    rel.addend = take_implicit_addend(obj, rela.target, rel)
                klp.relocations.append(rel)
        rela.relocations = kept


class KlpSections:
    """The .klp.rela section of each (object, target section): those the module already has,
    and those created on first use."""

    def __init__(self, obj, relocation_sections):
        self.obj = obj
        self.by_name = {(sec.name, id(sec.target)): sec for sec in relocation_sections}
        self.prefixes = {}  # objname -> '.klp.rela.<objname>.', checked once per object
        self.entsize = obj.codec.reloc_struct(True).size

    def take_over(self, rela, moved):
        """Turn ``rela`` itself into a klp section when all of its relocations move
        (``moved``: {id(relocation): objname} of those that move): it becomes the section of
        its first relocation's object, unless that one exists already, and keeps that
        object's entries; the others move on to their own. The module then has no emptied
        .rela section beside new ones, and a huge patch writes no extra section per
        reference. The kernel applies a klp section by its name, flag and sh_info, wherever
        it lies. Not for an SHT_REL source (implicit addends) or a member of a section group.
        Returns the object taken over for, or None."""
        relocations = rela.relocations
        if len(moved) != len(relocations) or not rela.with_addend or rela.flags & SHF_GROUP:
            return None
        objname = moved[id(relocations[0])]
        key = (self.prefix(objname) + rela.target.name, id(rela.target))
        if key in self.by_name:
            return None
        self.by_name.pop((rela.name, id(rela.target)), None)
        self.by_name[key] = rela
        rela.name = key[0]
        self.set_klp_header(rela)
        return objname

    def prefix(self, objname):
        """'.klp.rela.<objname>.', checked once per object."""
        prefix = self.prefixes.get(objname)
        if prefix is None:
            prefix = self.prefixes[objname] = klp_rela_name(objname, "")
        return prefix

    def find_or_add(self, objname, source):
        """The section for (object, the source's target), created on first use."""
        target = source.info
        # (klp_rela_name(objname, target.name), its prefix checked once per object)
        key = (self.prefix(objname) + target.name, id(target))
        sec = self.by_name.get(key)
        if sec is None:
            sec = self.by_name[key] = self.add(key[0], target)
        return sec

    def add(self, name, target):
        """Always SHT_RELA: the livepatch core applies klp sections with apply_relocate_add()
        (a REL source's addends are moved into the entries, take_implicit_addend)."""
        sec = RelocationSection(name, target=target, symtab=self.obj.symtab, with_addend=True)
        self.set_klp_header(sec)
        self.obj.sections.append(sec)
        return sec

    def set_klp_header(self, sec):
        """The flags, alignment and entry size of every klp section, new or taken over."""
        sec.flags = KLP_RELA_FLAGS
        sec.addralign = self.obj.codec.word_size
        sec.entsize = self.entsize


def take_implicit_addend(obj, target, rel):
    """An SHT_REL relocation keeps its addend in the bytes it patches; a klp section is
    SHT_RELA, so read the addend out and zero the field (the kernel wants it zero)."""
    size = implicit_addend_bytes(obj.machine, rel.type)
    if size is None:
        raise RefusedError(obj.path, f"cannot move the SHT_REL relocation of type {rel.type} "
                                     f"at {target.name}+{rel.offset:#x} into a klp section: "
                                     f"its addend field is unknown for this architecture")
    order = "big" if obj.big_endian else "little"
    data = bytearray(target.data)
    field = data[rel.offset:rel.offset + size]
    addend = int.from_bytes(field, order, signed=True)
    data[rel.offset:rel.offset + size] = bytes(size)
    target.data = bytes(data)
    return addend
