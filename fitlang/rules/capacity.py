"""A replica's `cpu`, `memory`, `gpu` and `disk` requests: the replicas on a node fit in what
it has (its own allocatable where a class's nodes differ)."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import RESOURCES, Exclusion, NodeClass
from fitlang.rules.base import PartKind, Placed, Rule, Stated
from fitlang.rules.explaining import plural, shape

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair

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
                        if short else "", source="capacity", fact=True)


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


def reason(problem: Problem, part: Part) -> Stated:
    node_class = problem.node_class(part.subject)
    return Stated(f"pool `{node_class.id}` has {plural(node_class.count, 'node')} of "
                  f"{shape(node_class)}", node_class.spans.get("count", node_class.origin))


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """More nodes in the pool: the fewest that work (from a proven bound where there is one)."""
    from fitlang.solve.explain import search

    pool = part.subject
    count = problem.node_class(pool).count

    def works(extra: int) -> search.Check:
        return search.works(search.with_pool(problem, pool, count + extra), deadline, True)

    grown = search.with_pool(problem, pool,
                             count + min(search.MAX_EXTRA_NODES, sum(d.replicas for d in problem.demands)))
    # node by node (small fleets) each node is a class: which pool it is in
    exact = sum(c.count for c in grown.classes) <= search.PER_NODE_MAX_NODES
    owners = grown.owners() if exact else None
    # under `spread node` an idle node is a domain with 0 replicas: the fewest nodes used in
    # a larger pool says nothing of a pool of that size, so the search starts at 1
    spread = any(s.topology == "node" and pool in {search.class_id(owners, c) for c in d.eligible}
                 for d in grown.demands for s in d.spreads)
    least = None if spread else search.bound(
        grown, lambda e, p: {e.u[c.id]: 1 for c in p.classes
                             if search.class_id(owners, c.id) == pool}, deadline)
    if least is search.NOTHING_WORKS:  # not even with as many nodes as there are replicas
        return None
    low = 1 if least is None else max(1, least - count)
    found = search.smallest(works, low, search.MAX_EXTRA_NODES, deadline)
    if found is None:
        return None
    extra = found[0]
    origin = problem.node_class(pool).spans.get("count")
    text = f"add {plural(extra, 'node')} to pool `{pool}` (count = {count + extra})"
    return search.Repair(part, text, origin or problem.node_class(pool).origin, str(count),
                         str(count + extra), found[1].cost,
                         search.fix(text, origin, str(count + extra)), extra,
                         Fraction(count + extra))


RULE = Rule("capacity", excludes=excludes, why=why, last_resort=True, check=check,
            part_kind=PartKind.CAPACITY, reason=reason, repairs=repairs)
