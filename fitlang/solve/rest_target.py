"""The plan's target where both searches of the move leave replicas out: the policy solved at
rest (`fitc plan`, issue 18).

`moving.solve_move` searches from what runs (`move_scale`) and, where that leaves replicas out,
solves the whole move model. Past `MOVE_MODEL_MAX_NODES` nodes that model is never built (the
aggregate model without its greedy floor answers `unknown` with nothing placed, in 0.0 CPU s),
and at 1,000 nodes its packing may fall short in the limit. The plan then said E0812 "no
placement places every replica" while `fitc solve` of the same policy places every one:
inventory 10,000 plan 34 at 5 CPU s (session 50, before `repair_apart`): `repair` left 6
`svc362` out, the whole model placed nothing, and the plain solve `plan._no_target` ran after
it placed every replica at 763.45 USD/h in 2.3 CPU s; the verdict threw that placement away.

Any placement of every replica is a target where nothing is pinned (the plan's rules on its
end are the policy's; the budgets bind its waves, not its end). So the plan's problem is
solved with nothing running (`placement.solve`, the policy's own objectives), its nodes matched
to the ones where the replicas run (`keep_in_place`, `kept_in_place`), and its value stated as
the plan's objective prices it, moves included, under the rest solve's bound (a bound on the
cost, hence on the cost plus moves).
"""

from __future__ import annotations

import dataclasses
import time

from fitlang.model.problem import Problem
from fitlang.solve.linear import Status, stated_bound
from fitlang.solve.placement import Placement

# the least the rest solve is given, a share of the move's limit, where the move's searches
# took all of it (its greedy floor runs whole anyway: `placement._solve`)
REST_LEAST_SHARE = 0.05


def rest_target(problem: Problem, objective: str, time_limit: float | None,
                deadline: float | None) -> Placement | None:
    """The target from the policy solved at rest, for the move's `objective` (`cost` or
    `cost+moves`), until the move's `deadline`; None where a workload is pinned (its replicas
    must stay, which a solve at rest does not know) or the solve leaves replicas out."""
    from fitlang.solve.moving import keep_in_place, kept_in_place, objective_value, placed_state
    from fitlang.solve.placement import solve

    if problem.pinned or objective not in ("cost", "cost+moves"):
        return None
    at_rest = dataclasses.replace(problem, running={}, running_elsewhere={})
    left = None if deadline is None or time_limit is None else \
        max(REST_LEAST_SHARE * time_limit, deadline - time.monotonic())
    placement = solve(at_rest, time_limit=left)
    if placement.unplaced or placement.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return None
    keep_in_place(problem, placement)
    placement = kept_in_place(problem, placement, deadline=deadline)
    bought = {n for names in placement.bought.values() for n in names}
    placement.objective = objective
    placement.value = objective_value(problem, objective, placed_state(placement), bought)
    placement.moves_counted = True
    placement.bound = stated_bound(placement.bound, placement.value)
    gap = placement.gap
    placement.status = Status.OPTIMAL if gap is not None and gap <= placement.tolerance else Status.FEASIBLE
    return placement
