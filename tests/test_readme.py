"""The README stands alone in a clone (issue 11, class 14): every file it names is in the
repository, nothing points outside it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_no_link_leaves_the_repository():
    assert "../" not in README
    assert not re.search(r"https?://", README)


def test_the_documents_it_cites_are_here():
    for name in ("docs/problem.md", "docs/kernel-rules.md", "include/klp-convert.h",
                 "scripts/demo", "scripts/test", "bench/hostile.py", "examples/talk/run"):
        assert f"`{name}" in README, name
        assert (ROOT / name).is_file(), name


def test_it_says_where_the_tool_is_and_how_to_install_it():
    assert ".venv/bin/klp-convert" in README
    assert "pip install --user ." in README
