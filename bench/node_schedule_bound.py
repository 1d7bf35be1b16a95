"""How far the time model's LP bound lies below one over whole node schedules (issue 19's bound).

    .venv/bin/python bench/node_schedule_bound.py --jobs 20 --nodes 20 --seed 1 --minutes 3

On `timing_sites.generate(JOBS, 168, NODES, SEED)` (its preemptible jobs left out: their
segments are no node schedule's), two relaxations of the same placement problem:

- the time model's own LP (`timeline.encode`, relaxed): per class and step, awake nodes >= the
  load in nodes' worth (what fitc states as its bound, and what issue 19's goal is measured
  against);
- the configuration LP: a column is one node's schedule over the whole horizon (replica runs
  that fit its capacity at every step; it costs its awake steps at the class's rate), rows
  cover every run's replicas, count each class's nodes (in all and per step) and the power caps
  per step. A replica keeps its node for its whole run here, which no per-step row sees.

The configuration LP is solved by column generation (the first columns: fitc's own schedule,
a node each, and each run's replica alone), the pricing per class an exact HiGHS MIP (a knapsack
over time: which runs at which starts on one node, the node awake wherever one runs). At every
dual vector y the Lagrangian y.b + sum over classes of (nodes x the least reduced cost, if
negative) is a lower bound of the configuration LP, hence of every schedule (its pricing MIP's
own dual bound stands in where the MIP is cut by its limit); duals are smoothed towards the best
(Wentges) to converge in fewer rounds. The first best duals are the per-step LP's own (the time
model's LP written in the configuration LP's rows, `fluid_duals`): every node schedule prices at
0 or more there, so the Lagrangian there is that LP's value (the time model's LP, or 0.05% below
it at 1,000 nodes) and the best bound never starts below it. Prints per round the restricted
master's value (an upper limit on the configuration LP) and the best bound; the last line the
lift over the time model's LP. Not a test: numbers go to docs/performance.md (CPU seconds; the
machine is shared).

At 1,000 nodes no pricing MIP reaches a dual bound within 30 s (session 46): `--pricing greedy`
prices by `greedy_columns` instead (a node filled run by run, class by class, as many nodes as
the class has), which lowers the restricted master (an upper limit) but proves no bound.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import highspy
import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csc_matrix

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing_sites import generate, policy_text  # noqa: E402

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.problem import Problem  # noqa: E402
from fitlang.solve.timeline_pack import (  # noqa: E402
    Ledger,
    holding,
    need_of,
    node_schedule,
    run_of,
    search_from,
)

# what an uncovered replica costs in the restricted master (its artificial column): far above
# any run's cost on a node of its own at the sites shape's rates, so no optimum keeps one
UNCOVERED = 1e3
# the weight of the best bound's duals in the point priced (Wentges smoothing)
SMOOTHING = 0.6


def problem_of(jobs: int, nodes: int, seed: int) -> Problem:
    """The instance compiled, its preemptible demands left out."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sites.fit"
        path.write_text(policy_text(generate(jobs, 168, nodes, seed), "cost"))
        problem = Compilation(path).problem
    return dataclasses.replace(problem, demands=[d for d in problem.demands if d.min_segment is None])


@dataclasses.dataclass
class Column:
    class_index: int
    replicas: dict[int, int]  # run index -> replicas of it on the node
    awake: np.ndarray  # per step
    # (run, start, replicas) as placed, where the pricing that made the column says
    placed: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)


class Configurations:
    """The configuration LP's rows and columns, its restricted master and its pricing."""

    def __init__(self, problem: Problem) -> None:
        assert problem.timeline is not None
        self.problem, self.steps = problem, problem.timeline.steps
        self.ledger = Ledger(problem)
        self.classes = [c for c in problem.classes if c.count > 0]
        self.runs = [(d, k, w) for d in problem.demands for k, w in enumerate(d.windows)]
        self.run_index = {(d.name, k): i for i, (d, k, _) in enumerate(self.runs)}
        self.caps = [(cap, scope) for cap, scope, _ in self.ledger.caps]
        steps, covers = self.steps, len(self.runs)
        self.class_row, self.step_row = covers, covers + len(self.classes)
        self.cap_row = self.step_row + len(self.classes) * steps
        self.b = np.zeros(self.cap_row + len(self.caps) * steps)
        self.b[:covers] = [-d.replicas_per_run for d, _, _ in self.runs]  # covers as -sum <= -replicas
        for i, node_class in enumerate(self.classes):
            self.b[self.class_row + i] = node_class.count
            self.b[self.step_row + i * steps:self.step_row + (i + 1) * steps] = [
                node_class.count_at(t) for t in range(steps)]
        for j, (cap, _) in enumerate(self.caps):
            self.b[self.cap_row + j * steps:self.cap_row + (j + 1) * steps] = cap
        self.columns: list[Column] = []

    def step_prices(self, class_index: int, y: np.ndarray) -> np.ndarray:
        """What a step awake costs a column of the class at duals y (its rate less the duals
        of its class-step and cap rows)."""
        class_id, steps = self.classes[class_index].id, self.steps
        w = self.ledger.rate[class_id] - y[self.step_row + class_index * steps:
                                           self.step_row + (class_index + 1) * steps]
        for j, (_, scope) in enumerate(self.caps):
            if class_id in scope:
                first = self.cap_row + j * steps
                w = w - self.ledger.watts[class_id] * y[first:first + steps]
        return w

    def reduced_cost(self, column: Column, y: np.ndarray) -> float:
        covered = sum(-y[run] * count for run, count in column.replicas.items())
        return float(column.awake @ self.step_prices(column.class_index, y)) - covered \
            - float(y[self.class_row + column.class_index])

    def master(self) -> tuple[float, np.ndarray]:
        """The restricted master's value and its row duals (<= 0: `linprog`'s marginals)."""
        rows, columns, values = [], [], []
        for index, column in enumerate(self.columns):
            entries = self._entries(column)
            rows += [row for row, _ in entries]
            values += [value for _, value in entries]
            columns += [index] * len(entries)
        count, covers = len(self.columns), len(self.runs)
        rows += list(range(covers))
        columns += list(range(count, count + covers))
        values += [-1.0] * covers
        matrix = csc_matrix((values, (rows, columns)), shape=(len(self.b), count + covers))
        cost = [float(c.awake @ self.ledger.rate[self.classes[c.class_index].id]) for c in self.columns]
        result = linprog(np.array(cost + [UNCOVERED] * covers), A_ub=matrix, b_ub=self.b, bounds=(0, None),
                         method="highs")
        assert result.status == 0, result.message
        return float(result.fun), result.ineqlin.marginals

    def _entries(self, column: Column) -> list[tuple[int, float]]:
        i, steps = column.class_index, self.steps
        class_id = self.classes[i].id
        entries = [(run, -float(count)) for run, count in column.replicas.items()]
        entries.append((self.class_row + i, 1.0))
        for t in np.flatnonzero(column.awake):
            entries.append((self.step_row + i * steps + int(t), 1.0))
            entries += [(self.cap_row + j * steps + int(t), self.ledger.watts[class_id])
                        for j, (_, scope) in enumerate(self.caps) if class_id in scope]
        return entries

    def priced(self, class_index: int, y: np.ndarray, limit: float) -> tuple[float, Column | None]:
        """(a lower bound on the class's least reduced cost at y, the best column found)."""
        node_class = self.classes[class_index]
        covered = -y[:len(self.runs)]
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("time_limit", limit)
        off = self.ledger.off[node_class.id]
        for t, price in enumerate(self.step_prices(class_index, y)):  # awake[t]: columns 0..steps-1
            highs.addVar(0, 0 if off[t] else 1)
            highs.changeColCost(t, float(price))
            highs.changeColIntegrality(t, highspy.HighsVarType.kInteger)
        starts = self._starts(highs, node_class, covered)
        if not starts:
            return -float(y[self.class_row + class_index]), None
        self._rows(highs, node_class, starts)
        highs.run()
        status = highs.modelStatusToString(highs.getModelStatus())
        if status not in ("Optimal", "Time limit reached"):
            raise RuntimeError(status)
        info, chosen = highs.getInfo(), highs.getSolution().col_value
        shift = -float(y[self.class_row + class_index])
        lower = min(info.mip_dual_bound, info.objective_function_value) + shift
        column = Column(class_index, {}, np.zeros(self.steps, dtype=bool))
        for run, start, index, duration, _ in starts:
            if chosen[index] > 0.5:
                column.replicas[run] = column.replicas.get(run, 0) + int(chosen[index] + 0.5)
                column.awake[start:start + duration] = True
        return lower, column if column.replicas else None

    def _starts(self, highs: highspy.Highs, node_class, covered: np.ndarray) -> list[tuple]:
        """One integer column per (run, start) that can pay (covered > 0) and fits the node."""
        starts: list[tuple] = []
        capacity, off = self.ledger.capacity[node_class.id], self.ledger.off[node_class.id]
        for run, (demand, _, window) in enumerate(self.runs):
            need = need_of(demand)
            if node_class.id not in demand.eligible or covered[run] <= 1e-9 or (need > capacity).any():
                continue
            for start in window.starts():
                if off[start:start + window.duration].any():
                    continue
                index = highs.getNumCol()
                highs.addVar(0, demand.replicas_per_run)
                highs.changeColCost(index, -float(covered[run]))
                highs.changeColIntegrality(index, highspy.HighsVarType.kInteger)
                starts.append((run, start, index, window.duration, need))
        return starts

    def _rows(self, highs: highspy.Highs, node_class, starts: list[tuple]) -> None:
        """At most a run's replicas; per step and resource, what runs then within capacity
        while the node is awake."""
        for run in {entry[0] for entry in starts}:
            indices = [entry[2] for entry in starts if entry[0] == run]
            highs.addRow(-highspy.kHighsInf, self.runs[run][0].replicas_per_run, len(indices),
                         np.array(indices, dtype=np.int32), np.ones(len(indices)))
        capacity = self.ledger.capacity[node_class.id]
        for t in range(self.steps):
            running = [entry for entry in starts if entry[1] <= t < entry[1] + entry[3]]
            for resource, amount in enumerate(capacity):
                on = [entry for entry in running if entry[4][resource] > 0]
                if on:
                    indices = np.array([entry[2] for entry in on] + [t], dtype=np.int32)
                    values = np.array([float(entry[4][resource]) for entry in on] + [-float(amount)])
                    highs.addRow(-highspy.kHighsInf, 0, len(indices), indices, values)

    def lagrangian(self, y: np.ndarray, limit: float) -> tuple[float, list[Column]]:
        """The bound at duals y, and the columns the pricing found."""
        total, found = float(y @ self.b), []
        for class_index, node_class in enumerate(self.classes):
            lower, column = self.priced(class_index, y, limit)
            total += node_class.count * min(0.0, lower)
            if column is not None:
                found.append(column)
        return total, found


def fluid_duals(configurations: Configurations) -> tuple[float, np.ndarray]:
    """The per-step LP (replicas per run, class and start; awake nodes per class and step at most
    its count, the work within them per resource, the caps) and its duals in the configuration
    LP's rows (class rows 0): its value is the time model's LP or a little below it (1,396.93 both
    on 20 / 20 / 2; 103,074.72 against 103,125.61 on 1,000 / 1,000 / 1, in 29 CPU s), and at its
    duals no node schedule prices below 0 (a schedule's awake steps pay at least the capacity
    rows' duals of what runs on it). Capacity rows in shares of a node: in units HiGHS called
    this LP unbounded at 1,000 nodes."""
    steps, ledger, classes = configurations.steps, configurations.ledger, configurations.classes
    runs, resources = configurations.runs, len(next(iter(ledger.capacity.values())))
    capacity_row = len(runs)
    count_row = capacity_row + len(classes) * steps * resources
    cap_row = count_row + len(classes) * steps
    b = np.zeros(cap_row + len(configurations.caps) * steps)
    b[:len(runs)] = [-d.replicas_per_run for d, _, _ in runs]
    rows: list[int] = []
    values: list[float] = []
    columns: list[int] = []
    cost: list[float] = []  # a placement costs nothing; its class's awake nodes pay
    for run, (demand, _, window) in enumerate(runs):
        need = need_of(demand)
        for i, node_class in enumerate(classes):
            capacity, off = ledger.capacity[node_class.id], ledger.off[node_class.id]
            if node_class.id not in demand.eligible or (need > capacity).any():
                continue
            for start in window.starts():
                if off[start:start + window.duration].any():
                    continue
                column = [(run, -1.0)] + [
                    (capacity_row + (i * steps + t) * resources + r, float(need[r] / capacity[r]))
                    for t in range(start, start + window.duration) for r in range(resources) if need[r] > 0]
                rows += [row for row, _ in column]
                values += [value for _, value in column]
                columns += [len(cost)] * len(column)
                cost.append(0.0)
    for i, node_class in enumerate(classes):
        scopes = [j for j, (_, scope) in enumerate(configurations.caps) if node_class.id in scope]
        for t in range(steps):
            column = [(capacity_row + (i * steps + t) * resources + r, -1.0) for r in range(resources)]
            column.append((count_row + i * steps + t, 1.0))
            column += [(cap_row + j * steps + t, ledger.watts[node_class.id]) for j in scopes]
            rows += [row for row, _ in column]
            values += [value for _, value in column]
            columns += [len(cost)] * len(column)
            cost.append(float(ledger.rate[node_class.id][t]))
            b[count_row + i * steps + t] = node_class.count_at(t)
    for j, (cap, _) in enumerate(configurations.caps):
        b[cap_row + j * steps:cap_row + (j + 1) * steps] = cap
    matrix = csc_matrix((values, (rows, columns)), shape=(len(b), len(cost)))
    result = linprog(np.array(cost), A_ub=matrix, b_ub=b, bounds=(0, None), method="highs-ds")
    assert result.status == 0, result.message
    marginals, y = result.ineqlin.marginals, np.zeros(len(configurations.b))
    y[:len(runs)] = marginals[:len(runs)]
    y[configurations.step_row:configurations.cap_row] = marginals[count_row:cap_row]
    y[configurations.cap_row:] = marginals[cap_row:]
    return float(result.fun), y


def greedy_columns(configurations: Configurations, y: np.ndarray, seen: set) -> list[Column]:
    """Columns priced at duals y without a MIP: per class, node after node until a node pays
    nothing, each filled run by run (the best paid per share of the node and step first), a run
    at the start where its copies that fit earn most over the steps they wake. Columns in `seen`
    are left out (and what is returned is added to it)."""
    found = []
    for class_index, node_class in enumerate(configurations.classes):
        left: dict[int, int] = {}
        for _ in range(node_class.count):
            column = _greedy_node(configurations, class_index, y, left)
            if column is None:
                break
            key = (class_index, tuple(sorted(column.replicas.items())), column.awake.tobytes())
            if key not in seen:
                seen.add(key)
                found.append(column)
    return found


def _greedy_node(configurations: Configurations, class_index: int, y: np.ndarray,
                 left: dict[int, int]) -> Column | None:
    node_class = configurations.classes[class_index]
    capacity = configurations.ledger.capacity[node_class.id].astype(float)
    off, prices = configurations.ledger.off[node_class.id], configurations.step_prices(class_index, y)
    covered = -y[:len(configurations.runs)]
    load = np.zeros((configurations.steps, len(capacity)))
    column = Column(class_index, {}, np.zeros(configurations.steps, dtype=bool))
    for run in _by_pay(configurations, node_class, covered, float(np.mean(prices))):
        demand, _, window = configurations.runs[run]
        need = need_of(demand).astype(float)
        starts = np.array([s for s in window.starts() if not off[s:s + window.duration].any()])
        most = left.get(run, demand.replicas_per_run)
        if len(starts) == 0 or most == 0:
            continue
        steps = starts[:, None] + np.arange(window.duration)[None, :]
        room = np.where(need > 0, (capacity - load[steps]) / np.where(need > 0, need, 1), np.inf)
        copies = np.minimum(np.floor(room.min(axis=(1, 2)) + 1e-9), most)
        waking = (prices[steps] * ~column.awake[steps]).sum(axis=1)
        earned = np.where(copies > 0, copies * covered[run] - waking, -np.inf)
        best = int(np.argmax(earned))
        if earned[best] <= 1e-9:
            continue
        start, count = int(starts[best]), int(copies[best])
        load[start:start + window.duration] += count * need
        column.awake[start:start + window.duration] = True
        column.replicas[run] = column.replicas.get(run, 0) + count
        column.placed.append((run, start, count))
        left[run] = most - count
    return column if column.replicas else None


def _by_pay(configurations: Configurations, node_class, covered: np.ndarray, price: float) -> list[int]:
    """The runs that may use the class and pay, by what a replica pays per share of the node and step."""
    capacity = configurations.ledger.capacity[node_class.id]
    paid = []
    for run, (demand, _, window) in enumerate(configurations.runs):
        need = need_of(demand)
        if node_class.id in demand.eligible and covered[run] > 1e-9 and not (need > capacity).any():
            share = float(np.max(need[capacity > 0] / capacity[capacity > 0]))
            paid.append((-covered[run] / (share * window.duration * price), run))
    return [run for _, run in sorted(paid)]


def first_columns(configurations: Configurations, seconds: float) -> float:
    """fitc's own schedule (made node by node, searched for `seconds`), a column per node, and
    each run's replica alone at its cheapest start on each class; the schedule's value."""
    problem = configurations.problem
    spots, missing = node_schedule(problem)
    assert not missing, missing
    spots = search_from(problem, spots, "cost", time.monotonic() + seconds)
    nodes: dict[tuple[str, int], Column] = {}
    index_of = {c.id: i for i, c in enumerate(configurations.classes)}
    for spot in spots:
        column = nodes.setdefault((spot.class_id, spot.node), Column(
            index_of[spot.class_id], {}, np.zeros(configurations.steps, dtype=bool)))
        run = configurations.run_index[spot.demand, run_of(problem.demand(spot.demand), spot.start)]
        column.replicas[run] = column.replicas.get(run, 0) + 1
        column.awake[spot.start:spot.end] = True
    configurations.columns += list(nodes.values())
    for class_index, node_class in enumerate(configurations.classes):
        rate, off = configurations.ledger.rate[node_class.id], configurations.ledger.off[node_class.id]
        for run, (demand, _, window) in enumerate(configurations.runs):
            if node_class.id not in demand.eligible:
                continue
            priced = [(float(rate[s:s + window.duration].sum()), s) for s in window.starts()
                      if not off[s:s + window.duration].any()]
            if priced:
                start = min(priced)[1]
                awake = np.zeros(configurations.steps, dtype=bool)
                awake[start:start + window.duration] = True
                configurations.columns.append(Column(class_index, {run: 1}, awake))
    return holding(problem, spots).total()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=3.0, help="CPU minutes of column generation")
    parser.add_argument("--pricing-limit", type=float, default=20.0, help="CPU s per pricing MIP")
    parser.add_argument("--search", type=float, default=5.0, help="s of fitc's search for the first columns")
    parser.add_argument("--pricing", choices=("mip", "greedy"), default="mip",
                        help="greedy: `greedy_columns` (the master's limit only, no bound)")
    arguments = parser.parse_args()
    problem = problem_of(arguments.jobs, arguments.nodes, arguments.seed)
    began = time.process_time()
    configurations = Configurations(problem)
    lp, best_y = fluid_duals(configurations)
    best = float(best_y @ configurations.b)  # the Lagrangian at the per-step LP's duals: its value
    schedule = first_columns(configurations, arguments.search)
    print(f"{len(problem.demands)} demands, {sum(c.count for c in problem.classes)} nodes: time model's LP "
          f"{lp:.2f} (Lagrangian there {best:.2f}), fitc's schedule {schedule:.2f} "
          f"(+{100 * (schedule / lp - 1):.2f}%), CPU {time.process_time() - began:.0f} s", flush=True)
    seen: set = set()
    while time.process_time() - began < arguments.minutes * 60:
        value, y = configurations.master()
        point = SMOOTHING * best_y + (1 - SMOOTHING) * y
        if arguments.pricing == "greedy":
            found = greedy_columns(configurations, point, seen) + greedy_columns(configurations, y, seen)
        else:
            bound, found = configurations.lagrangian(point, arguments.pricing_limit)
            if bound > best:
                best, best_y = bound, point.copy()
        paying = [c for c in found if configurations.reduced_cost(c, y) < -1e-6]
        if not paying and arguments.pricing == "mip":  # nothing at the smoothed point: at the master's own
            bound, found = configurations.lagrangian(y, arguments.pricing_limit)
            best = max(best, bound)
            paying = [c for c in found if configurations.reduced_cost(c, y) < -1e-6]
        configurations.columns += paying
        print(f"columns {len(configurations.columns)} master {value:.2f} bound {best:.2f} "
              f"CPU {time.process_time() - began:.0f} s", flush=True)
        if not paying or value - best < 1e-4 * abs(value):
            break
    print(f"time model's LP {lp:.2f}; configuration LP in [{best:.2f}, {value:.2f}]: "
          f"+{100 * (best / lp - 1):.3f}% to +{100 * (value / lp - 1):.3f}%", flush=True)


if __name__ == "__main__":
    main()
