"""`Frozen` (and `Mutable`): bases whose subclasses are dataclasses, frozen (or not), made so
when their first instance is made rather than when their module loads.

Making a dataclass compiles its `__init__`, `__eq__`, `__hash__` and `__repr__`: about a
quarter of a millisecond a class. The diagnostic messages (one class per code), the checked
block views (one class per block kind), the checked program's classes, the rules' keys and
the syntax tree's nodes were tens of milliseconds of every command's start-up that way, for
the few classes a run uses (`fitc verify` of a placement made 154 dataclasses and used 61).
Type checkers see the subclasses as dataclasses (`dataclass_transform`); at run time they are
plain classes until then. A subclass states dataclass options as class keywords:
`class Scope(Frozen, kw_only=True)`, `class Key(Frozen, eq=False)`.

The first instance goes through a stand-in `__init__` each subclass holds until it is made;
making the class replaces it with the dataclass's own, so later instances cost what a plain
dataclass's do (no `__new__` on every instance). A class made eagerly (`@dataclass`) must not
derive from one of these: the stand-in would keep the dataclass from writing its `__init__`.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
import reprlib
from typing import Any, ClassVar, dataclass_transform


class _Lazy:
    """What `Frozen` and `Mutable` share: the stand-in `__init__`, the stated options, and the
    `__repr__` of every made class (the dataclass's own, read from the fields: one less
    function compiled a class)."""

    __dataclass_options__: ClassVar[dict[str, Any]] = {}  # a class's own, from its keywords
    _frozen: ClassVar[bool]  # the root's default

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__()
        if "_frozen" in cls.__dict__:  # `Frozen`, `Mutable` themselves
            return
        cls.__dataclass_options__ = options
        if "__init__" not in cls.__dict__:
            cls.__init__ = _first_init  # type: ignore[method-assign]

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        shown = (f"{field.name}={getattr(self, field.name)!r}"
                 for field in dataclasses.fields(self) if field.repr)  # type: ignore[arg-type]
        return f"{type(self).__qualname__}({', '.join(shown)})"


@dataclass_transform(frozen_default=True)
class Frozen(_Lazy):
    """Frozen as `dataclass(frozen=True)` makes a class: no field is set or deleted after
    `__init__` (which writes the instance's `__dict__`, so this guard never sees it)."""

    _frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


@dataclass_transform()
class Mutable(_Lazy):
    _frozen = False


_ROOTS = (_Lazy, Frozen, Mutable)


def _first_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The stand-in `__init__` of a class not yet made: make it, then run its own."""
    cls = made_dataclass(type(self))
    if cls.__dict__.get("__init__") is _first_init:  # made by a `@dataclass` above it: no __init__
        raise TypeError(f"{cls.__qualname__}: a `Frozen`/`Mutable` class takes no @dataclass "
                        "decorator (state its options as class keywords)")
    cls.__init__(self, *args, **kwargs)  # type: ignore[misc]


def made_dataclass(cls: type) -> type:
    """`cls` (and the `Frozen` or `Mutable` classes it derives from), made dataclasses, once;
    so that `dataclasses.fields(cls)` works before any instance is made.

    What `dataclasses` compiles per class was most of a class's cost (0.46 ms a class of ten
    fields; a `fitc verify` makes 60); here it compiles nothing but `_init_of`'s `__init__`:
    `__eq__` and `__hash__` compare the fields through one `attrgetter`, `__repr__` and the
    frozen guard are `_Lazy`'s and `Frozen`'s, the same for every class (0.21 ms a class).
    tests/test_check.py holds them to what `dataclass(frozen=True)` makes."""
    for base in reversed(cls.__mro__):
        if issubclass(base, _Lazy) and base not in _ROOTS \
                and "__dataclass_fields__" not in base.__dict__:
            if base.__dict__.get("__init__") is _first_init:
                del base.__init__  # the dataclass writes `__init__` only where none is
            _make(base)
    return cls


def _make(base: type) -> None:
    stated = base.__dict__.get("__dataclass_options__", {})
    assert base.__dictoffset__, f"{base.__qualname__}: a class with __slots__ cannot be made"
    assert not stated.get("order"), "order=True: not supported (compare a key of your own)"
    own_init = "__init__" in base.__dict__
    frozen = stated.get("frozen", base._frozen)  # type: ignore[attr-defined]
    undocumented = base.__doc__ is None
    if undocumented:  # else the dataclass writes one from `inspect.signature`: a fifth of its cost
        base.__doc__ = base.__name__
    dataclasses.dataclass(**{**stated, "init": own_init, "repr": False, "eq": False,
                             "frozen": False})(base)
    if undocumented:
        base.__doc__ = None
    if not own_init:
        base.__init__ = _init_of(base, frozen)  # type: ignore[misc]
    if stated.get("eq", True):
        _compare_by_fields(base, frozen)


def _compare_by_fields(cls: type, frozen: bool) -> None:
    """`__eq__` and `__hash__` as `dataclass(eq=True)` makes them (frozen: hashed by its
    fields; else unhashable), unless the class writes its own: two instances of the same
    class are equal when their fields are, in order."""
    own = cls.__dict__
    own_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    names = [field.name for field in dataclasses.fields(cls) if field.compare]
    key = _fields_key(names)
    if "__eq__" not in own:
        def __eq__(self: Any, other: Any) -> Any:
            if other.__class__ is self.__class__:
                return key(self) == key(other)
            return NotImplemented
        cls.__eq__ = __eq__  # type: ignore[method-assign,assignment]
    if not own_hash:
        def __hash__(self: Any) -> int:
            return hash(key(self))
        cls.__hash__ = __hash__ if frozen else None  # type: ignore[method-assign,assignment]


def _fields_key(names: list[str]) -> Any:
    """The tuple of an instance's fields `names` (as the dataclass compares and hashes)."""
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda instance: (one(instance),)
    return operator.attrgetter(*names) if names else (lambda _: ())


def _init_of(cls: type, frozen: bool) -> Any:
    """The `__init__` of dataclass `cls`: the parameters the dataclass's own would take (order,
    keyword-only, defaults, default factories), each field set (frozen: through
    `object.__setattr__`, past `Frozen`'s guard), then `__post_init__`. As a frozen
    dataclass's own does, less a lookup of `object.__setattr__` a field: a 29-field block
    view 5.1 -> 4.1 us. (Writing the instance's `__dict__` instead costs 1.6 us, but makes
    every later read of a field twice as slow: the dict no longer lives in the instance.)"""
    names: dict[str, Any] = {"_FACTORY": _FACTORY, "_set": object.__setattr__}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for field in dataclasses.fields(cls):
        assert field.init, f"{cls.__qualname__}.{field.name}: init=False is not supported"
        parameter, value = field.name, field.name
        if field.default is not dataclasses.MISSING:
            names[f"_default_{field.name}"] = field.default
            parameter += f"=_default_{field.name}"
        elif field.default_factory is not dataclasses.MISSING:
            names[f"_factory_{field.name}"] = field.default_factory
            parameter += "=_FACTORY"
            value = f"_factory_{field.name}() if {field.name} is _FACTORY else {field.name}"
        (keyword if field.kw_only else positional).append(parameter)
        body.append(f"    _set(self, {field.name!r}, {value})" if frozen else
                    f"    self.{field.name} = {value}")
    parameters = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__({parameters}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, names)  # the text is made from the class's own field names
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init


class _Factory:
    """The default of a parameter whose field has a default factory (as `dataclasses`' own)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def declared_fields(cls: type) -> list[str]:
    """The fields `cls` itself declares (its annotations but ClassVars), before it is made a
    dataclass."""
    return [name for name, hint in inspect.get_annotations(cls).items()
            if not str(hint).startswith(("ClassVar", "typing.ClassVar"))]
