"""`improve`'s scatter passes run twice, from the free-node search as it stands and from a
search that finds the nodes closed behind it, the lower plan kept (`fitc plan` past
`LARGE_NODES` nodes; issue 18).

`ScaleMove.free_node` resumes where its last search ended, so a node a try opens and closes
again, or a node `improve` empties, is not offered again: on the scatter passes this acts as
an accidental cap on how often a class's nodes are opened. Searching from the start of each
class and back to each node closed (`ScaleMove.refind_closed`) opens more, and the passes'
greedy choices then swing the plan either way (inventory 10,000, h32i: seeds 2 / 5 / 6 1.6 /
1.3 / 200 USD/h cheaper, seeds 0 / 4 3.7 / 3.0 dearer). Neither search is better on every
fleet, so both run from the same fleet: the first one's changes (`ScaleMove.journal`) are
priced exactly (`journal_change`) and put back (`restore`), the second's priced, and the
fleet ends in the lower of the two (the first's on a tie: the plan as before).
"""

from __future__ import annotations

import time
from collections import Counter

from fitlang.solve.move_scale import ScaleMove, Settled
from fitlang.solve.pool_emptied import Journal, JournalMoves, journal_change, restore


def scatter_both(fleet: ScaleMove, objective: str, deadline: float | None, passes: int | None,
                 settled: Settled | None) -> bool:
    """The scatter passes (`ScaleMove.improve` with `scatter`) from the search as it stands,
    then, if the deadline has not passed, from one that finds closed nodes (both end by the
    deadline), the fleet left in the lower; returns whether that is the second."""
    bought = set(fleet.bought)
    moves = JournalMoves(fleet) if objective == "cost+moves" else None
    first = _scattered(fleet, deadline, passes, _copy(settled))
    if deadline is not None and time.monotonic() > deadline:
        return False  # (no time for the second: the first's end kept, as before)
    first_change = journal_change(fleet, first, bought, moves)
    first_end: Journal = {name: Counter(fleet.nodes[name].hosted) if name in fleet.nodes else Counter()
                          for name in first}
    restore(fleet, first)
    fleet.next_free.clear()  # (every node before the search's start in use, as `close` keeps it)
    fleet.refind_closed = True
    try:
        second = _scattered(fleet, deadline, passes, _copy(settled))
    finally:
        fleet.refind_closed = False
    if journal_change(fleet, second, bought, moves) < first_change:
        return True
    restore(fleet, second)
    restore(fleet, first_end)  # (the first's end, each node it changed as it left it)
    return False


def _scattered(fleet: ScaleMove, deadline: float | None, passes: int | None,
               settled: Settled | None) -> Journal:
    """The scatter passes, their changes journalled."""
    journal: Journal = {}
    fleet.journal = journal
    try:
        fleet.improve(deadline, scatter=True, passes=passes, settled=settled)
    finally:
        fleet.journal = None
    return journal


def _copy(settled: Settled | None) -> Settled | None:
    """The nodes whose tries failed, for one run (`improve` adds to them)."""
    return None if settled is None else Settled(dict(settled.plain), dict(settled.scatter))
