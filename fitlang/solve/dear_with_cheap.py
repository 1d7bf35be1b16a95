"""A dear full node ruined together with cheap full nodes of its zone (issue 15, the inventory
shape at 10,000 nodes: the class mix inside the zones).

The ruin of a single dear node (dear_nodes.py) puts its replicas into free room and onto new
nodes that together cost less. On the inventory shape every open CPU node is full, and a dear
node's replicas often may not use the cheap class that still has nodes to open (its labels:
team, tier): inventory 10,000 seed 10, eu-west-1a, the pair LP fills all 12 `p0189` nodes
(15.9 cores, 0.047 USD/h a core) and 1.23 of the `p0362` (47.8 cores, 0.053 a core); the
answer opened 4 `p0189` and 6 `p0362`, whose replicas may not go to `p0189`. The LP moves the
replicas that may (on the cheap-per-core `p0045` / `p0077` nodes) to `p0189`, and the dear
node's replicas into the room that leaves: no single-node ruin does that. So here a dear node
is ruined with up to PARTNERS full nodes of its domain group, cheaper per core, whose replicas
may use a cheaper-per-core class with nodes still to open; all their replicas are put into
free room and onto new nodes (a ruined partner may be opened again, for other replicas), kept
only when the new nodes cost less than the ruined ones (`_Search.try_replace`, every check the
single ruin makes).
"""

from __future__ import annotations

from fitlang.model.problem import NodeClass, Problem
from fitlang.solve.dear_nodes import _CrossingSearch, _dear_full
from fitlang.solve.improve import SINGLE_USED, _past
from fitlang.solve.pack import NodeState
from fitlang.solve.repack import _domain_groups

# cheap nodes ruined beside a dear one (each more widens the move and slows the recreate)
PARTNERS = 3
# classes weighed for each new node beside the cheapest by price: the cheapest for what they
# hold (`_Search._candidates`; the cheap class to open is a 15.9-core one, past the 16 smallest)
ROOM_CANDIDATES = 8


def dear_with_cheap_ruined(problem: Problem, packing, objective: str, deadline: float | None) -> int:
    """Each dear full node (`_dear_full`) that costs more per core than a class of its domain
    group with nodes to open, the most it could save first (`by_saving`), ruined with cheap
    full nodes of its group (`partners`) until the deadline; how many moves were kept."""
    if objective != "cost" or _past(deadline) or not packing.complete:
        return 0
    search = _PartnerSearch(problem, packing, objective)
    made = 0
    for node, node_class in search.by_saving(_dear_full(problem, search)):
        if _past(deadline):
            break
        partners = search.partners(node, node_class)
        if partners and search.try_replace([(node, node_class), *partners]):
            made += 1
    search.finish()
    return made


class _PartnerSearch(_CrossingSearch):
    """`_CrossingSearch` that may open a ruined node again (for other replicas: the new nodes
    must cost less than the ruined ones, so giving them all their replicas back never passes)."""

    def __init__(self, problem: Problem, packing, objective: str) -> None:
        super().__init__(problem, packing, objective)
        self.room_candidates = ROOM_CANDIDATES
        self.group = _domain_groups(problem)
        self.per_core = {c.id: float(c.price) / max(c.capacity["cpu"], 1) for c in problem.classes}
        # the full nodes by domain group, as ranked once (a node closed since is skipped)
        self.full: dict[int, list[tuple[NodeState, NodeClass]]] = {}
        for used, node, node_class in self.ranked():
            if used > SINGLE_USED:
                self.full.setdefault(self.group[node_class.id], []).append((node, node_class))
        self._opens: dict[tuple[str, str, float], bool] = {}

    def _unused_name(self, node_class: NodeClass, ruined: list[tuple[NodeState, NodeClass]]) -> str | None:
        return super()._unused_name(node_class, [])

    def try_replace(self, ruined) -> bool:
        """`_CrossingSearch.try_replace`, with the ruined nodes' free room put back where the
        move is not kept (a ruined node opened again for others had its room overwritten)."""
        slots = [self.position[node.name] for node, _ in ruined]
        room = [self.free[class_id][index].copy() for class_id, index in slots]
        replaced = super().try_replace(ruined)
        if not replaced:
            for (class_id, index), free in zip(slots, room):
                self.free[class_id][index] = free
        return replaced

    def by_saving(self, dear: list[tuple[NodeState, NodeClass]]) -> list[tuple[NodeState, NodeClass]]:
        """The `dear` nodes that cost more per core than a class of their domain group with
        nodes to open, the most they could save first (their cores at the cheaper price)."""
        cheapest: dict[int, float] = {}
        for node_class in self.problem.classes:
            if node_class.price > 0 and len(self.packing.nodes.get(node_class.id, ())) < node_class.count:
                group = self.group[node_class.id]
                cheapest[group] = min(cheapest.get(group, float("inf")), self.per_core[node_class.id])
        found = []
        for node, node_class in dear:
            saving = (self.per_core[node_class.id] - cheapest.get(self.group[node_class.id], float("inf"))) \
                * node_class.capacity["cpu"]
            if saving > 0:
                found.append((-saving, node.name, node, node_class))
        found.sort(key=lambda item: item[:2])
        return [(node, node_class) for *_, node, node_class in found]

    def partners(self, dear: NodeState, dear_class: NodeClass) -> list[tuple[NodeState, NodeClass]]:
        """Up to PARTNERS full nodes of `dear`'s domain group (as first ranked, still open),
        cheaper per core, whose replicas may use a cheaper-per-core class with nodes to open;
        those with most such replicas (by CPU) first."""
        limit = self.per_core[dear_class.id]
        found = []
        for node, node_class in self.full.get(self.group[dear_class.id], ()):
            class_id, index = self.position[node.name]
            if node is dear or not self.open[class_id][index] or self.per_core[class_id] >= limit:
                continue
            movable = sum(self.requests[name][0] * amount for name, amount in node.hosted.items()
                          if self._to_open(name, node_class, limit))
            if movable:
                found.append((-int(movable), node.name, node, node_class))
        found.sort(key=lambda item: item[:2])
        return [(node, node_class) for *_, node, node_class in found[:PARTNERS]]

    def _to_open(self, name: str, origin: NodeClass, limit: float) -> bool:
        """Whether a replica of `name` on `origin` may move to a class cheaper per core than
        `limit` with a node never opened."""
        key = (name, origin.id, limit)
        if key not in self._opens:
            self._opens[key] = any(self.per_core[c.id] < limit and c.id != origin.id and
                                   len(self.packing.nodes.get(c.id, ())) < c.count
                                   for c in self.movable(self.problem.demand(name), origin))
        return self._opens[key]
