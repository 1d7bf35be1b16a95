"""The aggregated placement model (see ../shared/solver-notes.md).

Variables: y[w,c] replicas of workload w on class c (only where w may run on
c), u[c] nodes of c in use, p[w] replicas of w placed, g[w] gang switch,
presence z[w,d] of w in a topology domain d where affinity rules need it,
n[w,c] nodes of c hosting w where node-level rules between workloads need it.
Constraint groups are named after the rule they come from, so that an unsat
core reads as a list of rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, replicas_per_node
from fitlang.solve.linear import LinearModel, Number, Value


@dataclass
class Encoding:
    model: LinearModel
    problem: Problem
    y: dict[tuple[str, str], int] = field(default_factory=dict)
    u: dict[str, int] = field(default_factory=dict)
    placed: dict[str, int] = field(default_factory=dict)
    fit: dict[tuple[str, str], int] = field(default_factory=dict)
    # what one replica takes out of a node in the capacity rows (see `node_charges`)
    charges: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # spread workloads with fractional counts: domain -> class ids (see `relax_replicas`)
    spread_domains: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    met: dict[str, int] = field(default_factory=dict)  # option group -> binary: throughput met
    # workloads with latency rules and fractional counts: reach -> class ids
    reach_groups: dict[str, dict[tuple, list[str]]] = field(default_factory=dict)

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
            relaxed = [self.y[demand.name, c] for c in demand.eligible] + [self.placed[demand.name]]
            relaxed += [self.model.by_name[f"min[{demand.name},{i}]"]
                        for i in range(len(demand.spreads))
                        if f"min[{demand.name},{i}]" in self.model.by_name]
            for index in relaxed:
                self.model.variables[index].integer = False
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
            groups = self.reach_groups.get(demand.name)
            if groups:  # whole totals per reach first: each stays >= what its rules need
                totals = _round_keeping_total({key: sum(value[c] for c in class_ids)
                                               for key, class_ids in groups.items()})
                shares = {}
                for key, class_ids in groups.items():
                    shares.update(_round_keeping_total({c: value[c] for c in class_ids}, totals[key]))
            elif not domains:
                shares = _round_keeping_total({c: value[c] for c in demand.eligible})
            else:
                inside = {c for class_ids in domains.values() for c in class_ids}
                groups = {**domains, None: [c for c in demand.eligible if c not in inside]}
                totals = _round_balanced({d: sum(value[c] for c in cs)
                                          for d, cs in groups.items() if d is not None})
                totals[None] = _whole(sum(value.values())) - sum(totals.values())
                shares = {}
                for domain, class_ids in groups.items():
                    shares.update(_round_keeping_total({c: value[c] for c in class_ids}, totals[domain]))
            counts.update(((demand.name, c), amount) for c, amount in shares.items() if amount)
        return counts

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


def _round_keeping_total(values: dict[str, float], total: int | None = None) -> dict[str, int]:
    """Largest remainders first (then the given order), so that the sum stays `total`."""
    total = _whole(sum(values.values())) if total is None else total
    whole = {key: int(v) for key, v in values.items()}
    order = sorted(values, key=lambda key: -(values[key] - whole[key]))
    for key in order[: max(0, total - sum(whole.values()))]:
        whole[key] += 1
    return whole


def _round_balanced(totals: dict[str, float]) -> dict[str, int]:
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
    for node_class in problem.classes:
        lower = min(min_nodes.get(node_class.id, 0), node_class.count)
        encoding.u[node_class.id] = model.var(f"u[{node_class.id}]", lower, node_class.count)
        encoding.charges[node_class.id] = node_charges(problem, node_class)
    for demand in problem.demands:
        _encode_demand(encoding, demand, must_place, caps)
    _encode_option_groups(encoding, must_place)
    _encode_capacity(encoding)
    _encode_limits(encoding)
    for run in problem.symmetric:
        for first, second in zip(run, run[1:]):
            model.add({encoding.u[first]: 1, encoding.u[second]: -1}, lower=0)
    latency = {members[0].name: members for members in problem.latency_demands()}
    for demand in problem.demands:
        _encode_affinities(encoding, demand)
        _encode_spreads(encoding, demand)
        if demand.name in latency:
            _encode_latency(encoding, latency[demand.name])
    return encoding


def _encode_demand(encoding: Encoding, demand: Demand, must_place: bool,
                   caps: dict[tuple[str, str], int]) -> None:
    model, problem = encoding.model, encoding.problem
    terms: dict[int, Number] = {}
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        fit = replicas_per_node(demand, node_class)  # a node spread: `_encode_node_spread`
        encoding.fit[demand.name, class_id] = fit
        # the class's node count bounds this through the tracked capacity rows, not the
        # variable's bound, so that unsat cores name the pool
        upper = min(demand.replicas, caps.get((demand.name, class_id), demand.replicas))
        index = model.var(f"y[{demand.name},{class_id}]", 0, upper)
        encoding.y[demand.name, class_id] = index
        terms[index] = 1
        if not _implied_by_capacity(fit, encoding.charges[class_id][demand.name], node_class):
            # one replica's worth of a node per `fit` replicas: the class-level packing cut
            model.add({index: 1, encoding.u[class_id]: -fit}, upper=0, group=f"capacity:{class_id}")
    if demand.gang:
        _encode_one_cluster(encoding, demand)
    placed = model.var(f"p[{demand.name}]", 0, demand.replicas)
    encoding.placed[demand.name] = placed
    model.add({**terms, placed: -1}, lower=0, upper=0, group=f"eligible:{demand.name}")
    if demand.group is not None:
        return  # an option: how many it places is the option group's business
    if must_place and demand.replicas:
        model.add({placed: 1}, lower=demand.replicas, group=f"replicas:{demand.name}")
    if demand.gang and not must_place and demand.replicas:
        switch = model.var(f"g[{demand.name}]", 0, 1)
        model.add({placed: 1, switch: -demand.replicas}, lower=0, upper=0,
                  group=f"gang:{demand.name}")


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
                  upper=0, group=f"gang:{demand.name}")
        choices[chosen] = 1
    model.add(choices, upper=1, group=f"gang:{demand.name}")


def node_charges(problem: Problem, node_class: NodeClass) -> dict[str, dict[str, int]]:
    """Per eligible demand, what one replica takes out of a node of the class: its requests,
    or the whole node when no replica of anything that may run there fits in what it leaves.

    Charging such a replica the whole node is a valid cut (no placement uses that room), and
    the one that matters when requests and node shapes are mismatched: a replica that takes
    all of a node's memory strands its CPUs, which the class-level sums do not see.
    """
    demands = [d for d in problem.demands if node_class.id in d.eligible]
    if not demands:
        return {}
    capacity = np.array([node_class.capacity[r] for r in RESOURCES], dtype=np.int64)
    requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands], dtype=np.int64)
    rest = capacity - requests
    shares = (requests / np.maximum(capacity, 1)).max(axis=1)
    smallest = requests[np.argsort(shares, kind="stable")[:8]]
    # most replicas leave room for one of the smallest; only the others need the full test
    maybe = ~(smallest[None, :, :] <= rest[:, None, :]).all(axis=2).any(axis=1)
    exclusive = np.zeros(len(demands), dtype=bool)
    for index in np.flatnonzero(maybe):
        exclusive[index] = not (requests <= rest[index]).all(axis=1).any()
    charges = {}
    for index, demand in enumerate(demands):
        if exclusive[index]:
            charges[demand.name] = {r: node_class.capacity[r] for r in RESOURCES}
        else:
            charges[demand.name] = demand.requests
    return charges


def _implied_by_capacity(fit: int, charge: dict[str, int], node_class: NodeClass) -> bool:
    """Does one capacity row alone already say y <= fit * u?"""
    return any(charge[r] and node_class.capacity[r] <= fit * charge[r] for r in RESOURCES)


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
            model.add(supply, lower=group.required, group=f"throughput:{group.workload}")
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
                          lower=0, upper=0, group=f"gang:{group.workload}")
                choices[choice] = 1
            if met is None:
                model.add(choices, upper=1, group=f"gang:{group.workload}")
            else:
                model.add({**choices, met: -1}, upper=0, group=f"gang:{group.workload}")


def _encode_capacity(encoding: Encoding) -> None:
    """Per class and resource: what the replicas take <= what the nodes in use have."""
    model, problem = encoding.model, encoding.problem
    for node_class in problem.classes:
        charges = encoding.charges[node_class.id]
        here = [d for d in problem.demands if (d.name, node_class.id) in encoding.y]
        for resource in RESOURCES:
            terms: dict[int, Number] = {}
            for demand in here:
                if charges[demand.name][resource]:
                    terms[encoding.y[demand.name, node_class.id]] = charges[demand.name][resource]
            if terms:
                terms[encoding.u[node_class.id]] = -node_class.capacity[resource]
                model.add(terms, upper=0, group=f"capacity:{node_class.id}")
        for demand in here:
            if demand.exclusive:
                _encode_exclusive(encoding, demand, node_class, here)


def _encode_exclusive(encoding: Encoding, demand: Demand, node_class: NodeClass,
                      here: list[Demand]) -> None:
    """`exclusive`: the nodes hosting the workload (n[w,c]) hold nothing else, so the other
    workloads fit in the rest: sum of their charges + n x capacity <= u x capacity. One
    variable per class, not an anti-affinity towards every other workload (which kept every
    count whole); a group of its own, so that explanations can name it and drop it."""
    others = [d for d in here if d.name != demand.name]
    if not others:
        return
    model = encoding.model
    hosting = _hosting(encoding, demand, node_class.id)
    charges = encoding.charges[node_class.id]
    for resource in RESOURCES:
        if not node_class.capacity[resource]:
            continue
        terms: dict[int, Number] = {encoding.y[d.name, node_class.id]: charges[d.name][resource]
                                    for d in others if charges[d.name][resource]}
        if terms:
            terms[hosting] = node_class.capacity[resource]
            terms[encoding.u[node_class.id]] = -node_class.capacity[resource]
            model.add(terms, upper=0, group=f"exclusive:{demand.name}")


def _encode_limits(encoding: Encoding) -> None:
    model, problem = encoding.model, encoding.problem
    for group, limit in sorted(problem.buy_limits.items()):
        terms = {encoding.u[c.id]: 1 for c in problem.classes if c.buy_group == group}
        if terms:
            model.add(terms, upper=limit, group=f"buy:{group}")
    if problem.budget is not None:
        terms = {encoding.u[c.id]: c.price for c in problem.classes if c.price}
        model.add(terms, upper=problem.budget, group="budget")
    for index, cap in enumerate(problem.power_caps):
        watts = {c.id: c.power_watts for c in problem.classes}
        terms = {encoding.u[c]: watts[c] for c in cap.classes if watts[c]}
        if terms:
            model.add(terms, upper=cap.cap_watts, group=f"power:{index}")


def _domains(encoding: Encoding, demand: Demand, topology: str) -> dict[str, list[str]]:
    """Topology value -> eligible classes of `demand` that carry it."""
    domains: dict[str, list[str]] = {}
    for class_id in demand.eligible:
        value = encoding.problem.node_class(class_id).topology_value(topology)
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
    """Integer n[w,c]: nodes of class c that host at least one replica of `demand`."""
    model = encoding.model
    name = f"n[{demand.name},{class_id}]"
    if name in model.by_name:
        return model.by_name[name]
    y = encoding.y[demand.name, class_id]
    fit = encoding.fit[demand.name, class_id]
    count = model.var(name, 0, encoding.problem.node_class(class_id).count)
    model.add({y: 1, count: -fit}, upper=0)
    model.add({count: 1, y: -1}, upper=0)
    model.add({count: 1, encoding.u[class_id]: -1}, upper=0)
    return count


def _encode_affinities(encoding: Encoding, demand: Demand) -> None:
    model, problem = encoding.model, encoding.problem
    for index, rule in enumerate(demand.affinities):
        group = f"affinity:{demand.name}:{index}"
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


def _node_rule(encoding: Encoding, demand: Demand, other: Demand, anti: bool, group: str) -> None:
    model = encoding.model
    for class_id in demand.eligible:
        if anti:
            if (other.name, class_id) not in encoding.y:
                continue
            mine, theirs = _hosting(encoding, demand, class_id), _hosting(encoding, other, class_id)
            model.add({mine: 1, theirs: 1, encoding.u[class_id]: -1}, upper=0, group=group)
        elif (other.name, class_id) in encoding.y:
            mine, theirs = _hosting(encoding, demand, class_id), _hosting(encoding, other, class_id)
            model.add({mine: 1, theirs: -1}, upper=0, group=group)
        else:
            model.add({encoding.y[demand.name, class_id]: 1}, upper=0, group=group)


def _domain_rule(encoding: Encoding, demand: Demand, other: Demand, topology: str, anti: bool,
                 group: str) -> None:
    model = encoding.model
    mine = _presence(encoding, demand, topology)
    theirs = _presence(encoding, other, topology)
    for class_id in demand.eligible:
        if encoding.problem.node_class(class_id).topology_value(topology) is None and not anti:
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
        group = f"spread:{demand.name}:{index}"
        if spread.topology == "node":
            _encode_node_spread(encoding, demand, index, spread.max_skew, group)
            continue
        domains = _domains(encoding, demand, spread.topology)
        if len(domains) < 2:
            continue
        least = model.var(f"min[{demand.name},{index}]", 0, demand.replicas)
        for value, class_ids in domains.items():
            terms = {encoding.y[demand.name, c]: 1 for c in class_ids}
            exists = _domain_exists(encoding, [encoding.problem.node_class(c) for c in class_ids],
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
                        group: str) -> None:
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


def _bits_of(model, value: int, most: int, name: str, group: str) -> list[int]:
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
                  group=f"latency:{workload}:{rule.location}")
