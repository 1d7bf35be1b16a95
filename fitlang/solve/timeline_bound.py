"""The time model's LP bound where a time limit holds (issue 19, session 20): the same LP in a
form HiGHS's interior point method solves in about half the dual simplex's time, and a bound
read from whatever duals it has at the limit, so that a bound is stated even where the LP does
not finish.

The form: each capacity row (class c, resource r, step t: the charges of the replicas running
then <= capacity x u[c,t]) repeats most of the row before it (a replica running over 12 steps
sits in 12 rows per resource: 1.7 million nonzeros at 1,000 x 168 x 1,000). With a load column
L[c,r,t] (the load in nodes' worth), the rows become L[c,r,t] - L[c,r,t-1] = the charges of
the replicas starting at t less those ending before t, and L[c,r,t] <= u[c,t]: each replica's
column appears twice per resource (0.4 million nonzeros). The L are determined by the x, so
the two LPs have the same optimum. The dual simplex gains nothing from it (a chain of L rows
slows it), the interior point method does: seed 3 at the goal size, 20 CPU s of dual simplex
on the time model's LP, 11 CPU s of interior point here (session 20, docs/performance.md).

The bound: for any row duals y, minimising c x - y (A x) over the columns' box [lower, upper],
plus y's share of the row bounds, is a lower bound on the LP (weak duality of the Lagrangian:
every column here is bounded). It needs no optimality of y: at the limit the interior point's
iterate gives a weaker bound, at its optimum the LP's. It is summed in floats and lowered by a
margin far above their rounding.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from fitlang.model.problem import RESOURCES
from fitlang.solve.backends import _bound_fraction, _highs_with, _native_stdout_silenced
from fitlang.solve.clock import highs_limited
from fitlang.solve.linear import LinearModel, MatrixForm, Number, Outcome, RowMatrix, Status, matrix_form

if TYPE_CHECKING:  # timeline.py imports this module
    from fitlang.solve.timeline import TimeEncoding

# the dual simplex on the time model's own LP first, for this much CPU: where the LP has few
# rows it is done by then (`bench/timing.py` at the goal size: 2,730 rows, 1.7-2.0 CPU s;
# the differenced form's interior point took 3.5), else the interior point method (the sites
# shape: 10-16 thousand rows, 12-28 CPU s of dual simplex)
PROBE_CPU_SECONDS = 3.0
# ... and only where the LP has at most this many rows: above it the probe ends without the
# optimum and its CPU is lost to the bound (the sites shape at the goal size, 10,477 rows: 3.2
# of the child's 12.7 CPU s, which under load decided whether the bound came in by a 30 s
# limit); at 300 nodes (6,931 rows) the probe and the interior point tie (2.0 CPU s each)
PROBE_ROWS = 8000
# the least a HiGHS run here is given (on the solve's clock): its own limit off the wall is the
# time left over the share of a core the process has (`clock.highs_limited`; it was the time
# left on the solve's clock as such, so that on the benches' CPU clock the interior point got
# its CPU seconds as wall seconds: at load 15 the sites shape's at the goal size ran 2.5 of 23
# CPU s, had no duals and stated no bound, in every 1,000-node run of sessions 53-55; h56e)
LEAST_SECONDS = 0.05
# the bound is lowered by this share of the absolute terms it sums (float rounding is ~1e-16
# of each; a million terms stay far below it)
ROUNDING_MARGIN = 1e-9


@dataclass
class DifferencedBound:
    """A backend for `backends.Minimising`: the LP bound of the time model `encoding` (its
    model relaxed when started), by the interior point method on the differenced form. The
    outcome: OPTIMAL where the LP finished, FEASIBLE where the limit cut it (a weaker bound),
    UNKNOWN where no duals came; the bound in `Outcome.bound`."""

    encoding: TimeEncoding

    def minimise(self, model: LinearModel, objective: dict[int, Number],
                 time_limit: float | None = None, start: dict[int, float] | None = None) -> Outcome:
        deadline = None if time_limit is None else time.monotonic() + time_limit
        capacity = self.encoding.capacity_rows
        if model.row_count <= PROBE_ROWS:
            form = matrix_form(model, objective)
            probed = simplex_bound(form, deadline, PROBE_CPU_SECONDS)
            if probed is not None:
                return Outcome(Status.OPTIMAL, bound=probed)
            rest = replace(form, matrix=_rows_without(form.matrix, *capacity),
                           row_lower=np.delete(form.row_lower, np.s_[capacity[0]:capacity[1]]),
                           row_upper=np.delete(form.row_upper, np.s_[capacity[0]:capacity[1]]))
        else:  # no probe: the capacity rows never built as a matrix (1.7 million nonzeros at the
            # goal size, only to be cut out again)
            form = rest = matrix_form(model, objective, left_out=capacity)
        bound, finished = interior_bound(differenced_form(self.encoding, rest), deadline)
        if bound is None or bound <= _trivial(form):
            return Outcome(Status.UNKNOWN)  # (an early iterate's duals: below what no duals give)
        return Outcome(Status.OPTIMAL if finished else Status.FEASIBLE, bound=bound)


def _trivial(form: MatrixForm) -> float:
    """The bound of no duals at all: the least of c x over the columns' box."""
    return float(np.minimum(form.c * form.lower, form.c * form.upper).sum())


def differenced_form(encoding: TimeEncoding, rest: MatrixForm) -> MatrixForm:
    """The time model's LP (relaxed) with its capacity rows as load columns and differenced
    rows (the module's docstring); `rest`: the model's matrix form without the capacity rows
    (`matrix_form`'s `left_out`). Every column continuous."""
    kept = rest.matrix
    upper = rest.upper.copy()
    columns = len(rest.c)
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (rows, columns, values)
    row_lower, row_upper = [rest.row_lower], [rest.row_upper]
    rows = kept.shape[0]
    steps = encoding.timeline.steps
    loads_upper: list[np.ndarray] = []  # each load column block's upper bounds
    for node_class in encoding.problem.classes:
        used = _running_of(encoding, node_class.id)
        if used is None:
            continue
        cols, step, charge = used
        for position, resource in enumerate(RESOURCES):
            amount = charge[:, position]
            if not amount.any():
                continue
            capacity = node_class.capacity[resource]
            if not capacity:  # nothing of it fits on the class: these columns are 0
                upper[np.unique(cols[amount > 0])] = 0
                continue
            load = columns + steps * len(loads_upper)  # L[c,r,0]'s column
            loads_upper.append(np.full(steps, float(node_class.count)))
            entries += _load_rows(cols, step, amount / capacity, load, rows, steps)
            entries.append((rows + steps + np.arange(steps), load + np.arange(steps), np.ones(steps)))
            entries.append((rows + steps + np.arange(steps),
                            np.array([encoding.u[node_class.id, t] for t in range(steps)]),
                            -np.ones(steps)))
            row_lower += [np.zeros(steps), np.full(steps, -np.inf)]
            row_upper += [np.zeros(steps), np.zeros(steps)]
            rows += 2 * steps
    added = sum(len(u) for u in loads_upper)
    width = columns + added
    matrix = _stacked(kept, entries, rows, width)
    return MatrixForm(np.concatenate([rest.c, np.zeros(added)]), matrix,
                      np.concatenate(row_lower), np.concatenate(row_upper),
                      np.concatenate([rest.lower, np.zeros(added)]),
                      np.concatenate([upper, *loads_upper]) if loads_upper else upper,
                      np.zeros(width, dtype=np.int64))


def _running_of(encoding: TimeEncoding, class_id: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(column, step, charge per resource) of every replica column running on the class at
    every step, one entry per (column, step) (a column listed twice at a step: summed), in
    order of column then step. Read in bulk (the lists' columns by `itemgetter`, each
    column's charge looked up once): a tuple per entry made into an array cost 1 CPU s at
    the goal size."""
    steps = encoding.timeline.steps
    listed = [encoding.running(class_id, t) for t in range(steps)]
    count = sum(len(entries) for entries in listed)
    if not count:
        return None
    cols = np.fromiter(map(itemgetter(0), chain.from_iterable(listed)), dtype=np.int64, count=count)
    step = np.repeat(np.arange(steps, dtype=np.int64), [len(entries) for entries in listed])
    keys = cols * steps + step
    unique, inverse = np.unique(keys, return_inverse=True)
    distinct = np.unique(cols)
    charges = np.array([encoding.charge_of(int(column)) for column in distinct], dtype=float)
    summed = np.zeros((len(unique), len(RESOURCES)))
    np.add.at(summed, inverse, charges[np.searchsorted(distinct, cols)])
    return unique // steps, unique % steps, summed


def _load_rows(cols: np.ndarray, step: np.ndarray, share: np.ndarray, load: int, first_row: int,
               steps: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The balance rows first_row + t: L[t] - L[t-1] - (the shares starting at t) + (the
    shares that ended at t-1) = 0. `cols`/`step` sorted by column then step; a column's run
    of consecutive steps at one share starts and ends a segment."""
    runs = share > 0
    cols, step, share = cols[runs], step[runs], share[runs]
    same_as_before = np.zeros(len(cols), dtype=bool)
    same_as_before[1:] = (cols[1:] == cols[:-1]) & (step[1:] == step[:-1] + 1) & (share[1:] == share[:-1])
    begins = ~same_as_before
    ends = np.ones(len(cols), dtype=bool)
    ends[:-1] = ~same_as_before[1:]
    closing = ends & (step + 1 < steps)
    balance = first_row + np.arange(steps)
    return [(balance, load + np.arange(steps), np.ones(steps)),
            (balance[1:], load + np.arange(steps - 1), -np.ones(steps - 1)),
            (first_row + step[begins], cols[begins], -share[begins]),
            (first_row + step[closing] + 1, cols[closing], share[closing])]


def _rows_without(matrix: RowMatrix, first: int, last: int) -> RowMatrix:
    """The rows of `matrix` but [first, last)."""
    indptr = matrix.indptr
    head, tail = slice(0, indptr[first]), slice(indptr[last], indptr[-1])
    pointers = np.concatenate([indptr[:first + 1], indptr[last + 1:] - (indptr[last] - indptr[first])])
    return RowMatrix(np.concatenate([matrix.data[head], matrix.data[tail]]),
                     np.concatenate([matrix.indices[head], matrix.indices[tail]]), pointers,
                     (matrix.shape[0] - (last - first), matrix.shape[1]))


def _stacked(kept: RowMatrix, entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]], rows: int,
             width: int) -> RowMatrix:
    """`kept`'s rows, then the rows given as (row, column, value) entries, as one row matrix
    (columns sorted within each row; an entry given twice, a column's segment ending where
    its next begins, summed)."""
    import scipy.sparse as sparse

    counts = np.diff(kept.indptr)
    row_of = np.concatenate([np.repeat(np.arange(kept.shape[0]), counts)] + [r for r, _, _ in entries])
    col_of = np.concatenate([kept.indices] + [c for _, c, _ in entries]).astype(np.int64)
    values = np.concatenate([kept.data] + [v for _, _, v in entries]).astype(float)
    matrix = sparse.csr_matrix((values, (row_of, col_of)), shape=(rows, width))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return RowMatrix(matrix.data, matrix.indices.astype(np.int64), matrix.indptr.astype(np.int64),
                     (rows, width))


def simplex_bound(form: MatrixForm, deadline: float | None, cpu_seconds: float) -> Fraction | None:
    """The LP's optimum by HiGHS's default (presolve, dual simplex), where it is reached
    within `cpu_seconds` of this process's CPU and the deadline; else None."""
    import highspy

    with _native_stdout_silenced():
        highs = _highs_with(form)
        if deadline is not None:
            highs_limited(highs, max(deadline, time.monotonic() + LEAST_SECONDS), branching=False)
        stop = time.process_time() + cpu_seconds

        def interrupt(event) -> None:
            if time.process_time() >= stop:
                event.data_in.user_interrupt = True
        highs.cbSimplexInterrupt.subscribe(interrupt)
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return lagrangian_bound(highs.getLp(), np.asarray(highs.getSolution().row_dual))


def interior_bound(form: MatrixForm, deadline: float | None) -> tuple[Fraction | None, bool]:
    """(the Lagrangian bound from the interior point method's duals at its optimum or at the
    deadline, whether it reached the optimum). Presolve off: with it, HiGHS keeps no duals of
    a solve the limit cuts; crossover off: the duals are all the bound needs."""
    import highspy

    with _native_stdout_silenced():
        highs = _highs_with(form)
        highs.setOptionValue("solver", "ipm")
        highs.setOptionValue("run_crossover", "off")
        highs.setOptionValue("presolve", "off")
        if deadline is not None:
            highs_limited(highs, max(deadline, time.monotonic() + LEAST_SECONDS), branching=False)
        highs.run()
        solution = highs.getSolution()
        if not solution.dual_valid:
            return None, False
        finished = highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        return lagrangian_bound(highs.getLp(), np.asarray(solution.row_dual)), finished


def lagrangian_bound(lp, row_dual: np.ndarray) -> Fraction | None:
    """min over the columns' box of (c - A'y) x, plus y_i x the row bound y_i's sign selects
    (a y_i whose bound is infinite counts as 0): a lower bound on min c x, rl <= A x <= ru,
    lower <= x <= upper, for any y. `lp`: HiGHS's model (column-wise)."""
    import scipy.sparse as sparse

    a = lp.a_matrix_
    matrix = sparse.csc_matrix((np.asarray(a.value_), np.asarray(a.index_), np.asarray(a.start_)),
                               shape=(lp.num_row_, lp.num_col_))
    cost, lower, upper = np.asarray(lp.col_cost_), np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    row_lower, row_upper = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    y = np.where(((row_dual > 0) & ~np.isfinite(row_lower)) | ((row_dual < 0) & ~np.isfinite(row_upper)),
                 0.0, row_dual)
    reduced = cost - matrix.T @ y
    rows = np.where(y > 0, y * np.nan_to_num(row_lower, neginf=0.0),
                    y * np.nan_to_num(row_upper, posinf=0.0))
    at = np.where(reduced > 0, lower, upper)
    if not np.isfinite(at[reduced != 0]).all():
        return None  # a column without a finite bound where its reduced cost points
    cols = np.where(reduced != 0, reduced * np.nan_to_num(at), 0.0)
    sizes = np.abs(np.nan_to_num(at, posinf=0.0, neginf=0.0))
    scale = np.abs(rows).sum() + ((np.abs(cost) + abs(matrix).T @ np.abs(y)) * sizes).sum()
    value = math.fsum(rows.tolist()) + math.fsum(cols.tolist()) + lp.offset_
    return _bound_fraction(value - ROUNDING_MARGIN * scale)
