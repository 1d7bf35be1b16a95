"""`dedicated = "team"` on a pool: only workloads that `tolerate` it run there."""

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
    return ~facets.passing("dedicated", lambda c: c.dedicated,
                           lambda c: c.dedicated is None or c.dedicated in tolerate)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    if node_class.dedicated is not None and node_class.dedicated not in workload.tolerate:
        yield Exclusion(f'dedicated = "{node_class.dedicated}"',
                        node_class.spans.get("dedicated", node_class.origin),
                        f"pool `{node_class.pool}` is dedicated to \"{node_class.dedicated}\" "
                        "and the workload does not tolerate it")


RULE = Rule("dedicated", reads=reads, excludes=excludes, why=why)
