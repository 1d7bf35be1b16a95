"""`Frozen`: a base whose subclasses are frozen dataclasses, made so when their first instance
is made rather than when their module loads.

Making a dataclass compiles its `__init__`, `__eq__`, `__hash__` and `__repr__`: about a
quarter of a millisecond a class. The diagnostic messages (one class per code), the checked
block views (one class per block kind), the checked program's classes and the rules' keys were
tens of milliseconds of every command's start-up that way, for the few classes a run uses
(`fitc verify` of a placement made 154 dataclasses and used 61). Type checkers see the
subclasses as dataclasses (`dataclass_transform`); at run time they are plain classes until
then. A subclass states dataclass options as class keywords: `class Scope(Frozen,
kw_only=True)`, `class Key(Frozen, eq=False)`.

The first instance goes through a stand-in `__init__` each subclass holds until it is made;
making the class replaces it with the dataclass's own, so later instances cost what a plain
dataclass's do (no `__new__` on every instance).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, ClassVar, dataclass_transform


@dataclass_transform(frozen_default=True)
class Frozen:
    __frozen_options__: ClassVar[dict[str, Any]] = {}  # the dataclass options a class states

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__()
        cls.__frozen_options__ = options  # read from the class's own dict: not inherited
        if "__init__" not in cls.__dict__:
            cls.__init__ = _first_init  # type: ignore[method-assign]


def _first_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The stand-in `__init__` of a class not yet made: make it, then run its own."""
    made_dataclass(type(self)).__init__(self, *args, **kwargs)  # type: ignore[misc]


def made_dataclass(cls: type) -> type:
    """`cls` (and the `Frozen` classes it derives from), made frozen dataclasses, once; so
    that `dataclasses.fields(cls)` works before any instance is made."""
    for base in reversed(cls.__mro__):
        if issubclass(base, Frozen) and base is not Frozen \
                and "__dataclass_fields__" not in base.__dict__:
            if base.__dict__.get("__init__") is _first_init:
                del base.__init__  # the dataclass writes `__init__` only where none is
            options = {"frozen": True, **base.__dict__.get("__frozen_options__", {})}
            dataclasses.dataclass(**options)(base)
    return cls


def declared_fields(cls: type) -> list[str]:
    """The fields `cls` itself declares (its annotations but ClassVars), before it is made a
    dataclass."""
    return [name for name, hint in inspect.get_annotations(cls).items()
            if not str(hint).startswith(("ClassVar", "typing.ClassVar"))]
