"""The README's walk-through ("Write your first livepatch"): its C file and Kbuild line, written
where a test builds them, so the tests build exactly what the README shows."""

from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def write_hello_livepatch(directory):
    """hello_klp.c and its Kbuild line, as the README writes them, in ``directory``."""
    text = README.read_text()
    start = text.index("    cat > hello_klp.c <<'C'\n")
    body = text[text.index("\n", start) + 1:text.index("\n    C\n", start)]
    directory = Path(directory)
    (directory / "hello_klp.c").write_text(
        "\n".join(line[4:] for line in body.splitlines()) + "\n")
    (directory / "Kbuild").write_text("obj-m += hello_klp.o\n")
    return directory
