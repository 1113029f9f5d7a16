"""Immutable records: what ``@dataclass(frozen=True)`` gives the few value classes on the
conversion path, without importing dataclasses at every start of klp-convert (it pulls in
inspect, ast, dis and tokenize: about 10 ms, most of what a small conversion costs).

    @record
    class Scan:
        count: int
        objname: str = None

Fields are the class's annotations in order, defaults its class attributes; the class gets
``__init__`` (positional or keyword), ``__eq__``/``__hash__`` over the fields, ``__repr__``,
and refuses attribute assignment. ``as_dict(rec)`` is the fields as a dict (for JSON),
``replace(rec, field=value)`` a copy with fields changed.
"""


def _annotated_names(cls):
    """The class's own annotated names, in order. Python 3.14 evaluates annotations lazily
    (PEP 649): the class dict has no __annotations__ then, annotationlib gives them."""
    if "__annotations__" in cls.__dict__:
        return tuple(cls.__dict__["__annotations__"])
    try:
        import annotationlib  # noqa: PLC0415 (3.14+ only)
    except ImportError:
        return ()
    return tuple(annotationlib.get_annotations(cls, format=annotationlib.Format.FORWARDREF))


def record(cls):
    fields = _annotated_names(cls)
    defaults = {name: cls.__dict__[name] for name in fields if name in cls.__dict__}
    params = ", ".join(f"{name}=_default_{name}" if name in defaults else name
                       for name in fields)
    # Fields go straight into the instance dict (__setattr__ refuses them): a store each,
    # not a call each.
    body = "    fields = self.__dict__\n" + "".join(f"    fields[{name!r}] = {name}\n"
                                                   for name in fields)
    namespace = {}
    namespace.update((f"_default_{name}", value) for name, value in defaults.items())
    # A generated __init__ (as dataclasses does): records like Scan are made per symbol.
    exec(f"def __init__(self, {params}):\n{body}", namespace)  # noqa: S102 (our own names)
    cls.__init__ = namespace["__init__"]
    cls._fields = cls.__match_args__ = fields
    cls.__eq__ = _eq
    cls.__hash__ = _hash
    cls.__repr__ = _repr
    cls.__setattr__ = cls.__delattr__ = _frozen
    return cls


def as_dict(rec):
    return {name: getattr(rec, name) for name in rec._fields}


def replace(rec, **changes):
    """A copy of ``rec`` with some fields changed (dataclasses.replace)."""
    return type(rec)(**{**as_dict(rec), **changes})


def _values(rec):
    return tuple(getattr(rec, name) for name in rec._fields)


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self):
    return hash(_values(self))


def _repr(self):
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
    return f"{type(self).__name__}({inner})"


def _frozen(self, name, value=None):
    raise AttributeError(f"cannot assign to field '{name}' of a {type(self).__name__}")
