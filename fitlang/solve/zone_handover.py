"""A zone handed over between two workloads kept apart by zone (`fitc plan`, issue 18).

`zone_swap` trades two such workloads' zones; where the one that holds a cheap zone cannot
go to the other's zone at all, no swap exists, yet the cheap zone may be worth more to the
other. Inventory 1,000 seed 22: `svc41` (17 replicas, one a node, us-east-1 only) runs in
all three us-east-1 zones, so `svc23` (23, one a node, gold nodes; `anti_affinity svc41 on
zone`) runs on eu-central-1a and eu-west-1a nodes that the whole move model closes: there
`svc41` leaves us-east-1b for its other two zones and 13 `svc23` take gold nodes in
us-east-1b (the model's incumbent 49.05 USD/h against the plan's 58.58). One replica at a
time no step gets there: `svc23` may not enter us-east-1b while one `svc41` runs there, and
`svc41`'s replicas leaving it one by one pay nothing until the last has.

So, per pair (A, B) kept apart by zone, per zone z where A runs and B may run, and per zone
b where B runs: every replica of A in z and of B in b taken off (nodes left empty closed),
A's placed again by `repair` in its other zones (z held as if B ran there), then B's in z
(a node in use there, else a new one), then the changed nodes get `improve`'s tries. Kept
where every replica is placed and the objective is lower by more than the plan's optimality
tolerance (0.1%) of it (`pool_emptied.kept_if_cheaper`), else put back: a handover moves two
workloads' whole zones, which binds the joint steps after it, for what may be rounding
(inventory 1,000 seed 3: `svc38` handing us-east-1a to `svc8` saved 0.01 of 49.89 USD/h, and
the plan ended 0.3-0.5 dearer in 2 runs of 2; seed 22's four saved 2.67, 2.11, 0.98 and 0.24
USD/h of 59-65; held-out seed 33's three 7.61, 7.92 and 2.09 of 365-381). Tried after the swaps,
before the joint steps (after them, seed 22's plan ended at 55.26 against 51.96: they fill
the zone their own way and the handovers' time is gone), up to `move_neighbourhood.LARGE_NODES`
nodes.
"""

from __future__ import annotations

import copy
import time
from fractions import Fraction
from functools import partial

from fitlang.model.problem import Demand
from fitlang.solve.move_scale import ScaleMove, zone_of
from fitlang.solve.moving import objective_value
from fitlang.solve.placement_result import OPTIMALITY_TOLERANCE
from fitlang.solve.pool_emptied import JournalMoves, kept_if_cheaper
from fitlang.solve.zone_swap import SWAP_MAX_REPLICAS, _eligible_zones, _pairs, _replicas, _taken_off

# the CPU seconds the handovers are tried for: they come out of the joint steps' time after
# them (inventory 1,000 seed 3, where none pays: 0.31 s of it taken, the plan ended at 48.69
# USD/h against 48.41; 0.15 s, 48.41; seed 22 kept its four handovers within 0.28 s)
HANDOVER_CPU_SECONDS = 0.15

Handover = tuple[Demand, tuple, Demand, tuple]  # A, the zone it leaves; B, the zone it leaves for it


def hand_over_zones(fleet: ScaleMove, objective: str, deadline: float | None,
                    cpu_seconds: float = HANDOVER_CPU_SECONDS) -> int:
    """Each handover in turn (`_handovers`), kept where it lowers `objective`, until the
    `deadline` or `cpu_seconds` of process time; returns the handovers kept."""
    if fleet.unplaced:
        return 0
    cpu_end = time.process_time() + cpu_seconds
    handovers = _handovers(fleet)
    if not handovers:
        return 0
    moves = JournalMoves(fleet) if objective == "cost+moves" else None
    least = Fraction(OPTIMALITY_TOLERANCE) * objective_value(fleet.problem, objective, fleet.state(),
                                                             set(fleet.bought))
    kept = 0
    for handover in handovers:
        if time.process_time() > cpu_end or (deadline is not None and time.monotonic() > deadline):
            break
        first, zone_a, second, zone_b = handover
        if _replicas(fleet, first, zone_a) and _replicas(fleet, second, zone_b) and \
                not _replicas(fleet, second, zone_a):
            taken, moves = _kept_on_copy(fleet, moves, handover, deadline, least)
            kept += taken
    return kept


# what a copy of the fleet shares with it: the policy, and what is worked out from it once
SHARED = ("problem", "owners", "apart", "alone", "eligible", "eligible_mask", "need", "need_ints",
          "zoned", "cluster_free", "avoid", "running_now", "weight", "largest", "weight_set_by",
          "owners_price", "class_price", "cheapest", "class_capacity", "zones_of_classes",
          "_kept_away_by_zone")


def _kept_on_copy(fleet: ScaleMove, moves: JournalMoves | None, handover: Handover,
                  deadline: float | None, least: Fraction) -> tuple[bool, JournalMoves | None]:
    """The handover tried on a copy of the fleet (and of `moves`), the fleet made the copy
    where it is kept; whether kept, and the moves to go on with. A step put back leaves its
    nodes on new rows (`pool_emptied.restore`), which the steps after it read in row order:
    tried in place, the handovers that did not pay moved the plans of inventory 1,000 seeds 3
    and 23 from 48.41 / 61.22 to 48.68-48.95 / 66.54-66.89 USD/h where none was kept (9 ms a
    copy there)."""
    memo = {id(value): value for name, value in vars(fleet).items() if name in SHARED}
    trial, trial_moves = copy.deepcopy((fleet, moves), memo)
    if not kept_if_cheaper(trial, partial(_handed_over, trial, handover), trial_moves, deadline, least):
        return False, moves
    vars(fleet).update(vars(trial))
    if trial_moves is not None:
        trial_moves.fleet = fleet
    return True, trial_moves


def _handovers(fleet: ScaleMove) -> list[Handover]:
    """Per pair of demands kept apart by zone, each way round, per zone z the first runs in
    that the second may use, per zone b the second runs in: the handovers, those whose
    second side runs on the dearest nodes first (what a handover can free)."""
    spent: dict[str, dict[tuple, Fraction]] = {}  # demand -> zone -> the price of its nodes there
    for node in fleet.nodes.values():
        zone = zone_of(node.node_class)
        for name in node.hosted:
            if name in fleet.avoid and name not in fleet.problem.pinned:
                zones = spent.setdefault(name, {})
                zones[zone] = zones.get(zone, Fraction(0)) + node.node_class.price
    found: list[tuple[Fraction, str, Handover]] = []
    for pair in _pairs(fleet, spent):
        for first, second in (pair, pair[::-1]):
            open_to_second = _eligible_zones(fleet, second)
            for zone_a in sorted(spent[first.name], key=str):
                if zone_a not in open_to_second:
                    continue
                for zone_b, price in spent[second.name].items():
                    if zone_b != zone_a and _replicas(fleet, first, zone_a) + \
                            _replicas(fleet, second, zone_b) <= SWAP_MAX_REPLICAS:
                        handover = (first, zone_a, second, zone_b)
                        found.append((-price, str((first.name, zone_a, second.name, zone_b)), handover))
    return [handover for _, _, handover in sorted(found, key=lambda item: (item[0], item[1]))]


def _handed_over(fleet: ScaleMove, handover: Handover) -> None:
    """A's replicas in its zone and B's in its zone taken off, A's placed again in A's other
    zones, then B's in A's zone (what no node takes is left in `fleet.unplaced`; B's all of
    them where a third workload B keeps apart from runs there)."""
    first, zone_a, second, zone_b = handover
    leaving_a = _taken_off(fleet, first, zone_a)
    leaving_b = _taken_off(fleet, second, zone_b)
    fleet.next_free.clear()
    fleet.fills.clear()
    fleet.in_zone[second.workload, zone_a] += 1  # A kept off the zone it hands over
    try:
        fleet.repair([(first, None)] * leaving_a)
    finally:
        fleet.in_zone[second.workload, zone_a] -= 1
    if fleet.unplaced:
        return
    if any(fleet.in_zone[other, zone_a] for other in fleet.avoid[second.name]):
        fleet.unplaced.extend([second.name] * leaving_b)
        return
    fleet.fills.clear()
    fleet.repair([(second, zone_a)] * leaving_b)
