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
    cls.__init__ = _initializer(fields, defaults)
    cls._fields = cls.__match_args__ = fields
    cls.__eq__ = _eq
    cls.__hash__ = _hash
    cls.__repr__ = _repr
    cls.__setattr__ = cls.__delattr__ = _frozen
    return cls


def _initializer(fields, defaults):
    """``__init__(self, *values, **named)`` for ``fields``, with a def's checks. A closure over
    the fields, not generated source as dataclasses makes: compiling one per class cost 0.1 to
    0.4 ms each at every start of klp-convert (about 2 ms for the eight a conversion uses);
    this one costs a record made per symbol (Scan) about a microsecond more."""
    names = frozenset(fields)
    count = len(fields)

    def __init__(self, *values, **named):
        # Fields go straight into the instance dict (__setattr__ refuses them); the checks
        # come after, on what was stored (the instance dict is empty before).
        stored = self.__dict__
        if len(values) == count and not named:  # every field given in order: nothing to check
            stored.update(zip(fields, values))
            return
        stored.update(defaults)
        stored.update(zip(fields, values))
        stored.update(named)
        if stored.keys() != names or len(values) > len(fields) or (
                named and values and not named.keys().isdisjoint(fields[:len(values)])):
            stored.clear()
            _refuse_arguments(type(self), fields, defaults, values, named)

    return __init__


def _refuse_arguments(cls, fields, defaults, values, named):
    """The TypeError a def with these parameters would raise for these arguments."""
    name = cls.__name__
    if len(values) > len(fields):
        raise TypeError(f"{name}() takes {len(fields)} values but {len(values)} were given")
    for key in named:
        if key not in fields:
            raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")
        if fields.index(key) < len(values):
            raise TypeError(f"{name}() got multiple values for argument '{key}'")
    missing = [f for f in fields[len(values):] if f not in named and f not in defaults]
    raise TypeError(f"{name}() missing required arguments: {', '.join(missing)}")


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
