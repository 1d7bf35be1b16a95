"""A replica's `cpu`, `memory`, `gpu` and `disk` requests: the replicas on a node fit in what
it has (its own allocatable where a class's nodes differ)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import RESOURCES, Exclusion, NodeClass
from fitlang.rules.base import Placed, Rule

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def requests(workload: Workload) -> dict[str, int]:
    """What one replica asks of a node, per resource (as `Demand.requests`)."""
    return {"cpu": workload.cpu_milli, "memory": workload.memory, "gpu": workload.gpu_count,
            "disk": workload.disk}


def too_small(requested: dict[str, int], replicas: int, facets: ClassFacets) -> np.ndarray:
    """Per class: does no replica fit on one node (`replicas_per_node` == 0)?"""
    if replicas <= 0:
        return np.ones(len(facets.classes), dtype=bool)
    small = np.zeros(len(facets.classes), dtype=bool)
    for column, resource in zip(facets.columns, RESOURCES):
        need = requested[resource]
        if need > 0:
            small |= column < need
    return small


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
    # no `reads`: sizes differ between workloads where their other rules repeat, so this is
    # asked per workload, after the shared answer of the other rules
    return too_small(requests(workload), workload.replicas, facets)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    """As `replicas_per_node(demand, node_class) == 0`: no replica fits on one node."""
    requested = requests(workload)
    if workload.replicas <= 0 or any(0 < requested[r] > node_class.capacity[r] for r in RESOURCES):
        short = [r for r in RESOURCES if requested[r] > node_class.capacity[r]]
        yield Exclusion("resources", workload.origin,
                        "a node has less " + " and ".join(short) + " than one replica needs"
                        if short else "")


def check(placed: Placed) -> Iterator[Diagnostic]:
    owner, demands = placed.owner, placed.demands
    for node, counts in sorted(placed.hosted.items()):
        capacity = owner[node].capacity_of(node)
        for resource in RESOURCES:
            used = sum(demands[w].requests[resource] * n for w, n in counts.items())
            if used > capacity[resource]:
                yield placed.violation(
                    f"node `{node}` is over its {resource}: {readable(resource, used)} requested, "
                    f"{readable(resource, capacity[resource], unit=False)} available",
                    owner[node].origin)


def readable(resource: str, amount: int, unit: bool = True) -> str:
    """An amount as people read it: `32 CPU` (not millicores), `96 GiB` (not bytes), `4 GPUs`;
    `unit=False` leaves the unit off a CPU or GPU count that follows one already named."""
    if resource == "cpu":
        return f"{amount / 1000:g}" + (" CPU" if unit else "")
    if resource in ("memory", "disk"):
        return f"{amount / 2 ** 30:.4g} GiB" if amount % 2 ** 20 else f"{amount // 2 ** 20 / 1024:g} GiB"
    return f"{amount}" + ((" GPU" if amount == 1 else " GPUs") if unit else "")


RULE = Rule("capacity", excludes=excludes, why=why, last_resort=True, check=check)
