"""`zones = [...]` and `regions = [...]` on a workload: only nodes in those zones, regions.
Two rules of one shape, one module: each is made by `_location_rule` from the location it
reads (a class's `zone` or `region`) and the workload field that lists it."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.model.problem import Exclusion, NodeClass
from fitlang.rules.base import Fleet, Rule, Unsatisfiable, few, quoted, values_key

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def _location_rule(location: str) -> Rule:
    """The rule of the workload field `<location>s`, met by a class whose `location` is listed."""
    field = f"{location}s"

    def listed(workload: Workload) -> list[str] | None:
        return getattr(workload, field)

    def of(node_class: NodeClass) -> str | None:
        return getattr(node_class, location)

    def reads(workload: Workload) -> Hashable:
        return values_key(listed(workload))

    def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
        wanted = listed(workload)
        if wanted is None:
            return None
        return ~facets.passing(location, of, lambda c: of(c) in wanted)

    def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
        wanted = listed(workload)
        if wanted is not None and of(node_class) not in wanted:
            yield Exclusion(field, workload.spans.get(field), f"{location} is {of(node_class)!r}",
                            source=field)

    def warnings(workload: Workload, fleet: Fleet) -> Iterator[Unsatisfiable]:
        wanted = listed(workload)
        if wanted is not None and not any(of(c) in wanted for c in fleet.classes):
            found = sorted({value for c in fleet.classes if (value := of(c))})
            yield Unsatisfiable(workload.spans.get(field), f"{field} = {quoted(wanted)}",
                                f"; the {field} are {few(found)}" if found
                                else f"; no node has a {location}")

    return Rule(field, reads=reads, excludes=excludes, why=why, warnings=warnings)


ZONES = _location_rule("zone")
REGIONS = _location_rule("region")
