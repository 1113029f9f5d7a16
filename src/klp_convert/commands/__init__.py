"""One module per sub-command: ``register(subparsers)`` adds its options, ``run(args)`` does it.

The command modules only translate between the command line and the library layers below.
Whatever they print goes through the helpers here, which escape what inputs put in names
(text.escape): no input reaches the terminal raw.
"""

import sys

from ..text import escape

PROG = "klp-convert"


def say(line="", stream=None):
    """Print one line of output (stdout unless ``stream``), escaped."""
    print(escape(line), file=stream or sys.stdout)


def note(message):
    """A message on stderr: `klp-convert: first line`, then its other lines ([line] or str)."""
    lines = [message] if isinstance(message, str) else list(message)
    say(f"{PROG}: {lines[0]}", sys.stderr)
    for line in lines[1:]:
        say(line, sys.stderr)


def warn(message):
    say(f"{PROG}: warning: {message}", sys.stderr)
