"""Never worse by priority than a first-fit by priority: Slurm's own way, kept as the answer's floor.

Where not every replica fits and the policy allows some left out, a placement is judged by
priority: each level, highest first, as many as fit (`most_placed.py`). The plainest such
placement is what a batch scheduler does with its queue: the jobs by priority, each replica on
the first node (in the nodes' order) with room for it, a gang whole or not at all. The solver's
floor is no such pass: it counts a replica on a node read from Slurm at the least Slurm gives
it (a relaxation, `model/slurm_cpus.py`), and its answer is repaired after the solve in Slurm's
whole cores per job (`whole_cores.py`), which a time limit cuts short. On an oversubscribed
Slurm cluster (bench/hpc_queue.py 3,000 nodes / 1,500 jobs seed 61) the answer at 1 and 10 s
placed fewer at every level but the lowest than such a first-fit did: [4478, 4140, 3754, 1669]
and [4524, 4146, 3814, 1682] against [4524, 4158, 3817, 1875] replicas at priorities 5..2.

So this pass runs before the solve, and the answer is never worse than it: where the solve's
answer (repaired) places fewer at the first priority level where the two differ, the pass is
the answer (`kept_above`); the floor stage goes on from it where it leaves fewer out than the
greedy floor (`floor_by_priority`). hpc_queue 3,000 and 10,000 nodes, seeds 61-68 at 1-10 s:
the start tree fewer than the first-fit in 20 of 23 runs, now in none. The pass counts what
Slurm counts: each task whole CPUs, each job (a workload's replicas on one node) whole cores of
its node's threads; every other resource, the pods a node admits, `anti_affinity self on
node`, workloads kept apart on nodes and `exclusive` ones. The nodes are taken by name, digits
as numbers (node2 before node10: the order Slurm lists nodes named in ranges, and tries nodes
of equal weight in); the workloads by priority, then in the policy's order.

It runs only where it keeps every rule the policy states by construction: no spread, no
affinity but apart on nodes, no latency, no option groups, no buy, budget, power cap, horizon
or moves (`in_scope`); elsewhere the answer is the solve's as before.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, Problem
from fitlang.model.slurm_cpus import MILLI, task_cpus
from fitlang.solve.make_room import left_out
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.placement_result import FEASIBLE_PARTIAL, Placement, _from_packing

_CPU = RESOURCES.index("cpu")
# the pods a node admits where its class states no `max_pods` (more than any node holds)
_NO_POD_LIMIT = 2 ** 40
# the pass of each solve running (`kept_above`), by the id of its problem: the floor stage reads it
_PASSES: dict[int, Packing] = {}


def kept_above(problem: Problem, time_limit: float | None,
               solved: Callable[[float | None], Placement]) -> Placement:
    """`solved(limit)`, or the first-fit by priority where that places more at the first level
    where the two differ (the module docstring). The pass runs first, its time taken from the
    limit (hpc_queue 3,000 nodes / 1,500 jobs ~0.12 CPU s, 10,000 / 3,000 ~0.6). Its placement is
    made only where it is the answer (10,000 nodes: 0.24 CPU s)."""
    started = time.monotonic()
    first = first_fit_by_priority(problem) if in_scope(problem) else None
    limit = None if time_limit is None else max(0.0, time_limit - (time.monotonic() - started))
    if first is not None:
        _PASSES[id(problem)] = first
    try:
        answer = solved(limit)
    finally:
        _PASSES.pop(id(problem), None)
    # (an answer still overfull in whole cores is no placement Slurm runs: the driver says so)
    if first is None or (not answer.overfull and (
            not answer.unplaced or _by_level(problem, _placed(first)) <= placed_by_level(problem, answer))):
        return answer
    floor = _from_packing(problem, first, answer.objective, FEASIBLE_PARTIAL, None)
    floor.backend, floor.seconds = "first-fit by priority", answer.seconds
    return floor


def floor_by_priority(problem: Problem, floor: Packing) -> Packing:
    """The greedy `floor`, or a copy of the pass run for this solve where it leaves out fewer
    at the first priority level where the two differ (`make_room.left_out`): the stages after
    the floor then go on from it."""
    first = _PASSES.get(id(problem))
    if first is None or left_out(problem, first) >= left_out(problem, floor):
        return floor
    copy = Packing(short=dict(first.short), short_by_workload=dict(first.short_by_workload))
    for class_id, nodes in first.nodes.items():
        copy.nodes[class_id] = [NodeState(n.name, dict(n.free), dict(n.hosted)) for n in nodes]
    return copy


def placed_by_level(problem: Problem, placement: Placement) -> tuple[int, ...]:
    """Replicas placed per priority level, highest first (compared as tuples: more at a
    higher level first)."""
    return _by_level(problem, Counter(a.workload for a in placement.assignments))


def _by_level(problem: Problem, placed: Counter[str]) -> tuple[int, ...]:
    levels: Counter[int] = Counter()
    for demand in problem.demands:
        levels[demand.priority] += placed[demand.name]
    return tuple(levels[level] for level in sorted({d.priority for d in problem.demands}, reverse=True))


def _placed(packing: Packing) -> Counter[str]:
    """Replicas the pass placed, per workload (a gang's whole: it places none short)."""
    placed: Counter[str] = Counter()
    for nodes in packing.nodes.values():
        for node in nodes:
            placed.update(node.hosted)
    return placed


def in_scope(problem: Problem) -> bool:
    """Does the pass keep every rule of the policy by construction (the module docstring)? Only
    where replicas may be left out: elsewhere the solve places every one or proves none."""
    if not problem.allow_unplaced or problem.timeline is not None or problem.holds or problem.option_groups:
        return False
    if problem.budget is not None or problem.buy_limits or problem.power_caps or problem.running \
            or problem.pinned or problem.running_elsewhere:
        return False
    if any(c.offer is not None or c.tpu_slice is not None for c in problem.classes):
        return False
    return all(_plain(demand) for demand in problem.demands)


def _plain(demand: Demand) -> bool:
    """A workload whose rules the pass keeps: no spread, latency or option, and no affinity but
    apart on nodes."""
    return not (demand.spreads or demand.latency or demand.group is not None or demand.windows) and all(
        rule.anti and rule.topology == "node" for rule in demand.affinities)


def first_fit_by_priority(problem: Problem) -> Packing:
    """The pass (the module docstring): the nodes it uses, what each hosts and has free, and
    what it left out (`Packing.short_by_workload`)."""
    nodes = _Nodes(problem)
    apart, exclusive = problem.apart_on_nodes
    order = sorted(range(len(problem.demands)), key=lambda at: (-problem.demands[at].priority, at))
    short: list[tuple[str, str, int]] = []
    for at in order:
        demand = problem.demands[at]
        if not demand.replicas:
            continue
        candidates = nodes.of(demand)
        fit = nodes.fit(demand, candidates, apart.get(demand.name, set()), demand.name in exclusive)
        placed = nodes.place(demand, candidates, fit, demand.name in exclusive)
        if placed < demand.replicas:
            origin = demand.eligible[0] if demand.eligible else ""
            short.append((demand.name, origin, demand.replicas - placed))
    packing = nodes.packing()
    for name, class_id, amount in short:
        packing.add_short(name, class_id, amount)
    return packing


def _by_name(name: str) -> list:
    """A node's place in the nodes' order: its name, digits as numbers."""
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


class _Nodes:
    """Every node of the fleet as arrays, in the pass's order: what each has free (CPU in
    millicores), its pods left, its CPU unit (a whole core in millicores on a node read from
    Slurm, else a millicore), its class and gang domain; and what each hosts."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        classes = problem.classes
        named = sorted(((_by_name(name), name, row) for row, c in enumerate(classes)
                        for name in c.node_names), key=lambda item: item[0])
        self.names = [name for _, name, _ in named]
        self.row = np.array([row for _, _, row in named], dtype=np.int64)
        rows = [[c.capacity[r] for r in RESOURCES] for c in classes]
        self.free = np.array(rows, dtype=np.int64).reshape(len(classes), len(RESOURCES))[self.row]
        self.pods = np.array([_pods(c.max_pods) for c in classes], dtype=np.int64)[self.row]
        for at, (_, name, row) in enumerate(named):  # (nodes of their own room: few)
            node_class = classes[row]
            if node_class.node_capacity or node_class.node_pods:
                self.free[at] = [node_class.capacity_of(name)[r] for r in RESOURCES]
                self.pods[at] = _pods(node_class.pods_of(name))
        slurm = np.array([c.slurm_allocated for c in classes], dtype=bool)
        self.slurm = slurm[self.row]
        self.unit = np.where(slurm, [c.threads_per_core * MILLI for c in classes], 1)[self.row]
        domains = {domain: code for code, domain in enumerate(dict.fromkeys(c.gang_domain for c in classes))}
        self.domain = np.array([domains[c.gang_domain] for c in classes], dtype=np.int64)[self.row]
        self.alone = np.zeros(len(named), dtype=bool)  # hosts an exclusive workload
        self.busy = np.zeros(len(named), dtype=bool)  # hosts anything
        self.hosted: dict[int, dict[str, int]] = {}
        self.hosts: dict[str, list[int]] = {}  # workload -> the nodes it is on
        self._of: dict[tuple[str, ...], np.ndarray] = {}
        self.class_row = {c.id: row for row, c in enumerate(classes)}

    def of(self, demand: Demand) -> np.ndarray:
        """The nodes of the classes the workload may use that may take anything yet, in the
        pass's order (an oversubscribed cluster fills most of them early)."""
        key = tuple(demand.eligible)
        found = self._of.get(key)
        if found is None:
            rows = np.zeros(len(self.problem.classes), dtype=bool)
            rows[[self.class_row[c] for c in key]] = True
            found = np.flatnonzero(rows[self.row])
        # (on a node read from Slurm every task takes a CPU: none is left once a core is not)
        full = (self.pods[found] <= 0) | (self.slurm[found] & (self.free[found, _CPU] < self.unit[found]))
        found = self._of[key] = found[~full]
        return found

    def fit(self, demand: Demand, nodes: np.ndarray, apart: set[str], exclusive: bool) -> np.ndarray:
        """Replicas of `demand` each of these nodes takes beside what it hosts: resource by
        resource; on a node read from Slurm its job's CPUs in whole cores (k tasks of c CPUs
        take ceil(k c / t) t of a node of t threads per core)."""
        fit = np.minimum(self.pods[nodes], 1 if demand.one_per_node else demand.replicas)
        free = self.free[nodes]
        cpus = self._cpus(demand, nodes)
        unit = self.unit[nodes]
        fit = np.where(cpus > 0, np.minimum(fit, free[:, _CPU] // unit * unit // np.maximum(cpus, 1)), fit)
        for k, resource in enumerate(RESOURCES):
            need = demand.requests[resource]
            if resource != "cpu" and need > 0:
                fit = np.minimum(fit, free[:, k] // need)
        fit = np.where(self.alone[nodes] | (self.busy[nodes] if exclusive else False), 0, fit)
        for other in apart:
            if other in self.hosts:
                fit[np.isin(nodes, self.hosts[other])] = 0
        return np.maximum(fit, 0)

    def _cpus(self, demand: Demand, nodes: np.ndarray) -> np.ndarray:
        """What one task of `demand` takes of each node, in millicores: on a node read from
        Slurm its whole CPUs (a task asking none gets one), elsewhere what it asks."""
        return np.where(self.slurm[nodes], task_cpus(demand.asked_cpu) * MILLI, demand.requests["cpu"])

    def place(self, demand: Demand, nodes: np.ndarray, fit: np.ndarray, exclusive: bool) -> int:
        """The replicas on the first nodes with room, each filled with what fits (a gang whole
        within one of its domains, the first that takes it, or not at all): how many placed."""
        wanted = demand.replicas
        if demand.gang:
            nodes, fit = self._gang_domain(nodes, fit, wanted)
        before = np.cumsum(fit) - fit
        take = np.minimum(fit, np.maximum(wanted - before, 0))
        chosen = take > 0
        nodes, take = nodes[chosen], take[chosen]
        if not len(nodes):
            return 0
        unit = self.unit[nodes]  # (the job's CPUs in whole units: cores on a node read from Slurm)
        self.free[nodes, _CPU] -= -(-take * self._cpus(demand, nodes) // unit) * unit
        for k, resource in enumerate(RESOURCES):
            if resource != "cpu":
                self.free[nodes, k] -= take * demand.requests[resource]
        self.pods[nodes] -= take
        self.busy[nodes] = True
        self.alone[nodes] |= exclusive
        for node, count in zip(nodes.tolist(), take.tolist(), strict=True):
            self.hosted.setdefault(node, {})[demand.name] = count
        self.hosts[demand.name] = nodes.tolist()
        return int(take.sum())

    def _gang_domain(self, nodes: np.ndarray, fit: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """The nodes of the first gang domain (`NodeClass.gang_domain`) whose nodes take the whole
        gang, and their fit; none where no domain does."""
        domain = self.domain[nodes]
        for code in dict.fromkeys(domain[fit > 0].tolist()):
            mine = domain == code
            if int(fit[mine].sum()) >= wanted:
                return nodes[mine], fit[mine]
        return nodes[:0], fit[:0]

    def packing(self) -> Packing:
        """The nodes in use, under their classes, in the pass's order."""
        packing = Packing()
        for node in sorted(self.hosted):
            free = dict(zip(RESOURCES, self.free[node].tolist(), strict=True))
            class_id = self.problem.classes[int(self.row[node])].id
            state = NodeState(self.names[node], free, self.hosted[node])
            packing.nodes.setdefault(class_id, []).append(state)
        return packing


def _pods(most: int | None) -> int:
    return _NO_POD_LIMIT if most is None else most
