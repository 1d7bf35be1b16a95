"""The elastic LP relaxation of an aggregate model: what the policy asks for (replicas,
throughput) may fall short at a price of one per replica, everything else holds. A positive
optimum proves that no placement exists (it is a relaxation of a relaxation); the rows that
fall short and the capacity rows with a price say which workloads compete for which pools.

`fitc explain` uses this at fleet scale, where a Z3 unsat core of the whole model does not
finish in a minute: it picks the workloads the conflict is narrowed from, so a guess that is
too large or too small costs time, never a wrong answer (the narrowing checks every step).
It first tries `transport`, the same idea on the replicas and pools alone, built with numpy
from the problem without encoding it (a tenth of the time); `elastic`, on the whole
aggregate encoding, is for when that finds no shortfall.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fitlang.solve.backends import _native_stdout_silenced
from fitlang.solve.groups import ELASTIC_GROUPS, CapacityGroup, ReplicasGroup, ThroughputGroup
from fitlang.solve.linear import LinearModel


@dataclass
class ElasticProof:
    infeasible: bool | None  # None: the LP did not finish in time
    short: list[ReplicasGroup | ThroughputGroup] = field(default_factory=list)  # fall short
    # variables with a value in a capacity row that has a price: who competes for that pool
    competing: set[int] = field(default_factory=set)
    encoding: object = None  # the encoding the model came from, for its caller


def elastic(model: LinearModel, time_limit: float | None = None) -> ElasticProof:
    from scipy.sparse import csr_array

    size = len(model.variables)
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    bounds: list[float] = []
    origin: list[int] = []  # per row of the LP, the model's constraint it comes from
    elastic_of: dict[int, ReplicasGroup | ThroughputGroup] = {}
    for number, constraint in enumerate(model.constraints):
        group = constraint.group
        breakable = isinstance(group, ELASTIC_GROUPS)
        scale = 1.0 if breakable else \
            1.0 / max((abs(float(c)) for c in constraint.terms.values()), default=1.0)
        for sign, bound in ((1.0, constraint.upper), (-1.0, constraint.lower)):
            if bound is None:
                continue
            row = len(bounds)
            for index, coefficient in constraint.terms.items():
                rows.append(row)
                cols.append(index)
                data.append(sign * float(coefficient) * scale)
            if isinstance(group, ELASTIC_GROUPS):
                column = size + len(elastic_of)
                elastic_of[column] = group
                rows.append(row)
                cols.append(column)
                data.append(-1.0)
            bounds.append(sign * float(bound) * scale)
            origin.append(number)
    if not elastic_of:
        return ElasticProof(None)
    width = size + len(elastic_of)
    matrix = csr_array((data, (rows, cols)), shape=(len(bounds), width))
    cost = np.concatenate([np.zeros(size), np.ones(len(elastic_of))])
    variable_bounds = [(float(v.lower), float(v.upper)) for v in model.variables] + \
        [(0, None)] * len(elastic_of)
    result = _minimise(cost, matrix, np.array(bounds), variable_bounds, time_limit)
    if result.status != 0 or result.x is None:
        return ElasticProof(None)
    if result.fun <= 1e-6:
        return ElasticProof(False)
    solution = result.x
    # in the model's order (deterministic): each group once
    short = list(dict.fromkeys(group for column, group in elastic_of.items()
                               if solution[column] > 1e-6))
    competing: set[int] = set()
    prices = result.ineqlin.marginals
    for priced in np.flatnonzero(np.abs(prices) > 1e-9).tolist():
        constraint = model.constraints[origin[priced]]
        if isinstance(constraint.group, CapacityGroup):
            competing.update(i for i, c in constraint.terms.items()
                             if c > 0 and i < size and solution[i] > 1e-6)
    return ElasticProof(True, short, competing)


@dataclass
class Shortfall:
    """What the elastic transport LP says: `infeasible` (None: it did not finish), the
    workloads that fall short, and those placed on the pools whose capacity has a price."""

    infeasible: bool | None
    short: set[str] = field(default_factory=set)
    competing: set[str] = field(default_factory=set)


def transport(problem, workloads: set[str] | None = None,
              time_limit: float | None = None) -> Shortfall:
    """The elastic LP of the replicas and pools alone: each replica on a pool it is eligible
    for, the pool's nodes holding what is put on them (per resource, and per node as many as
    fit), within the node counts, `buy` limits, budget and power caps; every other rule left
    out. Each of its rows is implied by the aggregate model's rows, so it is a relaxation of
    the aggregate model, hence of the policy: a positive optimum proves that no placement
    exists. Built straight from the problem with numpy (no encoding): ~0.1 s at 10,000 nodes
    and 1,000 workloads. `workloads` restricts it to those (every other one not placed,
    which is allowed)."""
    from scipy.sparse import csr_array

    from fitlang.model.problem import RESOURCES

    demands = [d for d in problem.demands if workloads is None or d.workload in workloads]
    classes = problem.classes
    column_of_class = {c.id: i for i, c in enumerate(classes)}
    demand_of_pair: list[int] = []
    class_of_pair: list[int] = []
    for index, demand in enumerate(demands):
        for class_id in demand.eligible:
            demand_of_pair.append(index)
            class_of_pair.append(column_of_class[class_id])
    requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands],
                        dtype=np.int64).reshape(len(demands), len(RESOURCES))
    capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in classes],
                        dtype=np.int64).reshape(len(classes), len(RESOURCES))
    replicas = np.array([d.replicas for d in demands], dtype=np.int64)
    pair_demand = np.array(demand_of_pair, dtype=np.int64)
    pair_class = np.array(class_of_pair, dtype=np.int64)
    fit = _fit(requests[pair_demand], capacity[pair_class], replicas[pair_demand])
    one = np.array([d.one_per_node for d in demands], dtype=bool)[pair_demand]
    fit = np.where(one, np.minimum(fit, 1), fit)
    usable = fit > 0
    pair_demand, pair_class, fit = pair_demand[usable], pair_class[usable], fit[usable]
    pairs, width = len(fit), len(classes)
    y = width + np.arange(pairs)  # the columns of the pairs, after one per class (u)
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # rows, columns, values
    need = requests[pair_demand].astype(float)
    have = capacity[pair_class].astype(float)
    # per node, at most `fit` of them: y / fit - u <= 0, where no capacity row says it
    # already (a resource of which `fit` replicas take the whole node)
    cut = np.flatnonzero(~((need > 0) & (have <= fit[:, None] * need)).any(axis=1))
    blocks.append((np.arange(len(cut)), y[cut], 1.0 / fit[cut]))
    blocks.append((np.arange(len(cut)), pair_class[cut], -np.ones(len(cut))))
    bounds = [np.zeros(len(cut))]
    # per class and resource: the share of one node each replica takes, summed, <= u
    top = len(cut)
    for r in range(len(RESOURCES)):
        rows = top + pair_class * len(RESOURCES) + r
        taken = need[:, r] > 0
        blocks.append((rows[taken], y[taken], need[taken, r] / have[taken, r]))
    present = np.flatnonzero(capacity.reshape(-1) > 0)  # the (class, resource) rows that exist
    blocks.append((top + present, present // len(RESOURCES), -np.ones(len(present))))
    bounds.append(np.zeros(len(classes) * len(RESOURCES)))
    top += len(classes) * len(RESOURCES)
    limits = _limits(problem, column_of_class)
    for terms, limit in limits:
        blocks.append((np.full(len(terms), top), np.array(list(terms)),
                       np.array(list(terms.values()))))
        bounds.append(np.array([limit]))
        top += 1
    wanted, weight, short_workload = _wanted(problem, demands)
    if not short_workload:
        return Shortfall(False)
    # what is asked for, as a share of it, less the share that falls short, is placed:
    # -sum(weight x y) - s <= -1
    asked = wanted[pair_demand] >= 0
    blocks.append((top + wanted[pair_demand][asked], y[asked], -weight[pair_demand][asked]))
    short_columns = width + pairs + np.arange(len(short_workload))
    blocks.append((top + np.arange(len(short_workload)), short_columns,
                   -np.ones(len(short_workload))))
    bounds.append(-np.ones(len(short_workload)))
    top += len(short_workload)
    columns = width + pairs + len(short_workload)
    matrix = csr_array((np.concatenate([b[2] for b in blocks]),
                        (np.concatenate([b[0] for b in blocks]),
                         np.concatenate([b[1] for b in blocks]))), shape=(top, columns))
    cost = np.zeros(columns)
    cost[short_columns] = 1.0
    upper = np.concatenate([np.array([float(c.count) for c in classes]),
                            replicas[pair_demand].astype(float), np.ones(len(short_workload))])
    result = _minimise(cost, matrix, np.concatenate(bounds),
                       np.column_stack([np.zeros(columns), upper]), time_limit)
    if result.status != 0 or result.x is None:
        return Shortfall(None)
    if result.fun <= 1e-7:
        return Shortfall(False)
    solution = result.x
    short = {w for w, column in zip(short_workload, short_columns) if solution[column] > 1e-7}
    prices = np.abs(result.ineqlin.marginals[len(cut):len(cut) + len(classes) * len(RESOURCES)])
    full = np.zeros(len(classes), dtype=bool)
    full[np.flatnonzero(prices > 1e-9) // len(RESOURCES)] = True
    placed = (solution[y] > 1e-7) & full[pair_class]
    competing = {demands[i].workload for i in np.unique(pair_demand[placed])}
    return Shortfall(True, short, competing - short)


def _fit(need: np.ndarray, have: np.ndarray, replicas: np.ndarray) -> np.ndarray:
    """Per (demand, class) pair: how many replicas one node holds (at most all of them)."""
    per = np.where(need > 0, have // np.maximum(need, 1), np.iinfo(np.int64).max)
    return np.minimum(per.min(axis=1), replicas)


def _wanted(problem, demands: list) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per demand, its elastic row (-1: none) and the share of the ask one replica meets;
    the workload of each row."""
    wanted = np.full(len(demands), -1, dtype=np.int64)
    weight = np.zeros(len(demands))
    workloads: list[str] = []
    position = {d.name: i for i, d in enumerate(demands)}
    for index, demand in enumerate(demands):
        if demand.group is None and demand.replicas:
            wanted[index], weight[index] = len(workloads), 1.0 / demand.replicas
            workloads.append(demand.workload)
    for group in problem.option_groups:
        members = [position[n] for n in group.demands if n in position]
        if not members or group.required <= 0:
            continue
        for index in members:
            wanted[index] = len(workloads)
            weight[index] = float(demands[index].throughput / group.required)
        workloads.append(group.workload)
    return wanted, weight, workloads


def _limits(problem, column_of_class: dict[str, int]) -> list[tuple[dict[int, float], float]]:
    """The node counts' shared limits, as the aggregate model states them: `buy` blocks'
    max_count, the budget and the power caps (each row scaled to a limit of 1)."""
    found = [({column_of_class[c.id]: 1.0 for c in problem.classes if c.buy_group == group},
              float(limit)) for group, limit in sorted(problem.buy_limits.items())]
    if problem.budget is not None:
        found.append(({column_of_class[c.id]: float(c.price) for c in problem.classes if c.price},
                      float(problem.budget)))
    for cap in problem.power_caps:
        watts = {c.id: c.power_watts for c in problem.classes}
        found.append(({column_of_class[c]: float(watts[c]) for c in cap.classes if watts[c]},
                      float(cap.cap_watts)))
    scaled = []
    for terms, limit in found:
        if terms:
            scale = 1.0 / limit if limit > 0 else 1.0
            scaled.append(({k: v * scale for k, v in terms.items()}, limit * scale))
    return scaled


def _minimise(cost, matrix, row_upper, variable_bounds, time_limit: float | None):
    """HiGHS's LP: minimise cost x subject to matrix x <= row_upper, within the bounds."""
    from scipy.optimize import linprog

    options = {"time_limit": max(0.1, time_limit)} if time_limit else {}
    with _native_stdout_silenced():
        return linprog(cost, A_ub=matrix, b_ub=row_upper, bounds=variable_bounds,
                       method="highs", options=options)
