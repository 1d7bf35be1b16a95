"""What users would otherwise use, run on the same instances as `fitc solve`.

- `greedy`: first-fit decreasing per replica onto the most-allocated node that fits, as
  kube-scheduler's MostAllocated scoring places pods one at a time; cheapest class first
  when a node must be opened.
- `cp_sat`: OR-tools CP-SAT (what DCM used) on fitc's aggregated model with whole replica
  counts (CP-SAT has no fractional variables), 2 workers.
- `z3_optimize`: `z3.Optimize().minimize` on the same model (the naive way to use Z3).
- `z3_bisection`: fitc's own Z3 backend alone: plain Solver, objective bisected.
- `highs_whole`: HiGHS on the model with whole replica counts, to show what fitc's
  fractional counts (rounded afterwards) buy.

Each returns a `Result`; none is a test, and the OR-tools one needs the `bench` extra.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Problem
from fitlang.solve.backends import HighsBackend, Z3Backend
from fitlang.solve.encode import encode
from fitlang.solve.linear import LinearModel


@dataclass
class Result:
    seconds: float
    status: str  # optimal, feasible, no answer, not installed
    value: float | None = None
    bound: float | None = None

    @property
    def gap(self) -> float | None:
        if self.value is None or self.bound is None or not self.value:
            return None
        return max(0.0, (self.value - self.bound) / self.value)


def greedy(problem: Problem) -> tuple[Fraction, int]:
    """(cost, replicas left unplaced)."""
    classes = sorted(problem.classes, key=lambda c: (c.price, c.id))
    position = {c.id: i for i, c in enumerate(classes)}
    capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in classes], dtype=np.int64)
    free = np.zeros((sum(c.count for c in classes), len(RESOURCES)), dtype=np.int64)
    owner = np.zeros(len(free), dtype=np.int64)
    opened = np.zeros(len(classes), dtype=np.int64)
    count = 0
    cost, unplaced = Fraction(0), 0
    replicas = sorted(((d, i) for d in problem.demands for i in range(d.replicas)),
                      key=lambda item: (-item[0].priority, -item[0].requests["cpu"], item[0].name))
    for demand, _ in replicas:
        need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
        eligible = np.zeros(len(classes), dtype=bool)
        eligible[[position[c] for c in demand.eligible]] = True
        fits = eligible[owner[:count]] & (free[:count] >= need).all(axis=1)
        if fits.any():
            used = 1 - free[:count, :2] / np.maximum(capacity[owner[:count], :2], 1)
            scores = np.where(fits, used.sum(axis=1), -np.inf)
            node = int(np.argmax(scores))
        else:
            node = None
            for index, node_class in enumerate(classes):
                if eligible[index] and opened[index] < node_class.count and (capacity[index] >= need).all():
                    opened[index] += 1
                    cost += node_class.price
                    node, count = count, count + 1
                    owner[node], free[node] = index, capacity[index]
                    break
        if node is None:
            unplaced += 1
            continue
        free[node] -= need
    return cost, unplaced


def _whole_model(problem: Problem):
    encoding = encode(problem)
    return encoding.model, encoding.objective("cost")


def _scaled(terms: dict[int, Fraction], *bounds) -> tuple[dict[int, int], list, int]:
    """Integer coefficients for CP-SAT: multiply by the denominators' common multiple."""
    denominators = [Fraction(c).denominator for c in terms.values()]
    denominators += [Fraction(b).denominator for b in bounds if b is not None]
    scale = math.lcm(*denominators) if denominators else 1
    return ({i: int(Fraction(c) * scale) for i, c in terms.items()},
            [None if b is None else Fraction(b) * scale for b in bounds], scale)


def cp_sat(problem: Problem, relative_gap: float, time_limit: float) -> Result:
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        return Result(0.0, "not installed (pip install -e '.[bench]')")
    model, objective = _whole_model(problem)
    started = time.perf_counter()
    cp = cp_model.CpModel()
    variables = [cp.new_int_var(v.lower, v.upper, v.name) for v in model.variables]
    for constraint in model.constraints:
        terms, (lower, upper), _ = _scaled(constraint.terms, constraint.lower, constraint.upper)
        expression = sum(variables[i] * c for i, c in terms.items())
        if lower is not None:
            cp.add(expression >= math.ceil(lower))
        if upper is not None:
            cp.add(expression <= math.floor(upper))
    costs, _, scale = _scaled(objective)
    cp.minimize(sum(variables[i] * c for i, c in costs.items()))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 2
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.relative_gap_limit = relative_gap
    status = solver.solve(cp)
    seconds = time.perf_counter() - started
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Result(seconds, "no answer")
    return Result(seconds, "optimal" if status == cp_model.OPTIMAL else "feasible",
                  float(solver.objective_value / scale), float(solver.best_objective_bound / scale))


def z3_optimize(problem: Problem, time_limit: float) -> Result:
    import z3

    model, objective = _whole_model(problem)
    started = time.perf_counter()
    context = z3.Context()
    variables = [z3.Int(f"v{v.index}", context) for v in model.variables]
    optimizer = z3.Optimize(ctx=context)
    optimizer.set("timeout", int(time_limit * 1000))
    for variable, v in zip(model.variables, variables):
        optimizer.add(v >= variable.lower, v <= variable.upper)
    for constraint in model.constraints:
        expression = z3.Sum([variables[i] * _z3_number(c, context) for i, c in constraint.terms.items()])
        if constraint.lower is not None:
            optimizer.add(expression >= _z3_number(constraint.lower, context))
        if constraint.upper is not None:
            optimizer.add(expression <= _z3_number(constraint.upper, context))
    cost = z3.Sum([variables[i] * _z3_number(c, context) for i, c in objective.items()])
    handle = optimizer.minimize(cost)
    result = optimizer.check()
    seconds = time.perf_counter() - started
    if result != z3.sat:
        return Result(seconds, "no answer")
    value = optimizer.model().eval(cost, model_completion=True)
    lower = handle.lower()
    return Result(seconds, "optimal", _z3_float(value), _z3_float(lower))


def _z3_number(value, context):
    import z3

    value = Fraction(value)
    if value.denominator == 1:
        return z3.IntVal(value.numerator, context)
    return z3.RealVal(f"{value.numerator}/{value.denominator}", context)


def _z3_float(value) -> float | None:
    try:
        return float(Fraction(value.as_fraction()))
    except Exception:  # an infinite bound (-oo) when Optimize proved nothing
        return None


def z3_bisection(problem: Problem, relative_gap: float, time_limit: float) -> Result:
    model, objective = _whole_model(problem)
    return _backend(Z3Backend(Fraction(relative_gap).limit_denominator(10 ** 6)), model, objective,
                    time_limit)


def highs_whole(problem: Problem, relative_gap: float, time_limit: float) -> Result:
    model, objective = _whole_model(problem)
    return _backend(HighsBackend(relative_gap), model, objective, time_limit)


def _backend(backend, model: LinearModel, objective, time_limit: float) -> Result:
    started = time.perf_counter()
    outcome = backend.minimise(model, objective, time_limit)
    seconds = time.perf_counter() - started
    if outcome.solution is None:
        return Result(seconds, "no answer")
    return Result(seconds, outcome.status, float(outcome.objective),
                  None if outcome.bound is None else float(outcome.bound))
