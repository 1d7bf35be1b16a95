"""`zones = [...]` and `regions = [...]` on a workload: only nodes in those zones, regions.
Two rules of one shape, one module."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.model.problem import Exclusion, NodeClass
from fitlang.rules.base import Fleet, Rule, Unsatisfiable, few, quoted, values_key

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def _zones_reads(workload: Workload) -> Hashable:
    return values_key(workload.zones)


def _zones_excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    zones = workload.zones
    if zones is None:
        return None
    return ~facets.passing("zone", lambda c: c.zone, lambda c: c.zone in zones)


def _zones_why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    if workload.zones is not None and node_class.zone not in workload.zones:
        yield Exclusion("zones", workload.spans.get("zones"), f"zone is {node_class.zone!r}")


def _zones_warnings(workload: Workload, fleet: Fleet) -> Iterator[Unsatisfiable]:
    zones = workload.zones
    if zones is not None and not any(c.zone in zones for c in fleet.classes):
        found = sorted({c.zone for c in fleet.classes if c.zone})
        yield Unsatisfiable(workload.spans.get("zones"), f"zones = {quoted(zones)}",
                            f"; the zones are {few(found)}" if found else "; no node has a zone")


def _regions_reads(workload: Workload) -> Hashable:
    return values_key(workload.regions)


def _regions_excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    regions = workload.regions
    if regions is None:
        return None
    return ~facets.passing("region", lambda c: c.region, lambda c: c.region in regions)


def _regions_why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    if workload.regions is not None and node_class.region not in workload.regions:
        yield Exclusion("regions", workload.spans.get("regions"), f"region is {node_class.region!r}")


def _regions_warnings(workload: Workload, fleet: Fleet) -> Iterator[Unsatisfiable]:
    regions = workload.regions
    if regions is not None and not any(c.region in regions for c in fleet.classes):
        found = sorted({c.region for c in fleet.classes if c.region})
        yield Unsatisfiable(workload.spans.get("regions"), f"regions = {quoted(regions)}",
                            f"; the regions are {few(found)}" if found
                            else "; no node has a region")


ZONES = Rule("zones", reads=_zones_reads, excludes=_zones_excludes, why=_zones_why,
             warnings=_zones_warnings)
REGIONS = Rule("regions", reads=_regions_reads, excludes=_regions_excludes, why=_regions_why,
               warnings=_regions_warnings)
