from klp_convert.kernel.generations import GENERATIONS, LINUX_6_1
from klp_convert.kernel.special_sections import SPECIAL_SECTIONS
from klp_convert.kernel.special_sections import special_section_for as special_in


def special_section_for(name, generation=LINUX_6_1):
    return special_in(name, generation.special_sections)


def test_jump_table_names_static_key_enabled():
    special = special_section_for("__jump_table")
    assert special.name == "__jump_table"
    assert "static_key_enabled(" in special.advice


def test_suffixed_name_matches_its_base():
    assert special_section_for(".altinstructions.foo").name == ".altinstructions"
    assert special_section_for(".orc_unwind_ip").name == ".orc_unwind_ip"


def test_ordinary_sections_are_not_special():
    for name in (".text", ".text.foo", ".data", ".rodata.str1.1", "__jump_tablex", ".init.text"):
        assert special_section_for(name) is None


def test_every_entry_tells_what_to_do():
    for name, special in SPECIAL_SECTIONS.items():
        assert special.name == name and special.what and special.advice


def test_every_generations_section_is_described():
    for generation in GENERATIONS:
        assert generation.special_sections <= set(SPECIAL_SECTIONS), generation.name
