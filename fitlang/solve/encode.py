"""The aggregated placement model (see ../shared/solver-notes.md).

Variables: y[w,c] replicas of workload w on class c (only where w may run on
c), u[c] nodes of c in use, p[w] replicas of w placed, g[w] gang switch,
presence z[w,d] of w in a topology domain d where affinity rules need it,
n[w,c] nodes of c hosting w where node-level rules between workloads need it.
Constraint groups are typed keys of the rule they come from (`groups.py`), so that an
unsat core reads as a list of rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from fitlang import rules
from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.rules.base import Rounding, Rule
from fitlang.rules.moves import ObjectiveTerms
from fitlang.rules.spread import node_spread_most_least
from fitlang.solve.groups import EligibleGroup, Group
from fitlang.solve.linear import LinearModel, Number, RowBuffer, Value
from fitlang.solve.pack import Packing

K = TypeVar("K")  # a key of the totals that are rounded: a class, a domain, a reach
Terms = np.ndarray | list[int]  # a run of a row's columns, or of its coefficients


class PairMap(MutableMapping):
    """(demand, class id) -> a number, kept per demand: one dict per demand made at C speed
    (`dict(zip(...))`) instead of a tuple key per pair (a million at 10,000 nodes)."""

    def __init__(self) -> None:
        self.of: dict[str, dict[str, int]] = {}

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self.of[key[0]][key[1]]

    def __contains__(self, key: object) -> bool:
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        inner = self.of.get(key[0])
        return inner is not None and key[1] in inner

    def __setitem__(self, key: tuple[str, str], value: int) -> None:
        self.of.setdefault(key[0], {})[key[1]] = value

    def __delitem__(self, key: tuple[str, str]) -> None:
        del self.of[key[0]][key[1]]

    def __iter__(self):
        return ((name, class_id) for name, inner in self.of.items() for class_id in inner)

    def __len__(self) -> int:
        return sum(len(inner) for inner in self.of.values())


@dataclass
class Encoding:
    model: LinearModel
    problem: Problem
    y: PairMap = field(default_factory=PairMap)
    u: dict[str, int] = field(default_factory=dict)
    placed: dict[str, int] = field(default_factory=dict)
    fit: PairMap = field(default_factory=PairMap)
    # class id -> the demands that may use it, in problem order; per such demand (same
    # order) what one replica takes out of a node in the capacity rows (see `charge_matrix`),
    # and its column y
    here: dict[str, list[Demand]] = field(default_factory=dict)
    charge_rows: dict[str, np.ndarray] = field(default_factory=dict)
    here_columns: dict[str, np.ndarray] = field(default_factory=dict)
    # demand -> the classes where a replica is charged the whole node
    whole: dict[str, set[str]] = field(default_factory=dict)
    _domains: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    hosting: dict[tuple[str, str], int] = field(default_factory=dict)  # (demand, class) -> n
    _topology: dict[str, dict[str, str | None]] = field(default_factory=dict)
    class_of: dict[str, NodeClass] = field(default_factory=dict)  # by id
    # what a rule's row hooks work out once per encoding and share between their calls,
    # under a key of the rule's own (its group class)
    cache: dict[Any, Any] = field(default_factory=dict)

    def topology_value(self, class_id: str, key: str) -> str | None:
        """The class's value of a topology key, kept per key for all classes."""
        values = self._topology.get(key)
        if values is None:
            values = self._topology[key] = {c.id: c.topology_value(key) for c in self.problem.classes}
        return values[class_id]

    def charge(self, demand: str, class_id: str) -> dict[str, int]:
        """What one replica of `demand` takes out of a node of the class, per resource."""
        row = self.here[class_id].index(self.problem.demand(demand))
        return dict(zip(RESOURCES, self.charge_rows[class_id][row].tolist()))
    met: dict[str, int] = field(default_factory=dict)  # option group -> binary: throughput met
    # demand -> how its fractional counts are rounded (a rule's `Rows.rounding`; see
    # `relax_replicas`): demands absent keep whole counts or round over all their classes
    rounding: dict[str, Rounding] = field(default_factory=dict)
    # the columns rules find again, by a typed key of theirs (a frozen dataclass defined
    # next to the rows that make the column), never by its name
    index: dict[Hashable, int] = field(default_factory=dict)
    # the dual feasible functions of the capacity rule's fragmentation rows; None: the rule's
    # default (`rules/capacity.FRAGMENT_KS`). The bound beside the search sets them (fragment_bound.py)
    fragment_ks: tuple[int, ...] | None = None
    hooks: _RowHooks | None = None  # the registry's row hooks, as `encode` asked them
    relaxed_columns: list[int] = field(default_factory=list)  # made fractional by `relax_replicas`

    def column(self, key: Hashable, name: str, lower: int, upper: int) -> int:
        """A new column that rules find again by `key` (`index`); `name` is for display."""
        index = self.index[key] = self.model.var(name, lower, upper)
        return index

    def capacity_terms(self, class_id: str) -> tuple[np.ndarray, np.ndarray, int]:
        """A class's capacity rows' terms: each replica's charge per resource (one row per
        workload that may use it), those workloads' y columns, and its node count u."""
        return self.charge_rows[class_id], self.here_columns[class_id], self.u[class_id]

    def domains(self, demand: Demand, topology: str) -> dict[str, list[str]]:
        """Topology value -> eligible classes of `demand` that carry it (kept: several rules ask)."""
        key = (demand.name, topology)
        if key in self._domains:
            return self._domains[key]
        domains: dict[str, list[str]] = self._domains.setdefault(key, {})
        for class_id in demand.eligible:
            value = self.topology_value(class_id, topology)
            if value is not None:
                domains.setdefault(value, []).append(class_id)
        return domains

    def presence(self, demand: Demand, topology: str) -> dict[str, int]:
        """Binary z[w,d]: does `demand` run anywhere in domain d of `topology`?"""
        model = self.model
        presence: dict[str, int] = {}
        for value, class_ids in sorted(self.domains(demand, topology).items()):
            key = Presence(demand.name, topology, value)
            if key in self.index:
                presence[value] = self.index[key]
                continue
            switch = self.column(key, f"z[{demand.name},{topology}={value}]", 0, 1)
            terms = {self.y[demand.name, c]: 1 for c in class_ids}
            model.add({**terms, switch: -demand.replicas}, upper=0)
            model.add({**terms, switch: -1}, lower=0)
            presence[value] = switch
        return presence

    def hosting_count(self, demand: Demand, class_id: str) -> int:
        """Integer n[w,c]: nodes of class c that host at least one replica of `demand` (made
        in bulk instead by `rules/affinity.py`'s node rules, which fill `hosting` themselves)."""
        key = (demand.name, class_id)
        index = self.hosting.get(key)
        if index is not None:
            return index
        model = self.model
        y, fit, u = self.y[key], self.fit[key], self.u[class_id]
        index = model.var(f"n[{demand.name},{class_id}]", 0, self.problem.node_class(class_id).count)
        buffer = RowBuffer()
        self.hosting[key] = index
        buffer.add((y, index), (1, -fit), None, 0, None)
        buffer.add((index, y), (1, -1), None, 0, None)
        buffer.add((index, u), (1, -1), None, 0, None)
        buffer.flush(model)
        return index

    def row_buffer(self) -> RowBuffer:
        """Rows gathered one by one and added to the model as a block (`RowBuffer.flush`)."""
        return RowBuffer()

    def add_at_most_zero(self, pointers: list[int], indices: list[Terms], data: list[Terms],
                         group: Group) -> None:
        """Rows `sum <= 0` gathered per resource as compressed rows (`pointers` into the
        concatenated `indices` and `data`), added as one block when there are any."""
        if len(pointers) > 1:
            rows = len(pointers) - 1
            self.model.add_rows(np.array(pointers), np.concatenate(indices).astype(np.int64),
                                np.concatenate(data).astype(np.int64), np.full(rows, np.nan),
                                np.zeros(rows), group)

    def relax_replicas(self) -> None:
        """Let replica counts be fractional where rounding can keep what the rules count, so
        that the MIP branches on node counts alone (HiGHS 14 s -> 1.0 s at 10,000 nodes,
        7 s at 50,000); its bound stays a valid lower bound, and `whole_counts` rounds.

        Rounding keeps each workload's total, and the groups of classes a rule asks for
        (`Rows.rounding`: a spread's domains, latency's reach groups). It never puts a replica
        where the solution had none, so presence in a domain, and with it anti-affinity,
        holds. A demand some rule needs whole (`Rows.keeps_whole`), or whose classes two rules
        group, keeps its counts whole."""
        hooks = self.hooks or _RowHooks(rules.RULES)
        for demand in self.problem.demands:
            if any(keeps_whole(self, demand) for keeps_whole in hooks.keeps_whole):
                continue
            roundings = [r for r in (rounding(self, demand) for rounding in hooks.rounding)
                         if r is not None]
            if len(roundings) > 1:
                continue
            relaxed = list(self.y.of.get(demand.name, {}).values()) + [self.placed[demand.name]]
            if roundings:
                relaxed += roundings[0].columns
                self.rounding[demand.name] = roundings[0]
            self.model.set_continuous(relaxed)
            self.relaxed_columns += relaxed

    def whole_counts(self, solution: list[Value]) -> dict[tuple[str, str], int]:
        """Replicas per (workload, class), whole. Fractional counts are rounded so that each
        workload keeps its total; where a rule groups the classes (`Rounding`), group totals
        are rounded first: balanced ones (a spread's domains) giving extra replicas to the
        groups with the fewest, which keeps the skew the solution had; others (latency's
        reach groups) each keeping its total, which stays >= what the rules need."""
        counts: dict[tuple[str, str], int] = {}
        for demand in self.problem.demands:
            value = {c: float(solution[self.y[demand.name, c]]) for c in demand.eligible}
            rounding = self.rounding.get(demand.name)
            if rounding is None or not rounding.groups:
                shares = _round_keeping_total({c: value[c] for c in demand.eligible})
            elif rounding.balanced:
                shares = _round_balanced_groups(demand, rounding.groups, value)
            else:
                shares = _round_per_group(rounding.groups, value)
            counts.update(((demand.name, c), amount) for c, amount in shares.items() if amount)
        return counts

    def start_values(self, packing: Packing) -> dict[int, float]:
        """A known per-node placement as values of the model's variables, for HiGHS to start
        from: nodes in use u[c], replicas y[w,c] and p[w], hosting counts n[w,c], presence
        z, and each rule's columns (`Rows.start`: gang clusters, spread minimums and the
        switches that follow from them). The variables left out (node spreads' bits) HiGHS
        completes itself."""
        problem = self.problem
        opened, replicas, hosts = _packed_counts(packing)
        _symmetric_order(problem, opened, replicas, hosts)
        values: dict[int, float] = {index: opened.get(c, 0) for c, index in self.u.items()}
        for demand in problem.demands:
            mine = replicas.get(demand.name, {})
            columns = self.y.of.get(demand.name, {})
            values.update((column, mine.get(c, 0)) for c, column in columns.items())
            values[self.placed[demand.name]] = sum(mine.get(c, 0) for c in columns)
        for (name, class_id), index in self.hosting.items():
            values[index] = hosts.get(name, {}).get(class_id, 0)
        for (name, topology), domains in self._domains.items():
            mine = replicas.get(name, {})
            for value, class_ids in domains.items():
                switch = self.index.get(Presence(name, topology, value))
                if switch is not None:
                    values[switch] = int(any(mine.get(c, 0) for c in class_ids))
        hooks = self.hooks or _RowHooks(rules.RULES)
        for demand in problem.demands:
            mine = replicas.get(demand.name, {})
            for start in hooks.start:
                start(self, demand, mine, opened, values)
        return values

    def placed_terms(self, demands: list[Demand]) -> dict[int, Number]:
        """-(replicas placed) of `demands`; an option group counts, once met, as many as its
        option that needs the fewest replicas (what placing it whole is worth)."""
        terms: dict[int, Number] = {}
        for demand in demands:
            if demand.group is None:
                terms[self.placed[demand.name]] = -1
            elif demand.group in self.met:
                fewest = min(d.replicas for d in self.problem.demands if d.group == demand.group)
                terms[self.met[demand.group]] = -fewest
        return terms

    def objective(self, name: str) -> dict[int, Number]:
        if name == "cost":
            return {self.u[c.id]: c.price for c in self.problem.classes if c.price}
        if name == "nodes":
            return {index: 1 for index in self.u.values()}
        if name == "preferences":
            terms: dict[int, Number] = {}
            for demand in self.problem.demands:
                for class_id, weight in demand.preference.items():
                    if (demand.name, class_id) in self.y:
                        terms[self.y[demand.name, class_id]] = -weight
            return terms
        if name == "placed":
            return self.placed_terms(self.problem.demands)
        added = self.cache.get(ObjectiveTerms(name))  # a rule's objective (`rules/moves.py`)
        if added is not None:
            return dict(added)
        raise ValueError(f"unknown objective {name}")


def _packed_counts(packing: Packing) -> tuple[dict[str, int], dict[str, dict[str, int]],
                                               dict[str, dict[str, int]]]:
    """Nodes opened per class; replicas and nodes hosting per workload and class."""
    opened = {class_id: len(nodes) for class_id, nodes in packing.nodes.items()}
    replicas: dict[str, dict[str, int]] = {}
    hosts: dict[str, dict[str, int]] = {}
    for class_id, nodes in packing.nodes.items():
        for node in nodes:
            for name, amount in node.hosted.items():
                if amount:
                    mine = replicas.setdefault(name, {})
                    mine[class_id] = mine.get(class_id, 0) + amount
                    theirs = hosts.setdefault(name, {})
                    theirs[class_id] = theirs.get(class_id, 0) + 1
    return opened, replicas, hosts


def _symmetric_order(problem: Problem, opened: dict[str, int], replicas: dict[str, dict[str, int]],
                     hosts: dict[str, dict[str, int]]) -> None:
    """The model orders interchangeable classes (u[first] >= u[second]): the packing's use of
    each run is reordered, busiest first, which is the same placement on identical nodes."""
    for run in problem.symmetric:
        order = sorted(run, key=lambda c: -opened.get(c, 0))  # stable: ties keep their order
        if order == list(run):
            continue
        moved = {target: source for target, source in zip(run, order)}
        before = {c: opened.get(c, 0) for c in run}
        opened.update((target, before[source]) for target, source in moved.items())
        for table in (replicas, hosts):
            for counts in table.values():
                was = {c: counts.pop(c) for c in run if c in counts}
                counts.update((target, was[source]) for target, source in moved.items()
                              if source in was)


@dataclass(frozen=True)
class Presence:
    """The column z[w,d] (`Encoding.presence`): does demand w run in domain d of a topology?"""

    demand: str
    topology: str
    value: str


def _round_per_group(groups: Mapping[Any, list[str]], value: dict[str, float]) -> dict[str, int]:
    """Whole totals per group first (each keeps its total), then per class within each."""
    shares: dict[str, int] = {}
    per_group = _round_keeping_total({key: sum(value[c] for c in class_ids)
                                      for key, class_ids in groups.items()})
    for key, class_ids in groups.items():
        shares.update(_round_keeping_total({c: value[c] for c in class_ids}, per_group[key]))
    return shares


def _round_balanced_groups(demand: Demand, groups: Mapping[Any, list[str]],
                           value: dict[str, float]) -> dict[str, int]:
    """Group totals rounded keeping their spread (`_round_balanced`), the classes in no group
    taking what is left of the workload's total; then per class within each."""
    shares: dict[str, int] = {}
    inside = {c for class_ids in groups.values() for c in class_ids}
    outside = [c for c in demand.eligible if c not in inside]
    per_group: dict[Hashable, int] = dict(_round_balanced(
        {d: sum(value[c] for c in cs) for d, cs in groups.items()}))
    per_group[None] = _whole(sum(value.values())) - sum(per_group.values())
    by_group: dict[Hashable, list[str]] = dict(groups)
    by_group[None] = outside
    for key, class_ids in by_group.items():
        shares.update(_round_keeping_total({c: value[c] for c in class_ids}, per_group[key]))
    return shares


def _whole(value: float) -> int:
    return int(value + 1e-4)  # the solver's tolerance, not a fraction to keep


def _round_keeping_total(values: Mapping[K, float], total: int | None = None) -> dict[K, int]:
    """Largest remainders first (then the given order), so that the sum stays `total`."""
    total = _whole(sum(values.values())) if total is None else total
    whole = {key: int(v) for key, v in values.items()}
    order = sorted(values, key=lambda key: -(values[key] - whole[key]))
    for key in order[: max(0, total - sum(whole.values()))]:
        whole[key] += 1
    return whole


def _round_balanced(totals: Mapping[K, float]) -> dict[K, int]:
    """Round domain totals keeping their sum; the extra replicas go to the domains with the
    fewest, so the largest minus the smallest does not grow past what the solution had
    (rounded up to a whole number)."""
    whole = {key: int(v) for key, v in totals.items()}
    extra = _whole(sum(totals.values())) - sum(whole.values())
    order = sorted(totals, key=lambda key: (whole[key], -(totals[key] - whole[key])))
    for key in order[: max(0, extra)]:
        whole[key] += 1
    return whole


def encode(problem: Problem, must_place: bool = True, min_nodes: dict[str, int] | None = None,
           caps: dict[tuple[str, str], int] | None = None,
           fragment_ks: tuple[int, ...] | None = None) -> Encoding:
    """`must_place`: every replica placed (else as many as fit); `min_nodes` and `caps`
    are cuts added when per-node packing needed more nodes than the aggregate model;
    `fragment_ks`: the capacity rule's fragmentation rows (None: its default).

    The frame (columns y, u, p; the eligible rows; the symmetry rows) is made here; every
    other row is a rule's (`Rule.rows`, asked in the phases `rules/base.py` describes)."""
    model = LinearModel()
    encoding = Encoding(model, problem, fragment_ks=fragment_ks)
    min_nodes = min_nodes or {}
    caps = caps or {}
    hooks = encoding.hooks = _RowHooks(rules.RULES)
    positions: dict[str, list[int]] = {c.id: [] for c in problem.classes}
    for position, demand in enumerate(problem.demands):
        for class_id in demand.eligible:
            positions[class_id].append(position)
    requests = np.array([[d.requests[r] for r in RESOURCES] for d in problem.demands],
                        dtype=np.int64).reshape(len(problem.demands), len(RESOURCES))
    for node_class in problem.classes:
        lower = min(min_nodes.get(node_class.id, 0), node_class.count)
        encoding.u[node_class.id] = model.var(f"u[{node_class.id}]", lower, node_class.count)
        here = np.array(positions[node_class.id], dtype=np.int64)
        encoding.here[node_class.id] = [problem.demands[i] for i in here.tolist()]
        charge, whole = charge_matrix(node_class, requests[here].reshape(len(here), len(RESOURCES)))
        encoding.charge_rows[node_class.id] = charge
        for index in here[whole].tolist():
            encoding.whole.setdefault(problem.demands[index].name, set()).add(node_class.id)
    table = _ClassTable(problem)
    encoding.class_of = {c.id: c for c in problem.classes}
    for demand in problem.demands:
        made = _demand_columns(encoding, demand, caps, table)
        for columns_hook in hooks.columns:
            columns_hook(encoding, made)
        _placed_column(encoding, demand, made.columns)
        for placed_hook in hooks.placed:
            placed_hook(encoding, demand, must_place)
    encoding.here_columns = table.columns_by_class(problem.classes)
    for fleet_hook in hooks.fleet:
        fleet_hook(encoding, must_place)
    for node_class in problem.classes:
        for class_hook in hooks.per_class:
            class_hook(encoding, node_class)
    for limits_hook in hooks.limits:
        limits_hook(encoding)
    for run in problem.symmetric:
        for first, second in itertools.pairwise(run):
            model.add({encoding.u[first]: 1, encoding.u[second]: -1}, lower=0)
    for demand in problem.demands:
        for relations_hook in hooks.relations:
            relations_hook(encoding, demand)
    return encoding


class _RowHooks:
    """The registry's row hooks per phase, in the order they add rows: by `Rows.rank`, then
    in `RULES` order (see `rules/base.py`)."""

    def __init__(self, registry: tuple[Rule, ...]) -> None:
        ranked = sorted((rule.rows for rule in registry if rule.rows is not None),
                        key=lambda rows: rows.rank)
        self.columns = [r.columns for r in ranked if r.columns is not None]
        self.placed = [r.placed for r in ranked if r.placed is not None]
        self.fleet = [r.fleet for r in ranked if r.fleet is not None]
        self.per_class = [r.per_class for r in ranked if r.per_class is not None]
        self.limits = [r.limits for r in ranked if r.limits is not None]
        self.relations = [r.relations for r in ranked if r.relations is not None]
        self.keeps_whole = [r.keeps_whole for r in ranked if r.keeps_whole is not None]
        self.rounding = [r.rounding for r in ranked if r.rounding is not None]
        self.start = [r.start for r in ranked if r.start is not None]


@dataclass
class DemandColumns:
    """A demand's columns y as `encode` made them, per eligible class (in `demand.eligible`'s
    order), with what the `columns` row hooks read: replicas per node and the class's capacity."""

    demand: Demand
    columns: np.ndarray  # y
    fit: np.ndarray  # replicas_per_node
    capacity: np.ndarray  # per resource (RESOURCES), one row per class


class _ClassTable:
    """The classes as arrays: capacity, node count, position by id."""

    def __init__(self, problem: Problem) -> None:
        self.position = {c.id: i for i, c in enumerate(problem.classes)}
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in problem.classes],
                                 dtype=np.int64).reshape(len(problem.classes), len(RESOURCES))
        self.count = np.array([c.count for c in problem.classes], dtype=np.int64)
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []  # per demand: classes, columns y

    def columns_by_class(self, classes: list[NodeClass]) -> dict[str, np.ndarray]:
        """Class id -> the columns y of the demands that may use it, in problem order."""
        if not self.pairs:
            return {c.id: np.zeros(0, dtype=np.int64) for c in classes}
        rows = np.concatenate([r for r, _ in self.pairs])
        columns = np.concatenate([c for _, c in self.pairs])
        order = np.argsort(rows, kind="stable")
        bounds = np.searchsorted(rows[order], np.arange(len(classes) + 1))
        grouped = columns[order]
        return {c.id: grouped[bounds[i]:bounds[i + 1]] for i, c in enumerate(classes)}


def _fits(demand: Demand, capacity: np.ndarray) -> np.ndarray:
    """`replicas_per_node` of the demand on each class (rows of `capacity`), at once."""
    need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
    fit = np.full(len(capacity), demand.replicas, dtype=np.int64)
    for column in np.flatnonzero(need > 0):
        fit = np.minimum(fit, capacity[:, column] // need[column])
    if demand.one_per_node:
        fit = np.minimum(fit, 1)
    return np.maximum(fit, 0)  # a node spread: `_node_spread_most`


def _node_spread_most(problem: Problem, demand: Demand) -> int:
    """The most replicas one node may host under the demand's `spread node max_skew K`: the
    least a node of its eligible classes hosts, plus K, where that least is at most its
    replicas over those classes' fixed nodes (each hosts at least the least, as
    `rules/spread._node_spread_rows` counts it). A per-node bound the class rows leave out:
    without it an exclusive workload took all but 14 of a pool's nodes in the model, leaving
    the gang spread 2 a node 8 a node there by capacity, and no packing (differential_fleet
    seed 4650 `unknown` where 115 USD/h places all)."""
    skews = [spread.max_skew for spread in demand.spreads if spread.topology == "node"]
    return node_spread_most_least(problem, demand) + min(skews) if skews else demand.replicas


def _demand_columns(encoding: Encoding, demand: Demand, caps: dict[tuple[str, str], int],
                    table: _ClassTable) -> DemandColumns:
    """y[w,c] for every class the demand may use, in bulk, as arrays (one Python object per
    column was most of the time to build the model at fleet scale)."""
    model = encoding.model
    eligible = demand.eligible
    rows = np.array([table.position[c] for c in eligible], dtype=np.int64)
    capacity = table.capacity[rows].reshape(len(rows), len(RESOURCES))
    fit = np.minimum(_fits(demand, capacity), _node_spread_most(encoding.problem, demand))
    # the class's node count bounds this through the tracked capacity rows, not the
    # variable's bound, so that unsat cores name the pool
    upper = np.full(len(rows), demand.replicas, dtype=np.int64)
    if caps:
        for k, class_id in enumerate(eligible):
            upper[k] = min(demand.replicas, caps.get((demand.name, class_id), demand.replicas))
    name = demand.name
    first = model.vars(lambda k: f"y[{name},{eligible[k]}]", np.zeros(len(rows), dtype=np.int64),
                       upper)
    columns = np.arange(first, first + len(rows), dtype=np.int64)
    encoding.y.of[name] = dict(zip(eligible, columns.tolist()))
    encoding.fit.of[name] = dict(zip(eligible, fit.tolist()))
    table.pairs.append((rows, columns))
    return DemandColumns(demand, columns, fit, capacity)


def _placed_column(encoding: Encoding, demand: Demand, columns: np.ndarray) -> None:
    """p[w], the demand's replicas placed: the sum of its columns y."""
    model = encoding.model
    placed = model.var(f"p[{demand.name}]", 0, demand.replicas)
    encoding.placed[demand.name] = placed
    model.add_rows(np.array([0, len(columns) + 1]), np.append(columns, placed),
                   np.append(np.ones(len(columns), dtype=np.int64), -1), np.zeros(1), np.zeros(1),
                   EligibleGroup(demand.name))


def node_charges(problem: Problem, node_class: NodeClass) -> dict[str, dict[str, int]]:
    """Per eligible demand, what one replica takes out of a node of the class (see
    `charge_matrix`)."""
    demands = [d for d in problem.demands if node_class.id in d.eligible]
    requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands],
                        dtype=np.int64).reshape(len(demands), len(RESOURCES))
    charge, _ = charge_matrix(node_class, requests)
    return {d.name: dict(zip(RESOURCES, row)) for d, row in zip(demands, charge.tolist())}


def charge_matrix(node_class: NodeClass, requests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand that may use the class (rows of `requests`), what one replica takes out of
    a node of the class: its requests, or the whole node when no replica of anything that may
    run there fits in what it leaves; and which rows are charged the whole node.

    Charging such a replica the whole node is a valid cut (no placement uses that room), and
    the one that matters when requests and node shapes are mismatched: a replica that takes
    all of a node's memory strands its CPUs, which the class-level sums do not see.
    """
    capacity = np.array([node_class.capacity[r] for r in RESOURCES], dtype=np.int64)
    exclusive = np.zeros(len(requests), dtype=bool)
    if not len(requests):
        return requests.copy(), exclusive
    rest = capacity - requests
    shares = (requests / np.maximum(capacity, 1)).max(axis=1)
    smallest = requests[np.argsort(shares, kind="stable")[:8]]
    # most replicas leave room for one of the smallest; only the others need the full test
    maybe = ~(smallest[None, :, :] <= rest[:, None, :]).all(axis=2).any(axis=1)
    for index in np.flatnonzero(maybe):
        exclusive[index] = not (requests <= rest[index]).all(axis=1).any()
    charge = requests.copy()
    charge[exclusive] = capacity
    return charge, exclusive
