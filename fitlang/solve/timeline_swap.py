"""Moves of several runs at once (issue 19): two replicas of a class exchange nodes, and a
node's block of runs shifted together in time.

The search's moves (`timeline_pack`) take one replica, or empty one node's block, each placed
again where it adds least with the rest of the schedule as it stands. Where nodes are full,
neither reaches a schedule that needs two replicas to move at once:

- a swap: replica A on node n and B on node m (one class; each keeps its steps) exchange
  nodes. n holds A [0, 10) beside C [0, 20), m holds B [0, 20) beside D [0, 10): after the
  swap n holds B and C over [0, 20) and m holds A and D over [0, 10), so m sleeps over
  [10, 20). Neither moves alone where m has no room for A while B is on it.
- a shift: the replicas of one node's awake block all moved by the same number of steps on
  that node (each within its window): the block goes to cheaper hours as a whole, where
  moving any one of them alone frees no step (the others keep the node awake).

Every move goes through the `Ledger` (capacity at every step, power caps, budget and buy
limits), and is kept only where the ledger's total falls: a schedule kept is one it accepts.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.timeline_pack import EPSILON, Ledger, Spot, need_of, run_of

# a replica's swap looks at this many partners, those that would add least on its node first
# (a count, not a time: the same input gives the same schedule)
PARTNERS = 6


def swapped(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: float | None
            ) -> list[Spot]:
    """One pass of swaps (`_swap`) over every replica whose leaving frees some of its node's
    steps, the most freed first; until the deadline. Preemptible replicas stay."""
    spots = list(spots)
    movable = [index for index, spot in enumerate(spots)
               if problem.demand(spot.demand).min_segment is None]
    by_class: dict[str, list[int]] = {}
    for index in movable:
        by_class.setdefault(spots[index].class_id, []).append(index)
    for index in _alone_first(ledger, spots, movable):
        if deadline is not None and time.monotonic() > deadline:
            break
        partner = _swap(problem, ledger, spots, index, by_class[spots[index].class_id])
        if partner is not None:
            spots[index], spots[partner] = (replace(spots[index], node=spots[partner].node, added=0.0),
                                            replace(spots[partner], node=spots[index].node, added=0.0))
    return spots


def _alone_first(ledger: Ledger, spots: list[Spot], movable: list[int]) -> list[int]:
    """`movable` with some step alone on its node, those alone the most steps first."""
    alone = []
    for index in movable:
        spot = spots[index]
        steps = int((ledger.running[spot.class_id][spot.node, spot.start:spot.end] == 1).sum())
        if steps:
            alone.append((-steps, index))
    alone.sort()
    return [index for _, index in alone]


def _swap(problem: Problem, ledger: Ledger, spots: list[Spot], index: int, same_class: list[int]
          ) -> int | None:
    """Spot `index` (A on node n) and the partner (B on node m != n) whose exchange of nodes
    saves most among the first PARTNERS by what B adds on n; the swap made and the partner's
    index returned, or None with the ledger as it was."""
    a = spots[index]
    need_a = need_of(problem.demand(a.demand))
    saved_a = ledger.release(a.class_id, a.node, need_a, a.start, a.end)
    best: tuple[float, int] | None = None
    if saved_a > EPSILON:
        for partner in _partners(ledger, spots, a, same_class, saved_a):
            gain = _exchange_gain(problem, ledger, spots[partner], a, need_a, saved_a)
            if gain is not None and (best is None or gain > best[0]):
                best = gain, partner
    if best is None:
        ledger.take(a.class_id, a.node, need_a, a.start, a.end)
        return None
    b = spots[best[1]]
    need_b = need_of(problem.demand(b.demand))
    ledger.release(b.class_id, b.node, need_b, b.start, b.end)
    ledger.take(b.class_id, a.node, need_b, b.start, b.end)
    ledger.take(a.class_id, b.node, need_a, a.start, a.end)
    return best[1]


def _partners(ledger: Ledger, spots: list[Spot], a: Spot, same_class: list[int], saved_a: float
              ) -> list[int]:
    """Replicas of A's class on other nodes that would add less on A's node (A off it) than
    A's leaving saved, the least first, at most PARTNERS of them."""
    asleep = ledger.running[a.class_id][a.node] == 0
    paid = np.concatenate(([0.0], np.cumsum(asleep * ledger.rate[a.class_id])))
    indices = np.array(same_class)
    starts = np.array([spots[i].start for i in same_class])
    ends = np.array([spots[i].end for i in same_class])
    nodes = np.array([spots[i].node for i in same_class])
    added = paid[ends] - paid[starts]
    chosen = np.flatnonzero((nodes != a.node) & (added < saved_a - EPSILON))
    chosen = chosen[np.lexsort((chosen, added[chosen]))][:PARTNERS]
    return [int(i) for i in indices[chosen]]


def _exchange_gain(problem: Problem, ledger: Ledger, b: Spot, a: Spot, need_a: np.ndarray,
                   saved_a: float) -> float | None:
    """What exchanging B's node with A's (A already off its node) saves, where both fit; None
    where it does not fit or saves nothing. The ledger is as it was after."""
    need_b = need_of(problem.demand(b.demand))
    saved_b = ledger.release(b.class_id, b.node, need_b, b.start, b.end)
    gain = None
    if _fits_on(ledger, b.class_id, a.node, need_b, b.start, b.end):
        added_b = _waking_cost(ledger, b.class_id, a.node, b.start, b.end)
        ledger.take(b.class_id, a.node, need_b, b.start, b.end)
        if _fits_on(ledger, a.class_id, b.node, need_a, a.start, a.end):
            added_a = _waking_cost(ledger, a.class_id, b.node, a.start, a.end)
            saving = saved_a + saved_b - added_a - added_b
            gain = saving if saving > EPSILON * max(1.0, saved_a + saved_b) else None
        ledger.release(b.class_id, a.node, need_b, b.start, b.end)
    ledger.take(b.class_id, b.node, need_b, b.start, b.end)
    return gain


def _fits_on(ledger: Ledger, class_id: str, node: int, need: np.ndarray, start: int, end: int
             ) -> bool:
    """A replica needing `need` fits on this node over [start, end): its capacity at every
    step, and where it wakes the node, the caps, budget and buy limits (`Ledger.nodes`'s
    checks, for one node)."""
    if ledger.off[class_id][start:end].any():
        return False
    if (ledger.used[class_id][node, start:end] + need > ledger.capacity[class_id]).any():
        return False
    waking = ledger.running[class_id][node, start:end] == 0
    return not (waking & ledger._short(class_id, start, end)).any()


def _waking_cost(ledger: Ledger, class_id: str, node: int, start: int, end: int) -> float:
    waking = ledger.running[class_id][node, start:end] == 0
    return float(waking @ ledger.rate[class_id][start:end])


def shifted(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: float | None
            ) -> list[Spot]:
    """One pass of shifts over every node's awake blocks (`timeline_pack._blocks`' order):
    the replicas running on a node in a block all moved by the offset, the same for each and
    within every one's window, that saves most (`_best_offset`); until the deadline.
    Preemptible replicas stay (a block holding one is skipped)."""
    from fitlang.solve.timeline_pack import _blocks
    spots = list(spots)
    where: dict[tuple[str, int], set[int]] = {}
    for index, spot in enumerate(spots):
        where.setdefault((spot.class_id, spot.node), set()).add(index)
    for class_id, node, first, last in _blocks(ledger):
        if deadline is not None and time.monotonic() > deadline:
            break
        held = sorted(index for index in where.get((class_id, node), ())
                      if spots[index].start < last and spots[index].end > first)
        if not held or any(problem.demand(spots[i].demand).min_segment is not None for i in held):
            continue
        offset = _best_offset(problem, ledger, [spots[i] for i in held])
        for index in held if offset else ():
            spot = spots[index]
            spots[index] = replace(spot, start=spot.start + offset, end=spot.end + offset, added=0.0)
    return spots


def _best_offset(problem: Problem, ledger: Ledger, held: list[Spot]) -> int:
    """The offset that saves most moving every spot of `held` (one node's) by it, taken on the
    ledger; 0 (the ledger as it was) where none saves."""
    low, high = _offsets(problem, held)
    needs = [need_of(problem.demand(spot.demand)) for spot in held]
    best, best_saving = 0, 0.0
    for offset in (o for o in range(low, high + 1) if o):
        saving = _moved_by(ledger, held, needs, offset)
        if saving is not None and saving > best_saving + EPSILON * max(1.0, best_saving):
            best, best_saving = offset, saving
    if best:
        _moved_by(ledger, held, needs, best, keep=True)
    return best


def _offsets(problem: Problem, held: list[Spot]) -> tuple[int, int]:
    """The offsets every spot of `held` may move by within its run's window."""
    low, high = -10**9, 10**9
    for spot in held:
        demand = problem.demand(spot.demand)
        window = demand.windows[run_of(demand, spot.start)]
        low = max(low, window.earliest - spot.start)
        high = min(high, window.latest_start - spot.start)
    return low, high


def _moved_by(ledger: Ledger, held: list[Spot], needs: list[np.ndarray], offset: int,
              keep: bool = False) -> float | None:
    """What moving `held` by `offset` on its node saves (None: it does not fit there); the
    ledger as it was after, unless `keep` (then the move stays)."""
    saved = sum(ledger.release(s.class_id, s.node, need, s.start, s.end) for s, need in zip(held, needs))
    added, taken = 0.0, []
    for spot, need in zip(held, needs):
        start, end = spot.start + offset, spot.end + offset
        if not _fits_on(ledger, spot.class_id, spot.node, need, start, end):
            break
        added += _waking_cost(ledger, spot.class_id, spot.node, start, end)
        ledger.take(spot.class_id, spot.node, need, start, end)
        taken.append((spot, need, start, end))
    fits = len(taken) == len(held)
    if keep and fits:
        return saved - added
    for spot, need, start, end in taken:
        ledger.release(spot.class_id, spot.node, need, start, end)
    for spot, need in zip(held, needs):
        ledger.take(spot.class_id, spot.node, need, spot.start, spot.end)
    return saved - added if fits else None
