"""A dear node the plan opened closed again, its replicas placed where room is made for them
(`fitc plan` past `LARGE_NODES` nodes; issue 18).

A drain that leaves a zone short sends replicas that only a few classes take (a service
pinned by a label to the GPU nodes, a gang's member) to nodes whose room the loose services
of the zone hold. `repair` places a replica where room is, else on a new node, so the plan
can open a whole dear node for them: inventory drain 13 (session 39) opened an A100 node at
27.45 USD/h for a gang's member moved aside and ten small services, 27 of the plan's 25 USD/h
gap, where the charged bound pays for the fraction they use. `improve` and `empty_pools`
move one node's or one pool's replicas to room that exists; here room is made: each replica
no node in use takes goes to the node of its classes (and zone) where the fewest replicas of
other workloads must leave for it, those leave and are placed again by `repair` (a zoned
one within its zone, as every displaced replica), and a replica they leave short makes room
the same way, up to `DEPTH` levels. Nothing as dear as the closed node is opened meanwhile
(`ScaleMove.barred`). Kept where the objective with the moves charged is lower
(`pool_emptied.kept_if_cheaper`), else every node changed is put back.
"""

from __future__ import annotations

import time
from collections import Counter
from functools import partial

import numpy as np

from fitlang.model.problem import Demand
from fitlang.solve.move_scale import ScaleMove, zone_of
from fitlang.solve.pool_emptied import kept_in_turn, past, taken_off

# the CPU seconds the new nodes are tried for at most (inventory 10,000 drain 13: the node
# kept, the first tried, in 0.05 s)
DEAR_CPU_SECONDS = 0.3
# of the time left to the deadline: the rest is `empty_pools`' after it (inventory plan 8,
# 10,000 nodes, at rest: 25 new nodes tried in the 0.33 CPU s left, none kept, and the plan
# ended 4 USD/h dearer without `empty_pools`' time)
DEAR_SHARE = 0.5
DEPTH = 3  # how many times a replica left short makes room by moving others aside
CANDIDATES = 64  # the nodes weighed for the room one replica needs (time)

Displaced = tuple[Demand, tuple | None]


def close_dear_opened(fleet: ScaleMove, objective: str, deadline: float | None,
                      cpu_seconds: float = DEAR_CPU_SECONDS) -> int:
    """The nodes in use that ran nothing when the plan began, dearest first, each closed and
    its replicas placed again making room (`_closed`), kept where that lowers `objective`;
    for `DEAR_SHARE` of the time to the `deadline`, at most `cpu_seconds`. Returns the nodes
    kept closed."""
    if fleet.unplaced or past(deadline):
        return 0
    if deadline is not None:
        now = time.monotonic()
        deadline = now + DEAR_SHARE * max(0.0, deadline - now)
    opened = sorted((node for node in fleet.nodes.values()
                     if node.hosted and node.name not in fleet.running_now
                     and not any(name in fleet.problem.pinned for name in node.hosted)),
                    key=lambda n: (-n.node_class.price, n.row))
    return kept_in_turn(fleet, objective, (partial(_closed, fleet, node.name) for node in opened),
                        deadline, cpu_seconds)


def _closed(fleet: ScaleMove, name: str) -> None:
    """The node's replicas taken off and the node closed, then placed again with no node
    opened as dear as it; each that no room takes placed by making room (`_room_made`).
    Those left out stay in `fleet.unplaced` (the step is then not kept)."""
    node = fleet.nodes.get(name)
    if node is None or not node.hosted:
        return
    price = node.node_class.price
    displaced = taken_off(fleet, node)
    fleet.close(name)
    fleet.barred = frozenset(c.id for c in fleet.problem.classes if c.price >= price)
    try:
        _placed(fleet, displaced, DEPTH)
    finally:
        fleet.barred = frozenset()


def _placed(fleet: ScaleMove, displaced: list[Displaced], depth: int) -> None:
    """`repair` of the displaced replicas; those it leaves out placed by making room, `depth`
    times over (left in `fleet.unplaced` where that fails)."""
    fleet.fills.clear()  # (`repair`'s fills of a former call hold positions of its order)
    earlier = len(fleet.unplaced)  # (left out a level up: they stay so)
    fleet.repair(displaced)
    if len(fleet.unplaced) == earlier or depth == 0:
        return
    left = Counter(fleet.unplaced[earlier:])
    del fleet.unplaced[earlier:]
    for demand, zone in displaced:
        if left[demand.name]:
            left[demand.name] -= 1
            if not _room_made(fleet, demand, zone, depth):
                fleet.unplaced.append(demand.name)


def _room_made(fleet: ScaleMove, demand: Demand, zone: tuple | None, depth: int) -> bool:
    """The replica placed on the node in use of its classes (and zone) where the fewest of
    other workloads' replicas leave to make its room (`_to_leave`) and its node rules then
    hold; those placed again (`_placed`, one level down). Whether the replica is placed
    (those that left may not be)."""
    weighed = []
    for row in _rows_that_could(fleet, demand, zone)[:CANDIDATES]:
        node = fleet.nodes[fleet.rows.names[row]]
        leaving = _to_leave(fleet, node, demand)
        if leaving is not None:
            weighed.append((len(leaving), int(row), node, leaving))
    for _, _, node, leaving in sorted(weighed, key=lambda item: item[:2]):
        for other in leaving:
            fleet.remove(node, other)
        if not fleet.takes(node, demand):
            for other in leaving:
                fleet.add(node, other)
            continue
        fleet.add(node, demand)
        node_zone = zone_of(node.node_class)
        _placed(fleet, [(other, node_zone if other.name in fleet.zoned else None) for other in leaving],
                depth - 1)
        return True
    return False


def _rows_that_could(fleet: ScaleMove, demand: Demand, zone: tuple | None) -> np.ndarray:
    """The rows of nodes in use that the replica may go to (its classes, its zone) and whose
    capacity holds it, those with the most room for it first."""
    eligible, zones = fleet.allowed(demand, zone)
    rows = fleet.rows
    count = len(rows.names)
    need = fleet.need[demand.name]
    mask = rows.alive[:count] & eligible[rows.of_class[:count]] & (rows.capacity[:count] >= need).all(axis=1)
    if zones is not None:
        wanted = np.zeros(len(rows.zones), dtype=bool)
        wanted[[z for z in zones if z < len(wanted)]] = True
        mask &= wanted[rows.of_zone[:count]]
    found = np.flatnonzero(mask)
    # (in shares of what it needs: a byte of memory short is not a core)
    short = (np.maximum(need - rows.free[found], 0) / np.maximum(need, 1)).max(axis=1, initial=0.0)
    return found[np.argsort(short, kind="stable")]


def _to_leave(fleet: ScaleMove, node, demand: Demand) -> list[Demand] | None:
    """The replicas of other workloads that leave the node so that the replica fits: of
    those that may run on the most classes first, then the largest, each only where it frees
    a resource still short; None where they cannot make the room. Only replicas easier to
    place than this one leave (`_easier`), and none of a pinned workload."""
    free = fleet.rows.free[node.row].copy()
    need = fleet.need[demand.name]
    leaving: list[Demand] = []
    movable = sorted((other for name in node.hosted if name not in fleet.problem.pinned
                      and _easier(fleet, other := fleet.problem.demand(name), demand)),
                     key=lambda d: (-len(d.eligible), -int(fleet.need[d.name].sum()), d.name))
    for other in movable:
        freed = fleet.need[other.name]
        for _ in range(node.hosted[other.name]):
            if not ((free < need) & (freed > 0)).any():
                break
            leaving.append(other)
            free = free + freed
    return leaving if (free >= need).all() else None


def _easier(fleet: ScaleMove, other: Demand, than: Demand) -> bool:
    """May a replica of `other` leave to make room for one of `than`: does it run on more
    classes, or take less of a node? (One as hard to place would only move the problem
    along: a gang's member for another's.)"""
    return len(other.eligible) > len(than.eligible) or fleet.weight[other.name] < fleet.weight[than.name]
