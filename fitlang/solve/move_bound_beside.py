"""The bound of a fleet-scale move in a child process beside the passes that improve the plan
(`fitc plan` past `LARGE_NODES` nodes, issue 18).

At inventory 10,000 and `--time-limit 5` the move has ~3.5 CPU s after compiling and reading
the state. In one process the charged bound (`move_bound.moves_lower_bound`, 2.4-2.8 CPU s
to converge there) ran after the first `improve` to the bound's end (`BOUND_TAIL_SHARE`
before the move's): on seed 1 it was cut before its lazy rows came in (1906.17 against the
2075.04 it converges to), and the scatter passes (`scatter_both`, 1.4-1.8 CPU s) and
`empty_pools` (0.6) after it got no time at all (seed 1 2231.05 where they reach 2117.19,
seed 8 2801.88 where they reach 2700.66; session 37).

Here the bound runs in a child process (`backends.Minimising`, on the machine's other core),
started as soon as `repair` has placed every replica: their nodes start its master, whose
first LP is then feasible without artificial columns (its rounds reach the bound ~0.4 s
sooner than from no packing at all). It tells the bound it has proven after every round of
its column generation (`lower_bound`'s `each_round`), so that this process, which improves
the plan meanwhile, can ask how far it is (`so_far`: the scatter passes are not run where
the plan is already proven close) and, at the bound's end, takes its answer, or where that
is not in, the last bound it told (`collected`): each is a proven bound. For `fitc plan`
(`bound_after`) the child runs on through the plan's waves and the plan collects it after
them (`Placement.later_bound`), as the move model's (`model_bound_beside`): at `--time-limit
5` the LP needs ~2.2 CPU s and had 1.7-2.5 until the move's end (h56c).

The child's CPU time is its own: on the CPU clock (`e2eplan.py`) it is not counted, as the
solve's bounds beside the placement are not (`placement._bounds_aside`); on the wall clock
the second core gives it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.solve.backends import KILL_GRACE, Minimising, forks, tell_parent
from fitlang.solve.clock import on_the_wall, wall_seconds

if TYPE_CHECKING:
    from fitlang.solve.move_scale import ScaleMove

# with the bound beside, the scatter passes end by this share of the limit, `empty_pools` after
# them by `JOINT_MOVES_SHARE` (in one process the passes ended by 0.4 of it, passed at
# `--time-limit 5` before the bound ended; the bound's end, 0.85, left the waves cut once in 2
# runs of seed 8: 2,556 moves)
SCATTER_SHARE = 0.7
# how long, on the wall, the bound's last round is waited for past the bound's end
LAST_ROUND_WAIT = 0.05
# off the wall, the child's answer is waited for at most this many times its seconds on the
# clock as the wall has them at this process's share of a core (and `KILL_GRACE`)
OFF_WALL_WAITS = 3


def runs_beside(nodes: int, time_limit: float | None) -> bool:
    """Whether a move of this many nodes has its bound in a child process: past `LARGE_NODES`
    (below, the joint steps, which need the bound first, follow `improve`), with a time limit
    (without, nothing is short of time) and where processes fork."""
    from fitlang.solve.move_neighbourhood import LARGE_NODES

    return nodes > LARGE_NODES and time_limit is not None and forks()


class BoundBeside:
    """The move's bound (`moves_lower_bound` for `cost+moves` with a move price, else the
    least cost) proven in a child process until `until`, started from the fleet as it is."""

    def __init__(self, fleet: ScaleMove, objective: str, until: float) -> None:
        from fitlang.solve import bound, move_bound  # (looked up at the call: a test may stand in)

        problem, start = fleet.problem, fleet.packing()
        charged = objective == "cost+moves" and bool(fleet.price)

        def proven(seconds: float) -> Fraction | None:
            deadline = time.monotonic() + seconds  # (on the child's clock: a CPU clock starts anew)
            if charged:
                return move_bound.moves_lower_bound(problem, deadline, start=start, each_round=tell_parent)
            return bound.lower_bound(problem, "cost", deadline, start=start, each_round=tell_parent).value

        self._start(proven, until)

    @classmethod
    def running(cls, proven: Callable[[float], object], until: float) -> BoundBeside:
        """`proven(seconds)` in a child until `until`: another bound of the move
        (`model_bound_beside`), collected as this one is."""
        started = cls.__new__(cls)
        started._start(proven, until)
        return started

    def _start(self, proven: Callable[[float], object], until: float) -> None:
        # (`proven` answers a bound, or what carries one: `fragment_bound.Found`, whose class
        # reads the bound out of it)
        self.until, self.seconds = until, max(0.0, until - time.monotonic())
        # (off the wall, the child's HiGHS gets its wall limit at the least share of a core,
        # `clock._Share`: at its parent's, never measured (a whole core), at load 15 that
        # limit stopped the child's first LP: 197.45 USD/h proven, where it converges to 2075.04)
        self._pending = Minimising.running(proven, self.seconds)

    def stop(self) -> None:
        """The child stopped where it runs, its answer not waited for (none is needed)."""
        self._pending.result(0.0)

    def so_far(self) -> Fraction | None:
        """The bound proven by now (None: none yet); the child goes on."""
        return self._pending.newest()

    def collected(self) -> Fraction | None:
        """The bound at its end: the child's answer, else the last bound it told; the child is
        stopped. On the wall the answer is waited for until `until`. Off it (a bench's CPU
        clock) the child stops on its own clock, `until` less the fork's time of CPU from the
        fork, and its answer is waited for as a core of its own would have it in by then: under
        load a child's share of a core is not its parent's (at load 15 one had proven 197.45
        USD/h by the time its parent, at its `until`, asked, where it converges to 2075.04)."""
        if on_the_wall():
            wait = max(0.0, self.until - time.monotonic()) + LAST_ROUND_WAIT
        else:
            wait = OFF_WALL_WAITS * wall_seconds(self.seconds) + KILL_GRACE
        found = self._pending.result(wait)
        return found if found is not None else self._pending.told(0)
