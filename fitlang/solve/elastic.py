"""Which rule groups an infeasible model's LP relaxation cannot do without: the support of the
dual of its elastic form (each grouped row may be broken by a penalised slack; the rows whose
prices are not zero at the optimum are those a proof of infeasibility combines).

`fitc explain` uses this at fleet scale, where a Z3 unsat core of the whole model does not
finish in a minute: it only orders the checks that narrow the conflict, so a support that is
too large, too small or empty costs time, never a wrong answer.
"""

from __future__ import annotations

import numpy as np

from fitlang.solve.backends import _native_stdout_silenced
from fitlang.solve.linear import LinearModel

# only what the policy asks for may fall short (replicas, throughput): the prices then say
# which of those needs compete for which capacity, rules and limits
ELASTIC = ("replicas:", "throughput:")


def dual_support(model: LinearModel, time_limit: float | None = None) -> list[str]:
    """Groups (sorted) with a nonzero price in the elastic LP; [] when the relaxation is
    feasible (the conflict is in whole numbers, not in the totals) or the LP did not finish."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_array

    size = len(model.variables)
    rows, cols, data, bounds, groups = [], [], [], [], []
    elastic = 0
    for constraint in model.constraints:
        scale = 1.0 if constraint.group.startswith(ELASTIC) else \
            1.0 / max((abs(float(c)) for c in constraint.terms.values()), default=1.0)
        for sign, bound in ((1.0, constraint.upper), (-1.0, constraint.lower)):
            if bound is None:
                continue
            row = len(bounds)
            for index, coefficient in constraint.terms.items():
                rows.append(row)
                cols.append(index)
                data.append(sign * float(coefficient) * scale)
            if constraint.group.startswith(ELASTIC):  # breakable, at a price per replica
                rows.append(row)
                cols.append(size + elastic)
                data.append(-1.0)
                elastic += 1
            bounds.append(sign * float(bound) * scale)
            groups.append(constraint.group)
    if not elastic:
        return []
    matrix = csr_array((data, (rows, cols)), shape=(len(bounds), size + elastic))
    cost = np.concatenate([np.zeros(size), np.ones(elastic)])
    variable_bounds = [(float(v.lower), float(v.upper)) for v in model.variables] + [(0, None)] * elastic
    options = {"time_limit": time_limit} if time_limit else {}
    with _native_stdout_silenced():
        result = linprog(cost, A_ub=matrix, b_ub=np.array(bounds), bounds=variable_bounds,
                         method="highs", options=options)
    if result.status != 0 or result.fun is None or result.fun <= 1e-7:
        return []
    prices = result.ineqlin.marginals
    return sorted({groups[i] for i in np.flatnonzero(np.abs(prices) > 1e-9) if groups[i]})
