"""The workloads with accelerator options whose nodes cannot hold them together: proven before
any model, by a small LP over those nodes alone.

`room.py` proves a workload short of room alone; an option workload is left to its group
there, and several groups share the few accelerator nodes they may use. Inventory 1,000
seed 31 (a plan after a drain): six inference workloads, each one of L4 / L40S / A10G, need
33 L40S GPUs with the 3 L4 nodes taking what they can, where 28 are left. The aggregate model
proved it infeasible in 0.7 s, but the search then placed by priority level by level until
the limit, so neither `fitc solve` nor `fitc plan` said so within 5 s (E0506, `unknown`).

The LP: replicas x[d, c] >= 0 of each option demand d (and of every plain demand that may
use only the option demands' classes) on each class c it may use, at most what the class's
nodes hold of it alone (`room.node_most`); per class and resource, the replicas' requests
within the class's nodes (each node counted at the class's largest); each plain demand
placed whole, each group's throughput delivered, an option's replicas at most its own count
(that many deliver the throughput alone, as the model's p[w] holds them). Every placement of
every replica gives a point of it (the other workloads only take room away), so where it has
none, no placement exists. HiGHS minimises the shortfall (each requirement's share left
unmet) instead of answering "infeasible": a proof only where that least shortfall is clearly
above its tolerances (`MIN_SHORTFALL`), whatever the rounding.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, Problem
from fitlang.solve.backends import HighsBackend
from fitlang.solve.linear import LinearModel, RowBuffer, Status
from fitlang.solve.room import spread_most

# a least shortfall (in shares of a requirement: 1 = a whole workload unmet) at or below this
# proves nothing: HiGHS's primal and dual tolerances are 1e-7
MIN_SHORTFALL = Fraction(1, 10 ** 4)
LP_SECONDS = 1.0  # at most: its largest (MAX_PAIRS columns) is solved in ~0.01 CPU s
# past this many (demand, class) columns no proof is tried: accelerator-heavy 50,000 has
# 33,000, whose LP took 0.3 CPU s on every solve; 10,000 2,600-4,000, inventory 1,000 20-90
MAX_PAIRS = 6_000


def options_short_of_room(problem: Problem) -> list[Demand]:
    """The option demands of every group where the LP of the module docstring proves that no
    placement delivers each group's throughput (none otherwise). Not where the policy allows
    replicas left out, or with a horizon (a node holds replicas in turn)."""
    if problem.allow_unplaced or problem.timeline is not None or not problem.option_groups:
        return []
    options = [problem.demand(name) for group in problem.option_groups for name in group.demands]
    classes = {c for demand in options for c in demand.eligible}
    confined = [d for d in problem.demands
                if d.group is None and d.eligible and classes.issuperset(d.eligible)]
    if sum(len(d.eligible) for d in options + confined) > MAX_PAIRS:
        return []
    if _least_shortfall(problem, options, confined) <= MIN_SHORTFALL:
        return []
    return options


class _Columns:
    """The LP's replica columns, one per (demand, class) pair whose nodes hold any of it: the
    demand's index, the class's, and the most replicas the class's nodes hold of it alone."""

    def __init__(self, problem: Problem, demands: list[Demand]) -> None:
        self.classes = sorted({c for d in demands for c in d.eligible})
        position = {class_id: k for k, class_id in enumerate(self.classes)}
        nodes = [problem.node_class(c) for c in self.classes]
        self.count = np.array([c.count for c in nodes], dtype=np.int64)
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in nodes],
                                 dtype=np.int64).reshape(-1, len(RESOURCES))
        self.requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands],
                                 dtype=np.int64).reshape(-1, len(RESOURCES))
        demand = np.array([k for k, d in enumerate(demands) for _ in d.eligible], dtype=np.int64)
        node_class = np.array([position[c] for d in demands for c in d.eligible], dtype=np.int64)
        most = self.count[node_class] * self._node_most(problem, demands, demand, node_class)
        held = most > 0
        self.demand, self.node_class, self.most = demand[held], node_class[held], most[held]

    def _node_most(self, problem: Problem, demands: list[Demand], demand: np.ndarray,
                   node_class: np.ndarray) -> np.ndarray:
        """`room.node_most` of each pair, over arrays: what one node holds of the demand alone
        (its requests, its replicas, one a node where kept apart from itself, a node spread's
        most)."""
        need, have = self.requests[demand], self.capacity[node_class]
        fits = np.where(need > 0, have // np.maximum(need, 1), np.iinfo(np.int64).max).min(axis=1)
        alone = [d.replicas if not d.one_per_node else min(1, d.replicas) for d in demands]
        spreads = [spread_most(problem, d) for d in demands]
        cap = np.array([a if s is None else min(a, s) for a, s in zip(alone, spreads)], dtype=np.int64)
        return np.maximum(0, np.minimum(fits, cap[demand]))


def _least_shortfall(problem: Problem, options: list[Demand], confined: list[Demand]) -> Fraction:
    """The LP's least total shortfall (0 where it meets every requirement, or where HiGHS
    gives no optimum)."""
    demands = options + confined
    columns = _Columns(problem, demands)
    model = LinearModel()
    first = model.vars(lambda k: f"x{k}", np.zeros(len(columns.most), dtype=np.int64), columns.most)
    _capacity_rows(model, columns, first)
    by_demand: dict[int, list[int]] = {}
    for column, demand in enumerate(columns.demand.tolist(), start=first):
        by_demand.setdefault(demand, []).append(column)
    shortfall = _requirement_rows(problem, model, options, confined, by_demand)
    model.set_continuous(range(model.variable_count))
    outcome = HighsBackend().minimise(model, shortfall, LP_SECONDS)
    if outcome.status is not Status.OPTIMAL or outcome.objective is None:
        return Fraction(0)
    return outcome.objective


def _requirement_rows(problem: Problem, model: LinearModel, options: list[Demand], confined: list[Demand],
                      by_demand: dict[int, list[int]]) -> dict[int, int | Fraction]:
    """Each plain demand placed whole, each group's throughput delivered, each with a shortfall
    column in [0, 1] (the share of it left unmet), and each option's replicas at most its own
    count (that many deliver its group's throughput alone: more is of no use); the shortfall
    columns, as the objective."""
    rows = RowBuffer()
    for k, demand in enumerate(options):
        if placed := by_demand.get(k, []):
            rows.add(tuple(placed), (1,) * len(placed), None, demand.replicas, None)
    shortfall: dict[int, int | Fraction] = {}
    for k, demand in enumerate(confined, start=len(options)):
        # sum x + replicas * short >= replicas
        short = model.var(f"short[{demand.name}]", 0, 1)
        shortfall[short] = 1
        placed = by_demand.get(k, [])
        rows.add((*placed, short), (1,) * len(placed) + (demand.replicas,), demand.replicas, None, None)
    option_index = {d.name: k for k, d in enumerate(options)}
    for group in problem.option_groups:
        # sum throughput * x + required * short >= required, in whole numbers
        short = model.var(f"short[{group.workload}]", 0, 1)
        shortfall[short] = 1
        members = [problem.demand(name) for name in group.demands]
        scale = math.lcm(group.required.denominator, *(d.throughput.denominator for d in members))
        rates = [int(d.throughput * scale) for d in members]
        terms = [(column, rate) for d, rate in zip(members, rates)
                 for column in by_demand.get(option_index[d.name], [])]
        required = int(group.required * scale)
        rows.add((*(c for c, _ in terms), short), (*(a for _, a in terms), required), required, None, None)
    rows.flush(model)
    return shortfall


def _capacity_rows(model: LinearModel, columns: _Columns, first: int) -> None:
    """Per class and resource: the replicas' requests within what its nodes have."""
    pair, resource = np.nonzero(columns.requests[columns.demand] > 0)
    row = columns.node_class[pair] * len(RESOURCES) + resource
    order = np.lexsort((pair, row))
    row, pair, resource = row[order], pair[order], resource[order]
    rows, starts = np.unique(row, return_index=True)
    indptr = np.append(starts, len(row)).astype(np.int64)
    data = columns.requests[columns.demand[pair], resource]
    node_class, kind = np.divmod(rows, len(RESOURCES))
    upper = (columns.count[node_class] * columns.capacity[node_class, kind]).astype(float)
    model.add_rows(indptr, pair + first, data, np.full(len(rows), np.nan), upper, None)
