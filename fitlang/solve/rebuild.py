"""Rebuild a zone's paid nodes from a fluid price of its resources (issue 15, the inventory shape).

The greedy pass opens, workload by workload, the class cheapest per replica for that
workload alone, and later workloads fill the room it leaves. Measured on the inventory shape
at 50,000 nodes (seed 7, consolidated floor): its paid CPU nodes are full in their
bottleneck resource (11 of 1,135 USD/h of them unused) but of classes dear for the mix they
end up holding (0.048 USD/h a core on 8- and 4-core nodes, picked by memory-heavy services,
where the zone has 16-core nodes at 0.043 that the whole mix fills as well), so the paid CPU
side cost 1,135 USD/h against ~1,000 for the same cores at each zone's cheapest class.

`rebuild` takes one zone at a time: every open node there that costs something, has no
accelerator and hosts nothing that stays (`improve.unmovable`, exclusive workloads, gangs),
takes their replicas off, and opens new nodes for them, each time of the class whose
capacity is worth most per USD/h at the zone's resource prices (the duals of the covering
LP: the fewest USD/h of the zone's classes whose capacity covers the replicas' requests, each
class at most its free nodes), filled by the dot-product rule of vector bin packing, the
workloads needing the most nodes still (one replica a node) first. The new nodes are of the zone's
classes the replicas may use where they are (`pack.domains_key`: the same domain for every
rule that counts in one), so every spread, anti-affinity and latency count is kept; on a
node the free room, the per-node limit and anti-affinity on nodes are checked. Classes in a
buy block or under a power cap are not opened (their limits are shared beyond the zone),
and the change is kept only when the new nodes cost less than the old, so the budget holds.
Before new nodes are opened, what fits goes into the free room of open nodes the zone's
rebuild does not take (in any zone, where the replica's rules allow: `_Zone._into_free_room`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.solve.improve import _Search
from fitlang.solve.pack import NodeState, Packing, domains_key


def rebuild(problem: Problem, packing: Packing, objective: str, deadline: float | None = None) -> int:
    """Rebuild each zone's paid nodes (the module's docstring), the zones with the most spend
    first, while time is left; keep a zone's new nodes only where they cost less. Says how
    many zones changed. Deterministic: the order depends on the packing only, and the
    deadline only cuts the zones short."""
    if objective != "cost" or _past(deadline):
        return 0
    search = _Search(problem, packing, objective)
    groups = _zones(search)
    domains = _Domains(problem)
    changed = 0
    for key in sorted(groups, key=lambda k: (-sum(c.price for _, c in groups[k]), repr(k))):
        if _past(deadline):
            break
        changed += _Zone(search, groups[key], key, domains).rebuilt(deadline)
    search.finish()
    return changed


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _zones(search: _Search) -> dict[Hashable, list[tuple[NodeState, NodeClass]]]:
    """The nodes a zone's rebuild takes: open, paid, no accelerator, nothing on them that
    stays or that a cluster binds (gangs); by zone, region and cluster."""
    gangs = {d.name for d in search.problem.demands if d.gang}
    stays = search.fixed | gangs
    groups: dict[Hashable, list[tuple[NodeState, NodeClass]]] = {}
    for node_class in search.problem.classes:
        nodes = search.packing.nodes.get(node_class.id)
        if not nodes or node_class.price <= 0 or node_class.capacity.get("gpu", 0) or node_class.zone is None:
            continue
        is_open = search.open[node_class.id]
        for i, node in enumerate(nodes):
            if is_open[i] and node.hosted and not stays & node.hosted.keys():
                groups.setdefault(_zone_of(node_class), []).append((node, node_class))
    return groups


def _zone_of(node_class: NodeClass) -> Hashable:
    return node_class.zone, node_class.region, node_class.cluster


def _openable(problem: Problem) -> set[str]:
    """Classes whose nodes a rebuild may open: in no buy block and under no power cap."""
    capped = {class_id for cap in problem.power_caps for class_id in cap.classes}
    return {c.id for c in problem.classes if c.buy_group is None and c.offer is None and c.id not in capped}


@dataclass
class _Items:
    """The replicas taken off, one row per workload: how many are left, what each asks, the
    most a node takes, the zone's classes it is eligible for, and which of those it may move
    to (the same domains as where it is: asked per class when a class is first tried, as
    most classes never are)."""

    names: list[str]
    left: np.ndarray  # (items,)
    need: np.ndarray  # (items, resources)
    per_node: np.ndarray  # (items,) at most this many on one node (beyond what fits)
    eligible: np.ndarray  # (items, classes) bool
    same: list[tuple]  # per item: (its `domains_key`, the key of where it is)
    apart: np.ndarray  # (items,) bool: kept apart on nodes from another workload (placed one by one)
    allowed: np.ndarray = field(init=False)  # (items, classes) bool, where `checked`
    checked: np.ndarray = field(init=False)  # (classes,) bool: `allowed` is known for the class

    def __post_init__(self) -> None:
        self.allowed = np.zeros_like(self.eligible)
        self.checked = np.zeros(self.eligible.shape[1], dtype=bool)

    def allowed_in(self, column: int, node_class: NodeClass) -> np.ndarray:
        """Per item: may it move to this class (eligible, and in the same domains)?"""
        if not self.checked[column]:
            for item in np.flatnonzero(self.eligible[:, column]).tolist():
                same_as, wanted = self.same[item]
                self.allowed[item, column] = same_as(node_class) == wanted
            self.checked[column] = True
        return self.allowed[:, column]


class _Domains:
    """Per workload, the code of each class's `domains_key` for it (-1: not asked yet), asked
    once for all zones (a workload spread over zones is on the ruined nodes of each), and
    per eligibility list its classes as a mask (workloads share the lists)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.index = {c.id: k for k, c in enumerate(problem.classes)}
        self.keys: dict[str, Callable[[NodeClass], list]] = {}
        self.codes: dict[str, np.ndarray] = {}
        self.numbered: dict[tuple, int] = {}  # a domains key (as a tuple) -> its code
        self.eligible: dict[int, np.ndarray] = {}

    def _code(self, demand: Demand, node_class: NodeClass) -> int:
        if demand.name not in self.keys:
            self.keys[demand.name] = domains_key(self.problem, demand)
        return self.numbered.setdefault(tuple(self.keys[demand.name](node_class)), len(self.numbered))

    def targets(self, demand: Demand, origin: NodeClass, hosts: np.ndarray) -> list[NodeClass]:
        """Of the classes `hosts` (positions in `problem.classes`), those a replica of
        `demand` on `origin` may move to: eligible, in the same domains (`domains_key`), a
        gang's in its cluster (what `equivalents` and `_Search.movable` ask, without ranking
        every eligible class by its price); in the order of `hosts`."""
        classes = self.problem.classes
        if id(demand.eligible) not in self.eligible:
            mask = np.zeros(len(classes), dtype=bool)
            mask[[self.index[c] for c in demand.eligible if c in self.index]] = True
            self.eligible[id(demand.eligible)] = mask
        candidates = hosts[self.eligible[id(demand.eligible)][hosts]]
        codes = self.codes.setdefault(demand.name, np.full(len(classes), -1, dtype=np.int64))
        for k in candidates[codes[candidates] < 0].tolist():
            codes[k] = self._code(demand, classes[k])
        same = candidates[codes[candidates] == self._code(demand, origin)].tolist()
        return [classes[k] for k in same if not demand.gang or classes[k].gang_domain == origin.gang_domain]


class _Zone:
    def __init__(self, search: _Search, ruined: list[tuple[NodeState, NodeClass]], key: Hashable,
                 domains: _Domains | None = None) -> None:
        self.search = search
        self.domains = domains or _Domains(search.problem)
        self.problem = search.problem
        self.ruined = ruined
        openable = _openable(self.problem)
        self.classes = [c for c in self.problem.classes if _zone_of(c) == key and c.price > 0
                        and not c.capacity.get("gpu", 0) and c.id in openable]
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in self.classes],
                                 dtype=np.int64).reshape(len(self.classes), len(RESOURCES))
        self.price = np.array([float(c.price) for c in self.classes])
        self.key = key

    def rebuilt(self, deadline: float | None) -> int:
        """1 where the zone's nodes were rebuilt cheaper, else 0 (the zone as it was)."""
        if not self.classes:
            return 0
        items = self._items()
        if items is None:
            return 0
        free = self._free_nodes()
        # which replicas the free room elsewhere takes first: priced as if the zone's classes
        # had nodes without end (the zone's free nodes may not cover what the room takes off)
        unbounded = self._resource_prices(items, None)
        if unbounded is None:
            return 0
        search, budget = self.search, sum((c.price for _, c in self.ruined), Fraction(0))
        saved = [(node, dict(node.hosted)) for node, _ in self.ruined]
        for node, node_class in self.ruined:
            search.open[node_class.id][search.position[node.name][1]] = False
        moves = self._into_free_room(unbounded)
        rest = self._items() if moves else items  # what found no room: as before
        prices = None if rest is None else \
            self._resource_prices(rest, free) if rest.left.any() else unbounded
        if rest is None or prices is None:
            self._restore(saved, [], moves)
            return 0
        items = rest
        for node, _ in self.ruined:
            node.hosted = {}
        opened: list[tuple[str, int]] = []
        spent = Fraction(0)
        while items.left.any() and spent < budget and not _past(deadline):
            chosen = self._next_node(items, free, prices)
            if chosen is None:
                break
            column, name, room, takes = chosen
            node_class = self.classes[column]
            hosted: dict[str, int] = {}
            for item in np.flatnonzero(takes).tolist():
                hosted[items.names[item]] = hosted.get(items.names[item], 0) + int(takes[item])
            opened.append(search._open(node_class, name, room, hosted))
            free[column] -= 1
            items.left -= takes
            spent += node_class.price
        if not items.left.any() and spent < budget:
            return 1
        self._restore(saved, opened, moves)
        return 0

    def _into_free_room(self, prices: np.ndarray) -> list[tuple[str, int, str, int]]:
        """Move what of the ruined nodes' replicas fits into the free room of other open nodes
        (`_Search._place`: eligible, the same domains for every rule that counts in one, the
        room, the per-node limit, anti-affinity and exclusive workloads checked): nodes paid
        for already. A replica no rule ties to its zone may so move to another zone, which a
        zone rebuilt on its own cannot do (inventory 50,000 seed 7: 283 replicas into other
        zones' paid nodes, mostly those rebuilt before with room left, 51 into accelerator
        nodes; 2728.75 -> 2716.36 USD/h). The replicas worth most at `prices` first (the room
        is too small for all). The ruined nodes keep what found no room; the moves made (for
        `_restore`)."""
        search = self.search
        classes = self._hosts()
        if not classes:
            return []
        # per host class, the most of each resource one of its open nodes has free (the room
        # only shrinks while replicas move in: a class without room for a replica stays so)
        most = np.array([search.free[c.id][search.open[c.id]].max(axis=0) for c in classes],
                        dtype=np.int64).reshape(len(classes), len(RESOURCES))
        hosts = np.array([self.domains.index[c.id] for c in classes], dtype=np.int64)
        # per workload, its replicas on the ruined nodes and a class they are on (they are
        # in the same domains and cluster: `_items`), placed in one call
        amounts: dict[str, int] = {}
        origin: dict[str, NodeClass] = {}
        for node, node_class in self.ruined:
            for name, amount in node.hosted.items():
                amounts[name] = amounts.get(name, 0) + amount
                origin.setdefault(name, node_class)
        order = sorted(amounts, key=lambda name: (-float(search.requests[name] @ prices), name))
        moves: list[tuple[str, int, str, int]] = []
        for name in order:
            roomy = (most >= search.requests[name]).all(axis=1)
            demand = self.problem.demand(name)
            targets = self.domains.targets(demand, origin[name], hosts[roomy])
            if targets:
                placed = amounts[name] - search._place(demand, amounts[name], origin[name], moves, targets)
                for node, _ in self.ruined:  # taken off the ruined nodes, the first first
                    taken = min(placed, node.hosted.get(name, 0))
                    if taken:
                        placed -= taken
                        node.hosted[name] -= taken
                        if not node.hosted[name]:
                            del node.hosted[name]
        return moves

    def _hosts(self) -> list[NodeClass]:
        """The classes with open nodes (the ruined ones are closed), those that cost least a
        node first."""
        open_ = self.search.open
        return sorted((c for c in self.problem.classes if c.id in open_ and open_[c.id].any()),
                      key=lambda c: (c.price, c.id))

    def _restore(self, saved: list[tuple[NodeState, dict[str, int]]], opened: list[tuple[str, int]],
                 moves: list[tuple[str, int, str, int]]) -> None:
        """The zone as it was: the new nodes closed again (dropped by `finish`), the moves into
        free room undone, the ruined nodes open with their replicas."""
        search = self.search
        for class_id, index in opened:
            search.open[class_id][index] = False
            search.packing.nodes[class_id][index].hosted.clear()
        search._undo(moves)
        for (node, hosted), (_, node_class) in zip(saved, self.ruined):
            node.hosted = hosted
            search.open[node_class.id][search.position[node.name][1]] = True

    def _items(self) -> _Items | None:
        """The ruined nodes' replicas by workload; None where a workload's replicas here are
        in different domains of a rule (each must stay in its own: not rebuilt)."""
        left: dict[str, int] = {}
        origins: dict[str, set[str]] = {}
        for node, node_class in self.ruined:
            for name, amount in node.hosted.items():
                left[name] = left.get(name, 0) + amount
                origins.setdefault(name, set()).add(node_class.id)
        names = sorted(left)
        column = {c.id: j for j, c in enumerate(self.classes)}
        columns: dict[int, list[int]] = {}  # per eligible list (workloads share them): its columns here
        eligible = np.zeros((len(names), len(self.classes)), dtype=bool)
        same = []
        for i, name in enumerate(names):
            demand = self.problem.demand(name)
            if id(demand.eligible) not in columns:
                columns[id(demand.eligible)] = [column[c] for c in demand.eligible if c in column]
            eligible[i, columns[id(demand.eligible)]] = True
            same_as = domains_key(self.problem, demand)
            wanted = [same_as(self.problem.node_class(origin)) for origin in sorted(origins[name])]
            if any(w != wanted[0] for w in wanted):
                return None
            same.append((same_as, wanted[0]))
        demands = [self.problem.demand(name) for name in names]
        apart = self.search.apart
        return _Items(names=names,
                      left=np.array([left[name] for name in names], dtype=np.int64),
                      need=np.array([[d.requests[r] for r in RESOURCES] for d in demands],
                                    dtype=np.int64).reshape(len(names), len(RESOURCES)),
                      per_node=np.array([_per_node(d) for d in demands], dtype=np.int64),
                      eligible=eligible, same=same,
                      apart=np.array([bool(apart.get(d.name)) for d in demands], dtype=bool))

    def _free_nodes(self) -> np.ndarray:
        """Per class: the nodes a new node may be: never opened, or closed and not ruined."""
        ruined = {node.name for node, _ in self.ruined}
        free = []
        for node_class in self.classes:
            nodes = self.search.packing.nodes.get(node_class.id, [])
            is_open = self.search.open.get(node_class.id, np.zeros(0, dtype=bool))
            closed = len([n for i, n in enumerate(nodes) if not is_open[i] and n.name not in ruined])
            free.append(node_class.count - len(self.search.names.get(node_class.id, ())) + closed)
        return np.array(free, dtype=np.int64)

    def _resource_prices(self, items: _Items, free: np.ndarray | None) -> np.ndarray | None:
        """USD/h per unit of each resource: the duals of the covering LP (the fewest USD/h of
        the zone's free nodes, or of its classes' nodes without end where `free` is None, whose
        capacity covers every request), each resource at least a thousandth of its mean price
        so that no request is worth nothing; None where the nodes cannot cover the requests."""
        from scipy.optimize import linprog  # (0.2-0.3 s and ~30 MB to import: only where a zone is rebuilt)

        total = (items.need * items.left[:, None]).sum(axis=0).astype(float)
        asked = np.flatnonzero(total > 0)
        if not len(asked):
            return None
        shares = (self.capacity[:, asked] / total[asked]).T  # resource x class, in shares of the total
        found = linprog(self.price, A_ub=-shares, b_ub=-np.ones(len(asked)),
                        bounds=[(0, None)] * len(self.classes) if free is None else
                        list(zip(np.zeros(len(free)), free.astype(float))), method="highs")
        if found.status != 0:
            return None
        duals = np.maximum(-found.ineqlin.marginals, 0.0)
        floor = 1e-3 * found.fun / len(asked)
        prices = np.zeros(len(RESOURCES))
        prices[asked] = (np.maximum(duals, floor)) / total[asked]
        return prices

    def _next_node(self, items: _Items, free: np.ndarray, prices: np.ndarray):
        """The next new node: of the class whose whole capacity is worth most per USD/h at
        `prices` (with a free node, and replicas left that may go there), filled by `_fill`.
        (Filling the 2, 4 or 8 classes worth most each time and keeping the node cheapest for
        the value it took cost 1.4x, 2.1x and 5x the time at 50,000 nodes, seed 7, for
        2752.60, 2754.70 and 2750.41 USD/h against 2753.55, with an earlier fill.) (column,
        node name, room left, replicas by item), or None where no class takes any replica
        left."""
        worth = self.capacity @ prices
        usable = (free > 0) & (items.eligible[items.left > 0].any(axis=0)) & (worth > 0)
        columns = np.flatnonzero(usable)
        for column in columns[np.lexsort((columns, -worth[columns] / self.price[columns]))].tolist():
            node_class = self.classes[column]
            name = self.search._unused_name(node_class, self.ruined)
            if name is None:
                continue
            room = np.array([node_class.capacity_of(name)[r] for r in RESOURCES], dtype=np.int64)
            takes, room = _fill(items, column, node_class, room, self.search.apart)
            if takes.any():
                return column, name, room, takes
        return None


def _per_node(demand: Demand) -> int:
    """The most replicas of `demand` one node takes whatever its class, beyond what fits
    (`node_limit` without the resources: one a node, a node spread's skew)."""
    most = 1 if demand.one_per_node else demand.replicas
    for spread in demand.spreads:
        if spread.topology == "node":
            most = min(most, spread.max_skew)
    return most


def _fill(items: _Items, column: int, node_class: NodeClass, room: np.ndarray,
          apart: dict[str, set[str]]) -> tuple[np.ndarray, np.ndarray]:
    """What an empty node of the class (`column`, with `room`) takes (`_dot_fill`); the items
    kept apart on nodes from another workload one by one after. (replicas per item, room
    left)."""
    limit = np.minimum(items.left, items.per_node)
    allowed = items.allowed_in(column, node_class)
    takes = np.zeros(len(items.left), dtype=np.int64)
    # the workloads needing the most nodes still (one replica a node: a service kept apart
    # from itself) go first on every node, or the last nodes hold little else (measured:
    # the rebuilt zones' last 10-20 nodes 2-20% used, 7-12% of their cores unused overall)
    needs_nodes = np.where(items.left > limit, -(-items.left // np.maximum(limit, 1)), 0)
    room = _dot_fill(items.need, np.flatnonzero(allowed & (limit > 0) & ~items.apart), limit, room, takes,
                     needs_nodes)
    on_node: set[str] = {items.names[i] for i in np.flatnonzero(takes).tolist()}
    for item in np.flatnonzero(allowed & (limit > 0) & items.apart).tolist():
        name = items.names[item]
        if apart.get(name, set()) & on_node:
            continue
        share = min((int(room[r] // items.need[item, r]) for r in range(len(RESOURCES))
                     if items.need[item, r]), default=int(limit[item]))
        part = min(share, int(limit[item]) - int(takes[item]))
        if part > 0:
            takes[item] += part
            room = room - items.need[item] * part
            on_node.add(name)
    return takes, room


def _dot_fill(need: np.ndarray, order: np.ndarray, limit: np.ndarray, room: np.ndarray,
              takes: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Fill `room` with the items `order` names (at most `limit` of each; counted in
    `takes`) by the dot-product rule of vector bin packing: the replicas whose requests
    point most the way the room left does, in shares of the node, first (after the items
    with the largest `first`). Taken in runs: each round the items in that order whose
    replicas together fit in half the room left, or else as many replicas of the first as
    fit there (at least one), then the order again for the room left. Returns the room
    left. (First-fit decreasing by the largest share instead left 16-core nodes memory-full
    with an eighth of their cores unused, and taking all that fits of the first item a
    16-core node full of CPU-heavy replicas: the zones' rebuilds cost more than the nodes
    they replaced.)"""
    capacity = np.maximum(room, 1).astype(float)
    while len(order):
        wanted = need[order]
        fits = (wanted <= room).all(axis=1) & (takes[order] < limit[order])
        order, wanted = order[fits], wanted[fits]
        if not len(order):
            break
        pointing = (wanted / capacity) @ (room / capacity)
        ranked = np.lexsort((order, -pointing, -first[order]))
        order, wanted = order[ranked], wanted[ranked]
        most = limit[order] - takes[order]
        half = room // 2
        used = np.cumsum(wanted * most[:, None], axis=0)
        within = (used <= half).all(axis=1)
        count = len(order) if within.all() else int(np.argmin(within))
        if count:
            takes[order[:count]] += most[:count]
            room = room - used[count - 1]
            order = order[count:]
            continue
        item, asked = order[0], wanted[0]
        part = min((int(half[r] // asked[r]) for r in range(len(asked)) if asked[r]), default=int(most[0]))
        part = min(max(part, 1), int(most[0]))
        takes[item] += part
        room = room - asked * part
    return room
