"""Two workloads kept apart by zone trade zones at once (`fitc plan`, issue 18).

A replica of a workload whose only rules over zones keep it apart from other workloads
(`move_scale._apart_by_zone`) may change zone in `improve` only to a zone where none of them
runs. So two such workloads, A in zone a and B in zone b, can never trade zones one replica
at a time: A may not enter b while one replica of B is there, nor B enter a. Inventory 1,000
seed 0 (session 29's reference, h33e's diff): `svc73` (9 replicas of 4 cores, one a node,
us-east-1 only) in us-east-1a and `svc26` (19 of 500m, one a node, gold nodes) in
us-east-1b; the best known plan has them swapped, svc26's us-east-1b nodes (0.50 USD/h)
all closed and svc73 on the undercut pool there. The joint steps (`move_neighbourhood`)
find that trade with 5-20 times their budget; this step tries it directly, per pair and per
zone of each, as one greedy move:

every replica of A in a and of B in b is taken off (the nodes left empty closed), B's placed
again by `repair` in a (a new node only there; a node in use in any zone its rules allow,
b held as if A ran there), then A's in b (likewise, now kept off a by B), then the changed
nodes get `improve`'s tries. Kept where every replica is placed and the objective is lower
(`pool_emptied.kept_if_cheaper`); else put back.

Run up to `move_neighbourhood.LARGE_NODES` nodes. Past it (inventory 10,000, session 33) the
swaps saved 0.59 and 199 USD/h on seeds 5 and 6, but on seed 4 the swapped plan's waves took
7-12 CPU s (`moving.waves`: 1 s without it) and the swap kept `empty_pools` from four pools
that saved more (+1.83 USD/h in all).
"""

from __future__ import annotations

import time
from fractions import Fraction
from functools import partial

from fitlang.model.problem import Demand
from fitlang.solve.move_scale import ScaleMove, zone_of
from fitlang.solve.pool_emptied import JournalMoves, kept_if_cheaper

# the CPU seconds the swaps are tried for (inventory 1,000, seeds 0 / 1: 9 / 8 pairs of
# workloads apart by zone, a few ms a swap)
SWAP_CPU_SECONDS = 0.3
# swaps moving more replicas than this are not tried (time: `repair` weighs every eligible
# class for each; inventory 10,000 seed 6, 3 + 5 replicas, 0.13 CPU s, saved 103.63 USD/h)
SWAP_MAX_REPLICAS = 64

Swap = tuple[Demand, tuple, Demand, tuple]  # A, the zone it leaves; B, the zone it leaves


def swap_zones(fleet: ScaleMove, objective: str, deadline: float | None,
               cpu_seconds: float = SWAP_CPU_SECONDS) -> int:
    """Each swap in turn (`_swaps`), kept where it lowers `objective`, until the `deadline` or
    `cpu_seconds` of process time; returns the swaps kept."""
    if fleet.unplaced:
        return 0
    cpu_end = time.process_time() + cpu_seconds
    swaps = _swaps(fleet)
    moves = JournalMoves(fleet) if objective == "cost+moves" and swaps else None
    kept = 0
    for swap in swaps:
        if time.process_time() > cpu_end or (deadline is not None and time.monotonic() > deadline):
            break
        if not _still_there(fleet, swap):
            continue
        kept += kept_if_cheaper(fleet, partial(_swapped, fleet, swap), moves, deadline)
    return kept


def _swaps(fleet: ScaleMove) -> list[Swap]:
    """Per pair of demands kept apart by zone (each with only such rules over zones, neither
    pinned), per zone each runs in where the other has an eligible class: the swaps, those
    whose two sides run on the dearest nodes first (what a swap can free)."""
    problem = fleet.problem
    spent: dict[str, dict[tuple, Fraction]] = {}  # demand -> zone -> the price of its nodes there
    for node in fleet.nodes.values():
        zone = zone_of(node.node_class)
        for name in node.hosted:
            if name in fleet.avoid and name not in problem.pinned:
                zones = spent.setdefault(name, {})
                zones[zone] = zones.get(zone, Fraction(0)) + node.node_class.price
    found: list[tuple[Fraction, str, Swap]] = []
    for first, second in _pairs(fleet, spent):
        for zone_a, zone_b in _zone_pairs(fleet, first, second, spent):
            swap = (first, zone_a, second, zone_b)
            price = spent[first.name][zone_a] + spent[second.name][zone_b]
            found.append((-price, str((first.name, zone_a, second.name, zone_b)), swap))
    return [swap for _, _, swap in sorted(found, key=lambda item: (item[0], item[1]))]


def _pairs(fleet: ScaleMove, running: dict[str, dict[tuple, Fraction]]) -> list[tuple[Demand, Demand]]:
    """The pairs of demands in `running` kept apart by zone, each once, in name order. Read
    from each demand's own list of what it keeps apart from, not from every pair of demands:
    3,000 small workloads with no rule between them (`bench/many_workloads.py`) made 9
    million pairs to test, 2-4 CPU s of a 5 s plan."""
    problem = fleet.problem
    demands = [problem.demand(name) for name in sorted(running)]
    of_workload: dict[str, list[Demand]] = {}
    for demand in demands:
        of_workload.setdefault(demand.workload, []).append(demand)
    pairs = [(first, second) for first in demands for workload in fleet.avoid[first.name]
             for second in of_workload.get(workload, ()) if first.name < second.name]
    return sorted(pairs, key=lambda pair: (pair[0].name, pair[1].name))


def _zone_pairs(fleet: ScaleMove, first: Demand, second: Demand,
                running: dict[str, dict[tuple, Fraction]]) -> list[tuple[tuple, tuple]]:
    """The zones (a, b), the first demand running in a and the second in b, each eligible for
    the other, with at most `SWAP_MAX_REPLICAS` replicas between them there."""
    zones_first, zones_second = _eligible_zones(fleet, first), _eligible_zones(fleet, second)
    return [(a, b) for a in running[first.name] for b in running[second.name]
            if a != b and a in zones_second and b in zones_first and
            _replicas(fleet, first, a) + _replicas(fleet, second, b) <= SWAP_MAX_REPLICAS]


def _eligible_zones(fleet: ScaleMove, demand: Demand) -> set[tuple]:
    return {zone_of(fleet.problem.node_class(name)) for name in demand.eligible}


def _replicas(fleet: ScaleMove, demand: Demand, zone: tuple) -> int:
    return fleet.in_zone[demand.workload, zone]


def _still_there(fleet: ScaleMove, swap: Swap) -> bool:
    first, zone_a, second, zone_b = swap
    return bool(_replicas(fleet, first, zone_a) and _replicas(fleet, second, zone_b))


def _swapped(fleet: ScaleMove, swap: Swap) -> None:
    """A's replicas in its zone and B's in its zone taken off, B's placed in A's zone, then A's
    in B's (what no node takes is left in `fleet.unplaced`)."""
    first, zone_a, second, zone_b = swap
    leaving_a = _taken_off(fleet, first, zone_a)
    leaving_b = _taken_off(fleet, second, zone_b)
    fleet.next_free.clear()
    fleet.fills.clear()
    fleet.in_zone[first.workload, zone_b] += 1  # B kept off its own zone, as if A ran there
    try:
        fleet.repair([(second, zone_a)] * leaving_b)
    finally:
        fleet.in_zone[first.workload, zone_b] -= 1
    if not fleet.unplaced:
        fleet.fills.clear()
        fleet.repair([(first, zone_b)] * leaving_a)


def _taken_off(fleet: ScaleMove, demand: Demand, zone: tuple) -> int:
    """Every replica of the demand on the zone's nodes taken off (nodes left empty closed);
    how many."""
    taken = 0
    for node in [n for n in fleet.nodes.values()
                 if n.hosted[demand.name] and zone_of(n.node_class) == zone]:
        count = node.hosted[demand.name]
        fleet.remove(node, demand, count)
        taken += count
        if not node.hosted:
            fleet.close(node.name)
    return taken
