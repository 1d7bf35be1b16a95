"""The charged bound with whole nodes and replicas: `move_bound`'s LP solved as a MIP (`fitc
plan` up to `MOVE_MODEL_MAX_NODES` nodes, issue 18).

The plan's bound is the charged LP (`move_bound.moves_lower_bound`): node counts u per merged
class, replicas y per merged (demand, class) pair, the stays, drained and bought nodes, the
packing, cover, one-a-node and apart rows. Every end state that places every replica is a
point of it with u and y whole (its nodes in use per class and its replicas per pair are
counts), so the same rows with u and y integer still bound every plan from below, and HiGHS's
dual bound over them (its root cuts, then its branch and bound) is a bound of the plan. Where
the LP's optimum splits nodes (a class a third used, a one-a-node service on 2.5 nodes), the
cuts lift it: inventory 1,000, `move_bench`'s changed policy, seed 3 (the plan at 49.20 USD/h,
the LP 45.15, the whole move model's bound 40.40 after 60 s): 46.39 in 0.8 CPU s, 46.56
proven optimal for the MIP in ~100 s; seeds 0 / 1 / 2 +0.04 / +0.24 / +2.05 in 0.8 CPU s.
The stays, drained and bought columns and the spreads' `least` stay continuous (they are
whole in a plan too; left so, the bound is only weaker).

Solved beside the move with the whole move model (`model_bound_beside`): the larger of the
two is the plan's.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.backends import _bound_fraction, _highs_with, _native_stdout_silenced, watch
from fitlang.solve.clock import highs_limited
from fitlang.solve.linear import MatrixForm, RowMatrix
from fitlang.solve.move_bound import _ChargedMoves

# of CPU in the MIP's root and branch and bound: inventory 1,000 seed 3 45.25 USD/h after
# 0.3 s, 46.39 after 0.8 s (its root cuts), 46.41 after ~3 s; the move model gets the rest.
# With the 0-1 rows of workloads kept apart (`zone_apart`) it closes within a few seconds
# where it proves most: plan 23 its optimum 52.06 in 2.2 s (50.02 after 1 s; the move model
# after it 45.8), plan 10 52.02 in 3.1 s (51.07 after 1 s); session 53's plan 23 its optimum
# 60.32 in 3.75 s (58.88 after 3.2)
CPU_SECONDS = 4.5


def charged_mip_bound(problem: Problem, deadline: float, cpu_seconds: float = CPU_SECONDS) -> Fraction | None:
    """A proven lower bound on cost + moves (the module's docstring), HiGHS stopped at
    `deadline` or after `cpu_seconds` of CPU; None where none is proven by then, or where
    replicas may be left out (the charged LP's constant would not hold)."""
    from fitlang.solve.bound import merged_classes, merged_demands, relaxation

    if problem.allow_unplaced:
        return None
    charged = _ChargedMoves(problem, problem.move_price or Fraction(0), whole=True)
    merged, members = merged_demands(problem)
    relaxed = relaxation(merged, "cost", merged_classes(merged))
    if relaxed is None:
        return None
    charged.extend(merged, members, relaxed)
    if charged.constant is None:
        return None
    whole = np.zeros(relaxed.columns, dtype=np.int8)
    whole[:relaxed.first_pair + relaxed.pairs] = 1  # u, then y
    whole[charged.binary] = 1  # which of two workloads kept apart runs in a domain (`zone_apart`)
    rows = relaxed.matrix.tocsr()
    rows.sort_indices()
    form = MatrixForm(c=np.asarray(relaxed.cost, dtype=float),
                      matrix=RowMatrix(rows.data.astype(float), rows.indices, rows.indptr, rows.shape),
                      row_lower=np.asarray(relaxed.row_lower, dtype=float),
                      row_upper=np.asarray(relaxed.row_upper, dtype=float),
                      lower=np.asarray(relaxed.lower, dtype=float),
                      upper=np.asarray(relaxed.upper, dtype=float),
                      integrality=whole)
    with _native_stdout_silenced():
        highs = _highs_with(form)
        highs.setOptionValue("presolve", "on")  # (its root: 0.8 CPU s with it, past 3 s without)
        highs_limited(highs, deadline, branching=False)
        watch(highs, deadline, None, time.process_time() + cpu_seconds)
        highs.run()
        proven = _bound_fraction(highs.getInfo().mip_dual_bound)
    return None if proven is None else proven + charged.constant
