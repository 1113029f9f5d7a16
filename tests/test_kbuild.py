"""`klp-convert kbuild`: make-argument handling, modules.order, and real out-of-tree builds
against Debian's kernel headers (conversion in place, the linked module kept, idempotence,
the converter's refusal and make's failure reported). The builds run where the real-kernel
suite builds for Debian 12's kernel: on the machine when it runs Debian 12, else in a Debian
12 chroot (support/kernels.py), as `python -m klp_convert kbuild`."""

import shutil
from pathlib import Path

import pytest

from klp_convert.elf import ElfObject
from klp_convert.kbuild import KbuildOptions, built_modules, make_command, module_dir
from support.realkernel import REPO_INCLUDE, kbuild_command, target_kernel

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
def kernel():
    return target_kernel("debian-6.1")


@pytest.fixture
def module_tree(kernel, tmp_path):
    tree = tmp_path / "lp"
    shutil.copytree(SOURCES, tree)
    shutil.copy(REPO_INCLUDE / "klp-convert.h", tree)
    kernel.share(tmp_path)
    return tree


def kbuild(kernel, *args):
    """`klp-convert kbuild -C <the kernel's headers> ARGS` where its modules are built; the
    finished process (returncode, stdout, stderr)."""
    return kernel.run(kbuild_command(kernel, *args))


def seen(kernel, path):
    """``path`` as the build sees it (a path into a chroot is a path inside it)."""
    return kernel.userland.inside(path) if kernel.userland is not None else str(path)


def klp_sections(path):
    return [s.name for s in ElfObject.read(path).relocation_sections()
            if s.name.startswith(".klp.rela.")]


@pytest.mark.debian
def test_kbuild_converts_livepatches_in_place(kernel, module_tree):
    proc = kbuild(kernel, f"M={module_tree}")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    livepatch = module_tree / "klp_saved_cmdline.ko"
    assert f"KLP     {livepatch}: 1 symbol(s) converted" in out
    assert klp_sections(livepatch) == [".klp.rela.vmlinux..text"]
    symbols = {s.name for s in ElfObject.read(livepatch).symbols}
    assert ".klp.sym.vmlinux.saved_command_line,0" in symbols
    # The module kbuild linked is kept, unconverted; the ordinary module is left alone.
    unconverted = module_tree / "klp_saved_cmdline.unconverted.ko"
    assert klp_sections(unconverted) == []
    assert not (module_tree / "not_a_livepatch.unconverted.ko").exists()
    assert "not_a_livepatch" not in "".join(line for line in out.splitlines()
                                            if line.startswith("KLP "))  # (make's lines name it)


@pytest.mark.debian
def test_kbuild_twice_converts_once(kernel, module_tree):
    livepatch = module_tree / "klp_saved_cmdline.ko"
    proc = kbuild(kernel, f"M={module_tree}")
    assert proc.returncode == 0, proc.stderr
    first = livepatch.read_bytes(), livepatch.stat().st_mtime_ns
    assert "LD [M]" in proc.stdout
    proc = kbuild(kernel, f"M={module_tree}")
    assert proc.returncode == 0, proc.stderr
    # make saw an up-to-date module (no relink), and converting the kept copy again gives
    # the same bytes.
    assert "LD [M]" not in proc.stdout
    assert (livepatch.read_bytes(), livepatch.stat().st_mtime_ns) == first


@pytest.mark.debian
def test_kbuild_fails_with_the_converters_message(kernel, module_tree):
    proc = kbuild(kernel, f"M={module_tree}", "KCFLAGS=-DKLP_TEST_REFUSE")
    err = proc.stderr
    assert proc.returncode == 1, err
    assert (f"klp-convert: error: {module_tree}/klp_saved_cmdline.unconverted.ko: "
            "annotation for 'panic_on_oops', which the module does not otherwise reference"
            in err)
    # Nothing unconverted is left where the converted module belongs; kbuild's is kept aside.
    assert not (module_tree / "klp_saved_cmdline.ko").exists()
    assert klp_sections(module_tree / "klp_saved_cmdline.unconverted.ko") == []


@pytest.mark.debian
def test_kbuild_passes_the_options_its_advice_names(kernel, module_tree):
    """--sympos and --symbol-file reach the conversion (issue 11, class 12): a position given
    for seq_printf converts it; a source file without a database is refused as convert
    refuses it, and the module kbuild linked is not left as NAME.ko."""
    livepatch = module_tree / "klp_saved_cmdline.ko"
    proc = kbuild(kernel, "--sympos", "vmlinux:seq_printf=1", f"M={module_tree}")
    assert proc.returncode == 0, proc.stderr
    assert f"KLP     {livepatch}: 2 symbol(s) converted" in proc.stdout
    assert ".klp.sym.vmlinux.seq_printf,1" in {s.name for s in ElfObject.read(livepatch).symbols}
    proc = kbuild(kernel, "--symbol-file", "vmlinux:seq_printf=fs/seq_file.c",
                  f"M={module_tree}")
    assert proc.returncode == 1, proc.stderr
    assert "--symbol-file vmlinux:seq_printf=fs/seq_file.c: a source-file choice needs a " \
           "symbol database (--symbols)" in proc.stderr
    assert not livepatch.exists()


@pytest.mark.debian
def test_annotation_only_warns_about_what_the_loader_cannot_resolve(kernel, module_tree):
    """Without --symbols, an unannotated reference to an unexported symbol is no silent
    success: the warning names it and the option to add (issue 11, class 10)."""
    source = module_tree / "klp_saved_cmdline.c"
    source.write_text(source.read_text() + "\nextern int panic_on_oops;\n"
                      "int klp_test_read(void) { return panic_on_oops; }\n")
    proc = kbuild(kernel, f"M={module_tree}")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "no --symbols: 1 undefined symbol(s) neither annotated nor exported in " \
           f"{seen(kernel, kernel.headers)}/Module.symvers" in err and ": panic_on_oops" in err
    assert "give --symbols kernel.symdb" in err


@pytest.mark.debian
def test_kbuild_reports_a_failed_make(kernel, module_tree):
    (module_tree / "not_a_livepatch.c").write_text("this is not C\n")
    proc = kbuild(kernel, f"M={module_tree}")
    assert proc.returncode == 2
    assert f"klp-convert: error: {module_tree}: make failed (exit status 2)" in proc.stderr
