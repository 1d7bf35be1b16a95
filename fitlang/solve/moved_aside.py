"""A short replica placed where a replica of another workload moves aside to room of its own.

After the model's counts are packed by node patterns (pattern_pack.py) and `repair` places what
they left out on the classes with room, a few replicas can still be out: their workload may use
only classes the model's counts filled, while a workload on those nodes may also use a class
with room. Held-out `pools` 10,000 seed 104 (docs/performance.md, session 33): 595 out of `pack`,
104 of the patterns, 3 of `repair`; the round that followed found every replica a home, but at
5 s it was cut, and the answer was the greedy floor, 25% dearer. `repair` and `made_room` move
one workload's replicas; this is the two-step chain: a replica of another workload moves to
free room (or a node opened where `may_open` allows, the cheapest first), and the short one
takes its place.

Only between *loose* workloads: no rule but their requests and where they may run (no spread,
affinity either way, latency, gang, option group, exclusivity or per-node limit), so a replica
moved within its eligible classes keeps every rule.
"""

from __future__ import annotations

import time

from fitlang.model.problem import RESOURCES, Demand, Problem
from fitlang.solve.make_room import take_short
from fitlang.solve.pack import MayOpen, NodeState, Packing, _unused_names


def loose_workloads(problem: Problem) -> set[str]:
    """The workloads whose replicas may go to any node of their eligible classes with room:
    no rule of their own but where they may run, and none of another workload's names them
    (an affinity or anti-affinity to them would hold where they are)."""
    apart, exclusive = problem.apart_on_nodes
    named = {rule.target for demand in problem.demands for rule in demand.affinities}
    return {demand.name for demand in problem.demands
            if not (demand.spreads or demand.affinities or demand.latency or demand.gang
                    or demand.exclusive or demand.one_per_node or demand.group is not None
                    or demand.name in apart or demand.name in exclusive or demand.name in named)}


def moved_aside(problem: Problem, packing: Packing, may_open: MayOpen, deadline: float | None) -> int:
    """Place short replicas of loose workloads by moving a replica of another loose workload
    aside (`_chain`), until none is left or the deadline; how many were placed."""
    movable = loose_workloads(problem)
    placed = 0
    for (name, class_id), amount in sorted(packing.short_by_workload.items()):
        if name not in movable:
            continue
        demand = problem.demand(name)
        for _ in range(amount):
            if deadline is not None and time.monotonic() >= deadline:
                return placed
            if not _chain(problem, packing, demand, movable, may_open):
                break
            take_short(packing, name, class_id)
            placed += 1
    return placed


def _chain(problem: Problem, packing: Packing, demand: Demand, movable: set[str], may_open: MayOpen) -> bool:
    """One replica of `demand` onto a node of its classes where a replica of another movable
    workload leaves for room elsewhere; whether it was."""
    homeless: set[str] = {demand.name}  # no room for them (looked for once: it reads every node)
    for class_id in demand.eligible:
        for node in packing.nodes.get(class_id, []):
            for other in sorted(node.hosted):
                if other in homeless or other not in movable or not node.hosted[other]:
                    continue
                moving = problem.demand(other)
                if not _fits(demand, node.free, moving):
                    continue
                target = _room(problem, packing, moving, node, may_open)
                if target is None:
                    homeless.add(other)
                    continue
                _host(target, moving, 1)
                _host(node, moving, -1)
                _host(node, demand, 1)
                packing._room.clear()
                return True
    return False


def _fits(demand: Demand, free: dict[str, int], leaving: Demand | None = None) -> bool:
    return all(free[r] + (leaving.requests[r] if leaving is not None else 0) >= demand.requests[r]
               for r in RESOURCES)


def _room(problem: Problem, packing: Packing, demand: Demand, besides: NodeState,
          may_open: MayOpen) -> NodeState | None:
    """A node of `demand`'s classes other than `besides` with room for one replica: an open one
    first, else a new one of the cheapest class that may open one."""
    for class_id in demand.eligible:
        for node in packing.nodes.get(class_id, []):
            if node is not besides and _fits(demand, node.free):
                return node
    for node_class in sorted(map(problem.node_class, demand.eligible), key=lambda c: (c.price, c.id)):
        opened = packing.nodes.setdefault(node_class.id, [])
        if not may_open(node_class, packing):
            continue
        name = next(_unused_names(node_class, opened), None)
        if name is None:
            continue
        node = NodeState(name, dict(node_class.capacity_of(name)))
        if _fits(demand, node.free):
            opened.append(node)
            return node
    return None


def _host(node: NodeState, demand: Demand, amount: int) -> None:
    node.hosted[demand.name] = node.hosted.get(demand.name, 0) + amount
    if not node.hosted[demand.name]:
        del node.hosted[demand.name]
    for resource in RESOURCES:
        node.free[resource] -= demand.requests[resource] * amount

