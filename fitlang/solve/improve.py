"""Local search on a per-node placement: close the nodes whose replicas fit elsewhere.

Packing follows the aggregate model's counts, and repair opens nodes for what did not fit; on
fleets of hundreds of small pools that leaves many nodes nearly empty (measured on the
*inventory* shape of bench/inventories.py at 1,000 nodes: the aggregate planned 77.24 USD/h,
packing and repair ended at 92.59, 18 nodes under half used). `consolidate` takes the open
nodes that cost something, least used first, and moves every replica of one into the free room
of other open nodes; the move is kept only when all of them found room, so each accepted step
lowers the objective and keeps every rule:

- a replica moves only to a class `equivalents` allows (eligible, the same domain for every
  topology a spread or affinity counts in, the same latency reach), so counts per zone, region
  or any other domain are unchanged;
- on the node it moves to: the free resources, the per-node limit, anti-affinity on nodes and
  exclusive workloads are checked;
- a gang's replicas stay in their cluster; workloads with node-level affinities, node spreads
  or `exclusive` stay where they are (the nodes hosting them are not closed);
- closing a node only lowers node counts, so buy limits, the budget and power caps still hold.
"""

from __future__ import annotations

import time

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, node_limit
from fitlang.solve.pack import NodeState, Packing, _apart_on_nodes, equivalents

# objectives that closing a node lowers (others are left as the packing made them)
NODE_OBJECTIVES = ("cost", "nodes")
# a pass, least used nodes first, stops after this many nodes in a row that could not close
# (measured on the bench shape at 10,000 nodes: trying every node took 2.9 s for 0.05%)
GIVE_UP_AFTER = 50


def consolidate(problem: Problem, packing: Packing, objective: str,
                deadline: float | None = None) -> int:
    """Close open nodes whose replicas all fit in the free room of other open nodes, while
    time is left; say how many were closed. Deterministic: the order depends on the packing
    only, and the deadline only cuts the passes short."""
    if objective not in NODE_OBJECTIVES or (deadline is not None and time.monotonic() >= deadline):
        return 0
    search = _Search(problem, packing, objective)
    closed = 0
    while True:
        closed_now = failed = 0
        for node, node_class in search.candidates():
            if deadline is not None and time.monotonic() >= deadline:
                search.finish()
                return closed + closed_now
            if search.try_close(node, node_class):
                closed_now += 1
                failed = 0
            else:
                failed += 1
                if failed >= GIVE_UP_AFTER:
                    break  # the fuller nodes that follow would close still less often
        closed += closed_now
        if not closed_now:
            break
    search.finish()
    return closed


class _Search:
    def __init__(self, problem: Problem, packing: Packing, objective: str) -> None:
        self.problem = problem
        self.packing = packing
        self.objective = objective
        self.apart, self.exclusive = _apart_on_nodes(problem)
        self.fixed = _unmovable(problem) | self.exclusive
        self.requests = {d.name: np.array([d.requests[r] for r in RESOURCES], dtype=np.int64)
                         for d in problem.demands}
        self.free = {class_id: np.array([[n.free[r] for r in RESOURCES] for n in nodes],
                                        dtype=np.int64).reshape(len(nodes), len(RESOURCES))
                     for class_id, nodes in packing.nodes.items()}
        self.open = {class_id: np.ones(len(nodes), dtype=bool) for class_id, nodes in packing.nodes.items()}
        self.position = {n.name: (class_id, i) for class_id, nodes in packing.nodes.items()
                         for i, n in enumerate(nodes)}
        self._targets: dict[tuple[str, str], list[NodeClass]] = {}

    def worth(self, node_class: NodeClass) -> bool:
        return self.objective == "nodes" or node_class.price > 0

    def candidates(self) -> list[tuple[NodeState, NodeClass]]:
        """Open nodes that cost something and host nothing that stays, least used first."""
        found = []
        for node_class in self.problem.classes:
            nodes = self.packing.nodes.get(node_class.id, [])
            if not nodes or not self.worth(node_class):
                continue
            for i, node in enumerate(nodes):
                if not self.open[node_class.id][i] or self.fixed & node.hosted.keys():
                    continue
                capacity = node_class.capacity_of(node.name)
                used = max((1 - node.free[r] / capacity[r] for r in RESOURCES if capacity[r]),
                           default=1.0)
                found.append((used, -node_class.price, node.name, node, node_class))
        found.sort(key=lambda item: item[:3])
        return [(node, node_class) for *_, node, node_class in found]

    def targets(self, demand: Demand, origin: NodeClass) -> list[NodeClass]:
        key = (demand.name, origin.id)
        if key not in self._targets:
            # a gang runs in one cluster: its replicas stay in the cluster they are in
            self._targets[key] = [c for c in equivalents(self.problem, demand, origin)
                                  if self.packing.nodes.get(c.id)
                                  and (not demand.gang or c.cluster == origin.cluster)]
        return self._targets[key]

    def try_close(self, node: NodeState, node_class: NodeClass) -> bool:
        """Move every replica on `node` to other open nodes, or change nothing."""
        class_id, index = self.position[node.name]
        if not self.open[class_id][index]:
            return False
        self.open[class_id][index] = False  # not a destination for its own replicas
        moves: list[tuple[str, int, str, int]] = []  # (class id, node index, workload, amount)
        order = sorted(node.hosted, key=lambda name: (-int(self.requests[name].sum() > 0),
                                                      -float(self.requests[name][0]), name))
        for name in order:
            if not self._place(self.problem.demand(name), node.hosted[name], node_class, moves):
                self._undo(moves)
                self.open[class_id][index] = True
                return False
        node.hosted.clear()
        return True

    def _place(self, demand: Demand, amount: int, origin: NodeClass,
               moves: list[tuple[str, int, str, int]]) -> bool:
        need = self.requests[demand.name]
        for target in self.targets(demand, origin):
            free = self.free[target.id]
            fits = self.open[target.id] & (free >= need).all(axis=1)
            if not fits.any():
                continue
            nodes = self.packing.nodes[target.id]
            limit = node_limit(demand, target)
            # the fullest nodes first: room left on a few nodes, not a little on many
            indices = np.flatnonzero(fits)
            order = indices[np.lexsort((indices, free[indices].sum(axis=1)))]
            for i in order:
                other = nodes[int(i)]
                if not self._allowed(demand.name, other):
                    continue
                room = min((int(free[i, r] // need[r]) for r in range(len(RESOURCES)) if need[r]),
                           default=amount)
                take = min(amount, room, limit - other.hosted.get(demand.name, 0))
                if take <= 0:
                    continue
                free[i] -= need * take
                other.hosted[demand.name] = other.hosted.get(demand.name, 0) + take
                moves.append((target.id, int(i), demand.name, take))
                amount -= take
                if not amount:
                    return True
        return False

    def _allowed(self, name: str, other: NodeState) -> bool:
        if self.exclusive & other.hosted.keys():
            return False
        apart = self.apart.get(name)
        return not (apart and apart & other.hosted.keys())

    def _undo(self, moves: list[tuple[str, int, str, int]]) -> None:
        for class_id, i, name, amount in reversed(moves):
            other = self.packing.nodes[class_id][i]
            self.free[class_id][i] += self.requests[name] * amount
            other.hosted[name] -= amount
            if not other.hosted[name]:
                del other.hosted[name]

    def finish(self) -> None:
        """Write the free room back and drop the closed nodes from the packing."""
        for class_id, nodes in self.packing.nodes.items():
            for i, node in enumerate(nodes):
                for r, resource in enumerate(RESOURCES):
                    node.free[resource] = int(self.free[class_id][i, r])
            self.packing.nodes[class_id] = [n for i, n in enumerate(nodes) if self.open[class_id][i]]
        self.packing._room.clear()


def _unmovable(problem: Problem) -> set[str]:
    """Workloads whose replicas stay on their nodes: node affinities (either side) tie them to
    another workload's nodes, and a node spread counts per node."""
    fixed = set()
    for demand in problem.demands:
        for rule in demand.affinities:
            if not rule.anti and rule.topology == "node":
                fixed |= {demand.name, rule.target}
        if any(s.topology == "node" for s in demand.spreads):
            fixed.add(demand.name)
    return fixed
