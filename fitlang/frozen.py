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
from typing import Any, ClassVar, dataclass_transform


class _Lazy:
    """What `Frozen` and `Mutable` share: the stand-in `__init__` and the stated options."""

    __dataclass_options__: ClassVar[dict[str, Any]] = {}  # a class's own, from its keywords
    _frozen: ClassVar[bool]  # the root's default

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__()
        if "_frozen" in cls.__dict__:  # `Frozen`, `Mutable` themselves
            return
        cls.__dataclass_options__ = options
        if "__init__" not in cls.__dict__:
            cls.__init__ = _first_init  # type: ignore[method-assign]


@dataclass_transform(frozen_default=True)
class Frozen(_Lazy):
    _frozen = True


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
    so that `dataclasses.fields(cls)` works before any instance is made."""
    for base in reversed(cls.__mro__):
        if issubclass(base, _Lazy) and base not in _ROOTS \
                and "__dataclass_fields__" not in base.__dict__:
            if base.__dict__.get("__init__") is _first_init:
                del base.__init__  # the dataclass writes `__init__` only where none is
            options = {"frozen": base._frozen, **base.__dict__.get("__dataclass_options__", {})}
            undocumented = base.__doc__ is None
            if undocumented:  # else the dataclass writes one from `inspect.signature`: a fifth of its cost
                base.__doc__ = base.__name__
            dataclasses.dataclass(**options)(base)
            if undocumented:
                base.__doc__ = None
    return cls


def declared_fields(cls: type) -> list[str]:
    """The fields `cls` itself declares (its annotations but ClassVars), before it is made a
    dataclass."""
    return [name for name, hint in inspect.get_annotations(cls).items()
            if not str(hint).startswith(("ClassVar", "typing.ClassVar"))]
