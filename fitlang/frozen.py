"""`Frozen`: a base whose subclasses are frozen dataclasses, made so when their first instance
is made rather than when their module loads.

Making a dataclass compiles its `__init__`, `__eq__`, `__hash__` and `__repr__`: about a
quarter of a millisecond a class. The diagnostic messages (one class per code) and the checked
block views (one class per block kind) were 35 ms of every command's start-up that way, for
the few classes a run uses. Type checkers see the subclasses as dataclasses
(`dataclass_transform`); at run time they are plain classes until then.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, dataclass_transform


@dataclass_transform(frozen_default=True)
class Frozen:
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        made_dataclass(cls)
        return super().__new__(cls)


def made_dataclass(cls: type) -> type:
    """`cls` (and the `Frozen` classes it derives from), made frozen dataclasses, once; so
    that `dataclasses.fields(cls)` works before any instance is made."""
    for base in reversed(cls.__mro__):
        if issubclass(base, Frozen) and base is not Frozen \
                and "__dataclass_fields__" not in base.__dict__:
            dataclasses.dataclass(frozen=True)(base)
    return cls


def declared_fields(cls: type) -> list[str]:
    """The fields `cls` itself declares (its annotations but ClassVars), before it is made a
    dataclass."""
    return [name for name, hint in inspect.get_annotations(cls).items()
            if not str(hint).startswith(("ClassVar", "typing.ClassVar"))]
