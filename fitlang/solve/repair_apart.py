"""A zone cleared for replicas `repair` left out (`fitc plan`, issue 18).

`repair` places the replicas that cannot stay in the zones their rules allow now: where a
workload kept apart by zone holds the only zones with room left, the replicas are left out,
and the move falls to the whole model, which at 1,000 nodes may not pack them either.
Inventory 1,000 seed 15 (the plan ended E0812/E0506 at 5 and 30 CPU s, where `fitc solve` of
the same policy places everything: 217.83 USD/h at 5 s): `svc40` (14 replicas, one a node,
us-east-1 only, `anti_affinity svc24 on zone`) runs 6 replicas on nodes the policy no longer
has; us-east-1b and 1c hold 10 of its nodes, so 4 need us-east-1a, where 5 `svc24` run.

So, per demand left out, kept apart by zone from others (`ScaleMove.avoid`), per zone its
classes reach where they run (those with the fewest of them first): on a copy of the fleet,
their replicas there taken off and placed again by `repair` in other zones (the zone held as
if the left-out demand ran there), then the left-out replicas placed. Kept where fewer
replicas are left out; the passes after it price what it moved.
"""

from __future__ import annotations

import copy
import time
from collections import Counter

from fitlang.model.problem import Demand
from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.zone_handover import SHARED
from fitlang.solve.zone_swap import _eligible_zones, _taken_off


def clear_zones(fleet: ScaleMove, deadline: float | None) -> int:
    """Each demand `fleet.unplaced` names, in name order, given a zone cleared of the
    workloads it is kept apart from where that places more of it; until the `deadline`.
    Returns the replicas placed."""
    placed = 0
    for name in sorted(set(fleet.unplaced)):
        demand = fleet.problem.demand(name)
        for zone in _zones_to_clear(fleet, demand):
            if deadline is not None and time.monotonic() > deadline:
                return placed
            trial = _cleared(fleet, demand, zone)
            if trial is not None:
                placed += len(fleet.unplaced) - len(trial.unplaced)
                vars(fleet).update(vars(trial))
                break
    return placed


def _blockers(fleet: ScaleMove, demand: Demand) -> list[Demand]:
    """The demands that keep `demand` out of a zone where they run and may move to another
    zone (their only rules over a topology keep them apart by zone), not pinned."""
    apart = fleet.avoid.get(demand.name)
    if apart is None or demand.name in fleet.problem.pinned:
        return []
    return [other for other in fleet.problem.demands
            if other.workload in apart and other.workload != demand.workload
            and other.name in fleet.avoid and other.name not in fleet.problem.pinned]


def _zones_to_clear(fleet: ScaleMove, demand: Demand) -> list[tuple]:
    """The zones of the demand's classes where a blocker runs, the fewest of them first."""
    blockers = _blockers(fleet, demand)
    held: Counter = Counter()
    for zone in _eligible_zones(fleet, demand):
        for other in blockers:
            held[zone] += fleet.in_zone[other.workload, zone]
    return sorted((zone for zone, count in held.items() if count), key=lambda z: (held[z], str(z)))


def _cleared(fleet: ScaleMove, demand: Demand, zone: tuple) -> ScaleMove | None:
    """A copy of the fleet with the blockers' replicas in `zone` placed elsewhere and the
    demand's left-out replicas placed again; None where it leaves out as many or more."""
    memo = {id(value): value for name, value in vars(fleet).items() if name in SHARED}
    trial = copy.deepcopy(fleet, memo)
    left_out = trial.unplaced.count(demand.name)
    trial.unplaced = [name for name in trial.unplaced if name != demand.name]
    moved = [(other, _taken_off(trial, other, zone)) for other in _blockers(trial, demand)]
    trial.next_free.clear()
    trial.fills.clear()
    trial.in_zone[demand.workload, zone] += 1  # the blockers kept off it, as if it ran there
    try:
        trial.repair([(other, None) for other, count in moved for _ in range(count)])
    finally:
        trial.in_zone[demand.workload, zone] -= 1
    trial.fills.clear()
    trial.repair([(demand, None)] * left_out)
    return trial if len(trial.unplaced) < len(fleet.unplaced) else None
