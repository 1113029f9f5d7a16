"""The project's exception tree.

Library code raises these; only the command-line layer turns them into messages and exit codes.
Every message is one line and starts with the file it is about, so the CLI can print
``klp-convert: error: <message>`` as it is. A message quotes names read from inputs, which may
hold anything: every error escapes control characters and undecodable bytes (text.escape) in
its path and message, whatever its class, so no input can break a message's line or forge
another. A refusal with details passes a list of lines: each is escaped, the newlines between
them are ours.
"""

from .text import escape, escape_lines


class KlpError(Exception):
    """Base of every error klp-convert reports to its user (never a bug in klp-convert itself)."""

    #: the command's exit status when this error ends it (see cli.py)
    exit_status = 2

    def __init__(self, path, message):
        self.path = str(path) if path is not None else None
        #: the message as given (unescaped: it is escaped again wherever it is quoted)
        self.detail = message if isinstance(message, str) else "\n".join(message)
        text = escape(message) if isinstance(message, str) else escape_lines(message)
        # an empty name is shown as one (the message must still say which file it is about)
        shown = escape(self.path) if self.path else "''"
        super().__init__(f"{shown}: {text}" if self.path is not None else text)


class ElfError(KlpError):
    """The input is not an ELF relocatable object we can read, or an edit cannot be written."""


class RefusedError(KlpError):
    """The input is readable, but doing what was asked would produce a broken livepatch."""

    exit_status = 1
