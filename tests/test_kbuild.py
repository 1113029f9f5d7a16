"""`klp-convert kbuild`: make-argument handling, modules.order, and real out-of-tree builds
against Debian's kernel headers (conversion in place, the linked module kept, idempotence,
the converter's refusal and make's failure reported)."""

import shutil
from pathlib import Path

import pytest

from klp_convert.cli import main
from klp_convert.elf import ElfObject
from klp_convert.kbuild import KbuildOptions, built_modules, make_command, module_dir
from support.realkernel import REPO_INCLUDE, target_kernel

SOURCES = Path(__file__).parent / "data" / "kbuild"


def test_make_command_makes_m_absolute_and_modpost_warn(tmp_path):
    options = KbuildOptions(kernel_dir="/kdir", jobs=2)
    command = make_command(["M=lp", "V=1"], options, cwd=tmp_path)
    assert command == ["make", "-C", "/kdir", "-j2", "V=1", f"M={tmp_path / 'lp'}",
                       "KBUILD_MODPOST_WARN=1"]
    assert module_dir([], cwd=tmp_path) == tmp_path
    assert module_dir(["KBUILD_EXTMOD=/x/y"], cwd=tmp_path) == Path("/x/y")


def test_built_modules_reads_each_modules_order_format(tmp_path):
    # 6.1 lists absolute .ko paths, older kernels relative ones, newer ones .o files.
    (tmp_path / "modules.order").write_text(f"{tmp_path}/a.ko\nsub/b.ko\nc.o\n\n")
    assert built_modules(tmp_path) == [tmp_path / "a.ko", tmp_path / "sub" / "b.ko",
                                       tmp_path / "c.ko"]
    assert built_modules(tmp_path / "nothing-built") == []


@pytest.fixture(scope="module")
def headers():
    return target_kernel("debian-6.1").headers


@pytest.fixture
def module_tree(tmp_path):
    tree = tmp_path / "lp"
    shutil.copytree(SOURCES, tree)
    shutil.copy(REPO_INCLUDE / "klp-convert.h", tree)
    return tree


def klp_sections(path):
    return [s.name for s in ElfObject.read(path).relocation_sections()
            if s.name.startswith(".klp.rela.")]


@pytest.mark.debian
def test_kbuild_converts_livepatches_in_place(headers, module_tree, capsys):
    assert main(["kbuild", "-C", str(headers), f"M={module_tree}"]) == 0
    out = capsys.readouterr().out
    livepatch = module_tree / "klp_saved_cmdline.ko"
    assert f"KLP     {livepatch}: 1 symbol(s) converted" in out
    assert klp_sections(livepatch) == [".klp.rela.vmlinux..text"]
    symbols = {s.name for s in ElfObject.read(livepatch).symbols}
    assert ".klp.sym.vmlinux.saved_command_line,0" in symbols
    # The module kbuild linked is kept, unconverted; the ordinary module is left alone.
    unconverted = module_tree / "klp_saved_cmdline.unconverted.ko"
    assert klp_sections(unconverted) == []
    assert not (module_tree / "not_a_livepatch.unconverted.ko").exists()
    assert "not_a_livepatch" not in out


@pytest.mark.debian
def test_kbuild_twice_converts_once(headers, module_tree, capfd):
    livepatch = module_tree / "klp_saved_cmdline.ko"
    assert main(["kbuild", "-C", str(headers), f"M={module_tree}"]) == 0
    first = livepatch.read_bytes(), livepatch.stat().st_mtime_ns
    assert "LD [M]" in capfd.readouterr().out
    assert main(["kbuild", "-C", str(headers), f"M={module_tree}"]) == 0
    # make saw an up-to-date module (no relink), and converting the kept copy again gives
    # the same bytes.
    assert "LD [M]" not in capfd.readouterr().out
    assert (livepatch.read_bytes(), livepatch.stat().st_mtime_ns) == first


@pytest.mark.debian
def test_kbuild_fails_with_the_converters_message(headers, module_tree, capfd):
    status = main(["kbuild", "-C", str(headers), f"M={module_tree}",
                   "KCFLAGS=-DKLP_TEST_REFUSE"])
    err = capfd.readouterr().err
    assert status == 1
    assert (f"klp-convert: error: {module_tree}/klp_saved_cmdline.unconverted.ko: "
            "annotation for 'panic_on_oops', which the module does not otherwise reference"
            in err)
    # Nothing unconverted is left where the converted module belongs; kbuild's is kept aside.
    assert not (module_tree / "klp_saved_cmdline.ko").exists()
    assert klp_sections(module_tree / "klp_saved_cmdline.unconverted.ko") == []


@pytest.mark.debian
def test_kbuild_passes_the_options_its_advice_names(headers, module_tree, capfd):
    """--sympos and --symbol-file reach the conversion (issue 11, class 12): a position given
    for seq_printf converts it; a source file without a database is refused as convert
    refuses it, and the module kbuild linked is not left as NAME.ko."""
    livepatch = module_tree / "klp_saved_cmdline.ko"
    assert main(["kbuild", "-C", str(headers), "--sympos", "vmlinux:seq_printf=1",
                 f"M={module_tree}"]) == 0
    assert f"KLP     {livepatch}: 2 symbol(s) converted" in capfd.readouterr().out
    assert ".klp.sym.vmlinux.seq_printf,1" in {s.name for s in ElfObject.read(livepatch).symbols}
    status = main(["kbuild", "-C", str(headers), "--symbol-file",
                   "vmlinux:seq_printf=fs/seq_file.c", f"M={module_tree}"])
    assert status == 1
    assert "--symbol-file vmlinux:seq_printf=fs/seq_file.c: a source-file choice needs a " \
           "symbol database (--symbols)" in capfd.readouterr().err
    assert not livepatch.exists()


@pytest.mark.debian
def test_annotation_only_warns_about_what_the_loader_cannot_resolve(headers, module_tree,
                                                                    capfd):
    """Without --symbols, an unannotated reference to an unexported symbol is no silent
    success: the warning names it and the option to add (issue 11, class 10)."""
    source = module_tree / "klp_saved_cmdline.c"
    source.write_text(source.read_text() + "\nextern int panic_on_oops;\n"
                      "int klp_test_read(void) { return panic_on_oops; }\n")
    assert main(["kbuild", "-C", str(headers), f"M={module_tree}"]) == 0
    err = capfd.readouterr().err
    assert "no --symbols: 1 undefined symbol(s) neither annotated nor exported in " \
           f"{headers}/Module.symvers" in err and ": panic_on_oops" in err
    assert "give --symbols kernel.symdb" in err


@pytest.mark.debian
def test_kbuild_reports_a_failed_make(headers, module_tree, capfd):
    (module_tree / "not_a_livepatch.c").write_text("this is not C\n")
    assert main(["kbuild", "-C", str(headers), f"M={module_tree}"]) == 2
    err = capfd.readouterr().err
    assert f"klp-convert: error: {module_tree}: make failed (exit status 2)" in err
