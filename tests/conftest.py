import os
import sys

# Tests import helpers from tests/support; the package itself is installed (pip -e).
sys.path.insert(0, os.path.dirname(__file__))
