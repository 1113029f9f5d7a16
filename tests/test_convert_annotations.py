"""Conversion driven by annotations only (`klp-convert IN OUT`, no database), on real gcc
output for little- and big-endian ELF64 and for ELF32 with SHT_REL."""

import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from klp_convert.cli import main
from klp_convert.kernel import installed as kernel_installed
from support.toolchains import compile_c, compile_livepatch, readelf_clean

DATA = Path(__file__).parent / "data" / "annotated"
SHF_RELA_LIVEPATCH = 0x00100000


def klp_view(path):
    """{section name: (flags, link name, info name, entsize, [(offset, type, symbol)])}."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        out = {}
        for sec in elf.iter_sections():
            if sec["sh_type"] not in ("SHT_RELA", "SHT_REL"):
                continue
            entries = [(r["r_offset"], r["r_info_type"],
                        symtab.get_symbol(r["r_info_sym"]).name)
                       for r in sec.iter_relocations()]
            out[sec.name] = (sec["sh_flags"], elf.get_section(sec["sh_link"]).name,
                             elf.get_section(sec["sh_info"]).name, sec["sh_entsize"], entries)
        symbols = {s.name: s for s in symtab.iter_symbols()}
        return out, symbols, [s.name for s in elf.iter_sections()], elf.elfclass


@pytest.fixture(params=["x86_64", "s390x", "i686"])
def target(request):
    return request.param


def test_all_families_convert(target, tmp_path):
    src = compile_livepatch(target, DATA / "livepatch.c", tmp_path / "lp.o")
    before, _, _, _ = klp_view(src)
    out = tmp_path / "lp-out.o"
    assert main([str(src), str(out)]) == 0
    readelf_clean(out)
    after, symbols, names, elfclass = klp_view(out)

    assert not [n for n in names if n.startswith(".klp.module_relocs")
                or n.endswith(".klp.module_relocs.vmlinux")]
    assert "vmlinux_relocs" not in symbols and "foo_relocs" not in symbols
    renamed = {"hats": ".klp.sym.vmlinux.hats,1",
               "pretzel_logic": ".klp.sym.vmlinux.pretzel_logic,0",
               "count_it": ".klp.sym.foo.count_it,2",
               ".klp.sym.rela.vmlinux.vmlinux.name.12345,2": ".klp.sym.vmlinux.name.12345,2",
               ".klp.sym.rela.vmlinux.vmlinux.num_socks_private,0":
                   ".klp.sym.vmlinux.num_socks_private,0"}
    for new in renamed.values():
        assert symbols[new]["st_shndx"] == 0xFF20, new
    # every moved relocation, in its original order, now in the klp section of its object
    expected = {}
    for name, (_f, _l, info, _e, entries) in before.items():
        if ".klp.module_relocs" in name or name.endswith("eh_frame"):
            continue
        for off, rtype, sym in entries:
            if sym in renamed:
                obj = renamed[sym].split(".")[3]
                expected.setdefault(f".klp.rela.{obj}.{info}", []).append(
                    (off, rtype, renamed[sym]))
    klp = {n: v for n, v in after.items() if n.startswith(".klp.rela.")}
    assert sorted(klp) == sorted(expected)
    entsize = 24 if elfclass == 64 else 12  # klp sections are SHT_RELA, even from SHT_REL
    for name, (flags, link, info, ent, entries) in klp.items():
        assert flags & SHF_RELA_LIVEPATCH and flags & 0x2 and flags & 0x40, name
        assert link == ".symtab" and ent == entsize
        assert entries == expected[name]
    # unannotated references stay with the module loader
    kept = [e for v in after.values() for e in v[4] if e[2] in ("exported_num_socks",
                                                                 "type_show")]
    assert kept and all(not n.startswith(".klp") for n, v in after.items()
                        for e in v[4] if e in kept)


def test_rerun_is_a_noop_and_output_is_deterministic(tmp_path):
    src = compile_livepatch("x86_64", DATA / "livepatch.c", tmp_path / "lp.o")
    one, two, again = tmp_path / "1.o", tmp_path / "2.o", tmp_path / "3.o"
    assert main([str(src), str(one)]) == 0
    assert main([str(src), str(two)]) == 0
    assert one.read_bytes() == two.read_bytes()
    assert main(["convert", str(one), "-o", str(again)]) == 0
    assert again.read_bytes() == one.read_bytes()


def test_in_place_and_dry_run(tmp_path, capsys):
    src = compile_livepatch("x86_64", DATA / "livepatch.c", tmp_path / "lp.o")
    original = src.read_bytes()
    assert main(["convert", "--dry-run", str(src)]) == 0
    assert src.read_bytes() == original
    plan = capsys.readouterr().out
    assert "hats -> vmlinux,1: KLP_SYMPOS in .klp.module_relocs.vmlinux" in plan
    assert "name.12345 -> vmlinux,2: KLP_RELOC_SYMBOL (',' spelling)" in plan
    assert main(["convert", str(src), "-o", str(src)]) == 0
    assert src.read_bytes() != original
    assert [p.name for p in tmp_path.iterdir()] == ["lp.o"]
    readelf_clean(src)


def test_tools_read_the_output(tmp_path):
    """objdump, gdb and readelf open it without complaint (binutils bz-24456 in the talk)."""
    src = compile_livepatch("x86_64", DATA / "livepatch.c", tmp_path / "lp.o", ["-g"])
    out = tmp_path / "out.o"
    assert main([str(src), str(out)]) == 0
    readelf_clean(out)
    dump = subprocess.run(["objdump", "-dr", str(out)], capture_output=True, text=True)
    assert dump.returncode == 0 and not dump.stderr, dump.stderr
    assert "<patched_vmlinux>:" in dump.stdout
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-ex", "info functions patched",
                          str(out)], capture_output=True, text=True)
    assert gdb.returncode == 0 and not gdb.stderr.strip(), gdb.stderr
    assert "patched_vmlinux" in gdb.stdout


def test_dot_spelling_without_database(tmp_path, capsys):
    src = compile_livepatch("x86_64", DATA / "livepatch-dot.c", tmp_path / "lp.o")
    out = tmp_path / "out.o"
    assert main([str(src), str(out)]) == 0
    _, symbols, _, _ = klp_view(out)
    assert ".klp.sym.vmlinux.foo.isra.0,3" in symbols
    assert ".klp.sym.vmlinux.hats,0" in symbols


MODINFO = 'static const char mi[] __attribute__((used, section(".modinfo"))) = "livepatch=Y";\n'

REFUSALS = {
    "conflict": ("""#include "klp-convert.h"
extern int hats;
KLP_MODULE_RELOC(vmlinux) a[] = { KLP_SYMPOS(hats, 1) };
KLP_MODULE_RELOC(vmlinux) b[] = { KLP_SYMPOS(hats, 2) };
int f(void) { return hats; }
""", "conflicting annotations for 'hats': vmlinux position "),
    "unreferenced": ("""#include "klp-convert.h"
extern int hats;
KLP_MODULE_RELOC(vmlinux) a[] = { KLP_SYMPOS(hats, 1) };
int f(void) { return 0; }
""", "annotation for 'hats', which the module does not otherwise reference"),
    "cross_object": ("""#include "klp-convert.h"
extern int x KLP_RELOC_SYMBOL(foo, vmlinux, jiffies_private);
int f(void) { return x; }
""", "a reference patched in 'foo' to a symbol of 'vmlinux' breaks the kernel's rule"),
    "long_object": ("""#include "klp-convert.h"
extern int hats;
KLP_MODULE_RELOC(a_module_name_that_is_much_longer_than_the_kernel_allows_for_x) a[] = {
    KLP_SYMPOS(hats, 1) };
int f(void) { return hats; }
""", "is longer than 55 characters"),
    "comma_in_name": ("""#include "klp-convert.h"
extern int odd __asm__("\\"odd,name\\"");
KLP_MODULE_RELOC(vmlinux) a[] = { KLP_SYMPOS(odd, 1) };
int f(void) { return odd; }
""", "contains ','"),
    "module_static_key": ("""#include "klp-convert.h"
extern int module_key;
KLP_MODULE_RELOC(foo) a[] = { KLP_SYMPOS(module_key, 0) };
static void *entry[] __attribute__((used, section("__jump_table"))) = { &module_key };
int f(void) { return module_key; }
""", "static_key_enabled"),
    "source_file_without_database": ("""#include "klp-convert.h"
extern int hats;
KLP_SYMBOL_FILES(vmlinux) a[] = { KLP_SYMBOL_FILE(hats, "kernel/hats.c") };
int f(void) { return hats; }
""", "a source-file choice needs a symbol database"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals(case, tmp_path):
    source, message = REFUSALS[case]
    c = tmp_path / f"{case}.c"
    c.write_text(MODINFO + source)
    obj = compile_livepatch("x86_64", c, tmp_path / f"{case}.o")
    out = tmp_path / "out.o"
    proc = subprocess.run([sys.executable, "-m", "klp_convert", str(obj), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"klp-convert: error: {obj}: ")
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_vmlinux_reference_in_special_section_is_fine(tmp_path):
    c = tmp_path / "key.c"
    c.write_text(MODINFO + """#include "klp-convert.h"
extern int vmlinux_key;
KLP_MODULE_RELOC(vmlinux) a[] = { KLP_SYMPOS(vmlinux_key, 0) };
static void *entry[] __attribute__((used, section("__jump_table"))) = { &vmlinux_key };
int f(void) { return vmlinux_key; }
""")
    obj = compile_livepatch("x86_64", c, tmp_path / "key.o")
    assert main([str(obj), str(tmp_path / "out.o")]) == 0
    after, _, _, _ = klp_view(tmp_path / "out.o")
    assert ".klp.rela.vmlinux.__jump_table" in after


def test_input_the_kernel_would_refuse_is_not_written(tmp_path):
    """convert checks its own output: without livepatch=Y the kernel refuses the module."""
    c = tmp_path / "plain.c"
    c.write_text('#include "klp-convert.h"\nextern int hats;\n'
                 'KLP_MODULE_RELOC(vmlinux) a[] = { KLP_SYMPOS(hats, 1) };\n'
                 'int f(void) { return hats; }\n')
    obj = compile_livepatch("x86_64", c, tmp_path / "plain.o")
    out = tmp_path / "out.o"
    proc = subprocess.run([sys.executable, "-m", "klp_convert", str(obj), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "no 'livepatch=Y' in .modinfo" in proc.stderr
    assert not out.exists()


def test_rel_addends_move_into_rela_klp_sections(tmp_path):
    """i686 uses SHT_REL; klp sections must be SHT_RELA: the addend leaves the code bytes."""
    from klp_convert.elf import ElfObject

    src = compile_livepatch("i686", DATA / "livepatch.c", tmp_path / "lp.o")
    before = ElfObject.read(src)
    implicit = {}
    for rela in before.relocation_sections():
        data = rela.target.data
        for rel in rela.relocations:
            implicit[rela.target.name, rel.offset] = int.from_bytes(
                data[rel.offset:rel.offset + 4], "little", signed=True)
    out = tmp_path / "out.o"
    assert main([str(src), str(out)]) == 0
    after = ElfObject.read(out)
    klp = [s for s in after.relocation_sections() if s.name.startswith(".klp.rela.")]
    assert klp and all(s.with_addend for s in klp)
    for sec in klp:
        for rel in sec.relocations:
            assert rel.addend == implicit[sec.target.name, rel.offset]
            assert sec.target.data[rel.offset:rel.offset + 4] == bytes(4)
    assert any(rel.addend == -4 for sec in klp for rel in sec.relocations)


def test_a_label_position_is_ascii_digits_only():
    """KLP_RELOC_SYMBOL labels come from the module's symbol table: a position that
    str.isdigit() takes but the kernel's sscanf does not ('²' made int() raise, a traceback;
    '٣' was read as 3) is no position."""
    from klp_convert.annotations import parse_reloc_symbol
    from klp_convert.errors import RefusedError

    with pytest.raises(RefusedError, match="position '\u00b2' is not a number"):
        parse_reloc_symbol("lp.ko", ".klp.sym.rela.lp.vmlinux.foo,\u00b2")
    dotted = parse_reloc_symbol("lp.ko", ".klp.sym.rela.lp.vmlinux.foo.\u0663")
    assert dotted.splits == [("foo.\u0663", 0)]
    assert parse_reloc_symbol("lp.ko", ".klp.sym.rela.lp.vmlinux.foo.3").splits == \
        [("foo", 3), ("foo.3", 0)]


def test_without_symbols_the_installed_symvers_of_the_module_s_kernel_tells_what_is_exported(
        tmp_path, monkeypatch, capsys):
    """Annotation-only mode warns about the references the loader cannot resolve, judged by the
    Module.symvers of the build tree installed for the release in the module's vermagic
    (/lib/modules/<release>/build, or /usr/lib/modules: kernel/installed.py); without one, it
    says it could not tell."""
    source = tmp_path / "lp.c"
    source.write_text('static const char vermagic[] __attribute__((section(".modinfo"), used)) '
                      '= "vermagic=6.1.0-99-klp SMP mod_unload \\0livepatch=Y";\n'
                      "extern int exported_one, hidden_one;\n"
                      "int f(void) { return exported_one + hidden_one; }\n")
    module = compile_c("x86_64", source, tmp_path / "lp.o")
    installed = tmp_path / "modules"
    symvers = installed / "6.1.0-99-klp" / "build" / "Module.symvers"
    symvers.parent.mkdir(parents=True)
    symvers.write_text("0x00000001\texported_one\tvmlinux\tEXPORT_SYMBOL\t\n")
    monkeypatch.setattr(kernel_installed, "MODULE_ROOTS", (str(installed),))
    assert main(["convert", str(module), "-o", str(tmp_path / "out.o")]) == 0
    err = capsys.readouterr().err
    assert f"1 undefined symbol(s) neither annotated nor exported in {symvers} were left as " \
           f"they are: hidden_one\n" in err
    symvers.unlink()
    assert main(["convert", str(module), "-o", str(tmp_path / "out.o")]) == 0
    assert "2 undefined symbol(s) neither annotated nor known to be exported (no " \
           "Module.symvers to tell) were left as they are: exported_one, hidden_one\n" \
           in capsys.readouterr().err


def test_relocation_symbol_labels_are_looked_up_in_one_batch(tmp_path, monkeypatch):
    """KLP_RELOC_SYMBOL labels are checked against the database with the other names, in one
    batch: with an old Symbols.list each name asked alone was a pass over the whole file
    (5,000 labels against Debian's 19 MB list took a minute)."""
    from support.toolchains import assemble
    from klp_convert.symdb import index
    count = 30
    source = tmp_path / "labels.s"
    source.write_text('.section .modinfo,"a"\n.asciz "livepatch=Y"\n.asciz "name=labels"\n'
                      ".text\nf:\n" + "".join(
                          f'\tcall ".klp.sym.rela.vmlinux.vmlinux.target_{i},0"\n'
                          for i in range(count)))
    obj = assemble(source, tmp_path / "labels.o")
    listing = tmp_path / "Symbols.list"
    listing.write_text("klp-convert-symbol-data.0.1\n*vmlinux\n" +
                       "".join(f"target_{i}\n" for i in range(count)) + "*foo\ntarget_0\n")
    asked = []
    rows_many = index._SymbolsListInput.rows_many
    monkeypatch.setattr(index._SymbolsListInput, "rows_many",
                        lambda self, names: asked.append(list(names)) or rows_many(self, names))
    out = tmp_path / "out.o"
    assert main(["convert", "--symbols", str(listing), str(obj), "-o", str(out)]) == 0
    assert len(asked) == 1 and {f"target_{i}" for i in range(count)} <= set(asked[0])
    view, symbols, _names, _class = klp_view(out)
    assert sorted(n for n in symbols if n.startswith(".klp.sym.")) == \
        sorted(f".klp.sym.vmlinux.target_{i},0" for i in range(count))
