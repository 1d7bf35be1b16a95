"""`labels = { "key": "value" }` on a workload: only nodes with those labels."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.model.problem import Exclusion, NodeClass
from fitlang.rules.base import Fleet, Rule, Unsatisfiable

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def reads(workload: Workload) -> Hashable:
    return tuple(sorted(workload.labels.items()))


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    if not workload.labels:
        return None
    allowed = np.ones(len(facets.classes), dtype=bool)
    for key, value in workload.labels.items():
        allowed &= _labelled(facets, key, value)
    return ~allowed


def _labelled(facets: ClassFacets, key: str, value: str) -> np.ndarray:
    def label(node_class: NodeClass) -> str | None:
        return node_class.labels.get(key)

    return facets.passing(("label", key), label, lambda c: label(c) == value)


def _rule(key: str, value: str) -> str:
    return f'labels["{key}"] == "{value}"'


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    for key, value in workload.labels.items():
        if node_class.labels.get(key) != value:
            yield Exclusion(_rule(key, value), workload.spans.get("labels"),
                            f"node label {key} is {node_class.labels.get(key)!r}", source="labels")


def warnings(workload: Workload, fleet: Fleet) -> Iterator[Unsatisfiable]:
    for key, value in workload.labels.items():
        if not any(c.labels.get(key) == value for c in fleet.classes):
            yield Unsatisfiable(workload.spans.get("labels"), _rule(key, value))


RULE = Rule("labels", reads=reads, excludes=excludes, why=why, warnings=warnings)
