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
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.solve.groups import (
    AffinityGroup,
    BudgetGroup,
    BuyGroup,
    CapacityGroup,
    EligibleGroup,
    ExclusiveGroup,
    GangGroup,
    Group,
    LatencyGroup,
    PowerGroup,
    ReplicasGroup,
    SpreadGroup,
    ThroughputGroup,
)
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
    # class id -> its capacity rows' key, one object per class: the packing cuts of every
    # demand share it (a key made per row was most of the time to read the rows back)
    capacity_group: dict[str, CapacityGroup] = field(default_factory=dict)

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
    # spread workloads with fractional counts: domain -> class ids (see `relax_replicas`)
    spread_domains: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    met: dict[str, int] = field(default_factory=dict)  # option group -> binary: throughput met
    # workloads with latency rules and fractional counts: reach -> class ids
    reach_groups: dict[str, dict[tuple, list[str]]] = field(default_factory=dict)

    def capacity_terms(self, class_id: str) -> tuple[np.ndarray, np.ndarray, int]:
        """A class's capacity rows' terms: each replica's charge per resource (one row per
        workload that may use it), those workloads' y columns, and its node count u."""
        return self.charge_rows[class_id], self.here_columns[class_id], self.u[class_id]

    def relax_replicas(self) -> None:
        """Let replica counts be fractional where rounding can keep what the rules count, so
        that the MIP branches on node counts alone (HiGHS 14 s -> 1.0 s at 10,000 nodes,
        7 s at 50,000); its bound stays a valid lower bound, and `whole_counts` rounds.

        Rounding keeps each workload's total, for a spread over one topology the balance
        between domains, and for latency rules the replicas within reach of each location
        (whole totals per group of classes in the same reach). It never puts a replica where
        the solution had none, so presence in a domain, and with it anti-affinity, holds.
        Affinity (which needs the target present), rules per domain on a workload itself,
        and accelerator options keep their counts whole."""
        followed = {r.target for d in self.problem.demands for r in d.affinities if not r.anti}
        for demand in self.problem.demands:
            topologies = {s.topology for s in demand.spreads} - {"node"}
            ruled = any((r.target != "self" and not r.anti) or (r.target == "self" and r.topology != "node")
                        for r in demand.affinities)
            # an exact node spread (see `_encode_node_spread`) counts per node: keep it whole
            ruled = ruled or any(s.topology == "node" and f"min[{demand.name},{i}]" in self.model.by_name
                                 for i, s in enumerate(demand.spreads))
            # an option's count is weighed by its throughput: rounding could fall short of it
            if ruled or demand.name in followed or len(topologies) > 1 \
                    or (demand.latency and topologies) or demand.group is not None:
                continue
            relaxed = list(self.y.of.get(demand.name, {}).values()) + [self.placed[demand.name]]
            relaxed += [self.model.by_name[f"min[{demand.name},{i}]"]
                        for i in range(len(demand.spreads))
                        if f"min[{demand.name},{i}]" in self.model.by_name]
            self.model.set_continuous(relaxed)
            if topologies:
                self.spread_domains[demand.name] = _domains(self, demand, topologies.pop())
            elif demand.latency:
                self.reach_groups[demand.name] = _reach_groups(self.problem, demand)

    def whole_counts(self, solution: list[Value]) -> dict[tuple[str, str], int]:
        """Replicas per (workload, class), whole. Fractional counts are rounded so that each
        workload keeps its total; under a spread, domain totals are rounded first, extra
        replicas going to the domains with the fewest, which keeps the skew the solution had."""
        counts: dict[tuple[str, str], int] = {}
        for demand in self.problem.demands:
            value = {c: float(solution[self.y[demand.name, c]]) for c in demand.eligible}
            domains = self.spread_domains.get(demand.name)
            reaches = self.reach_groups.get(demand.name)
            shares: dict[str, int] = {}
            if reaches:  # whole totals per reach first: each stays >= what its rules need
                per_reach = _round_keeping_total({key: sum(value[c] for c in class_ids)
                                                  for key, class_ids in reaches.items()})
                for key, class_ids in reaches.items():
                    shares.update(_round_keeping_total({c: value[c] for c in class_ids}, per_reach[key]))
            elif not domains:
                shares = _round_keeping_total({c: value[c] for c in demand.eligible})
            else:
                inside = {c for class_ids in domains.values() for c in class_ids}
                outside = [c for c in demand.eligible if c not in inside]
                per_domain: dict[str | None, int] = dict(_round_balanced(
                    {d: sum(value[c] for c in cs) for d, cs in domains.items()}))
                per_domain[None] = _whole(sum(value.values())) - sum(per_domain.values())
                by_domain: dict[str | None, list[str]] = {d: cs for d, cs in domains.items()}
                by_domain[None] = outside
                for domain, class_ids in by_domain.items():
                    shares.update(_round_keeping_total({c: value[c] for c in class_ids},
                                                       per_domain[domain]))
            counts.update(((demand.name, c), amount) for c, amount in shares.items() if amount)
        return counts

    def start_values(self, packing: Packing) -> dict[int, float]:
        """A known per-node placement as values of the model's variables, for HiGHS to start
        from: nodes in use u[c], replicas y[w,c] and p[w], hosting counts n[w,c], presence
        z, gang clusters k, spread minimums and the switches that follow from them. The
        variables left out (node spreads' bits) HiGHS completes itself."""
        model, problem = self.model, self.problem
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
        by_name = model.by_name
        for (name, topology), domains in self._domains.items():
            mine = replicas.get(name, {})
            for value, class_ids in domains.items():
                switch = by_name.get(f"z[{name},{topology}={value}]")
                if switch is not None:
                    values[switch] = int(any(mine.get(c, 0) for c in class_ids))
        for demand in problem.demands:
            self._start_rules(demand, replicas.get(demand.name, {}), opened, values)
        return values

    def _start_rules(self, demand: Demand, mine: dict[str, int], opened: dict[str, int],
                     values: dict[int, float]) -> None:
        """Gang clusters, spread minimums over the domains that exist, latency switches."""
        by_name = self.model.by_name
        clusters: dict[str, int] = {}
        for class_id in demand.eligible:
            cluster = self.class_of[class_id].cluster
            clusters[cluster] = clusters.get(cluster, 0) + mine.get(class_id, 0)
        for cluster, amount in clusters.items():
            chosen = by_name.get(f"k[{demand.name},{cluster}]")
            if chosen is not None:
                values[chosen] = int(amount > 0)
        for index, spread in enumerate(demand.spreads):
            least = by_name.get(f"min[{demand.name},{index}]")
            if spread.topology == "node" or least is None:
                continue
            totals = []
            for value, class_ids in _domains(self, demand, spread.topology).items():
                exists = by_name.get(f"e[{demand.name},{spread.topology}={value}]")
                bought = any(opened.get(c, 0) for c in class_ids)
                if exists is not None:
                    values[exists] = int(bought)
                if exists is None or bought:
                    totals.append(sum(mine.get(c, 0) for c in class_ids))
            values[least] = min(totals, default=0)
        placed = sum(mine.values())
        for index in range(len(demand.latency)):
            switch = by_name.get(f"s[{demand.workload},latency:{index}]")
            if switch is not None:
                values[switch] = int(placed > 0 or values.get(switch, 0))
        chosen = by_name.get(f"b[{demand.name}]")
        if chosen is not None:
            values[chosen] = int(placed > 0)

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


def _reach_groups(problem: Problem, demand: Demand) -> dict[tuple, list[str]]:
    """Eligible classes grouped by which of the demand's latency rules they are in reach of."""
    groups: dict[tuple, list[str]] = {}
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        key = tuple(problem.within_reach(rule, node_class) for rule in demand.latency)
        groups.setdefault(key, []).append(class_id)
    return groups


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
           caps: dict[tuple[str, str], int] | None = None) -> Encoding:
    """`must_place`: every replica placed (else as many as fit); `min_nodes` and `caps`
    are cuts added when per-node packing needed more nodes than the aggregate model."""
    model = LinearModel()
    encoding = Encoding(model, problem)
    min_nodes = min_nodes or {}
    caps = caps or {}
    positions: dict[str, list[int]] = {c.id: [] for c in problem.classes}
    for position, demand in enumerate(problem.demands):
        for class_id in demand.eligible:
            positions[class_id].append(position)
    requests = np.array([[d.requests[r] for r in RESOURCES] for d in problem.demands],
                        dtype=np.int64).reshape(len(problem.demands), len(RESOURCES))
    encoding.capacity_group = {c.id: CapacityGroup(c.id) for c in problem.classes}
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
        _encode_demand(encoding, demand, must_place, caps, table)
    encoding.here_columns = table.columns_by_class(problem.classes)
    _encode_option_groups(encoding, must_place)
    _encode_capacity(encoding)
    _encode_limits(encoding)
    for run in problem.symmetric:
        for first, second in itertools.pairwise(run):
            model.add({encoding.u[first]: 1, encoding.u[second]: -1}, lower=0)
    latency = {members[0].name: members for members in problem.latency_demands()}
    for demand in problem.demands:
        _encode_affinities(encoding, demand)
        _encode_spreads(encoding, demand)
        if demand.name in latency:
            _encode_latency(encoding, latency[demand.name])
    return encoding


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
    return np.maximum(fit, 0)  # a node spread: `_encode_node_spread`


def _encode_demand(encoding: Encoding, demand: Demand, must_place: bool,
                   caps: dict[tuple[str, str], int], table: _ClassTable) -> None:
    """y[w,c] for every class the demand may use, and the class-level packing cut
    y <= fit x u where no capacity row implies it: in bulk, as arrays (one Python object
    per column and row was most of the time to build the model at fleet scale)."""
    model = encoding.model
    eligible = demand.eligible
    rows = np.array([table.position[c] for c in eligible], dtype=np.int64)
    capacity = table.capacity[rows].reshape(len(rows), len(RESOURCES))
    fit = _fits(demand, capacity)
    # the class's node count bounds this through the tracked capacity rows, not the
    # variable's bound, so that unsat cores name the pool
    upper = np.full(len(rows), demand.replicas, dtype=np.int64)
    if caps:
        for k, class_id in enumerate(eligible):
            upper[k] = min(demand.replicas, caps.get((demand.name, class_id), demand.replicas))
    name = demand.name
    first = model.vars("y[", lambda k: f"y[{name},{eligible[k]}]", np.zeros(len(rows), dtype=np.int64),
                       upper)
    columns = np.arange(first, first + len(rows), dtype=np.int64)
    encoding.y.of[name] = dict(zip(eligible, columns.tolist()))
    encoding.fit.of[name] = dict(zip(eligible, fit.tolist()))
    table.pairs.append((rows, columns))
    charge = np.broadcast_to(np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64),
                             capacity.shape).copy()
    whole = encoding.whole.get(name)
    if whole:
        charged = np.array([c in whole for c in eligible], dtype=bool)
        charge[charged] = capacity[charged]
    # a capacity row alone already says y <= fit x u where capacity <= fit x charge, i.e.
    # ceil(capacity / charge) <= fit (divided, not multiplied: bytes x replicas overflow int64)
    implied = ((charge > 0) & (-(-capacity // np.maximum(charge, 1)) <= fit[:, None])).any(axis=1)
    cut = np.flatnonzero(~implied)
    if len(cut):
        # one replica's worth of a node per `fit` replicas: the class-level packing cut
        u = np.array([encoding.u[eligible[k]] for k in cut.tolist()], dtype=np.int64)
        indices = np.stack([columns[cut], u], axis=1).ravel()
        data = np.stack([np.ones(len(cut), dtype=np.int64), -fit[cut]], axis=1).ravel()
        indptr = np.arange(0, 2 * len(cut) + 1, 2, dtype=np.int64)
        if (fit[cut] == 0).any():  # a zero coefficient is dropped, as `add` drops it
            keep = data != 0
            indptr = np.concatenate([[0], np.cumsum(keep.reshape(-1, 2).sum(axis=1))])
            indices, data = indices[keep], data[keep]
        pools: list[Group] = [encoding.capacity_group[eligible[k]] for k in cut.tolist()]
        model.add_rows(indptr, indices, data, np.full(len(cut), np.nan), np.zeros(len(cut)), pools)
    if demand.gang:
        _encode_one_cluster(encoding, demand)
    placed = model.var(f"p[{demand.name}]", 0, demand.replicas)
    encoding.placed[demand.name] = placed
    model.add_rows(np.array([0, len(columns) + 1]), np.append(columns, placed),
                   np.append(np.ones(len(columns), dtype=np.int64), -1), np.zeros(1), np.zeros(1),
                   EligibleGroup(demand.name))
    if demand.group is not None:
        return  # an option: how many it places is the option group's business
    if must_place and demand.replicas:
        model.add({placed: 1}, lower=demand.replicas, group=ReplicasGroup(demand.name))
    if demand.gang and not must_place and demand.replicas:
        switch = model.var(f"g[{demand.name}]", 0, 1)
        model.add({placed: 1, switch: -demand.replicas}, lower=0, upper=0,
                  group=GangGroup(demand.name))


def _encode_one_cluster(encoding: Encoding, demand: Demand) -> None:
    """A gang runs in one cluster, always: one binary per cluster its classes are in, at most
    one of them on, and replicas only where it is on."""
    model, problem = encoding.model, encoding.problem
    by_cluster: dict[str, list[str]] = {}
    for class_id in demand.eligible:
        by_cluster.setdefault(problem.node_class(class_id).cluster, []).append(class_id)
    if len(by_cluster) < 2:
        return
    choices: dict[int, Number] = {}
    for cluster, class_ids in sorted(by_cluster.items()):
        chosen = model.var(f"k[{demand.name},{cluster}]", 0, 1)
        model.add({**{encoding.y[demand.name, c]: 1 for c in class_ids}, chosen: -demand.replicas},
                  upper=0, group=GangGroup(demand.name))
        choices[chosen] = 1
    model.add(choices, upper=1, group=GangGroup(demand.name))


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


def _encode_option_groups(encoding: Encoding, must_place: bool) -> None:
    """Sum over options of throughput x replicas placed >= the workload's throughput. When not
    everything must be placed, a binary m[w] says whether the group is met; an unmet group places
    nothing. A gang picks one option (binary b) and places exactly its replicas there."""
    model = encoding.model
    for group in encoding.problem.option_groups:
        members = [encoding.problem.demand(name) for name in group.demands]
        supply = {encoding.placed[d.name]: d.throughput for d in members}
        met = None
        if must_place:
            model.add(supply, lower=group.required, group=ThroughputGroup(group.workload))
        else:
            met = model.var(f"m[{group.workload}]", 0, 1)
            encoding.met[group.workload] = met
            model.add({**supply, met: -group.required}, lower=0)
            for demand in members:
                model.add({encoding.placed[demand.name]: 1, met: -demand.replicas}, upper=0)
        if group.gang:
            choices = {}
            for demand in members:
                choice = model.var(f"b[{demand.name}]", 0, 1)
                model.add({encoding.placed[demand.name]: 1, choice: -demand.replicas},
                          lower=0, upper=0, group=GangGroup(group.workload))
                choices[choice] = 1
            if met is None:
                model.add(choices, upper=1, group=GangGroup(group.workload))
            else:
                model.add({**choices, met: -1}, upper=0, group=GangGroup(group.workload))


def _encode_capacity(encoding: Encoding) -> None:
    """Per class and resource: what the replicas take <= what the nodes in use have."""
    problem = encoding.problem
    for node_class in problem.classes:
        here = encoding.here[node_class.id]
        _capacity_rows(encoding, node_class, here)
        for demand in here:
            if demand.exclusive:
                _encode_exclusive(encoding, demand, node_class, here)


def _capacity_rows(encoding: Encoding, node_class: NodeClass, here: list[Demand]) -> None:
    """One row per resource some replica here takes: sum of charges x y <= capacity x u; and
    the fragmentation rows of `_fragment_rows`."""
    if not here:
        return
    charge, columns, u = encoding.capacity_terms(node_class.id)
    pointers: list[int] = [0]
    indices: list[Terms] = []
    data: list[Terms] = []
    for index, resource in enumerate(RESOURCES):
        taking = np.flatnonzero(charge[:, index])
        if not len(taking):
            continue
        indices += [columns[taking], [u]]
        data += [charge[taking, index], [-node_class.capacity[resource]]]
        if node_class.capacity[resource] == 0:  # a zero coefficient is dropped, as `add` drops it
            indices[-1], data[-1] = [], []
        pointers.append(pointers[-1] + len(taking) + len(indices[-1]))
    _add_at_most_zero(encoding, pointers, indices, data, encoding.capacity_group[node_class.id])
    _fragment_rows(encoding, node_class)


# the dual feasible functions tried per class and resource (k = 1: replicas over half a node).
# None by default: the rows raise the proven bound (inventory 1,000: 76.8 -> 79.6 USD/h) and
# made scipy's HiGHS plan better (final 88.5 against 89.3), but with HiGHS started from the
# greedy floor through highspy they kept it from improving on the start within 30 s (185.11,
# against 95.49 without them; k = 1 alone 146.00): see docs/performance.md, session 5
FRAGMENT_KS: tuple[int, ...] = ()
# a row is added only where it charges some replica this many percent of a node more
FRAGMENT_GAIN = 10


def fragment_weights(charge: np.ndarray, capacity: int, k: int) -> np.ndarray:
    """Fekete and Schepers' dual feasible function u(k) of each replica's share x of a node
    ("New classes of fast lower bounds for bin packing problems", 2001), times k(k+1) to
    keep it whole: k(k+1)x where (k+1)x is whole, else (k+1) floor((k+1)x). Whatever one
    node holds, the u(k) of its replicas sum to at most 1, so sum of u(k) x y <= u is valid
    for the class (the model stays a relaxation, its bound proven); with k = 1 it says that
    replicas over half a node take a node each, which the sums of requests do not see (two
    replicas of 0.51 of a node's CPUs on one node)."""
    whole, rest = np.divmod((k + 1) * charge, capacity)
    return np.where(rest == 0, k * whole, (k + 1) * whole)


def _fragment_rows(encoding: Encoding, node_class: NodeClass) -> None:
    """Per resource and k of FRAGMENT_KS: sum of k(k+1) u(k) x y <= k(k+1) x u (see
    `fragment_weights`), where it charges some replica more than the capacity row does, by
    at least 1% of a node (a row that says nothing new only slows the solver)."""
    charge, columns, u = encoding.capacity_terms(node_class.id)
    pointers: list[int] = [0]
    indices: list[Terms] = []
    data: list[Terms] = []
    for index, resource in enumerate(RESOURCES):
        capacity = node_class.capacity[resource]
        if not capacity or not charge[:, index].any():
            continue
        for k in FRAGMENT_KS:
            weights = fragment_weights(charge[:, index], capacity, k)
            scale = k * (k + 1)
            if not ((weights - scale * charge[:, index] / capacity) * 100 > FRAGMENT_GAIN * scale).any():
                continue
            taking = np.flatnonzero(weights)
            indices += [columns[taking], [u]]
            data += [weights[taking], [-scale]]
            pointers.append(pointers[-1] + len(taking) + 1)
    _add_at_most_zero(encoding, pointers, indices, data, encoding.capacity_group[node_class.id])


def _add_at_most_zero(encoding: Encoding, pointers: list[int], indices: list[Terms],
                      data: list[Terms], group: Group) -> None:
    """Rows `sum <= 0` gathered per resource as compressed rows (`pointers` into the
    concatenated `indices` and `data`), added as one block when there are any."""
    if len(pointers) > 1:
        rows = len(pointers) - 1
        encoding.model.add_rows(np.array(pointers), np.concatenate(indices).astype(np.int64),
                                np.concatenate(data).astype(np.int64), np.full(rows, np.nan),
                                np.zeros(rows), group)


def _encode_exclusive(encoding: Encoding, demand: Demand, node_class: NodeClass,
                      here: list[Demand]) -> None:
    """`exclusive`: the nodes hosting the workload (n[w,c]) hold nothing else, so the other
    workloads fit in the rest: sum of their charges + n x capacity <= u x capacity. One
    variable per class, not an anti-affinity towards every other workload (which kept every
    count whole); a group of its own, so that explanations can name it and drop it."""
    others = np.array([d.name != demand.name for d in here], dtype=bool)
    if not others.any():
        return
    hosting = _hosting(encoding, demand, node_class.id)
    charge, columns, u = encoding.capacity_terms(node_class.id)
    pointers: list[int] = [0]
    indices: list[Terms] = []
    data: list[Terms] = []
    for index, resource in enumerate(RESOURCES):
        capacity = node_class.capacity[resource]
        taking = np.flatnonzero(others & (charge[:, index] > 0))
        if not capacity or not len(taking):
            continue
        indices += [columns[taking], [hosting, u]]
        data += [charge[taking, index], [capacity, -capacity]]
        pointers.append(pointers[-1] + len(taking) + 2)
    _add_at_most_zero(encoding, pointers, indices, data, ExclusiveGroup(demand.name))


def _encode_limits(encoding: Encoding) -> None:
    model, problem = encoding.model, encoding.problem
    terms: dict[int, Number]
    for group, limit in sorted(problem.buy_limits.items()):
        terms = {encoding.u[c.id]: 1 for c in problem.classes if c.buy_group == group}
        if terms:
            model.add(terms, upper=limit, group=BuyGroup(group))
    if problem.budget is not None:
        terms = {encoding.u[c.id]: c.price for c in problem.classes if c.price}
        model.add(terms, upper=problem.budget, group=BudgetGroup())
    for index, cap in enumerate(problem.power_caps):
        watts = {c.id: c.power_watts for c in problem.classes}
        terms = {encoding.u[c]: watts[c] for c in cap.classes if watts[c]}
        if terms:
            model.add(terms, upper=cap.cap_watts, group=PowerGroup(index))


def _domains(encoding: Encoding, demand: Demand, topology: str) -> dict[str, list[str]]:
    """Topology value -> eligible classes of `demand` that carry it (kept: several rules ask)."""
    key = (demand.name, topology)
    if key in encoding._domains:
        return encoding._domains[key]
    domains: dict[str, list[str]] = encoding._domains.setdefault(key, {})
    for class_id in demand.eligible:
        value = encoding.topology_value(class_id, topology)
        if value is not None:
            domains.setdefault(value, []).append(class_id)
    return domains


def _presence(encoding: Encoding, demand: Demand, topology: str) -> dict[str, int]:
    """Binary z[w,d]: does `demand` run anywhere in domain d of `topology`?"""
    model = encoding.model
    presence: dict[str, int] = {}
    for value, class_ids in sorted(_domains(encoding, demand, topology).items()):
        name = f"z[{demand.name},{topology}={value}]"
        if name in model.by_name:
            presence[value] = model.by_name[name]
            continue
        switch = model.var(name, 0, 1)
        terms = {encoding.y[demand.name, c]: 1 for c in class_ids}
        model.add({**terms, switch: -demand.replicas}, upper=0)
        model.add({**terms, switch: -1}, lower=0)
        presence[value] = switch
    return presence


def _hosting(encoding: Encoding, demand: Demand, class_id: str) -> int:
    """Integer n[w,c]: nodes of class c that host at least one replica of `demand` (made
    in bulk instead by `_node_rule_rows`)."""
    key = (demand.name, class_id)
    index = encoding.hosting.get(key)
    if index is not None:
        return index
    model = encoding.model
    y, fit, u = encoding.y[key], encoding.fit[key], encoding.u[class_id]
    index = model.var(f"n[{demand.name},{class_id}]", 0, encoding.problem.node_class(class_id).count)
    buffer = RowBuffer()
    encoding.hosting[key] = index
    buffer.add((y, index), (1, -fit), None, 0, None)
    buffer.add((index, y), (1, -1), None, 0, None)
    buffer.add((index, u), (1, -1), None, 0, None)
    buffer.flush(model)
    return index


def _encode_affinities(encoding: Encoding, demand: Demand) -> None:
    model, problem = encoding.model, encoding.problem
    for index, rule in enumerate(demand.affinities):
        group = AffinityGroup(demand.name, index)
        if rule.target == "self":
            if rule.topology == "node":
                continue  # in replicas_per_node: at most one replica per node
            for class_ids in _domains(encoding, demand, rule.topology).values():
                model.add({encoding.y[demand.name, c]: 1 for c in class_ids}, upper=1, group=group)
            continue
        other = next((d for d in problem.demands if d.name == rule.target), None)
        if other is None:
            continue
        if rule.topology == "node":
            _node_rule(encoding, demand, other, rule.anti, group)
        else:
            _domain_rule(encoding, demand, other, rule.topology, rule.anti, group)


def _node_rule(encoding: Encoding, demand: Demand, other: Demand, anti: bool,
               group: AffinityGroup) -> None:
    """Between two workloads on the same nodes, per class both may use: anti-affinity
    n[w,c] + n[v,c] <= u[c]; affinity n[w,c] <= n[v,c]; on classes the target may not use,
    no replica. Built as arrays: pairwise rules made hundreds of thousands of these rows and
    of the node counts n they need at 10,000 nodes (see `_node_rule_rows`)."""
    if demand.name == other.name:  # one variable for both sides: row by row, merged
        rows = RowBuffer()
        for class_id in demand.eligible:
            mine = _hosting(encoding, demand, class_id)
            rows.add((mine, mine) + ((encoding.u[class_id],) if anti else ()),
                     (1, 1, -1) if anti else (1, -1), None, 0, group)
        rows.flush(encoding.model)
        return
    _node_rule_rows(encoding, demand, other, anti, group)


def _node_rule_rows(encoding: Encoding, demand: Demand, other: Demand, anti: bool,
                    group: AffinityGroup) -> None:
    """Rows in the order `_hosting` and one row per class would add them: per eligible class,
    the three rows of each node count made there (first the workload's, then the target's),
    then the rule's row. Each class has seven slots of up to three terms; the slots in use
    are kept, in order."""
    model, eligible = encoding.model, demand.eligible
    mine_y, theirs_y = encoding.y.of.get(demand.name, {}), encoding.y.of.get(other.name, {})
    shared = np.array([c in theirs_y for c in eligible], dtype=bool)
    if anti and not shared.any():
        return
    size = len(eligible)
    hosting = encoding.hosting
    known_mine = np.array([hosting.get((demand.name, c), -1) for c in eligible], dtype=np.int64)
    known_theirs = np.array([hosting.get((other.name, c), -1) if s else -1
                             for c, s in zip(eligible, shared.tolist())], dtype=np.int64)
    new_mine, new_theirs = shared & (known_mine < 0), shared & (known_theirs < 0)
    created = np.stack([new_mine, new_theirs], axis=1).ravel()  # in the order they are made
    numbers = model.variable_count + np.cumsum(created) - 1
    mine = np.where(new_mine, numbers[0::2], known_mine)
    theirs = np.where(new_theirs, numbers[1::2], known_theirs)
    y_mine = np.array([mine_y[c] for c in eligible], dtype=np.int64)
    y_theirs = np.array([theirs_y.get(c, -1) for c in eligible], dtype=np.int64)
    fit_mine = np.array([encoding.fit.of[demand.name][c] for c in eligible], dtype=np.int64)
    fit_theirs = np.array([encoding.fit.of[other.name].get(c, 0) for c in eligible], dtype=np.int64)
    u = np.array([encoding.u[c] for c in eligible], dtype=np.int64)
    zero, one = np.zeros(size, dtype=np.int64), np.ones(size, dtype=np.int64)
    columns = np.zeros((size, 7, 3), dtype=np.int64)
    data = np.zeros((size, 7, 3), dtype=np.int64)
    for slot, (n, y, fit) in enumerate(((mine, y_mine, fit_mine), (theirs, y_theirs, fit_theirs))):
        base = 3 * slot
        columns[:, base] = np.stack([y, n, zero], axis=1)
        data[:, base] = np.stack([one, -fit, zero], axis=1)
        columns[:, base + 1] = np.stack([n, y, zero], axis=1)
        data[:, base + 1] = np.stack([one, -one, zero], axis=1)
        columns[:, base + 2] = np.stack([n, u, zero], axis=1)
        data[:, base + 2] = np.stack([one, -one, zero], axis=1)
    if anti:
        columns[:, 6] = np.stack([mine, theirs, u], axis=1)
        data[:, 6] = np.stack([one, one, -one], axis=1)
    else:  # affinity; where the target may not run, no replica: y <= 0
        columns[:, 6] = np.where(shared[:, None], np.stack([mine, theirs, zero], axis=1),
                                 np.stack([y_mine, zero, zero], axis=1))
        data[:, 6] = np.where(shared[:, None], np.stack([one, -one, zero], axis=1),
                              np.stack([one, zero, zero], axis=1))
    used = np.zeros((size, 7), dtype=bool)
    used[:, 0:3] = new_mine[:, None]
    used[:, 3:6] = new_theirs[:, None]
    used[:, 6] = shared | (not anti)
    terms = used[:, :, None] & (data != 0)
    counts = terms.sum(axis=2)[used]
    groups = np.where(np.arange(7) == 6, 1, 0)[None, :].repeat(size, axis=0)[used]
    made = [(demand.name, c) if side == 0 else (other.name, c)
            for c, pair in zip(eligible, created.reshape(size, 2).tolist())
            for side, new in enumerate(pair) if new]
    for key, number in zip(made, range(model.variable_count, model.variable_count + len(made))):
        hosting[key] = number
    if made:
        counts_of = {c.id: c.count for c in map(encoding.problem.node_class, {c for _, c in made})}
        model.vars("n[", lambda k: f"n[{made[k][0]},{made[k][1]}]",
                   np.zeros(len(made), dtype=np.int64),
                   np.array([counts_of[c] for _, c in made], dtype=np.int64))
    if len(counts):
        rule_rows: list[Group | None] = [group if g else None for g in groups.tolist()]
        model.add_rows(np.concatenate([[0], np.cumsum(counts)]), columns[terms], data[terms],
                       np.full(len(counts), np.nan), np.zeros(len(counts)), rule_rows)


def _domain_rule(encoding: Encoding, demand: Demand, other: Demand, topology: str, anti: bool,
                 group: AffinityGroup) -> None:
    model = encoding.model
    mine = _presence(encoding, demand, topology)
    theirs = _presence(encoding, other, topology)
    for class_id in demand.eligible:
        if encoding.topology_value(class_id, topology) is None and not anti:
            model.add({encoding.y[demand.name, class_id]: 1}, upper=0, group=group)
    for value, switch in mine.items():
        if anti and value in theirs:
            model.add({switch: 1, theirs[value]: 1}, upper=1, group=group)
        elif not anti:
            if value in theirs:
                model.add({switch: 1, theirs[value]: -1}, upper=0, group=group)
            else:
                model.add({switch: 1}, upper=0, group=group)


def _encode_spreads(encoding: Encoding, demand: Demand) -> None:
    """Replicas per domain lie between `least` and `least + max_skew`, over the domains that
    exist: those of the eligible nodes the fleet has, and of offers only where nodes are bought
    (a domain with nothing bought has no nodes, as `verify` counts them)."""
    model = encoding.model
    for index, spread in enumerate(demand.spreads):
        group = SpreadGroup(demand.name, index)
        if spread.topology == "node":
            _encode_node_spread(encoding, demand, index, spread.max_skew, group)
            continue
        domains = _domains(encoding, demand, spread.topology)
        if len(domains) < 2:
            continue
        least = model.var(f"min[{demand.name},{index}]", 0, demand.replicas)
        for value, class_ids in domains.items():
            terms = {encoding.y[demand.name, c]: 1 for c in class_ids}
            exists = _domain_exists(encoding, [encoding.class_of[c] for c in class_ids],
                                    f"{demand.name},{spread.topology}={value}")
            if exists is None:
                model.add({**terms, least: -1}, lower=0, group=group)
            else:  # least <= replicas here, unless no node of the domain is bought
                model.add({**terms, least: -1, exists: -demand.replicas}, lower=-demand.replicas,
                          group=group)
            model.add({**terms, least: -1}, upper=spread.max_skew, group=group)


def _domain_exists(encoding: Encoding, classes: list[NodeClass], name: str) -> int | None:
    """None when the domain has nodes of its own; else a binary that is 1 when nodes are bought
    in it (it may be 1 otherwise too, which only adds a constraint)."""
    if any(not c.provisioned and c.count > 0 for c in classes):
        return None
    model = encoding.model
    exists = model.var(f"e[{name}]", 0, 1)
    for node_class in classes:
        model.add({encoding.u[node_class.id]: 1, exists: -node_class.count}, upper=0)
    return exists


def _encode_node_spread(encoding: Encoding, demand: Demand, index: int, skew: int,
                        group: SpreadGroup) -> None:
    """`spread node max_skew K`: every node of an eligible class hosts between `least` and
    `least + K` replicas, the nodes of a class sharing its count evenly (which `pack` does).
    On a class of `count` fixed nodes that is `count * least <= y <= count * least + K * u`,
    and `least` may be above 0 only when every node of the class is in use (`some`); on an
    offer, `least * u` (nodes bought) is linearised over the bits of `least`."""
    problem, model = encoding.problem, encoding.model
    classes = [problem.node_class(c) for c in demand.eligible]
    if not classes:
        return
    fixed = sum(c.count for c in classes if not c.provisioned)
    most_least = demand.replicas // fixed if fixed else demand.replicas
    least = model.var(f"min[{demand.name},{index}]", 0, most_least)
    some = model.var(f"min>0[{demand.name},{index}]", 0, 1)
    model.add({least: 1, some: -most_least}, upper=0, group=group)
    bits: list[int] = []
    for node_class in classes:
        y, u = encoding.y[demand.name, node_class.id], encoding.u[node_class.id]
        if not node_class.provisioned:
            model.add({y: 1, least: -node_class.count}, lower=0, group=group)
            model.add({y: 1, least: -node_class.count, u: -skew}, upper=0, group=group)
            model.add({u: 1, some: -node_class.count}, lower=0, group=group)
        elif node_class.count == 1:  # one node that may be bought: least * u, u binary
            model.add({y: 1, least: -1}, upper=skew, group=group)
            model.add({y: 1, least: -1, u: -demand.replicas}, lower=-demand.replicas, group=group)
        else:
            if not bits:
                bits = _bits_of(model, least, most_least, f"{demand.name},{index}", group)
            bought = _times_bits(model, u, node_class.count, bits, f"{demand.name},{node_class.id}")
            model.add({y: 1, **{z: -c for z, c in bought.items()}}, lower=0, group=group)
            model.add({y: 1, **{z: -c for z, c in bought.items()}, u: -skew}, upper=0, group=group)


def _bits_of(model: LinearModel, value: int, most: int, name: str, group: SpreadGroup) -> list[int]:
    """Binaries b_j with value = sum 2^j b_j."""
    bits = [model.var(f"bit{j}[{name}]", 0, 1) for j in range(max(1, most.bit_length()))]
    model.add({value: 1, **{b: -(1 << j) for j, b in enumerate(bits)}}, lower=0, upper=0,
              group=group)
    return bits


def _times_bits(model, count: int, most: int, bits: list[int], name: str) -> dict[int, int]:
    """Terms equal to (count * sum 2^j b_j) for an integer 0 <= count <= most: z_j = count * b_j
    exactly, by the three rows that pin a product of a binary and a bounded integer."""
    terms = {}
    for j, bit in enumerate(bits):
        z = model.var(f"zb{j}[{name}]", 0, most)
        model.add({z: 1, bit: -most}, upper=0)
        model.add({z: 1, count: -1}, upper=0)
        model.add({z: 1, count: -1, bit: -most}, lower=-most)
        terms[z] = 1 << j
    return terms


def _encode_latency(encoding: Encoding, members: list[Demand]) -> None:
    """Once any replica is placed, at least K of them run where users in the rule's location
    reach them within its limit; the switch lets an unplaced workload (allow_unplaced,
    priorities) meet the rule by running nowhere. The replicas of a workload's accelerator
    options (`members`) count together."""
    model, problem = encoding.model, encoding.problem
    workload = members[0].workload
    for index, rule in enumerate(members[0].latency):
        reach = {encoding.y[demand.name, c]: 1 for demand in members for c in demand.eligible
                 if problem.within_reach(rule, problem.node_class(c))}
        switch = model.var(f"s[{workload},latency:{index}]", 0, 1)
        for demand in members:
            model.add({encoding.placed[demand.name]: 1, switch: -demand.replicas}, upper=0)
        model.add({**reach, switch: -rule.replicas}, lower=0,
                  group=LatencyGroup(workload, rule.location))
