"""The project's exception tree.

Library code raises these; only the command-line layer turns them into messages and exit codes.
Every message is one line and starts with the file it is about, so the CLI can print
``klp-convert: error: <message>`` as it is.
"""


class KlpError(Exception):
    """Base of every error klp-convert reports to its user (never a bug in klp-convert itself)."""

    #: the command's exit status when this error ends it (see cli.py)
    exit_status = 2

    def __init__(self, path, message):
        self.path = str(path) if path is not None else None
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ElfError(KlpError):
    """The input is not an ELF relocatable object we can read, or an edit cannot be written.

    Its message quotes names read from the file, which may hold anything: control characters
    are escaped so that the message stays one line."""

    def __init__(self, path, message):
        super().__init__(path, "".join(c if c.isprintable() else repr(c)[1:-1]
                                       for c in message))


class RefusedError(KlpError):
    """The input is readable, but doing what was asked would produce a broken livepatch."""

    exit_status = 1
