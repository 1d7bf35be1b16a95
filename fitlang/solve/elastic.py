"""The elastic LP relaxation of an aggregate model: what the policy asks for (replicas,
throughput) may fall short at a price of one per replica, everything else holds. A positive
optimum proves that no placement exists (it is a relaxation of a relaxation); the rows that
fall short and the capacity rows with a price say which workloads compete for which pools.

`fitc explain` uses this at fleet scale, where a Z3 unsat core of the whole model does not
finish in a minute: it picks the workloads the conflict is narrowed from, so a guess that is
too large or too small costs time, never a wrong answer (the narrowing checks every step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fitlang.solve.backends import _native_stdout_silenced
from fitlang.solve.linear import LinearModel

ELASTIC = ("replicas:", "throughput:")


@dataclass
class ElasticProof:
    infeasible: bool | None  # None: the LP did not finish in time
    short: list[str] = field(default_factory=list)  # groups that fall short
    # variables with a value in a capacity row that has a price: who competes for that pool
    competing: set[int] = field(default_factory=set)
    encoding: object = None  # the encoding the model came from, for its caller


def elastic(model: LinearModel, time_limit: float | None = None) -> ElasticProof:
    from scipy.optimize import linprog
    from scipy.sparse import csr_array

    size = len(model.variables)
    rows, cols, data, bounds, origin = [], [], [], [], []
    elastic_of: dict[int, str] = {}
    for number, constraint in enumerate(model.constraints):
        breakable = constraint.group.startswith(ELASTIC)
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
            if breakable:
                column = size + len(elastic_of)
                elastic_of[column] = constraint.group
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
    options = {"time_limit": max(0.1, time_limit)} if time_limit else {}
    with _native_stdout_silenced():
        result = linprog(cost, A_ub=matrix, b_ub=np.array(bounds), bounds=variable_bounds,
                         method="highs", options=options)
    if result.status != 0 or result.x is None:
        return ElasticProof(None)
    if result.fun <= 1e-6:
        return ElasticProof(False)
    solution = result.x
    short = sorted({group for column, group in elastic_of.items() if solution[column] > 1e-6})
    competing: set[int] = set()
    prices = result.ineqlin.marginals
    for row in np.flatnonzero(np.abs(prices) > 1e-9):
        constraint = model.constraints[origin[row]]
        if constraint.group.startswith("capacity:"):
            competing.update(i for i, c in constraint.terms.items()
                             if c > 0 and i < size and solution[i] > 1e-6)
    return ElasticProof(True, short, competing)
