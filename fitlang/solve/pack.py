"""Per-node placement: the aggregate model says how many replicas of each workload run on a
class; this decides which node each one runs on.

Nodes are filled one at a time. Each step puts on the open node the replica whose requests
best match what the node has left (the dot product of the two, each as a share of the node:
FFD-DotProduct from Panigrahy et al., "Heuristics for Vector Bin Packing", 2011). Matching
shapes is what lets a class reach the fill the aggregate model counted: first-fit by size puts
two memory-heavy replicas together and strands the node's CPUs.

Node-level rules are honoured here: at most `node_limit` per node, anti-affinity and
affinity between workloads. What does not fit in the nodes a class may open is `short`;
`repair` then tries the free room and the nodes left in classes that are equivalent for the
workload's rules.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from fitlang import rules
from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, node_limit, replicas_per_node
from fitlang.rules.base import TopologyValues

# may_open(node_class, packing) -> may one more node of the class be used now?
MayOpen = Callable[[NodeClass, "Packing"], bool]



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
    # classes whose nodes an exact program chose among its domain group's (group_pack.py)
    exact: set[str] = field(default_factory=set)
    # classes node patterns were tried on already (patterns_first.py): not tried again
    patterned: set[str] = field(default_factory=set)
    _room: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return not self.short

    def opened(self, class_id: str) -> int:
        return len(self.nodes.get(class_id, []))

    def room(self, class_id: str) -> np.ndarray:
        """What is free on each open node of the class, one row per node (kept up to date by
        the packers, so that refilling looks only at nodes with room)."""
        nodes = self.nodes.get(class_id, [])
        cached = self._room.get(class_id)
        if cached is None or len(cached) != len(nodes):
            cached = np.array([[n.free[r] for r in RESOURCES] for n in nodes],
                              dtype=np.int64).reshape(len(nodes), len(RESOURCES))
            self._room[class_id] = cached
        return cached

    def add_short(self, workload: str, class_id: str, amount: int) -> None:
        self.short[class_id] = self.short.get(class_id, 0) + amount
        key = (workload, class_id)
        self.short_by_workload[key] = self.short_by_workload.get(key, 0) + amount


def pack(problem: Problem, counts: dict[tuple[str, str], int], planned: dict[str, int]) -> Packing:
    """Each class gets the nodes the aggregate model counted for it; what does not fit in
    them is `short`."""
    packing = Packing()
    by_class = sent_to_classes(problem.demands, counts)
    for node_class in problem.classes:
        items = by_class.get(node_class.id)
        if items:
            packer = ClassPacker(problem, node_class, items,
                                 _even_shares(node_class, items, planned.get(node_class.id, 0)))
            packer.run(packing, lambda c, p: p.opened(c.id) < planned.get(c.id, 0),
                       planned.get(node_class.id, 0))
            for demand, amount in packer.leftovers():
                packing.add_short(demand.name, node_class.id, amount)
    return packing


def sent_to_classes(demands: list[Demand], counts: dict[tuple[str, str], int]
                    ) -> dict[str, list[tuple[Demand, int]]]:
    """Class id -> (demand, replicas) the counts send there, in the demands' order."""
    by_class: dict[str, list[tuple[Demand, int]]] = {}
    for demand in demands:
        for class_id in demand.eligible:
            amount = counts.get((demand.name, class_id), 0)
            if amount:
                by_class.setdefault(class_id, []).append((demand, amount))
    return by_class


def _even_shares(node_class: NodeClass, items: list[tuple[Demand, int]], planned: int) -> dict[str, int]:
    """Workloads under `spread node` whose replicas on this class go to every node it uses,
    evenly (workload -> those nodes): where the aggregate model counted at least one replica
    per node and uses every node of the class (an offer's nodes are all in use once bought).
    Elsewhere the model kept each node at max_skew or fewer (see `rules/spread._node_spread_rows`),
    which the packer's per-node limit keeps."""
    if not planned or (not node_class.provisioned and planned < node_class.count):
        return {}
    return {demand.name: planned for demand, amount in items if amount >= planned
            and any(s.topology == "node" for s in demand.spreads)}


def repair(problem: Problem, packing: Packing, may_open: MayOpen) -> None:
    """Place what `pack` left short on classes that are equivalent for the workload's rules:
    first in the free room of nodes already open; then on new nodes, one class at a time,
    the one most leftovers find cheapest per replica, so that the leftovers of many classes
    share the nodes opened for them. What still does not fit stays short, against the class
    it was sent to."""
    pending = [_Leftover(problem.demand(w), origin, amount,
                         equivalents(problem, problem.demand(w), problem.node_class(origin)))
               for (w, origin), amount in sorted(packing.short_by_workload.items(),
                                                 key=lambda item: (-problem.demand(item[0][0]).priority,
                                                                   item[0]))]
    packing.short.clear()
    packing.short_by_workload.clear()
    never: MayOpen = lambda node_class, packing: False  # noqa: E731
    while True:
        for item in pending:
            item.step = 0
        while batch := _next_round(pending):  # each class takes its batch in one pass
            for class_id in sorted(batch):
                _place_batch(problem, *batch[class_id], packing, never)
        opening = _cheapest_to_open(pending, packing, may_open)
        if opening is None:
            break
        node_class, items = opening
        before = sum(item.amount for item in items)
        _place_batch(problem, node_class, items, packing, may_open)
        if sum(item.amount for item in items) == before:  # nothing of theirs fits there
            for item in items:
                item.classes = [c for c in item.classes if c.id != node_class.id]
    for item in pending:
        if item.amount:
            packing.add_short(item.demand.name, item.origin, item.amount)


def _cheapest_to_open(pending: list[_Leftover], packing: Packing, may_open: MayOpen):
    """The class the most leftover replicas would open first, with those leftovers."""
    first: dict[str, tuple[NodeClass, list[_Leftover]]] = {}
    for item in pending:
        if not item.amount:
            continue
        node_class = next((c for c in item.classes if may_open(c, packing)), None)
        if node_class is not None:
            first.setdefault(node_class.id, (node_class, []))[1].append(item)
    if not first:
        return None
    return max(first.values(), key=lambda entry: (sum(i.amount for i in entry[1]), entry[0].id))


@dataclass
class _Leftover:
    demand: Demand
    origin: str  # the class the aggregate model sent these replicas to
    amount: int
    classes: list[NodeClass]  # where they may go instead, in the order to try
    step: int = 0


def _next_round(pending: list[_Leftover]) -> dict[str, tuple[NodeClass, list[_Leftover]]]:
    """Class id -> the class and the leftovers that try it next."""
    batch: dict[str, tuple[NodeClass, list[_Leftover]]] = {}
    for item in pending:
        if item.amount and item.step < len(item.classes):
            node_class = item.classes[item.step]
            batch.setdefault(node_class.id, (node_class, []))[1].append(item)
            item.step += 1
    return batch


def _place_batch(problem: Problem, node_class: NodeClass, items: list[_Leftover],
                 packing: Packing, may_open: MayOpen) -> None:
    amounts: dict[str, int] = {}
    for item in items:
        amounts[item.demand.name] = amounts.get(item.demand.name, 0) + item.amount
    packer = ClassPacker(problem, node_class, [(problem.demand(n), a) for n, a in amounts.items()])
    packer.run(packing, may_open, refill=True)
    left = {demand.name: amount for demand, amount in packer.leftovers()}
    for item in items:  # what was placed is taken from the first leftovers of each workload
        placed = min(item.amount, amounts[item.demand.name] - left.get(item.demand.name, 0))
        item.amount -= placed
        amounts[item.demand.name] -= placed


def _unused_names(node_class: NodeClass, opened: list[NodeState]) -> Iterator[str]:
    """The class's node names not open yet, in order. Open nodes are its first names until
    closing a node (`improve.consolidate`) or moving replicas out leaves a gap; then the
    names are read from the first, skipping those in use (at most one skip per open node)."""
    used = {node.name for node in opened}
    return (name for name in node_class.node_names if name not in used)


def domains_key(problem: Problem, demand: Demand) -> Callable[[NodeClass], list]:
    """What a class must have in common with another for a replica of `demand` to move
    between them with every rule's counts kept (`OnNodes.same` of each rule, as a list)."""
    keys = _same_keys(problem, demand)
    return lambda node_class: [key(node_class) for key in keys]


def _same_keys(problem: Problem, demand: Demand) -> tuple[Callable[[NodeClass], Hashable], ...]:
    """`OnNodes.same` of each rule that has one for `demand`."""
    keys = []
    for rule in rules.RULES:
        if rule.packing is not None and rule.packing.same is not None:
            key = rule.packing.same(problem, demand)
            if key is not None:
                keys.append(key)
    return tuple(keys)


def equivalents(problem: Problem, demand: Demand, origin: NodeClass) -> list[NodeClass]:
    """Eligible classes that have in common with `origin` what each rule on `demand` counts
    (`OnNodes.same`: the domains of a spread's or an affinity's topology, the reach of a
    latency rule's users), so that the rules keep their counts; cheapest per replica first.
    The eligible classes are grouped once per demand, each group sorted on its first ask."""
    keys = _same_keys(problem, demand)
    groups, ordered = _equivalent_groups(problem, demand, keys)
    wanted = tuple(key(origin) for key in keys)
    if wanted not in ordered:
        ordered[wanted] = _cheapest_first(problem, demand, groups.get(wanted, []))
    return list(ordered[wanted])


def equivalent_ids(problem: Problem, demand: Demand, origin: NodeClass) -> frozenset[str]:
    """The ids of `equivalents`' classes, in no order: where only the set is asked, the sort
    (`_cheapest_first`, ~5 ms over 1,500 classes) is not made. Kept per grouping and key, so
    workloads alike share one set (`bench/many_workloads.py` 10,000 / 1,500: 13,524 asks of
    `small_merged`, 68 CPU s of sorting profiled)."""
    keys = _same_keys(problem, demand)
    groups, _ = _equivalent_groups(problem, demand, keys)
    wanted = tuple(key(origin) for key in keys)
    table = _ID_SETS.setdefault(problem, {})
    entry = table.get(id(groups))
    if entry is None or entry[0] is not groups:  # (the grouping kept in the entry: its id stays its own)
        entry = table[id(groups)] = (groups, {})
    found = entry[1].get(wanted)
    if found is None:
        found = entry[1][wanted] = frozenset(c.id for c in groups.get(wanted, []))
    return found


# per problem: per demand (by identity), its eligible classes grouped by `domains_key`, and
# the groups sorted so far. Consolidation asks `equivalents` once per (workload, origin class),
# and each solve consolidates several placements: keying every eligible class again on each
# ask was half of the consolidation's time on the inventory shape at 10,000 nodes (213 asks,
# 2.3 of 4.2 profiled s). (Nothing here refers to the problem: a key function may, and is not
# kept, so the problem and its entry still go together.) The groupings themselves are shared
# by workloads of the same eligible classes and the same keys (`_GROUPINGS`, where the keys
# are `TopologyValues`: 70 groupings for 1,158 workloads on that shape, 0.5 CPU s a solve).
_GROUPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GROUPINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# per problem: per grouping (by identity, kept with it), the ids of each group (`equivalent_ids`)
_ID_SETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _equivalent_groups(problem: Problem, demand: Demand, keys: tuple[Callable[[NodeClass], Hashable], ...]
                       ) -> tuple[dict[tuple, list[NodeClass]], dict[tuple, list[NodeClass]]]:
    """`demand`'s eligible classes by key, and the groups sorted so far."""
    per_demand = _GROUPS.setdefault(problem, {})
    known = per_demand.get(id(demand))
    # (kept while the registered rules are those it was keyed by: a rule registered later
    # counts something more)
    if known is not None and known[0] is demand and known[1] is rules.RULES:
        return known[2], known[3]
    # (shared only where every key is a `TopologyValues`: equal keys, and none refers to
    # the problem, which the table must not keep alive)
    shared = all(isinstance(key, TopologyValues) for key in keys)
    groupings = _GROUPINGS.setdefault(problem, {})
    groups = groupings.get((tuple(demand.eligible), keys)) if shared else None
    if groups is None:
        groups = {}
        for node_class in map(problem.node_class, demand.eligible):
            groups.setdefault(tuple(key(node_class) for key in keys), []).append(node_class)
        if shared:
            groupings[tuple(demand.eligible), keys] = groups
    ordered: dict[tuple, list[NodeClass]] = {}
    per_demand[id(demand)] = (demand, rules.RULES, groups, ordered)  # (the demand kept: its id stays its own)
    return groups, ordered


def _cheapest_first(problem: Problem, demand: Demand, same: list[NodeClass]) -> list[NodeClass]:
    """The classes by what a replica's share of a node costs (`_share_cost`), then by id.
    The costs are compared as floats, and exactly where two are within rounding of each
    other, so the order is the exact one (consolidation and the dear-node ruin ask this ~700
    times a solve on the inventory shape at 10,000 nodes, over 30-640 classes: a Fraction
    per class was 1.3 of the solve's CPU s)."""
    if len(same) < 2:
        return list(same)
    table = _class_table(problem)
    rows = np.fromiter((table.row[c.id] for c in same), dtype=np.int64, count=len(same))
    limits = _node_limits(demand, table, rows)
    approximate = _float_share_costs(demand, table, rows, limits)
    ids = [c.id for c in same]
    order = sorted(range(len(same)), key=lambda i: (approximate[i], ids[i]))
    ordered = np.array(approximate)[order]
    near = np.abs(np.diff(ordered)) <= _ROUNDING * np.maximum(np.abs(ordered[1:]), np.abs(ordered[:-1]))
    if near.any():  # runs of costs within rounding of each other, sorted exactly
        price_key = table.price_key[rows]
        breaks = np.flatnonzero(~near) + 1
        starts, ends = np.concatenate(([0], breaks)).tolist(), np.concatenate((breaks, [len(order)])).tolist()
        for start, end in zip(starts, ends):
            if end - start > 1:
                order[start:end] = _exactly(demand, same, price_key, limits, order[start:end])
    return [same[i] for i in order]


# relative distance within which two float costs may be in either exact order (a float
# cost's rounding error is a few parts in 1e16)
_ROUNDING = 1e-9


def _share_cost(demand: Demand, node_class: NodeClass) -> tuple[Fraction, str]:
    """What a replica's share of a node costs, exactly (then the class's id)."""
    share = max((Fraction(demand.requests[r], node_class.capacity[r]) for r in RESOURCES
                 if node_class.capacity[r]), default=Fraction(1))
    share = max(share, Fraction(1, max(1, node_limit(demand, node_class))))
    return (node_class.price * share, node_class.id)


def _exactly(demand: Demand, same: list[NodeClass], price_key: np.ndarray, limits: np.ndarray,
             run: list[int]) -> list[int]:
    """These classes (positions in `same`, sorted by float cost and id) by `_share_cost`.
    Where a node takes a replica (`node_limit` L >= 1) that is the price over L: each
    requested resource's share r/c is at most 1/floor(c/r) <= 1/L, so 1/L is the largest. So
    where every class of the run has one price and one L >= 1 (nearly every run), the costs
    are equal and the order by id stands."""
    costs: dict[tuple[int, int], Fraction] = {}

    def key(i: int) -> tuple[Fraction, str]:
        node_class, limit = same[i], int(limits[i])
        if limit < 1:
            return _share_cost(demand, node_class)
        price = (int(price_key[i]), limit)
        if price not in costs:
            costs[price] = node_class.price / limit
        return (costs[price], node_class.id)

    if len({(int(price_key[i]), int(limits[i])) for i in run}) == 1 and limits[run[0]] >= 1:
        return run
    return sorted(run, key=key)


@dataclass
class _ClassTable:
    """A problem's classes as arrays, by row (`row`: class id -> row)."""
    row: dict[str, int]
    capacity: np.ndarray  # (classes, RESOURCES), int64
    price: np.ndarray  # float64
    price_key: np.ndarray  # int64: classes of one price have one key
    several: np.ndarray  # bool: more than one node


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _class_table(problem: Problem) -> _ClassTable:
    table = _TABLES.get(problem)
    if table is None:
        classes = problem.classes
        prices: dict[Fraction, int] = {}
        table = _TABLES[problem] = _ClassTable(
            row={c.id: i for i, c in enumerate(classes)},
            capacity=np.array([[c.capacity[r] for r in RESOURCES] for c in classes], dtype=np.int64)
            .reshape(len(classes), len(RESOURCES)),
            price=np.array([float(c.price) for c in classes], dtype=np.float64),
            price_key=np.array([prices.setdefault(c.price, len(prices)) for c in classes], dtype=np.int64),
            several=np.array([c.count > 1 for c in classes], dtype=bool))
    return table


def _float_share_costs(demand: Demand, table: _ClassTable, rows: np.ndarray,
                       limits: np.ndarray) -> list[float]:
    """`_share_cost` of each class (by row) as a float; `limits` their `node_limit`."""
    capacity = table.capacity[rows]
    need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.float64)
    present = capacity > 0
    shares = np.where(present, need / np.where(present, capacity, 1), 0.0)
    share = np.where(present.any(axis=1), shares.max(axis=1), 1.0)
    share = np.maximum(share, 1.0 / np.maximum(limits, 1))
    return (table.price[rows] * share).tolist()


def _node_limits(demand: Demand, table: _ClassTable, rows: np.ndarray) -> np.ndarray:
    """`node_limit` of each class (by row), over arrays."""
    need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
    asked = need > 0
    fit = np.full(len(rows), demand.replicas, dtype=np.int64)
    if asked.any():
        fit = np.minimum(fit, (table.capacity[rows][:, asked] // need[asked]).min(axis=1))
    if demand.one_per_node:
        fit = np.minimum(fit, 1)
    fit = np.maximum(fit, 0)
    for spread in demand.spreads:
        if spread.topology == "node":
            fit = np.where(table.several[rows], np.minimum(fit, spread.max_skew), fit)
    return fit


class ClassPacker:
    """The replicas sent to one class, as arrays over their workloads."""

    def __init__(self, problem: Problem, node_class: NodeClass, items: list[tuple[Demand, int]],
                 even: dict[str, int] | None = None):
        self.node_class = node_class
        self.demands = [d for d, _ in _order(items)]
        amounts = dict((d.name, a) for d, a in items)
        self.left = np.array([amounts[d.name] for d in self.demands], dtype=np.int64)
        self.requests = np.array([[d.requests[r] for r in RESOURCES] for d in self.demands],
                                 dtype=np.int64)
        self.capacity = np.array([node_class.capacity[r] for r in RESOURCES], dtype=np.int64)
        self.present = self.capacity > 0  # the resources the node has
        self.request_floats = self.requests.astype(np.float64)
        self.present_capacity = self.capacity[self.present]
        self.shares = self.requests[:, self.present] / self.present_capacity
        # per workload, (resource, request) for the resources it asks for (plain ints: the
        # room a node has for it is read once a step, where numpy scalars cost more)
        self.asked = [[(r, int(self.requests[i, r])) for r in range(len(RESOURCES)) if self.requests[i, r]]
                      for i in range(len(self.demands))]
        self.hosted = np.zeros(len(self.demands), dtype=np.int64)  # on the node being filled
        self.limit = np.array([node_limit(d, node_class) for d in self.demands], dtype=np.int64)
        self.ruled = _node_rules(problem, self.demands)
        self.exclusive = _apart_on_nodes(problem)[1]
        self.unruled = not self.ruled and not self.exclusive  # every candidate allowed anywhere
        self.follows = np.array([bool(self.ruled.get(i, ((), ()))[1]) for i in range(len(self.demands))],
                                dtype=bool)
        self.position = {d.name: i for i, d in enumerate(self.demands)}
        # the options of the workloads an `affinity W on node` names (W, not an option)
        joined = {name for _, together in self.ruled.values() for name in together}
        self.option_of = {name: group.workload for group in problem.option_groups
                          if group.workload in joined for name in group.demands}
        self.even = {self.position[name]: nodes for name, nodes in (even or {}).items()}
        for index, nodes in self.even.items():  # each node takes its share, rounded up
            share = -(-int(self.left[index]) // nodes)
            self.limit[index] = min(replicas_per_node(self.demands[index], node_class), share)
        self._spread_followed()

    def _spread_followed(self) -> None:
        """A workload others must join on a node (`affinity X on node`) goes to as many nodes
        as they need at their per-node limit: its own limit becomes its replicas over those
        nodes. Packed densely, 8 replicas on 2 nodes left 6 of 8 followers that take one node
        each (a node spread) with nowhere to go, and the solve ended undecided in 0.4 s.
        Along a chain (c joins b, b joins a) each link is spread for the next's needs until
        nothing changes: b spread for c alone left a 3 to a node (differential_fleet seed 147)."""
        for _ in range(len(self.ruled) + 1):  # a chain (a joins b joins c): to the fixed point
            needed: dict[int, int] = {}
            for index, (_, together) in self.ruled.items():
                nodes = -(-int(self.left[index]) // max(1, int(self.limit[index])))
                if not nodes:  # (nothing of it left to place here)
                    continue
                for name in together:
                    target = self.position.get(name)
                    if target is not None:
                        needed[target] = max(needed.get(target, 0), nodes)
            changed = False
            for target, nodes in needed.items():
                limit = min(int(self.limit[target]), max(1, int(self.left[target]) // nodes))
                changed |= limit != int(self.limit[target])
                self.limit[target] = limit
            if not changed:
                break

    def run(self, packing: Packing, may_open: MayOpen, planned: int | None = None,
            refill: bool = False) -> None:
        """Fill new nodes of the class while it may open them (with `refill`, first the free
        room of the nodes already open). With `planned` nodes to fill, each node aims at its
        share of what is left, so that the last nodes are not left the awkward replicas.

        Replicas that need the class's accelerators go first, on as few nodes as they pack
        into; the rest fill the room around them. Mixed in one pass, CPU-only replicas take
        the CPUs an accelerator replica needed and strand the accelerators."""
        opened = packing.nodes.setdefault(self.node_class.id, [])
        no_slack = np.zeros(len(RESOURCES))
        if self.even:
            self._share_evenly(opened)
            refill = True  # the rest first into the nodes the even shares opened
        for tier, members in enumerate(self._tiers()):
            remaining = int(self.left[members].sum())
            if (refill or tier) and remaining and opened:
                room = packing.room(self.node_class.id)
                smallest = self.requests[members].min(axis=0)
                for index in np.flatnonzero((room >= smallest).all(axis=1)):
                    node = opened[index]
                    remaining -= self._fill(node, no_slack, members)
                    room[index] = [node.free[r] for r in RESOURCES]
                    if not remaining:
                        break
            names = _unused_names(self.node_class, opened)
            while remaining and may_open(self.node_class, packing):
                name = next(names, None)
                if name is None:
                    break
                node = NodeState(name, dict(self.node_class.capacity_of(name)))
                placed = self._fill(node, self._slack(planned, len(opened), members), members,
                                    self._due(planned, len(opened), members))
                if not placed:
                    break  # nothing left fits an empty node: more nodes would not help
                remaining -= placed
                opened.append(node)

    def _share_evenly(self, opened: list[NodeState]) -> None:
        """Open the nodes the even shares go to and put each its share, rounded down, then the
        remainder (fewer than one per node), one a node, each workload's from the node the
        last one's ended at: every node ends with one of the two, before other workloads take
        the room. Left to the fill, the remainder lost it: `mixed_rules.py` seed 415, 138 of a
        node-spread workload on 47 nodes of 4 CPUs got 2 each, a CPU-only workload beside it
        took 2 a node where 44 nodes needed 3 + 1, and 22 of the spread's replicas (priority
        10) were left out."""
        names = _unused_names(self.node_class, opened)
        while len(opened) < max(self.even.values()):
            name = next(names, None)
            if name is None:
                break
            opened.append(NodeState(name, dict(self.node_class.capacity_of(name))))
        start = 0  # (where the next remainder begins: two workloads' extra ones on other nodes)
        for index, nodes in sorted(self.even.items()):
            share = int(self.left[index]) // nodes
            for node in opened[:nodes]:
                if self.left[index] >= share:
                    self._put_on(node, index, share)
            mine, at = opened[:nodes], start
            for step in range(len(mine)):
                if not self.left[index] or self.left[index] >= len(mine):
                    break
                node = mine[(start + step) % len(mine)]
                if node.hosted.get(self.demands[index].name, 0) == share and self._put_on(node, index, 1):
                    at = start + step + 1
            start = at % max(1, len(opened))

    def _put_on(self, node: NodeState, index: int, amount: int) -> bool:
        """Put `amount` of workload `index` on `node` where they fit and its rules allow."""
        if not amount or not self._takes(node, index, amount):
            return False
        for r, resource in enumerate(RESOURCES):
            node.free[resource] -= int(self.requests[index, r]) * amount
        name = self.demands[index].name
        node.hosted[name] = node.hosted.get(name, 0) + amount
        self.left[index] -= amount
        return True

    def _takes(self, node: NodeState, index: int, amount: int) -> bool:
        free = np.array([node.free[r] for r in RESOURCES], dtype=np.int64)
        fits = bool((self.requests[index] * amount <= free).all())
        empty = np.zeros(len(self.demands), dtype=np.int64)
        return fits and bool(self._allowed(np.array([index]), empty, node)[0])

    def _tiers(self) -> list[np.ndarray]:
        gpu = RESOURCES.index("gpu")
        needs = self.requests[:, gpu] > 0
        if self.capacity[gpu] and needs.any() and not needs.all():
            return [np.flatnonzero(needs), np.flatnonzero(~needs)]
        return [np.arange(len(self.demands))]

    def _slack(self, planned: int | None, opened: int, members: np.ndarray) -> np.ndarray:
        """Per resource, how much of a node may stay free if the remaining nodes share what is
        left evenly: a node filled past its share in one resource strands the others."""
        if not planned or planned <= opened:
            return np.zeros(len(RESOURCES))
        # in floats, which hold these sums exactly (numpy has no fast integer product)
        remaining = self.left[members].astype(np.float64) @ self.request_floats[members]
        share = np.minimum(1.0, remaining / ((planned - opened) * np.maximum(self.capacity, 1)))
        return (1.0 - share) * self.capacity

    def _due(self, planned: int | None, opened: int, members: np.ndarray) -> np.ndarray:
        """Workloads that need every node left at their per-node limit (one per node on as
        many nodes as replicas): they go on this node first, before others take its room.
        Measured on the inventory shape: 29 of 56 replicas short were one-per-node."""
        if not planned or planned <= opened:
            return members[:0]
        left = self.left[members]
        return members[(left > 0) & (left >= self.limit[members] * (planned - opened))]

    def _scores(self, chosen: np.ndarray, free: np.ndarray, slack: np.ndarray) -> np.ndarray:
        """How well each candidate matches the node's room, as shares of the node: the dot
        product of its requests with the room, less how unevenly it would leave the room (a
        node with CPUs left and no memory, or GPUs left and no CPUs, wastes the rest)."""
        room = (free - slack)[self.present] / self.present_capacity
        shares = self.shares[chosen]
        after = room - shares
        return shares @ room - (after.max(axis=1) - after.min(axis=1))

    def leftovers(self) -> list[tuple[Demand, int]]:
        return [(self.demands[i], int(self.left[i])) for i in np.flatnonzero(self.left)]

    def _fill(self, node: NodeState, slack: np.ndarray, members: np.ndarray,
              due: np.ndarray | None = None) -> int:
        """Put replicas on `node` until none fits (first those `due` on every node left, at
        their limit); say how many were put there."""
        free = np.array([node.free[r] for r in RESOURCES], dtype=np.int64)
        hosted = self.hosted
        for name, amount in node.hosted.items():
            if name in self.position:
                hosted[self.position[name]] = amount
        placed = 0
        for index in (due if due is not None else ()):
            if not self._allowed(np.array([index]), hosted, node)[0]:
                continue
            room = min((free[r] // self.requests[index, r] for r in range(len(RESOURCES))
                        if self.requests[index, r]), default=self.left[index])
            amount = int(min(self.left[index], self.limit[index] - hosted[index], room))
            if amount > 0:
                free -= self.requests[index] * amount
                hosted[index] += amount
                self.left[index] -= amount
                placed += amount
        candidates = members[self.left[members] > 0]
        candidates = candidates[(self.requests[candidates] <= free).all(axis=1)
                                & (hosted[candidates] < self.limit[candidates])]
        while candidates.size:
            # (a candidate leaves the array when it reaches its limit on the node, below)
            fits = (self.requests[candidates] <= free).all(axis=1)
            if not fits.all():
                candidates = candidates[fits]  # what does not fit now never will on this node
            if self.unruled:
                chosen = candidates
            else:
                allowed = self._allowed(candidates, hosted, node)
                if not allowed.any():
                    break
                # a replica whose affinity target is not on the node yet stays a candidate:
                # it may follow once the target is placed here
                chosen = candidates[allowed]
                # where a target is on the node, its followers take the room before more of it:
                # two targets on a node may leave it no room for the followers that need them
                following = chosen[self.follows[chosen]]
                chosen = following if following.size else chosen
            if not chosen.size:
                break
            index = int(chosen[int(np.argmax(self._scores(chosen, free, slack)))])
            room = min((int(free[r]) // request for r, request in self.asked[index]),
                       default=int(self.left[index]))
            # as many as the node takes while this workload stays the best match: one at a
            # time is exact but slow, so take up to half of what still fits
            amount = max(1, min(int(self.left[index]), int(self.limit[index] - hosted[index]),
                                (room + 1) // 2))
            free -= self.requests[index] * amount
            hosted[index] += amount
            self.left[index] -= amount
            placed += amount
            if not self.left[index] or hosted[index] >= self.limit[index]:
                candidates = candidates[candidates != index]
        for r, resource in enumerate(RESOURCES):
            node.free[resource] = int(free[r])
        for index in np.flatnonzero(hosted):
            node.hosted[self.demands[index].name] = int(hosted[index])
            hosted[index] = 0
        return placed

    def _allowed(self, candidates: np.ndarray, hosted: np.ndarray, node: NodeState) -> np.ndarray:
        allowed = np.ones(len(candidates), dtype=bool)
        if not self.ruled and not self.exclusive:
            return allowed
        present = {self.demands[i].name for i in np.flatnonzero(hosted)} | set(node.hosted)
        # an option's replica is its workload's too, which `affinity W on node` names
        joinable = present | {self.option_of[name] for name in present
                              if name in self.option_of} if self.option_of else present
        alone = present & self.exclusive  # an exclusive workload's node takes nothing else
        for position, index in enumerate(candidates):
            name = self.demands[int(index)].name
            if (alone and alone != {name}) or (name in self.exclusive and present - {name}):
                allowed[position] = False
                continue
            rules = self.ruled.get(int(index))
            if rules and (rules[0] & present or not rules[1] <= joinable):
                allowed[position] = False
        return allowed


def _order(items: list[tuple[Demand, int]]) -> list[tuple[Demand, int]]:
    """Workloads others follow onto a node first (so followers find them), then by name."""
    followed = {name for d, _ in items for name in _together(d)}
    return sorted(items, key=lambda item: (not {item[0].name, item[0].workload} & followed, item[0].name))


def _node_rules(problem: Problem, demands: list[Demand]) -> dict[int, tuple[set[str], set[str]]]:
    """Per workload with node-level rules between workloads (by index into `demands`): the
    workloads it may not share a node with, and those that must already be on the node."""
    apart, _ = _apart_on_nodes(problem)
    ruled = {}
    for index, demand in enumerate(demands):
        together = _together(demand)
        if together or demand.name in apart:
            ruled[index] = (apart.get(demand.name, set()), together)
    return ruled


def _together(demand: Demand) -> set[str]:
    """The workloads that must be on a node before a replica of `demand` joins it (the rules')."""
    together: set[str] = set()
    for rule in rules.RULES:
        if rule.packing is not None and rule.packing.together is not None:
            together.update(rule.packing.together(demand))
    return together


def _apart_on_nodes(problem: Problem) -> tuple[dict[str, set[str]], set[str]]:
    """Workload -> those it may not share a node with (either's rule), and the workloads
    whose nodes host nothing else, as the rules say (`Rule.packing`): an index the problem
    builds once (a packer is made per class and batch, thousands of times at fleet scale)."""
    return problem.apart_on_nodes
