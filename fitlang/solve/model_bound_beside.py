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
"""

from __future__ import annotations

import time
from fractions import Fraction

from fitlang.model.problem import Problem
from fitlang.solve.backends import forks
from fitlang.solve.move_bound_beside import BoundBeside, runs_beside


def model_bound_beside(problem: Problem, objective: str, time_limit: float | None) -> BoundBeside | None:
    """The move model's bound started in a child until the move's limit ends (at most
    `MOVE_MODEL_WALL_SECONDS`), where the plan's
    objective is cost + moves at a move price, the fleet has at most `MOVE_MODEL_MAX_NODES`
    nodes and no other bound runs beside (`runs_beside`); else None."""
    from fitlang.solve.move_scale import MOVE_MODEL_MAX_NODES, MOVE_MODEL_WALL_SECONDS, move_model_bound

    nodes = sum(c.count for c in problem.classes)
    if objective != "cost+moves" or not problem.move_price or time_limit is None or not forks() \
            or nodes > MOVE_MODEL_MAX_NODES or runs_beside(nodes, time_limit):
        return None

    def proven(seconds: float) -> Fraction | None:
        # (on the child's clock: a CPU clock starts anew at the fork)
        return move_model_bound(problem, time.monotonic() + seconds, cpu_seconds=seconds)

    # (no longer than the model was given in this process: a plan whose passes end early
    # does not wait for it to the end of a long limit)
    return BoundBeside.running(proven, time.monotonic() + min(time_limit, MOVE_MODEL_WALL_SECONDS))
