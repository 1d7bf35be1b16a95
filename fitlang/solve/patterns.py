"""A stronger lower bound than the pair relaxation's: node patterns (Gilmore-Gomory).

The pair relaxation (`bound.py`) lets a replica take a share of a node: twelve CPUs on a
16-CPU node count as 0.75 of it, so three of them "fit" in 2.25 nodes. Here each merged
class c is a block of N_c nodes, each unused or filled with one *pattern*: whole replica
counts a_w of the demands eligible on c that fit in ONE node of c in every resource, with
a_w <= 1 for a one-per-node demand, an `exclusive` demand alone on its node, two demands
kept apart on a node (`anti_affinity X on node`) not both, and a_w <= replicas. The other
rows of the relaxation stay as they are, plus one per demand: its replicas on all classes at
most its replicas (which the pair bound used implicitly and the blocks would lose).

For row prices y on those rows (the capacity rows are inside the blocks now) the Lagrangian
bound is
    y.b  +  the other columns' worst terms (spreads' `least`, as bound.py)
         +  sum_c N_c min(0, r_c - max over patterns of sum_w a_w v_wc)
where r_c is the node count's reduced cost and v_wc the price the pair (w, c) gets from the
rows. It holds for ANY y (every placement is a point of the blocks and meets the rows), so
`pattern_bound` first evaluates it at the pair relaxation's prices, then improves y by column
generation over patterns (master: the rows, one convexity row per class sum_p x_cp <= N_c,
pattern columns; pricing: one integer knapsack per class), keeping the best round's.

Proven, not estimated: the row part is computed as bound.py's (`_Pricing.bound`, after
Neumaier and Shcherbina 2004: every sum's rounding error bounded and subtracted; each
reduced cost taken at the end of its error interval that weakens the bound). The knapsack's
maximum is replaced by an upper bound on it: the least of a fractional bound per resource
(computed with margin) and HiGHS's MIP dual bound (not its incumbent) plus
`KNAPSACK_TOLERANCE`. A knapsack the deadline cuts short keeps its fractional bound, so
every round is a valid bound, however early it stops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from fitlang.model.problem import RESOURCES
from fitlang.solve import work
from fitlang.solve.backends import MIP_PRESOLVE, _native_stdout_silenced, run_until
from fitlang.solve.bound import (
    INFINITY,
    UNIT,
    Bound,
    Relaxation,
    _stated,
    merged_classes,
    priced_rows,
    safe_reduced_costs,
    safe_sum,
)
from fitlang.solve.clock import highs_limited
from fitlang.solve.elastic import _fit
from fitlang.solve.highs_made import quiet_highs

# HiGHS proves a MIP's dual bound with LP solves to tolerances of 1e-7 (primal and dual
# feasibility; the knapsack's rows are integer, its values below ~1e3): the dual bound may
# lie above the true maximum by no more than about 1e-7 x the sum over items of value x
# count; this margin is ten times that, relative to the same sum (plus an absolute 1e-9)
KNAPSACK_TOLERANCE = 1e-6
# one knapsack's MIP stops here at the latest (its dual bound at that point still holds)
KNAPSACK_SECONDS = 2.0
# a pattern enters the master when its reduced cost is below -NEGATIVE (relative)
NEGATIVE = 1e-9
# with no user limit (work.py), the seconds an exact knapsack and a round's master stand for on
# the stage's own clock (`work.Tally`). Measured at load 30-45: ai 1,000 seed 35, 843 knapsacks
# in 236 rounds in 8 CPU s (100 knapsacks in 1.5-1.7 CPU s, 38 rounds beside them ~0.1 s);
# breaker 1,000, 273 knapsacks in 57 rounds in 0.9 CPU s (their knapsacks hold fewer items)
KNAPSACK_COUNTED_SECONDS = 0.01
ROUND_COUNTED_SECONDS = 0.002
# a knapsack the table cannot solve (`_solve_knapsack`: HiGHS's branch and bound) stands for this
# much more: on held-out inventory 1,000 seed 41 (no ai 1,000 seed 35 knapsack goes to HiGHS) 259
# of them took 15.7 CPU s with the rounds' masters, 0.014-0.26 s each (median 0.03); at 0.01 the
# stage ran to convergence, not to its seconds (session 54)
HIGHS_KNAPSACK_COUNTED_SECONDS = 0.05


@dataclass
class PatternBound:
    """What `pattern_bound` found: the proven bound (None: none), the bound at the pair
    relaxation's prices, the column generation's rounds, the patterns in its master, whether
    it converged, its seconds, the knapsack MIPs solved and whether each reached its optimum
    (if not, its dual bound was used)."""

    value: Fraction | None
    at_pair_prices: Fraction | None = None
    rounds: int = 0
    patterns: int = 0
    converged: bool = False
    seconds: float = 0.0
    knapsacks: int = 0
    exact: bool = True
    lp_value: float | None = None
    best_round: Fraction | None = None  # the patterns' own bound, before the pair bound's max
    # the master's last LP solution, nodes per pattern (a guide for placing, not a bound):
    # (class ids of the merged class, {the workloads a merged demand stands for: replicas on
    # one node}, nodes), most nodes first
    nodes: list[tuple[tuple[str, ...], dict[tuple[str, ...], int], float]] | None = None
    # the master itself, for rounding its LP to whole nodes (pattern_rounding.py)
    master: _PatternMaster | None = field(default=None, repr=False)


def pattern_bound(bound: Bound, objective: str, deadline: float | None = None,
                  start=None, rounds: int | None = None,
                  counted_seconds: float | None = None) -> PatternBound:
    """The pattern bound of the module docstring, from the pair relaxation's result
    (`bound.lower_bound`): at its prices, then by column generation until converged, the
    `deadline` or `rounds` rounds. `start`: a packing, or a tuple of packings, whose nodes give
    the first patterns. `counted_seconds`: with no user limit (`work.counted`), the deadline is
    these seconds on the stage's own clock, which runs by its knapsacks and rounds (`work.Tally`:
    on the solve's, ai 1,000 seed 35's patterns were cut at 843 knapsacks on one clock and
    ran on past them on one 2.1 times as fast); its master LP then has the default limit's end."""
    started = time.monotonic()
    if bound.relaxation is None or bound.problem is None or bound.prices is None:
        return PatternBound(None)
    blocks = _Blocks(bound)
    master_deadline = deadline
    if deadline is not None and counted_seconds is not None and work.counted():
        blocks.now = blocks.tally = work.Tally(counted_seconds)
        deadline, master_deadline = blocks.tally.ends, work.backstop()
    result = PatternBound(None)
    with _native_stdout_silenced():
        first = max(blocks.lagrangian(blocks.from_pair_prices(bound.prices, charged), None, deadline,
                                      result)[0] for charged in (True, False))
        best = first
        result.at_pair_prices = _stated(first, objective) if math.isfinite(first) else None
        master = _PatternMaster(blocks)
        # the empty pattern of each class: a node in use that holds nothing still counts in
        # the rows on the node counts (`bound._cover_rows`), which no knapsack prices
        empty = np.zeros(0, dtype=np.int64)
        master.add([(k, empty, empty) for k in range(blocks.width)])
        for packing in (start if isinstance(start, tuple) else (start,)):
            if packing is not None:
                master.add(blocks.patterns_of(packing))
        while rounds is None or result.rounds < rounds:
            if deadline is not None and blocks.now() >= deadline:
                break
            solved = master.solve(master_deadline)
            blocks.spent(ROUND_COUNTED_SECONDS)
            if solved is None:
                break
            duals, convexity = solved
            result.rounds += 1
            result.lp_value = master.value
            # greedy patterns while they price out; the exact knapsacks (and the bound they
            # prove) when they no longer do
            value, columns = blocks.lagrangian(duals, convexity, deadline, result, exact=False)
            best = max(best, value)
            if not (columns and master.add(columns)):
                value, columns = blocks.lagrangian(duals, convexity, deadline, result)
                best = max(best, value)
                lp_value = master.value
                assert lp_value is not None  # set by the solve above
                if best >= lp_value - 1e-9 * max(1.0, abs(lp_value)):
                    result.converged = True
                    break
                if not master.add(columns):
                    result.converged = result.exact
                    break
    result.patterns = master.size
    result.nodes = master.used_patterns(bound)
    result.master = master
    if math.isfinite(best):
        stated = _stated(max(best, 0.0) if blocks.cost.min(initial=0.0) >= 0 else best, objective)
        result.best_round = stated
        if bound.value is not None:  # the pair bound holds too: the larger is stated
            stated = max(stated, bound.value)
        result.value = on_price_lattice(stated, bound.problem, objective)
    result.seconds = time.monotonic() - started
    return result


def on_price_lattice(value: Fraction, problem, objective: str) -> Fraction:
    """A bound on the cost raised to the next multiple of the nodes' prices' greatest common
    divisor: a placement's cost is a sum of whole nodes' prices (`_packed_value`), so it lies
    on that lattice (on the breaker shape, 1 and 0.05 USD/h: 222.37 -> 222.40)."""
    if objective != "cost":
        return value
    prices = [Fraction(c.price) for c in problem.classes if c.count > 0 and c.price]
    if not prices or value <= 0:
        return value
    common = math.lcm(*(p.denominator for p in prices))
    step = Fraction(math.gcd(*(int(p * common) for p in prices)), common)
    return math.ceil(value / step) * step


class _Blocks:
    """The relaxation's rows without the capacity rows, plus a row per demand (its pairs
    sum to at most its replicas), over the relaxation's columns; and per merged class what
    a pattern of it may hold."""

    def __init__(self, bound: Bound) -> None:
        from scipy.sparse import csc_array, vstack

        relaxed, problem = bound.relaxation, bound.problem
        assert relaxed is not None and problem is not None, "a pattern bound needs a solved pair relaxation"
        self.bound = bound
        self.relaxed: Relaxation = relaxed
        classes, _, _ = merged_classes(problem)
        self.width = width = relaxed.first_pair
        self.first, self.last = width, width + relaxed.pairs
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in classes],
                                 dtype=np.int64).reshape(width, len(RESOURCES))
        self.count = relaxed.upper[:width].copy()
        demands = problem.demands
        requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands],
                            dtype=np.int64).reshape(len(demands), len(RESOURCES))
        replicas = np.array([d.replicas for d in demands], dtype=np.int64)
        one = np.array([d.one_per_node for d in demands], dtype=bool)
        pair_demand, pair_class = relaxed.pair_demand, relaxed.pair_class
        self.pair_demand, self.pair_class = pair_demand, pair_class
        self.request = requests[pair_demand].reshape(len(pair_demand), len(RESOURCES))
        limit = _fit(self.request, self.capacity[pair_class], replicas[pair_demand])
        self.limit = np.where(one[pair_demand], np.minimum(limit, 1), limit)
        self.exclusive = np.array([d.exclusive for d in demands], dtype=bool)[pair_demand]
        self.apart = _apart(demands)
        order = np.argsort(pair_class, kind="stable")
        cuts = np.searchsorted(pair_class[order], np.arange(width + 1))
        self.pairs_of = [order[cuts[k]:cuts[k + 1]] for k in range(width)]
        self.pair_at = {(int(d), int(c)): p for p, (d, c) in
                        enumerate(zip(pair_demand.tolist(), pair_class.tolist()))}
        # a workload's demand: where demands were merged (`bound.members`), every workload
        # a merged one stands for
        self.position = ({name: i for i, names in enumerate(bound.members) for name in names}
                         if bound.members else {d.name: i for i, d in enumerate(demands)})
        self.class_index = relaxed.class_index
        # the rows: every row but the capacity rows, then one per demand
        capacity_rows = np.unique(relaxed.capacity_row[relaxed.capacity_row >= 0])
        matrix: Any = relaxed.matrix  # scipy CSC
        self.kept = np.setdiff1d(np.arange(matrix.shape[0]), capacity_rows)
        kept = matrix.tocsr()[self.kept]
        limits = csc_array((np.ones(relaxed.pairs), (pair_demand, self.first + np.arange(relaxed.pairs))),
                           shape=(len(demands), relaxed.columns))
        self.matrix = vstack([kept, limits]).tocsc()
        self.row_lower = np.concatenate([relaxed.row_lower[self.kept], np.full(len(demands), -INFINITY)])
        self.row_upper = np.concatenate([relaxed.row_upper[self.kept], replicas.astype(float)])
        self.cost = relaxed.cost
        self.transposed = self.matrix.T.tocsr()
        self.magnitude = abs(self.transposed)
        self.slack = UNIT * (np.diff(self.transposed.indptr) + 2)
        self._known: dict[tuple, tuple[float, list[np.ndarray]]] = {}
        # the clock the stage's deadline is read off: the solve's, or its own (`pattern_bound`)
        self.now: Callable[[], float] = time.monotonic
        self.tally: work.Tally | None = None

    def spent(self, seconds: float) -> None:
        """A unit of the stage's work done, standing for `seconds` on its own clock, if it has one."""
        if self.tally is not None:
            self.tally.spend(seconds)

    def from_pair_prices(self, prices: np.ndarray, charged: bool = True) -> np.ndarray:
        """The pair relaxation's row prices on these rows, and on each demand's row (at most
        its replicas) 0 or (`charged`) its most negative pair reduced cost there: what
        bound.py charges each demand's replicas (all on its cheapest pair), so that no
        pattern earns more from a demand than its pairs' capacity prices. Any prices give a
        bound; which of the two is larger depends on the fleet (breaker: charged, inventory:
        not, 71.38 against 42.81 at 1,000 nodes)."""
        relaxed = self.relaxed
        clean = prices.copy()
        clean[~np.isfinite(relaxed.row_lower) & (clean > 0)] = 0.0
        clean[~np.isfinite(relaxed.row_upper) & (clean < 0)] = 0.0
        matrix: Any = relaxed.matrix  # scipy CSC
        reduced = -(matrix[:, self.first:self.last].T @ clean)
        cheapest = np.zeros(len(self.row_lower) - len(self.kept))
        if charged:
            np.minimum.at(cheapest, self.pair_demand, reduced)
        return np.concatenate([clean[self.kept], cheapest])

    def lagrangian(self, duals: np.ndarray, convexity: np.ndarray | None, deadline: float | None,
                   result: PatternBound, exact: bool = True) -> tuple[float, list]:
        """(the bound these row prices prove, computed so that rounding only lowers it; the
        patterns of negative reduced cost in the master whose convexity duals are given).
        Not `exact`: each class's patterns from a greedy fill only, and its knapsack bounded
        by the fractional one (a weaker bound, in a fraction of the time)."""
        prices, row_terms = priced_rows(duals, self.row_lower, self.row_upper)
        # each exact reduced cost is at least `low`
        reduced, low = safe_reduced_costs(self.cost, self.transposed, self.magnitude, self.slack, prices)
        terms = [row_terms]
        others = np.arange(self.last, len(self.cost))
        terms.append(np.where(low[others] >= 0, low[others] * self.relaxed.lower[others],
                              low[others] * self.relaxed.upper[others]))
        value_high = -low[self.first:self.last]  # each pair's exact price is at most this
        value_mid = -reduced[self.first:self.last]
        blocks, columns = np.zeros(self.width), []
        for k in range(self.width):
            worth = self.pairs_of[k][value_high[self.pairs_of[k]] > 0]
            if self.count[k] <= 0:
                continue
            if not len(worth):  # only the empty pattern: a node earns what its count's rows pay
                blocks[k] = self.count[k] * min(0.0, low[k])  # (a cover row's price: < 0)
                continue
            top = self._knapsack(k, worth, value_high[worth], low[k], deadline, result, exact)
            if top is None:
                continue
            most, patterns = top
            blocks[k] = self.count[k] * min(0.0, low[k] - most)
            if convexity is None:  # prices alone: the bound, no columns
                continue
            for pattern in patterns:
                chosen = np.flatnonzero(pattern)
                gain = float(value_mid[worth[chosen]] @ pattern[chosen])
                if reduced[k] - gain - convexity[k] < -NEGATIVE * max(1.0, abs(reduced[k])):
                    columns.append((k, worth[chosen], pattern[chosen]))
        terms.append(blocks - 2 * UNIT * np.abs(blocks))
        return safe_sum(terms), columns

    def _knapsack(self, k: int, items: np.ndarray, values: np.ndarray, reduced: float,
                  deadline: float | None, result: PatternBound, exact: bool = True):
        """(an upper bound on the most one pattern of class k earns at these values, the
        patterns found: a MIP's, or not `exact`, a greedy fill) or None when no pattern can
        beat the node's reduced cost."""
        limit, exclusive = self.limit[items], self.exclusive[items]
        request = self.request[items]
        capacity = self.capacity[k]
        quick = _fractional(values, limit, request, capacity)
        if quick <= reduced:
            return None
        if not exact:
            if deadline is not None and self.now() >= deadline:
                return quick, []
            return quick, [_greedy_pattern(values, limit, request, capacity, exclusive,
                                           self.pair_demand[items], self.apart)]
        key = (capacity.tobytes(), self.pair_demand[items].tobytes(), values.tobytes())
        known = self._known.get(key)
        if known is not None:
            return known
        left = KNAPSACK_SECONDS if deadline is None else min(KNAPSACK_SECONDS, deadline - self.now())
        if left <= 0.01:
            return quick, []
        # an exclusive demand's pattern: as many of it as one node takes, nothing else
        alone = values[exclusive] * limit[exclusive]
        best_alone = float(alone.max()) if len(alone) else 0.0
        shared = np.flatnonzero(~exclusive)
        upper, pattern = best_alone, None
        if len(alone):
            pattern = np.zeros(len(items), dtype=np.int64)
            pick = np.flatnonzero(exclusive)[int(np.argmax(alone))]
            pattern[pick] = limit[pick]
        if len(shared):
            conflicts = _conflicts(self.pair_demand[items[shared]], self.apart)
            found = _apart_knapsack(values[shared], limit[shared], request[shared], capacity,
                                    conflicts, BRANCHES)
            if found is None:
                found = _solve_knapsack(values[shared], limit[shared], request[shared], capacity,
                                        conflicts, left)
                self.spent(HIGHS_KNAPSACK_COUNTED_SECONDS)
            result.knapsacks += 1
            self.spent(KNAPSACK_COUNTED_SECONDS)
            mip_upper, mip_pattern, exact = found
            result.exact = result.exact and exact
            mip_upper = min(mip_upper, _fractional(values[shared], limit[shared],
                                                   request[shared], capacity))
            if mip_upper > upper:
                upper = mip_upper
                if mip_pattern is not None:
                    pattern = np.zeros(len(items), dtype=np.int64)
                    pattern[shared] = mip_pattern
        answer = (min(upper, quick), [] if pattern is None else [pattern])
        self._known[key] = answer
        return answer

    def patterns_of(self, packing) -> list:
        """Each node's replicas in a packing as a pattern of its merged class (once each)."""
        seen, columns = set(), []
        for class_id, nodes in packing.nodes.items():
            k = self.class_index.get(class_id)
            if k is None:
                continue
            for node in nodes:
                counts: dict[int | None, int] = {}
                for name, amount in node.hosted.items():
                    if amount:
                        pair = self.pair_at.get((self.position.get(name, -1), k))
                        counts[pair] = counts.get(pair, 0) + amount
                if not counts or None in counts:
                    continue
                pairs = sorted(counts.items())
                key = (k, tuple(pairs))
                if key not in seen:
                    seen.add(key)
                    columns.append((k, np.array([p for p, _ in pairs], dtype=np.int64),
                                    np.array([a for _, a in pairs], dtype=np.int64)))
        return columns


def _greedy_pattern(values, limit, request, capacity, exclusive, demands, apart) -> np.ndarray:
    """A good pattern, not the best: items by value per share of the node, each as many
    times as fits, skipping those kept apart (`apart`, by demand) from one taken, until no
    item fits; or the best exclusive one alone. In Python integers: a numpy call per item
    cost 12 ms a class at 10,000 nodes; stopping once the node is full, and reading the
    conflicts by demand as items are taken, 2.0 -> 0.6 ms (breaker 10,000)."""
    pattern = np.zeros(len(values), dtype=np.int64)
    present = capacity > 0
    size = (request[:, present] / capacity[present]).max(axis=1) if present.any() else np.ones(len(values))
    order = np.argsort(-values / np.maximum(size, 1e-12), kind="stable")
    order = order[~exclusive[order]]
    smallest = request[order].min(axis=0) if len(order) else np.zeros(len(capacity), dtype=np.int64)
    asked = [r for r in range(len(capacity)) if smallest[r] > 0]  # every item asks these
    free = capacity.tolist()
    taken: set[int] = set()  # the demands in the pattern
    for i, demand, ask, most in zip(order.tolist(), demands[order].tolist(), request[order].tolist(),
                                    limit[order].tolist()):
        if apart and apart.get(demand, _NONE) & taken:
            continue
        count = most
        for r, q in enumerate(ask):
            if q > 0:
                count = min(count, free[r] // q)
        if count > 0:
            pattern[i] = count
            taken.add(demand)
            for r, q in enumerate(ask):
                free[r] -= count * q
            if any(free[r] < smallest[r] for r in asked):
                break  # no item fits any more
    single = np.flatnonzero(exclusive)
    if len(single):
        pick = single[int(np.argmax(values[single] * limit[single]))]
        if values[pick] * limit[pick] > float(values @ pattern):
            pattern[:] = 0
            pattern[pick] = limit[pick]
    return pattern


_NONE: frozenset[int] = frozenset()


def _apart(demands) -> dict[int, set[int]]:
    """Demand -> the demands it may not share a node with (either's `anti_affinity X on
    node`; X is the demand of that name, as `verify` reads it)."""
    position = {d.name: i for i, d in enumerate(demands)}
    apart: dict[int, set[int]] = {}
    for i, demand in enumerate(demands):
        for rule in demand.affinities:
            if rule.anti and rule.topology == "node" and rule.target != "self":
                j = position.get(rule.target)
                if j is not None and j != i:
                    apart.setdefault(i, set()).add(j)
                    apart.setdefault(j, set()).add(i)
    return apart


def _conflicts(demand: np.ndarray, apart: dict[int, set[int]]) -> list[tuple[int, int]]:
    """The item pairs (by position) that may not share a node."""
    if not apart:
        return []
    at = {int(d): i for i, d in enumerate(demand.tolist())}
    found = []
    for i, d in enumerate(demand.tolist()):
        for other in apart.get(d, ()):
            j = at.get(other)
            if j is not None and i < j:
                found.append((i, j))
    return found


def _fractional(values: np.ndarray, limit: np.ndarray, request: np.ndarray,
                capacity: np.ndarray) -> float:
    """An upper bound on the knapsack's maximum: per resource, the fractional knapsack of
    that resource alone (the items by value per unit, the last one cut), the least of them,
    with the float error of its sums added."""
    everything = float(values @ limit)
    best = everything
    for r in range(len(capacity)):
        need = request[:, r]
        if not (need > 0).any():
            continue
        free = need == 0
        base = float(values[free] @ limit[free])
        taking = np.flatnonzero(~free)
        order = taking[np.argsort(-values[taking] / need[taking], kind="stable")]
        room = np.cumsum(need[order] * limit[order])  # integers: exact
        full = room <= capacity[r]
        count = int(full.sum())
        total = base + float(values[order[:count]] @ limit[order[:count]])
        if count < len(order):
            spare = capacity[r] - (int(room[count - 1]) if count else 0)
            total += float(values[order[count]]) * spare / float(need[order[count]])
        best = min(best, total)
    return best * (1 + 8 * UNIT * (len(values) + 2)) + 1e-300 if best > 0 else best


# the table knapsack's size (cells x item copies) at most: ~0.1 s of numpy; above it, HiGHS
TABLE_CELLS = 20_000_000


def _grid(request: np.ndarray, capacity: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The resources some item asks for, and requests and capacity in units of each one's
    requests' gcd (exact: a sum of requests fits in the capacity iff it fits in its floor)."""
    used = [r for r in range(len(capacity)) if (request[:, r] > 0).any()]
    units = np.array([int(np.gcd.reduce(request[request[:, r] > 0, r])) for r in used], dtype=np.int64)
    return used, request[:, used] // units, capacity[used] // units


def _table_knapsack(values: np.ndarray, limit: np.ndarray, request: np.ndarray,
                    capacity: np.ndarray) -> tuple[float, np.ndarray, bool] | None:
    """The knapsack by dynamic programming over every capacity left (exact in integers),
    items with the same requests taken together (k of them earn the k best values): (its
    maximum plus the float error of the sums, the pattern, True), or None when the table
    would exceed TABLE_CELLS."""
    used, need, room = _grid(request, capacity)
    shape = tuple((room + 1).tolist()) if used else (1,)
    cells = float(np.prod(np.array(shape, dtype=np.float64)))
    kinds, kind_of = np.unique(need, axis=0, return_inverse=True) if used else \
        (np.zeros((1, 0), dtype=np.int64), np.zeros(len(values), dtype=np.int64))
    kind_of = kind_of.ravel()
    groups = []
    for kind in range(len(kinds)):
        members = np.flatnonzero(kind_of == kind)
        members = members[np.argsort(-values[members], kind="stable")]
        copies = np.repeat(members, limit[members])
        q = kinds[kind]
        most = len(copies) if not (q > 0).any() else int((room[q > 0] // q[q > 0]).min())
        copies = copies[:most]
        if len(copies):
            groups.append((q, copies, np.cumsum(values[copies])))
    if cells * max(sum(len(c) for _, c, _ in groups), 1) > TABLE_CELLS:
        return None
    best = np.zeros(shape)
    chosen = []
    for q, copies, earned in groups:
        current = best.copy()
        choice = np.zeros(shape, dtype=np.int32)
        for k in range(1, len(copies) + 1):
            shift = q * k
            target = tuple(slice(int(d), None) for d in shift) if used else (slice(None),)
            source = tuple(slice(0, shape[i] - int(d)) for i, d in enumerate(shift)) if used \
                else (slice(None),)
            candidate = best[source] + earned[k - 1]
            better = candidate > current[target]
            current[target] = np.where(better, candidate, current[target])
            choice[target] = np.where(better, k, choice[target])
        best = current
        chosen.append(choice)
    pattern = np.zeros(len(values), dtype=np.int64)
    at = tuple(room.tolist()) if used else (0,)
    for (q, copies, _), choice in zip(reversed(groups), reversed(chosen)):
        k = int(choice[at])
        np.add.at(pattern, copies[:k], 1)
        at = tuple(int(a - d * k) for a, d in zip(at, q)) if used else at
    top = float(best[tuple(room.tolist())] if used else best[0])
    return top + UNIT * (int(limit.sum()) + 2) * float(np.abs(values) @ limit), pattern, True


# conflicts (items apart on a node) the table knapsack branches on before HiGHS takes over
BRANCHES = 3


def _apart_knapsack(values, limit, request, capacity, conflicts, depth: int):
    """The table knapsack without the conflicts (a relaxation of it); where its best pattern
    holds two items kept apart, the better of the two knapsacks without one or the other
    (`depth` levels deep; then None: HiGHS solves it)."""
    found = _table_knapsack(values, limit, request, capacity)
    if found is None:
        return None
    pattern = found[1]
    broken = next(((i, j) for i, j in conflicts if pattern[i] and pattern[j]), None)
    if broken is None:
        return found
    if depth <= 0:
        return None
    best = None
    for item in broken:
        capped = limit.copy()
        capped[item] = 0
        branch = _apart_knapsack(values, capped, request, capacity, conflicts, depth - 1)
        if branch is None:
            return None
        if best is None or branch[0] > best[0]:
            best = branch
    return best


def _solve_knapsack(values: np.ndarray, limit: np.ndarray, request: np.ndarray,
                    capacity: np.ndarray, conflicts: list[tuple[int, int]],
                    seconds: float) -> tuple[float, np.ndarray | None, bool]:
    """max values.a, request^T a <= capacity, 0 <= a <= limit whole, conflicting items not
    both: (an upper bound proven by HiGHS's dual bound plus the margin, its best pattern
    checked to fit exactly, whether it proved optimality)."""
    import highspy

    n = len(values)
    used = [r for r in range(len(capacity)) if (request[:, r] > 0).any()]
    flagged = sorted({i for pair in conflicts for i in pair})
    flag_of = {i: n + j for j, i in enumerate(flagged)}
    columns = n + len(flagged)
    rows_i, cols_i, vals, lower, upper = [], [], [], [], []
    for row, r in enumerate(used):
        # in units of the requests' gcd (bytes of memory are ~1e10): exact, and well scaled
        here = np.flatnonzero(request[:, r] > 0)
        unit = int(np.gcd.reduce(request[here, r]))
        rows_i += [row] * len(here)
        cols_i += here.tolist()
        vals += (request[here, r] // unit).astype(float).tolist()
        lower.append(-INFINITY)
        upper.append(float(capacity[r] // unit))
    row = len(used)
    for i, flag in flag_of.items():  # a_i <= limit_i z_i
        rows_i += [row, row]
        cols_i += [i, flag]
        vals += [1.0, -float(limit[i])]
        lower.append(-INFINITY)
        upper.append(0.0)
        row += 1
    for i, j in conflicts:  # z_i + z_j <= 1
        rows_i += [row, row]
        cols_i += [flag_of[i], flag_of[j]]
        vals += [1.0, 1.0]
        lower.append(-INFINITY)
        upper.append(1.0)
        row += 1
    from scipy.sparse import csc_array

    matrix = csc_array((vals, (rows_i, cols_i)), shape=(row, columns))
    highs = quiet_highs()
    highs_limited(highs, time.monotonic() + max(seconds, 0.01))
    highs.setOptionValue("mip_rel_gap", 1e-6)
    highs.setOptionValue("presolve", MIP_PRESOLVE)  # its dual bound is the pattern bound's
    cost = np.concatenate([values, np.zeros(len(flagged))])
    highs.passModel(columns, row, len(matrix.data), 1, 1, 0.0, cost, np.zeros(columns),
                    np.concatenate([limit.astype(float), np.ones(len(flagged))]),
                    np.array(lower), np.array(upper), matrix.indptr.astype(np.int32),
                    matrix.indices.astype(np.int32), matrix.data.astype(float),
                    np.ones(columns, dtype=np.int32))
    highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
    highs.run()
    info = highs.getInfo()
    margin = KNAPSACK_TOLERANCE * float(np.abs(values) @ limit) + 1e-9
    status = highs.getModelStatus()
    dual = info.mip_dual_bound
    # a dual bound only from a search that ran (stopped by a limit or done); else none
    trusted = status in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit,
                         highspy.HighsModelStatus.kIterationLimit,
                         highspy.HighsModelStatus.kSolutionLimit, highspy.HighsModelStatus.kInterrupt)
    upper_bound = dual + margin if trusted and math.isfinite(dual) else INFINITY
    exact = status == highspy.HighsModelStatus.kOptimal
    pattern = None
    if info.primal_solution_status == 2:  # feasible
        found = np.rint(np.array(highs.getSolution().col_value[:n])).astype(np.int64)
        found = np.clip(found, 0, limit)
        fits = (request[:, used].T @ found <= capacity[used]).all() if used else True
        if fits and all(not (found[i] and found[j]) for i, j in conflicts):
            pattern = found
    return upper_bound, pattern, exact


class _PatternMaster:
    """The restricted master LP in HiGHS: the rows, one convexity row per class, the other
    columns (spreads' `least`), artificial columns at a price above any node's where all
    patterns at 0 break a row, and the pattern columns added so far."""

    def __init__(self, blocks: _Blocks) -> None:
        self.blocks = blocks
        self.highs = highs = quiet_highs()
        highs.setOptionValue("presolve", "off")
        matrix = blocks.matrix
        self.rows = rows = matrix.shape[0]
        width = blocks.width
        others = np.arange(blocks.last, len(blocks.cost))
        part = matrix[:, others]
        needy = np.flatnonzero(np.isfinite(blocks.row_lower) | (blocks.row_upper < 0))
        sign = np.where(np.isfinite(blocks.row_lower[needy]), 1.0, -1.0)
        penalty = 10.0 * (float(blocks.cost.max()) if len(blocks.cost) else 1.0) + 1.0
        extra = len(needy)
        starts = np.concatenate([part.indptr, part.indptr[-1] + 1 + np.arange(extra)])
        highs.passModel(len(others) + extra, rows + width, len(part.data) + extra, 1, 1, 0.0,
                        np.concatenate([blocks.cost[others], np.full(extra, penalty)]),
                        np.concatenate([blocks.relaxed.lower[others], np.zeros(extra)]),
                        np.concatenate([blocks.relaxed.upper[others], np.full(extra, INFINITY)]),
                        np.concatenate([blocks.row_lower, np.full(width, -INFINITY)]),
                        np.concatenate([blocks.row_upper, blocks.count]),
                        starts.astype(np.int32), np.concatenate([part.indices, needy]).astype(np.int32),
                        np.concatenate([part.data, sign]),
                        np.zeros(len(others) + extra, dtype=np.int32))
        self.size = 0
        self.value: float | None = None
        self._seen: set[tuple] = set()
        self.base = len(others) + extra  # the columns before the patterns
        self.artificial = len(others)  # the first artificial column
        self.patterns: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.solution: np.ndarray | None = None  # the last optimum's column values

    def add(self, columns: list) -> int:
        """Pattern columns (class, pairs, counts) not in the master yet; how many."""
        from scipy.sparse import csc_array

        blocks = self.blocks
        fresh = []
        for k, pairs, counts in columns:
            key = (k, pairs.tobytes(), counts.tobytes())
            if key not in self._seen:
                self._seen.add(key)
                fresh.append((k, pairs, counts))
        if not fresh:
            return 0
        rows_i, cols_i, vals = [], [], []
        for n, (k, pairs, counts) in enumerate(fresh):
            rows_i += [k] + (blocks.first + pairs).tolist()
            cols_i += [n] * (len(pairs) + 1)
            vals += [1.0] + counts.astype(float).tolist()
        chosen = csc_array((vals, (rows_i, cols_i)), shape=(len(blocks.cost), len(fresh)))
        entries = (blocks.matrix @ chosen).tocsc()
        convexity = csc_array((np.ones(len(fresh)), (self.rows + np.array([k for k, _, _ in fresh]),
                                                     np.arange(len(fresh)))),
                              shape=(self.rows + blocks.width, len(fresh)))
        from scipy.sparse import vstack

        full = (vstack([entries, csc_array((blocks.width, len(fresh)))]) + convexity).tocsc()
        full.sort_indices()
        cost = blocks.cost[[k for k, _, _ in fresh]]
        self.highs.addCols(len(fresh), cost, np.zeros(len(fresh)), np.full(len(fresh), INFINITY),
                           len(full.data), full.indptr.astype(np.int32),
                           full.indices.astype(np.int32), full.data)
        self.size += len(fresh)
        self.patterns += fresh
        return len(fresh)

    def solve(self, deadline: float | None):
        """(the row prices, the convexity rows' prices) of the master's optimum; None when it
        had none in time."""
        highs = self.highs
        optimal = run_until(highs, deadline)
        # after the first solve the basis stays primal feasible as columns are added: primal
        # simplex (as bound.py's master)
        highs.setOptionValue("simplex_strategy", 4)
        if not optimal:
            return None
        self.value = highs.getInfo().objective_function_value
        solution = highs.getSolution()
        self.solution = np.array(solution.col_value, dtype=float)
        duals = np.array(solution.row_dual, dtype=float)
        return duals[:self.rows], duals[self.rows:]

    def used_patterns(self, bound: Bound, values: np.ndarray | None = None) -> list | None:
        """The patterns of the last optimum (or with the nodes `values` gives per pattern)
        with nodes on them, in the caller's terms: the merged class's member class ids,
        replicas per merged demand (keyed by the workloads it stands for), and the nodes
        (fractional), most nodes first."""
        if values is None:
            if self.solution is None:
                return None
            values = self.solution[self.base:self.base + len(self.patterns)]
        blocks = self.blocks
        ids: dict[int, list[str]] = {}
        for class_id, k in blocks.class_index.items():
            ids.setdefault(k, []).append(class_id)
        used = []
        for (k, pairs, counts), value in zip(self.patterns, values.tolist()):
            if value > 1e-6:
                hosted = {_stands_for(bound, int(blocks.pair_demand[p])): int(a)
                          for p, a in zip(pairs.tolist(), counts.tolist())}
                used.append((tuple(ids.get(k, ())), hosted, value))
        used.sort(key=lambda item: -item[2])
        return used


def _stands_for(bound: Bound, demand: int) -> tuple[str, ...]:
    if bound.members:
        return tuple(bound.members[demand])
    assert bound.problem is not None  # a bound with a relaxation has its problem
    return (bound.problem.demands[demand].name,)
