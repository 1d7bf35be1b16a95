"""Utilisation and stranded capacity of a placement, per pool and resource.

`stranded` is the part of what is free on the nodes in use that no replica of the policy
could use, because another resource on the same node is exhausted: GPUs idle on a node whose
CPU or memory is taken, say. It is what better fitting can win back before buying more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve.placement import Placement


@dataclass
class Utilization:
    pool: str
    resource: str
    capacity: int  # summed over the pool's nodes in use
    used: int
    stranded: int


def utilization(problem: Problem, placement: Placement, by_class: bool = False) -> list[Utilization]:
    """Per pool and resource (per node class with `by_class`: bought nodes by offer and region,
    as the text report's pool table lists them)."""
    owner = problem.owners()
    requests = _requests(problem)
    load = _load(problem, placement, requests)
    rows: dict[tuple[str, str], Utilization] = {}
    usable = _Usable(problem, {owner[node].id for node in load}, requests)
    for node, used in load.items():  # (sums of ints: in any order)
        node_class = owner[node]
        capacity = node_class.capacity_of(node)
        free = tuple(capacity[r] - amount for r, amount in zip(RESOURCES, used))
        for index, resource in enumerate(RESOURCES):
            if not capacity[resource]:
                continue
            group = node_class.id if by_class else node_class.pool
            row = rows.setdefault((group, resource), Utilization(group, resource, 0, 0, 0))
            row.capacity += capacity[resource]
            row.used += used[index]
            if free[index] > 0 and not usable(node_class, free)[index]:
                row.stranded += free[index]
    return [rows[key] for key in sorted(rows)]


def _requests(problem: Problem) -> np.ndarray:
    """Each demand's requests (a row per demand, a column per resource of RESOURCES)."""
    return np.array([[d.requests[r] for r in RESOURCES] for d in problem.demands],
                    dtype=np.int64).reshape(len(problem.demands), len(RESOURCES))


def _load(problem: Problem, placement: Placement, requests: np.ndarray) -> dict[str, tuple[int, ...]]:
    """Node -> what the replicas on it request, per resource: summed in one array operation
    (a dict per node and a loop per replica and resource were 0.3 CPU s at 50,000 nodes)."""
    index = {d.name: i for i, d in enumerate(problem.demands)}
    nodes: dict[str, int] = {}
    count = len(placement.assignments)
    node_of = np.fromiter((nodes.setdefault(a.node, len(nodes)) for a in placement.assignments),
                          dtype=np.int64, count=count)
    demand_of = np.fromiter((index[a.workload] for a in placement.assignments), dtype=np.int64,
                            count=count)
    load = np.zeros((len(nodes), len(RESOURCES)), dtype=np.int64)
    np.add.at(load, node_of, requests[demand_of])
    return dict(zip(nodes, map(tuple, load.tolist())))


class _Usable:
    """Per resource, could one more replica of any workload that may run on the node, and
    uses that resource, fit in what is free? Nodes of a class often share their free room,
    so answers are kept per (class, free room)."""

    def __init__(self, problem: Problem, in_use: set[str], requests: np.ndarray) -> None:
        # per class in use, the workloads that may use it: one pass over each distinct
        # eligibility list (`build_problem` gives workloads that may use the same classes one
        # list), kept for the classes in use only. A membership test per class and workload
        # was 1.8 billion string comparisons at 10,000 breaker nodes, and a pass over every
        # workload's list 20 s at 50,000 (23 million entries).
        shared: dict[int, tuple[list[str], list[int]]] = {}
        for index, demand in enumerate(problem.demands):
            entry = shared.get(id(demand.eligible))
            if entry is None:
                shared[id(demand.eligible)] = (demand.eligible, [index])
            else:
                entry[1].append(index)
        # the distinct requests (`_requests`), and each workload's among them
        self.sizes, self.size_of = np.unique(requests, axis=0, return_inverse=True)
        self.size_of = self.size_of.reshape(-1)
        # per class in use, the distinct requests of each eligibility list that has it: made
        # once per list, not per class over every workload of its lists (1,200 classes in use
        # of 10,000 workloads each, 0.55 of the report's 1.1 CPU s: many_workloads 10,000 / 1,500)
        self.by_class: dict[str, list[np.ndarray]] = {}
        for eligible, indexes in shared.values():
            sizes = np.unique(self.size_of[indexes])
            for class_id in eligible:
                if class_id in in_use:
                    self.by_class.setdefault(class_id, []).append(sizes)
        self.requests: dict[str, np.ndarray] = {}
        self.answers: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def __call__(self, node_class: NodeClass, free: tuple[int, ...]) -> np.ndarray:
        key = (node_class.id, free)
        if key not in self.answers:
            requests = self.requests.get(node_class.id)
            if requests is None:  # each distinct request once: workloads share their sizes
                lists = self.by_class.get(node_class.id, [])
                sizes = np.unique(np.concatenate(lists)) if lists else np.zeros(0, dtype=np.int64)
                requests = self.requests[node_class.id] = self.sizes[sizes]
            fitting = requests[(requests <= np.array(free)).all(axis=1)]
            self.answers[key] = np.asarray((fitting > 0).any(axis=0))
        return self.answers[key]
