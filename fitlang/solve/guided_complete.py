"""A guided pass a few replicas short, completed where room can be made, as the floor is.

With the pair LP's batch mixes filled first (lp_mixes.py), a region's CPU nodes are full
before the services that must spread over its zones come: the pass leaves a few of their
replicas out. `bench/ai_fleet.py` 10,000 seed 12, the guided passes in the learned order
(short_order.py): four of the five short by 4-14 replicas (`svc_514`, `svc_618`: zone
spreads in fra1, and one inference replica), none completed by the retries in the plain order,
`scarce_first` or the learned order; the answer was the pass without the mixes (104,019 USD/h
consolidated, 2.66% over the bound) or the floor. The floor's completion (floor_complete.py:
a replica that may run elsewhere moved out of the zone, the short one in its room) completes
the first guide's pass in 0.3-0.4 CPU s: 102,393 consolidated (1.06%).

Only where the pass is short by a few replicas: the completion's time grows with what is out
(the floor's, hundreds out on the same fleet: 0.7-1.2 CPU s), and a pass far short is placed
again by the retries as before."""

from __future__ import annotations

import time

from fitlang.model.problem import Problem
from fitlang.solve.aggregate import opener, past
from fitlang.solve.floor_complete import floor_completed
from fitlang.solve.pack import Packing
from fitlang.solve.zone_cleared import zones_cleared

# the most replicas a guided pass may leave out for its completion to be tried (seed 12: 4-14)
MOST_SHORT = 32


def guided_completed(problem: Problem, guided: Packing, objective: str, deadline: float | None,
                     seconds: float) -> bool:
    """`guided`, a pass short by at most MOST_SHORT replicas, completed in place where room can
    be made (`room_made`, as the floor is) in at most `seconds` (what the pass took: a retry
    takes two passes or more; where room cannot be made the completion can take longer than
    the pass, `bench/ai_fleet.py` 1,000 seed 1: 0.7 CPU s in vain for 7 replicas); whether it
    is complete."""
    if guided.complete or past(deadline) or sum(guided.short.values()) > MOST_SHORT:
        return guided.complete
    ends = time.monotonic() + seconds
    room_made(problem, guided, objective, ends if deadline is None else min(deadline, ends))
    return guided.complete


def floor_completion_end(deadline: float | None, bound_turn: float | None, pass_seconds: float,
                         short: int) -> float | None:
    """The end of the short floor's completion in place (`room_made`), after its learned passes
    (short_again.py): `deadline`, or where the floor is `short` by at most MOST_SHORT replicas,
    the end a learned pass is given (`short_again._pass_deadline`) where that is later: the
    bound's turn less one greedy pass of `pass_seconds` (the first-fit's, should the floor stay
    short). A completion of a few replicas takes less than a pass (0.08-0.10 CPU s for 6,
    against passes of 0.25-0.39), and where it is cut the answer is the first-fit: ai_fleet
    10,000 seed 1 at 5 s under load 30, the fourth learned pass ended at 2.93-3.06 and the
    completion at 3.06 / 3.18, its deadline 3.04 / 3.16: 26.15% over the bound, where the
    completed floor gives 0.90-1.06% (session 44)."""
    if deadline is None or bound_turn is None or short > MOST_SHORT:
        return deadline
    return max(deadline, bound_turn - pass_seconds)


def room_made(problem: Problem, packing: Packing, objective: str, deadline: float | None) -> None:
    """A short packing completed in place where room can be made (floor_complete.py), then
    where a workload kept apart from a short one by zone moves out of one (zone_cleared.py)."""
    may_open = opener(problem, {})
    floor_completed(problem, packing, may_open, objective, deadline)
    if not packing.complete:
        zones_cleared(problem, packing, may_open, deadline)
