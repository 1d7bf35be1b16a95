"""`residency = [EU]` on a workload: only nodes in those jurisdictions (from the pool's
`jurisdiction`, or its `region` block)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.model.problem import Exclusion, NodeClass
from fitlang.rules.base import Fleet, Rule, Unsatisfiable, few, values_key

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def reads(workload: Workload) -> Hashable:
    return values_key(workload.residency)


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    residency = workload.residency
    if residency is None:
        return None
    return ~facets.passing("jurisdiction", lambda c: c.jurisdiction,
                           lambda c: c.jurisdiction in residency)


def _rule(residency: list[str]) -> str:
    return f"residency = [{', '.join(residency)}]"


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    if workload.residency is not None and node_class.jurisdiction not in workload.residency:
        yield Exclusion(_rule(workload.residency), workload.spans.get("residency", workload.origin),
                        _jurisdiction_detail(node_class), source="residency")


def _jurisdiction_detail(node_class: NodeClass) -> str:
    if node_class.jurisdiction is not None:
        where = f" (region {node_class.site.code})" if node_class.site else ""
        return f"nodes of `{node_class.id}` are in {node_class.jurisdiction}{where}"
    place = (f"region {node_class.region!r} has no `region` block" if node_class.region else
             f"zone {node_class.zone!r} is in no known region" if node_class.zone else
             "it states no region")
    return (f"the jurisdiction of `{node_class.pool}` is unknown: {place} and it states no "
            "`jurisdiction`")


def warnings(workload: Workload, fleet: Fleet) -> Iterator[Unsatisfiable]:
    residency = workload.residency
    if residency is not None and not any(c.jurisdiction in residency for c in fleet.classes):
        places = sorted({c.jurisdiction for c in fleet.classes if c.jurisdiction})
        yield Unsatisfiable(workload.spans.get("residency"), _rule(residency),
                            f"; the nodes are in {few(places)}" if places
                            else "; no node has a known jurisdiction")


RULE = Rule("residency", reads=reads, excludes=excludes, why=why, warnings=warnings)
