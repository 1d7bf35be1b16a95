"""Which side of issue 19's gap on the second shape is open: a bound over node schedules.

    .venv/bin/python bench/timing_sites_bound.py --jobs 100 --nodes 100 --limit 600
    .venv/bin/python bench/timing_sites_bound.py --jobs 40 --steps 48 --nodes 20 --seed 2 --no-preemptible

fitc's proven bound on `bench/timing_sites.py` is the LP of its time model: replicas counted
per pool and step, nodes in use per pool and step a fraction. That relaxation lets a node be
part-awake; a real node is paid whole at every step anything runs on it, and a replica keeps
its node for its whole run, so nodes are part-empty at the edges of runs. This reference
(written apart from fitc: no fitc code) computes a bound that sees that: a Dantzig-Wolfe
decomposition whose column is one node's whole schedule over the horizon.

Master (an LP over columns p of pool c, lambda[c,p] >= 0 nodes following p):
    min   sum cost(p) lambda                       cost(p): the node's price at each step it is awake
    s.t.  sum n[k](p) lambda >= R[k]               every run k of a job: its replicas placed
          sum_p lambda[c,p] <= N[c]                the pool's nodes
          sum w[c] awake[t](p) lambda <= cap[s,t]  each site's power cap per step
Pricing (per pool, an exact MIP): the node schedule of least reduced cost: integer y[k,s]
replicas of k starting at s, a[t] the node awake at t, per step and resource what runs within
the node's capacity times a[t].

The bound kept is Lagrangian, valid at every iteration, not only at convergence: for any
duals pi >= 0 (cover rows) and nu >= 0 (cap rows),
    L(pi, nu) = sum pi[k] R[k] - sum nu[s,t] cap[s,t] + sum_c N[c] min(0, rc*[c])
where rc*[c] is a lower bound on the least reduced cost of a node schedule of pool c (the
pricing MIP's proven bound). Why valid: every schedule of the instance is a choice of at most
N[c] node schedules per pool covering every replica within the caps; relaxing the cover and
cap rows with those multipliers can only lower its cost, and the relaxed minimum is the
formula (each pool independently takes N[c] copies of its best schedule, or none).

Relaxations kept (so the bound stays a bound): a preemptible replica is split into unit
steps (its minimum segment and one-node-per-step ignored), the cover counts replicas (not
which start each keeps across nodes). Not a test: numbers go to docs/performance.md.
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
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing_sites import KINDS, Instance, generate, instance_arguments
from timing_sites_exact import row_matrix


@dataclass(frozen=True)
class Run:
    """One run of a job: what the cover row asks for (replicas, or replica-steps when the job
    is preemptible and split into unit steps)."""

    job: str
    earliest: int
    deadline: int
    duration: int
    replicas: int
    need: np.ndarray  # cpu, memory, gpus of one replica
    pools: tuple[str, ...]
    units: bool  # preemptible: the cover counts replica-steps

    @property
    def asked(self) -> int:
        return self.replicas * (self.duration if self.units else 1)

    def starts(self) -> range:
        if self.units:
            return range(self.earliest, self.deadline)
        return range(self.earliest, self.deadline - self.duration + 1)

    def length(self) -> int:
        return 1 if self.units else self.duration


def runs_of(instance: Instance) -> list[Run]:
    runs = []
    for job in instance.jobs:
        pools = tuple(p for p in instance.pools if instance.may_use(job, p))
        need = np.array([job.cpu, job.memory_gib, job.gpus])
        for earliest, deadline in job.windows(instance.steps):
            runs.append(Run(job.name, earliest, deadline, job.duration, job.replicas, need, pools,
                            job.preemptible))
    return runs


def hourly_cost(instance: Instance, pool: str) -> np.ndarray:
    site, kind_name, _ = instance.pools[pool]
    kind = KINDS[kind_name]
    return kind.usd_per_hour + kind.watts / 1000 * np.array(instance.prices[site])


@dataclass
class Column:
    pool: str
    cost: float
    counts: dict[int, int]  # run index -> replicas (or replica-steps) it covers
    awake: np.ndarray  # bool per step


class Pricing:
    """The node schedule of least reduced cost for one pool, as a MIP (scipy's milp: HiGHS)."""

    def __init__(self, instance: Instance, pool: str, runs: list[Run]):
        self.instance, self.pool = instance, pool
        site, kind_name, _ = instance.pools[pool]
        self.site, self.kind = site, KINDS[kind_name]
        self.capacity = np.array([self.kind.cpu, self.kind.memory_gib, self.kind.gpus])
        self.cost = hourly_cost(instance, pool)
        self.items: list[tuple[int, int, int]] = []  # (run index, start, most on one node)
        for index, run in enumerate(runs):
            if pool not in run.pools:
                continue
            fits = min(int(c // n) for c, n in zip(self.capacity, run.need) if n > 0)
            most = min(run.replicas, fits)
            for start in run.starts():
                self.items.append((index, start, most))
        self.runs = runs

    def solve(self, duals: np.ndarray, nu: np.ndarray, limit: float) -> tuple[Column | None, float]:
        """(the best schedule found if its reduced cost is negative, a lower bound on the
        least reduced cost)."""
        steps = self.instance.steps
        step_cost = self.cost + nu * self.kind.watts
        items = [(k, s, m) for k, s, m in self.items if duals[k] > 1e-9]
        if not items:
            return None, 0.0
        count = steps + len(items)
        objective = np.concatenate([step_cost, [-duals[k] for k, _, _ in items]])
        rows, cols, vals, lower, upper = [], [], [], [], []
        row = 0
        # capacity per step and resource: what runs <= capacity x awake
        use: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for j, (k, s, m) in enumerate(items):
            run = self.runs[k]
            for t in range(s, s + run.length()):
                for r in range(3):
                    if run.need[r]:
                        use.setdefault((t, r), []).append((steps + j, float(run.need[r])))
                # a replica running at t wakes the node (the strong link)
                rows += [row, row]
                cols += [steps + j, t]
                vals += [1.0, -float(m)]
                lower.append(-math.inf)
                upper.append(0.0)
                row += 1
        for (t, r), terms in use.items():
            for column, amount in terms:
                rows.append(row)
                cols.append(column)
                vals.append(amount)
            rows.append(row)
            cols.append(t)
            vals.append(-float(self.capacity[r]))
            lower.append(-math.inf)
            upper.append(0.0)
            row += 1
        # at most a run's replicas on one node (per step for replica-steps)
        per_run: dict[tuple[int, int], list[int]] = {}
        for j, (k, s, _) in enumerate(items):
            key = (k, s) if self.runs[k].units else (k, -1)
            per_run.setdefault(key, []).append(steps + j)
        for (k, _), columns in per_run.items():
            for column in columns:
                rows.append(row)
                cols.append(column)
                vals.append(1.0)
            lower.append(-math.inf)
            upper.append(float(self.runs[k].replicas))
            row += 1
        matrix = coo_array((vals, (rows, cols)), shape=(row, count)).tocsr()
        upper_bounds = np.concatenate([np.ones(steps), [float(m) for _, _, m in items]])
        result = milp(objective, integrality=np.ones(count), bounds=Bounds(0, upper_bounds),
                      constraints=LinearConstraint(matrix, lower, upper),
                      options={"time_limit": limit, "disp": False, "mip_rel_gap": 1e-6})
        bound = float(getattr(result, "mip_dual_bound", math.nan))
        if result.x is None:
            return None, min(bound, 0.0) if not math.isnan(bound) else -math.inf
        x = np.round(result.x).astype(int)
        awake = x[:steps].astype(bool)
        counts: dict[int, int] = {}
        for j, (k, _, _) in enumerate(items):
            if x[steps + j]:
                counts[k] = counts.get(k, 0) + int(x[steps + j])
        column = Column(self.pool, float(self.cost[awake].sum()), counts, awake)
        return (column if result.fun < -1e-6 else None), min(bound, float(result.fun))


class Master:
    """The restricted master LP in highspy, columns added as they are priced."""

    def __init__(self, instance: Instance, runs: list[Run]):
        self.instance, self.runs = instance, runs
        self.sites = list(instance.caps)
        self.pools = list(instance.pools)
        steps = instance.steps
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        inf = highspy.kHighsInf
        for run in runs:  # cover rows
            self.highs.addRow(float(run.asked), inf, 0, np.array([], dtype=np.int32), np.array([]))
        for pool in self.pools:  # node counts
            self.highs.addRow(-inf, float(instance.pools[pool][2]), 0, np.array([], dtype=np.int32),
                              np.array([]))
        for site in self.sites:  # caps
            for t in range(steps):
                self.highs.addRow(-inf, float(instance.caps[site][t]), 0,
                                  np.array([], dtype=np.int32), np.array([]))
        # an artificial per cover row: dear enough that the LP leaves it when columns cover
        for index, run in enumerate(runs):
            dearest = max(hourly_cost(instance, p).max() for p in run.pools)
            penalty = 10.0 * dearest * run.duration
            self.highs.addCol(penalty, 0.0, inf, 1, np.array([index], dtype=np.int32),
                              np.array([1.0]))
        self.columns: list[Column] = []

    def cap_row(self, site: str, step: int) -> int:
        return len(self.runs) + len(self.pools) + self.sites.index(site) * self.instance.steps + step

    def add(self, column: Column) -> None:
        site, kind_name, _ = self.instance.pools[column.pool]
        watts = KINDS[kind_name].watts
        index = list(column.counts) + [len(self.runs) + self.pools.index(column.pool)]
        values = [float(v) for v in column.counts.values()] + [1.0]
        for t in np.flatnonzero(column.awake):
            index.append(self.cap_row(site, int(t)))
            values.append(float(watts))
        self.highs.addCol(column.cost, 0.0, highspy.kHighsInf, len(index),
                          np.array(index, dtype=np.int32), np.array(values))
        self.columns.append(column)

    def integral(self, limit: float) -> float | None:
        """The master with whole nodes per column (a MIP over the columns priced): a schedule
        of the instance when no artificial is used (a replica covered twice is dropped from
        one of its columns' nodes, which wakes nothing more), so an upper bound: what the
        columns found can be worth as a schedule. None: none found in `limit` s."""
        if limit <= 0:
            return None
        count = self.highs.getNumCol()
        self.highs.changeColsIntegrality(count, np.arange(count, dtype=np.int32),
                                         np.array([highspy.HighsVarType.kInteger] * count))
        self.highs.setOptionValue("time_limit", float(limit))
        self.highs.run()
        solution = np.array(self.highs.getSolution().col_value)
        if self.highs.getInfo().primal_solution_status != 2 or solution[:len(self.runs)].max() > 0.5:
            return None
        return float(self.highs.getInfo().objective_function_value)

    def solve(self) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
        self.highs.run()
        value = self.highs.getInfo().objective_function_value
        dual = np.array(self.highs.getSolution().row_dual)
        pi = np.maximum(dual[:len(self.runs)], 0.0)
        nu = {site: np.maximum(-dual[self.cap_row(site, 0):self.cap_row(site, 0) + self.instance.steps],
                               0.0) for site in self.sites}
        return value, pi, nu


def lagrangian(instance: Instance, runs: list[Run], pi: np.ndarray, nu: dict[str, np.ndarray],
               least: dict[str, float]) -> float:
    value = float(sum(p * run.asked for p, run in zip(pi, runs)))
    value -= float(sum((nu[s] * np.array(instance.caps[s])).sum() for s in nu))
    value += sum(instance.pools[p][2] * min(0.0, least[p]) for p in instance.pools)
    return value


def bound(instance: Instance, limit: float, pricing_limit: float, integral_limit: float = 0.0
          ) -> dict:
    """Column generation until no pool prices a column of negative reduced cost (the master's
    value is then the node-schedule bound) or the CPU limit; the best Lagrangian bound seen."""
    began = time.process_time()
    runs = runs_of(instance)
    master = Master(instance, runs)
    pricers = {pool: Pricing(instance, pool, runs) for pool in instance.pools}
    best, iteration = -math.inf, 0
    while time.process_time() - began < limit:
        iteration += 1
        value, pi, nu = master.solve()
        # the pricing leaves out items of dual <= 1e-9: zero them here too, so that the
        # Lagrangian is evaluated at exactly the duals the pricing minimised for
        pi = np.where(pi > 1e-9, pi, 0.0)
        least, added = {}, 0
        for pool, pricer in pricers.items():
            column, least[pool] = pricer.solve(pi, nu[instance.pools[pool][0]], pricing_limit)
            if column is not None:
                master.add(column)
                added += 1
        lower = lagrangian(instance, runs, pi, nu, least)
        best = max(best, lower)
        print(f"it {iteration:4d} {time.process_time() - began:7.1f} CPU s  master {value:10.2f}  "
              f"lagrangian {lower:10.2f}  best bound {best:10.2f}  columns {len(master.columns)}",
              flush=True)
        if added == 0 or value - best <= 1e-6 * abs(value):
            break
    found = master.integral(integral_limit)
    return {"bound": best, "master": value, "iterations": iteration, "schedule": found,
            "cpu": time.process_time() - began, "columns": len(master.columns)}


def aggregate(instance: Instance, runs: list[Run], integral: bool, limit: float,
              log: bool = False) -> dict:
    """fitc's kind of relaxation, written here apart: replicas per pool and start x[k,c,s],
    nodes in use per pool and step u[c,t] (fractions, or integers when `integral`), per pool,
    step and resource what runs within u x the node's capacity, each site's cap per step.
    Its LP is what the node-schedule bound is compared with."""
    steps = instance.steps
    cost: list[float] = []
    upper: list[float] = []
    u: dict[tuple[str, int], int] = {}
    for pool in instance.pools:
        for t, price in enumerate(hourly_cost(instance, pool)):
            u[pool, t] = len(cost)
            cost.append(float(price))
            upper.append(float(instance.pools[pool][2]))
    rows: list[tuple[dict[int, float], float, float]] = []
    use: dict[tuple[str, int, int], dict[int, float]] = {}
    for run in runs:
        cover: dict[int, float] = {}
        for pool in run.pools:
            for s in run.starts():
                column = len(cost)
                cost.append(0.0)
                upper.append(float(run.replicas))
                cover[column] = 1.0
                for t in range(s, s + run.length()):
                    for r in range(3):
                        if run.need[r]:
                            use.setdefault((pool, t, r), {})[column] = float(run.need[r])
        rows.append((cover, float(run.asked), math.inf))
    for (pool, t, r), terms in use.items():
        kind = KINDS[instance.pools[pool][1]]
        capacity = (kind.cpu, kind.memory_gib, kind.gpus)[r]
        rows.append(({**terms, u[pool, t]: -float(capacity)}, -math.inf, 0.0))
    for site, caps in instance.caps.items():
        for t in range(steps):
            rows.append(({u[p, t]: float(KINDS[kind].watts) for p, (s, kind, _) in
                          instance.pools.items() if s == site}, -math.inf, float(caps[t])))
    matrix = row_matrix(rows, len(cost))
    began = time.process_time()
    result = milp(np.array(cost), integrality=np.full(len(cost), 1 if integral else 0),
                  bounds=Bounds(0, np.array(upper)),
                  constraints=LinearConstraint(matrix, [r[1] for r in rows], [r[2] for r in rows]),
                  options={"time_limit": limit, "disp": log})
    value = None if result.x is None else float(result.fun)
    proven = float(getattr(result, "mip_dual_bound", math.nan)) if integral else value
    return {"value": value, "bound": proven, "cpu": time.process_time() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    instance_arguments(parser, jobs=100, nodes=100)
    parser.add_argument("--limit", type=float, default=600.0, help="CPU seconds in all")
    parser.add_argument("--pricing-limit", type=float, default=20.0)
    parser.add_argument("--aggregate-mip", type=float, default=0.0,
                        help="seconds for the aggregate model as a MIP (its bound), 0: not run")
    parser.add_argument("--integral-limit", type=float, default=0.0,
                        help="seconds for the master over the priced columns as a MIP (a schedule)")
    parser.add_argument("--log", action="store_true", help="HiGHS's log of the aggregate MIP")
    parser.add_argument("--no-preemptible", action="store_true",
                        help="leave preemptible jobs out (as bench/timing_sites_exact.py does)")
    arguments = parser.parse_args()
    instance = generate(arguments.jobs, arguments.steps, arguments.nodes, arguments.seed)
    if arguments.no_preemptible:
        instance.jobs = [j for j in instance.jobs if not j.preemptible]
    runs = runs_of(instance)
    lp = aggregate(instance, runs, False, 600.0)
    print(f"aggregate LP {lp['bound']:.2f} ({lp['cpu']:.1f} CPU s)", flush=True)
    if arguments.aggregate_mip:
        mip = aggregate(instance, runs, True, arguments.aggregate_mip, arguments.log)
        print(f"aggregate MIP best {mip['value']} bound {mip['bound']:.2f} ({mip['cpu']:.1f} CPU s)",
              flush=True)
    result = bound(instance, arguments.limit, arguments.pricing_limit, arguments.integral_limit)
    print(f"schedule from the columns (integer master): {result['schedule']}")
    print(f"node-schedule bound {result['bound']:.2f} (master {result['master']:.2f}, "
          f"{result['iterations']} iterations, {result['columns']} columns, {result['cpu']:.1f} CPU s)")


if __name__ == "__main__":
    main()
