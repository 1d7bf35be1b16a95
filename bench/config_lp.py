"""The configuration LP over `fitc plan`'s charged relaxation: how far above the charged LP a
bound on cost + moves can go by packing whole replicas node by node (issue 18, h31g, h32f).

    .venv/bin/python bench/config_lp.py --nodes 10000 --seed 0 [--seconds 3000] [--plan FILE]
        [--upper U] [--exact-every 2] [--box 0.2,0.05] [--cache DIR]

The instance is `move_bench`'s (`--shape inventory`, workloads nodes / 10, the policy changed
by `changed_policy`, `move_price` 0.01). Without `--plan`, `make_plan` runs first (60 s) and
its end state seeds the master; `--plan` takes a JSON file node -> {workload: replicas}
(`--dump FILE` writes the plan's).

The model: the charged relaxation with every lazy row (`bound.relaxation` + `_ChargedMoves`),
plus per merged class k a row u_k - sum_p lam_kp >= 0 ("B") and per pair (d, k) a row
sum_p p_d lam_kp - y_dk - s_dk >= 0 ("L"), over pattern columns lam_kp (whole replica counts
that fit one node of k: `patterns.py`'s knapsacks). Rows for a pair enter when the master puts
an amount on it (a pair without its row is only relaxed, which keeps the bound valid).

The bound, every round, at the master's prices: the Lagrangian over the whole relaxation (rows
the master leaves out priced 0), each B row kept in the subproblem: a node of k is worth
min(0, rc(u_k) - max_p pi.p) (the max bounded above by the knapsack's dual bound, or the
fractional one on rounds that are not exact), each demand's y and s together at most its
replicas, the nodes in use priced at most `--upper` in all (the plan's cost + moves: node
cost <= cost + moves as the move charges are >= 0, so a bound on every end state at most
that, the optimum among them). Floating-point sums: figures to ~1e-6 relative, a measurement.

Stabilisation (du Merle's box): every B and L row's price is kept in [c - d, c + d], d =
rel x c + abs, around the prices of the best bound so far (the first centre: the charged LP's
prices, the pattern rows' at 0, where the bound is the charged LP's own), by two artificial
columns a row; the centre moves when a round's bound passes the best (a serious step) or
when nothing prices out and the box still binds. Converged: nothing prices out on an exact
round and no artificial is used. Printed per round; not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import highspy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fitlang.model.problem import RESOURCES, Problem
from fitlang.solve import bound as B
from fitlang.solve import move_bound as MB
from fitlang.solve import patterns as P
from fitlang.solve.elastic import _fit

BIG = 1e6  # an artificial's cost before the box has a centre: it never pays
EPS = 1.0  # the most a row's lower-side artificial takes (du Merle's soft lower side)


def _compilation(d: Path, nodes: int, seed: int, cache: Path):
    """`move_bench`'s instance written to `d`, compiled with what runs now."""
    import move_bench

    from fitlang.driver import Compilation

    files, state, base = move_bench.at_rest("inventory", nodes, nodes // 10, seed, cache)
    text, _ = move_bench.changed_policy(base, state, seed, "0.01")
    for file, content in files.items():
        (d / file).write_text(content)
    (d / "p.fit").write_text(text)
    (d / "now.json").write_text(json.dumps(state))
    return Compilation(d / "p.fit", current=str(d / "now.json"))


def instance(nodes: int, seed: int, cache: Path) -> Problem:
    """The plan's problem (with what runs now)."""
    from fitlang.model.build import with_current

    with tempfile.TemporaryDirectory() as name:
        comp = _compilation(Path(name), nodes, seed, cache)
        program = comp.check().program  # before `comp.problem`, which the check builds
        return with_current(comp.problem, program, comp.current_state())


def plan(nodes: int, seed: int, cache: Path, seconds: float, dump: str) -> None:
    """`make_plan`'s end state node -> {workload: replicas} and its cost + moves, to `dump`
    (run in a process of its own: a problem built after it in the same process came out
    empty, cause not looked for)."""
    from fitlang.plan import make_plan

    with tempfile.TemporaryDirectory() as name:
        comp = _compilation(Path(name), nodes, seed, cache)
        placement = make_plan(comp, comp.current_state(), seconds).placement
    contents: dict[str, dict[str, int]] = {}
    for a in placement.assignments:
        hosted = contents.setdefault(a.node, {})
        hosted[a.workload] = hosted.get(a.workload, 0) + 1
    Path(dump).write_text(json.dumps({"value": float(placement.value), "nodes": contents}))
    print(f"plan {float(placement.value):.4f} (its bound {float(placement.bound):.4f})", flush=True)


class Charged:
    """The charged relaxation with every lazy row, as arrays, and its LP's optimum."""

    def __init__(self, problem: Problem) -> None:
        caught = {}
        into = MB._NewColumns.into

        def catch(columns, relaxed):
            caught["columns"] = columns
            return into(columns, relaxed)

        MB._NewColumns.into = catch
        try:
            charged = MB._ChargedMoves(problem, problem.move_price)
            merged_problem, self.members = B.merged_demands(problem)
            merged = B.merged_classes(merged_problem)
            relaxed = B.relaxation(merged_problem, "cost", merged)
            charged.extend(merged_problem, self.members, relaxed)
        finally:
            MB._NewColumns.into = into
        self.problem, self.relaxed, self.constant = problem, relaxed, float(charged.constant)
        self.A = relaxed.matrix.tocsc()
        self.Ar = self.A.tocsr()
        self.width, self.pairs = relaxed.first_pair, relaxed.pairs
        self.pair_demand, self.pair_class = relaxed.pair_demand, relaxed.pair_class
        self._pairs_and_stays(caught["columns"].stay_of)
        self._knapsack_data(merged_problem.demands, merged[0])
        order = np.argsort(self.pair_class, kind="stable")
        cuts = np.searchsorted(self.pair_class[order], np.arange(self.width + 1))
        self.pairs_of = [order[cuts[k]:cuts[k + 1]] for k in range(self.width)]

    def _pairs_and_stays(self, stay_of: dict[int, int]) -> None:
        self.stay = np.full(self.pairs, -1, dtype=np.int64)
        for p, s in stay_of.items():
            self.stay[p] = s
        self.has_stay = self.stay >= 0
        self.pair_of_col = np.full(self.A.shape[1], -1, dtype=np.int64)
        self.pair_of_col[self.width:self.width + self.pairs] = np.arange(self.pairs)
        self.pair_of_col[self.stay[self.has_stay]] = np.flatnonzero(self.has_stay)
        self.is_pair = self.pair_of_col >= 0

    def _knapsack_data(self, demands, classes) -> None:
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in classes], dtype=np.int64)
        requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands], dtype=np.int64)
        replicas = np.array([d.replicas for d in demands], dtype=np.int64)
        one = np.array([d.one_per_node for d in demands], dtype=bool)
        self.request = requests[self.pair_demand]
        limit = _fit(self.request, self.capacity[self.pair_class], replicas[self.pair_demand])
        self.limit = np.where(one[self.pair_demand], np.minimum(limit, 1), limit)
        self.exclusive = np.array([d.exclusive for d in demands], dtype=bool)[self.pair_demand]
        self.apart = P._apart(demands)
        self.count = self.relaxed.upper[:self.width].copy()
        self.price = np.maximum(self.relaxed.cost[:self.width], 1e-12)

    def amounts(self, x: np.ndarray) -> np.ndarray:
        """Replicas per pair (y + s) of a point."""
        amount = x[self.width:self.width + self.pairs].copy()
        amount[self.has_stay] += x[self.stay[self.has_stay]]
        return amount

    def solve(self) -> tuple[float, np.ndarray, np.ndarray]:
        """(the charged LP's value, its point, its row prices)."""
        r = self.relaxed
        h = _highs()
        a = self.A
        h.passModel(a.shape[1], a.shape[0], a.nnz, 1, 1, 0.0, r.cost, r.lower, r.upper, r.row_lower,
                    r.row_upper, a.indptr.astype(np.int32), a.indices.astype(np.int32),
                    a.data.astype(float), np.zeros(a.shape[1], dtype=np.int32))
        h.run()
        solution = h.getSolution()
        value = h.getInfo().objective_function_value + self.constant
        return value, np.array(solution.col_value), np.array(solution.row_dual)

    def node_patterns(self, contents: dict[str, dict[str, int]]) -> list:
        """(class, pairs, counts) of each node's contents that is a pattern of the model."""
        owners = self.problem.owners()
        position = {name: i for i, names in enumerate(self.members) for name in names}
        pair_at = {(int(d), int(c)): p for p, (d, c) in
                   enumerate(zip(self.pair_demand.tolist(), self.pair_class.tolist()))}
        found = []
        for node, hosted in contents.items():
            owner = owners.get(node)
            k = self.relaxed.class_index.get(owner.id) if owner is not None else None
            if k is None or k >= self.width:
                continue
            counts: dict[int, int] = {}
            for name, c in hosted.items():
                p = pair_at.get((position.get(name, -1), k))
                if p is None:
                    break
                counts[p] = counts.get(p, 0) + c
            else:
                if counts and self._fits(k, counts):
                    items = np.array(sorted(counts))
                    found.append((k, items, np.array([counts[p] for p in items.tolist()])))
        return found

    def _fits(self, k: int, counts: dict[int, int]) -> bool:
        items = np.array(sorted(counts))
        amounts = np.array([counts[p] for p in items.tolist()])
        return bool((amounts <= self.limit[items]).all()
                    and ((self.request[items] * amounts[:, None]).sum(axis=0) <= self.capacity[k]).all())


def _highs() -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    return h


class Master:
    """The restricted master: base columns and rows of the relaxation, B / L rows, patterns,
    two box artificials per B / L row."""

    def __init__(self, lp: Charged) -> None:
        self.lp, self.h = lp, _highs()
        rows, cols = lp.A.shape
        self.col_at = np.full(cols, -1, dtype=np.int64)  # base column -> master column
        self.row_at = np.full(rows, -1, dtype=np.int64)  # base row -> master row
        self.col_base: list[int] = []  # master column -> base column (-1 pattern, -2 artificial)
        self.row_kind: list[tuple[str, int]] = []  # ('b', base row) / ('B', class) / ('L', pair)
        self.brow: dict[int, int] = {}
        self.lrow: dict[int, int] = {}
        self.pattern_class: list[int] = []
        self.seen: set = set()
        self.boxed: list[int] = []  # master rows with artificials, and their columns
        self.plus: list[int] = []
        self.minus: list[int] = []

    def add_base_rows(self, rows) -> int:
        rows = [i for i in rows if self.row_at[i] < 0]
        if rows:
            self.row_at[rows] = self.h.getNumRow() + np.arange(len(rows))
            self.row_kind.extend(("b", row) for row in rows)
            starts, index, value = [], [], []
            for row in rows:
                starts.append(len(index))
                _line(self.lp.Ar, row, self.col_at, index, value)
            r = self.lp.relaxed
            self.h.addRows(len(rows), r.row_lower[rows], r.row_upper[rows], len(index), _i32(starts),
                           _i32(index), np.array(value, dtype=float))
        return len(rows)

    def add_base_cols(self, cols) -> int:
        lp, r = self.lp, self.lp.relaxed
        cols = [j for j in cols if self.col_at[j] < 0]
        if not cols:
            return 0
        at, starts, index, value = self.h.getNumCol(), [], [], []
        for i, j in enumerate(cols):
            self.col_at[j] = at + i
            self.col_base.append(j)
            starts.append(len(index))
            _line(lp.A, j, self.row_at, index, value)
            if lp.pair_of_col[j] in self.lrow:
                index.append(self.lrow[lp.pair_of_col[j]])
                value.append(-1.0)
            if j < lp.width and j in self.brow:
                index.append(self.brow[j])
                value.append(1.0)
        js = np.array(cols)
        self.h.addCols(len(js), r.cost[js], r.lower[js], r.upper[js], len(index), _i32(starts),
                       _i32(index), np.array(value, dtype=float))
        return len(js)

    def add_patterns(self, patterns) -> int:
        starts, index, value = [], [], []
        for k, items, counts in patterns:
            key = (k, tuple(items.tolist()), tuple(counts.tolist()))
            if key in self.seen:
                continue
            self.seen.add(key)
            starts.append(len(index))
            index.append(self.brow[k])
            value.append(-1.0)
            for p, c in zip(items.tolist(), counts.tolist()):
                index.append(self.lrow[p])
                value.append(float(c))
            self.pattern_class.append(k)
        n = len(starts)
        if n:
            self.h.addCols(n, np.zeros(n), np.zeros(n), np.full(n, np.inf), len(index), _i32(starts),
                           _i32(index), np.array(value))
            self.col_base.extend([-1] * n)
        return n

    def add_pair_rows(self, pairs) -> int:
        """The L rows of `pairs` (the B rows of their classes first), their y and s columns,
        and a single-demand pattern each (as many replicas as fit one node)."""
        lp = self.lp
        pairs = [p for p in pairs if p not in self.lrow]
        stays = [int(lp.stay[p]) for p in pairs if lp.stay[p] >= 0]
        self.add_base_cols([lp.width + p for p in pairs] + stays)
        classes = sorted({int(lp.pair_class[p]) for p in pairs} - set(self.brow))
        at, starts, index, value = self.h.getNumRow(), [], [], []
        for k in classes:
            self.brow[k] = at + len(starts)
            self.row_kind.append(("B", k))
            starts.append(len(index))
            index.append(int(self.col_at[k]))
            value.append(1.0)
        for p in pairs:
            self.lrow[p] = at + len(starts)
            self.row_kind.append(("L", p))
            starts.append(len(index))
            index.append(int(self.col_at[lp.width + p]))
            value.append(-1.0)
            if lp.stay[p] >= 0:
                index.append(int(self.col_at[lp.stay[p]]))
                value.append(-1.0)
        if starts:
            n = len(starts)
            self.h.addRows(n, np.zeros(n), np.full(n, np.inf), len(index), _i32(starts), _i32(index),
                           np.array(value))
            self._add_artificials(list(range(at, at + n)))
        self.add_patterns([(int(lp.pair_class[p]), np.array([p]), np.array([int(lp.limit[p])]))
                           for p in pairs])
        return len(pairs)

    def _add_artificials(self, rows: list[int]) -> None:
        """+1 (cost c + d: the row's price at most that) and -1 (cost -(c - d), at most EPS:
        the price at least that, softly) per row; costs BIG / 0 until `box` sets them."""
        n, at = len(rows), self.h.getNumCol()
        self.h.addCols(2 * n, np.tile([BIG, 0.0], n), np.zeros(2 * n), np.tile([np.inf, 0.0], n), 2 * n,
                       np.arange(2 * n, dtype=np.int32), _i32(np.repeat(rows, 2)), np.tile([1.0, -1.0], n))
        self.boxed.extend(rows)
        self.plus.extend(range(at, at + 2 * n, 2))
        self.minus.extend(range(at + 1, at + 2 * n, 2))
        self.col_base.extend([-2] * (2 * n))

    def box(self, centre, relative: float, absolute: float) -> None:
        """Every B / L row's price in the box around `centre`'s."""
        c = np.array([centre[1].get(key, 0.0) if kind == "B" else centre[2].get(key, 0.0)
                      for kind, key in (self.row_kind[r] for r in self.boxed)])
        if not len(c):
            return
        d = relative * c + absolute
        low = np.maximum(c - d, 0.0)
        plus, minus = _i32(self.plus), _i32(self.minus)
        self.h.changeColsCost(len(plus), plus, c + d)
        self.h.changeColsCost(len(minus), minus, -low)
        self.h.changeColsBounds(len(minus), minus, np.zeros(len(minus)), np.where(low > 0, EPS, 0.0))

    def solve(self):
        """(status, value, the point by base columns, the prices (base rows, B, L), the
        artificials' use (+ side, - side))."""
        lp = self.lp
        self.h.run()
        solution = self.h.getSolution()
        duals, x = np.array(solution.row_dual), np.array(solution.col_value)
        base = np.array(self.col_base)
        point = np.zeros(lp.A.shape[1])
        point[base[base >= 0]] = x[base >= 0]
        prices = np.zeros(lp.A.shape[0])
        kinds = self.row_kind
        rows = np.array([i for i, (kind, _) in enumerate(kinds) if kind == "b"], dtype=np.int64)
        prices[[key for kind, key in kinds if kind == "b"]] = duals[rows]
        prices = (prices, {k: max(0.0, duals[i]) for k, i in self.brow.items()},
                  {p: max(0.0, duals[i]) for p, i in self.lrow.items()})
        used = (float(x[self.plus].sum()), float(x[self.minus].sum()))
        status = self.h.modelStatusToString(self.h.getModelStatus())
        return status, self.h.getInfo().objective_function_value + lp.constant, point, prices, used


def _line(matrix, line: int, at_master: np.ndarray, index: list, value: list) -> None:
    """A row (CSR) or column (CSC) of the relaxation, its entries the master holds, appended
    by their master positions."""
    a, b = matrix.indptr[line], matrix.indptr[line + 1]
    other, coefs = matrix.indices[a:b], matrix.data[a:b]
    inside = at_master[other] >= 0
    index.extend(at_master[other[inside]].tolist())
    value.extend(coefs[inside].tolist())


def _i32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int32)


def best_pattern(lp: Charged, k: int, items, values, mu: float, exact: bool):
    """(an upper bound on the best pattern's worth sum v p over `items` of class k, a pattern
    better than mu or None)."""
    lim, ex, req, cap = lp.limit[items], lp.exclusive[items], lp.request[items], lp.capacity[k]
    quick = P._fractional(values, lim, req, cap)
    if quick <= mu:
        return quick, None
    if not exact:
        return quick, P._greedy_pattern(values, lim, req, cap, ex, lp.pair_demand[items], lp.apart)
    alone = values[ex] * lim[ex]
    upper, pattern = 0.0, None
    if len(alone):
        upper = float(alone.max())
        pattern = np.zeros(len(items), dtype=np.int64)
        pick = np.flatnonzero(ex)[int(np.argmax(alone))]
        pattern[pick] = lim[pick]
    shared = np.flatnonzero(~ex)
    if len(shared):
        conflicts = P._conflicts(lp.pair_demand[items[shared]], lp.apart)
        found = P._apart_knapsack(values[shared], lim[shared], req[shared], cap, conflicts, P.BRANCHES)
        if found is None:
            found = P._solve_knapsack(values[shared], lim[shared], req[shared], cap, conflicts, 5.0)
        top, chosen, _ = found
        top = min(top, P._fractional(values[shared], lim[shared], req[shared], cap))
        if top > upper:
            upper = top
            if chosen is not None:
                pattern = np.zeros(len(items), dtype=np.int64)
                pattern[shared] = chosen
    return min(upper, quick), pattern


def lagrangian(lp: Charged, master: Master, prices, exact: bool, upper: float):
    """(the bound at `prices`, the base columns' reduced costs, the patterns that price out)."""
    r = lp.relaxed
    base, on_b, on_l = prices
    base, row_terms = B.priced_rows(base, r.row_lower, r.row_upper)
    rc = r.cost - lp.A.T @ base
    for k, v in on_b.items():
        rc[k] -= v
    for p, v in on_l.items():
        rc[lp.width + p] += v
        if lp.stay[p] >= 0:
            rc[lp.stay[p]] += v
    is_node = np.zeros(len(rc), dtype=bool)
    is_node[:lp.width] = True
    other = np.where(rc >= 0, rc * r.lower, rc * r.upper)[~lp.is_pair & ~is_node]
    value = float(row_terms.sum() + other.sum() + _pairs_term(lp, rc)) + lp.constant
    rc_u = rc[:lp.width].copy()  # u's reduced cost without its B row's price (kept in the subproblem)
    for k, v in on_b.items():
        rc_u[k] += v
    per_node = np.minimum(0.0, rc_u)
    found = []
    for k in list(master.brow):
        items = np.array([p for p in lp.pairs_of[k].tolist() if on_l.get(p, 0.0) > 1e-12], dtype=np.int64)
        if not len(items):
            continue
        values = np.array([on_l[p] for p in items.tolist()])
        top, pattern = best_pattern(lp, k, items, values, on_b[k], exact)
        per_node[k] = min(0.0, rc_u[k] - max(0.0, top))
        if pattern is not None and on_b[k] - float(values @ pattern) < -1e-9 * max(1.0, on_b[k]):
            chosen = np.flatnonzero(pattern)
            found.append((k, items[chosen], pattern[chosen]))
    return value + _nodes_term(lp, per_node, upper), rc, found


def _pairs_term(lp: Charged, rc: np.ndarray) -> float:
    """The y and s columns of negative reduced cost: a demand's together at most its replicas,
    the most negative first."""
    idx = np.flatnonzero(lp.is_pair & (rc < 0))
    demand = lp.pair_demand[lp.pair_of_col[idx]]
    order = np.lexsort((rc[idx], demand))
    idx, demand = idx[order], demand[order]
    if not len(idx):
        return 0.0
    bounds = lp.relaxed.upper[idx]
    filled = np.cumsum(bounds)
    starts = np.flatnonzero(np.r_[True, demand[1:] != demand[:-1]])
    before = filled - bounds - np.repeat(filled[starts] - bounds[starts], np.diff(np.r_[starts, len(demand)]))
    take = np.clip(lp.relaxed.pair_limit[demand] - before, 0.0, bounds)
    return float((rc[idx] * take).sum())


def _nodes_term(lp: Charged, per_node: np.ndarray, upper: float) -> float:
    """Nodes of negative worth, those of the most negative worth per price first, priced at
    most `upper` in all."""
    budget, total = upper, 0.0
    for k in sorted(np.flatnonzero(per_node < 0).tolist(), key=lambda k: per_node[k] / lp.price[k]):
        n = min(lp.count[k], budget / lp.price[k])
        total += n * per_node[k]
        budget -= n * lp.price[k]
        if budget <= 0:
            break
    return total


def start(lp: Charged, end_state: dict | None):
    """The charged LP, and a master with its columns of low reduced cost, its binding rows,
    the pattern rows of the pairs with amounts, the nodes' contents now and the plan's as
    patterns. Returns (master, the charged LP's value, its prices)."""
    r = lp.relaxed
    value, x, y = lp.solve()
    rc = r.cost - lp.A.T @ y
    activity = lp.Ar @ x
    master = Master(lp)
    master.add_base_cols(np.flatnonzero((x > 1e-9) | (rc < 1e-6) | ~lp.is_pair).tolist())
    tight = ((np.abs(activity - r.row_lower) < 1e-7) | (np.abs(activity - r.row_upper) < 1e-7)
             | (np.abs(y) > 1e-12))
    master.add_base_rows(np.flatnonzero(tight).tolist())
    master.add_pair_rows(np.flatnonzero(lp.amounts(x) > 1e-9).tolist())
    now: dict[str, dict[str, int]] = {}
    for name, where in lp.problem.running.items():
        for node, c in where.items():
            if c > 0:
                now.setdefault(node, {})[name] = now.get(node, {}).get(name, 0) + c
    seeds = lp.node_patterns(now) + (lp.node_patterns(end_state) if end_state else [])
    master.add_pair_rows(sorted({p for _, items, _ in seeds for p in items.tolist()}))
    print(f"charged LP {value:.4f}; {master.add_patterns(seeds)} patterns from the nodes now and the plan; "
          f"master {master.h.getNumCol()} columns, {master.h.getNumRow()} rows", flush=True)
    return master, value, y


def rounds(lp: Charged, master: Master, y0: np.ndarray, args) -> float:
    """Column generation with the box until converged or `--seconds`; the best bound."""
    relative, absolute = (float(v) for v in args.box.split(","))
    r = lp.relaxed
    centre = (B.priced_rows(y0, r.row_lower, r.row_upper)[0], {k: 0.0 for k in master.brow},
              {p: 0.0 for p in master.lrow})
    best = min(lagrangian(lp, master, centre, True, args.upper)[0], args.upper)
    print(f"bound at the charged LP's prices {best:.4f}", flush=True)
    master.box(centre, relative, absolute)
    deadline, number, dry = time.time() + args.seconds, 0, False
    while time.time() < deadline:
        clock = time.process_time()
        status, value, point, prices, used = master.solve()
        number += 1
        exact = dry or number % args.exact_every == 0
        bound, rc, found = lagrangian(lp, master, prices, exact, args.upper)
        serious = exact and min(bound, args.upper) > best
        if serious:
            best, centre = min(bound, args.upper), prices
        activity = lp.Ar @ point
        broken = np.flatnonzero((master.row_at < 0) & ((activity < r.row_lower - 1e-7)
                                                       | (activity > r.row_upper + 1e-7)))
        entering = np.flatnonzero((master.col_at < 0) & (rc < -1e-9))
        grew = (master.add_patterns(found) + master.add_base_cols(entering)
                + master.add_base_rows(broken.tolist())
                + master.add_pair_rows(np.flatnonzero(lp.amounts(point) > 1e-9).tolist()))
        kind = "exact" if exact else "greedy"
        print(f"round {number} {kind} {status}: master {value:.4f} bound {bound:.4f} "
              f"best {best:.4f} {'serious' if serious else 'null'}; artificials {used[0]:.3g}/{used[1]:.3g}; "
              f"{len(master.pattern_class)} patterns, {len(master.lrow)} pair rows; "
              f"{time.process_time() - clock:.1f} CPU s", flush=True)
        if grew == 0 and exact:
            if max(used) < 1e-9:
                print("converged", flush=True)
                break
            centre = prices  # the box binds and nothing prices out: it moves
        master.box(centre, relative, absolute)  # the rows just added get theirs too
        dry = not found
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=3000.0, help="wall seconds of rounds")
    parser.add_argument("--plan", help="the plan's end state (JSON node -> {workload: replicas})")
    parser.add_argument("--upper", type=float, help="the plan's cost + moves (with --plan)")
    parser.add_argument("--dump", help="where the plan's end state goes (without --plan)")
    parser.add_argument("--plan-seconds", type=float, default=60.0)
    parser.add_argument("--plan-only", action="store_true", help="only the plan, to --dump")
    parser.add_argument("--exact-every", type=int, default=2)
    parser.add_argument("--box", default="0.2,0.05", help="relative,absolute half-width of the box")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "config_lp_cache")
    args = parser.parse_args()
    begun = time.process_time()
    if args.plan_only:
        plan(args.nodes, args.seed, args.cache, args.plan_seconds, args.dump)
        return
    if args.plan:
        end_state = json.loads(Path(args.plan).read_text())
    else:
        dump = args.dump or str(Path(tempfile.mkdtemp()) / "plan.json")
        subprocess.run([sys.executable, __file__, "--plan-only", "--dump", dump, "--nodes", str(args.nodes),
                        "--seed", str(args.seed), "--cache", str(args.cache),
                        "--plan-seconds", str(args.plan_seconds)], check=True)
        planned = json.loads(Path(dump).read_text())
        end_state, args.upper = planned["nodes"], planned["value"]
    if args.upper is None:
        parser.error("--upper: the plan's cost + moves, with --plan")
    lp = Charged(instance(args.nodes, args.seed, args.cache))
    master, value, y0 = start(lp, end_state)
    best = rounds(lp, master, y0, args)
    print(f"RESULT nodes={args.nodes} seed={args.seed}: charged LP {value:.4f}, "
          f"best bound {max(best, value):.4f}, "
          f"plan {args.upper:.4f}; {time.process_time() - begun:.0f} CPU s", flush=True)


if __name__ == "__main__":
    main()
