"""The policy's `max_moves` held inside the move at fleet scale (`move_scale`, issue 18).

Up to 48 nodes the exact model holds the cap (`rules/moves.move_objectives`). Past them the
search from what runs changes the fleet a node or a neighbourhood at a time, and each change
is kept where it pays. With a cap, the fleet counts its replicas moved as it changes
(`MovesCounted`, in `ScaleMove.add` and `remove`, the count `moving.replicas_moved` makes of
the end state), and every place where a change is kept (`improve`'s tries, `pool_emptied.
kept_if_cheaper`, which the passes after the scatter share, and the joint steps' splice) asks
`past_cap` first: a change that ends over the cap with more moves than before it is refused
(put back as a change that does not pay). `improve` then tries the nodes in order of what
emptying them saves per replica it moves (`saving_per_move`), not the dearest first, so that
the moves the cap allows go where they save most.

Without a cap nothing is counted and no order changes (the search is as it was).
"""

from __future__ import annotations

from collections import Counter

State = dict[str, Counter]  # node -> demand name -> replicas there (`moving.State`)


class MovesCounted:
    """The replicas moved from what runs now to the fleet as it is, as `moving.replicas_moved`
    counts them: per demand, its replicas leaving nodes (and those on nodes the policy lacks)
    paired with those arriving, the moves the lesser of the two. Kept per demand as the fleet
    changes one (node, demand) count at a time (counted afresh it is ~0.1 s at 10,000 nodes,
    and a search asks after each change)."""

    def __init__(self, running_now: State, running_elsewhere: dict[str, int]) -> None:
        self.running_now = running_now
        # the fleet starts empty: everything that runs leaves, nothing has arrived
        self.leaving: Counter = Counter(running_elsewhere)
        for hosted in running_now.values():
            self.leaving.update(hosted)
        self.arriving: Counter = Counter()
        self.total = 0  # every demand's moves, as `min(leaving, arriving)` summed

    def changed(self, node: str, demand: str, before: int, after: int) -> None:
        """The node's replicas of the demand went from `before` to `after`."""
        runs = self.running_now.get(node, _NOTHING).get(demand, 0)
        was = before - runs
        now = after - runs
        leaving, arriving = self.leaving[demand], self.arriving[demand]
        moved = min(leaving, arriving)
        leaving += max(0, -now) - max(0, -was)
        arriving += max(0, now) - max(0, was)
        self.leaving[demand], self.arriving[demand] = leaving, arriving
        self.total += min(leaving, arriving) - moved


_NOTHING: Counter = Counter()


def past_cap(cap: int | None, counted: MovesCounted | None, before: int) -> bool:
    """Does the fleet now move more than the cap, and more than it did (`before`) a change?
    (A change that moves fewer is kept as it pays: what must move, `repair`'s replicas and
    the spreads restored, may come to more than the cap before the search starts.)"""
    return cap is not None and counted is not None and counted.total > max(cap, before)


def saving_per_move(price: float, moves: int) -> float:
    """What emptying a node of that price saves per replica it moves (a node whose replicas
    were all placed there by the move moves none of its own: its whole price)."""
    return price / max(1, moves)
