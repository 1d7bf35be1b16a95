"""`require <predicate>` on a workload: only nodes whose attributes satisfy it."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from fitlang.check.program import Compare, Workload
from fitlang.model.problem import Exclusion, NodeClass, holds
from fitlang.rules.base import Fleet, Rule, Unsatisfiable, predicate_key

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def reads(workload: Workload) -> Hashable:
    return tuple(predicate_key(r.predicate) for r in workload.requirements)


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    if not workload.requirements:
        return None
    allowed = np.ones(len(facets.classes), dtype=bool)
    for requirement in workload.requirements:
        allowed &= facets.holding(requirement.predicate)
    return ~allowed


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    for requirement in workload.requirements:
        if not holds(requirement.predicate, node_class.attribute):
            yield Exclusion(requirement.text, requirement.origin, "",
                            relaxed(requirement.predicate, node_class.attribute), source="require")


def warnings(workload: Workload, fleet: Fleet) -> Iterator[Unsatisfiable]:
    for requirement in workload.requirements:
        if not any(holds(requirement.predicate, c.attribute) for c in fleet.classes):
            yield Unsatisfiable(requirement.origin, requirement.text)


_UNIT_OF = {"memory": "GB", "disk": "GB"}


def relaxed(predicate: Any, lookup: Callable[[tuple[str, ...]], Any]) -> str | None:
    """`memory >= 80GB` failed on a 48 GB node: the rule that would admit it, `memory >= 48GB`."""
    if not isinstance(predicate, Compare) or predicate.op not in ("<", "<=", ">", ">="):
        return None
    value = lookup(predicate.subject)
    if value is None:
        return None
    name = ".".join(predicate.subject)
    bound = Fraction(value)
    if predicate.subject[-1] in _UNIT_OF:
        shown = f"{float(bound / 10 ** 9):g}GB"
    elif predicate.subject[-1] == "price":
        shown = f"{float(bound):g} USD/h"
    else:
        shown = f"{float(bound):g}"
    op = {"<": "<=", ">": ">="}.get(predicate.op, predicate.op)
    return f"{name} {op} {shown}"


RULE = Rule("require", reads=reads, excludes=excludes, why=why, warnings=warnings)
