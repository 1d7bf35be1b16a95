"""Whole gangs moved onto bought accelerator nodes on the first guided pass that places every
replica, after its consolidation (issue 15, the accelerator-heavy shape at 10,000 nodes).

`gang_bought.gangs_onto_bought` ran first in the search (`search_stages.searched`), but at 5 s the
first complete guided pass and its polish end at the search's deadline on `bench/ai_fleet.py`
10,000 seeds 12 / 14 (CPU clock, session 42: the pass 3.7-4.9 CPU s, its consolidation
4.9-5.1), so the search and the move never ran. The move on that pass: seed 14 two gangs,
102,918 -> 102,313 USD/h in 0.26 CPU s (its consolidation alone: 102,631 in 0.21 s), seed 12 one
gang, 102,682 -> 102,463 in 0.09 s (consolidation alone 102,653); seeds 2 / 16 have no gang that
gains (0.01 s).

The consolidation first, for at most half the time left (`consolidation_deadline`), then the
move. Session 43, both orders on that pass within a time left L of 0.1-1.5 CPU s (seeds 1 / 4 /
5 / 12 / 14, USD/h gained): where L holds both, the consolidation first gains more (seed 1 188
against 88, seed 4 278 against 228, seed 5 214 against 191, seed 14 663 against 647; seed 12 213
against 221), since the move then closes the nodes the consolidation left dearest; where L is
shorter than the consolidation, a whole consolidation first left the move no trial (seed 12 at
L 0.1-0.2: 29 against 219): with half the time left it is cut there and the move's first trial
still runs (212).
"""

from __future__ import annotations

import time

from fitlang.model.problem import Problem
from fitlang.solve.aggregate import remaining
from fitlang.solve.gang_bought import gangs_onto_bought
from fitlang.solve.improve import _past
from fitlang.solve.pack import Packing

# the share of the time left before the deadline the move may take (the search's own gang stage
# goes on where it stops)
GANG_POLISH_SHARE = 0.5
# the most of the time left the consolidation before the move may take (see the module's doc)
CONSOLIDATION_SHARE = 0.5
# the trials in a row that keep nothing after which the move leaves the rest to the search (which
# goes on down the list: gang_bought's `_TRIED`). Each is ~0.1 CPU s at 10,000 nodes; seeds 3 /
# 14 / 12 kept their first 4 / 2 / 1 trials, seed 6 its first and sixth; seed 11 none, where the
# polish's 0.5 CPU s of trials left the search 0.2 s (0.45 -> 0.47%)
GIVE_UP_AFTER = 2


def gangs_polished(problem: Problem, packing: Packing, objective: str, deadline: float | None) -> int:
    """`gangs_onto_bought` on a guided pass, for GANG_POLISH_SHARE of the time left before
    `deadline` and until GIVE_UP_AFTER trials in a row kept nothing (see the module's doc); how
    many gangs moved."""
    if _past(deadline):
        return 0
    left = remaining(deadline)
    end = None if left is None else time.monotonic() + GANG_POLISH_SHARE * left
    return gangs_onto_bought(problem, packing, objective, end, give_up=GIVE_UP_AFTER)


def consolidation_deadline(consolidated: float | None, deadline: float | None) -> float | None:
    """The end of the consolidation before the move: its own (`consolidated`), or where that is
    later, CONSOLIDATION_SHARE of the time left before `deadline` from now."""
    left = remaining(deadline)
    if consolidated is None or left is None:
        return consolidated
    return min(consolidated, time.monotonic() + CONSOLIDATION_SHARE * left)
