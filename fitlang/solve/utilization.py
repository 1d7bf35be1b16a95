"""Utilisation and stranded capacity of a placement, per pool and resource.

`stranded` is the part of what is free on the nodes in use that no replica of the policy
could use, because another resource on the same node is exhausted: GPUs idle on a node whose
CPU or memory is taken, say. It is what better fitting can win back before buying more.
"""

from __future__ import annotations

from dataclasses import dataclass

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.solve.placement import Placement


@dataclass
class Utilization:
    pool: str
    resource: str
    capacity: int  # summed over the pool's nodes in use
    used: int
    stranded: int


def utilization(problem: Problem, placement: Placement) -> list[Utilization]:
    owner = {name: c for c in problem.classes for name in c.node_names}
    demands = {d.name: d for d in problem.demands}
    load: dict[str, dict[str, int]] = {}
    for assignment in placement.assignments:
        used = load.setdefault(assignment.node, {r: 0 for r in RESOURCES})
        for resource in RESOURCES:
            used[resource] += demands[assignment.workload].requests[resource]
    rows: dict[tuple[str, str], Utilization] = {}
    for node, used in sorted(load.items()):
        node_class = owner[node]
        free = {r: node_class.capacity[r] - used[r] for r in RESOURCES}
        for resource in RESOURCES:
            if not node_class.capacity[resource]:
                continue
            row = rows.setdefault((node_class.pool, resource),
                                  Utilization(node_class.pool, resource, 0, 0, 0))
            row.capacity += node_class.capacity[resource]
            row.used += used[resource]
            if free[resource] > 0 and not _usable(free, resource, node_class, problem.demands):
                row.stranded += free[resource]
    return [rows[key] for key in sorted(rows)]


def _usable(free: dict[str, int], resource: str, node_class: NodeClass, demands: list[Demand]) -> bool:
    """Could one more replica of any workload that may run here, and uses `resource`, fit?"""
    for demand in demands:
        if node_class.id not in demand.eligible or not demand.requests[resource]:
            continue
        if all(demand.requests[r] <= free[r] for r in RESOURCES):
            return True
    return False
