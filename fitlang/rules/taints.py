"""Node taints (from an inventory): only workloads that `tolerate` a taint run there."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.model.problem import Exclusion, NodeClass
from fitlang.rules.base import Rule

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def reads(workload: Workload) -> Hashable:
    return tuple(workload.tolerate)


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
    tolerate = set(workload.tolerate)
    return ~facets.passing("taints", lambda c: c.taints,
                           lambda c: all(t.tolerated_by(tolerate) for t in c.taints))


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    for taint in node_class.taints:
        if not taint.tolerated_by(workload.tolerate):
            yield Exclusion(f"taint {taint}", node_class.origin,
                            f"nodes of `{node_class.pool}` are tainted {taint}", source="taints")


RULE = Rule("taints", reads=reads, excludes=excludes, why=why)
