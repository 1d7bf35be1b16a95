"""Fragments packed away exactly (issue 19): a few nodes of a class over a window of steps,
their replicas assigned again to them by a small MIP.

A replica keeps its node for its whole run, so a class's nodes can be part-empty at steps
where its work would fit on fewer nodes (the "fragments" of `bench/timing_sites_waste.py`).
The search's moves (`timeline_pack`: one replica, one node's block, the class packed again
greedily) each take the rest of the schedule as it stands, and stop where no single one of
them pays. This takes a neighbourhood, `NODES` nodes of one class around a step where it has
fragments, and solves the assignment of the replicas on them that run within `WINDOW` steps
of it (whole runs, their steps fixed; each may go to any of those nodes) exactly: the least
awake node-steps x rate within every node's capacity at every step and the per-step limits
(power caps, budget, buy limits: the headroom the rest of the schedule leaves, from the
`Ledger`). Spliced back where cheaper; every replica goes
back through the ledger's own check of its node, so a schedule kept is one it accepts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from scipy.sparse import coo_matrix

from fitlang.model.problem import Problem
from fitlang.solve.backends import _native_stdout_silenced
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.timeline_pack import EPSILON, Deadline, Ledger, Spot, _restore, need_of, past

# a neighbourhood: this many nodes of a class, the replicas on them that run within this many
# steps (6 x 8, 8 x 48, 12 x 24 and moves in time found less in the same CPU time at the goal
# size: docs/performance.md, session 16)
NODES = 4
WINDOW = 4
# HiGHS's branch and bound on one neighbourhood stops after this many nodes: a count, not a
# time, so the same input gives the same answer (most close at the root)
NODE_LIMIT = 200


@dataclass(frozen=True)
class Neighbourhood:
    class_id: str
    nodes: tuple[int, ...]
    first: int  # the window's steps: [first, last)
    last: int


def regrouped(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
              nodes: int = NODES, window: int = WINDOW) -> list[Spot]:
    """Each neighbourhood that shows fragments (`neighbourhoods`) solved exactly
    (`_reassigned`) and kept where cheaper; until the deadline. A neighbourhood's replicas
    are those on its nodes that run at some step of its window (each whole run: what it
    holds outside the window comes along)."""
    return each_solved(problem, ledger, spots, deadline, [
        ([(hood.class_id, node) for node in hood.nodes], hood.first, hood.last,
         partial(_reassigned, problem, ledger, hood=hood))
        for hood in neighbourhoods(ledger, nodes, window)])


# a neighbourhood to solve: its (class, node)s, its window's steps [first, last), and what
# places its replicas again (the new spots, or None with the ledger as it was)
Solvable = tuple[list[tuple[str, int]], int, int, Callable[[list[Spot]], list[Spot] | None]]


def each_solved(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
                hoods: list[Solvable]) -> list[Spot]:
    """Each neighbourhood's replicas (on its nodes, running at some step of its window, none
    preemptible) placed again by its solve, the spots it returns kept; until the deadline."""
    spots = list(spots)
    where: dict[tuple[str, int], set[int]] = {}
    for index, spot in enumerate(spots):
        where.setdefault((spot.class_id, spot.node), set()).add(index)
    for keys, first, last, solve in hoods:
        if past(deadline, ledger):
            break
        held = sorted(index for key in keys for index in where.get(key, ())
                      if spots[index].start < last and first < spots[index].end
                      and problem.demand(spots[index].demand).min_segment is None)
        if len(held) < 2:
            continue
        moved = solve([spots[i] for i in held])
        if moved is None:
            continue
        for index, spot in zip(held, moved):
            where[spots[index].class_id, spots[index].node].discard(index)
            where.setdefault((spot.class_id, spot.node), set()).add(index)
            spots[index] = spot
    return spots


def neighbourhoods(ledger: Ledger, nodes: int, window: int) -> list[Neighbourhood]:
    """Per class and step where it has nodes awake beyond what its load needs (a fragment:
    more awake than the whole nodes its busiest resource's load fills), the node the least
    filled then and the `nodes` - 1 part-empty nodes with room for its load then, the fullest
    first (where its replicas would go), over `window` steps around it; the dearest
    fragments first, one neighbourhood per class, step and set of nodes."""
    found: dict[Neighbourhood, float] = {}
    for class_id, running in ledger.running.items():
        count, steps = running.shape
        if count < 2:
            continue
        capacity = np.maximum(ledger.capacity[class_id], 1)
        asked = ledger.capacity[class_id] > 0
        if not asked.any():
            continue
        share = ledger.used[class_id][:, :, asked] / capacity[asked]  # (node, step, resource)
        awake = running > 0
        needed = np.ceil(share.sum(axis=0).max(axis=1) - 1e-9)  # whole nodes per step
        fragments = np.maximum(awake.sum(axis=0) - needed, 0) * ledger.rate[class_id]
        fill = share.max(axis=2)
        for step in np.flatnonzero(fragments > EPSILON).tolist():
            part = np.flatnonzero(awake[:, step] & (fill[:, step] < 1 - EPSILON))
            if len(part) < 2:
                continue
            seed = int(part[np.argmin(fill[part, step])])
            room = ((share[part, step, :] + share[seed, step, :]) <= 1 + EPSILON).all(axis=1)
            takers = [int(n) for n in part[room][np.argsort(-fill[part[room], step], kind="stable")]
                      if n != seed][: nodes - 1]
            if len(takers) < nodes - 1:  # the least filled after it
                rest = [int(n) for n in part[np.argsort(fill[part, step], kind="stable")]
                        if n != seed and n not in takers]
                takers += rest[: nodes - 1 - len(takers)]
            first = max(0, step - window // 2)
            hood = Neighbourhood(class_id, tuple(sorted([seed, *takers])), first,
                                 min(steps, first + window))
            found[hood] = max(found.get(hood, 0.0), float(fragments[step]))
    return sorted(found, key=lambda hood: (-found[hood], hood.class_id, hood.first, hood.nodes))


def _reassigned(problem: Problem, ledger: Ledger, held: list[Spot], hood: Neighbourhood
                ) -> list[Spot] | None:
    """`held` taken off and assigned again to the neighbourhood's nodes by the MIP, each at
    its own steps; the new spots when they cost less than `held` did, else None with the
    ledger as it was."""
    saved = sum(ledger.drop(spot) for spot in held)
    options = [[(node, spot.start) for node in hood.nodes] for spot in held]
    chosen = _solved(problem, ledger, held, options, hood.class_id, saved)
    if chosen is not None:
        again = [replace(spot, node=node, added=0.0) for spot, (node, _) in zip(held, chosen)]
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


def _solved(problem: Problem, ledger: Ledger, held: list[Spot], options: list[list[tuple[int, int]]],
            class_id: str, saved: float) -> list[tuple[int, int]] | None:
    """The option (node, start) of each of `held` that wakes least at the rate, by HiGHS:
    x[replica, option] binary, y[node, step] binary where the node is not kept awake by what
    stays; per node, step and resource the replicas there within what is left (scaled by the
    node's capacity: memory in bytes beside GPU counts); a replica there wakes it (a row
    each: the strong form, a tight LP); per step the nodes woken within the limits' headroom.
    None: nothing cheaper than `saved`."""
    nodes = sorted({node for choices in options for node, _ in choices})
    at = {node: position for position, node in enumerate(nodes)}
    first = min(start for choices in options for _, start in choices)
    last = max(start + spot.end - spot.start for spot, choices in zip(held, options) for _, start in choices)
    span = last - first
    awake = ledger.running[class_id][nodes, first:last] > 0  # kept awake by what stays
    capacity = ledger.capacity[class_id]
    left = capacity[None, None, :] - ledger.used[class_id][nodes, first:last, :]
    needs = np.array([need_of(problem.demand(spot.demand)) for spot in held])
    asked = np.flatnonzero(needs.sum(axis=0) > 0)
    columns = [(i, node, start) for i, choices in enumerate(options) for node, start in choices]
    y_index = -np.ones((len(nodes), span), dtype=np.int64)
    free = np.argwhere(~awake)
    y_index[free[:, 0], free[:, 1]] = len(columns) + np.arange(len(free))
    cost = np.concatenate([np.zeros(len(columns)), ledger.rate[class_id][first + free[:, 1]]])
    rows = _Rows()
    for i in range(len(held)):  # each replica at one option
        rows.add([(c, 1.0) for c, column in enumerate(columns) if column[0] == i], 1.0, 1.0)
    there: dict[tuple[int, int], list[int]] = {}  # (node position, step) -> the columns running
    for c, (i, node, start) in enumerate(columns):
        for t in range(start - first, start - first + held[i].end - held[i].start):
            there.setdefault((at[node], t), []).append(c)
    for (n, t), running in sorted(there.items()):
        woken = int(y_index[n, t])
        for r in asked:
            scale = 1.0 / max(1, int(capacity[r]))
            entries = [(c, float(needs[columns[c][0], r]) * scale) for c in running
                       if needs[columns[c][0], r]]
            if not entries:
                continue
            if woken < 0:
                rows.add(entries, -math.inf, float(left[n, t, r]) * scale)
            else:
                rows.add(entries + [(woken, -float(left[n, t, r]) * scale)], -math.inf, 0.0)
        if woken >= 0:
            for c in running:
                rows.add([(c, 1.0), (woken, -1.0)], -math.inf, 0.0)
    headroom = _headroom(ledger, class_id, first, last)
    for t in range(span):
        woken_ = [int(y_index[n, t]) for n in range(len(nodes)) if y_index[n, t] >= 0]
        if len(woken_) > headroom[t]:
            rows.add([(column, 1.0) for column in woken_], -math.inf, float(headroom[t]))
    values = _minimised(cost, rows.matrix(len(cost)), np.array(rows.lower), np.array(rows.upper),
                        saved - EPSILON * max(1.0, saved))
    if values is None:
        return None
    picked: dict[int, tuple[int, int]] = {}
    for c, (i, node, start) in enumerate(columns):
        if values[c] > 0.5:
            picked[i] = (node, start)
    return [picked[i] for i in range(len(held))]


class _Rows:
    """A sparse matrix built row by row, with its row bounds."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.columns: list[int] = []
        self.values: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, entries: list[tuple[int, float]], low: float, high: float) -> None:
        index = len(self.lower)
        for column, value in entries:
            self.rows.append(index)
            self.columns.append(column)
            self.values.append(value)
        self.lower.append(low)
        self.upper.append(high)

    def matrix(self, columns: int):
        return coo_matrix((self.values, (self.rows, self.columns)),
                          shape=(len(self.lower), columns)).tocsr()


def _minimised(cost: np.ndarray, matrix, lower: np.ndarray, upper: np.ndarray, below: float
               ) -> np.ndarray | None:
    """A 0/1 solution of the MIP costing less than `below` (HiGHS, within NODE_LIMIT branch
    and bound nodes), or None."""
    with _native_stdout_silenced():  # HiGHS prints some diagnostics to fd 1 whatever its options
        highs = quiet_highs()
        highs.setOptionValue("mip_max_nodes", NODE_LIMIT)
        highs.setOptionValue("objective_bound", below)  # nothing dearer is of use
        columns = len(cost)
        highs.passModel(columns, matrix.shape[0], matrix.nnz, 2, 1, 0.0, cost, np.zeros(columns),
                        np.ones(columns), lower, upper, matrix.indptr.astype(np.int32),
                        matrix.indices.astype(np.int32), matrix.data,
                        np.ones(columns, dtype=np.int32))
        return solution_below(highs, cost, below)


def solution_below(highs, cost: np.ndarray, below: float) -> np.ndarray | None:
    """HiGHS run on its model: its solution where it has one costing less than `below`."""
    highs.run()
    if highs.getInfo().primal_solution_status != 2:
        return None
    values = np.asarray(highs.getSolution().col_value)
    return values if float(cost @ values) < below else None


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
        left = ledger.budget - ledger.spent[first:last] + EPSILON
        room = np.minimum(room, np.floor(np.where(hourly > 0, left / np.maximum(hourly, 1e-12), np.inf)))
    group = ledger.groups[class_id]
    if group is not None and group in ledger.buys:
        limit, in_use = ledger.buys[group]
        room = np.minimum(room, np.floor(limit - in_use[first:last] + EPSILON))
    return np.maximum(room, 0)
