"""Per-node placement inside each class: the aggregate model says how many replicas of
each workload run on a class; this decides which node each one runs on.

First-fit decreasing, workloads that others follow (node affinity) first, then by
their largest share of a node. Node-level rules are honoured here: at most
`replicas_per_node` per node, anti-affinity and affinity between workloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, replicas_per_node


@dataclass
class NodeState:
    name: str
    free: dict[str, int]
    hosted: dict[str, int] = field(default_factory=dict)


@dataclass
class Packing:
    nodes: dict[str, list[NodeState]] = field(default_factory=dict)  # class id -> nodes opened
    short: dict[str, int] = field(default_factory=dict)  # class id -> replicas that did not fit
    short_by_workload: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.short


def pack(problem: Problem, counts: dict[tuple[str, str], int]) -> Packing:
    packing = Packing()
    by_class: dict[str, list[tuple[Demand, int]]] = {}
    for demand in problem.demands:
        for class_id in demand.eligible:
            amount = counts.get((demand.name, class_id), 0)
            if amount:
                by_class.setdefault(class_id, []).append((demand, amount))
    for node_class in problem.classes:
        items = by_class.get(node_class.id)
        if items:
            _pack_class(problem, node_class, items, packing)
    return packing


def _order(node_class: NodeClass, items: list[tuple[Demand, int]]) -> list[tuple[Demand, int]]:
    followed = {r.target for d, _ in items for r in d.affinities if not r.anti and r.topology == "node"}

    def share(demand: Demand) -> float:
        return max((demand.requests[r] / node_class.capacity[r] for r in RESOURCES
                    if node_class.capacity[r]), default=0.0)

    return sorted(items, key=lambda item: (item[0].name not in followed, -share(item[0]), item[0].name))


def _pack_class(problem: Problem, node_class: NodeClass, items: list[tuple[Demand, int]],
                packing: Packing) -> None:
    opened: list[NodeState] = []
    names = iter(node_class.node_names)
    for demand, amount in _order(node_class, items):
        limit = replicas_per_node(demand, node_class)
        apart = {r.target for r in demand.affinities if r.anti and r.topology == "node"}
        apart |= {d.name for d in problem.demands for r in d.affinities
                  if r.anti and r.topology == "node" and r.target == demand.name}
        together = {r.target for r in demand.affinities if not r.anti and r.topology == "node"}
        for _ in range(amount):
            node = _first_fit(opened, demand, limit, apart, together)
            if node is None and not together:
                name = next(names, None)
                if name is not None:
                    node = NodeState(name, dict(node_class.capacity))
                    opened.append(node)
                    if not _fits(node, demand, limit, apart, together):
                        node = None
            if node is None:
                packing.short[node_class.id] = packing.short.get(node_class.id, 0) + 1
                key = (demand.name, node_class.id)
                packing.short_by_workload[key] = packing.short_by_workload.get(key, 0) + 1
                continue
            for resource in RESOURCES:
                node.free[resource] -= demand.requests[resource]
            node.hosted[demand.name] = node.hosted.get(demand.name, 0) + 1
    packing.nodes[node_class.id] = opened


def _first_fit(opened: list[NodeState], demand: Demand, limit: int, apart: set[str],
               together: set[str]) -> NodeState | None:
    for node in opened:
        if _fits(node, demand, limit, apart, together):
            return node
    return None


def _fits(node: NodeState, demand: Demand, limit: int, apart: set[str], together: set[str]) -> bool:
    if node.hosted.get(demand.name, 0) >= limit:
        return False
    if any(node.free[r] < demand.requests[r] for r in RESOURCES):
        return False
    if any(other in node.hosted for other in apart):
        return False
    return all(other in node.hosted for other in together)
