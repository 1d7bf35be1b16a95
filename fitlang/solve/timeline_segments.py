"""A preemptible replica's segments cut again (issue 19, session 29): the schedule made node by
node places a preemptible replica unbroken (`timeline_pack.node_schedule`), and none of the
search's moves touch it after (its pieces may not be moved one at a time). Here each such
replica is taken off its nodes and cut again into the segments that add least: each at least
`min_segment` steps, on one node that has room for it and that the limits let wake, none
overlapping, together its duration, inside its window; kept where that adds less than taking
it off saved. A dynamic programme over the window's steps: per segment [a, b) the least any
node adds for it (`_segment_costs`), then the cheapest set of segments (`_cut`).

At the goal size of the sites shape (whole-node H100 training in `fra`, ~30 such replicas) from
converged schedules: 11.4 USD on seed 1, 35.9 on seed 3, in 0.2 CPU s (docs/performance.md,
session 29, h29d): a segment moved to the cheap night hours, or unbroken one step later.
"""

from __future__ import annotations

import numpy as np

from fitlang.model.problem import Demand, Problem
from fitlang.solve.timeline_pack import EPSILON, Deadline, Ledger, Spot, need_of, past

# the nodes of a class whose segment costs are computed at once: an array of nodes x window
# steps x window steps (a 168-step window over 1,000 nodes would be 28 million floats at once)
NODES_AT_ONCE = 64


def resegmented(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline) -> list[Spot]:
    """Every preemptible replica's segments cut again where that adds less (the module's
    docstring); the spots in their order, a replica's new segments where its first piece was.
    Stops at the deadline (between replicas)."""
    pieces: dict[tuple[str, int], list[Spot]] = {}
    for spot in spots:
        if problem.demand(spot.demand).min_segment is not None:
            pieces.setdefault((spot.demand, spot.replica), []).append(spot)
    again = {}
    for (name, replica), held in pieces.items():
        if past(deadline, ledger):
            break
        again[name, replica] = _cut_again(ledger, problem.demand(name), replica, held)
    kept: list[Spot] = []
    for spot in spots:
        key = (spot.demand, spot.replica)
        if key not in again:
            kept.append(spot)
        elif spot is pieces[key][0]:
            kept += again[key]
    return kept


def _cut_again(ledger: Ledger, demand: Demand, replica: int, held: list[Spot]) -> list[Spot]:
    """One replica's pieces `held` taken off and cut again where that adds less; its pieces."""
    saved = sum(ledger.drop(spot) for spot in held)
    found = _cut(ledger, demand)
    if found is None or found[0] >= saved - EPSILON * max(1.0, saved):
        for spot in held:
            ledger.put(spot)
        return held
    need, placed = need_of(demand), []
    for class_id, node, start, end in _joined(found[1]):
        waking = ledger.running[class_id][node, start:end] == 0
        added = float(waking @ ledger.rate[class_id][start:end])
        ledger.take(class_id, node, need, start, end)
        placed.append(Spot(demand.name, replica, class_id, node, start, end, added))
    return placed


def _joined(segments: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int, int]]:
    """The segments with those that meet on the same node as one (the programme may end a
    segment and start the next one there at the same step, at the same cost)."""
    joined: list[tuple[str, int, int, int]] = []
    for class_id, node, start, end in segments:
        if joined and joined[-1][:2] == (class_id, node) and joined[-1][3] == start:
            start = joined.pop()[2]
        joined.append((class_id, node, start, end))
    return joined


def _cut(ledger: Ledger, demand: Demand) -> tuple[float, list[tuple[str, int, int, int]]] | None:
    """(what it adds, [(class, node, start, end)]) of the cheapest segments of `demand`'s
    duration in its window, each at least min_segment steps; None where none fit. best[b, k]:
    the least that k steps of segments ending by step b (of the window) add; a segment [a, b)
    of length k' adds `costs[a, b]`, so best[b, k] = min(best[b - 1, k], best[a, k - k'] +
    costs[a, b])."""
    window, least = demand.window, demand.min_segment
    assert window is not None and least is not None
    first, last, duration = window.earliest, window.latest_start + window.duration, window.duration
    width = last - first
    costs, where = _segment_costs(ledger, demand, first, last)
    best = np.full((width + 1, duration + 1), np.inf)
    best[0, 0] = 0.0
    length = np.zeros((width + 1, duration + 1), dtype=np.int64)  # the last segment's; 0: none
    for end in range(1, width + 1):
        best[end] = best[end - 1]
        for span in range(least, min(end, duration) + 1):
            tried = best[end - span, :duration + 1 - span] + costs[end - span, end]
            better = tried < best[end, span:] - 1e-12
            best[end, span:][better] = tried[better]
            length[end, span:][better] = span
    if not np.isfinite(best[width, duration]):
        return None
    segments: list[tuple[str, int, int, int]] = []
    end, left = width, duration
    while left > 0:
        span = int(length[end, left])
        if span == 0:
            end -= 1
            continue
        class_index, node = (int(value) for value in where[end - span, end])
        segments.append((demand.eligible[class_index], node, first + end - span, first + end))
        end, left = end - span, left - span
    return float(best[width, duration]), segments[::-1]


def _segment_costs(ledger: Ledger, demand: Demand, first: int, last: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """costs[a, b]: the least one node adds for a segment over [first + a, first + b) (every
    step within its room and, where it wakes, the limits; inf where no node may), and where
    [a, b]: (the class's index in `demand.eligible`, the node) that adds it."""
    width, need = last - first, need_of(demand)
    costs = np.full((width + 1, width + 1), np.inf)
    where = np.zeros((width + 1, width + 1, 2), dtype=np.int64)
    asked = ledger.asked(need)
    for class_index, class_id in enumerate(demand.eligible):
        left = ledger.capacity[class_id][asked] - need[asked]
        short = ledger._short(class_id, first, last)
        for low in range(0, ledger.running[class_id].shape[0], NODES_AT_ONCE):
            nodes = slice(low, low + NODES_AT_ONCE)
            waking = ledger.running[class_id][nodes, first:last] == 0
            blocked = ~(ledger.used[class_id][nodes, first:last][:, :, asked] <= left).all(axis=2)
            blocked |= waking & short
            blocked[:, ledger.off[class_id][first:last]] = True
            added = _pair_sums(waking * ledger.rate[class_id][first:last])
            added[_pair_sums(blocked.astype(np.int64)) > 0] = np.inf
            node = np.argmin(added, axis=0)
            cheapest = np.take_along_axis(added, node[None], axis=0)[0]
            better = cheapest < costs - 1e-12
            costs[better] = cheapest[better]
            where[better] = np.stack((np.full(node.shape, class_index), node + low), axis=-1)[better]
    return costs, where


def _pair_sums(values: np.ndarray) -> np.ndarray:
    """[node, a, b]: the sum of the node's values over columns a..b-1 (b > a; else <= 0)."""
    sums = np.concatenate((np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)), axis=1)
    return sums[:, None, :] - sums[:, :, None]
