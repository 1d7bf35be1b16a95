"""Issue 19 on the sites shape: is the LP bound weak, or are the fragments forced? A bound over
whole nodes and whole runs, from the LP's own duals up.

    .venv/bin/python bench/timing_bound.py --jobs 100 --nodes 100 --limit 300
    .venv/bin/python bench/timing_bound.py --limit 900                  # the goal size, seed 1
    .venv/bin/python bench/timing_bound.py --jobs 100 --nodes 100 --converge --limit 900 --pricing-limit 60

The bound is h15a's node-schedule (Dantzig-Wolfe) bound of `bench/timing_sites_bound.py`
(read its docstring: a column is one node of a pool and the replica runs, with their starts,
it hosts over the horizon, paid at every step it is awake; the master covers every run's
replicas within each pool's node count and each site's cap per step), computed so that it
reaches 100-1,000 nodes:

- **The Lagrangian bound, started at the aggregate LP's duals.** For duals pi >= 0 (cover
  rows) and nu >= 0 (cap rows), L(pi, nu) = sum pi R - sum nu cap + sum_c N[c] min(0, rc*[c])
  is a valid bound whatever pi and nu are (`timing_sites_bound` argues it), where rc*[c] is
  a proven lower bound on pool c's least reduced cost (the pricing MIP's dual bound, never
  its incumbent). At the aggregate LP's optimal duals L >= the LP: the pricing's LP
  relaxation, copied N[c] times, is at least as tight as the aggregate's pool (it adds "a
  replica there wakes the node"), and at those duals the aggregate's pools price to exactly
  the LP's value. So the first evaluation already states a bound >= the LP, and every later
  one can only keep or raise the best (the best is what is stated, never the master's value).
- **Wentges smoothing** of the duals, centred at the best Lagrangian point so far: the master
  of the columns priced so far proposes duals, the pricing is done at a point between them
  and the centre, and the centre moves only when the bound rises.
- **Each pool's pricing model built once** (highspy), only its costs changed per round; a
  greedy column (the items of most dual per unit of capacity-time first, kept where they pay
  for the steps they wake) is handed to HiGHS as its start and added to the master too.

`--converge` (`converged_bound`, session 18) takes the other order: the master is converged
at its own duals with cheap pricing (the greedy, then a dynamic program over a node's awake
segments: the reduced cost of a node schedule is the sum over its maximal awake segments, each
paid for its steps by the items inside it), and the exact pricing, whose dual bounds make a
Lagrangian bound, runs only where neither finds a column, or once at the end of the budget.
What the cheap rounds leave is the master's value: an upper limit on what node schedules can
prove (never a bound).

Identical replicas of one run are one item (an integer count per start), as in h15a's.
Relaxations kept: a preemptible job's replicas are split into replica-steps (its minimum
segment and one-node-per-step ignored), so this tool's LP is a little below fitc's (104,423.6
against 104,475.6 at the goal size, seed 1). Not a test: numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import highspy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing_sites import KINDS, Instance, generate, instance_arguments
from timing_sites_bound import Column, Master, Run, hourly_cost, runs_of

INF = highspy.kHighsInf


def _quiet_highs() -> highspy.Highs:
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    return highs


@dataclass
class Duals:
    """What the Lagrangian prices with: pi per run (cover rows), nu per site and step (caps)."""

    pi: np.ndarray
    nu: dict[str, np.ndarray]

    def mixed(self, other: Duals, weight: float) -> Duals:
        """weight x self + (1 - weight) x other."""
        return Duals(weight * self.pi + (1 - weight) * other.pi,
                     {s: weight * self.nu[s] + (1 - weight) * other.nu[s] for s in self.nu})


def aggregate_lp(instance: Instance, runs: list[Run]) -> tuple[float, Duals]:
    """The aggregate LP (replicas per pool and start, nodes awake per pool and step a fraction
    within the pool's count, capacity per pool, step and resource, each site's cap per step)
    and its optimal duals. No upper bound per replica variable: with costs >= 0 it never
    binds at an optimum, and leaving it out makes the duals exactly the Lagrangian's."""
    steps = instance.steps
    highs = _quiet_highs()
    costs, lower, upper = [], [], []
    awake: dict[tuple[str, int], int] = {}
    for pool, (_, _, count) in instance.pools.items():
        for t, price in enumerate(hourly_cost(instance, pool)):
            awake[pool, t] = len(costs)
            costs.append(float(price))
            lower.append(0.0)
            upper.append(float(count))
    cover: list[dict[int, float]] = []
    use: dict[tuple[str, int, int], dict[int, float]] = {}
    for run in runs:
        terms: dict[int, float] = {}
        for pool in run.pools:
            for s in run.starts():
                column = len(costs)
                costs.append(0.0)
                lower.append(0.0)
                upper.append(INF)
                terms[column] = 1.0
                for t in range(s, s + run.length()):
                    for r in range(3):
                        if run.need[r]:
                            use.setdefault((pool, t, r), {})[column] = float(run.need[r])
        cover.append(terms)
    highs.addVars(len(costs), np.array(lower), np.array(upper))
    highs.changeColsCost(len(costs), np.arange(len(costs), dtype=np.int32), np.array(costs))
    for run, terms in zip(runs, cover):
        _add_row(highs, terms, float(run.asked), INF)
    for (pool, t, r), terms in use.items():
        kind = KINDS[instance.pools[pool][1]]
        capacity = (kind.cpu, kind.memory_gib, kind.gpus)[r]
        _add_row(highs, {**terms, awake[pool, t]: -float(capacity)}, -INF, 0.0)
    cap_rows = {}
    for site, caps in instance.caps.items():
        cap_rows[site] = highs.getNumRow()
        for t in range(steps):
            _add_row(highs, {awake[p, t]: float(KINDS[kind].watts) for p, (s, kind, _) in
                             instance.pools.items() if s == site}, -INF, float(caps[t]))
    highs.run()
    dual = np.array(highs.getSolution().row_dual)
    pi = np.maximum(dual[:len(runs)], 0.0)
    nu = {site: np.maximum(-dual[row:row + steps], 0.0) for site, row in cap_rows.items()}
    return float(highs.getInfo().objective_function_value), Duals(pi, nu)


def _add_row(highs: highspy.Highs, terms: dict[int, float], lower: float, upper: float) -> None:
    highs.addRow(lower, upper, len(terms), np.array(list(terms), dtype=np.int32),
                 np.array(list(terms.values()), dtype=float))


class PoolPricing:
    """One pool's pricing MIP, built once: a[t] the node awake at step t (binary), y[j] the
    replicas of item j = (run, start) on the node (integer, at most what fits and the run's
    replicas); per step and resource what runs <= capacity x a[t]; y[j] <= most x a[t] at each
    step of the item (a replica there wakes the node); per run at most its replicas (per step
    for replica-steps). Only the objective changes between rounds."""

    def __init__(self, instance: Instance, pool: str, runs: list[Run]):
        self.pool, self.runs, self.steps = pool, runs, instance.steps
        site, kind_name, count = instance.pools[pool]
        self.site, self.count, self.watts = site, count, KINDS[kind_name].watts
        kind = KINDS[kind_name]
        self.capacity = np.array([kind.cpu, kind.memory_gib, kind.gpus], dtype=float)
        self.price = hourly_cost(instance, pool)
        self.items: list[tuple[int, int, int]] = []  # (run, start, most on one node)
        for index, run in enumerate(runs):
            if pool in run.pools:
                fits = min(int(c // n) for c, n in zip(self.capacity, run.need) if n > 0)
                most = min(run.replicas, fits)
                self.items += [(index, start, most) for start in run.starts()] if most else []
        self.item_run = np.array([k for k, _, _ in self.items], dtype=np.int64)
        self.highs = self._model() if self.items else None

    def _model(self) -> highspy.Highs:
        highs = _quiet_highs()
        steps, count = self.steps, self.steps + len(self.items)
        upper = np.concatenate([np.ones(steps), [float(m) for _, _, m in self.items]])
        highs.addVars(count, np.zeros(count), upper)
        highs.changeColsIntegrality(count, np.arange(count, dtype=np.int32),
                                    np.array([highspy.HighsVarType.kInteger] * count))
        use: dict[tuple[int, int], dict[int, float]] = {}
        per_run: dict[tuple[int, int], dict[int, float]] = {}
        for j, (k, s, m) in enumerate(self.items):
            run = self.runs[k]
            for t in range(s, s + run.length()):
                _add_row(highs, {steps + j: 1.0, t: -float(m)}, -INF, 0.0)
                for r in range(3):
                    if run.need[r]:
                        use.setdefault((t, r), {})[steps + j] = float(run.need[r])
            per_run.setdefault((k, s) if run.units else (k, -1), {})[steps + j] = 1.0
        for (t, r), terms in use.items():
            _add_row(highs, {**terms, t: -float(self.capacity[r])}, -INF, 0.0)
        for (k, _), terms in per_run.items():
            if len(terms) > 1 or self.runs[k].replicas < max(self.items[c - steps][2] for c in terms):
                _add_row(highs, terms, -INF, float(self.runs[k].replicas))
        highs.setOptionValue("mip_rel_gap", 1e-6)
        return highs

    def step_costs(self, duals: Duals) -> np.ndarray:
        return self.price + duals.nu[self.site] * self.watts

    def greedy(self, duals: Duals) -> np.ndarray:
        """A node schedule of negative reduced cost if a simple one exists: items by dual per
        unit of the node's capacity-time, each kept where it fits at all its steps and pays
        for the steps it wakes. The counts per item."""
        step_cost = self.step_costs(duals)
        load = np.zeros((self.steps, 3))
        awake = np.zeros(self.steps, dtype=bool)
        taken = np.zeros(len(self.items), dtype=np.int64)
        per_run: dict[tuple[int, int], int] = {}
        value = np.array([duals.pi[k] for k, _, _ in self.items])
        share = np.array([self.runs[k].length() * max(self.runs[k].need / np.maximum(self.capacity, 1e-9))
                          for k, _, _ in self.items])
        for j in np.argsort(-value / share, kind="stable"):
            k, s, m = self.items[j]
            if value[j] <= 1e-9:
                break
            run = self.runs[k]
            key = (k, s) if run.units else (k, -1)
            span = slice(s, s + run.length())
            woken = float(step_cost[span][~awake[span]].sum())
            while taken[j] < m and per_run.get(key, 0) < run.replicas:
                if (load[span] + run.need > self.capacity + 1e-9).any() or value[j] <= woken:
                    break
                load[span] += run.need
                awake[span] = True
                taken[j] += 1
                per_run[key] = per_run.get(key, 0) + 1
                woken = 0.0
        return taken

    def improved(self, taken: np.ndarray, duals: Duals) -> np.ndarray:
        """A schedule's awake segments made to pay: first every item that fits at steps the node
        is awake anyway is added (it wakes nothing, so it only gains its dual), then each maximal
        awake segment whose items' duals do not pay for its steps is emptied (the reduced cost
        splits over the segments: a node asleep between two of them hosts nothing across the
        gap). Never a dearer reduced cost than `taken`'s."""
        taken = self._filled(taken.copy(), duals)
        step_cost = self.step_costs(duals)
        awake = self.awake_of(taken)
        for first, last in _segments(awake):
            inside = [j for j in np.flatnonzero(taken) if first <= self.items[j][1] <= last]
            gained = float(sum(duals.pi[self.items[j][0]] * taken[j] for j in inside))
            if gained <= float(step_cost[first:last + 1].sum()) + 1e-12:
                taken[inside] = 0
        return taken

    def by_segments(self, duals: Duals) -> np.ndarray:
        """A node schedule as awake segments (the reduced cost splits over them): for each
        distinct span of an item, the node awake over it and filled greedily (dual per unit of
        capacity-time) with the items inside it; the spans that pay, disjoint, chosen by a
        dynamic program over their ends (weighted interval scheduling); a run's replicas over
        the chosen spans trimmed to what one node may hold, then `improved`. A heuristic: no
        bound is read from it."""
        step_cost = self.step_costs(duals)
        paid = np.concatenate([[0.0], np.cumsum(step_cost)])
        value = duals.pi[self.item_run]
        begins = np.array([s for _, s, _ in self.items])
        ends = begins + np.array([self.runs[k].length() for k, _, _ in self.items])
        share = np.array([self.runs[k].length() * max(self.runs[k].need / np.maximum(self.capacity, 1e-9))
                          for k, _, _ in self.items])
        order = np.argsort(-value / share, kind="stable")
        order = order[value[order] > 1e-9]
        spans = sorted({(int(begins[j]), int(ends[j])) for j in order})
        paying = []
        for first, end in spans:
            inside = order[(begins[order] >= first) & (ends[order] <= end)]
            taken, gained = self._packed_within(inside, first, end, value)
            net = gained - float(paid[end] - paid[first])
            if net > 1e-9:
                paying.append((end, first, net, taken))
        taken = np.zeros(len(self.items), dtype=np.int64)
        for _, _, _, chosen in _heaviest_disjoint(paying):
            for j, n in chosen.items():
                taken[j] += n
        return self.improved(self._trimmed(taken, value), duals)

    def _packed_within(self, inside: np.ndarray, first: int, end: int,
                       value: np.ndarray) -> tuple[dict[int, int], float]:
        load = np.zeros((end - first, 3))
        per_run: dict[tuple[int, int], int] = {}
        taken: dict[int, int] = {}
        gained = 0.0
        for j in inside:
            k, s, m = self.items[j]
            run = self.runs[k]
            span = slice(s - first, s - first + run.length())
            key = (k, s) if run.units else (k, -1)
            while taken.get(j, 0) < m and per_run.get(key, 0) < run.replicas and \
                    (load[span] + run.need <= self.capacity + 1e-9).all():
                load[span] += run.need
                taken[j] = taken.get(j, 0) + 1
                per_run[key] = per_run.get(key, 0) + 1
                gained += float(value[j])
        return taken, gained

    def _trimmed(self, taken: np.ndarray, value: np.ndarray) -> np.ndarray:
        """At most a run's replicas on the node over all the spans (least dual taken off)."""
        per_run: dict[tuple[int, int], list[int]] = {}
        for j in np.flatnonzero(taken):
            k, s, _ = self.items[j]
            per_run.setdefault((k, s) if self.runs[k].units else (k, -1), []).append(j)
        for (k, _), held in per_run.items():
            extra = max(0, int(taken[held].sum()) - self.runs[k].replicas)
            for j in sorted(held, key=lambda j: value[j]):
                cut = min(extra, int(taken[j]))
                taken[j] -= cut
                extra -= cut
        return taken

    def _filled(self, taken: np.ndarray, duals: Duals) -> np.ndarray:
        load = np.zeros((self.steps, 3))
        per_run: dict[tuple[int, int], int] = {}
        for j in np.flatnonzero(taken):
            k, s, _ = self.items[j]
            run = self.runs[k]
            load[s:s + run.length()] += run.need * taken[j]
            key = (k, s) if run.units else (k, -1)
            per_run[key] = per_run.get(key, 0) + int(taken[j])
        awake = self.awake_of(taken)
        value = np.array([duals.pi[k] for k, _, _ in self.items])
        for j in np.argsort(-value, kind="stable"):
            k, s, m = self.items[j]
            run = self.runs[k]
            span = slice(s, s + run.length())
            if value[j] <= 1e-9:
                break
            if not awake[span].all():
                continue
            key = (k, s) if run.units else (k, -1)
            while taken[j] < m and per_run.get(key, 0) < run.replicas and \
                    (load[span] + run.need <= self.capacity + 1e-9).all():
                load[span] += run.need
                taken[j] += 1
                per_run[key] = per_run.get(key, 0) + 1
        return taken

    def reduced_cost(self, taken: np.ndarray, duals: Duals) -> float:
        awake = self.awake_of(taken)
        return float(self.step_costs(duals)[awake].sum() - (duals.pi[self.item_run] * taken).sum())

    def awake_of(self, taken: np.ndarray) -> np.ndarray:
        awake = np.zeros(self.steps, dtype=bool)
        for j in np.flatnonzero(taken):
            k, s, _ = self.items[j]
            awake[s:s + self.runs[k].length()] = True
        return awake

    def column(self, taken: np.ndarray) -> Column:
        counts: dict[int, int] = {}
        for j in np.flatnonzero(taken):
            counts[self.items[j][0]] = counts.get(self.items[j][0], 0) + int(taken[j])
        awake = self.awake_of(taken)
        return Column(self.pool, float(self.price[awake].sum()), counts, awake)

    def exact(self, duals: Duals, start: np.ndarray, limit: float) -> tuple[np.ndarray, float]:
        """(the best schedule HiGHS found, a proven lower bound on the least reduced cost)."""
        if self.highs is None:
            return np.zeros(0, dtype=np.int64), 0.0
        highs, steps = self.highs, self.steps
        costs = np.concatenate([self.step_costs(duals), -duals.pi[self.item_run]])
        highs.changeColsCost(len(costs), np.arange(len(costs), dtype=np.int32), costs)
        solution = highspy.HighsSolution()
        solution.col_value = list(np.concatenate([self.awake_of(start).astype(float),
                                                  start.astype(float)]))
        highs.setSolution(solution)
        highs.setOptionValue("time_limit", float(limit))
        highs.run()
        info = highs.getInfo()
        found = start
        if info.primal_solution_status == 2:
            x = np.round(np.array(highs.getSolution().col_value)[steps:]).astype(np.int64)
            if self.reduced_cost(x, duals) < self.reduced_cost(start, duals):
                found = x
        proven = float(info.mip_dual_bound)
        if not math.isfinite(proven):  # stopped before its root: the LP relaxation's value
            proven = self._relaxed()
        return found, min(proven, self.reduced_cost(found, duals))

    def _relaxed(self) -> float:
        """The pricing's LP relaxation at the costs set: a lower bound on its least value."""
        highs = self.highs
        count = highs.getNumCol()
        every = np.arange(count, dtype=np.int32)
        highs.changeColsIntegrality(count, every, np.array([highspy.HighsVarType.kContinuous] * count))
        highs.setOptionValue("time_limit", 3600.0)  # kHighsInf is refused here
        highs.run()
        solved = highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        value = float(highs.getInfo().objective_function_value) if solved else -math.inf
        highs.changeColsIntegrality(count, every, np.array([highspy.HighsVarType.kInteger] * count))
        return value


def lagrangian(instance: Instance, runs: list[Run], duals: Duals, least: dict[str, float]) -> float:
    value = float(sum(p * run.asked for p, run in zip(duals.pi, runs)))
    value -= float(sum((duals.nu[s] * np.array(instance.caps[s])).sum() for s in duals.nu))
    return value + sum(instance.pools[p][2] * min(0.0, least[p]) for p in instance.pools)


def master_duals(master: Master, instance: Instance) -> tuple[float, Duals, dict[str, float]]:
    """The master's value, its cover and cap duals, and what each pool's node count row is
    worth (>= 0: a column enters the master only where its reduced cost is below minus that)."""
    value, pi, nu = master.solve()
    dual = np.array(master.highs.getSolution().row_dual)
    worth = {pool: max(0.0, -float(dual[len(master.runs) + index]))
             for index, pool in enumerate(master.pools)}
    return value, Duals(pi, nu), worth


def first_fit_columns(instance: Instance, runs: list[Run], pricers: list[PoolPricing]) -> list[Column]:
    """A node schedule per node of a first-fit packing (each replica at its earliest start, on
    the first node of its first pool with room): columns that cover every run the packing
    placed, so the master's first duals are not the artificials' penalties."""
    by_pool = {p.pool: p for p in pricers}
    nodes: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # pool -> (load, taken) per node
    for index, run in enumerate(runs):
        for _ in range(run.asked):
            placed = False
            for pool in run.pools:
                pricer = by_pool[pool]
                j = next((j for j, (k, _, _) in enumerate(pricer.items) if k == index), None)
                if j is None:
                    continue
                span = slice(run.earliest, run.earliest + run.length())
                opened = nodes.setdefault(pool, [])
                for load, taken in opened + [(np.zeros((instance.steps, 3)), None)]:
                    if (load[span] + run.need <= pricer.capacity + 1e-9).all():
                        if taken is None:
                            if len(opened) >= instance.pools[pool][2]:
                                break
                            taken = np.zeros(len(pricer.items), dtype=np.int64)
                            opened.append((load, taken))
                        load[span] += run.need
                        taken[j] += 1
                        placed = True
                        break
                if placed:
                    break
    return [by_pool[pool].column(taken) for pool, opened in nodes.items() for _, taken in opened]


def node_schedule_bound(instance: Instance, limit: float, pricing_limit: float,
                        smoothing: float = 0.5, heuristic_share: float = 0.3, log=print) -> dict:
    """The best Lagrangian bound within `limit` CPU s, from the aggregate LP's duals on: the
    master first grown by the greedy pricing alone (cheap: no bound), for at most
    `heuristic_share` of the limit, then rounds of exact pricing (each a bound)."""
    began = time.process_time()
    runs = runs_of(instance)
    lp, centre = aggregate_lp(instance, runs)
    log(f"aggregate LP {lp:.2f} ({time.process_time() - began:.1f} CPU s)")
    pricers = [PoolPricing(instance, pool, runs) for pool in instance.pools]
    master = Master(instance, runs)
    for column in first_fit_columns(instance, runs, pricers):
        master.add(column)
    master_value = _grown_by_greedy(master, instance, pricers, began + heuristic_share * limit, log)
    # the first point priced is the LP's duals: the Lagrangian there is >= the LP (equal where
    # no pool's node count binds in the LP, above where one does), so no bound stated is below it
    best, point, history = lp, centre, []
    iteration = 0
    while True:
        iteration += 1
        point = _valid(point)
        least: dict[str, float] = {}
        for pricer in pricers:
            left = limit - (time.process_time() - began)
            start = pricer.greedy(point) if pricer.items else np.zeros(0, dtype=np.int64)
            if start.any():
                master.add(pricer.column(start))
            found, least[pricer.pool] = pricer.exact(point, start, max(1.0, min(pricing_limit, left)))
            if found.any() and not np.array_equal(found, start):
                master.add(pricer.column(found))
        lower = lagrangian(instance, runs, point, least)
        if lower > best:
            best, centre = lower, point
        cpu = time.process_time() - began
        history.append((iteration, cpu, lower, best, master_value))
        log(f"it {iteration:3d} {cpu:7.1f} CPU s  lagrangian {lower:11.2f}  best {best:11.2f}  "
            f"master {master_value:11.2f}  columns {len(master.columns)}")
        if cpu >= limit or (math.isfinite(best) and master_value - best <= 1e-5 * abs(best)):
            break
        before = master_value
        master_value = _grown_by_greedy(master, instance, pricers, time.process_time() + 0.05 * limit,
                                        log)
        _, proposed, _ = master_duals(master, instance)
        # the master no lower: the columns priced at the mixed point did not help it, so price at
        # its own duals (Wentges' mispricing step; at convergence that states the master's value)
        stalled = master_value >= before - 1e-9 * abs(before)
        point = proposed if stalled else centre.mixed(proposed, smoothing)
    return {"lp": lp, "bound": best, "master": master_value, "iterations": iteration,
            "columns": len(master.columns), "cpu": time.process_time() - began,
            "history": history}


def converged_bound(instance: Instance, limit: float, final_limit: float, integral_limit: float = 0.0,
                    log=print) -> dict:
    """The master converged with cheap pricing first, the Lagrangian proven only at its end.

    Each round prices every pool at the master's own duals with the cheapest level that finds a
    column entering the master (reduced cost below minus its pool's node-count dual): (1) the
    greedy, its awake segments made to pay (`PoolPricing.improved`); (2) the dynamic program
    over awake segments (`PoolPricing.by_segments`); (3) the exact
    pricing (`final_limit` s per pool), whose dual bounds give a Lagrangian bound (valid at any
    duals). Levels 1-2 state nothing; the master's value after them is an upper limit on what
    node schedules can prove (the full master has every column these have and more). Stops when
    an exact round finds no column (then the Lagrangian equals the master's value up to the
    pricing's gap), or when `limit` CPU s are spent: then one exact round at the last duals.
    The bound stated is max(the aggregate LP, the best Lagrangian). With `integral_limit` > 0
    the master is then solved with whole columns (`Master.integral`): a schedule over the
    columns priced (preemptible jobs relaxed to replica-steps), an upper bound, or None."""
    began = time.process_time()
    runs = runs_of(instance)
    lp, _ = aggregate_lp(instance, runs)
    every = [PoolPricing(instance, pool, runs) for pool in instance.pools]
    pricers = [pricer for pricer in every if pricer.items]
    master = Master(instance, runs)
    for column in first_fit_columns(instance, runs, every):
        master.add(column)
    best, history, rounds = lp, [], 0
    while True:
        rounds += 1
        value, duals, worth = master_duals(master, instance)
        duals = _valid(duals)
        out_of_time = time.process_time() - began >= limit
        level, added, least = 1, 0, {}
        if not out_of_time:
            added = _priced_cheaply(master, pricers, duals, worth, segments=False)
            if not added:
                level, added = 2, _priced_cheaply(master, pricers, duals, worth, segments=True)
        if not added:
            level = 3
            for pricer in pricers:
                start = pricer.improved(pricer.greedy(duals), duals)
                found, least[pricer.pool] = pricer.exact(duals, start, final_limit)
                if pricer.reduced_cost(found, duals) < -worth[pricer.pool] - 1e-6:
                    master.add(pricer.column(found))
                    added += 1
            lower = lagrangian(instance, runs, duals, _every_pool(instance, least))
            best = max(best, lower)
            log(f"  exact round: lagrangian {lower:.2f}, least reduced costs "
                + ", ".join(f"{pool} {value:.2f} (worth {worth[pool]:.2f})" for pool, value in least.items()))
        cpu = time.process_time() - began
        history.append((rounds, level, cpu, value, best))
        if level > 1 or rounds % 10 == 0:
            log(f"round {rounds:4d} level {level} {cpu:7.1f} CPU s  master {value:11.2f}  "
                f"bound {best:11.2f}  columns {len(master.columns)} (+{added})")
        if level == 3 and (not added or out_of_time):
            break
    value, _, _ = master_duals(master, instance)
    schedule = master.integral(integral_limit)
    return {"lp": lp, "bound": best, "master": value, "schedule": schedule, "rounds": rounds,
            "columns": len(master.columns), "cpu": time.process_time() - began,
            "history": history}


def _every_pool(instance: Instance, least: dict[str, float]) -> dict[str, float]:
    """A pool with no item can host nothing: its least reduced cost is 0 (an empty node)."""
    return {pool: least.get(pool, 0.0) for pool in instance.pools}


def _priced_cheaply(master: Master, pricers: list[PoolPricing], duals: Duals,
                    worth: dict[str, float], segments: bool) -> int:
    """One round of level 1 (the greedy) or level 2 (`by_segments`) pricing, each column
    improved: how many columns entered the master."""
    added = 0
    for pricer in pricers:
        taken = pricer.by_segments(duals) if segments else pricer.improved(pricer.greedy(duals), duals)
        if taken.any() and pricer.reduced_cost(taken, duals) < -worth[pricer.pool] - 1e-6:
            master.add(pricer.column(taken))
            added += 1
    return added


def _heaviest_disjoint(spans: list[tuple[int, int, float, dict]]) -> list[tuple[int, int, float, dict]]:
    """The disjoint spans [first, end) of most net gain (weighted interval scheduling)."""
    spans = sorted(spans, key=lambda span: span[0])
    ends = [end for end, _, _, _ in spans]
    best = [(0.0, [])]  # best[i]: over the first i spans
    for i, span in enumerate(spans):
        before = int(np.searchsorted(ends, span[1], side="right"))  # spans ending by its first
        with_it = best[before][0] + span[2]
        best.append((with_it, best[before][1] + [span]) if with_it > best[i][0] else best[i])
    return best[-1][1]


def _segments(awake: np.ndarray) -> list[tuple[int, int]]:
    """The maximal runs of awake steps, (first, last) each."""
    edges = np.diff(np.concatenate([[0], awake.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def _grown_by_greedy(master: Master, instance: Instance, pricers: list[PoolPricing],
                     until: float, log) -> float:
    """Master rounds with the greedy pricing only, until it finds no column of negative
    reduced cost or the CPU clock reaches `until`: the master's value (not a bound)."""
    rounds = 0
    while True:
        value, duals, worth = master_duals(master, instance)
        duals = _valid(duals)
        added = 0
        for pricer in pricers:
            if pricer.items:
                taken = pricer.greedy(duals)
                if taken.any() and pricer.reduced_cost(taken, duals) < -worth[pricer.pool] - 1e-6:
                    master.add(pricer.column(taken))
                    added += 1
        rounds += 1
        if not added or time.process_time() >= until:
            log(f"   greedy rounds {rounds}: master {value:.2f}, {len(master.columns)} columns")
            return value


def _valid(duals: Duals) -> Duals:
    """Duals zeroed below 1e-9 and never negative (the Lagrangian is evaluated at exactly the
    point the pricing minimised for)."""
    return Duals(np.where(duals.pi > 1e-9, duals.pi, 0.0),
                 {s: np.maximum(v, 0.0) for s, v in duals.nu.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    instance_arguments(parser)
    parser.add_argument("--limit", type=float, default=600.0, help="CPU seconds in all")
    parser.add_argument("--pricing-limit", type=float, default=30.0,
                        help="seconds for one pool's pricing MIP (its dual bound is kept)")
    parser.add_argument("--smoothing", type=float, default=0.5)
    parser.add_argument("--no-preemptible", action="store_true")
    parser.add_argument("--converge", action="store_true",
                        help="converge the master with cheap pricing, prove only at its end")
    parser.add_argument("--integral", type=float, default=0.0,
                        help="with --converge: seconds for the master with whole columns at the end")
    arguments = parser.parse_args()
    instance = generate(arguments.jobs, arguments.steps, arguments.nodes, arguments.seed)
    if arguments.no_preemptible:
        instance.jobs = [j for j in instance.jobs if not j.preemptible]
    if arguments.converge:
        result = converged_bound(instance, arguments.limit, arguments.pricing_limit,
                                 arguments.integral)
        rounds = result["rounds"]
        print(f"the master with whole columns: {result['schedule']} "
              f"({result['cpu']:.1f} CPU s with it)")
    else:
        result = node_schedule_bound(instance, arguments.limit, arguments.pricing_limit,
                                     arguments.smoothing)
        rounds = result["iterations"]
    rise = result["bound"] / result["lp"] - 1
    print(f"node-schedule bound {result['bound']:.2f} against the aggregate LP {result['lp']:.2f}"
          f" (+{rise:.3%}); master {result['master']:.2f}; {rounds} rounds, "
          f"{result['columns']} columns, {result['cpu']:.1f} CPU s")


if __name__ == "__main__":
    main()
