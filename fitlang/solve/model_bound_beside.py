"""The whole move model's bound in a child process beside the move, from its start (`fitc
plan` at fleet scale up to `MOVE_MODEL_MAX_NODES` nodes, issue 18).

Up to `LARGE_NODES` the move's bound is the charged LP (`move_bound.moves_lower_bound`), and
the move model's (`move_scale.move_model_bound`: class counts, stay columns, HiGHS's dual
bound) only where the limit has time left after the joint steps: at `--time-limit 5` none
(`_model_fits`). On inventory 1,000 seed 36 the LP proves 48.62 USD/h where the plan costs
70.47 (31%), and the model's branch and bound 53.27 in 1 CPU s, 60.77 in 3; `fitc solve`'s
own bound on the policy alone, without the moves, is 62.99: the gap was the bound's.

Here the model is built and solved in a child process (`move_bound_beside.BoundBeside`, as
the charged LP is past `LARGE_NODES`) from the move's start until its end (at most
`MOVE_MODEL_WALL_SECONDS`), and the move takes the larger of the two bounds. The plan
itself is made as before: this process's passes are not shortened (on the CPU clock the
child is not counted; on the wall the second core gives it).

For `fitc plan` the child runs on past the move, through the plan's waves
(`through_waves`: the move's limit over 1 - `plan.FINISH_SHARE`, never past the plan's, as the
plan keeps at least that share of its limit for them), and the plan collects it after them
(`raised_by_later_bound`). Within the move alone (~3.9 of a 5 s plan's seconds) its branch and
bound was cut where the bound was about to rise: inventory 1,000 plan 39 (at 106.86 USD/h, the
charged LP 91.56) 92.37 with 3 CPU s of HiGHS, 97.28 with 3.5, 104.92 with 4, 104.94 with 4.5;
plan 36 (at 70.47, the LP 60.77) 64.89 with 4.5.
"""

from __future__ import annotations

import time
from fractions import Fraction

from fitlang.model.problem import Problem
from fitlang.solve.backends import forks, tell_parent
from fitlang.solve.clock import on_the_wall
from fitlang.solve.linear import Status, stated_bound
from fitlang.solve.move_bound_beside import OFF_WALL_WAITS, BoundBeside, runs_beside
from fitlang.solve.placement_result import Placement

# at most this share of the child's seconds goes to the charged MIP (`charged_mip`), before the
# whole move model, which gets the rest (and all of it where the MIP is proven sooner): on 1,000-node
# plans 3, 9, 10, 12, 13, 17, 19, 22, 23 the model's bound after it was below the MIP's; with 0.9
# of a 5 s plan's 4.8 s (was 0.6) plan 23's MIP is proven at its optimum 60.32 (58.88 cut at
# 2.9 s), plan 24's at 160.74 (160.49), 10 / 12 / 13 / 36 +0.001-0.05, and the model after 0.6
# proved less than the MIP on all of them and on 39 (session 53)
CHARGED_SHARE = 0.9


def model_bound_beside(problem: Problem, objective: str, time_limit: float | None,
                       through_waves: bool = False) -> BoundBeside | None:
    """The move model's bound started in a child until the move's limit ends (with
    `through_waves`, the plan's waves' too: module's docstring; at most
    `MOVE_MODEL_WALL_SECONDS`), where the plan's
    objective is cost + moves at a move price, the fleet has at most `MOVE_MODEL_MAX_NODES`
    nodes and no other bound runs beside (`runs_beside`); else None."""
    from fitlang.plan import FINISH_SHARE
    from fitlang.solve.charged_mip import CPU_SECONDS as CHARGED_CPU_SECONDS
    from fitlang.solve.charged_mip import charged_mip_bound
    from fitlang.solve.move_scale import MOVE_MODEL_MAX_NODES, MOVE_MODEL_WALL_SECONDS, move_model_bound

    nodes = sum(c.count for c in problem.classes)
    if objective != "cost+moves" or not problem.move_price or time_limit is None or not forks() \
            or nodes > MOVE_MODEL_MAX_NODES or runs_beside(nodes, time_limit):
        return None

    def proven(seconds: float) -> Fraction | None:
        # (on the child's clock: a CPU clock starts anew at the fork.) Off the wall its CPU
        # seconds stop it, and its wall limit, at the share of a core measured as it starts,
        # has the slack its parent's wait for it has (`OFF_WALL_WAITS`): a child's share is
        # not its parent's (given 4.8 s, one had 2.98 CPU s in 7.86 s of wall at load 4.5)
        slack = 1.0 if on_the_wall() else OFF_WALL_WAITS
        began = time.monotonic()
        # the charged LP with whole nodes first (`charged_mip`), told at once: the model
        # after it may end with less
        charged = charged_mip_bound(problem, began + slack * seconds,
                                    cpu_seconds=min(CHARGED_CPU_SECONDS, CHARGED_SHARE * seconds))
        if charged is not None:
            tell_parent(charged)
        left = seconds - (time.monotonic() - began)
        modelled = move_model_bound(problem, time.monotonic() + slack * left, cpu_seconds=left) \
            if left > 0 else None
        found = [bound for bound in (charged, modelled) if bound is not None]
        return max(found) if found else None

    # (no longer than the model was given in this process: a plan whose passes end early
    # does not wait for it to the end of a long limit)
    seconds = time_limit / (1 - FINISH_SHARE) if through_waves else time_limit
    return BoundBeside.running(proven, time.monotonic() + min(seconds, MOVE_MODEL_WALL_SECONDS))


def raised_by_later_bound(placement: Placement) -> bool:
    """The bound left running past the move (`Placement.later_bound`) collected: the
    placement's bound raised where it proves more (never above its value:
    `linear.stated_bound`), its status `optimal` where the gap then closes. Whether it rose."""
    later, placement.later_bound = placement.later_bound, None
    if later is None:
        return False
    proven = later.collected()
    if proven is None or placement.value is None or \
            (placement.bound is not None and proven <= placement.bound):
        return False
    stated = stated_bound(proven, placement.value)
    if stated is None:  # (above the plan's value: the solver erred; the bound it had stays)
        return False
    placement.bound = stated
    if placement.gap is not None and placement.gap <= placement.tolerance:
        placement.status = Status.OPTIMAL
    return True


def stop_later_bound(placement: Placement) -> None:
    """The bound left running past the move stopped, not waited for (the move is not used)."""
    later, placement.later_bound = placement.later_bound, None
    if later is not None:
        later.stop()
