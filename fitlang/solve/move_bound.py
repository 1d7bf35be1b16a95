"""A least-cost bound that charges the moves (`fitc plan` at fleet scale, issue 18).

`bound.lower_bound` proves the least cost of any placement; with nothing else it charges a
plan no move but the forced ones, and the least cost moves most of what runs (inventory
10,000, seed 0: 57.8 USD/h below today's cost, where a plan that pays for its moves saves
17.5). Here the same relaxation (its column generation, its safe dual bound) has each merged
(demand, class) pair where replicas of it run now split in two: the pair column y, now the
replicas placed there anew, and a *stay* column s, the replicas that stay on the node they
run on, with y's entries in every row (so the replicas there are y + s) and -`move_price`
in the objective; and per merged class its nodes drained and bought, at `move_price` each.
With the constant `move_price` x (sum over demands of min(running, replicas)), the LP's
objective is cost + moves. The rows and bounds added:

    0 <= s[D,C] <= run[D,C]          what runs there now, on a class the demand may use
    sum_C s[D,C] <= sum_d min(allowed_d, replicas_d)   (d: the demands merged into D)
    sum_D s[D,C] <= T_C(u_C)         stays only on nodes that end in use: T_C(j), what the
                                     j nodes of C that run the most run now (concave: a row
                                     per distinct load, as `rules.moves.kept_node_rows`)
    drained_C + u_C >= k_C,  bought_C - u_C >= -k_C (offers)   k_C: C's nodes in use now

Why it holds: any end state that places every replica is a point of it. Its nodes in use
per class (hosting a replica, or bought) are a u; s[D,C] the replicas of D's demands that
stay on their node of C: on a node d may use, at most what runs there and what ends
there, on a node that ends in use; y the rest of its replicas per pair (0 or more, at most
the pair's bound, together at most the demand's replicas: what the bound's knapsack over a
demand's pairs reads), so y + s are the least-cost relaxation's pairs and its rows hold
(`bound.py`). A demand outside option groups ends with exactly its replicas, so it moves
exactly min(running, replicas) less its stays (`moving.replicas_moved`: leaving and
arriving paired); a class's drained nodes are at least k_C - u_C, an offer's bought at least
u_C - k_C. So the LP's objective plus the constant is at most the end state's cost + moves.
An option's replicas get no stay column and no constant (a replica replaced by another
option's is no move): their moves are counted as 0, which only lowers the bound. The costs
of s, drained and bought are rounded down to floats (each coefficient at most the exact
one, every column 0 or more), so the float LP's value is at most the exact objective's.

Nodes are whole (`_packing_rows`): per merged class and resource, for a dual feasible function
f (Fekete and Schepers' u^(k), k = 1, 2, 3: shares on one node summing to 1 or less have f
values that do too), sum f(share) (y + s) <= u_C. Every node of the class in use holds
replicas whose shares in that resource sum to 1 or less (the capacity rows' argument), so
their f values sum to 1 or less, and u_C counts those nodes. The shares are rounded down and
f does not decrease, so a float share is never worth more than the exact one (`_dual_feasible`).

A demand with one replica a node (`_one_per_node_rows`): per pair, y + s <= u_C. Its replicas
on C's nodes are y + s, each on a node of its own, and each such node is in use, so u_C counts
them all. The capacity and cover rows do not say it: a replica of a tenth of a node is a tenth
of a node in the capacity row, and the cover row (`bound._cover_rows`) counts nodes in use of
any of its classes, so the LP had 25 of them ride on 2.5 nodes of a class whose nodes others
fill. Inventory 1,000 seed 0: the charged LP 133.27 -> 138.13 (h29h).

Split rather than linked (s <= y, one row per stay): the same bound with 3,600 rows fewer at
inventory 10,000 (8,610 against 12,202), its column generation ~0.15 s of CPU less.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.bound import INFINITY, Relaxation, _float_down
from fitlang.solve.dear_cover import dear_cover_rows
from fitlang.solve.zone_apart import apart_rows


def moves_lower_bound(problem: Problem, deadline: float | None, start=None,
                      each_round: Callable[[Fraction], None] | None = None) -> Fraction | None:
    """A proven lower bound on cost + moves (`move_price` per replica moved, node drained and
    node bought) over the end states that place every replica; None where none is proven in
    time, or where replicas may be left out (the constant would not hold). `each_round`: given
    the bound proven so far after each of the column generation's rounds."""
    price = problem.move_price or Fraction(0)
    if problem.allow_unplaced:
        return None
    from fitlang.solve import bound  # (looked up at the call: a test may stand in for it)

    charged = _ChargedMoves(problem, price)

    def told(value: Fraction) -> None:
        if each_round is not None and charged.constant is not None:
            each_round(value + charged.constant)

    found = bound.lower_bound(problem, "cost", deadline, start=start, extend=charged.extend,
                              each_round=None if each_round is None else told)
    if found.value is None or charged.constant is None:
        return None
    return found.value + charged.constant


class _ChargedMoves:
    """`lower_bound`'s `extend`: the stay, drained and bought columns and their rows; the
    objective's constant, price x sum of min(running, replicas), once made."""

    def __init__(self, problem: Problem, price: Fraction, whole: bool = False) -> None:
        self.problem = problem  # before its demands are merged
        self.price = price
        self.constant: Fraction | None = None
        # the 0-1 columns of two workloads kept apart by domain (`zone_apart`: with `whole`,
        # for the charged MIP) once made; empty without
        self.whole = whole
        self.binary: list[int] = []

    def extend(self, merged: Problem, members: list[list[str]], relaxed: Relaxation) -> None:
        """(`merged`: the problem the relaxation is of; its demands stand for `members`.)"""
        problem = self.problem
        grouped = {name for group in problem.option_groups for name in group.demands}
        replicas = {d.name: d.replicas for d in problem.demands}
        self.constant = self.price * sum(min(problem.running_total(d.name), d.replicas)
                                         for d in problem.demands if d.name not in grouped)
        if not self.price:
            return
        columns = _NewColumns(relaxed)
        stays = _stay_columns(problem, members, grouped, replicas, relaxed, columns, self.price)
        _node_change_columns(problem, relaxed, columns, self.price)
        columns.kept_node_rows(stays)
        _packing_rows(relaxed, columns)
        _one_per_node_rows(merged, relaxed, columns)
        dear_cover_rows(relaxed, columns)
        apart_rows(merged, members, relaxed, columns, whole=self.whole)
        columns.into(relaxed)
        self.binary = columns.binary


class _NewColumns:
    """Columns and rows added to a relaxation: entries as (row, column, value), the rows'
    bounds, and the columns' costs and bounds."""

    def __init__(self, relaxed: Relaxation) -> None:
        self.first_row, self.first_column = relaxed.matrix.shape
        self.rows: list[int] = []
        self.columns: list[int] = []
        self.values: list[float] = []
        self.row_lower: list[float] = []
        self.row_upper: list[float] = []
        self.cost: list[float] = []
        self.upper: list[float] = []
        self.copies: list[tuple[int, int]] = []  # (new column, the column whose entries it takes)
        self.stay_of: dict[int, int] = {}  # pair -> its stay column
        self.lazy: list[bool] = []  # per new row: out of the master until its solution breaks it
        self.binary: list[int] = []  # the new columns that are 0 or 1 in a MIP (`zone_apart`)

    def column(self, cost: float, upper: float) -> int:
        self.cost.append(cost)
        self.upper.append(upper)
        return self.first_column + len(self.cost) - 1

    def row(self, terms: dict[int, float], lower: float, upper: float, lazy: bool = False) -> None:
        at = self.first_row + len(self.row_lower)
        self.row_lower.append(lower)
        self.row_upper.append(upper)
        self.lazy.append(lazy)
        for column, value in terms.items():
            self.rows.append(at)
            self.columns.append(column)
            self.values.append(value)

    def kept_node_rows(self, stays: dict[int, tuple[list[int], Counter]]) -> None:
        """Per merged class, its stays at most what runs now on its u nodes that run the
        most: T(u) is concave (loads sorted largest first), the least of the lines through
        (j, T(j)) and (j + 1, T(j + 1)), one row per distinct load."""
        for class_at, (columns, loads) in sorted(stays.items()):
            ordered = sorted(loads.values(), reverse=True)
            kept = 0  # T(j)
            for j, load in enumerate(ordered):
                if j == 0 or load != ordered[j - 1]:
                    terms = dict.fromkeys(columns, 1.0)
                    terms[class_at] = -float(load)
                    self.row(terms, -INFINITY, float(kept - load * j))
                kept += load

    def into(self, relaxed: Relaxation) -> None:
        """The columns and rows into the relaxation (they are never lazy)."""
        from scipy.sparse import csc_array

        old = relaxed.matrix.tocoo()
        if self.copies:
            made, copied = (np.array(side, dtype=np.int64) for side in zip(*self.copies))
            indptr = relaxed.matrix.indptr
            sizes = indptr[copied + 1] - indptr[copied]
            at = np.repeat(indptr[copied] - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
            self.rows.extend(relaxed.matrix.indices[at].tolist())
            self.columns.extend(np.repeat(made, sizes).tolist())
            self.values.extend(relaxed.matrix.data[at].tolist())
        shape = (self.first_row + len(self.row_lower), self.first_column + len(self.cost))
        relaxed.matrix = csc_array((np.concatenate([old.data, np.array(self.values, dtype=float)]),
                                    (np.concatenate([old.row, np.array(self.rows, dtype=np.int64)]),
                                     np.concatenate([old.col, np.array(self.columns, dtype=np.int64)]))),
                                   shape=shape)
        relaxed.matrix.sum_duplicates()
        relaxed.cost = np.concatenate([relaxed.cost, self.cost])
        relaxed.lower = np.concatenate([relaxed.lower, np.zeros(len(self.cost))])
        relaxed.upper = np.concatenate([relaxed.upper, self.upper])
        relaxed.row_lower = np.concatenate([relaxed.row_lower, self.row_lower])
        relaxed.row_upper = np.concatenate([relaxed.row_upper, self.row_upper])
        lazy = np.array(self.lazy, dtype=bool)
        families = np.full(len(lazy), -1, dtype=np.int64)  # a lazy row is a family of its own
        families[lazy] = relaxed.lazy.max(initial=-1) + 1 + np.arange(int(lazy.sum()))
        if len(relaxed.lazy) or lazy.any():
            before = relaxed.lazy if len(relaxed.lazy) else np.full(self.first_row, -1, dtype=np.int64)
            relaxed.lazy = np.concatenate([before, families])


def _stay_columns(problem: Problem, members: list[list[str]], grouped: set[str],
                  replicas: dict[str, int], relaxed: Relaxation, columns: _NewColumns,
                  price: Fraction) -> dict[int, tuple[list[int], Counter]]:
    """The stay columns (at most what runs there, each with its pair's entries) and per merged
    demand the row of its stays (at most its members' min(allowed, replicas)); per merged
    class, its stay columns and the replicas that may stay on each of its nodes (for
    `kept_node_rows`)."""
    width = relaxed.first_pair
    pair_at = {int(key): p for p, key in
               enumerate((relaxed.pair_demand * width + relaxed.pair_class).tolist())}
    owners = problem.owners()
    run: Counter = Counter()  # pair -> replicas that may stay on it
    node_loads: dict[int, Counter] = {}  # merged class -> node -> those replicas
    most: Counter = Counter()  # merged demand -> its stays at most
    for at, names in enumerate(members):
        for name in names:
            if name in grouped:
                continue
            allowed = 0
            for node, count in problem.running.get(name, {}).items():
                node_class = owners.get(node)
                class_at = relaxed.class_index.get(node_class.id) if node_class is not None else None
                pair = pair_at.get(at * width + class_at) if class_at is not None else None
                if class_at is None or pair is None or count <= 0:
                    continue  # it may not end there: those replicas move
                run[pair] += count
                node_loads.setdefault(class_at, Counter())[node] += count
                allowed += count
            most[at] += min(allowed, replicas[name])
    cost = _float_down(-price)
    by_demand: dict[int, list[int]] = {}
    stays: dict[int, tuple[list[int], Counter]] = {}
    for pair in sorted(run):
        y = relaxed.first_pair + pair
        stay = columns.column(cost, float(run[pair]))
        columns.copies.append((stay, y))
        columns.stay_of[pair] = stay
        by_demand.setdefault(int(relaxed.pair_demand[pair]), []).append(stay)
        class_at = int(relaxed.pair_class[pair])
        stays.setdefault(class_at, ([], node_loads[class_at]))[0].append(stay)
    for at, stay_columns in sorted(by_demand.items()):
        columns.row(dict.fromkeys(stay_columns, 1.0), -INFINITY, float(most[at]))
    return stays


def _node_change_columns(problem: Problem, relaxed: Relaxation, columns: _NewColumns,
                         price: Fraction) -> None:
    """Per merged class, its nodes drained (k - u or more: k its nodes in use now, hosting a
    replica or bought earlier) and, for an offer, its nodes bought (u - k or more)."""
    owners = problem.owners()
    in_use: set[str] = {node for nodes in problem.running.values() for node, count in nodes.items()
                        if count > 0}
    in_use.update(problem.bought_now)
    now: Counter = Counter()
    for node in in_use:
        node_class = owners.get(node)
        class_at = relaxed.class_index.get(node_class.id) if node_class is not None else None
        if class_at is not None:
            now[class_at] += 1
    offers = np.zeros(relaxed.first_pair, dtype=bool)
    for node_class in problem.classes:  # merged classes are alike in this
        class_at = relaxed.class_index.get(node_class.id)
        if class_at is not None:
            offers[class_at] = node_class.provisioned
    cost = _float_down(price)
    for class_at in range(relaxed.first_pair):
        count = float(relaxed.upper[class_at])
        if now[class_at]:
            drained = columns.column(cost, float(now[class_at]))
            columns.row({drained: 1.0, class_at: 1.0}, float(now[class_at]), INFINITY)
        if offers[class_at]:
            bought = columns.column(cost, count)
            columns.row({bought: 1.0, class_at: -1.0}, -float(now[class_at]), INFINITY)


def _one_per_node_rows(merged: Problem, relaxed: Relaxation, columns: _NewColumns) -> None:
    """Per pair of a demand with one replica a node, y + s <= u of its class (the module's
    docstring); lazy, a row each (most never bind). Such a demand is never merged
    (`bound.merged_demands`), so `merged`'s demand is the workload's own. Not with a horizon
    (replicas at different times may share a node)."""
    if merged.timeline is not None:
        return
    one_per_node = np.array([d.one_per_node for d in merged.demands], dtype=bool)
    for pair in np.flatnonzero(one_per_node[relaxed.pair_demand]).tolist():
        terms = {relaxed.first_pair + pair: 1.0, int(relaxed.pair_class[pair]): -1.0}
        stay = columns.stay_of.get(pair)
        if stay is not None:
            terms[stay] = 1.0
        columns.row(terms, -INFINITY, 0.0, lazy=True)


# the dual feasible functions of the packing rows: u^(k) of Fekete and Schepers, k = 1, 2, 3
PACKING_FUNCTIONS = (1, 2, 3)


def _dual_feasible(share: np.ndarray, k: int) -> np.ndarray:
    """Fekete and Schepers' u^(k) (x where (k + 1) x is whole, else floor((k + 1) x) / k), taken
    at least a little below: any shares on one node that sum to 1 or less have values that do
    too. floor((k + 1) x (1 - 1e-12)) / k is at most u^(k)(x) at every x in [0, 1] (at a whole
    (k + 1) x = m it is (m - 1) / k <= m / (k + 1)), and u^(k) does not decrease, so a share
    rounded down is never worth more than the replica's own; the float value of m / k is the
    nearest one below."""
    whole = np.floor((k + 1) * share * (1.0 - 1e-12))
    return np.nextafter(whole / k, 0.0) if k == 3 else whole / k


def _packing_rows(relaxed: Relaxation, columns: _NewColumns) -> None:
    """Whole nodes, per class and resource: for a dual feasible function f (the shares on one
    node sum to 1 or less, so their f values do), sum over pairs of f(share) x (y + s) <= u_C.
    The capacity row is this with f(x) = x; these count a replica of more than half a node as
    a whole one (k = 1), more than a third as a half (k = 2), ..., so that replicas of 0.6 and
    0.45 of a node take two nodes, not 1.05. Rows only where f is above the share somewhere;
    lazy, a row each (most never bind)."""
    width, pairs = relaxed.first_pair, relaxed.pairs
    taken = relaxed.capacity_row >= 0
    resource_of = np.full(int(taken.sum()), -1, dtype=np.int64)  # capacity row -> its resource
    resource_of[relaxed.capacity_row[taken]] = np.nonzero(taken)[1]
    block = relaxed.matrix[:, width:width + pairs].tocoo()
    inside = (block.row < len(resource_of)) & (block.data > 0)
    pair, row, share = block.col[inside], block.row[inside], block.data[inside]
    stay = np.array([columns.stay_of.get(int(p), -1) for p in range(pairs)], dtype=np.int64)
    for k in PACKING_FUNCTIONS:
        value = _dual_feasible(share, k)
        counted = value > 0
        above = np.unique(row[counted & (value > share)])  # capacity rows f says more of
        keep = counted & np.isin(row, above)
        order = np.argsort(row[keep], kind="stable")
        kept_pair, kept_row, kept_value = pair[keep][order], row[keep][order], value[keep][order]
        starts = np.searchsorted(kept_row, above)
        ends = np.searchsorted(kept_row, above, side="right")
        for begin, end in zip(starts.tolist(), ends.tolist()):  # a row per capacity row in `above`
            terms: dict[int, float] = {}
            for p, v in zip(kept_pair[begin:end].tolist(), kept_value[begin:end].tolist()):
                terms[width + p] = v
                if stay[p] >= 0:
                    terms[int(stay[p])] = v
            class_at = int(relaxed.pair_class[kept_pair[begin]])
            terms[class_at] = -1.0
            columns.row(terms, -INFINITY, 0.0, lazy=True)
