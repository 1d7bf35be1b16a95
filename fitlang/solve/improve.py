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

Ruin and recreate then takes the replicas off one node (the most money left unused first) or
two of the least used, puts them into the free room of other open nodes and the rest onto
new nodes (the same checks, each new node of a class every replica on it may move to, within
the buy limits, the budget and the power caps); kept only when the new nodes cost less than
those they replace (for the `nodes` objective: are fewer).
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, node_limit
from fitlang.solve.limits import Totals, fleet_limits
from fitlang.solve.node_swap import swapped_cheaper
from fitlang.solve.pack import NodeState, Packing, _apart_on_nodes, equivalent_ids, equivalents
from fitlang.solve.spread_domains import demand_spreads_kept, spreads_may_break

# objectives that closing a node lowers (others are left as the packing made them)
NODE_OBJECTIVES = ("cost", "nodes")
# a pass, least used nodes first, stops after this many nodes in a row that could not close
# (measured on the bench shape at 10,000 nodes: trying every node took 2.9 s for 0.05%)
GIVE_UP_AFTER = 50
# ruin and recreate takes single nodes at most this full (a fuller node rarely has a cheaper
# replacement: the aggregate model chose its class)
SINGLE_USED = 0.75
# and pairs of nodes at most this full together (measured on the bench shape at 10,000 nodes,
# where every node is nearly full: trying the moves took 1.5 s and kept none)
PAIR_USED = 1.5
# ruin and recreate weighs this many of the cheapest classes for each node it opens
OPEN_CANDIDATES = 16


def consolidate(problem: Problem, packing: Packing, objective: str,
                deadline: float | None = None) -> int:
    """Close open nodes whose replicas all fit in the free room of other open nodes, and
    ruin and recreate (`_recreate_pass`), while time is left; say how many moves were kept.
    Deterministic: the order depends on the packing only, and the deadline only cuts the
    passes short."""
    if objective not in NODE_OBJECTIVES or _past(deadline):  # past: the packing as it is
        return 0
    search = _Search(problem, packing, objective)
    made = 0
    while not _past(deadline):
        moved = _closing_pass(search, deadline)
        moved += _recreate_pass(search, deadline)
        made += moved
        if not moved:
            break
    search.finish()
    if objective == "cost":  # (nodes a spread or affinity over nodes keeps open: node_swap.py)
        made += swapped_cheaper(problem, packing, deadline)
    return made


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _closing_pass(search: _Search, deadline: float | None) -> int:
    """Close nodes, least used first, until a pass closes none."""
    closed = 0
    while True:
        closed_now = failed = 0
        for node, node_class in search.candidates():
            if _past(deadline):
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
            return closed


def _recreate_pass(search: _Search, deadline: float | None) -> int:
    """Ruin and recreate: take the replicas off one node (the most money left unused first)
    or off two of the least used, put them into the free room of other open nodes, and the
    rest onto new nodes of classes they may use (`_Search.try_replace`); kept only when the
    new nodes cost less than those they replace, so every kept move lowers the objective.
    Measured on the inventory shape at 1,000 nodes: trying every move (not giving up after
    50 in a row) took 6.5 s for 0.3%."""
    made = 0
    ranked = search.ranked()
    # one node: those at most SINGLE_USED full, the most money left unused first
    singles = sorted(((search.price[c.id] * (1 - used), node.name, node, c) for used, node, c in ranked
                      if used <= SINGLE_USED), key=lambda item: (-item[0], item[1]))
    pairs = [[(a, c), (b, d)] for (used, a, c), (other, b, d) in
             list(zip(ranked[::2], ranked[1::2])) + list(zip(ranked[1::2], ranked[2::2]))
             if used + other <= PAIR_USED]
    for moves in ([[(node, c)] for *_, node, c in singles], pairs):
        failed = 0
        for ruined in moves:
            if _past(deadline) or failed >= GIVE_UP_AFTER:
                break
            if search.try_replace(ruined):
                made += 1
                failed = 0
            else:
                failed += 1
    return made


class _Search:
    def __init__(self, problem: Problem, packing: Packing, objective: str) -> None:
        self.problem = problem
        self.packing = packing
        self.objective = objective
        self.apart, self.exclusive = _apart_on_nodes(problem)
        self.fixed = unmovable(problem) | self.exclusive
        self.requests = {d.name: np.array([d.requests[r] for r in RESOURCES], dtype=np.int64)
                         for d in problem.demands}
        # the same as plain ints (`_fill_new`), their sums (the largest first), and per-node
        # limits by (workload, class) as they are asked
        self._needs = {d.name: tuple(int(d.requests[r]) for r in RESOURCES) for d in problem.demands}
        self._size = {name: float(sum(need)) for name, need in self._needs.items()}
        self._limits: dict[tuple[str, str], int] = {}
        self.free = {class_id: np.array([[n.free[r] for r in RESOURCES] for n in nodes],
                                        dtype=np.int64).reshape(len(nodes), len(RESOURCES))
                     for class_id, nodes in packing.nodes.items()}
        self.open = {class_id: np.ones(len(nodes), dtype=bool) for class_id, nodes in packing.nodes.items()}
        self.position = {n.name: (class_id, i) for class_id, nodes in packing.nodes.items()
                         for i, n in enumerate(nodes)}
        self._targets: dict[tuple[str, str], list[NodeClass]] = {}
        self._movable: dict[tuple[str, str], list[NodeClass]] = {}
        self.names = {class_id: {n.name for n in nodes} for class_id, nodes in packing.nodes.items()}
        self.price = {c.id: float(c.price) for c in problem.classes}
        self._next_name: dict[str, int] = {}
        self.capacity = {class_id: np.array([[self.problem.node_class(class_id).capacity_of(n.name)[r]
                                              for r in RESOURCES] for n in nodes],
                                            dtype=np.int64).reshape(len(nodes), len(RESOURCES))
                         for class_id, nodes in packing.nodes.items()}
        self.limited = bool(problem.buy_limits or problem.budget is not None or problem.power_caps)
        self.watched = spreads_may_break(problem)  # a new node may make a domain of some spread
        # while `_open_nodes` weighs new nodes: the limits' sums over the open nodes per class,
        # counted at its first `_may_open`, then kept up to date by `_open`; None outside it
        # (other steps open and close nodes directly)
        self.totals: Totals | None = None

    def worth(self, node_class: NodeClass) -> bool:
        return self.objective == "nodes" or node_class.price > 0

    def candidates(self) -> list[tuple[NodeState, NodeClass]]:
        """Open nodes that cost something and host nothing that stays, least used first."""
        return [(node, node_class) for _, node, node_class in self.ranked()]

    def ranked(self) -> list[tuple[float, NodeState, NodeClass]]:
        """The `candidates` with how used each is (its fullest resource, as a share)."""
        found = []
        for node_class in self.problem.classes:
            nodes = self.packing.nodes.get(node_class.id, [])
            if not nodes or not self.worth(node_class):
                continue
            capacity = self.capacity[node_class.id]
            shares = 1 - self.free[node_class.id] / np.maximum(capacity, 1)
            used = np.where(capacity > 0, shares, -np.inf).max(axis=1)
            used[~np.isfinite(used)] = 1.0
            for i in np.flatnonzero(self.open[node_class.id]).tolist():
                node = nodes[i]
                if not self.fixed & node.hosted.keys():
                    found.append((float(used[i]), -self.price[node_class.id], node.name, node, node_class))
        found.sort(key=lambda item: item[:3])
        return [(used, node, node_class) for used, _, _, node, node_class in found]

    def targets(self, demand: Demand, origin: NodeClass) -> list[NodeClass]:
        """The classes with open nodes that a replica of `demand` on `origin` may move to."""
        key = (demand.name, origin.id)
        if key not in self._targets:
            self._targets[key] = [c for c in self.movable(demand, origin) if self.packing.nodes.get(c.id)]
        return self._targets[key]

    def movable(self, demand: Demand, origin: NodeClass) -> list[NodeClass]:
        """The classes, open or not, a replica of `demand` on `origin` may move to:
        `equivalents`, and a gang's replicas stay in the cluster they are in."""
        key = (demand.name, origin.id)
        if key not in self._movable:
            self._movable[key] = [c for c in equivalents(self.problem, demand, origin)
                                  if not demand.gang or c.gang_domain == origin.gang_domain]
        return self._movable[key]

    def movable_ids(self, demand: Demand, origin: NodeClass) -> frozenset[str]:
        """The ids of `movable`'s classes, unordered (`pack.equivalent_ids`: no sort)."""
        if demand.gang:
            return frozenset(c.id for c in self.movable(demand, origin))
        return equivalent_ids(self.problem, demand, origin)

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
            if self._place(self.problem.demand(name), node.hosted[name], node_class, moves):
                self._undo(moves)
                self.open[class_id][index] = True
                return False
        node.hosted.clear()
        return True

    def try_replace(self, ruined: list[tuple[NodeState, NodeClass]]) -> bool:
        """Move every replica on the `ruined` nodes into the free room of other open nodes,
        and what finds none onto new nodes that together cost less than the ruined ones (for
        the `nodes` objective: are fewer); or change nothing."""
        slots = [self.position[node.name] for node, _ in ruined]
        if any(not self.open[class_id][index] for class_id, index in slots):
            return False
        for class_id, index in slots:
            self.open[class_id][index] = False
        moves: list[tuple[str, int, str, int]] = []
        rest: dict[str, list] = {}  # workload -> [replicas without room, classes allowed]
        for node, node_class in ruined:
            for name in sorted(node.hosted, key=lambda name: (-float(self.requests[name].sum()), name)):
                demand = self.problem.demand(name)
                left = self._place(demand, node.hosted[name], node_class, moves)
                if left:
                    allowed = {c.id for c in self.movable(demand, node_class)}
                    entry = rest.setdefault(name, [0, allowed])
                    entry[0] += left
                    entry[1] &= allowed
        saved = [node.hosted for node, _ in ruined]
        for node, _ in ruined:
            node.hosted = {}
        if rest and not self._open_nodes(rest, ruined):
            self._undo(moves)
            for (node, _), hosted, (class_id, index) in zip(ruined, saved, slots):
                node.hosted = hosted
                self.open[class_id][index] = True
            return False
        return True

    def _open_nodes(self, rest: dict[str, list], ruined: list[tuple[NodeState, NodeClass]]) -> bool:
        """Open new nodes for `rest` (workload -> [replicas, classes allowed]), each time the
        node that costs least for what it takes, while together they cost less than the
        `ruined` nodes (for the `nodes` objective: are fewer); or open none."""
        self.totals = None
        try:
            return self._open_cheaper(rest, ruined)
        finally:
            self.totals = None

    def _open_cheaper(self, rest: dict[str, list], ruined: list[tuple[NodeState, NodeClass]]) -> bool:
        budget = sum((node_class.price for _, node_class in ruined), 0)
        total = sum(self.requests[w] * entry[0] for w, entry in rest.items()).astype(float)
        # (each share taken below as plain floats: numpy on 4 values was a third of the ruin's time)
        asked = [(r, float(max(amount, 1))) for r, amount in enumerate(total.tolist()) if amount > 0]
        opened: list[tuple[str, int]] = []
        fresh: list[NodeClass] = []  # classes with no node open before: maybe a new domain
        spent = Fraction(0)
        while rest:
            best = None
            classes = sorted({c for entry in rest.values() for c in entry[1]},
                             key=lambda c: (self.price[c], c))
            order = sorted(rest, key=lambda w: (-self._size[w], w))  # the largest replicas first
            for class_id in classes[:OPEN_CANDIDATES]:
                node_class = self.problem.node_class(class_id)
                if self.objective == "cost" and spent + node_class.price >= budget:
                    break
                name = self._unused_name(node_class, ruined)
                if name is None or not self._may_open(node_class):
                    continue
                free, hosted = self._fill_new(node_class, name, rest, order)
                if not hosted:
                    continue
                share = sum(sum(self._needs[w][r] * n for w, n in hosted.items()) / most for r, most in asked)
                score = (float(node_class.price) / share if share else float("inf"), class_id)
                if best is None or score < best[0]:
                    best = (score, node_class, name, free, hosted)
            if best is None:
                break
            _, node_class, name, free, hosted = best
            if self.watched and not self.open.get(node_class.id, np.zeros(0, dtype=bool)).any():
                fresh.append(node_class)
            opened.append(self._open(node_class, name, np.array(free, dtype=np.int64), hosted))
            spent += node_class.price
            for workload, amount in hosted.items():
                rest[workload][0] -= amount
                if not rest[workload][0]:
                    del rest[workload]
        if not rest and (self.objective == "cost" or len(opened) < len(ruined)) and self._domains_kept(fresh):
            return True
        for class_id, index in opened:  # closed again: dropped by `finish`
            self.open[class_id][index] = False
            self.packing.nodes[class_id][index].hosted.clear()
        return False

    def _domains_kept(self, fresh: list[NodeClass]) -> bool:
        """Do the spreads over zones, regions or labels of the workloads that may use the
        `fresh` classes still hold? A node bought in a region no open node was in makes the
        region a domain of every workload that may use it, holding none of their replicas: on a
        fleet reduced from `cloud_buy.py --small` seed 208, a service alone on an amd64 node in
        us-east-2 moved to a cheaper arm64 node in eastus, where a service spread over regions
        (2 in us-east-2) then held none: the answer broke its spread (E0507, `unknown`)."""
        if not fresh:
            return True
        view = Packing(nodes={class_id: [node for node, is_open in zip(nodes, self.open[class_id]) if is_open]
                              for class_id, nodes in self.packing.nodes.items()})
        ids = {node_class.id for node_class in fresh}
        return all(demand_spreads_kept(self.problem, view, demand) for demand in self.problem.demands
                   if demand.spreads and not ids.isdisjoint(demand.eligible))

    def _fill_new(self, node_class: NodeClass, name: str, rest: dict[str, list],
                  order: list[str]) -> tuple[list[int], dict[str, int]]:
        """What of `rest` an empty node of the class takes, in `order` (the largest replicas
        first), and the room it leaves."""
        capacity = node_class.capacity_of(name)
        free = [capacity[r] for r in RESOURCES]
        hosted: dict[str, int] = {}
        for workload in order:
            amount, allowed = rest[workload]
            if node_class.id not in allowed or self.apart.get(workload, set()) & hosted.keys():
                continue
            need = self._needs[workload]
            room = min((room // asked for room, asked in zip(free, need) if asked), default=amount)
            take = min(amount, room, self._node_limit(workload, node_class))
            if take > 0:
                free = [room - asked * take for room, asked in zip(free, need)]
                hosted[workload] = take
        return free, hosted

    def _node_limit(self, workload: str, node_class: NodeClass) -> int:
        key = (workload, node_class.id)
        if key not in self._limits:
            self._limits[key] = node_limit(self.problem.demand(workload), node_class)
        return self._limits[key]

    def _unused_name(self, node_class: NodeClass, ruined: list[tuple[NodeState, NodeClass]]) -> str | None:
        """A node of the class to open: one never opened, or one closed before (not one of
        the `ruined`: a move that gives a node its own replicas back changes nothing)."""
        nodes = self.packing.nodes.get(node_class.id, [])
        used = self.names.get(node_class.id, set())
        index = self._next_name.get(node_class.id, 0)  # names are only ever taken: it only grows
        while index < node_class.count and node_class.node_names[index] in used:
            index += 1
        self._next_name[node_class.id] = index
        if index < node_class.count:
            return node_class.node_names[index]
        avoid = {node.name for node, _ in ruined}
        closed = [nodes[int(i)].name for i in np.flatnonzero(~self.open[node_class.id])] if nodes else []
        return next((name for name in closed if name not in avoid), None)

    def _may_open(self, node_class: NodeClass) -> bool:
        """One more node of the class keeps the buy limits, the budget and the power caps.
        (The open nodes are counted once per `_open_nodes`, and the limits' sums over them kept
        as nodes open, `limits.Totals`: counting every class for each node weighed was 1.2 of
        10 profiled CPU s of a solve on the inventory shape at 10,000 nodes, which has a budget,
        and the budget's dot product over every class for each class weighed ~10% of a ruin.)"""
        if not self.limited:
            return True
        limits = fleet_limits(self.problem)
        if self.totals is None:  # (the classes with nodes in the packing: the others have none open)
            counts = np.zeros(len(limits.ids), dtype=np.int64)
            for class_id, is_open in self.open.items():
                counts[limits.position[class_id]] = np.count_nonzero(is_open)
            self.totals = Totals(limits, counts)
        return self.totals.one_more_holds(limits.position[node_class.id])

    def _open(self, node_class: NodeClass, name: str, free: np.ndarray,
              hosted: dict[str, int]) -> tuple[str, int]:
        if self.totals is not None:
            self.totals.opened(fleet_limits(self.problem).position[node_class.id])
        nodes = self.packing.nodes.setdefault(node_class.id, [])
        if name in self.position and self.position[name][0] == node_class.id:  # a closed node again
            index = self.position[name][1]
            nodes[index].hosted = dict(hosted)
            self.free[node_class.id][index] = free
            self.open[node_class.id][index] = True
            return node_class.id, index
        nodes.append(NodeState(name, {r: int(free[i]) for i, r in enumerate(RESOURCES)}, dict(hosted)))
        self.names.setdefault(node_class.id, set()).add(name)
        empty = np.zeros((0, len(RESOURCES)), dtype=np.int64)
        self.free[node_class.id] = np.vstack([self.free.get(node_class.id, empty), free[None, :]])
        capacity = np.array([[node_class.capacity_of(name)[r] for r in RESOURCES]], dtype=np.int64)
        self.capacity[node_class.id] = np.vstack([self.capacity.get(node_class.id, empty), capacity])
        self.open[node_class.id] = np.append(self.open.get(node_class.id, np.zeros(0, dtype=bool)), True)
        self.position[name] = (node_class.id, len(nodes) - 1)
        self._targets.clear()  # the class may be a destination now
        return node_class.id, len(nodes) - 1

    def _place(self, demand: Demand, amount: int, origin: NodeClass,
               moves: list[tuple[str, int, str, int]], targets: list[NodeClass] | None = None) -> int:
        """Put up to `amount` replicas into the free room of open nodes (of `targets`, where
        given: classes of `targets(demand, origin)`); say how many did not find room (those
        that did are in `moves`)."""
        need = self.requests[demand.name]
        for target in self.targets(demand, origin) if targets is None else targets:
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
                    return 0
        return amount

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


def unmovable(problem: Problem) -> set[str]:
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
