"""How many of the first guided passes the child beside the placement makes: fixed at the fork.

Where the pair LP runs in a child process (`placement._bounds_aside`, not beside a pass here:
passes_beside.py), the child then makes the first guided passes (those with the LP's classes)
in their order, and this process makes the guide after the last one the child made. The child
used to begin each pass where its own time left held one (`search_room.later_pass_fits`), so
how many it made hung on hundredths of a CPU second, and with them which guide this process
made: inventory 10,000 seed 10 at 5 s, CPU clock, two passes in the child (then this process
every GPU workload's counts, 1.52-1.88%) or three (then the fractional guide, 1.12%), by the
run (docs/performance.md, sessions 42 and 43).

So the count is fixed at the fork (`passes_at_fork`), and from no time measured in the run: the
child's window is a share of the limit (less where the time left at the fork is shorter), its LP
and each pass what a core to itself takes per pair and per replica. Counted from the floor's
measured time instead, the count moved as much as the passes had: seed 10 at load ~40, 4, 3 or
2 passes by the run (the floor's passes 0.50-0.64 CPU s), and 1.12 / 1.21 / 1.64%. The child
sends back how many it made (`Bounds.first_passed`). Off the wall (the benches' CPU clock,
clock.py) it makes that many where they end before this process stops waiting for its answer
(its limit and the grace, `backends.KILL_GRACE`: a process waiting does not move its CPU
clock); on the wall at most that many, each where its time holds it, the limit kept as before.
Its bounds and guides are told before its passes (`tell_parent`), so a child stopped in its
passes still leaves its bound.
"""

from __future__ import annotations

import math

from fitlang.solve.backends import KILL_GRACE
from fitlang.solve.clock import on_the_wall
from fitlang.solve.greedy import Guide

# the child's pair LP, CPU seconds per pair (`bound.relaxation_pairs`), where it converges: inventory
# 10,000 at 5 s, CPU clock, load 8-40, 0.68-0.98 s for 148,000-172,000 pairs (4.6-5.7e-6; the
# pessimistic `bound_stages.PAIR_SECONDS_PER_PAIR`, 1.6e-5, said 2.4-2.8 s and one pass, not four)
LP_CPU_PER_PAIR = 6e-6
# a guided pass and its polish in the child, CPU seconds per replica: 0.49-0.65 for 18,000-19,200
# replicas on the same runs (2.7-3.4e-5; 0.66-0.85 at load ~40)
PASS_CPU_PER_REPLICA = 3.2e-5
# the child's window, at most this share of the limit (what is left of it after the parse: 4.41-4.43
# s of `--time-limit 5` at inventory 10,000), its answer's way back in it: the time left at the fork
# was 3.18-3.64 s (load 8-40), so the window 2.95 s in every run, and the count the same, 3 on seeds
# 7-24 (3.15-3.58 passes fit; at 0.6 of the limit 2.7-3.0 did, and seed 10 had 2 or 3 by the parse)
WINDOW_SHARE = 2 / 3


def passes_at_fork(left: float, time_limit: float | None, lp_seconds: float, pass_seconds: float) -> int:
    """How many first passes the child makes: those expected to end, after its LP (`lp_seconds`),
    in its window (WINDOW_SHARE of `time_limit`, at most the `left` seconds it has to send its
    answer back), each pass `pass_seconds`."""
    window = left if time_limit is None else min(left, WINDOW_SHARE * time_limit)
    return max(0, math.floor((window - lp_seconds) / pass_seconds)) if pass_seconds > 0 else 0


def child_passes(first: list[Guide], count: int, end: float,
                 converged: bool) -> tuple[list[Guide], float]:
    """The child's first passes, at most `count` of them, and the deadline they are made by,
    each where the time left holds it (`placement._cheapest_guided`): on the wall `end`; off the
    wall `end` and the grace its parent waits past the child's limit (`backends.KILL_GRACE`),
    where the LP converged (where it did not, its time ran to the end: no passes, as the time
    would have said). Off the wall the child used to make all `count`, whatever they took, and
    a third pass that ended past the grace lost everything the child had: its parent stopped it
    and had no bound, no guide, no pass (inventory 10,000 seed 94 at 5 s, CPU clock, load ~15:
    the LP 1.52 CPU s, three passes and their polish to 3.93, the parent's wait ended at 3.82;
    586.55 with no bound, 1 run in 3, where the runs the child answered gave 566.26-566.62)."""
    if on_the_wall():
        return first[:count], end
    return (first[:count] if converged else []), end + KILL_GRACE
