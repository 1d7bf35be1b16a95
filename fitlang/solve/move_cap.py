"""The policy's `max_moves` held inside the move at fleet scale (`move_scale`, issue 18).

Up to 48 nodes the exact model holds the cap (`rules/moves.move_objectives`). Past them the
search from what runs changes the fleet a node or a neighbourhood at a time, and each change
is kept where it pays. With a cap, the fleet counts its replicas moved as it changes
(`MovesCounted`, in `ScaleMove.add` and `remove`, the count `moving.replicas_moved` makes of
the end state), and every place where a change is kept (`improve`'s tries, `pool_emptied.
kept_if_cheaper`, which the passes after the scatter share, and the joint steps' splice) asks
`past_cap` first: a change that ends over the cap with more moves than before it is refused
(put back as a change that does not pay).

The cap alone would give its moves to the first changes that pay. So that they go where they
save most per replica moved, the changes are weighed with a price per move on top of
`move_price` (`ScaleMove.shadow`, in `_change_price` and `kept_if_cheaper`; the objective is
not charged it): `improve_within_cap` starts it where emptying the nodes by their price per
move would reach the cap (`first_shadow`) and halves it until the moves reach a share of the
cap; the passes after weigh their changes at that price; then `fill_cap` halves it again down
to none, before the regroups, until the moves reach the cap. `improve` tries the nodes in
order of what emptying them saves per replica it moves (`saving_per_move`), not the dearest
first.

Without a cap nothing is counted and no order changes (the search is as it was).
"""

from __future__ import annotations

import time
from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fitlang.solve.move_scale import ScaleMove, Settled

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


# the prices per replica moved `improve_within_cap` weighs the changes by: the first, then
# halved this many times, then none
SHADOW_HALVINGS = 6
# the share of the cap the first `improve` may take: at that price per move the passes after
# it (options traded, nodes scattered) weigh their changes too, and the rest of the cap is
# spent after them (`fill_cap`; inventory 10,000 no-drain plan 37, `max_moves = 174`: 0.3 /
# 0.5 647.04 / 649.63 USD/h, the same at 868 and on two other fleets)
FIRST_SHARE = 0.3


def improve_within_cap(fleet: ScaleMove, deadline: float | None) -> Settled:
    """`improve`, where the policy caps the moves, first with a price per replica moved on
    top of `move_price` (`ScaleMove.shadow`: the changes weighed by it, the objective not
    charged it), then with it halved, and so on, until the moves reach `FIRST_SHARE` of what
    the cap leaves (that price then stays for the passes after: they weigh their changes
    alike, and `fill_cap` spends the rest) or it is none. So the moves the cap allows go
    first to the changes that save most per replica moved; with the cap alone, the first
    changes found took them (inventory 10,000 no-drain plan 37, `max_moves = 174`: 655.07
    USD/h, where `move_price = 0.2` alone moved 80 replicas for 26.5 of node cost; now
    647.04)."""
    if fleet.cap is None or fleet.moved() >= fleet.cap:
        return fleet.improve(deadline)
    shadow = first_shadow(fleet)
    most = fleet.moved() + FIRST_SHARE * (fleet.cap - fleet.moved())
    for _ in range(SHADOW_HALVINGS + 1):
        fleet.shadow = shadow
        settled = fleet.improve(deadline)
        if fleet.moved() >= most or (deadline is not None and time.monotonic() > deadline):
            return settled
        shadow /= 2
    fleet.shadow = Fraction(0)
    return fleet.improve(deadline)


def fill_cap(fleet: ScaleMove, deadline: float | None) -> None:
    """After the scatter passes, what the cap still allows: `improve`'s tries (scattering
    too) with the price per move halved in turn, down to none, until the moves reach the cap
    (placed after the regroups, it found no time left: 72 of 174 moves taken, 656.73 USD/h
    against 647.04)."""
    if fleet.cap is None or not fleet.shadow:
        return
    for halving in range(SHADOW_HALVINGS + 1):
        if fleet.moved() >= fleet.cap or (deadline is not None and time.monotonic() > deadline):
            return
        fleet.shadow = fleet.shadow / 2 if halving < SHADOW_HALVINGS else Fraction(0)
        fleet.improve(deadline, scatter=True, passes=1)


def first_shadow(fleet: ScaleMove) -> Fraction:
    """The first price per replica moved: were the nodes in use emptied in order of their
    price per replica of theirs that moves, the ratio at which their moves reach the cap
    left (emptying a node saves at most its price: fewer changes pay at this price than
    the cap allows, and the halvings after take the rest)."""
    ratios: list[tuple[Fraction, int]] = []
    for node in fleet._movable_nodes():
        now = fleet.running_now.get(node.name, _NOTHING)
        moves = sum(min(count, now[d]) for d, count in node.hosted.items())
        ratios.append((node.node_class.price / max(1, moves), moves))
    ratios.sort(key=lambda item: -item[0])
    left = fleet.cap - fleet.moved() if fleet.cap is not None else 0
    for ratio, moves in ratios:
        left -= moves
        if left <= 0:
            return ratio
    return ratios[-1][0] if ratios else Fraction(0)
