"""A short placement (`allow_unplaced`) proven to place the most by priority, placed again at
a lower cost with the same replicas of each workload.

The search that lowers a placement's cost (`search_stages.searched`, neighbourhood by
neighbourhood) runs only on a complete floor: a short answer keeps the cost its floor had.
`bench/mixed_rules.py` seed 56: `x1` (priority 5, a gang of 124 one a node, `spread node
max_skew 1`, `anti_affinity x0 on node`) beside `x0` (a gang of 64 one a node) over 134
nodes; the most by priority is `x1` whole and `x0` out (`most_placed` proves it, bound 98.4),
but the floor ran `x1` on 18 of `m0`'s 28 nodes at 0.40 and all 14 of `m3` at 2.00: 114.4,
16% over the optimum (all 28 of `m0`, 4 of `m3`).

Here the policy is solved again with each workload's replicas cut to what the placement
placed of it and nothing left out allowed (every placement of that places exactly as many per
priority: as many as can be, by the proof); its answer, complete and cheaper, takes the
place of the short one (its replicas left out said why as before), once checked against
every rule of the policy as written. The bound stays the proof's (the least cost at those
counts per level): `optimal` where the new value is within the tolerance of it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from fitlang.model.problem import Problem
from fitlang.solve.linear import Status
from fitlang.solve.placement_result import Placement, Unplaced

# the solve again is tried with at least this share of what the first took left, and this
# many seconds (the cut policy is the same fleet: about as long again where it runs whole)
AGAIN_SHARE = 0.5
AGAIN_MIN_SECONDS = 0.5


def cheaper_at_same_counts(problem: Problem, placement: Placement, proven_most: bool,
                           solve_again: Callable[[Problem, float | None], Placement],
                           deadline: float | None, spent: float) -> Placement:
    """`placement` placed again cheaper as the module docstring says, or as it was: where it
    is short and `proven_most` (the most by priority is proven), its gap over the tolerance,
    and the time left (to `deadline`) at least half what the first solve took (`spent`).
    `solve_again(problem, time_limit)` solves a policy as the fleet-scale solve does."""
    if not _worth_trying(problem, placement, proven_most):
        return placement
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left < max(AGAIN_MIN_SECONDS, AGAIN_SHARE * spent):
        return placement
    again = solve_again(kept_only(problem, placement), left)
    if again.unplaced or not again.assignments or again.value is None \
            or placement.value is None or again.value >= placement.value:
        return placement
    from fitlang.solve.self_check import broken_rules  # (which imports the report, which imports this)

    cheaper = _with_left_out(problem, placement, again)
    if broken_rules(problem, cheaper):  # (the cut policy is not the policy: checked as written)
        return placement
    return cheaper


def _worth_trying(problem: Problem, placement: Placement, proven_most: bool) -> bool:
    return (proven_most and problem.allow_unplaced and bool(placement.unplaced)
            and bool(placement.assignments) and placement.status is Status.FEASIBLE
            and placement.value is not None and placement.objective in ("cost", "nodes")
            and not problem.option_groups and problem.timeline is None
            and not problem.running and not problem.running_elsewhere)


def kept_only(problem: Problem, placement: Placement) -> Problem:
    """`problem` with each workload's replicas what `placement` placed of it (a workload of
    none keeps none), every one to be placed."""
    placed = Counter(a.workload for a in placement.assignments)
    return replace(problem, allow_unplaced=False,
                   demands=[replace(d, replicas=placed[d.name]) for d in problem.demands])


def _with_left_out(problem: Problem, placement: Placement, again: Placement) -> Placement:
    """`again`'s replicas with `placement`'s left out (numbered on after the placed ones,
    each with its reason), status and bound: `optimal` where within the tolerance."""
    placed = Counter(a.workload for a in again.assignments)
    numbered: Counter = Counter()
    unplaced = []
    for out in placement.unplaced:
        unplaced.append(Unplaced(out.workload, placed[out.workload] + numbered[out.workload], out.reason))
        numbered[out.workload] += 1
    status = placement.status
    bound = placement.bound
    if bound is not None and again.value is not None \
            and again.value - bound <= abs(again.value) * placement.tolerance:
        status = Status.OPTIMAL
    return replace(placement, status=status, value=again.value, assignments=again.assignments,
                   unplaced=unplaced, bought=again.bought, seconds=placement.seconds + again.seconds)
