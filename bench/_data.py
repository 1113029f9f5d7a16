"""Real data for the benchmarks: Debian's current kernel packages, cached outside the repository
(the same cache and download code as the tests)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from support.debian import kernel_image_modules  # noqa: E402,F401
