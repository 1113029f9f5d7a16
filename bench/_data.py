"""Real data for the benchmarks: Debian's current kernel packages, cached outside the repository
(the same cache and download code as the tests); and the package compiled as an installed copy
is."""

import compileall
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from support.debian import kernel_image_modules  # noqa: E402,F401


def compile_package():
    """What an installed tool has: compiled bytecode (pip writes it; a source tree run with
    PYTHONDONTWRITEBYTECODE and no .pyc would compile every module at every start)."""
    compileall.compile_dir(os.path.join(os.path.dirname(__file__), "..", "src", "klp_convert"),
                           quiet=1)
