"""Several part-used nodes emptied onto one free node of a larger class (`fitc plan`, issue 18).

`improve`'s `_merge` puts *two* nodes onto one free node cheaper than both. Inventory 1,000
seed 3 (h34b's diff against the plan with the joint steps' budgets x 20): the plan runs two
dozen 0.38 USD/h nodes of us-east-1a (7.9 cores), most with one or two replicas of services
that run one a node (4 cores each); the better plan runs one 1.01 USD/h node of us-east-1c
(15.8 cores) for three or four of them, one replica of each service. Two small nodes never
cost more than the larger one, and a replica of a one-a-node service cannot join another
of its own, so no change of one or two nodes gets there.

Per class with a free node, a step: a free node of the class opened, then the nodes in use
its node could take whole (eligible, within its capacity) emptied in turn (`_emptied`), each
replica onto the new node where it takes it and its rules let it go there (`ScaleMove.targets`:
the zones, the spreads' skews as the replicas move), else onto a node in use elsewhere (a
second replica of a one-a-node service, a spread's replica its skew keeps in its zone); a
node one of whose replicas finds no place is left as it was. The nodes in order: those it
takes whole together (`_packed`: no two replicas of a one-a-node workload, none kept apart,
every spread within its skew with all of them moved), then the rest, the most saved (price
less the changes of moving their replicas) per share of its node first. The classes in
order (`_ranked_classes`): first those whose node saves more than it costs with the nodes
it takes whole together, then those whose bound does (the nodes' savings in that order
while their shares sum to one node), most first. Kept where the objective is lower
(`pool_emptied.kept_if_cheaper`: exact, the changed nodes tidied first), else put back; the
classes are ranked again on the fleet as it is after each step. Bounded by
`MANY_CPU_SECONDS` of process time and the deadline, both checked before each step.

Measured (docs/performance.md, session 35, h35b): inventory 1,000 seeds 3 / 0 at
`--time-limit 5`, 0.13 / 0.33 USD/h where a step is kept; what seed 3's better plan does
beyond it (spread replicas changing zones in a chain) it does not reach. Session 36 (h36e):
at that limit the joint steps' overrun left it 0-0.08 CPU s; it now has the move model's
window too where that model could not be built in it (`move_scale._many_until`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass
from fitlang.solve.move_scale import FleetNode, Moved, ScaleMove, _size, zone_of
from fitlang.solve.pool_emptied import kept_in_turn, past

# the CPU seconds the steps are tried for
MANY_CPU_SECONDS = 0.3
# the nodes a class's step tries to empty, of those that save most per share of its node
MANY_CANDIDATES = 40

Step = tuple[NodeClass, list[FleetNode]]  # a free node's class, and the nodes to empty onto it


def merge_many(fleet: ScaleMove, objective: str, deadline: float | None,
               cpu_seconds: float = MANY_CPU_SECONDS) -> int:
    """The steps (module's docstring) kept where they lower `objective`, until the `deadline`
    or `cpu_seconds` of process time; returns those kept."""
    if fleet.unplaced:
        return 0
    return kept_in_turn(fleet, objective, _steps(fleet, deadline), deadline, cpu_seconds)


def _steps(fleet: ScaleMove, deadline: float | None = None) -> Iterator:
    """The best ranked class not tried since the fleet last changed, as a step of
    `kept_in_turn`, until none is left or the `deadline` passes."""
    tried: set[tuple] = set()
    while True:
        before = frozenset(fleet.nodes)
        # (the search for a free node starts over: a node a step put back closed is free again)
        fleet.next_free.clear()
        ranked = [step for key, step in _ranked_classes(fleet, deadline) if key not in tried]
        if not ranked:
            return
        node_class, sources = ranked[0]
        tried.add(_alike(fleet, node_class))
        yield partial(_emptied_onto, fleet, node_class, sources)
        if frozenset(fleet.nodes) != before:  # (kept: the fleet changed, every class may pay)
            tried.clear()


def _alike(fleet: ScaleMove, node_class: NodeClass, groups: EligibleGroups | None = None) -> tuple:
    """Classes whose free nodes a step treats alike: zone, price, capacity, eligibility (the
    groups of demands that may run there, each named by its first demand)."""
    index = fleet.rows.class_index[node_class.id]
    first_names, masks = groups or _eligible_groups(fleet)
    eligible = frozenset(first_names[row] for row in np.flatnonzero(masks[:, index]))
    return zone_of(node_class), fleet.class_price[index], tuple(fleet.class_capacity[index]), eligible


EligibleGroups = tuple[list[str], np.ndarray]  # per group, its first demand; its mask over the classes


def _eligible_groups(fleet: ScaleMove) -> EligibleGroups:
    """The demands grouped by the mask of their eligible classes (demands alike share one:
    `move_scale._eligibility`), so that a class's eligible demands are read per group, not per
    demand (10,000 small workloads: 1,500 classes x 10,000 demands per ranking, ~6 CPU s of a
    5 s plan). Two classes have the same eligible demands exactly where they have the same
    groups: a group's demands share one mask."""
    first: dict[int, tuple[str, np.ndarray]] = {}
    for name, mask in fleet.eligible_mask.items():
        first.setdefault(id(mask), (name, mask))
    masks = np.array([mask for _, mask in first.values()], dtype=bool).reshape(len(first), -1)
    return [name for name, _ in first.values()], masks


def _ranked_classes(fleet: ScaleMove, deadline: float | None = None) -> list[tuple[tuple, Step]]:
    """The classes with a free node (one of each `_alike` group) whose node saves more than
    it costs where the nodes it takes whole are merged onto it (`_packed`), most first, with
    the nodes a step empties onto it: those, then the rest of the nodes it could take whole
    (eligible, within its capacity), the most saved (price less the changes of moving their
    replicas) per share of its node first, `MANY_CANDIDATES` in all (`_class_rank`). None
    once the `deadline` passes while they are ranked (one ranking of 10,000 small workloads'
    1,500 classes took ~0.7 CPU s, begun just before the deadline)."""
    nodes = [node for node in fleet._movable_nodes() if node.node_class.price > fleet._change_price(node)]
    if len(nodes) < 2:
        return []
    saving = np.array([float(node.node_class.price - fleet._change_price(node)) for node in nodes])
    used = np.array([fleet._used(node) for node in nodes])
    eligible = np.array([np.logical_and.reduce([fleet.eligible_mask[name] for name in node.hosted])
                         for node in nodes])
    taken = eligible & (used[:, None, :] <= fleet.class_capacity[None, :, :]).all(axis=2)  # node x class
    worth = (saving @ taken > fleet.class_price) & (taken.sum(axis=0) >= 2)
    ranked: dict[tuple, tuple[tuple[bool, float], Step]] = {}
    groups = _eligible_groups(fleet)
    for index in np.flatnonzero(worth):
        if past(deadline):
            return []
        node_class = fleet.problem.classes[index]
        key = _alike(fleet, node_class, groups)
        rank, sources = _class_rank(fleet, node_class, nodes, saving, used, np.flatnonzero(taken[:, index]))
        if rank is not None and (key not in ranked or rank < ranked[key][0]) and \
                fleet.may_open(node_class) and fleet.free_node(node_class) is not None:
            ranked[key] = (rank, (node_class, sources))
    return [(key, step) for key, (_, step) in sorted(ranked.items(), key=lambda item: item[1][0])]


def _class_rank(fleet: ScaleMove, node_class: NodeClass, nodes: list[FleetNode], saving: np.ndarray,
                used: np.ndarray, rows: np.ndarray) -> tuple[tuple[bool, float] | None, list[FleetNode]]:
    """Of the nodes at `rows` (those the class's node could take whole), the sources a step
    empties onto it, in order, and its rank (None: it cannot pay): first where the nodes it
    takes whole together (`_packed`) save more than it costs, by that saving; then by the
    bound on what it could save (module's docstring)."""
    index = fleet.rows.class_index[node_class.id]
    share = (used[rows] / np.maximum(fleet.class_capacity[index], 1)).max(axis=1)
    first = np.lexsort((rows, -saving[rows] / np.maximum(share, 1e-9)))
    order = [int(row) for row in rows[first]]
    price = float(fleet.class_price[index])
    bound = float(saving[order][np.cumsum(share[first]) <= 1.0 + 1e-9].sum())
    if bound <= price + 1e-9:
        return None, []
    whole = set(_packed(fleet, node_class, [nodes[row] for row in order[:MANY_CANDIDATES]],
                        used[order[:MANY_CANDIDATES]]))
    together = float(saving[[order[i] for i in whole]].sum())
    rank = (together <= price, -(together if together > price else bound))
    chosen = [order[i] for i in sorted(whole)] + [row for i, row in enumerate(order) if i not in whole]
    return rank, [nodes[row] for row in chosen[:MANY_CANDIDATES]]


def _packed(fleet: ScaleMove, node_class: NodeClass, candidates: list[FleetNode],
            used: np.ndarray) -> list[int]:
    """Greedy, in the candidates' order: those (positions) whose replicas all go onto the
    class's node together, each added where it still fits beside those added, none of its
    replicas is barred from a node with theirs, its replicas may go to the class's zone and
    no spread's skew passes its limit with all of them moved."""
    free = np.array([node_class.capacity[r] for r in RESOURCES])
    chosen: list[int] = []
    hosted: set[str] = set()
    moved: dict[int, np.ndarray] = {}  # id of a spread -> its counts' change by the nodes chosen
    for position, node in enumerate(candidates):
        if (used[position] > free).any() or not _together(fleet, hosted, set(node.hosted)) or \
                not fleet._may_go([fleet.problem.demand(name) for name in node.hosted],
                                  node.node_class, node_class):
            continue
        spreads = _spreads_moved(fleet, node, node_class, moved)
        if spreads is None:
            continue
        moved.update(spreads)
        chosen.append(position)
        hosted |= set(node.hosted)
        free -= used[position]
    return chosen


def _together(fleet: ScaleMove, hosted: set[str], joining: set[str]) -> bool:
    """May replicas of `joining` share a node with replicas of `hosted`? Not two of one
    workload that runs one a node, none alone beside another, none kept apart from another."""
    if not hosted:
        return True
    if any(fleet.problem.demand(name).one_per_node for name in hosted & joining):
        return False
    if any(name in fleet.alone for name in hosted | joining) and len(hosted | joining) > 1:
        return False
    return not any(other in fleet.apart.get(name, ()) for name in joining for other in hosted)


def _spreads_moved(fleet: ScaleMove, node: FleetNode, node_class: NodeClass,
                   moved: dict[int, np.ndarray]) -> dict[int, np.ndarray] | None:
    """The spreads' counts' changes (`moved`: by the nodes chosen before) with the node's
    replicas moved onto a node of the class too; None where a spread has no domain there,
    or its skew, with all of them moved, passes its `max_skew`."""
    source, target = (fleet.rows.class_index[c.id] for c in (node.node_class, node_class))
    changed: dict[int, np.ndarray] = {}
    for name, count in node.hosted.items():
        for spread in fleet.spreads.get(name, ()):
            was, now = spread.of_class[source], spread.of_class[target]
            if now < 0:
                return None
            if was == now:
                continue
            change = changed.get(id(spread), moved.get(id(spread), np.zeros_like(spread.counts))).copy()
            if was >= 0:
                change[was] -= count
            change[now] += count
            counts = spread.counts + change
            if counts.max() - counts.min() > spread.max_skew:
                return None
            changed[id(spread)] = change
    return changed


def _emptied_onto(fleet: ScaleMove, node_class: NodeClass, sources: list[FleetNode]) -> None:
    """A free node of the class opened and each source emptied onto it, what it does not
    take onto nodes in use elsewhere (module's docstring); a source one of whose replicas
    finds no place keeps its replicas."""
    opened = fleet._open_free(node_class, 1)
    if opened is None:
        return
    new = np.array([opened[0].row])
    for node in sources:
        if fleet.nodes.get(node.name) is node:
            _emptied(fleet, node, new)
    if not opened[0].hosted:
        fleet.close(opened[0].name)


def _emptied(fleet: ScaleMove, node: FleetNode, new: np.ndarray) -> bool:
    """The node's replicas, largest first, onto the new node (the row `new`) where it takes
    them, else onto a node in use elsewhere; the node closed. Where one finds no place, all
    go back. Whether it was emptied."""
    problem, zone = fleet.problem, zone_of(node.node_class)
    moved: list[Moved] = []
    fleet.rows.alive[node.row] = False  # not onto itself
    try:
        for name in sorted(node.hosted.elements(), key=lambda d: (-_size(problem.demand(d)), d)):
            demand = problem.demand(name)
            fleet.remove(node, demand)
            found = fleet.targets(demand, zone, new, source=node.node_class, every=False) or \
                fleet.targets(demand, zone, source=node.node_class, every=False)
            if not found:
                fleet.add(node, demand)
                break
            fleet.add(found[0], demand)
            moved.append((node, demand, found[0]))
        else:
            fleet.close(node.name)
            return True
    finally:
        fleet.rows.alive[node.row] = node.name in fleet.nodes
    for source, demand, target in reversed(moved):
        fleet.remove(target, demand)
        fleet.add(source, demand)
    return False
