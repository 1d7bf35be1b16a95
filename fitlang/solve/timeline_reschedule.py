"""A site's most wasteful nodes solved again exactly, starts and classes free (issue 19): a
large neighbourhood of the search's converged schedule.

`timeline_regroup` assigns a few nodes' replicas again with their steps fixed, within one
class. Here a neighbourhood is NODES awake nodes of one site (the classes under one power cap)
that waste most (rate x the room their busiest resource leaves, over their awake steps), with
a node of each of the site's classes asleep over the window (room to move to), and the
replicas that run on them within WINDOW steps (whole runs) are placed again by a small
time-indexed MIP: each at a start within SHIFT steps of its own (inside its window) on any of
the neighbourhood's nodes its demand may use, the nodes' awake steps priced at their rates.
So a run may change class (24-CPU replicas alone on 32-CPU nodes gathered on a 96-CPU one)
and start together, which no move of one replica, one block or one run pays for. The
replicas of one run are alike, so a column counts them (x[run, start, node] whole, up to the
run's replicas): far fewer columns than one per replica. Per node, step and resource the
load within what the rest of the schedule leaves, times y[node, step] (binary where nothing
that stays keeps the node awake); per step the nodes woken within each power cap's, the
budget's and each buy group's headroom. HiGHS starts from the schedule as it is and stops
after NODE_LIMIT branch and bound nodes (or MOST_SECONDS of CPU); the new schedule is
spliced back only where cheaper, every replica through the ledger's own check.

Measured from converged schedules of the sites shape (docs/performance.md, session 51):
100 nodes -85 USD in 15 CPU s where the search found -4; 400 nodes -27 in 10 where it found
-7; at 1,000 nodes ~2 USD a CPU s, below the search's own rate there, so the search runs
it only where its moves and the regroup have converged (`timeline_pack.searched`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.backends import _native_stdout_silenced, watch
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.timeline_pack import EPSILON, Deadline, Ledger, Spot, need_of, run_of
from fitlang.solve.timeline_regroup import _put_checked, _Rows, each_solved, solution_below

# a neighbourhood: this many nodes of a site, the replicas on them running within WINDOW
# steps, each free to start up to SHIFT steps earlier or later (from seed 1's converged
# schedule at 400 nodes, 10 CPU s: 6 x 24 x 2 -27 USD, 4 x 12 x 2 0; at 1,000 nodes, 8 CPU
# s: 6 x 24 x 2 -8, 4 x 12 x 2 -15, 8 x 8 x 2 -17, 3 x 24 x 2 -13; nodes of one class
# alone: -3 at 100 nodes, where a site's gave -85)
NODES = 6
WINDOW = 24
SHIFT = 2
# HiGHS's branch and bound on one neighbourhood stops after this many nodes: a count, not a
# time, so the same input gives the same answer
NODE_LIMIT = 100
# and at the latest after this many CPU s of the process: at 1,000 nodes most roots do not
# finish in it (1,400-1,600 columns), and the schedule as it is stays
MOST_SECONDS = 1.0


@dataclass(frozen=True)
class Hood:
    nodes: tuple[tuple[str, int], ...]  # (class, node)
    first: int  # the window's steps: [first, last)
    last: int


@dataclass
class _Run:
    """The held replicas of one run of a demand: alike, so counted together."""

    demand: str
    eligible: frozenset[str]
    need: np.ndarray
    duration: int
    starts: list[int]
    spots: list[Spot]


def rescheduled(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
                nodes: int = NODES, window: int = WINDOW, shift: int = SHIFT, by: str = "site") -> list[Spot]:
    """Each neighbourhood (`hoods`) solved again (`_solved_again`) and kept where cheaper;
    until the deadline."""
    return each_solved(problem, ledger, spots, deadline, [
        (list(hood.nodes), hood.first, hood.last,
         partial(_solved_again, problem, ledger, hood=hood, shift=shift))
        for hood in hoods(problem, ledger, nodes, window, by)])


def _waste(ledger: Ledger, class_id: str) -> np.ndarray:
    """Per node and step: what its unused room costs (rate x (1 - the busiest resource's
    share)) where it is awake, 0 where asleep."""
    capacity = np.maximum(ledger.capacity[class_id], 1)
    asked = ledger.capacity[class_id] > 0
    fill = (ledger.used[class_id][:, :, asked] / capacity[asked]).max(axis=2)
    return np.where(ledger.running[class_id] > 0, (1 - np.minimum(fill, 1)) * ledger.rate[class_id], 0.0)


def _families(problem: Problem, ledger: Ledger, by: str) -> list[list[str]]:
    """The classes a neighbourhood may mix: each alone (`class`), or those under one power cap
    (a site: `site`), the classes under none together."""
    if by == "class":
        return [[c.id] for c in problem.classes]
    families = [sorted(scope) for _, scope, _ in ledger.caps]
    capped = {c for family in families for c in family}
    return families + [[c.id for c in problem.classes if c.id not in capped]]


def hoods(problem: Problem, ledger: Ledger, nodes: int, window: int, by: str = "class") -> list[Hood]:
    """Per family of classes (`_families`), its awake nodes by what their unused room costs
    over their awake steps, the most first, in groups of `nodes`; each group over the
    `window` steps around where its nodes waste most together, with a node of each of the
    family's classes asleep there (room to move to). The most wasteful groups first."""
    found: list[tuple[float, Hood]] = []
    steps = ledger.spent.shape[0]
    width = min(window, steps)
    for family in _families(problem, ledger, by):
        waste = {c: _waste(ledger, c) for c in family if ledger.running[c].shape[0]}
        keyed = [(float(w[n].sum()), c, n) for c, w in waste.items() for n in range(w.shape[0])]
        keyed.sort(key=lambda item: (-item[0], item[1], item[2]))
        order = [(c, n) for total, c, n in keyed if total > EPSILON]
        for at in range(0, len(order) - 1, nodes):
            group = order[at:at + nodes]
            if len(group) < 2:
                break
            together = sum(waste[c][n] for c, n in group)
            sums = np.convolve(together, np.ones(width), mode="valid")
            first = int(np.argmax(sums))
            spares = []
            for c in waste:
                asleep = np.flatnonzero(~(ledger.running[c][:, first:first + width] > 0).any(axis=1))
                if asleep.size:
                    spares.append((c, int(asleep[0])))
            found.append((float(sums[first]), Hood(tuple(sorted(group + spares)), first, first + width)))
    found.sort(key=lambda item: (-item[0], item[1].first, item[1].nodes))
    return [hood for _, hood in found]


def _solved_again(problem: Problem, ledger: Ledger, held: list[Spot], hood: Hood, shift: int
                  ) -> list[Spot] | None:
    """`held` taken off and placed again by the MIP; the new spots where they cost less than
    `held` did, else None with the ledger as it was."""
    saved = sum(ledger.drop(spot) for spot in held)
    runs = _runs(problem, held, shift)
    chosen = _chosen(ledger, runs, hood, saved)
    if chosen is not None:
        again = [replace(spot, class_id=class_id, node=node, start=start, end=start + run.duration,
                         added=0.0)
                 for run, picks in zip(runs, chosen)
                 for spot, (class_id, node, start) in zip(run.spots, picks)]
        if _put_checked(problem, ledger, again):
            order = {(spot.demand, spot.replica): spot for spot in again}
            return [order[spot.demand, spot.replica] for spot in held]
    for spot in held:
        ledger.put(spot)
    return None


def _runs(problem: Problem, held: list[Spot], shift: int) -> list[_Run]:
    """The held replicas by run of their demand, each run's starts: within `shift` of a
    replica's own, inside the run's window."""
    by_run: dict[tuple[str, int], list[Spot]] = {}
    for spot in held:
        demand = problem.demand(spot.demand)
        by_run.setdefault((spot.demand, run_of(demand, spot.start)), []).append(spot)
    runs = []
    for (name, run), members in sorted(by_run.items()):
        demand = problem.demand(name)
        window = demand.windows[run]
        starts = sorted({start for spot in members
                         for start in range(spot.start - shift, spot.start + shift + 1)
                         if window.earliest <= start <= window.latest_start})
        runs.append(_Run(name, frozenset(demand.eligible), need_of(demand), window.duration, starts, members))
    return runs


def _chosen(ledger: Ledger, runs: list[_Run], hood: Hood, saved: float
            ) -> list[list[tuple[str, int, int]]] | None:
    """Per run, a (class, node, start) for each of its replicas that wakes least, by HiGHS;
    None: nothing cheaper than `saved`."""
    nodes = list(hood.nodes)
    columns = [(r, p, start) for r, run in enumerate(runs) for p, (c, _) in enumerate(nodes)
               if c in run.eligible for start in run.starts
               if not ledger.off[c][start:start + run.duration].any()]
    first = min(start for _, _, start in columns)
    last = max(start + runs[r].duration for r, _, start in columns)
    span = last - first
    awake = np.array([ledger.running[c][n, first:last] > 0 for c, n in nodes])  # kept by what stays
    y_index = -np.ones((len(nodes), span), dtype=np.int64)
    free = np.argwhere(~awake)
    y_index[free[:, 0], free[:, 1]] = len(columns) + np.arange(len(free))
    rates = np.array([ledger.rate[c][first:last] for c, _ in nodes])
    cost = np.concatenate([np.zeros(len(columns)), rates[free[:, 0], free[:, 1]]])
    upper = np.concatenate([[float(len(runs[r].spots)) for r, _, _ in columns], np.ones(len(free))])
    rows = _Rows()
    for r, run in enumerate(runs):  # each run's replicas all placed
        rows.add([(c, 1.0) for c, column in enumerate(columns) if column[0] == r],
                 len(run.spots), len(run.spots))
    there: dict[tuple[int, int], list[int]] = {}  # (node position, step) -> the columns running
    for c, (r, p, start) in enumerate(columns):
        for t in range(start - first, start - first + runs[r].duration):
            there.setdefault((p, t), []).append(c)
    for (p, t), running in sorted(there.items()):
        _capacity_rows(rows, ledger, nodes[p], first + t, int(y_index[p, t]),
                       [(c, runs[columns[c][0]].need) for c in running])
    _limit_rows(rows, ledger, nodes, y_index, first)
    incumbent = _incumbent(runs, columns, nodes, y_index, first, len(cost))
    values = _minimised(cost, upper, rows, incumbent, saved - EPSILON * max(1.0, saved))
    if values is None:
        return None
    chosen: list[list[tuple[str, int, int]]] = [[] for _ in runs]
    for c, (r, p, start) in enumerate(columns):
        chosen[r] += [(nodes[p][0], nodes[p][1], start)] * round(float(values[c]))
    if any(len(picks) != len(run.spots) for picks, run in zip(chosen, runs)):
        return None
    return chosen


def _capacity_rows(rows: _Rows, ledger: Ledger, node: tuple[str, int], step: int, woken: int,
                   running: list[tuple[int, np.ndarray]]) -> None:
    """Per resource: the columns running on the node at the step within what the rest of the
    schedule leaves there (times its y where nothing keeps it awake), in shares of a node."""
    class_id, index = node
    capacity = ledger.capacity[class_id]
    for r in np.flatnonzero(ledger.limited & (capacity > 0)):
        entries = [(c, float(need[r]) / float(capacity[r])) for c, need in running if need[r]]
        if not entries:
            continue
        left = float(capacity[r] - ledger.used[class_id][index, step, r]) / float(capacity[r])
        if woken < 0:
            rows.add(entries, -np.inf, left)
        else:
            rows.add(entries + [(woken, -left)], -np.inf, 0.0)


def _limit_rows(rows: _Rows, ledger: Ledger, nodes: list[tuple[str, int]], y_index: np.ndarray,
                first: int) -> None:
    """Per step: the nodes woken within each power cap's, the budget's and each buy group's
    headroom (what the rest of the schedule leaves), where they could break it."""
    span = y_index.shape[1]
    steps = slice(first, first + span)
    limits: list[tuple[np.ndarray, np.ndarray]] = []  # (per node and step what it takes, left)
    for cap, scope, drawn in ledger.caps:
        weights = np.array([ledger.watts[c] if c in scope else 0.0 for c, _ in nodes])
        limits.append((np.repeat(weights[:, None], span, axis=1), cap[steps] - drawn[steps]))
    if ledger.budget is not None:
        hourly = np.array([ledger.hourly[c][steps] for c, _ in nodes])
        limits.append((hourly, ledger.budget - ledger.spent[steps]))
    for group, (limit, in_use) in ledger.buys.items():
        counted = np.array([1.0 if ledger.groups[c] == group else 0.0 for c, _ in nodes])
        limits.append((np.repeat(counted[:, None], span, axis=1), limit - in_use[steps]))
    for takes, left in limits:
        for t in range(span):
            woken = [(int(y_index[p, t]), float(takes[p, t])) for p in range(len(nodes))
                     if y_index[p, t] >= 0 and takes[p, t] > 0]
            if sum(weight for _, weight in woken) > left[t] + EPSILON:
                rows.add(woken, -np.inf, float(left[t]) + EPSILON)


def _incumbent(runs: list[_Run], columns: list[tuple[int, int, int]], nodes: list[tuple[str, int]],
               y_index: np.ndarray, first: int, size: int) -> np.ndarray:
    """The schedule as it is, in the MIP's columns (HiGHS's start)."""
    at = {column: c for c, column in enumerate(columns)}
    position = {node: p for p, node in enumerate(nodes)}
    values = np.zeros(size)
    for r, run in enumerate(runs):
        for spot in run.spots:
            p = position[spot.class_id, spot.node]
            values[at[r, p, spot.start]] += 1
            for t in range(spot.start - first, spot.end - first):
                if y_index[p, t] >= 0:
                    values[y_index[p, t]] = 1.0
    return values


def _minimised(cost: np.ndarray, upper: np.ndarray, rows: _Rows, start: np.ndarray, below: float
               ) -> np.ndarray | None:
    """A whole solution of the MIP costing less than `below` (HiGHS from `start`, within
    NODE_LIMIT branch and bound nodes and MOST_SECONDS of CPU), or None."""
    import highspy

    matrix = rows.matrix(len(cost))
    lower, high = np.array(rows.lower), np.array(rows.upper)
    inf = highspy.kHighsInf
    columns = len(cost)
    with _native_stdout_silenced():  # HiGHS prints some diagnostics to fd 1 whatever its options
        highs = quiet_highs()
        highs.setOptionValue("mip_max_nodes", NODE_LIMIT)
        highs.passModel(columns, matrix.shape[0], matrix.nnz, 2, 1, 0.0, cost, np.zeros(columns),
                        upper, np.where(np.isinf(lower), -inf, lower), np.where(np.isinf(high), inf, high),
                        matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32), matrix.data,
                        np.ones(columns, dtype=np.int32))
        highs.setSolution(columns, np.arange(columns, dtype=np.int32), start)
        watch(highs, None, None, time.process_time() + MOST_SECONDS)
        return solution_below(highs, cost, below)
