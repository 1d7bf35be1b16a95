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
- latency: the replicas within reach of each location, at least what the rule asks;
- what fits beside no replica that fills a node's GPUs is on the class's other nodes
  (beside_accelerators.py);
- nodes are whole (`_cover_rows`): a demand's replicas need ceil(R / fit) nodes of its
  classes, and a spread's forced replicas in a domain that is always there as many of the
  domain's (a zone whose one class is dear is charged a whole node, not a share of one).

Rules between workloads (affinity, anti-affinity), gangs' one cluster and node spreads are
left out: leaving a rule out keeps it a relaxation. Demands the rows cannot tell apart are
merged first (`merged_demands`), then classes (`merged_classes`): the pairs are those of the
merged demands and classes.

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
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.solve import work
from fitlang.solve.backends import _native_stdout_silenced, run_until
from fitlang.solve.beside_accelerators import beside_accelerator_rows
from fitlang.solve.elastic import _fit
from fitlang.solve.highs_made import quiet_highs

INFINITY = math.inf
# the columns each workload starts with, cheapest first, and gets per round at most
START_COLUMNS = 4
ADDED_PER_ROUND = 8
# the weight of the best prices so far in the prices the pairs are priced at
SMOOTHING = 0.5
# the bound is the master's optimum once within this share of it: the rounds after that
# (breaker 10,000: nine of 18) add columns whose reduced costs are rounding noise
CONVERGED = 1e-7
# spread and anti-affinity rows per domain are lazy (out of the master until its solution
# breaks them) where there are more than this many: breaker 50,000 has 396,000 of them, and
# a first master with them all took 18.5 s (dual simplex); where they are fewer, all in
# from the start converges sooner (breaker 10,000, 16,640 of them: 1.6 s against 2.1 s lazy;
# inventory 10,000, 3,371: 1.6 s against 3.2 s)
LAZY_ABOVE = 50_000
# and where the pairs are more than this many: inventory 50,000 (2.0 million pairs, 12,600
# spread rows) converges as soon lazy (32-34 s either way, load 2-3) and proves more at
# every time before that (10 s: 2,000 against 1,499; 19-20 s: 2,567 against 2,420-2,475;
# the LP's optimum 2,639.38): the master without them settles the capacity prices in short
# rounds first. At 10,000 nodes (under 150,000 pairs) all rows in from the start is faster,
# and so it is on the zoned coarse problem at 50,000 (coarse.py, 577,000 pairs; CPU s to
# convergence at load 6-7: labels forgotten 25.1 -> 19.8, the GPU lists kept 36.5 -> 26.9,
# where the first master with the lazy rows in took 17-23 s of it)
LAZY_PAIRS_ABOVE = 1_000_000
# lazy rows come in by whole families (one spread's rows), at most about this many a round
LAZY_PER_ROUND = 20_000
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
    matrix: Any  # scipy CSC, rows x columns (scipy has no type hints)
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
    # per row, -1, or the family of rows (one spread's, one anti-affinity's, per domain) the
    # master may leave out until its solution breaks one of them (empty: none)
    lazy: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # per row, whether it is a lazy one that waits until no other lazy row is broken and the
    # master is proven (beside_accelerators.py's: they move the LP's vertex, which guides
    # the first passes; empty: none)
    late: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # what the cover rows say (`_cover_rows`): per row, the pairs that must hold at least so
    # many replicas; and per pair the most replicas of it one node holds (its `fit`), for
    # rows built on them (`dear_cover.py`)
    covers: list[tuple[np.ndarray, int]] = field(default_factory=list)
    pair_fit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

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
        self.families: list[int] = []  # where each family of lazy rows starts

    def new(self, lower: float, upper: float) -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        return len(self.lower) - 1

    def add(self, rows, columns, values) -> None:
        self.rows.append(np.asarray(rows, dtype=np.int64).ravel())
        self.columns.append(np.asarray(columns, dtype=np.int64).ravel())
        self.values.append(np.asarray(values, dtype=float).ravel())

    def bulk(self, count: int, lower: float, upper: float) -> int:
        """`count` new rows with the same bounds; the first's index."""
        first = len(self.lower)
        self.lower.extend([lower] * count)
        self.upper.extend([upper] * count)
        return first

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
    most = np.array([1 if d.one_per_node else np.iinfo(np.int64).max for d in demands], dtype=np.int64)
    exclusive = np.array([d.exclusive for d in demands], dtype=bool)
    # the pairs: what one replica takes of a node, as a share, rounded down
    eligible_demand, eligible_class = _eligible(problem, class_index)
    capacity = usable_capacity(capacity, requests, eligible_demand, eligible_class)
    pair_demand_a, pair_class_a = eligible_demand, eligible_class
    need, have = requests[pair_demand_a], capacity[pair_class_a]
    pair_fit_a = np.minimum(_fit(need, have, replicas[pair_demand_a]), most[pair_demand_a])
    usable = pair_fit_a > 0
    pair_demand_a, pair_class_a, pair_fit_a = pair_demand_a[usable], pair_class_a[usable], pair_fit_a[usable]
    need, have = need[usable], have[usable]
    charge = np.where(_whole_node(pair_demand_a, pair_class_a, requests, capacity)[:, None], have, need)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_a = np.where(have > 0, charge / np.maximum(have, 1), 0.0)
    share_a = np.where((charge > 0) & (charge < have), _down(share_a), share_a)
    # `exclusive`: each node hosting it holds nothing else, and at most `fit` of it
    alone = exclusive[pair_demand_a]
    if alone.any():
        whole_share = np.where(pair_fit_a[alone] > 1, _down(1.0 / pair_fit_a[alone]), 1.0)
        share_a[alone] = np.where(have[alone] > 0, whole_share[:, None], 0.0)
    del need, have, charge
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
    rows.families.append(rows.count)  # the last family's end
    _latency_rows(problem, classes, position, pairs_of, pair_class_a, y, rows)
    first_waiting = rows.count
    beside_accelerator_rows(rows, pair_demand_a, pair_class_a, share_a, requests, capacity, y)
    first_cover = rows.count
    covers = _cover_rows(demands, topology, pairs_of, pair_class_a, pair_fit_a, rows)
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
                         class_index, capacity_row=capacity_row, covers=covers, pair_fit=pair_fit_a)
    relaxed.start = _start_columns(prices, share_a, pair_class_a, pairs_of, width)
    relaxed.lazy = _lazy_families(rows, pairs)
    # the cover rows wait until the master breaks one (a family each): most never bind, and
    # all in from the start the master took twice as long (inventory 10,000 at rest: 1,783
    # of them, 1.5 -> 2.8 s, for a bound 0.001% higher). So do the rows beside accelerators:
    # all in, the master reached another vertex of the same optimum on every seed (inventory
    # 10,000 seed 14: 18,648 replicas elsewhere), and the first passes it guides with them;
    # lazy, still where the LP broke one without a bound any higher (seed 24: 516 replicas
    # elsewhere, 538.26 -> 541.70-542.01 at 5 s): so they come last, once the rest is
    # converged, and the guide is the solution before them (`lower_bound`)
    waiting = np.arange(first_waiting, rows.count)
    relaxed.lazy[waiting] = relaxed.lazy.max(initial=-1) + 1 + np.arange(len(waiting))
    relaxed.late = np.zeros(rows.count, dtype=bool)
    relaxed.late[first_waiting:first_cover] = True
    return relaxed


def usable_capacity(capacity: np.ndarray, requests: np.ndarray, pair_demand: np.ndarray,
                    pair_class: np.ndarray) -> np.ndarray:
    """Per class and resource, the most of its capacity replicas can fill: what a node hosts
    is a sum of its replicas' requests, each a multiple of the greatest common divisor of
    the requests of the demands that may use the class (`pair_demand`, `pair_class`: every
    eligible pair), so no node uses more than its capacity rounded down to a multiple of it.
    A row over the rounded capacity is still implied by every placement, and what fits on a
    node is unchanged (each request and each sum of them is a multiple of the divisor). Why:
    inventory nodes have odd allocatables (15,940m, 30.48 GiB) and the replicas requests in
    steps of 250m and 512 MiB, so the LP filled every cheap node to the last millicore no
    placement can use (inventory 10,000 seed 7: 571.51 -> 573.68 with one divisor for the
    whole fleet)."""
    divisor = np.zeros(capacity.shape, dtype=np.int64)
    if len(pair_class):
        np.gcd.at(divisor, pair_class, requests[pair_demand])
    return np.where(divisor > 1, capacity // np.maximum(divisor, 1) * divisor, capacity)


def _lazy_families(rows: _Rows, pairs: int) -> np.ndarray:
    """Per row its family of lazy rows (-1: none), where there are more than LAZY_ABOVE of
    them or more than LAZY_PAIRS_ABOVE pairs; `rows.families`: where each family starts,
    then where the last one ends."""
    lazy = np.full(rows.count, -1, dtype=np.int64)
    starts = np.array(rows.families, dtype=np.int64)
    if len(starts) < 2 or (starts[-1] - starts[0] <= LAZY_ABOVE and pairs <= LAZY_PAIRS_ABOVE):
        return lazy
    inside = np.arange(starts[0], starts[-1])
    lazy[inside] = np.searchsorted(starts, inside, side="right") - 1
    return lazy


def _whole_node(pair_demand: np.ndarray, pair_class: np.ndarray, requests: np.ndarray,
                capacity: np.ndarray) -> np.ndarray:
    """Per pair, whether one replica leaves no room for a replica of anything that may use
    the class (its own demand included): `encode.charge_matrix`'s test, then charged the
    whole node, over every pair at once instead of a call per class (inventory 50,000: 1,609
    calls, 0.9 s). First against the smallest request on the class, which most replicas
    leave room for; the others against every request on it."""
    if not len(pair_demand):
        return np.zeros(0, dtype=bool)
    shapes, shape_of = np.unique(requests, axis=0, return_inverse=True)
    shape_of = shape_of.ravel()
    present = np.unique(pair_class * len(shapes) + shape_of[pair_demand])
    present_class, present_shape = present // len(shapes), present % len(shapes)
    largest_share = (shapes[present_shape] / np.maximum(capacity[present_class], 1)).max(axis=1)
    order = np.lexsort((largest_share, present_class))
    first = order[np.r_[True, present_class[order][1:] != present_class[order][:-1]]]
    smallest = np.zeros_like(capacity)
    smallest[present_class[first]] = shapes[present_shape[first]]
    rest = capacity[pair_class] - requests[pair_demand]
    whole = ~(smallest[pair_class] <= rest).all(axis=1)
    doubtful = np.flatnonzero(whole)
    if len(doubtful):
        # present is sorted by class: each class's requests are one slice of it
        cuts = np.searchsorted(present_class, np.arange(len(capacity) + 1))
        by_class = doubtful[np.argsort(pair_class[doubtful], kind="stable")]
        classes, starts = np.unique(pair_class[by_class], return_index=True)
        for k, these in zip(classes.tolist(), np.split(by_class, starts[1:])):
            on_class = shapes[present_shape[cuts[k]:cuts[k + 1]]]
            fits = (on_class[None, :, :] <= rest[these][:, None, :]).all(axis=2).any(axis=1)
            whole[these] = ~fits
    return whole


def merged_demands(problem: Problem) -> tuple[Problem, list[list[str]]]:
    """The problem with the demands the relaxation cannot tell apart merged into one whose
    replicas are theirs summed; and per demand of it, the names of the demands it stands
    for. Demands merge when they may use the same classes, request the same, and have no
    row of their own: not in an option group (its throughput row), not `exclusive` (its
    whole-node share), no latency rule, no spread nor anti-affinity with itself over zones,
    regions or labels (node spreads are left out of every row anyway); and none that the
    pattern bound (patterns.py) reads per demand: one replica a node, a rule towards
    another workload or another workload's rule towards it. The rows see only the
    replicas summed (every replica placed), the requests (each pair's shares and the
    whole-node charge, which reads the set of requests on a class) and the classes, so the
    LP is unchanged but for each pair's bound, min(replicas, what fits on the class's
    nodes), which is implied for the merged replicas together and so can only be tighter.
    Inventory 10,000: 1,158 -> 718 demands, 345,697 -> 147,992 pairs; breaker 10,000:
    1,000 -> 720, 140,621 -> 90,108 (-> 488 and 45,307 when the rules between workloads
    and one-per-node demands merged too, as the pair bound alone allows)."""
    import dataclasses

    targeted = {r.target for d in problem.demands for r in d.affinities if r.target != "self"}
    canonical: dict[int, int] = {}  # id of an eligibility list -> its contents' number
    by_contents: dict[tuple, int] = {}
    groups: dict[tuple, int] = {}
    demands: list[Demand] = []
    members: list[list[str]] = []
    for demand in problem.demands:
        key = None
        if _without_rows_of_its_own(demand) and demand.name not in targeted \
                and demand.workload not in targeted:
            listed = canonical.get(id(demand.eligible))
            if listed is None:  # the lists are shared objects: contents compared once per list
                listed = by_contents.setdefault(tuple(demand.eligible), len(by_contents))
                canonical[id(demand.eligible)] = listed
            key = (listed, tuple(demand.requests[r] for r in RESOURCES))
        at = groups.get(key) if key is not None else None
        if at is None:
            if key is not None:
                groups[key] = len(demands)
            demands.append(demand)
            members.append([demand.name])
            continue
        demands[at] = dataclasses.replace(demands[at], replicas=demands[at].replicas + demand.replicas)
        members[at].append(demand.name)
    if len(demands) == len(problem.demands):
        return problem, members
    return dataclasses.replace(problem, demands=demands), members


def _without_rows_of_its_own(demand) -> bool:
    return (demand.replicas > 0 and demand.group is None and not demand.exclusive
            and not demand.latency and all(s.topology == "node" for s in demand.spreads)
            and not any(r.target != "self" or r.anti for r in demand.affinities))


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
    users, using = _users(problem)
    capped: dict[str, list[int]] = {}
    for j, cap in enumerate(problem.power_caps):
        for class_id in cap.classes:
            capped.setdefault(class_id, []).append(j)
    groups: dict[tuple, list] = {}
    pairs = 0
    for position, node_class in enumerate(problem.classes):
        if node_class.count <= 0:
            continue
        caps = tuple(capped.get(node_class.id, ()))
        key = (users[position], node_class.price, node_class.provisioned,
               _size(node_class.capacity),
               node_class.buy_group, caps, node_class.power_watts if caps else 0,
               node_class.site.code if node_class.site else None,
               tuple(node_class.topology_value(k) for k in keys))
        if key not in groups:
            groups[key] = []
            pairs += using[position]
        groups[key].append(node_class)
    merged: list[NodeClass] = []
    index: dict[str, int] = {}
    for members in groups.values():
        capacity = {r: max(c.capacity[r] for c in members) for r in RESOURCES}
        merged.append(dataclasses.replace(members[0], capacity=capacity,
                                          count=sum(c.count for c in members), node_capacity={}))
        index.update((c.id, len(merged) - 1) for c in members)
    return merged, index, pairs


def _users(problem: Problem) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Per class, a name for the set of demands that may use it (two 64-bit sums of random
    numbers, one per eligibility list that holds it: the same set, the same name; two sets
    with the same name by chance, about 2^-128, would merge classes the rows could tell
    apart, which only weakens the bound), and how many demands may use it. Read once per
    eligibility list (demands share them): breaker 50,000 had 6.9 million (class, demand)
    entries read one by one, 3-4 s."""
    from itertools import repeat

    position = {c.id: k for k, c in enumerate(problem.classes)}
    lists: dict[int, int] = {}
    holders: list[np.ndarray] = []
    demands: list[int] = []
    for demand in problem.demands:
        at = lists.get(id(demand.eligible))
        if at is None:
            at = lists[id(demand.eligible)] = len(holders)
            found = np.fromiter(map(position.get, demand.eligible, repeat(-1)), dtype=np.int64,
                                count=len(demand.eligible))
            holders.append(np.unique(found[found >= 0]))
            demands.append(0)
        demands[at] += 1
    sizes = np.array([len(h) for h in holders], dtype=np.int64)
    which = np.repeat(np.arange(len(holders)), sizes)
    classes = np.concatenate(holders) if holders else np.zeros(0, dtype=np.int64)
    # the set of lists that hold a class tells its set of demands (a list with the same
    # contents as another holds the same classes: they always come together)
    weights = np.random.default_rng(15).integers(0, 2 ** 63, size=(len(holders), 2), dtype=np.uint64)
    names = np.zeros((len(problem.classes), 2), dtype=np.uint64)
    np.add.at(names, classes, weights[which])
    using = np.zeros(len(problem.classes), dtype=np.int64)
    np.add.at(using, classes, np.array(demands, dtype=np.int64)[which])
    return [(int(a), int(b)) for a, b in names.tolist()], using


# capacities within 1/SIZE_STEPS of an octave of each other may merge (the merged class
# has the largest): the bound loses at most that share where they do
SIZE_STEPS = 32


def _size(capacity: dict[str, int]) -> tuple[int, ...]:
    return tuple(math.floor(math.log2(capacity[r]) * SIZE_STEPS) if capacity[r] > 0 else -1
                 for r in RESOURCES)


def _limit_rows(problem: Problem, classes, rows: _Rows) -> None:
    """Buy limits (whole), the budget and the power caps (coefficients rounded down, so
    that each row is implied by the exact one)."""
    for group, most in sorted(problem.buy_limits.items()):
        members = [k for k, c in enumerate(classes) if c.buy_group == group]
        if members:
            row = rows.new(-INFINITY, float(most))
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
    """Every (demand, class position) a demand may use, as two arrays sorted by demand then
    class (a class without nodes is not in `class_index`: -1, dropped; members of one merged
    class are one pair). Demands share their eligibility lists (the same object where the
    rules are the same), so each list is read once: inventory 50,000 had 3.3 s here reading
    every demand's."""
    from itertools import repeat

    positions: dict[int, np.ndarray] = {}
    per_demand = []
    for demand in problem.demands:
        found = positions.get(id(demand.eligible))
        if found is None:
            names = demand.eligible
            found = np.fromiter(map(class_index.get, names, repeat(-1)), dtype=np.int64,
                                count=len(names))
            found = np.unique(found[found >= 0])
            positions[id(demand.eligible)] = found
        per_demand.append(found)
    sizes = np.array([len(found) for found in per_demand], dtype=np.int64)
    demand_at = np.repeat(np.arange(len(problem.demands)), sizes)
    classes = np.concatenate(per_demand) if per_demand else np.zeros(0, dtype=np.int64)
    return demand_at, classes


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

    def domains(self, demand: int, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The domains (sorted codes) of the classes the demand may use, and per domain
        whether it is always there (some class of it has owned nodes)."""
        classes = self.eligible[demand]
        codes = self.codes(key)[classes]
        there = codes >= 0
        values, at = np.unique(codes[there], return_inverse=True)
        always = np.zeros(len(values), dtype=bool)
        np.logical_or.at(always, at, self.owned[classes[there]])
        return values, always


def _spread_rows(demand, topology: _Topology, index: int, mine, pair_class, y, rows: _Rows,
                 least_columns: list, first_least: int) -> None:
    for spread in demand.spreads:
        if spread.topology == "node" or not demand.replicas:
            continue
        domains, always = topology.domains(index, spread.topology)
        if len(domains) < 2:
            continue
        codes = topology.codes(spread.topology)[pair_class[mine]]
        covered = bool((codes >= 0).all())  # every pair in some domain
        skew, total, count = spread.max_skew, demand.replicas, len(domains)
        forced = max(0, -(-(total - (count - 1) * skew) // count)) if covered else 0
        least = first_least + len(least_columns)
        # every domain that is always there holds `least` or more of the replicas, and a
        # count is whole: `least` is at most R / (those domains), rounded down
        present = int(always.sum())
        most = total // present if present else total
        least_columns.append((float(forced), float(max(most, forced))))
        rows.families.append(rows.count)
        # no domain more than least + max_skew; every domain that exists at least `least`
        _domain_rows(rows, domains, codes, mine, y, least, -INFINITY, float(skew))
        _domain_rows(rows, domains[always], codes, mine, y, least, 0.0, INFINITY)


def _cover_rows(demands, topology: _Topology, pairs_of, pair_class, pair_fit,
                rows: _Rows) -> list[tuple[np.ndarray, int]]:
    """Nodes are whole: where R replicas of a demand must run on some set of classes, at
    least ceil(R / f) nodes of those classes are in use, f the most replicas of it one node
    of them holds (its `fit`, 1 for one a node). Implied by every placement (each node in
    use holds at most f of them, and a count of nodes is whole), so the rows keep the LP a
    relaxation; the capacity rows alone let a replica take a share of a node (inventory
    1,000: a zone spread's replica on the one class of its zone, a 55 USD/h node, was
    charged 0.3% of it). Two kinds: every replica of a demand outside an option group
    placed on its classes; and a spread's `forced` replicas in each domain that is always
    there (`_spread_rows`' rows say the same of the pairs). Returns each row's pairs and
    replicas."""
    covers: list[tuple[np.ndarray, int]] = []
    for i, demand in enumerate(demands):
        mine = pairs_of[i]
        if not len(mine) or not demand.replicas:
            continue
        if demand.group is None:
            _cover_row(rows, pair_class[mine], pair_fit[mine], demand.replicas)
            covers.append((mine, demand.replicas))
        for spread in demand.spreads:
            if spread.topology == "node":
                continue
            domains, always = topology.domains(i, spread.topology)
            codes = topology.codes(spread.topology)[pair_class[mine]]
            if len(domains) < 2 or not (codes >= 0).all():
                continue
            skew, count = spread.max_skew, len(domains)
            forced = -(-(demand.replicas - (count - 1) * skew) // count)
            if forced <= 0:
                continue
            for domain in domains[always]:
                inside = codes == domain
                _cover_row(rows, pair_class[mine[inside]], pair_fit[mine[inside]], forced)
                covers.append((mine[inside], forced))
    return covers


def _cover_row(rows: _Rows, classes: np.ndarray, fit: np.ndarray, replicas: int) -> None:
    """The node counts of `classes` sum to at least ceil(replicas / the largest fit)."""
    if not len(classes):
        return
    most = int(fit.max())
    row = rows.new(float(-(-replicas // max(most, 1))), INFINITY)
    chosen = np.unique(classes)
    rows.add(np.full(len(chosen), row), chosen, np.ones(len(chosen)))


def _self_apart_rows(demand, topology: _Topology, mine, pair_class, y, rows: _Rows) -> None:
    for rule in demand.affinities:
        if rule.target != "self" or not rule.anti or rule.topology == "node":
            continue
        codes = topology.codes(rule.topology)[pair_class[mine]]
        rows.families.append(rows.count)
        _domain_rows(rows, np.unique(codes[codes >= 0]), codes, mine, y, None, -INFINITY, 1.0)


def _domain_rows(rows: _Rows, domains: np.ndarray, codes: np.ndarray, mine: np.ndarray, y,
                 least: int | None, lower: float, upper: float) -> None:
    """One row per domain (sorted codes): the demand's pairs there (`codes`: each pair's
    domain), less the `least` column if any, within [lower, upper]."""
    if not len(domains):
        return
    first = rows.bulk(len(domains), lower, upper)
    at = np.minimum(np.searchsorted(domains, codes), len(domains) - 1)
    inside = (codes >= 0) & (domains[at] == codes)
    rows.add(first + at[inside], y[mine[inside]], np.ones(int(inside.sum())))
    if least is not None:
        rows.add(first + np.arange(len(domains)), np.full(len(domains), least), -np.ones(len(domains)))


def _latency_rows(problem: Problem, classes, position, pairs_of, pair_class, y, rows: _Rows) -> None:
    """Every workload is placed, so each latency rule applies: at least K replicas (of any
    of its options) in reach of the rule's location. Which classes are in reach is worked
    out once per location and limit (inventory 50,000: 126,684 calls, 0.8 s, pair by pair)."""
    in_reach: dict[tuple, np.ndarray] = {}
    for members in problem.latency_demands():
        if not any(d.replicas for d in members):
            continue
        for rule in members[0].latency:
            if rule.replicas <= 0:
                continue
            key = (rule.location, rule.limit_ms)
            if key not in in_reach:
                in_reach[key] = np.array([problem.within_reach(rule, c) for c in classes], dtype=bool)
            near = in_reach[key]
            reach = []
            for demand in members:
                mine = pairs_of[position[demand.name]]
                reach.append(mine[near[pair_class[mine]]] if len(mine) else mine)
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
    # per demand of `problem`, the names of the caller's demands it stands for
    members: list[list[str]] | None = None
    # the master LP's last solution before the late rows (`Relaxation.late`): replicas per
    # pair (a guide for placing, not a bound)
    pair_values: np.ndarray | None = None
    # and its nodes per merged class (`relaxation.class_index`'s positions)
    node_values: np.ndarray | None = None
    # per round: (seconds since the start, the master's columns, its value, the best bound)
    trace: list[tuple[float, int, float, float]] = field(default_factory=list)


def lower_bound(problem: Problem, objective: str, deadline: float | None = None,
                start=None, seed: Collection[tuple[str, str]] = (),
                extend: Callable[[Problem, list[list[str]], Relaxation], None] | None = None,
                each_round: Callable[[Fraction], None] | None = None,
                counted_seconds: float | None = None) -> Bound:
    """A proven lower bound on `objective` over the placements that place every replica, by
    column generation on `relaxation` over the merged demands (`merged_demands`): the
    master LP holds the node counts, the spreads' `least`, an artificial column per row (so
    that it is always feasible), every row but the lazy ones and, of the pairs, each
    demand's cheapest few; each round prices every pair with the master's row prices and
    adds each demand's most negative ones, or once none prices negative, the lazy rows its
    solution breaks. Prices give a bound (`_Pricing.bound`) whatever they are: the first
    ones before any LP (`_Pricing.initial`), then each round's and a smoothed mix; the best
    is kept. It stops when converged or at `deadline`. `start`: a packing (the greedy
    floor) whose pairs the master starts with, so that its first LP is feasible without
    artificial columns. `seed`: (workload, class id) pairs the master starts with too (a
    coarser relaxation's solution: inventory 50,000, the master without its lazy rows
    converged within 20 s from the zoned coarse problem's pairs, where from the floor's alone
    it had not solved its first master by then). `extend`: adds columns and rows to the
    relaxation (of the merged problem, `members` per merged demand) before the master is
    built: the moves a plan makes (`move_bound.charge_moves`); the bound is then its LP's.
    `each_round`: given the bound proven so far after each round (a child process tells its
    parent, which may stop it at any time: `move_bound_beside`). With no user limit
    (`work.counted`) and a deadline, the deadline is `counted_seconds` (COUNTED_SHARE of the
    default limit where not given) on the stage's own clock, which runs by its work
    (`_Counted`), and the master LP has the default limit's end: it stops after the same
    rounds on any machine."""
    started = time.monotonic()
    if objective not in ("cost", "nodes"):
        return Bound(None)
    problem, members = merged_demands(problem)
    merged = merged_classes(problem)
    counted = _Counted.of(deadline, counted_seconds, merged[2])
    now, master_deadline = (time.monotonic, deadline) if counted is None else (counted.tally, work.backstop())
    deadline = deadline if counted is None else counted.tally.ends
    if deadline is not None and now() + expected_seconds(merged) > deadline:
        return Bound(None)  # it would not have a bound in time: not built at all
    if counted is not None:
        counted.tally.spend(expected_seconds(merged))
    relaxed = relaxation(problem, objective, merged)
    assert relaxed is not None, "the objective is one it bounds"
    if extend is not None:
        extend(problem, members, relaxed)
    if start is not None:
        relaxed.start = np.concatenate([relaxed.start, _packed_pairs(members, relaxed, start)])
    if seed:
        relaxed.start = np.unique(np.concatenate([relaxed.start, _seeded_pairs(members, relaxed, seed)]))
    pricing = _Pricing(relaxed)
    result = Bound(None, relaxation=relaxed, problem=problem, members=members)
    result.prices = pricing.initial()
    _, best = pricing.bound(result.prices)
    with _native_stdout_silenced():
        master = _Master(relaxed)
        while True:
            duals = master.solve(master_deadline)
            if counted is not None:
                counted.round(master)
            if duals is None:
                break
            result.rounds += 1
            result.lp_value = master.value
            if not master.late_taken:  # the guide: the solution before the late rows
                result.pair_values = master.pair_values()
                result.node_values = master.node_values()
            duals = pricing.repaired(duals)
            reduced, value = pricing.bound(duals)
            center = result.prices
            if value > best:
                best, result.prices = value, duals
            if SMOOTHING and (deadline is None or now() < deadline):
                # prices between the best so far and the master's (Wentges 1997) prove more
                # in the first rounds, where the master's swing (inventory 50,000: -9,906 at
                # the first round's prices, 685 at the first prices, 1,449 at the second
                # round between them); the columns still come from the master's prices
                # (from the smoothed ones, breaker 10,000 took 10 rounds, not 5)
                smoothed = SMOOTHING * center + (1.0 - SMOOTHING) * duals
                _, smoothed_value = pricing.bound(smoothed)
                if smoothed_value > best:
                    best, result.prices = smoothed_value, smoothed
            result.trace.append((time.monotonic() - started, master.size, master.value, best))
            if each_round is not None and math.isfinite(best):
                each_round(_proven(best, relaxed, objective))
            broken = master.broken()
            proven = best >= master.value - CONVERGED * max(1.0, abs(master.value))
            if proven and not len(broken):
                result.converged = True  # the master's optimum is proven: the bound is it
                break
            # columns first: rows only once the master's optimum is proven over all columns
            # (each row family that comes in moves the solution, and columns undo it)
            entering = np.zeros(0, dtype=np.int64) if proven else \
                _entering(relaxed, reduced, master.inside)
            added = master.add(entering) or master.add_rows(broken)
            if not added:
                result.converged = True
                break
            if deadline is not None and now() >= deadline:
                break
    result.columns = master.size
    if math.isfinite(best):
        result.value = _proven(best, relaxed, objective)
    result.seconds = time.monotonic() - started
    return result


def relaxation_pairs(problem: Problem) -> int:
    """The pairs of merged demand and merged class `relaxation` would have (0.04 s at
    inventory 10,000, 0.16 s at 50,000)."""
    return merged_classes(merged_demands(problem)[0])[2]


def _packed_pairs(members: list[list[str]], relaxed: Relaxation, packing) -> np.ndarray:
    """The pair columns a packing (of the demands `members` name) uses."""
    return _seeded_pairs(members, relaxed, {
        (name, class_id) for class_id, nodes in packing.nodes.items() for node in nodes
        for name, amount in node.hosted.items() if amount})


def _seeded_pairs(members: list[list[str]], relaxed: Relaxation,
                  seed: Collection[tuple[str, str]]) -> np.ndarray:
    """The pair columns of the (workload, class id) pairs in `seed` (those the relaxation has)."""
    position = {name: i for i, names in enumerate(members) for name in names}
    width = relaxed.first_pair
    keys = {position[name] * width + relaxed.class_index[class_id] for name, class_id in seed
            if name in position and class_id in relaxed.class_index}
    wanted = np.fromiter(keys, dtype=np.int64, count=len(keys))
    return width + np.flatnonzero(np.isin(relaxed.pair_demand * width + relaxed.pair_class, wanted))


# building the relaxation (which no deadline stops) and the first prices, per pair of a
# merged demand and a merged class, measured at load 3 on 2 cores (session 7, medians of
# 2; `bench/bound_bench.py`): inventory 50,000 1,774,663 pairs 3.4-4.2 s (1.9-2.4e-6 s a
# pair), breaker 50,000 989,668 pairs and 401,294 rows 2.6-2.9 s (2.6-3.0e-6); session 6
# (one pass per class, demands not merged, at load 4-7): 4-8e-6. So 4e-6, about 1.4x
# the slowest measured: a build that overruns it eats into the time the neighbourhood
# search would have had, not past the limit (what follows the search keeps its own share)
SECONDS_PER_PAIR = 4e-6


def expected_seconds(merged: tuple) -> float:
    """About how long building the relaxation takes: it grows with the merged pairs."""
    return SECONDS_PER_PAIR * merged[2]


# with no user limit (work.py), the share of the default limit the pair bound's own clock runs to
# where its caller gives none (bound_stages.BOUND_SHARE, the share it has where a limit is given)
COUNTED_SHARE = 0.5
# what the pair bound's clock counts for a round with no user limit: the pricing of every pair
# and the master LP's simplex iterations, by the master's rows. Measured to convergence on one
# thread (load ~12; the pricing's share with the build): inventory 10,000 seed 94 (157,388
# pairs, 5,327 rows) 10 rounds, 7,770 iterations in 0.41 CPU s (0.98e-8 s an iteration and
# row), the rest 0.76 s (4.8e-7 a pair and round); breaker 10,000 seed 5 (91,374 pairs,
# 15,554 rows) 4 rounds, 5,657 iterations in 0.42 s (0.48e-8), the rest 0.25 s (6.9e-7);
# at 1,000 nodes 0.02-0.16 CPU s in all. So a round about 1.2 times the dearest measured
ROUND_SECONDS_PER_PAIR = 8e-7
ITERATION_SECONDS_PER_ROW = 1.2e-8


@dataclass
class _Counted:
    """The pair bound's own clock where no user limit is given (`work.Tally`): the relaxation's
    build as `expected_seconds` says, then each round as its pricing and its master's simplex
    iterations cost (ROUND_SECONDS_PER_PAIR, ITERATION_SECONDS_PER_ROW). On the solve's clock a
    deadline cut it after another round on a slower machine, and a gate on the time left
    (`expected_seconds`) skipped it there."""

    tally: work.Tally
    pairs: int

    @classmethod
    def of(cls, deadline: float | None, seconds: float | None, pairs: int) -> _Counted | None:
        if deadline is None or not work.counted():
            return None
        return cls(work.Tally(COUNTED_SHARE * work.default_limit() if seconds is None else seconds), pairs)

    def round(self, master: _Master) -> None:
        self.tally.spend(ROUND_SECONDS_PER_PAIR * self.pairs
                         + ITERATION_SECONDS_PER_ROW * master.iterations * len(master.rows))


def _proven(best: float, relaxed: Relaxation, objective: str) -> Fraction:
    """The best bound the prices gave, as stated."""
    # with prices of 0 or more, 0 is a bound too (an early round's prices can say less)
    return _stated(max(best, 0.0) if relaxed.cost.min(initial=0.0) >= 0 else best, objective)


def _stated(bound: float, objective: str) -> Fraction:
    """The bound as a fraction, rounded down to nine decimals; a count of nodes is whole."""
    exact = Fraction(bound)
    if objective == "nodes":
        return Fraction(math.ceil(exact))
    return Fraction(math.floor(exact * 10 ** 9), 10 ** 9)


class _Master:
    """The restricted LP in HiGHS: every column but the pairs, the pairs added so far, and
    artificial columns at a price above any node's, which keep it feasible; every row but
    the lazy ones (`Relaxation.lazy`), which come in once the master's solution breaks them.
    Its row prices are those of the whole relaxation with 0 on the rows left out."""

    def __init__(self, relaxed: Relaxation) -> None:
        self.relaxed = relaxed
        self.highs = highs = quiet_highs()
        highs.setOptionValue("presolve", "off")
        # the first master from the floor's pairs: dual simplex (inventory 50,000: 2.8 s, primal
        # 16 s; breaker 10,000: 0.15 s, primal 0.75 s); without the floor's pairs it was the
        # other way round (breaker 10,000: dual 29 s, primal 4.7 s)
        highs.setOptionValue("simplex_strategy", 1)
        matrix = relaxed.matrix
        rows = matrix.shape[0]
        lazy = relaxed.lazy if len(relaxed.lazy) else np.full(rows, -1, dtype=np.int64)
        self.family = lazy[lazy >= 0]  # per waiting row
        # rows an `extend` added after the relaxation (`fitc plan`'s charged moves) are not late
        late = np.zeros(rows, dtype=bool)
        late[:len(relaxed.late)] = relaxed.late
        self.late = late[lazy >= 0]  # per waiting row: it waits for the others (`broken`)
        lazy = lazy >= 0
        self.rows = np.flatnonzero(~lazy)  # the master's rows, as rows of the relaxation
        self.row_at = np.full(rows, -1, dtype=np.int64)
        self.row_at[self.rows] = np.arange(len(self.rows))
        self.waiting = np.flatnonzero(lazy)  # lazy rows not in yet
        self.lazy_matrix = matrix[self.waiting, :].tocsr() if len(self.waiting) else None
        self.lazy_taken = np.zeros(len(self.waiting), dtype=bool)
        self.late_taken = False  # whether a late row is in (`Relaxation.late`)
        pair_end = relaxed.first_pair + relaxed.pairs
        fixed = np.concatenate([np.arange(relaxed.first_pair), np.arange(pair_end, relaxed.columns)])
        self.columns = np.concatenate([fixed, np.unique(relaxed.start)]).astype(np.int64)
        self.inside = np.zeros(relaxed.columns, dtype=bool)
        self.inside[self.columns] = True
        self.penalty = 10.0 * (float(relaxed.cost.max()) if len(relaxed.cost) else 1.0) + 1.0
        starts, indices, values = self._entries(self.columns)
        row_lower, row_upper = relaxed.row_lower[self.rows], relaxed.row_upper[self.rows]
        highs.passModel(len(self.columns), len(self.rows), len(values), 1, 1, 0.0,
                        relaxed.cost[self.columns], relaxed.lower[self.columns],
                        relaxed.upper[self.columns], row_lower, row_upper,
                        starts.astype(np.int32), indices.astype(np.int32), values,
                        np.zeros(len(self.columns), dtype=np.int32))
        # HiGHS's columns: the relaxation's column each is, -1 for an artificial one
        self.kinds = self.columns.copy()
        self._artificial(np.arange(len(self.rows)))
        self.value = math.nan  # the last optimum's value, set by each `solve` that has one
        self.iterations = 0  # the last `solve`'s simplex iterations

    def _entries(self, columns: np.ndarray):
        """The columns' entries in the master's rows, as CSC arrays."""
        part = self.relaxed.matrix[:, columns]
        at = self.row_at[part.indices]
        kept = at >= 0
        starts = np.concatenate([[0], np.cumsum(_kept_per_line(part.indptr, kept))]).astype(np.int64)
        return starts, at[kept], part.data[kept]

    def _artificial(self, master_rows: np.ndarray) -> None:
        """Artificial columns where all pairs at 0 break a row: +1 in a row with a lower
        bound (every replica placed, a spread's least), -1 in one whose upper bound is below 0."""
        rows = self.rows[master_rows]
        lower, upper = self.relaxed.row_lower[rows], self.relaxed.row_upper[rows]
        needy = np.isfinite(lower) | (upper < 0)
        at, sign = master_rows[needy], np.where(np.isfinite(lower[needy]), 1.0, -1.0)
        if not len(at):
            return
        self.highs.addCols(len(at), np.full(len(at), self.penalty), np.zeros(len(at)),
                           np.full(len(at), INFINITY), len(at), np.arange(len(at), dtype=np.int32),
                           at.astype(np.int32), sign)
        self.kinds = np.concatenate([self.kinds, np.full(len(at), -1, dtype=np.int64)])

    @property
    def size(self) -> int:
        return len(self.columns)

    def pair_values(self) -> np.ndarray:
        """The last solution's value of every pair (0 for those not in the master)."""
        relaxed = self.relaxed
        return self._solution()[relaxed.first_pair:relaxed.first_pair + relaxed.pairs]

    def node_values(self) -> np.ndarray:
        """The last solution's nodes of every merged class (its first columns)."""
        return self._solution()[:self.relaxed.first_pair]

    def _solution(self) -> np.ndarray:
        """The last solution by the relaxation's columns (0 for those not in the master)."""
        solved = np.array(self.highs.getSolution().col_value, dtype=float)
        values = np.zeros(self.relaxed.columns)
        real = self.kinds >= 0
        values[self.kinds[real]] = solved[real]
        return values

    def solve(self, deadline: float | None) -> np.ndarray | None:
        """The row prices of the master's optimum (0 on the rows it leaves out); None when it
        had none in time."""
        highs = self.highs
        reached = run_until(highs, deadline)
        self.iterations = highs.getInfo().simplex_iteration_count  # (this run's: `_Counted`)
        if not reached:
            return None
        self.value = highs.getInfo().objective_function_value
        duals = np.zeros(self.relaxed.matrix.shape[0])
        duals[self.rows] = highs.getSolution().row_dual
        return duals

    def broken(self) -> np.ndarray:
        """The lazy rows not in the master that its solution breaks (positions in `waiting`);
        the late ones (`Relaxation.late`) only where it breaks no other."""
        if self.lazy_matrix is None:
            return np.zeros(0, dtype=np.int64)
        activity = self.lazy_matrix @ self._solution()
        rows = self.waiting
        slack = 1e-7 * np.maximum(1.0, np.abs(activity))
        broken = (activity > self.relaxed.row_upper[rows] + slack) | \
            (activity < self.relaxed.row_lower[rows] - slack)
        # the whole family of a broken row: adding a row at a time, the solution moves to
        # the next domain (breaker 10,000: 20 rounds, 5.3 s)
        broken &= ~self.lazy_taken
        if (broken & ~self.late).any():
            broken &= ~self.late
        families = np.unique(self.family[broken])
        wanted = np.flatnonzero(np.isin(self.family, families) & ~self.lazy_taken)
        if len(wanted) > LAZY_PER_ROUND:  # whole families, up to the one that passes the count
            last = self.family[wanted[LAZY_PER_ROUND]]
            wanted = wanted[self.family[wanted] <= last]
        return wanted


    def add_rows(self, waiting: np.ndarray) -> int:
        """Lazy rows into the master (with their entries in its columns): the basis stays
        dual feasible, so the next solve is by dual simplex."""
        if not len(waiting):
            return 0
        assert self.lazy_matrix is not None, "rows wait only where there are lazy ones"
        rows = self.waiting[waiting]
        part = self.lazy_matrix[waiting]
        at = np.full(self.relaxed.columns, -1, dtype=np.int64)
        real = np.flatnonzero(self.kinds >= 0)
        at[self.kinds[real]] = real
        where = at[part.indices]
        kept = where >= 0
        starts = np.concatenate([[0], np.cumsum(_kept_per_line(part.indptr, kept))[:-1]]).astype(np.int32)
        first = len(self.rows)
        self.highs.addRows(len(rows), self.relaxed.row_lower[rows], self.relaxed.row_upper[rows],
                           int(kept.sum()), starts, where[kept].astype(np.int32), part.data[kept])
        self.rows = np.concatenate([self.rows, rows])
        self.row_at[rows] = first + np.arange(len(rows))
        self.lazy_taken[waiting] = True
        self.late_taken = self.late_taken or bool(self.late[waiting].any())
        self._artificial(first + np.arange(len(rows)))
        self.highs.setOptionValue("simplex_strategy", 1)
        return len(rows)

    def add(self, columns: np.ndarray) -> int:
        """Pair columns into the master: the basis stays primal feasible, so the next solve
        is by primal simplex (0.3 -> 0.02 s a round at 10,000 nodes), unless rows came in too."""
        if not len(columns):
            return 0
        relaxed = self.relaxed
        starts, indices, values = self._entries(columns)
        self.highs.addCols(len(columns), relaxed.cost[columns], relaxed.lower[columns],
                           relaxed.upper[columns], len(values), starts[:-1].astype(np.int32),
                           indices.astype(np.int32), values)
        self.columns = np.concatenate([self.columns, columns])
        self.kinds = np.concatenate([self.kinds, columns])
        self.inside[columns] = True
        self.highs.setOptionValue("simplex_strategy", 4)
        return len(columns)


def _kept_per_line(indptr: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Per column (CSC) or row (CSR) of a sparse matrix, how many of its entries are kept."""
    lines = len(indptr) - 1
    return np.bincount(np.repeat(np.arange(lines), np.diff(indptr))[kept], minlength=lines)


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
        # each class's capacity rows, and how much of each the pairs could take (the share
        # of a node class's price each row is given where the master prices it too low)
        rows = relaxed.capacity_row
        self.class_of_row = np.nonzero(rows >= 0)[0]
        self.capacity_rows = rows[rows >= 0]
        first, last = relaxed.first_pair, relaxed.first_pair + relaxed.pairs
        load = np.asarray(relaxed.matrix[:, first:last].sum(axis=1)).ravel()[self.capacity_rows]
        load = np.maximum(load, 0.0) + 1e-12  # a row no pair loads still gets a little
        total = np.zeros(len(rows))
        np.add.at(total, self.class_of_row, load)
        self.weight = load / total[self.class_of_row]

    def repaired(self, duals: np.ndarray) -> np.ndarray:
        """The prices with each class's capacity rows priced at least at its node's cost
        (`cost + sum of its rows' prices` >= 0, the rows' prices being <= 0). Where the
        master has no pair on a class its rows are priced 0, and in the bound every pair
        there looks free: inventory 50,000's bound was below -13,000 for 20 s. Lowering
        those prices until the node count's reduced cost is 0 takes nothing from its term
        (the count sits at 0 either way) and only raises the pairs' reduced costs there;
        and since no pair is on such a class in the master, they stay the master's optimal
        prices."""
        prices = duals.copy()
        rows = self.capacity_rows
        prices[rows] = np.minimum(prices[rows], 0.0)
        # the node count's reduced cost over all its rows: the cover rows' prices
        # (`_cover_rows`, >= 0) lower it too, and counted out it went below 0 (a term of
        # count x that: inventory 1,000's bound fell from 48 to 10)
        first = self.relaxed.first_pair
        node_reduced = self.relaxed.cost[:first] - self.transposed[:first] @ prices
        short = np.maximum(node_reduced, 0.0)
        prices[rows] -= short[self.class_of_row] * self.weight
        return prices

    def initial(self) -> np.ndarray:
        """Prices with no LP solved: each class's capacity rows at its node's cost (as
        `repaired`), and each row that asks for at least something (every replica placed,
        an option group's throughput, latency) at the most that keeps every pair in it at a
        reduced cost of 0 or more: what a replica costs where it is cheapest. Its bound is
        there before the first master is solved (inventory 50,000: 3-5 s for that master)."""
        relaxed = self.relaxed
        prices = self.repaired(np.zeros(relaxed.matrix.shape[0]))
        reduced = relaxed.cost - self.transposed @ prices
        asking = np.flatnonzero(np.isfinite(self.row_lower) & (self.row_lower > 0))
        part = relaxed.matrix[asking, :].tocsr()
        first, last = relaxed.first_pair, relaxed.first_pair + relaxed.pairs
        usable = (part.indices >= first) & (part.indices < last) & (part.data > 0)
        ratio = np.where(usable, reduced[part.indices] / np.where(usable, part.data, 1.0), INFINITY)
        lines = np.repeat(np.arange(len(asking)), np.diff(part.indptr))
        cheapest = np.full(len(asking), INFINITY)
        np.minimum.at(cheapest, lines, ratio)
        prices[asking] = np.where(np.isfinite(cheapest), np.maximum(cheapest, 0.0), 0.0)
        return prices

    def bound(self, duals: np.ndarray) -> tuple[np.ndarray, float]:
        """(reduced costs, a lower bound on the relaxation's optimum that holds for these
        prices whatever they are, computed so that rounding can only lower it)."""
        relaxed = self.relaxed
        prices, row_terms = priced_rows(duals, self.row_lower, self.row_upper)
        reduced, worst = safe_reduced_costs(relaxed.cost, self.transposed, self.magnitude,
                                            self.slack, prices)
        terms = [row_terms]
        first, last = relaxed.first_pair, relaxed.first_pair + relaxed.pairs
        others = np.r_[0:first, last:relaxed.columns]
        low, high = relaxed.lower[others], relaxed.upper[others]
        terms.append(np.where(worst[others] >= 0, worst[others] * low, worst[others] * high))
        terms.append(_pair_terms(relaxed, np.minimum(worst[first:last], 0.0)))
        return reduced, safe_sum(terms)


def priced_rows(duals: np.ndarray, row_lower: np.ndarray,
                row_upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row prices a bound may use, and what each row adds to it (its price times the
    bound it prices). A row with no lower bound cannot take a positive price, nor one with
    no upper bound a negative one: such prices are set to 0 (any prices give a valid bound)."""
    prices = duals.copy()
    prices[~np.isfinite(row_lower) & (prices > 0)] = 0.0
    prices[~np.isfinite(row_upper) & (prices < 0)] = 0.0
    return prices, np.where(prices > 0, prices * np.where(prices > 0, row_lower, 0.0),
                            prices * np.where(prices < 0, row_upper, 0.0))


def safe_reduced_costs(cost: np.ndarray, transposed, magnitude, slack: np.ndarray,
                       prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the reduced costs as computed, a value each exact reduced cost is at least): a sum of
    n products errs by at most n u of its magnitude (`slack` per column), taken twice."""
    reduced = cost - transposed @ prices
    error = slack * (np.abs(cost) + magnitude @ np.abs(prices))
    return reduced, reduced - 2.0 * error


def safe_sum(terms: list[np.ndarray]) -> float:
    """The terms' sum, less the most its floating-point rounding can have added: a float sum
    of n terms, in any order, errs by at most (n - 1) u times the sum of their magnitudes,
    and that sum as computed is at least (1 - (n - 1) u) of the exact one; UNIT is 4 u, so
    the margin covers both (and the last subtraction's rounding, by the |total|). numpy's
    sums, not `math.fsum` over lists: at 2 million pairs 0.32 s a bound -> ~0.01 s."""
    every = np.concatenate(terms)
    total = float(np.sum(every))
    size = float(np.sum(np.abs(every)))
    return total - UNIT * (len(every) + 2) * (size + abs(total))


def _pair_terms(relaxed: Relaxation, negative: np.ndarray) -> np.ndarray:
    """Per pair, what its reduced cost (<= 0 here) adds at the least: a demand's pairs take
    at most its replicas together and each at most its own bound, so the least is the
    most negative pairs filled first, each up to its bound, until the replicas are used
    (exact: a fractional knapsack of unit weights). Before, all replicas on the most
    negative pair or each pair at its bound, whichever was larger: inventory 50,000's
    gangs (208 replicas merged, 21 nodes of their cheapest class) counted 208 on it."""
    first = relaxed.first_pair
    upper = relaxed.upper[first:first + relaxed.pairs]
    # pairs at 0 add nothing and come last in their demand's order: only the negative ones
    # are sorted (a lexsort of all 2 million pairs at 50,000 nodes: 0.18 s a bound)
    some = np.flatnonzero(negative < 0)
    order = some[np.lexsort((negative[some], relaxed.pair_demand[some]))]
    owner, bounds = relaxed.pair_demand[order], upper[order]
    filled = np.cumsum(bounds)  # whole numbers: exact in floating point below 2^53
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else \
        np.zeros(0, dtype=np.int64)
    before_group = np.repeat(filled[starts] - bounds[starts], np.diff(np.r_[starts, len(owner)]))
    before = filled - bounds - before_group  # the bounds of the demand's pairs before this one
    take = np.clip(relaxed.pair_limit[owner] - before, 0.0, bounds)
    return negative[order] * take
