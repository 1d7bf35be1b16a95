"""A node emptied by replicas moved together: some onto nodes where a replica moves aside,
the rest onto one new node of a zone their spreads all allow (`fitc plan`, issue 18).

`_scatter` (move_scale.py) sends each replica of a node, separately, to a node in use with
room in a domain its spreads allow, else to a new node of the node's own zone. Inventory
1,000 seed 1 (h33e's diff against the best known plan): ~25 zone-spread services with
`max_skew 1` sit at counts 2 and 3 per zone, so a replica may leave only a zone at its
maximum, for a zone at its minimum, and there the nodes in use are full; what the best
known plan does is move several replicas at once: a node's replicas to nodes where a
replica of another workload makes room by going elsewhere, and the spread replicas no node
takes to one new node in a third zone that each spread lets them into *together* (their
counts there raised by all of them at once), which `_scatter`'s one replica at a time,
new nodes only in its own zone, cannot reach.

Per node (the most spent on room left empty first: price x the share of its largest
resource not in use), its replicas largest first: onto a node in use with room (`targets`),
else onto a node in use of a domain it may go to where one replica of another workload
leaves for a node in use that takes it (`_aside`, at most `ASIDE_TRIES` such replicas tried);
the rest onto one new node of the cheapest class that takes them all and that every one
of their rules over zones allows with all of them there (`_onto_one_new_node`); the node
closed. Kept where every replica is placed and the objective is lower (`pool_emptied.
kept_if_cheaper`: exact over the journal's nodes, the changed nodes tidied by `improve`'s
tries first), else put back. Bounded by `ASIDE_CPU_SECONDS` of process time and the
deadline, both checked before each node.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass
from fitlang.solve.move_scale import FleetNode, ScaleMove, _size, zone_of
from fitlang.solve.pool_emptied import kept_in_turn

# the CPU seconds the nodes are tried for (inventory 1,000 seed 1: ~65 nodes in 0.3-0.5 s)
ASIDE_CPU_SECONDS = 0.3
# the replicas of other workloads tried as the one moving aside for a replica (time)
ASIDE_TRIES = 8


def scatter_aside(fleet: ScaleMove, objective: str, deadline: float | None,
                  cpu_seconds: float = ASIDE_CPU_SECONDS) -> int:
    """Each node in turn (`_ranked_nodes`) emptied as the module's docstring says, kept where
    that lowers `objective`, until the `deadline` or `cpu_seconds` of process time; returns
    the nodes kept emptied."""
    if fleet.unplaced:
        return 0
    # (a node closed by an earlier node's step, or whose emptying cannot pay, is skipped)
    steps = (partial(_emptied, fleet, node) if fleet.nodes.get(node.name) is node and
             node.node_class.price > fleet._change_price(node) else None for node in _ranked_nodes(fleet))
    return kept_in_turn(fleet, objective, steps, deadline, cpu_seconds)


def _ranked_nodes(fleet: ScaleMove) -> list[FleetNode]:
    """The nodes in use that no pinned replica holds, by what they spend on room left empty
    (price x the share of their largest resource not in use), most first."""
    shares = fleet.rows.shares()
    nodes = [node for node in fleet.nodes.values()
             if node.hosted and not any(name in fleet.problem.pinned for name in node.hosted)]
    return sorted(nodes, key=lambda n: (-float(n.node_class.price) * (1.0 - shares[n.row]), n.row))


def _emptied(fleet: ScaleMove, node: FleetNode) -> None:
    """The node's replicas placed elsewhere (module's docstring) and the node closed; where
    one finds no place, it is left in `fleet.unplaced` (and the journal puts all back)."""
    problem = fleet.problem
    zone, source = zone_of(node.node_class), node.node_class
    order = [problem.demand(name) for name in
             sorted(node.hosted.elements(), key=lambda d: (-_size(problem.demand(d)), d))]
    left: list[Demand] = []
    fleet.rows.alive[node.row] = False  # not onto itself
    try:
        for demand in order:
            fleet.remove(node, demand)
            found = fleet.targets(demand, zone, source=source, every=False)
            if found:
                fleet.add(found[0], demand)
            elif not _aside(fleet, demand, zone, source):
                left.append(demand)
    finally:
        fleet.rows.alive[node.row] = True
    if left and not _onto_one_new_node(fleet, left, source):
        fleet.unplaced += [demand.name for demand in left]
        return
    fleet.close(node.name)


def _aside(fleet: ScaleMove, demand: Demand, zone: tuple, source: NodeClass) -> bool:
    """The replica onto a node in use of a domain it may go to, where a replica of another
    workload (the smallest first) leaves for a node in use that takes it; whether it was.
    At most `ASIDE_TRIES` replicas are tried as the one to leave."""
    problem, need = fleet.problem, fleet.need[demand.name]
    tried = 0
    for row in fleet.rows.with_room(np.zeros_like(need), *fleet.allowed(demand, zone, source)):
        target = fleet.nodes[fleet.rows.names[row]]
        if any(name in problem.pinned for name in target.hosted):
            continue
        for name in sorted(target.hosted, key=lambda d: (_size(problem.demand(d)), d)):
            if name == demand.name or (fleet.rows.free[row] + fleet.need[name] < need).any():
                continue
            leaving = problem.demand(name)
            fleet.remove(target, leaving)
            if fleet.takes(target, demand):
                tried += 1
                fleet.rows.alive[row] = False  # (not back onto the node it leaves)
                found = fleet.targets(leaving, zone_of(target.node_class), source=target.node_class,
                                      every=False)
                fleet.rows.alive[row] = True
                if found:
                    fleet.add(found[0], leaving)
                    fleet.add(target, demand)
                    return True
            fleet.add(target, leaving)
            if tried >= ASIDE_TRIES:
                return False
    return False


def _onto_one_new_node(fleet: ScaleMove, left: list[Demand], source: NodeClass) -> bool:
    """The replicas onto one new node: of the cheapest class (with the price of buying it)
    eligible for all, whose free node takes them all, and that each one's rules over zones
    allow with all of them there (`_zones_allow`); whether they were."""
    need = sum(fleet.need[demand.name] for demand in left)
    classes = set.intersection(*(set(fleet.eligible[demand.name]) for demand in left))
    candidates = sorted((float(fleet.class_price[fleet.rows.class_index[c]]), c) for c in classes)
    for _, class_id in candidates:
        node_class = fleet.problem.node_class(class_id)
        if not fleet.may_open(node_class) or not _zones_allow(fleet, left, node_class, source):
            continue
        name = fleet.free_node(node_class)
        if name is None:
            continue
        capacity = node_class.node_capacity.get(name, node_class.capacity)
        if (need > np.array([capacity[r] for r in RESOURCES])).any():
            continue
        node = fleet.node(name)
        for demand in left:
            if not fleet.takes(node, demand):
                break
            fleet.add(node, demand)
        else:
            return True
        for demand, count in list(node.hosted.items()):
            fleet.remove(node, fleet.problem.demand(demand), count)
        fleet.close(name)
    return False


def _zones_allow(fleet: ScaleMove, left: list[Demand], node_class: NodeClass, source: NodeClass) -> bool:
    """May all the replicas (taken off a node of `source`, not counted now) run on a node of
    the class at once? A spread's domain there is its own or one where every spread keeps
    its skew with all of its replicas added; a workload with other rules over zones may go
    where `_zones_from` lets it; one with none, anywhere."""
    class_row = fleet.rows.class_index[node_class.id]
    source_row = fleet.rows.class_index[source.id]
    zone, from_zone = zone_of(node_class), zone_of(source)
    for name, count in Counter(demand.name for demand in left).items():
        demand = fleet.problem.demand(name)
        if name in fleet.spreads:
            for spread in fleet.spreads[name]:
                domain = spread.of_class[class_row]
                if domain < 0:
                    return False
                if domain != spread.of_class[source_row]:
                    counts = spread.counts.copy()
                    counts[domain] += count
                    if counts.max() - counts.min() > spread.max_skew:
                        return False
        elif name in fleet.zoned and zone != from_zone and \
                fleet.rows.zone(zone) not in fleet._zones_from(demand, from_zone):
            return False
    return True
