"""A paid node closed where one spread replica, sent across its spread's domains, makes room
for the node's replicas (issue 15, inventory 300).

`consolidate` closes a node whose replicas find room on nodes of classes alike in every domain
a rule counts (improve.py), and the dear-node ruin also sends a spread's replicas into other
domains' free room (cross_domains.py); neither moves a replica that is not on the node being
closed. Inventory 300 seed 14 (h31e): the answer, 8.353 USD/h, keeps p0013-1 (0.437 USD/h,
eu-central-1a) open for one replica each of svc23 and svc27 (2 CPUs each), where p0013-0 beside
it is 60 millicores short of taking them; svc23 (`spread zone max_skew 1`) may have one replica
more in us-west-2b, where a p0020 node costs 0.19. The proven optimum, 8.106, is that: svc23
off p0013-0 onto a new p0020 node, p0013-1's replicas onto p0013-0, p0013-1 closed.

Here, for each paid node A (least used first, as `consolidate` ranks them), each open node B
of a class A's replicas may move to, and each replica e on B of a workload that may cross
domains (`CrossDomains.may_cross`) whose leaving lets a replica of A fit on B: e is sent to
another domain its spreads' skew allows (and alike in every other rule's domain), into the
free room of an open node there, else onto a new node of the cheapest class there that costs
less than A (an owned class only: its domain counts for every spread already, so no other
workload's skew changes); then A's replicas are moved into free room, none onto new nodes
(`try_replace` of the crossing search). Kept where all of them found room: the cost falls by
A's price, less the node opened for e; else everything is undone.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, node_limit
from fitlang.solve.dear_nodes import _CrossingSearch
from fitlang.solve.improve import _past
from fitlang.solve.pack import NodeState, Packing


def crossing_room(problem: Problem, packing: Packing, objective: str, deadline: float | None) -> int:
    """Close paid nodes of `packing` in place as the module says, until the `deadline`; how
    many were closed. Deterministic: the order depends on the packing only."""
    if objective != "cost" or _past(deadline) or not packing.complete:
        return 0
    search = _RoomSearch(problem, packing, objective)
    closed = 0
    for _, node, node_class in search.ranked():
        if _past(deadline):
            break
        if search.is_open(node) and search.room_made(node, node_class, deadline):
            closed += 1
    search.finish()
    return closed


class _RoomSearch(_CrossingSearch):
    """The crossing search whose ruined node's replicas go into free room only."""

    def _open_nodes(self, rest: dict[str, list], ruined: list[tuple[NodeState, NodeClass]]) -> bool:
        return False  # (the saving is the ruined node's price less the node opened for e)

    def is_open(self, node: NodeState) -> bool:
        class_id, index = self.position[node.name]
        return bool(self.open[class_id][index])

    def room_made(self, ruined: NodeState, origin: NodeClass, deadline: float | None) -> bool:
        """One replica sent across domains from a node beside `ruined`, then `ruined` closed;
        or nothing changed."""
        for host_class, index, evicted in self._evictions(ruined, origin, deadline):
            demand = self.problem.demand(evicted)
            for domain, classes in self.cross.destinations(demand, host_class, opened=False):
                if _past(deadline):
                    return False
                if self._sent_then_closed(ruined, origin, host_class, index, demand, domain, classes):
                    return True
        return False

    def _evictions(self, ruined: NodeState, origin: NodeClass,
                   deadline: float | None) -> Iterator[tuple[NodeClass, int, str]]:
        """(class, node index, workload) of each open node beside `ruined` where one replica of
        that workload leaving lets a replica of `ruined` fit that does not fit now (none past
        the `deadline`: at 10,000 nodes the classes beside a node hold thousands)."""
        for host_class in self._hosts(ruined, origin):
            nodes = self.packing.nodes[host_class.id]
            free = self.free[host_class.id]
            staying = [self.requests[name] for name in ruined.hosted
                       if host_class in self.targets(self.problem.demand(name), origin)]
            for index in np.flatnonzero(self.open[host_class.id]).tolist():
                node = nodes[index]
                if _past(deadline):
                    return
                if node is ruined:
                    continue
                for name in sorted(node.hosted):
                    if name in self.fixed or not self.cross.may_cross(self.problem.demand(name)):
                        continue
                    freed = free[index] + self.requests[name]
                    if any((freed >= need).all() and not (free[index] >= need).all() for need in staying):
                        yield host_class, index, name

    def _hosts(self, ruined: NodeState, origin: NodeClass) -> list[NodeClass]:
        """The classes with open nodes that some replica of `ruined` may move to."""
        found: dict[str, NodeClass] = {}
        for name in sorted(ruined.hosted):
            for node_class in self.targets(self.problem.demand(name), origin):
                found.setdefault(node_class.id, node_class)
        return list(found.values())

    def _sent_then_closed(self, ruined: NodeState, origin: NodeClass, host_class: NodeClass, index: int,
                          demand: Demand, domain, classes: list[NodeClass]) -> bool:
        mark = self.cross.mark()
        moves: list[tuple[str, int, str, int]] = []
        opened = None
        class_id, position = self.position[ruined.name]
        self.open[class_id][position] = False  # (not a destination: it is to close)
        left = self._place(demand, 1, host_class, moves, [c for c in classes if self.is_class_open(c)])
        self.open[class_id][position] = True
        if left:
            opened = self._opened_for(demand, classes, ruined, origin)
            if opened is None:
                return False
        host = self.packing.nodes[host_class.id][index]
        _take(host, demand.name, -1)
        self.free[host_class.id][index] += self.requests[demand.name]
        self.cross.moved(demand, host_class, domain)
        if self.try_replace([(ruined, origin)]):
            return True
        self.cross.undo_to(mark)
        _take(host, demand.name, 1)
        self.free[host_class.id][index] -= self.requests[demand.name]
        self._undo(moves)
        if opened is not None:
            self.open[opened[0]][opened[1]] = False
            self.packing.nodes[opened[0]][opened[1]].hosted.clear()
        return False

    def is_class_open(self, node_class: NodeClass) -> bool:
        return bool(node_class.id in self.open and self.open[node_class.id].any())

    def _opened_for(self, demand: Demand, classes: list[NodeClass], ruined: NodeState,
                    origin: NodeClass) -> tuple[str, int] | None:
        """A new node hosting one replica of `demand`, of the cheapest owned class of `classes`
        that costs less than `origin` and may open one more node (the limits kept)."""
        need = self.requests[demand.name]
        for node_class in sorted(classes, key=lambda c: (c.price, c.id)):
            if node_class.price >= origin.price:
                break
            if not node_class.node_names or node_class.provisioned or node_limit(demand, node_class) < 1:
                continue
            name = self._unused_name(node_class, [(ruined, origin)])
            if name is None or not self._may_open(node_class):
                continue
            capacity = np.array([node_class.capacity_of(name)[r] for r in RESOURCES], dtype=np.int64)
            if (capacity >= need).all():
                return self._open(node_class, name, capacity - need, {demand.name: 1})
        return None


def _take(node: NodeState, name: str, amount: int) -> None:
    node.hosted[name] = node.hosted.get(name, 0) + amount
    if not node.hosted[name]:
        del node.hosted[name]
