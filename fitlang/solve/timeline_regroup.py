"""Fragments packed away exactly (issue 19): a few nodes of a class over a window of steps,
their replicas assigned again to them by a small MIP.

A replica keeps its node for its whole run, so a class's nodes can be part-empty at steps
where its work would fit on fewer nodes (the "fragments" of `bench/timing_sites_waste.py`).
The search's moves (`timeline_pack`: one replica, one node's block, the class packed again
greedily) each take the rest of the schedule as it stands, and stop where no single one of
them pays. This takes a neighbourhood, `NODES` nodes of one class over `WINDOW` steps, and
solves the assignment of the replicas that run within it (their steps fixed; each may go to
any of those nodes) exactly: the least awake node-steps x rate within every node's capacity
at every step and the per-step limits (power caps, budget, buy limits: the headroom the rest
of the schedule leaves, from the `Ledger`). Spliced back where cheaper; every replica goes
back through the ledger's own check of its node, so a schedule kept is one it accepts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy.sparse import coo_matrix

from fitlang.model.problem import Problem
from fitlang.solve.backends import _native_stdout_silenced
from fitlang.solve.timeline_pack import EPSILON, Ledger, Spot, _restore, need_of

# a neighbourhood: this many nodes of a class over this many steps (larger ones find more but
# the MIP's time grows fast: measured in docs/performance.md, session 16)
NODES = 4
WINDOW = 24
# HiGHS's branch and bound on one neighbourhood stops after this many nodes: a count, not a
# time, so the same input gives the same answer (most close at the root)
NODE_LIMIT = 200


@dataclass(frozen=True)
class Neighbourhood:
    class_id: str
    nodes: tuple[int, ...]
    first: int  # the window's steps: [first, last)
    last: int


def regrouped(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: float | None,
              nodes: int = NODES, window: int = WINDOW) -> list[Spot]:
    """Each neighbourhood that shows fragments (`neighbourhoods`) solved exactly
    (`_reassigned`) and kept where cheaper; until the deadline."""
    spots = list(spots)
    where: dict[tuple[str, int], set[int]] = {}
    for index, spot in enumerate(spots):
        where.setdefault((spot.class_id, spot.node), set()).add(index)
    for hood in neighbourhoods(ledger, nodes, window):
        if deadline is not None and time.monotonic() > deadline:
            break
        held = sorted(index for node in hood.nodes for index in where.get((hood.class_id, node), ())
                      if hood.first <= spots[index].start and spots[index].end <= hood.last
                      and problem.demand(spots[index].demand).min_segment is None)
        if len(held) < 2:
            continue
        moved = _reassigned(problem, ledger, [spots[i] for i in held], hood)
        if moved is None:
            continue
        for index, spot in zip(held, moved):
            where[spots[index].class_id, spots[index].node].discard(index)
            where.setdefault((spot.class_id, spot.node), set()).add(index)
            spots[index] = spot
    return spots


def neighbourhoods(ledger: Ledger, nodes: int, window: int) -> list[Neighbourhood]:
    """Per class and window of steps (half-overlapping), where the class has nodes awake
    beyond what its load needs (a fragment: more awake than the whole nodes its busiest
    resource's load fills), the `nodes` awake nodes the least filled over the window; the
    dearest fragments first."""
    found: list[tuple[float, Neighbourhood]] = []
    for class_id, running in ledger.running.items():
        count, steps = running.shape
        if count < 2:
            continue
        capacity = np.maximum(ledger.capacity[class_id], 1)
        share = ledger.used[class_id] / capacity  # (node, step, resource)
        awake = running > 0
        needed = np.ceil(share.sum(axis=0).max(axis=1) - 1e-9)  # whole nodes per step
        fragments = np.maximum(awake.sum(axis=0) - needed, 0) * ledger.rate[class_id]
        fill = share.max(axis=2)
        for first in range(0, max(1, steps - window // 2), max(1, window // 2)):
            last = min(steps, first + window)
            waste = float(fragments[first:last].sum())
            if waste <= EPSILON:
                continue
            # the nodes holding most empty room while awake over the window
            empty = ((1 - fill[:, first:last]) * awake[:, first:last]) @ ledger.rate[class_id][first:last]
            chosen = [int(n) for n in np.argsort(-empty, kind="stable")[:nodes] if empty[n] > EPSILON]
            if len(chosen) >= 2:
                found.append((-waste, Neighbourhood(class_id, tuple(sorted(chosen)), first, last)))
    found.sort(key=lambda item: (item[0], item[1].class_id, item[1].first))
    return [hood for _, hood in found]


def _reassigned(problem: Problem, ledger: Ledger, held: list[Spot], hood: Neighbourhood
                ) -> list[Spot] | None:
    """`held` taken off and assigned again to the neighbourhood's nodes by the MIP; the new
    spots when they cost less than `held` did, else None with the ledger as it was."""
    saved = sum(ledger.drop(spot) for spot in held)
    assignment = _solved(problem, ledger, held, hood, saved)
    if assignment is not None:
        again = [replace(spot, node=node, added=0.0) for spot, node in zip(held, assignment)]
        if _put_checked(problem, ledger, again):
            return again
    for spot in held:
        ledger.put(spot)
    return None


def _put_checked(problem: Problem, ledger: Ledger, again: list[Spot]) -> bool:
    """Each spot put on its node where the ledger says it fits (capacity and every limit);
    False with the ledger as before the first (one did not fit)."""
    placed: list[Spot] = []
    for spot in again:
        fits, _ = ledger.nodes(spot.class_id, need_of(problem.demand(spot.demand)), spot.start, spot.end)
        if not fits.size or not fits[spot.node]:
            _restore(ledger, [], placed)
            return False
        ledger.put(spot)
        placed.append(spot)
    return True


def _solved(problem: Problem, ledger: Ledger, held: list[Spot], hood: Neighbourhood,
            saved: float) -> list[int] | None:
    """The node (of the neighbourhood's) of each of `held` that wakes least at the rate, by
    HiGHS: x[replica, node] binary, y[node, step] binary where the node is not kept awake by
    what stays; per node, step and resource the replicas there within what is left; per
    step the nodes woken within the limits' headroom. None: not cheaper than `saved`."""
    class_id, nodes = hood.class_id, list(hood.nodes)
    first, last = hood.first, hood.last
    k, span = len(nodes), last - first
    awake = ledger.running[class_id][nodes, first:last] > 0  # kept awake by what stays
    left = ledger.capacity[class_id][None, None, :] - ledger.used[class_id][nodes, first:last, :]
    needs = np.array([need_of(problem.demand(spot.demand)) for spot in held])
    asked = np.flatnonzero(needs.sum(axis=0) > 0)
    rate = ledger.rate[class_id][first:last]
    x = lambda i, n: i * k + n  # noqa: E731
    y_index = -np.ones((k, span), dtype=np.int64)
    free = np.argwhere(~awake)
    y_index[free[:, 0], free[:, 1]] = len(held) * k + np.arange(len(free))
    columns = len(held) * k + len(free)
    cost = np.zeros(columns)
    cost[len(held) * k:] = rate[free[:, 1]]
    rows, cols, vals, lower, upper = [], [], [], [], []

    def row(entries: list[tuple[int, float]], low: float, high: float) -> None:
        index = len(lower)
        for column, value in entries:
            rows.append(index)
            cols.append(column)
            vals.append(value)
        lower.append(low)
        upper.append(high)

    for i in range(len(held)):  # each replica on one node
        row([(x(i, n), 1.0) for n in range(k)], 1.0, 1.0)
    active = [[i for i, spot in enumerate(held) if spot.start <= first + t < spot.end] for t in range(span)]
    for n in range(k):
        for t in range(span):
            if not active[t]:
                continue
            woken = y_index[n, t]
            for r in asked:
                entries = [(x(i, n), float(needs[i, r])) for i in active[t] if needs[i, r]]
                if not entries:
                    continue
                # scaled by the node's capacity: memory in bytes beside GPU counts
                scale = 1.0 / max(1, int(ledger.capacity[class_id][r]))
                entries = [(column, value * scale) for column, value in entries]
                if woken < 0:
                    row(entries, -math.inf, float(left[n, t, r]) * scale)
                else:
                    row(entries + [(int(woken), -float(left[n, t, r]) * scale)], -math.inf, 0.0)
            if woken >= 0:  # a replica there wakes it (the strong form: a tight LP)
                for i in active[t]:
                    row([(x(i, n), 1.0), (int(woken), -1.0)], -math.inf, 0.0)
    headroom = _headroom(ledger, class_id, first, last)
    for t in range(span):
        woken = [int(y_index[n, t]) for n in range(k) if y_index[n, t] >= 0]
        if active[t] and woken and headroom[t] < len(woken):
            row([(column, 1.0) for column in woken], -math.inf, float(headroom[t]))
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(lower), columns)).tocsr()
    values = _minimised(cost, matrix, np.array(lower), np.array(upper),
                        saved - EPSILON * max(1.0, saved))
    if values is None:
        return None
    chosen = values[: len(held) * k].reshape(len(held), k)
    return [nodes[int(np.argmax(chosen[i]))] for i in range(len(held))]


def _minimised(cost: np.ndarray, matrix, lower: np.ndarray, upper: np.ndarray, below: float
               ) -> np.ndarray | None:
    """A 0/1 solution of the MIP costing less than `below` (HiGHS, within NODE_LIMIT branch
    and bound nodes), or None."""
    import highspy

    with _native_stdout_silenced():  # HiGHS prints some diagnostics to fd 1 whatever its options
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("mip_max_nodes", NODE_LIMIT)
        highs.setOptionValue("threads", 1)
        highs.setOptionValue("objective_bound", below)  # nothing dearer is of use
        columns = len(cost)
        highs.passModel(columns, matrix.shape[0], matrix.nnz, 2, 1, 0.0, cost, np.zeros(columns),
                        np.ones(columns), lower, upper, matrix.indptr.astype(np.int32),
                        matrix.indices.astype(np.int32), matrix.data,
                        np.ones(columns, dtype=np.int32))
        highs.run()
        info = highs.getInfo()
        if info.primal_solution_status != 2:
            return None
        values = np.asarray(highs.getSolution().col_value)
    if float(cost @ values) >= below:
        return None
    return values


def _headroom(ledger: Ledger, class_id: str, first: int, last: int) -> np.ndarray:
    """Per step of [first, last): how many more of the class's nodes may wake within the
    power caps in its scope, the budget and its buy group's limit (the rest of the schedule
    as the ledger holds it)."""
    span = last - first
    room = np.full(span, np.inf)
    watts = ledger.watts[class_id]
    for cap, scope, drawn in ledger.caps:
        if class_id in scope and watts > 0:
            room = np.minimum(room, np.floor((cap[first:last] - drawn[first:last] + EPSILON) / watts))
    hourly = ledger.hourly[class_id][first:last]
    if ledger.budget is not None:
        per = np.where(hourly > 0, (ledger.budget - ledger.spent[first:last] + EPSILON) / np.maximum(hourly, 1e-12),
                       np.inf)
        room = np.minimum(room, np.floor(per))
    group = ledger.groups[class_id]
    if group is not None and group in ledger.buys:
        limit, in_use = ledger.buys[group]
        room = np.minimum(room, np.floor(limit - in_use[first:last] + EPSILON))
    return np.maximum(room, 0)
