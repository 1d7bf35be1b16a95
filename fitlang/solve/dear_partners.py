"""A dear full node ruined together with cheap full nodes of its zone, only where a chain of
classes can pay (issue 15, the inventory shape at 10,000 nodes: the class mix inside zones).

The ruin of a single dear node (dear_nodes.py) puts its replicas into free room and onto new
nodes that together cost less. On the inventory shape every open CPU node is full, and a dear
node's replicas often may not use the class cheap per core that still has nodes to open (its
labels: team, tier). Inventory 10,000 seed 10, eu-west-1a (session 40, h40b): the pair LP fills
all 12 `p0189` nodes (15.9 cores, 0.047 USD/h a core); the answer opens 4, and 6 `p0362`
(0.053 a core) whose replicas may not go to `p0189`. The replicas on the cheap `p0045` / `p0077`
nodes may; the LP moves them to `p0189` and the dear node's replicas into the room that leaves:
a chain over three classes, which no single-node ruin makes.

So a dear node is ruined with up to PARTNERS full nodes of its domain group where that chain
exists: its replicas refuse every class of the group cheaper per core with nodes to open (else
the single ruin could open one), and each partner is cheaper per core, of a class the dear
node's replicas may use, and hosts replicas that may use such a class. h40b ruined every dear
node with partners (188 on seed 10): 3.3 CPU s a pass, nothing in the 0.3-0.7 s a stage has at
5 s; the chain's condition leaves ~10. All their replicas go into free room and onto new nodes
(a ruined partner may be opened again, for other replicas), weighing beyond the cheapest
classes by price those that could hold the most for their price (`class_shares`: the cheap
class is a 15.9-core one, past the 16 smallest); kept only where the new nodes cost less than
the ruined ones (`_Search.try_replace`, every check the single ruin makes).
"""

from __future__ import annotations

from fitlang.model.problem import NodeClass, Problem
from fitlang.solve.dear_nodes import _CrossingSearch, _dear_full
from fitlang.solve.improve import SINGLE_USED, _past
from fitlang.solve.pack import NodeState
from fitlang.solve.repack import _domain_groups

# cheap nodes ruined beside a dear one (each more widens the move and slows the recreate)
PARTNERS = 3
# classes weighed for each new node beyond the cheapest by price (`_Search.room_candidates`)
ROOM_CANDIDATES = 16


def dear_partners_ruined(problem: Problem, packing, objective: str, deadline: float | None) -> int:
    """Each dear full node (`_dear_full`) with a chain (`_PartnerSearch.chained`), the most it
    could save first, ruined with its partners until the deadline; how many moves were kept.
    Deterministic: the order depends on the packing only, the deadline only cuts it short."""
    if objective != "cost" or _past(deadline) or not packing.complete:
        return 0
    search = _PartnerSearch(problem, packing, objective)
    made = 0
    for node, node_class in search.chained(_dear_full(problem, search)):
        if _past(deadline):
            break
        if search.try_replace([(node, node_class)]):
            made += 1
            continue
        partners = search.partners(node, node_class)  # (again: a kept move closes nodes)
        if partners and search.try_replace([(node, node_class), *partners]):
            made += 1
    search.finish()
    return made


class _PartnerSearch(_CrossingSearch):
    """`_CrossingSearch` that may open a ruined node again (for other replicas: the new nodes
    must cost less than the ruined ones, so giving them all their replicas back never passes)."""

    room_candidates = ROOM_CANDIDATES

    def __init__(self, problem: Problem, packing, objective: str) -> None:
        super().__init__(problem, packing, objective)
        self.group = _domain_groups(problem)
        self.per_core = {c.id: float(c.price) / max(c.capacity["cpu"], 1) for c in problem.classes}
        # the full nodes by domain group, as ranked once (a node closed since is skipped)
        self.full: dict[int, list[tuple[NodeState, NodeClass]]] = {}
        for used, node, node_class in self.ranked():
            if used > SINGLE_USED:
                self.full.setdefault(self.group[node_class.id], []).append((node, node_class))
        # per domain group, the paid classes with nodes still to open, cheapest per core first
        self.to_open: dict[int, list[NodeClass]] = {}
        self._uses: dict[tuple[str, str], set[str]] = {}  # (workload, origin) -> classes it may use
        for node_class in sorted(problem.classes, key=lambda c: (self.per_core[c.id], c.id)):
            if node_class.price > 0 and len(self.names.get(node_class.id, ())) < node_class.count:
                self.to_open.setdefault(self.group[node_class.id], []).append(node_class)

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

    def chained(self, dear: list[tuple[NodeState, NodeClass]]) -> list[tuple[NodeState, NodeClass]]:
        """The `dear` nodes with partners, the most they could save first (their cores at the
        price per core of the cheapest class of their group with nodes to open)."""
        found = []
        for node, node_class in dear:
            cheaper = self._cheaper(node_class)
            if cheaper:
                saving = (self.per_core[node_class.id] - self.per_core[cheaper[0].id]) * node_class.capacity["cpu"]
                found.append((-saving, node.name, node, node_class))
        found.sort(key=lambda item: item[:2])
        return [(node, node_class) for *_, node, node_class in found]

    def partners(self, dear: NodeState, dear_class: NodeClass) -> list[tuple[NodeState, NodeClass]]:
        """Up to PARTNERS open full nodes of `dear`'s domain group, cheaper per core, of a class
        the replicas `dear` cannot move to a cheaper class (`_refused`) may use, whose own
        replicas may (those with the most such CPU first); none where `dear` refuses nothing."""
        refused = self._refused(dear, dear_class)
        if not refused:
            return []
        limit = self.per_core[dear_class.id]
        found = []
        for node, node_class in self.full.get(self.group[dear_class.id], ()):
            class_id, index = self.position[node.name]
            if node is dear or not self.open[class_id][index] or self.per_core[class_id] >= limit \
                    or not all(self._may_use(name, dear_class, node_class) for name in refused):
                continue
            movable = sum(int(self.requests[name][0]) * amount for name, amount in node.hosted.items()
                          if self._may_open_cheaper(name, node_class, limit))
            if movable:
                found.append((-movable, node.name, node, node_class))
        found.sort(key=lambda item: item[:2])
        return [(node, node_class) for *_, node, node_class in found[:PARTNERS]]

    def _cheaper(self, node_class: NodeClass) -> list[NodeClass]:
        """The classes of the group with nodes to open, cheaper per core than `node_class`."""
        limit = self.per_core[node_class.id]
        return [c for c in self.to_open.get(self.group[node_class.id], ()) if self.per_core[c.id] < limit]

    def _refused(self, dear: NodeState, dear_class: NodeClass) -> list[str]:
        """The workloads on `dear` (asking CPU) that may use no class of its group cheaper per
        core with nodes to open: those the single ruin cannot send there."""
        cheaper = self._cheaper(dear_class)
        return sorted(name for name in dear.hosted if self.requests[name][0] > 0
                      and not any(self._may_use(name, dear_class, c) for c in cheaper))

    def _may_use(self, name: str, origin: NodeClass, node_class: NodeClass) -> bool:
        key = (name, origin.id)
        if key not in self._uses:
            self._uses[key] = {c.id for c in self.movable(self.problem.demand(name), origin)}
        return node_class.id in self._uses[key]

    def _may_open_cheaper(self, name: str, origin: NodeClass, limit: float) -> bool:
        """Whether a replica of `name` on `origin` may move to a class of its group cheaper per
        core than `limit` with nodes to open."""
        return any(self.per_core[c.id] < limit and c.id != origin.id and self._may_use(name, origin, c)
                   for c in self.to_open.get(self.group[origin.id], ()))
