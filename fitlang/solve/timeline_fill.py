"""A few of a site's emptiest nodes over a window, their replicas taken off together and the
nodes filled again one at a time (issue 19): a neighbourhood across a site's classes, placed by
a greedy cover rather than a MIP.

What is left of the sites shape's gap is whole nodes paid per step and runs that hold their
node: 24-CPU replicas alone on 32-CPU nodes where four of them fill a 96-CPU node of the same
site. No move of one replica, one block or one run pays for gathering them (the first to move
wakes the large node alone), and `timeline_reschedule`'s exact solve of such a neighbourhood
closes no root in a CPU s at 1,000 nodes. Here, per site (the classes under one power cap) and
window of WINDOW steps, the awake nodes that leave most of themselves unused in it (in
shares of a node, not priced: a large node half full is not the loss a small one a quarter
full is, and ranked by price the large nodes' neighbourhoods held 60-120 replicas), in groups
of NODES down that list (the first GROUPS groups), give up the replicas they run in it (whole
runs); a neighbourhood of more than MOST_HELD is left. Then,
round after round, every candidate node (the neighbourhood's own, and SPARES asleep ones of
each of the site's classes) is filled by what is left, the largest first, each at the start
within SHIFT of its own that wakes least there; the node whose fill wakes least per unit of
the work it takes (each replica's fluid price: its share of the cheapest of the site's classes
it may use, at that class's rates over its run) is taken. What fits none of them goes where
it adds least anywhere (`place_cheapest`). Kept where the whole wakes less than emptying the
nodes saved; every move through the ledger, so the caps, the budget and the buy limits hold.

Measured from the search's schedules (docs/performance.md, session 53): 1,000 nodes at 22 CPU
s -19.4 USD in 0.7 CPU s (the search there: -37.6 in 8.1), 400 nodes converged -40.5 in 0.3
(the exact neighbourhoods: -26.5 in 10.6), 100 nodes converged -24 to -94 in 0.2-0.4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.timeline_pack import (
    EPSILON,
    Deadline,
    Ledger,
    Spot,
    _reach,
    moved_in,
    past,
    place_cheapest,
    run_of,
)
from fitlang.solve.timeline_reschedule import Hood, _families
from fitlang.solve.timeline_resume import Progress

# a neighbourhood: this many of a site's emptiest awake nodes over WINDOW steps (every half
# window), its replicas free to start up to SHIFT steps earlier or later; from the search's
# schedules (1,000 nodes at 22 CPU s, 400 converged): 4 x 12 -19.4 / -40.5, 6 x 12 -13.6 / -,
# 3 x 8 -7.5 / -, 6 x 24 (at most 24 replicas) -0 / -0
NODES = 4
WINDOW = 12
SHIFT = 2
# a neighbourhood holding more replicas than this is left: the cover's choices stray from the
# schedule's the more it places (1,000 nodes: the same -19.4 USD at 16 and 32, in 0.7 / 5.1
# CPU s; 400: -40.5 / -43.2 in 0.3 / 2.9)
MOST_HELD = 16
# the asleep nodes of each of the site's classes offered beside the neighbourhood's own (2 or
# 4: the same gains), and TAKERS awake nodes, those with the most room after the
# neighbourhood's (1,000 nodes at 10 CPU s: -13.7 USD with 6, -3.8 with none)
SPARES = 2
TAKERS = 6
# per site and window, the first GROUPS groups of NODES down the emptiest list, each a
# neighbourhood (the takers of each: the TAKERS nodes after it): the emptiest four alone are
# often a group nothing gathers (replicas held to their hour), and the next ones are not. From
# the search's schedule at 10 CPU s (1,000 nodes, seeds 1 / 3): 1 group -3.8 / -6.7 USD in
# 0.3 CPU s, 3 groups -30.6 / -25.5 in 0.9 / 1.2, 8 groups -56.3 / -42.0 in 4.4 (the search
# there gains ~25 USD a CPU s); 100 nodes converged 9,722.26 -> 9,699.70 with 3
GROUPS = 3


@dataclass
class _Held:
    """A replica taken off: its spot, need, the classes it may use, the starts it may take
    (its own first) and its fluid price (what it is worth filling a node with)."""

    spot: Spot
    need: np.ndarray
    eligible: frozenset[str]
    starts: list[int]
    worth: float


def filled(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
           progress: Progress | None = None) -> list[Spot]:
    """Each neighbourhood (`windowed`, the emptiest first) filled again (`_filled_again`) and
    kept where cheaper, until the deadline; one that did not pay is not tried again while
    nothing it reads changed (`Ledger.unchanged`). `progress`: how far a pass over the same
    schedule got before."""
    spots = list(spots)
    where: dict[tuple[str, int], set[int]] = {}
    for index, spot in enumerate(spots):
        where.setdefault((spot.class_id, spot.node), set()).add(index)
    families = _families(problem, ledger, "site")
    for hood, takers in (progress or Progress()).through(lambda: windowed(ledger, families),
                                                         lambda: past(deadline, ledger)):
        held = sorted(index for key in hood.nodes for index in where.get(key, ())
                      if spots[index].start < hood.last and hood.first < spots[index].end
                      and problem.demand(spots[index].demand).min_segment is None)
        if not 2 <= len(held) <= MOST_HELD:
            continue
        family = next(f for f in families if hood.nodes[0][0] in f)
        key = ("fill", hood, *takers, *(spots[index] for index in held))
        classes, first, last = _reach(problem, [spots[index] for index in held])
        if ledger.unchanged(key, classes | set(family), first, last):
            continue
        moved = _filled_again(problem, ledger, [spots[index] for index in held], hood, family, takers)
        if moved is None:
            ledger.unpaid(key)
        else:
            moved_in(spots, where, held, moved)
    return spots


def windowed(ledger: Ledger, families: list[list[str]]) -> list[tuple[Hood, list[tuple[str, int]]]]:
    """Per site (`families`) and window of WINDOW steps (every half window), its awake nodes
    by their unused share (1 - the busiest resource's, summed over the window's steps), the
    most first, in GROUPS groups of NODES, each with the TAKERS after it; the neighbourhoods
    that leave most unused first."""
    steps = ledger.spent.shape[0]
    width = min(WINDOW, steps)
    found: list[tuple[float, Hood, list[tuple[str, int]]]] = []
    for family in families:
        unused = {c: np.cumsum(_unused_share(ledger, c), axis=1) for c in family
                  if ledger.running[c].shape[0]}
        for first in sorted({*range(0, steps - width + 1, max(1, width // 2)), steps - width}):
            keyed = []
            for class_id, sums in unused.items():
                within = sums[:, first + width - 1] - (sums[:, first - 1] if first else 0.0)
                keyed += [(float(w), class_id, int(n)) for n, w in enumerate(within) if w > EPSILON]
            keyed.sort(key=lambda item: (-item[0], item[1], item[2]))
            for at in range(0, GROUPS * NODES, NODES):
                group = keyed[at:at + NODES]
                if len(group) >= 2:
                    found.append((sum(w for w, _, _ in group),
                                  Hood(tuple(sorted((c, n) for _, c, n in group)), first, first + width),
                                  [(c, n) for _, c, n in keyed[at + NODES:at + NODES + TAKERS]]))
    found.sort(key=lambda item: (-item[0], item[1].first, item[1].nodes))
    return [(hood, takers) for _, hood, takers in found]


def _unused_share(ledger: Ledger, class_id: str) -> np.ndarray:
    """Per node and step: 1 - its busiest resource's share where it is awake, 0 asleep."""
    capacity = np.maximum(ledger.capacity[class_id], 1)
    asked = ledger.capacity[class_id] > 0
    fill = (ledger.used[class_id][:, :, asked] / capacity[asked]).max(axis=2)
    return np.where(ledger.running[class_id] > 0, 1 - np.minimum(fill, 1), 0.0)


def _filled_again(problem: Problem, ledger: Ledger, held: list[Spot], hood: Hood, family: list[str],
                  takers: list[tuple[str, int]]) -> list[Spot] | None:
    """`held` taken off and placed again node by node (`_best_fill`); the new spots where they
    wake less than `held` did, else None with the ledger as it was (put back by copies)."""
    ledger.tried()
    saved = sum(ledger.drop(spot) for spot in held)
    left = [_held(problem, ledger, spot, family) for spot in held]
    order = sorted(range(len(left)), key=lambda i: (-left[i].worth, i))
    candidates = list(hood.nodes) + takers + _spares(ledger, family, hood)
    placed: dict[int, Spot] = {}
    added = 0.0
    while order and added < saved - EPSILON:
        best = _best_fill(ledger, [left[i] for i in order], candidates)
        if best is None:  # it fits none of the candidates: where it adds least anywhere
            spot = left[order[0]].spot
            demand = problem.demand(spot.demand)
            again = place_cheapest(ledger, demand, spot.replica, demand.windows[run_of(demand, spot.start)])
            if again is None:
                break
            placed[order.pop(0)], added = again, added + again.added
            continue
        (class_id, node), picks, woken = best
        for position, start in picks:
            spot = left[order[position]].spot
            end = start + spot.end - spot.start
            ledger.take(class_id, node, left[order[position]].need, start, end)
            placed[order[position]] = Spot(spot.demand, spot.replica, class_id, node, start, end)
        added += woken
        taken = {position for position, _ in picks}
        order = [index for position, index in enumerate(order) if position not in taken]
    if not order and added < saved - EPSILON * max(1.0, saved):
        ledger.kept()
        return [placed[index] for index in range(len(held))]
    ledger.untried()
    return None


def _held(problem: Problem, ledger: Ledger, spot: Spot, family: list[str]) -> _Held:
    """A replica taken off, its starts within SHIFT of its own (inside its run's window, the
    nearest first) and its fluid price on the family's classes it may use."""
    demand = problem.demand(spot.demand)
    window = demand.windows[run_of(demand, spot.start)]
    starts = sorted((start for start in range(spot.start - SHIFT, spot.start + SHIFT + 1)
                     if window.earliest <= start <= window.latest_start),
                    key=lambda start: (abs(start - spot.start), start))
    need = ledger.need(spot.demand)
    worth = min((float((need / np.maximum(ledger.capacity[c], 1)).max())
                 * float(ledger.rate[c][spot.start:spot.end].sum())
                 for c in family if c in demand.eligible), default=0.0)
    return _Held(spot, need, frozenset(demand.eligible), starts, worth)


def _spares(ledger: Ledger, family: list[str], hood: Hood) -> list[tuple[str, int]]:
    """Up to SPARES nodes of each of the family's classes asleep over the neighbourhood's
    window: room to gather replicas on."""
    found = []
    for class_id in family:
        asleep = np.flatnonzero(~(ledger.running[class_id][:, hood.first:hood.last] > 0).any(axis=1))
        found += [(class_id, int(node)) for node in asleep[:SPARES]]
    return found


def _best_fill(ledger: Ledger, left: list[_Held], candidates: list[tuple[str, int]]
               ) -> tuple[tuple[str, int], list[tuple[int, int]], float] | None:
    """The candidate node whose fill (`_fill`) wakes least per unit of the work it takes, the
    more work among equals: (node, its picks (position in `left`, start), what it wakes);
    None where none takes any."""
    steps = ledger.spent.shape[0]
    shorts: dict[str, np.ndarray] = {}  # per class, the steps it may not wake a node at
    best: tuple[float, float, int] | None = None
    found: tuple[tuple[str, int], list[tuple[int, int]], float] | None = None
    for rank, (class_id, node) in enumerate(candidates):
        if class_id not in shorts:
            shorts[class_id] = ledger._short(class_id, 0, steps) | ledger.off[class_id]
        picks, woken = _fill(ledger, class_id, node, left, shorts[class_id])
        if not picks:
            continue
        worth = sum(left[position].worth for position, _ in picks)
        key = (woken / max(worth, EPSILON), -worth, rank)
        if best is None or key < best:
            best, found = key, ((class_id, node), picks, woken)
    return found


def _fill(ledger: Ledger, class_id: str, node: int, left: list[_Held], short: np.ndarray
          ) -> tuple[list[tuple[int, int]], float]:
    """`left` (the largest first) put on the node where each fits, each at the start of its
    own that wakes least there (the nearest among equals), on copies of the node's rows:
    (the picks, position in `left` and start; what the node's newly awake steps cost). A
    step of `short` is one where waking the node breaks a limit (only this node wakes)."""
    capacity = ledger.capacity[class_id]
    used = ledger.used[class_id][node].copy()
    awake = ledger.running[class_id][node] > 0
    was = awake.copy()
    rate = ledger.rate[class_id]
    picks: list[tuple[int, int]] = []
    for position, item in enumerate(left):
        if class_id not in item.eligible:
            continue
        asked = ledger.asked(item.need)
        duration = item.spot.end - item.spot.start
        chosen: tuple[float, int] | None = None
        for start in item.starts:
            end = start + duration
            waking = ~awake[start:end]
            if (waking & short[start:end]).any():
                continue
            if (used[start:end][:, asked] + item.need[asked] > capacity[asked]).any():
                continue
            cost = float(rate[start:end][waking].sum())
            if chosen is None or cost < chosen[0] - EPSILON:
                chosen = (cost, start)
        if chosen is None:
            continue
        start = chosen[1]
        used[start:start + duration] += item.need
        awake[start:start + duration] = True
        picks.append((position, start))
    return picks, float(rate[awake & ~was].sum())
