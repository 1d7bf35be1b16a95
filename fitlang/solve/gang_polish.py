"""Whole gangs moved onto bought accelerator nodes on the first guided pass that places every
replica, before its consolidation (issue 15, the accelerator-heavy shape at 10,000 nodes).

`gang_bought.gangs_onto_bought` ran first in the search (`placement._searched`), but at 5 s the
first complete guided pass and its polish end at the search's deadline on `bench/ai_fleet.py`
10,000 seeds 12 / 14 (CPU clock, session 42: the pass 3.7-4.9 CPU s, its consolidation
4.9-5.1), so the search and the move never ran. The move on that pass: seed 14 two gangs,
102,918 -> 102,313 USD/h in 0.26 CPU s (its consolidation alone: 102,631 in 0.21 s), seed 12 one
gang, 102,682 -> 102,463 in 0.09 s (consolidation alone 102,653); seeds 2 / 16 have no gang that
gains (0.01 s). Before the consolidation, not after it: where the time left holds one of the
two, the move gains more (above), and its closing of the dearest nodes into the room it leaves
is a consolidation of those already.
"""

from __future__ import annotations

import time

from fitlang.model.problem import Problem
from fitlang.solve.aggregate import remaining
from fitlang.solve.gang_bought import gangs_onto_bought
from fitlang.solve.improve import _past
from fitlang.solve.pack import Packing

# the share of the time left before the deadline the move may take; the rest is the consolidation's
GANG_POLISH_SHARE = 0.5
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
