"""How many of the first guided passes the child beside the placement makes: fixed at the fork.

Where the pair LP runs in a child process (`placement._bounds_aside`, not beside a pass here:
passes_beside.py), the child then makes the first guided passes (those with the LP's classes)
in their order, and this process makes the guide after the last one the child made. The child
used to begin each pass where its own time left held one (`search_room.later_pass_fits`), so
how many it made hung on hundredths of a CPU second, and with them which guide this process
made: inventory 10,000 seed 10 at 5 s, CPU clock, two passes in the child (then this process
every GPU workload's counts, 1.52-1.88%) or three (then the fractional guide, 1.12%), by the
run (docs/performance.md, sessions 42 and 43).

So the count is fixed at the fork, from what this process knows then: the time left, the LP's
expected CPU seconds and what the floor's passes and polish took (`passes_at_fork`), and the
child sends back how many it made (`Bounds.first_passed`). Off the wall (the benches' CPU
clock, clock.py) the child makes exactly that many, none cut by its clock, and this process
waits for its answer as before (on the CPU clock a process waiting does not move its clock);
on the wall at most that many, each where its time holds it, the limit kept as before.
"""

from __future__ import annotations

import math

from fitlang.solve.clock import on_the_wall
from fitlang.solve.greedy import Guide

# the child's pair LP, CPU seconds per pair (`bound.relaxation_pairs`), where it converges: inventory
# 10,000 at 5 s, CPU clock, load 8-15, 0.68-0.98 s for 148,000-172,000 pairs (4.6-5.7e-6; the
# pessimistic `bound_stages.PAIR_SECONDS_PER_PAIR`, 1.6e-5, said 2.4-2.8 s and one pass, not four)
LP_CPU_PER_PAIR = 6e-6
# a guided pass and its polish over what the floor's passes and polish took (`_Run.floor_seconds`):
# 1.07-1.3 on the same runs (0.49-0.65 CPU s against 0.43-0.53)
PASS_OVER_FLOOR = 1.2


def passes_at_fork(left: float, lp_seconds: float, pass_seconds: float | None) -> int | None:
    """How many first passes the child makes: those expected to end in the `left` seconds
    after its LP (`lp_seconds`), each PASS_OVER_FLOOR times what the floor's passes and polish
    took (`pass_seconds`); None where that is not known (each pass where its time holds it)."""
    if pass_seconds is None or pass_seconds <= 0:
        return None
    return max(0, math.floor((left - lp_seconds) / (PASS_OVER_FLOOR * pass_seconds)))


def child_passes(first: list[Guide], count: int | None, end: float,
                 converged: bool) -> tuple[list[Guide], float | None]:
    """The child's first passes, at most `count` of them, and the deadline they are made by:
    on the wall `end` (each where the time left holds it, `placement._cheapest_guided`); off
    the wall none (all `count`, whatever they take), where the LP converged (where it did not,
    its time ran to the end: no passes, as the time would have said)."""
    if count is None or on_the_wall():
        return (first if count is None else first[:count]), end
    return (first[:count] if converged else []), None
