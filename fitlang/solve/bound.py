"""A proven lower bound on the first objective at any fleet size, in about a second.

The aggregate model is too large to build and presolve within the time limit at 10,000
nodes on heterogeneous fleets, so it states no bound there. This is a linear relaxation of
the rules on the replicas and node classes alone (`Relaxation`), solved by column
generation (`lower_bound`), whose every row is implied by the rules for every placement
that places every replica:
- per class and resource, the share of a node each replica takes, summed, at most the nodes
  in use: a replica with which nothing else eligible fits (a gang of 8 GPUs on an 8-GPU
  node) takes a whole node (`encode.charge_matrix`), and an `exclusive` workload takes a
  whole node per `fit` replicas in every resource (nothing else shares its nodes);
- every replica placed, option groups' throughput, buy limits, budget, power caps;
- spreads over a topology: every domain that always exists (it has owned nodes the workload
  may use) gets at least `least`, none more than `least + max_skew`, and `least` is at least
  what the replica count forces, ceil((R - (D - 1) max_skew) / D) over the D domains;
- anti-affinity with itself per zone/region/label domain: at most one replica there;
- latency: the replicas within reach of each location, at least what the rule asks.

Rules between workloads (affinity, anti-affinity), gangs' one cluster and node spreads are
left out: leaving a rule out keeps it a relaxation.

The bound stated is not the LP's objective but one computed from the duals alone
(`safe_bound`, after Neumaier and Shcherbina, "Safe bounds in linear and mixed-integer
programming", 2004): for any row prices, the prices times the rows' bounds plus each
column's reduced cost at its worst bound is below every feasible point, with the floating
point error of each sum bounded and subtracted. The coefficients themselves are rounded
towards a weaker row where they are not whole. So the bound holds at every round of the
column generation (a Lagrangian bound over all columns, not only those in the master), and
whatever the LP solver's tolerances.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Problem
from fitlang.solve.backends import _native_stdout_silenced
from fitlang.solve.elastic import _fit
from fitlang.solve.encode import charge_matrix

INFINITY = math.inf
# the columns each workload starts with, cheapest first, and gets per round at most
START_COLUMNS = 4
ADDED_PER_ROUND = 8
# the error of a float sum of n terms is at most n u |terms| (u = 2^-53); this is 4x that
UNIT = 2.0 ** -51


def _down(values: np.ndarray) -> np.ndarray:
    """One unit in the last place towards zero-or-less: a computed quotient (whose error is
    half a unit) is then at most the exact one."""
    return np.nextafter(values, -INFINITY)


def _up(values: np.ndarray) -> np.ndarray:
    return np.nextafter(values, INFINITY)


def _float_down(number: Fraction) -> float:
    value = float(number)
    return value if Fraction(value) <= number else math.nextafter(value, -INFINITY)


def _float_up(number: Fraction) -> float:
    value = float(number)
    return value if Fraction(value) >= number else math.nextafter(value, INFINITY)


@dataclass
class Relaxation:
    """min cost x, row_lower <= matrix x <= row_upper, lower <= x <= upper; the columns are
    the node counts u (one per class), the pairs y (replicas of a demand on a class) and one
    `least` per spread. `pair_demand` groups the pairs: a demand's pairs sum to at most its
    replicas (`pair_limit`), which the bound uses beside the columns' own bounds."""

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    matrix: object  # scipy CSC, rows x columns
    row_lower: np.ndarray
    row_upper: np.ndarray
    first_pair: int
    pairs: int
    pair_demand: np.ndarray
    pair_limit: np.ndarray  # per demand: replicas
    pair_class: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    class_index: dict = field(default_factory=dict)  # class id -> position
    start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # pair columns
    # per class and resource, its capacity row (-1: the class has none of that resource)
    capacity_row: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    @property
    def columns(self) -> int:
        return len(self.cost)


class _Rows:
    """The matrix as (row, column, value) blocks and the rows' bounds."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.columns: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def new(self, lower: float, upper: float) -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        return len(self.lower) - 1

    def add(self, rows, columns, values) -> None:
        self.rows.append(np.asarray(rows, dtype=np.int64).ravel())
        self.columns.append(np.asarray(columns, dtype=np.int64).ravel())
        self.values.append(np.asarray(values, dtype=float).ravel())

    @property
    def count(self) -> int:
        return len(self.lower)


def relaxation(problem: Problem, objective: str, merged: tuple | None = None) -> Relaxation | None:
    """The LP of the module docstring; None for an objective it does not bound. `merged`:
    what `merged_classes` gives, when the caller has it."""
    from scipy.sparse import csc_array

    if objective not in ("cost", "nodes"):
        return None
    demands = problem.demands
    position = {d.name: i for i, d in enumerate(demands)}
    classes, class_index, _ = merged or merged_classes(problem)
    capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in classes],
                        dtype=np.int64).reshape(len(classes), len(RESOURCES))
    requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands],
                        dtype=np.int64).reshape(len(demands), len(RESOURCES))
    replicas = np.array([d.replicas for d in demands], dtype=np.int64)
    one = np.array([d.one_per_node for d in demands], dtype=bool)
    exclusive = np.array([d.exclusive for d in demands], dtype=bool)
    # the pairs, class by class: what one replica takes of a node, as a share, rounded down
    eligible_demand, eligible_class = _eligible(problem, class_index)
    by_class = np.argsort(eligible_class, kind="stable")
    class_cuts = np.searchsorted(eligible_class[by_class], np.arange(len(classes) + 1))
    on_class = [eligible_demand[by_class[class_cuts[k]:class_cuts[k + 1]]] for k in range(len(classes))]
    pair_demand, pair_class, pair_fit, pair_share = [], [], [], []
    for k, node_class in enumerate(classes):
        here = on_class[k]
        if not len(here):
            continue
        charge, _ = charge_matrix(node_class, requests[here].reshape(len(here), len(RESOURCES)))
        have = np.broadcast_to(capacity[k], charge.shape)
        fit = _fit(requests[here], have, replicas[here])
        fit = np.where(one[here], np.minimum(fit, 1), fit)
        usable = fit > 0
        here, charge, fit = here[usable], charge[usable], fit[usable]
        have = have[usable]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(have > 0, charge / np.maximum(have, 1), 0.0)
        share = np.where((charge > 0) & (charge < have), _down(share), share)
        # `exclusive`: each node hosting it holds nothing else, and at most `fit` of it
        alone = exclusive[here]
        if alone.any():
            whole_share = np.where(fit[alone] > 1, _down(1.0 / fit[alone]), 1.0)
            share[alone] = np.where(have[alone] > 0, whole_share[:, None], 0.0)
        pair_demand.append(here)
        pair_class.append(np.full(len(here), k, dtype=np.int64))
        pair_fit.append(fit)
        pair_share.append(share)
    if pair_demand:
        pair_demand_a = np.concatenate(pair_demand)
        pair_class_a = np.concatenate(pair_class)
        pair_fit_a = np.concatenate(pair_fit)
        share_a = np.concatenate(pair_share)
    else:
        pair_demand_a = pair_class_a = pair_fit_a = np.zeros(0, dtype=np.int64)
        share_a = np.zeros((0, len(RESOURCES)))
    width, pairs = len(classes), len(pair_demand_a)
    y = width + np.arange(pairs)
    rows = _Rows()
    # capacity: per class and resource, sum of shares x y - u <= 0
    capacity_row = np.full((width, len(RESOURCES)), -1, dtype=np.int64)
    present = capacity > 0
    capacity_row[present] = np.arange(int(present.sum()))
    rows.lower.extend([-INFINITY] * int(present.sum()))
    rows.upper.extend([0.0] * int(present.sum()))
    for r in range(len(RESOURCES)):
        taking = (share_a[:, r] > 0) & (capacity_row[pair_class_a, r] >= 0)
        rows.add(capacity_row[pair_class_a[taking], r], y[taking], share_a[taking, r])
        classes_r = np.flatnonzero(present[:, r])
        rows.add(capacity_row[classes_r, r], classes_r, -np.ones(len(classes_r)))
    _limit_rows(problem, classes, rows)
    _demand_rows(problem, demands, position, pair_demand_a, y, rows)
    least_columns: list[tuple[float, float]] = []
    pairs_of: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(demands)
    if pairs:
        order = np.argsort(pair_demand_a, kind="stable")
        cuts = np.searchsorted(pair_demand_a[order], np.arange(len(demands) + 1))
        pairs_of = [order[cuts[i]:cuts[i + 1]] for i in range(len(demands))]
    first_least = width + pairs
    topology = _Topology(classes, eligible_demand, eligible_class, len(demands))
    for i, demand in enumerate(demands):
        mine = pairs_of[i]
        _spread_rows(demand, topology, i, mine, pair_class_a, y, rows, least_columns, first_least)
        _self_apart_rows(demand, topology, mine, pair_class_a, y, rows)
    _latency_rows(problem, classes, position, pairs_of, pair_class_a, y, rows)
    columns = first_least + len(least_columns)
    matrix = csc_array((np.concatenate(rows.values) if rows.values else np.zeros(0),
                        (np.concatenate(rows.rows) if rows.rows else np.zeros(0, dtype=np.int64),
                         np.concatenate(rows.columns) if rows.columns else np.zeros(0, dtype=np.int64))),
                       shape=(rows.count, columns))
    matrix.sum_duplicates()
    if objective == "cost":
        prices = np.array([_float_down(c.price) for c in classes])
    else:
        prices = np.ones(width)
    cost = np.concatenate([prices, np.zeros(pairs + len(least_columns))])
    count = np.array([float(c.count) for c in classes])
    limit = np.minimum(replicas[pair_demand_a], pair_fit_a * count[pair_class_a].astype(np.int64))
    lower = np.concatenate([np.zeros(width + pairs), [lo for lo, _ in least_columns]])
    upper = np.concatenate([count, limit.astype(float), [hi for _, hi in least_columns]])
    relaxed = Relaxation(cost, lower, upper, matrix, np.array(rows.lower), np.array(rows.upper),
                         width, pairs, pair_demand_a, replicas.astype(float), pair_class_a,
                         class_index, capacity_row=capacity_row)
    relaxed.start = _start_columns(prices, share_a, pair_class_a, pairs_of, width)
    return relaxed


def merged_classes(problem: Problem) -> tuple[list, dict[str, int], int]:
    """The classes with nodes, those the relaxation cannot tell apart merged into one: the
    same workloads may use them, at the same price, bought or owned alike, in the same buy
    block, power caps (at the same watts), site and domain of every topology a spread or
    anti-affinity with itself counts. The merged class has every node and, per resource,
    the largest member's capacity, so every row stays implied (each node holds no more than
    that). On the breaker shape at 10,000 nodes the pairs
    984,227 -> 140,621. Also: class id -> position of its merged class, and the pairs."""
    import dataclasses

    keys = sorted({s.topology for d in problem.demands for s in d.spreads if s.topology != "node"}
                  | {r.topology for d in problem.demands for r in d.affinities
                     if r.target == "self" and r.anti and r.topology != "node"})
    users: dict[str, list[int]] = {}
    for i, demand in enumerate(problem.demands):
        for class_id in demand.eligible:
            users.setdefault(class_id, []).append(i)
    capped: dict[str, list[int]] = {}
    for j, cap in enumerate(problem.power_caps):
        for class_id in cap.classes:
            capped.setdefault(class_id, []).append(j)
    groups: dict[tuple, list] = {}
    for node_class in problem.classes:
        if node_class.count <= 0:
            continue
        caps = tuple(capped.get(node_class.id, ()))
        key = (tuple(users.get(node_class.id, ())), node_class.price, node_class.provisioned,
               _size(node_class.capacity),
               node_class.buy_group, caps, node_class.power_watts if caps else 0,
               node_class.site.code if node_class.site else None,
               tuple(node_class.topology_value(k) for k in keys))
        groups.setdefault(key, []).append(node_class)
    merged, index = [], {}
    pairs = sum(len(key[0]) for key in groups)
    for members in groups.values():
        capacity = {r: max(c.capacity[r] for c in members) for r in RESOURCES}
        merged.append(dataclasses.replace(members[0], capacity=capacity,
                                          count=sum(c.count for c in members), node_capacity={}))
        index.update((c.id, len(merged) - 1) for c in members)
    return merged, index, pairs


# capacities within 1/SIZE_STEPS of an octave of each other may merge (the merged class
# has the largest): the bound loses at most that share where they do
SIZE_STEPS = 32


def _size(capacity: dict[str, int]) -> tuple[int, ...]:
    return tuple(int(math.floor(math.log2(capacity[r]) * SIZE_STEPS)) if capacity[r] > 0 else -1
                 for r in RESOURCES)


def _limit_rows(problem: Problem, classes, rows: _Rows) -> None:
    """Buy limits (whole), the budget and the power caps (coefficients rounded down, so
    that each row is implied by the exact one)."""
    for group, limit in sorted(problem.buy_limits.items()):
        members = [k for k, c in enumerate(classes) if c.buy_group == group]
        if members:
            row = rows.new(-INFINITY, float(limit))
            rows.add(np.full(len(members), row), members, np.ones(len(members)))
    scaled: list[tuple[dict[int, Fraction], Fraction]] = []
    if problem.budget is not None:
        scaled.append(({k: c.price for k, c in enumerate(classes) if c.price}, problem.budget))
    for cap in problem.power_caps:
        inside = set(cap.classes)
        scaled.append(({k: c.power_watts for k, c in enumerate(classes)
                        if c.id in inside and c.power_watts}, cap.cap_watts))
    for terms, limit in scaled:
        if not terms:
            continue
        if limit > 0:
            row = rows.new(-INFINITY, 1.0)
            values = [_float_down(v / limit) for v in terms.values()]
        else:
            row = rows.new(-INFINITY, _float_up(limit))
            values = [_float_down(v) for v in terms.values()]
        rows.add(np.full(len(terms), row), list(terms), values)


def _demand_rows(problem: Problem, demands, position, pair_demand, y, rows: _Rows) -> None:
    """Every replica placed; an option group's options deliver its throughput together
    (each option's replicas weighed by throughput / required, rounded up)."""
    wanted = np.full(len(demands), -1, dtype=np.int64)
    weight = np.zeros(len(demands))
    for i, demand in enumerate(demands):
        if demand.group is None and demand.replicas:
            wanted[i], weight[i] = rows.new(float(demand.replicas), INFINITY), 1.0
    for group in problem.option_groups:
        members = [position[n] for n in group.demands if n in position]
        if not members or group.required <= 0:
            continue
        row = rows.new(1.0, INFINITY)
        for i in members:
            wanted[i], weight[i] = row, _float_up(demands[i].throughput / group.required)
    asked = wanted[pair_demand] >= 0
    rows.add(wanted[pair_demand[asked]], y[asked], weight[pair_demand[asked]])


def _eligible(problem: Problem, class_index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Every (demand, class position) a demand may use, as two arrays (a class without
    nodes is not in `class_index`: -1, dropped). `map` over the dict's `get` runs at C
    speed: a million pairs at 10,000 nodes."""
    from itertools import chain, repeat

    sizes = np.array([len(d.eligible) for d in problem.demands], dtype=np.int64)
    total = int(sizes.sum())
    names = chain.from_iterable(d.eligible for d in problem.demands)
    classes = np.fromiter(map(class_index.get, names, repeat(-1)), dtype=np.int64, count=total)
    demand = np.repeat(np.arange(len(problem.demands)), sizes)
    known = classes >= 0
    # members of one merged class are one pair
    width = int(classes.max()) + 1 if len(classes) else 1
    keys = np.unique(demand[known] * width + classes[known])
    return keys // width, keys % width


class _Topology:
    """Per topology key, each class's domain as a number (-1: none), and per demand the
    class positions it may use (for the domains that exist whether or not it is placed)."""

    def __init__(self, classes, eligible_demand, eligible_class, demands: int) -> None:
        self.classes = classes
        self.owned = np.array([not c.provisioned for c in classes], dtype=bool)
        order = np.argsort(eligible_demand, kind="stable")
        cuts = np.searchsorted(eligible_demand[order], np.arange(demands + 1))
        self.eligible = [eligible_class[order[cuts[i]:cuts[i + 1]]] for i in range(demands)]
        self._codes: dict[str, np.ndarray] = {}

    def codes(self, key: str) -> np.ndarray:
        found = self._codes.get(key)
        if found is None:
            values = [c.topology_value(key) for c in self.classes]
            names = sorted({v for v in values if v is not None})
            number = {v: n for n, v in enumerate(names)}
            found = np.array([number.get(v, -1) if v is not None else -1 for v in values],
                             dtype=np.int64)
            self._codes[key] = found
        return found

    def domains(self, demand: int, key: str) -> dict[int, bool]:
        """Domain -> always there (some class of it has owned nodes), over the classes the
        demand may use."""
        classes = self.eligible[demand]
        codes = self.codes(key)[classes]
        there = codes >= 0
        fixed: dict[int, bool] = {}
        for code, owned in zip(codes[there].tolist(), self.owned[classes[there]].tolist()):
            fixed[code] = fixed.get(code, False) or owned
        return fixed

    def pairs_by_domain(self, mine: np.ndarray, pair_class: np.ndarray,
                        key: str) -> tuple[dict[int, np.ndarray], bool]:
        """The demand's pairs per domain; whether every pair has a domain."""
        codes = self.codes(key)[pair_class[mine]]
        there = codes >= 0
        order = np.argsort(codes[there], kind="stable")
        sorted_codes, sorted_pairs = codes[there][order], mine[there][order]
        values, starts = np.unique(sorted_codes, return_index=True)
        ends = np.r_[starts[1:], len(sorted_codes)]
        return ({int(v): sorted_pairs[a:b] for v, a, b in zip(values.tolist(), starts.tolist(),
                                                              ends.tolist())},
                bool(there.all()))


def _spread_rows(demand, topology: _Topology, index: int, mine, pair_class, y, rows: _Rows,
                 least_columns: list, first_least: int) -> None:
    for spread in demand.spreads:
        if spread.topology == "node" or not demand.replicas:
            continue
        fixed = topology.domains(index, spread.topology)
        if len(fixed) < 2:
            continue
        by_domain, covered = topology.pairs_by_domain(mine, pair_class, spread.topology)
        skew, total, count = spread.max_skew, demand.replicas, len(fixed)
        forced = max(0, -(-(total - (count - 1) * skew) // count)) if covered else 0
        least = first_least + len(least_columns)
        # every domain that is always there holds `least` or more of the replicas, and a
        # count is whole: `least` is at most R / (those domains), rounded down
        always = sum(fixed.values())
        most = total // always if always else total
        least_columns.append((float(forced), float(max(most, forced))))
        for value, always in sorted(fixed.items()):
            here = by_domain.get(value, np.zeros(0, dtype=np.int64))
            terms = np.append(y[here], least)
            values = np.append(np.ones(len(here)), -1.0)
            row = rows.new(-INFINITY, float(skew))  # no domain more than least + max_skew
            rows.add(np.full(len(terms), row), terms, values)
            if always:  # every domain that exists at least `least`
                row = rows.new(0.0, INFINITY)
                rows.add(np.full(len(terms), row), terms, values)


def _self_apart_rows(demand, topology: _Topology, mine, pair_class, y, rows: _Rows) -> None:
    for rule in demand.affinities:
        if rule.target != "self" or not rule.anti or rule.topology == "node":
            continue
        by_domain, _ = topology.pairs_by_domain(mine, pair_class, rule.topology)
        for value, here in sorted(by_domain.items()):
            row = rows.new(-INFINITY, 1.0)
            rows.add(np.full(len(here), row), y[here], np.ones(len(here)))


def _latency_rows(problem: Problem, classes, position, pairs_of, pair_class, y, rows: _Rows) -> None:
    """Every workload is placed, so each latency rule applies: at least K replicas (of any
    of its options) in reach of the rule's location."""
    for members in problem.latency_demands():
        if not any(d.replicas for d in members):
            continue
        for rule in members[0].latency:
            if rule.replicas <= 0:
                continue
            reach = []
            for demand in members:
                mine = pairs_of[position[demand.name]]
                near = np.array([problem.within_reach(rule, classes[k])
                                 for k in pair_class[mine].tolist()], dtype=bool)
                reach.append(mine[near] if len(mine) else mine)
            here = np.concatenate(reach) if reach else np.zeros(0, dtype=np.int64)
            row = rows.new(float(rule.replicas), INFINITY)
            rows.add(np.full(len(here), row), y[here], np.ones(len(here)))


def _start_columns(prices, share, pair_class, pairs_of, width: int) -> np.ndarray:
    """Per demand its START_COLUMNS cheapest pairs by price x largest share (what a replica
    costs on a node of its own kind), as the master's first columns."""
    each = prices[pair_class] * share.max(axis=1) if len(pair_class) else np.zeros(0)
    chosen = []
    for mine in pairs_of:
        if len(mine):
            chosen.append(mine[np.argsort(each[mine], kind="stable")[:START_COLUMNS]])
    return width + np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


@dataclass
class Bound:
    """What `lower_bound` found: the proven bound (None: none), the master LP's last value,
    the column generation's rounds and columns, whether it converged, its seconds; and for
    a stronger bound built on this one, the relaxation, the problem it was built over (its
    `pair_demand` indexes that problem's demands) and the row prices of the round that gave
    the bound."""

    value: Fraction | None
    lp_value: float | None = None
    rounds: int = 0
    columns: int = 0
    converged: bool = False
    seconds: float = 0.0
    relaxation: Relaxation | None = None
    problem: Problem | None = None
    prices: np.ndarray | None = None
    # the master LP's last solution: replicas per pair (a guide for placing, not a bound)
    pair_values: np.ndarray | None = None


def lower_bound(problem: Problem, objective: str, deadline: float | None = None,
                start=None) -> Bound:
    """A proven lower bound on `objective` over the placements that place every replica, by
    column generation on `relaxation`: the master LP holds the node counts, the spreads'
    `least`, an artificial column per row (so that it is always feasible) and, of the pairs,
    each demand's cheapest few; each round prices every pair with the master's row prices
    and adds each demand's most negative ones. Every round's prices give a bound
    (`safe_bound`), the best is kept; it stops when no pair prices negative or at
    `deadline`. `start`: a packing (the greedy floor) whose pairs the master starts with,
    so that its first LP is feasible without artificial columns."""
    started = time.monotonic()
    merged = merged_classes(problem)
    if deadline is not None and time.monotonic() + expected_seconds(merged) > deadline:
        return Bound(None)  # it would not have a bound in time: not built at all
    relaxed = relaxation(problem, objective, merged)
    if relaxed is None:
        return Bound(None, seconds=time.monotonic() - started)
    if start is not None:
        relaxed.start = np.concatenate([relaxed.start, _packed_pairs(problem, relaxed, start)])
    pricing = _Pricing(relaxed)
    best, result = None, Bound(None, relaxation=relaxed, problem=problem)
    with _native_stdout_silenced():
        master = _Master(relaxed)
        while True:
            duals = master.solve(deadline)
            if duals is None:
                break
            result.rounds += 1
            result.lp_value = master.value
            result.pair_values = master.pair_values()
            reduced, value = pricing.bound(duals)
            if best is None or value > best:
                best, result.prices = value, duals
            if best >= master.value - 1e-9 * max(1.0, abs(master.value)):
                result.converged = True  # the master's optimum is proven: the bound is it
                break
            added = master.add(_entering(relaxed, reduced, master.inside))
            if not added:
                result.converged = True
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
    result.columns = master.size
    if best is not None and math.isfinite(best):
        # with prices of 0 or more, 0 is a bound too (an early round's prices can say less)
        result.value = _stated(max(best, 0.0) if relaxed.cost.min(initial=0.0) >= 0 else best,
                               objective)
    result.seconds = time.monotonic() - started
    return result


def _packed_pairs(problem: Problem, relaxed: Relaxation, packing) -> np.ndarray:
    """The pair columns a packing uses."""
    position = {d.name: i for i, d in enumerate(problem.demands)}
    width = relaxed.first_pair
    used = {position[name] * width + relaxed.class_index[class_id]
            for class_id, nodes in packing.nodes.items() if class_id in relaxed.class_index
            for node in nodes for name, amount in node.hosted.items() if amount and name in position}
    keys = relaxed.pair_demand * width + relaxed.pair_class
    wanted = np.fromiter(used, dtype=np.int64, count=len(used))
    return width + np.flatnonzero(np.isin(keys, wanted))


# building the relaxation (which no deadline stops), per pair of a demand and a merged
# class: measured 4-8e-6 s (inventory 10,000: 345,697 pairs, 1.5-2.8 s; breaker 10,000:
# 140,621 pairs, 1.2-1.8 s; inventory 50,000: 4,822,486 pairs, 63 s, at load 4-7)
SECONDS_PER_PAIR = 6e-6


def expected_seconds(merged: tuple) -> float:
    """About how long building the relaxation takes: it grows with the merged pairs."""
    return SECONDS_PER_PAIR * merged[2]


def _stated(bound: float, objective: str) -> Fraction:
    """The bound as a fraction, rounded down to nine decimals; a count of nodes is whole."""
    exact = Fraction(bound)
    if objective == "nodes":
        return Fraction(math.ceil(exact))
    return Fraction(math.floor(exact * 10 ** 9), 10 ** 9)


class _Master:
    """The restricted LP in HiGHS: every column but the pairs, the pairs added so far, and
    artificial columns at a price above any node's, which keep it feasible."""

    def __init__(self, relaxed: Relaxation) -> None:
        import highspy

        self.relaxed = relaxed
        self.highs = highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("presolve", "off")
        highs.setOptionValue("simplex_strategy", 4)
        matrix = relaxed.matrix
        rows = matrix.shape[0]
        pair_end = relaxed.first_pair + relaxed.pairs
        fixed = np.concatenate([np.arange(relaxed.first_pair), np.arange(pair_end, relaxed.columns)])
        self.columns = np.concatenate([fixed, np.unique(relaxed.start)]).astype(np.int64)
        self.inside = np.zeros(relaxed.columns, dtype=bool)
        self.inside[self.columns] = True
        part = matrix[:, self.columns]
        # artificial columns where all pairs at 0 break a row: +1 in a row with a lower bound
        # (every replica placed, a spread's least), -1 in one whose upper bound is below 0
        needy = np.flatnonzero(np.isfinite(relaxed.row_lower) | (relaxed.row_upper < 0))
        sign = np.where(np.isfinite(relaxed.row_lower[needy]), 1.0, -1.0)
        penalty = 10.0 * (float(relaxed.cost.max()) if len(relaxed.cost) else 1.0) + 1.0
        count, extra = len(self.columns), len(needy)
        self.first_count, self.artificial = count, extra
        starts = np.concatenate([part.indptr, part.indptr[-1] + 1 + np.arange(extra)])
        indices = np.concatenate([part.indices, needy])
        values = np.concatenate([part.data, sign])
        highs.passModel(count + extra, rows, len(values), 1, 1, 0.0,
                        np.concatenate([relaxed.cost[self.columns], np.full(extra, penalty)]),
                        np.concatenate([relaxed.lower[self.columns], np.zeros(extra)]),
                        np.concatenate([relaxed.upper[self.columns], np.full(extra, INFINITY)]),
                        relaxed.row_lower, relaxed.row_upper, starts.astype(np.int32),
                        indices.astype(np.int32), values,
                        np.zeros(count + extra, dtype=np.int32))
        self.value: float | None = None

    @property
    def size(self) -> int:
        return len(self.columns)

    def pair_values(self) -> np.ndarray:
        """The last solution's value of every pair (0 for those not in the master)."""
        relaxed = self.relaxed
        solved = np.array(self.highs.getSolution().col_value, dtype=float)
        first = self.first_count  # HiGHS holds the first columns, the artificial ones, the added
        values = np.zeros(relaxed.columns)
        values[self.columns] = np.concatenate([solved[:first], solved[first + self.artificial:]])
        return values[relaxed.first_pair:relaxed.first_pair + relaxed.pairs]

    def solve(self, deadline: float | None) -> np.ndarray | None:
        """The row prices of the master's optimum; None when it had none in time."""
        import highspy

        highs = self.highs
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            highs.setOptionValue("time_limit", left)
        highs.run()
        # the first LP from scratch: dual simplex; after columns are added the basis stays
        # primal feasible, and primal simplex takes a tenth of the time (0.3 -> 0.02 s a
        # round at 10,000 nodes)
        highs.setOptionValue("simplex_strategy", 4)
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        self.value = highs.getInfo().objective_function_value
        return np.array(highs.getSolution().row_dual, dtype=float)

    def add(self, columns: np.ndarray) -> int:
        if not len(columns):
            return 0
        relaxed = self.relaxed
        part = relaxed.matrix[:, columns]
        self.highs.addCols(len(columns), relaxed.cost[columns], relaxed.lower[columns],
                           relaxed.upper[columns], len(part.data), part.indptr.astype(np.int32),
                           part.indices.astype(np.int32), part.data)
        self.columns = np.concatenate([self.columns, columns])
        self.inside[columns] = True
        return len(columns)


def _entering(relaxed: Relaxation, reduced: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Per demand, its ADDED_PER_ROUND pairs of most negative reduced cost not yet in."""
    first = relaxed.first_pair
    pair_reduced = reduced[first:first + relaxed.pairs]
    candidates = np.flatnonzero((pair_reduced < -1e-9) & ~inside[first:first + relaxed.pairs])
    if not len(candidates):
        return candidates
    owner = relaxed.pair_demand[candidates]
    order = np.lexsort((pair_reduced[candidates], owner))
    candidates, owner = candidates[order], owner[order]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    rank = np.arange(len(owner)) - np.repeat(starts, np.diff(np.r_[starts, len(owner)]))
    return first + candidates[rank < ADDED_PER_ROUND]


class _Pricing:
    """Reduced costs of every column for given row prices, and the bound they prove."""

    def __init__(self, relaxed: Relaxation) -> None:
        self.relaxed = relaxed
        self.transposed = relaxed.matrix.T.tocsr()
        self.magnitude = abs(self.transposed)
        per_column = np.diff(self.transposed.indptr)
        self.slack = UNIT * (per_column + 2)  # a sum of n products errs by at most n u
        self.row_lower = relaxed.row_lower
        self.row_upper = relaxed.row_upper

    def bound(self, duals: np.ndarray) -> tuple[np.ndarray, float]:
        """(reduced costs, a lower bound on the relaxation's optimum that holds for these
        prices whatever they are, computed so that rounding can only lower it)."""
        relaxed = self.relaxed
        prices = duals.copy()
        # a row with no lower bound cannot take a positive price, nor one with no upper
        # bound a negative one: such prices are set to 0 (any prices give a valid bound)
        prices[~np.isfinite(self.row_lower) & (prices > 0)] = 0.0
        prices[~np.isfinite(self.row_upper) & (prices < 0)] = 0.0
        reduced = relaxed.cost - self.transposed @ prices
        error = self.slack * (np.abs(relaxed.cost) + self.magnitude @ np.abs(prices))
        worst = reduced - 2.0 * error  # the exact reduced cost is at least this
        terms = [np.where(prices > 0, prices * np.where(prices > 0, self.row_lower, 0.0),
                          prices * np.where(prices < 0, self.row_upper, 0.0))]
        first, last = relaxed.first_pair, relaxed.first_pair + relaxed.pairs
        others = np.r_[0:first, last:relaxed.columns]
        low, high = relaxed.lower[others], relaxed.upper[others]
        terms.append(np.where(worst[others] >= 0, worst[others] * low, worst[others] * high))
        terms.append(_pair_terms(relaxed, np.minimum(worst[first:last], 0.0)))
        every = np.concatenate(terms)
        total = math.fsum(every.tolist())
        size = math.fsum(np.abs(every).tolist())
        return reduced, total - UNIT * (len(every) + 2) * (size + abs(total))


def _pair_terms(relaxed: Relaxation, negative: np.ndarray) -> np.ndarray:
    """Per demand, the least its pairs' reduced costs (<= 0 here) can add: each pair at its
    own bound, or all its replicas on its most negative pair, whichever is larger."""
    demands = len(relaxed.pair_limit)
    alone = np.zeros(demands)
    np.add.at(alone, relaxed.pair_demand, negative * relaxed.upper[relaxed.first_pair:
                                                                   relaxed.first_pair + relaxed.pairs])
    cheapest = np.zeros(demands)
    np.minimum.at(cheapest, relaxed.pair_demand, negative)
    return np.maximum(alone, cheapest * relaxed.pair_limit)
