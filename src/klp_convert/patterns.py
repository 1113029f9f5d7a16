"""Regular expressions compiled when first used, not when their module is imported.

Every pattern compiled at import costs every start of klp-convert its compilation (0.1 to
0.2 ms each; the modules a conversion imports had ten, most of them for the database build or
an error message), and a module that compiles none needs no `import re` either.

    _HEX = Pattern("[0-9a-fA-F]+")     # flags go inline: Pattern("(?s)a.*")
    _HEX.fullmatch(text)                # re.compile("[0-9a-fA-F]+") the first time
"""


class Pattern:
    """``re.compile(source)``, compiled at the first use of one of its attributes; each
    attribute of the compiled pattern (``fullmatch``, ``search``...) then becomes this
    object's own, so that a hot loop pays one lookup, as with the compiled pattern itself."""

    def __init__(self, source):
        self.source = source

    def __getattr__(self, name):  # only for what is not set yet
        if name.startswith("__"):  # copy's and pickle's probes: not the pattern's
            raise AttributeError(name)
        import re

        value = getattr(re.compile(self.source), name)
        setattr(self, name, value)
        return value

    def __eq__(self, other):
        return self.source == other.source if isinstance(other, Pattern) else NotImplemented

    def __hash__(self):
        return hash(self.source)

    def __repr__(self):
        return f"Pattern({self.source!r})"
