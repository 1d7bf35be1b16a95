"""The zone spreads what runs now breaks, restored at fleet scale (`fitc plan`, issue 18).

A pool drained takes its zone's replicas with it: they run on nodes the policy lacks, so
`repair` places them again with no zone to come from, in the zone running the fewest first,
on a node in use with room or a new node there. Where that zone's other nodes are full and
have none free (the fleet shape at 10,000, seed 2: pool `cpu18`, the only `silver` pool of
`us-east-1a` but an inventory of 625 small nodes, all full of spread replicas of workloads
that may run on any tier), they went to the next zone, and the plan's end state broke 25
`max_skew 1` spreads: `moving.solve_move` fell back to the whole model (~49 s).

Here, after `repair`, each demand whose only rules over a topology are its spreads over
zones or regions (`ScaleMove.spreads`) and whose counts break a skew has replicas moved, one
at a time, from the domain that holds the most to a class whose domains lower the excess
(`_excess`: the skew beyond `max_skew`, summed over its spreads), until none is left: onto
a node in use with room there, else a free node there (`_open_for`), else a node there
emptied enough for it (`_made_room`): the replicas of other workloads on it that their own
rules let run outside those classes (`_may_leave`: a spread's replica in its own domain or
one that keeps its skew, a zoned one in its zones) leave, largest first, each where
`targets` lets it go (nodes outside the classes being filled first), else onto a new node of
its zones, else it stays and the next one leaves (inventory 10,000, drain 16 of
`bench/drains.py`: the largest on each node of us-east-1a's `gold` pools was an accelerator
replica with no node free anywhere, and no room was made); undone (`pool_emptied.restore`)
where the replica still does not fit. (Fleet
shape, seed 3, pool `cpu16` drained: zone b's `silver` nodes hold batch jobs, free to go to
any zone, beside spread replicas that may not leave it.) A replica that `repair` placed (not
running on its node now) is moved first: it moves anyway.

A demand whose spreads share it with latency rules (`_latency_spreads`: EU services served
within 30 ms of Frankfurt, inventory 10,000 seed 12 of `bench/drains.py`) is restored too,
counted only while it is: each move keeps at least each rule's `replicas` within reach of its
users (`_latency_kept`), and after it a replica of it moves only within its zone, as before.

Each move lowers the demand's excess and keeps every rule a node can tell (`targets`,
`takes`); `improve` and the passes after it keep a spread's skew (`SpreadCounts.allowed`),
and `verify` still checks the end state. Bounded: the deadline is read before each move.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from fitlang.model.problem import Demand
from fitlang.solve.move_scale import FleetNode, ScaleMove, SpreadCounts, _size, zone_of
from fitlang.solve.pool_emptied import restore

MAKE_ROOM_TRIES = 8  # the nodes of a domain tried to be emptied enough for one replica (time)
# the share of the move's limit the restoring may take (the fleet shape at 10,000: 0.3-0.5 CPU
# s after `repair`'s 0.2-0.4; `improve` after it gets what is left of its 40%)
RESTORE_SHARE = 0.8


def restore_spreads(fleet: ScaleMove, deadline: float | None) -> int:
    """Every spread of `fleet.spreads` over zones or regions that breaks its skew, restored
    where the fleet lets it be, until the `deadline`; and those of a demand whose other rules
    over a topology are latency rules (`_latency_spreads`), where each keeps them. Returns
    the replicas moved."""
    moved = 0
    with_latency = _latency_spreads(fleet)
    for demand in fleet.problem.demands:
        if not demand.spreads or demand.name in fleet.problem.pinned or \
                any(s.topology not in ("zone", "region") for s in demand.spreads):
            continue
        spreads = fleet.spreads.get(demand.name) or with_latency.get(demand.name)
        if not spreads:
            continue
        counted_here = demand.name not in fleet.spreads
        # (counted as the fleet moves while restored, and then no longer: the passes after
        # move such a replica only within its zone, where its latency rules hold as before)
        fleet.spreads[demand.name] = spreads
        try:
            moved += _restored(fleet, demand, deadline)
        finally:
            if counted_here:
                del fleet.spreads[demand.name]
        if deadline is not None and time.monotonic() > deadline:
            break
    return moved


def _restored(fleet: ScaleMove, demand: Demand, deadline: float | None) -> int:
    """The demand's spreads (`fleet.spreads`) restored one replica at a time while the excess
    falls, until the `deadline`; the replicas moved."""
    spreads, moved, hosts = fleet.spreads[demand.name], 0, None
    while _excess(spreads, counted := _counted(fleet)) > 0:
        if deadline is not None and time.monotonic() > deadline:
            break
        hosts = hosts if hosts is not None else _hosts(fleet, demand)
        if not _moved_one(fleet, demand, (spreads, counted), hosts):
            break
        moved += 1
    return moved


def _latency_spreads(fleet: ScaleMove) -> dict[str, list[SpreadCounts]]:
    """Per demand whose rules over a topology are its spreads and latency rules, its
    workload's one demand (no options, whose replicas the latency rules count together) and
    named by no other's rule over a topology: its spreads' counts as the fleet runs now
    (`ScaleMove.spreads` leaves it out: a replica of it moves only within its zone).
    (Inventory 10,000 seed 12, eu-west-1a drained by `bench/drains.py`: EU services spread
    over zones and served within 30 ms of Frankfurt broke their spreads, and the move fell
    back to the whole model.)"""
    problem = fleet.problem
    named = {r.target for d in problem.demands for r in d.affinities if r.topology != "node"}
    workloads = Counter(d.workload for d in problem.demands)
    found = {d.name: [SpreadCounts(problem, d, s.topology, s.max_skew) for s in d.spreads]
             for d in problem.demands
             if d.latency and d.spreads and not d.gang and workloads[d.workload] == 1 and
             d.workload not in named and all(r.anti and r.topology == "node" for r in d.affinities)}
    if found:
        for node in fleet.nodes.values():
            row = fleet.rows.of_class[node.row]
            for name in node.hosted.keys() & found.keys():
                for spread in found[name]:
                    if spread.of_class[row] >= 0:
                        spread.counts[spread.of_class[row]] += node.hosted[name]
    return found


def _counted(fleet: ScaleMove) -> np.ndarray:
    """Per class, does `verify` count its domains: its own nodes, or an offer's bought ones
    (`SpreadCounts` counts an offer's domains before; a domain only an offer spans, with none
    bought, is not one to fill)."""
    counted = np.array([bool(c.count) and not c.provisioned for c in fleet.problem.classes])
    for name in fleet.bought:
        counted[fleet.rows.class_index[fleet.owners[name].id]] = True
    return counted


def _live(spread: SpreadCounts, counted: np.ndarray) -> np.ndarray:
    """Per domain of the spread, does `verify` count it (`_counted`)?"""
    live = np.zeros(len(spread.counts), dtype=bool)
    live[spread.of_class[counted & (spread.of_class >= 0)]] = True
    return live


def _excess(spreads: list[SpreadCounts], counted: np.ndarray) -> int:
    """How far the spreads are past their skews over the domains `verify` counts, summed (0:
    every one kept)."""
    total = 0
    for spread in spreads:
        counts = spread.counts[_live(spread, counted)]
        if len(counts):
            total += max(0, int(counts.max() - counts.min()) - spread.max_skew)
    return total


def _hosts(fleet: ScaleMove, demand: Demand) -> dict[str, FleetNode]:
    return {name: node for name, node in fleet.nodes.items() if node.hosted[demand.name]}


def _excess_onto(spreads: list[SpreadCounts], counted: np.ndarray, source_class: int) -> np.ndarray:
    """Per class, the excess once a replica on a node of `source_class` moves onto a node of
    it, over the domains `verify` counts (a class outside them: no smaller than any)."""
    total = np.zeros(len(spreads[0].of_class), dtype=np.int64)
    for spread in spreads:
        live = _live(spread, counted)
        counts = spread.counts.copy()
        if spread.of_class[source_class] >= 0:
            counts[spread.of_class[source_class]] -= 1
        grown = (counts[None, :] + np.eye(len(counts), dtype=np.int64))[:, live]
        skews = grown.max(axis=1, initial=0) - grown.min(axis=1, initial=2**40)  # (none live: < 0)
        skews = np.maximum(skews - spread.max_skew, 0)
        skews[~live] = np.iinfo(np.int64).max // 4
        total += np.append(skews, np.iinfo(np.int64).max // 4)[spread.of_class]
    return total


def _moved_one(fleet: ScaleMove, demand: Demand, counting: tuple[list[SpreadCounts], np.ndarray],
               hosts: dict[str, FleetNode]) -> bool:
    """One replica moved where the spreads' excess falls most (`counting`: the demand's
    spreads, the classes `_counted`); whether one was."""
    spreads, counted = counting
    now = _excess(spreads, counted)
    running = fleet.running_now
    sources = sorted(hosts.values(), key=lambda n: (
        n.hosted[demand.name] <= running.get(n.name, Counter())[demand.name], n.row))
    tried: set[int] = set()
    for source in sources:
        source_class = fleet.rows.of_class[source.row]
        if source_class in tried:
            continue
        tried.add(source_class)
        after = _excess_onto(spreads, counted, source_class)
        after[~(fleet.eligible_mask[demand.name] & _latency_kept(fleet, demand, hosts, source_class))] = now
        for level in sorted(set(after[after < now].tolist())):
            target = _target(fleet, demand, after == level, source)
            if target is not None:
                fleet.remove(source, demand)
                fleet.add(target, demand)
                hosts[target.name] = target
                if not source.hosted[demand.name]:
                    del hosts[source.name]
                if not source.hosted:
                    fleet.close(source.name)
                return True
    return False


def _latency_kept(fleet: ScaleMove, demand: Demand, hosts: dict[str, FleetNode],
                  source_class: int) -> np.ndarray:
    """Per class, would a replica moved there from a node of `source_class` keep each of the
    demand's latency rules: at least its `replicas` within reach of its users? (All true
    for a demand with none.)"""
    problem, classes = fleet.problem, fleet.problem.classes
    kept = np.ones(len(classes), dtype=bool)
    for rule in demand.latency:
        reach = np.array([problem.within_reach(rule, c) for c in classes])
        served = sum(n.hosted[demand.name] for n in hosts.values() if reach[fleet.rows.of_class[n.row]])
        if reach[source_class] and served - 1 < rule.replicas:
            kept &= reach
    return kept


def _target(fleet: ScaleMove, demand: Demand, classes: np.ndarray, source: FleetNode) -> FleetNode | None:
    """A node of the classes for one more replica: in use with room (the fullest), else a
    free one, else one in use emptied enough (`_made_room`)."""
    need = fleet.need[demand.name]
    rows = [row for row in fleet.rows.with_room(need, classes, None) if row != source.row]
    fitting = [node for row in rows if fleet.takes(node := fleet.nodes[fleet.rows.names[row]], demand)]
    if fitting:
        return min(fitting, key=lambda n: (float((fleet.rows.free[n.row] - need).max()), n.row))
    problem = fleet.problem
    zones: list[tuple | None] = sorted({zone_of(c) for i, c in enumerate(problem.classes) if classes[i]},
                                       key=str)
    opened = fleet._open_for(demand, zones, [])
    if opened is not None:
        if classes[fleet.rows.of_class[opened.row]]:
            return opened
        fleet.close(opened.name)
    return _made_room(fleet, demand, classes, source)


def _made_room(fleet: ScaleMove, demand: Demand, classes: np.ndarray, source: FleetNode) -> FleetNode | None:
    """A node in use of the classes whose replicas of other workloads leave until it takes
    the replica (those nearest to taking it tried first, at most `MAKE_ROOM_TRIES`)."""
    rows, count = fleet.rows, len(fleet.rows.names)
    candidates = np.flatnonzero(rows.alive[:count] & classes[rows.of_class[:count]])
    candidates = candidates[candidates != source.row]
    short = np.maximum(fleet.need[demand.name][None, :] - rows.free[candidates], 0)
    short = (short / np.maximum(rows.capacity[candidates], 1)).max(axis=1)
    leaves: dict[tuple[str, str], bool] = {}  # (demand, class) -> `_may_leave`
    tried = 0
    for row in candidates[np.argsort(short, kind="stable")]:
        node = fleet.nodes[rows.names[row]]
        if tried == MAKE_ROOM_TRIES:
            break
        if not _may_take(fleet, demand, node, classes, leaves):
            continue
        tried += 1
        journal: dict[str, Counter] = {}
        fleet.journal = journal
        try:
            emptied = _emptied_for(fleet, demand, node, classes, leaves)
        finally:
            fleet.journal = None
        if emptied:
            return node
        restore(fleet, journal)
    return None


def _may_take(fleet: ScaleMove, demand: Demand, node: FleetNode, classes: np.ndarray,
              leaves: dict[tuple[str, str], bool]) -> bool:
    """Could the node take the replica once the replicas on it that may run outside the
    classes left? (None pinned; the others, which could only go to the classes' nodes,
    would take the room this makes for the replica.)"""
    if any(name in fleet.problem.pinned for name in node.hosted):
        return False
    room = fleet.rows.free[node.row].copy()
    for name, count in list(node.hosted.items()):
        if name == demand.name:
            continue
        key = name, node.node_class.id
        if key not in leaves:
            leaves[key] = _may_leave(fleet, fleet.problem.demand(name), node, classes)
        if leaves[key]:
            room += fleet.need[name] * count
    return bool((room >= fleet.need[demand.name]).all())


def _may_leave(fleet: ScaleMove, demand: Demand, node: FleetNode, classes: np.ndarray) -> bool:
    """May a replica of `demand` on the node go to a class outside `classes`, as its rules
    let it (`ScaleMove.allowed`: its zones, its spreads' skews, counted without it)?"""
    fleet.remove(node, demand)
    try:
        eligible, zones = fleet.allowed(demand, zone_of(node.node_class), node.node_class)
    finally:
        fleet.add(node, demand)
    outside = eligible & ~classes
    if zones is None or not outside.any():
        return bool(outside.any())
    wanted = {row for row in zones}
    return any(fleet.rows.zones.get(zone_of(c)) in wanted
               for c, fine in zip(fleet.problem.classes, outside) if fine)


def _emptied_for(fleet: ScaleMove, demand: Demand, node: FleetNode, classes: np.ndarray,
                 leaves: dict[tuple[str, str], bool]) -> bool:
    """The node's replicas of other workloads that may run outside the classes (`leaves`, as
    `_may_take` found) leave, largest first, until it takes `demand` (each where `targets`
    lets it go, outside `classes` first, else onto a new node of its zones, else it stays);
    whether it does. The caller undoes what was done where it does not."""
    rows = fleet.rows
    need, zone = fleet.need[demand.name], zone_of(node.node_class)
    elsewhere = np.flatnonzero(~classes[rows.of_class[:len(rows.names)]])
    leaving = sorted((name for name in node.hosted.elements()
                      if name != demand.name and leaves[name, node.node_class.id]),
                     key=lambda d: (-_size(fleet.problem.demand(d)), d))
    for name in leaving:
        if (rows.free[node.row] >= need).all() and fleet.takes(node, demand):
            return True
        other = fleet.problem.demand(name)
        fleet.remove(node, other)
        rows.alive[node.row] = False  # (not back onto the node it leaves)
        try:
            found = fleet.targets(other, zone, elsewhere, source=node.node_class, every=False) or \
                fleet.targets(other, zone, source=node.node_class, every=False)
        finally:
            rows.alive[node.row] = True
        target = found[0] if found else _opened_for(fleet, other, zone)
        fleet.add(target if target is not None else node, other)  # (nowhere to go: it stays)
    return (rows.free[node.row] >= need).all() and fleet.takes(node, demand)


def _opened_for(fleet: ScaleMove, demand: Demand, zone: tuple) -> FleetNode | None:
    zones = fleet._zones_to_open(demand, zone)
    return fleet._open_for(demand, zones, []) if zones else None
