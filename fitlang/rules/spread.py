"""`spread <topology> max_skew K` on a workload: its replicas per domain of the topology (zone,
region, a label; `node`) differ by at most K, over the domains of the nodes it may use."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import SpreadRule, Workload
from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import RESOURCES, Demand, Exclusion, NodeClass, Problem
from fitlang.rules import option_spread
from fitlang.rules.base import (
    CheckReads,
    Fleet,
    GroupKey,
    OnNodes,
    PartKind,
    Placed,
    Rounding,
    Rows,
    Rule,
    Stated,
    TopologyValues,
    Unsatisfiable,
    domain_of,
    spread_least,
)
from fitlang.rules.explaining import demands_of, where
from fitlang.rules.option_spread import over_options

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.eligibility import ClassFacets
    from fitlang.rules.timing import Run
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.linear import LinearModel
    from fitlang.solve.timeline import TimeEncoding


def topologies_excluded(topologies: set[str], facets: ClassFacets) -> np.ndarray | None:
    """Per class: has it no value for one of `topologies`? As Kubernetes reads a topology key:
    a node without it is in no domain, so a rule over that topology cannot be met there, and
    the replicas it binds may not run there."""
    allowed = None
    for topology in sorted(topologies - {"node"}):
        found = _in_a_domain(facets, topology)
        allowed = found if allowed is None else allowed & found
    return None if allowed is None else ~allowed


def _in_a_domain(facets: ClassFacets, topology: str) -> np.ndarray:
    def domain(node_class: NodeClass) -> str | None:
        return node_class.topology_value(topology)

    return facets.passing(("topology", topology), domain, lambda c: domain(c) is not None)


def reads(workload: Workload) -> Hashable:
    return tuple(sorted({s.topology for s in workload.spreads}))


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    return topologies_excluded({s.topology for s in workload.spreads}, facets)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    for index, spread in enumerate(workload.spreads):
        if spread.topology != "node" and node_class.topology_value(spread.topology) is None:
            yield Exclusion(f"spread {spread.topology}", spread.origin,
                            f"nodes have no {spread.topology}", source="spread", index=index)


def warnings(workload: Workload, fleet: Fleet) -> Iterator[Unsatisfiable]:
    """A spread over a topology no node has a value of: the workload runs nowhere. Found as a
    user (session 55): `spread zone` on a fleet all bought (a bought node has a region and no
    zone) checked clean, and `solve` said only that the spread and the replicas conflict."""
    for spread in workload.spreads:
        topology = spread.topology
        if topology == "node" or any(c.topology_value(topology) is not None for c in fleet.classes):
            continue
        bought = topology == "zone" and any(c.provisioned for c in fleet.classes)
        label = topology not in ("zone", "region")
        yield Unsatisfiable(spread.origin, f'spread "{topology}"' if label else f"spread {topology}",
                            f"; no node has the label `{topology}`" if label else
                            f"; no node has a {topology}"
                            + ("; a node bought has a region and no zone" if bought else ""))


def _off_nodes_without(problem: Problem, part: Part, topology: str) -> str:
    """What the spread keeps its workload off, for want of a value of its topology (nodes in
    no domain), that it would fit on: '' where nothing."""
    from fitlang.solve.explain import search

    if topology == "node":
        return ""
    pools, _ = search.ruled_out(problem, part)
    if not pools:
        return ""
    bought = topology == "zone" and any(problem.node_class(c).provisioned for c in pools)
    return (f"; a node with no {topology} is in no domain of it, so it may not run on "
            f"{search.pools_named(problem, pools)}"
            + (" (a node bought has a region and no zone)" if bought else ""))


class _ClassDomains:
    """The domains (zone, region, label value) and node counts of the classes a workload may
    use, for the classes with nodes here: worked out once per distinct eligibility list
    (`build_problem` shares one between workloads that may use the same classes), not once
    per spread workload and class (that was most of `verify` at 50,000 breaker nodes, where
    most workloads may use most of 7,000 classes)."""

    def __init__(self, problem: Problem, nodes_of: dict[str, int]) -> None:
        self.classes = [c for c in problem.classes if c.id in nodes_of]
        self.nodes_of = nodes_of
        self.by_topology: dict[str, dict[str, str | None]] = {}
        self.known: dict[tuple[int, str], tuple[list, int]] = {}  # keyed by id: lists stay alive

    def domains(self, eligible: list[str], topology: str) -> tuple[list, int]:
        """(the domains of `topology` the classes with nodes span, their nodes)."""
        key = (id(eligible), topology)
        found = self.known.get(key)
        if found is None:
            with_nodes = [c for c in eligible if c in self.nodes_of]  # classes with nodes
            nodes = sum(self.nodes_of[c] for c in with_nodes)
            if topology == "node":
                found = ([], nodes)
            else:
                domain_of = self.by_topology.get(topology)
                if domain_of is None:
                    domain_of = self.by_topology[topology] = {c.id: c.topology_value(topology)
                                                              for c in self.classes}
                spanned = dict.fromkeys(domain_of[c] for c in with_nodes)
                spanned.pop(None, None)
                found = (list(spanned), nodes)
            self.known[key] = found
        return found


def check(placed: Placed) -> Iterator[Diagnostic]:
    domains = None if placed.shared is None else placed.shared.get("spread")
    if domains is None:  # (over every class: ~1.5 ms, per read of a few demands too)
        domains = _ClassDomains(placed.problem, placed.nodes_of)
        if placed.shared is not None:
            placed.shared["spread"] = domains
    for demand in placed.problem.demands:
        for _, found in _spreads(placed, demand, domains, placed.placed_on.get(demand.name, Counter())):
            yield found
    yield from option_spread.check_groups(placed)


def _spreads(placed: Placed, demand: Demand, domains: _ClassDomains, placed_on: Counter,
             when: str = "") -> Iterator[tuple[int, Diagnostic]]:
    """Replicas per domain of each spread's topology, counted over the nodes the workload
    may use (a domain it does not use counts 0): each spread broken (its index), said with
    `when` (with a horizon, the step counted)."""
    owner = placed.owner
    for index, spread in enumerate(demand.spreads):
        if over_options(demand, spread):
            continue  # `option_spread.check_groups` counts it over every option
        spanned, nodes = domains.domains(demand.eligible, spread.topology)
        if spread.topology == "node":
            counts = list(placed_on.values())
            domains_count = nodes
        else:
            per_domain: Counter = Counter(dict.fromkeys(spanned, 0))
            for node, amount in placed_on.items():
                domain = domain_of(node, owner[node], spread.topology)
                if domain is not None:
                    per_domain[domain] += amount
            counts, domains_count = list(per_domain.values()), len(per_domain)
        if not domains_count:
            continue
        most = max(counts, default=0)
        least = spread_least(counts, domains_count, spread.min_domains)
        if most - least > spread.max_skew:
            yield index, placed.violation(
                f"`{demand.name}` is spread {least}..{most} per {spread.topology}{when}"
                f"{_fewer(domains_count, spread)}; max_skew is {spread.max_skew}", spread.origin)


def _fewer(domains: int, spread: SpreadRule) -> str:
    """What a violation says of domains fewer than `min_domains` (the least counted as 0)."""
    if domains >= spread.min_domains:
        return ""
    return f" over {domains} {spread.topology} domain(s), fewer than min_domains {spread.min_domains}"


class SpreadGroup(GroupKey, Frozen):
    """A demand's spread, by its index in `Demand.spreads`."""

    demand: str
    index: int


def spread_rows(encoding: Encoding, demand: Demand) -> None:
    """Replicas per domain lie between `least` and `least + max_skew`, over the domains that
    exist: those of the eligible nodes the fleet has, and of offers only where nodes are bought
    (a domain with nothing bought has no nodes, as `verify` counts them)."""
    if demand.group is not None:  # a spread over every option of the workload
        option_spread.group_rows(encoding, demand)
    for index, spread in enumerate(demand.spreads):
        group = SpreadGroup(demand.name, index)
        if spread.topology == "node":
            _node_spread_rows(encoding, demand, index, spread.max_skew, group)
            continue
        if over_options(demand, spread):
            continue  # counted over every option of the workload: `option_spread.py`
        domains = encoding.domains(demand, spread.topology)
        if len(domains) < 2 and spread.min_domains <= 1:
            continue
        least = encoding.column(SpreadLeast(demand.name, index), f"min[{demand.name},{index}]", 0,
                                demand.replicas)
        domain_rows(encoding, {value: [(demand.name, c) for c in class_ids]
                               for value, class_ids in domains.items()},
                    least, demand.replicas, spread, group, f"{demand.name},{spread.topology}", demand.name)


def domain_rows(encoding: Encoding, domains: dict[str, list[tuple[str, str]]], least: int,
                replicas: int, spread: SpreadRule, group: SpreadGroup, name: str, owner: str) -> None:
    """Per domain (its (demand, class) pairs): least <= replicas there <= least + max_skew;
    the lower row only where the domain exists (`_domain_exists`, keyed by `owner`)."""
    model = encoding.model
    existing: list[int | None] = []
    for value, pairs in domains.items():
        terms = {encoding.y[pair]: 1 for pair in pairs}
        exists = _domain_exists(encoding, [encoding.class_of[c] for _, c in pairs],
                                DomainExists(owner, spread.topology, value), f"{name}={value}")
        existing.append(exists)
        if exists is None:
            model.add({**terms, least: -1}, lower=0, group=group)
        else:  # least <= replicas here, unless no node of the domain is bought
            model.add({**terms, least: -1, exists: -replicas}, lower=-replicas, group=group)
        model.add({**terms, least: -1}, upper=spread.max_skew, group=group)
    _min_domains_rows(encoding, existing, least, replicas, spread, group, owner)


def _min_domains_rows(encoding: Encoding, existing: list[int | None], least: int, replicas: int,
                      spread: SpreadRule, group: SpreadGroup, owner: str) -> None:
    """`min_domains m`: `least` is 0 unless m domains exist (Kubernetes' `minDomains`), so
    while fewer do, each holds at most the skew. Domains of declared nodes always exist, one of
    offers where its binary is 1 (`_domain_exists`; 1 with nothing bought makes `least` 0
    there anyway, which this allows): least <= replicas * enough, and the domains that exist
    >= m * enough."""
    declared = sum(1 for exists in existing if exists is None)
    if spread.min_domains <= max(declared, 1):  # (1, the default: the least as it is)
        return
    model = encoding.model
    optional = [exists for exists in existing if exists is not None]
    if declared + len(optional) < spread.min_domains:  # never enough: the least is 0
        model.add({least: 1}, upper=0, group=group)
        return
    enough = encoding.column(DomainsEnough(owner, spread.topology), f"enough[{owner},{spread.topology}]",
                             0, 1)
    model.add({least: 1, enough: -replicas}, upper=0, group=group)
    model.add({**dict.fromkeys(optional, 1), enough: -spread.min_domains}, lower=-declared, group=group)


def _domain_exists(encoding: Encoding, classes: list[NodeClass], key: DomainExists,
                   name: str) -> int | None:
    """None when the domain has nodes of its own; else a binary that is 1 when nodes are bought
    in it (it may be 1 otherwise too, which only adds a constraint)."""
    if any(not c.provisioned and c.count > 0 for c in classes):
        return None
    model = encoding.model
    exists = encoding.column(key, f"e[{name}]", 0, 1)
    for node_class in classes:
        model.add({encoding.u[node_class.id]: 1, exists: -node_class.count}, upper=0)
    return exists


def node_spread_most_least(problem: Problem, demand: Demand) -> int:
    """The most the least-hosting node of a `spread node` may host: every fixed node of the
    demand's eligible classes hosts at least that least, so it is at most the replicas over
    those nodes (all of them where every eligible class is bought)."""
    fixed = sum(c.count for c in map(problem.node_class, demand.eligible) if not c.provisioned)
    return demand.replicas // fixed if fixed else demand.replicas


def _node_spread_rows(encoding: Encoding, demand: Demand, index: int, skew: int,
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
    most_least = node_spread_most_least(problem, demand)
    least = encoding.column(SpreadLeast(demand.name, index), f"min[{demand.name},{index}]", 0,
                            most_least)
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
    _apart_from_least(encoding, demand, some, group)
    for node_class in classes:
        _beside_rows(encoding, demand, node_class, skew, some, group)
    _min_nodes_rows(encoding, classes, least, most_least, demand.spreads[index], group, demand.name)


def _min_nodes_rows(encoding: Encoding, classes: list[NodeClass], least: int, most_least: int,
                    spread: SpreadRule, group: SpreadGroup, owner: str) -> None:
    """`spread node ... min_domains m`: `least` is 0 unless m nodes exist, the declared nodes
    of the eligible classes and those bought (their `u`)."""
    declared = sum(c.count for c in classes if not c.provisioned)
    if spread.min_domains <= max(declared, 1):
        return
    model = encoding.model
    bought = [c for c in classes if c.provisioned]
    if declared + sum(c.count for c in bought) < spread.min_domains:
        model.add({least: 1}, upper=0, group=group)
        return
    enough = encoding.column(DomainsEnough(owner, "node"), f"enough[{owner},node]", 0, 1)
    model.add({least: 1, enough: -most_least}, upper=0, group=group)
    model.add({**{encoding.u[c.id]: 1 for c in bought}, enough: -spread.min_domains}, lower=-declared,
              group=group)


def _apart_from_least(encoding: Encoding, demand: Demand, some: int, group: SpreadGroup) -> None:
    """Where `least` > 0 (`some`), every node of the fixed eligible classes hosts a replica
    of `demand`, so a replica of another workload that fits on no node of a class beside one
    of them (their requests summed over the class's largest node, or either is `exclusive`), or
    that a rule keeps apart from it on nodes (`anti_affinity`), is on none of its nodes: one
    row per class, implied by every placement, so the model stays a relaxation. Without it a
    1-CPU workload spread over 230 nodes of 2 CPUs (320 replicas, so at least one a node) left
    room for a 2-CPU replica in the model by pool, and `fitc solve` ended `unknown` where no
    placement exists (bench/differential_fleet.py seed 3611); without the rule's, `x3`
    (`anti_affinity x2 on node`) was never proven out where `x2` held every node, and the most
    placed stayed unproven (`mixed_rules.py` seed 624: `feasible` with W0502, now `optimal`)."""
    kept_apart = encoding.problem.apart_on_nodes[0].get(demand.name, set())
    for class_id in demand.eligible:
        node_class = encoding.class_of[class_id]
        if node_class.provisioned:
            continue
        requests, exclusive, replicas, position = _class_requests(encoding, class_id)
        own = position[demand.name]
        capacity = np.array([node_class.capacity[r] for r in RESOURCES], dtype=np.int64)
        apart = (requests + requests[own] > capacity).any(axis=1) | exclusive | demand.exclusive
        for name in kept_apart & position.keys():  # (a rule keeps it off the spread's nodes)
            apart[position[name]] = True
        apart[own] = False
        if not apart.any():
            continue
        columns = encoding.here_columns[class_id][apart]
        total = int(replicas[apart].sum())
        encoding.model.add({**{int(c): 1 for c in columns.tolist()}, some: total}, upper=total,
                           group=group)


def _beside_rows(encoding: Encoding, demand: Demand, node_class: NodeClass, skew: int, some: int,
                 group: SpreadGroup) -> None:
    """Per other workload W that may use the class: W's replicas on a node fall by the room the
    spread's replicas there take, a step at a time (whole replicas). With f(c) the most of W
    beside c of the spread's on one node and d the least (f(0) - f(c)) / c over the counts a
    node may host, every node holds at most f(0) - d c of W, so y[W] + d y <= f(0) u; the
    counts are 0..K while `least` is 0 (`some` 0), else up to `_node_spread_most`, whose d
    (smaller) the row keeps by `some`. The class's capacity rows sum requests: mixed_rules 438
    (7 nodes of 16 GiB, the spread's 1 GiB one a node) counted 24 of a 4 GiB gang beside
    them where 21 fit, and the 3 short pushed 3 replicas of priority 5 out (`unknown`)."""
    requests, exclusive, replicas, position = _class_requests(encoding, node_class.id)
    own = position[demand.name]
    capacity = np.array([node_class.capacity[r] for r in RESOURCES], dtype=np.int64)
    most = min(demand.replicas, node_spread_most_least(encoding.problem, demand) + skew)
    if most < 1:
        return
    counts = np.arange(most + 1, dtype=np.int64)
    left = capacity[None, :] - counts[:, None] * requests[own][None, :]  # per count, per resource
    columns, u = encoding.here_columns[node_class.id], encoding.u[node_class.id]
    apart = encoding.problem.apart_on_nodes[0].get(demand.name, set())
    for other in np.flatnonzero(~exclusive).tolist():
        if other == own or demand.exclusive:
            continue
        name = encoding.here[node_class.id][other].name
        alone = encoding.fit[name, node_class.id]
        beside = _fits_beside(requests[other], left, alone)
        if name in apart:  # (a rule keeps it off the spread's nodes: none beside them)
            beside[1:] = 0
        loss = [Fraction(alone - int(beside[c]), c) for c in range(1, most + 1)]
        while_none, always = min(loss[:skew]), min(loss)
        if while_none <= 0:
            continue
        slack = (while_none - always) * min(int(replicas[own]), node_class.count * most)
        scale = math.lcm(while_none.denominator, slack.denominator)
        terms = {int(columns[other]): scale, int(columns[own]): int(while_none * scale),
                 u: -alone * scale}
        if slack:
            terms[some] = -int(slack * scale)
        encoding.model.add(terms, upper=0, group=group)


def _fits_beside(requests: np.ndarray, left: np.ndarray, alone: int) -> np.ndarray:
    """Per row of `left` (what a node has left, per resource): the replicas of `requests` that
    fit in it, at most `alone`."""
    asked = requests > 0
    if not asked.any():
        return np.where((left >= 0).all(axis=1), alone, 0)
    fits = (np.maximum(left[:, asked], 0) // requests[asked]).min(axis=1)
    return np.minimum(fits, alone)


def _class_requests(encoding: Encoding, class_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                   dict[str, int]]:
    """Per demand that may use the class (`Encoding.here`'s order): its requests per resource,
    whether it is `exclusive`, its replicas; and each one's position. Kept per encoding."""
    key = (_class_requests, class_id)
    if key not in encoding.cache:
        here = encoding.here[class_id]
        encoding.cache[key] = (
            np.array([[d.requests[r] for r in RESOURCES] for d in here], dtype=np.int64).reshape(
                len(here), len(RESOURCES)),
            np.array([d.exclusive for d in here], dtype=bool),
            np.array([d.replicas for d in here], dtype=np.int64),
            {d.name: i for i, d in enumerate(here)})
    return encoding.cache[key]


def _bits_of(model: LinearModel, value: int, most: int, name: str, group: SpreadGroup) -> list[int]:
    """Binaries b_j with value = sum 2^j b_j."""
    bits = [model.var(f"bit{j}[{name}]", 0, 1) for j in range(max(1, most.bit_length()))]
    model.add({value: 1, **{b: -(1 << j) for j, b in enumerate(bits)}}, lower=0, upper=0,
              group=group)
    return bits


def _times_bits(model: LinearModel, count: int, most: int, bits: list[int], name: str) -> dict[int, int]:
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


def same_domains(problem: Problem, demand: Demand) -> Callable[[NodeClass], Hashable] | None:
    """A class's domains in every topology (but `node`) `demand` spreads over."""
    topologies = sorted({s.topology for s in demand.spreads} - {"node"})
    return TopologyValues(tuple(topologies)) if topologies else None


def reason(problem: Problem, part: Part) -> Stated:
    spread = demands_of(problem, part.subject)[0].spreads[part.position]
    text = f"`{part.subject}` must spread over {spread.topology} with max_skew {spread.max_skew}"
    if spread.min_domains > 1:
        text += f" over at least {spread.min_domains} {spread.topology} domains (min_domains)"
    if spread.topology == "node":
        text += (f" (replicas per node, empty nodes included, differ by at most "
                 f"{spread.max_skew})")
    return Stated(text + _off_nodes_without(problem, part, spread.topology), spread.origin)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """A lower `min_domains` or a wider max_skew, each the least change that works, the
    cheaper of the two where both do (the fewer domains on a tie: it keeps the evenness the
    user asked for); else the spread dropped."""
    from fitlang.solve.explain import search

    rule = demands_of(problem, part.subject)[0].spreads[part.position]
    found = [r for r in (_fewer_domains(problem, part, deadline), _wider_skew(problem, part, deadline))
             if r is not None]
    if found:
        return min(found, key=lambda r: r.cost if r.cost is not None else math.inf)
    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    text = f"drop the spread over {rule.topology} from `{part.subject}`{where(rule.origin)}"
    return search.Repair(part, text, rule.origin, None, None, check.cost, checked=check)


def _with_spread(problem: Problem, part: Part, max_skew: int | None = None,
                 min_domains: int | None = None) -> Problem:
    """The policy with the spread `part`'s numbers changed in every demand of its workload."""
    trial = problem
    for demand in demands_of(problem, part.subject):
        spreads = list(demand.spreads)
        rule = spreads[part.position]
        spreads[part.position] = dataclasses.replace(
            rule, max_skew=rule.max_skew if max_skew is None else max_skew,
            min_domains=rule.min_domains if min_domains is None else min_domains)
        trial = trial.with_demand(demand.name, spreads=spreads)
    return trial


def _wider_skew(problem: Problem, part: Part, deadline: float) -> Repair | None:
    from fitlang.solve.explain import search

    members = demands_of(problem, part.subject)
    rule = members[0].spreads[part.position]
    skew = rule.max_skew
    most = max(d.replicas for d in members)
    found = search.smallest(
        lambda wider: search.works(_with_spread(problem, part, max_skew=skew + wider), deadline,
                                   cheapest=True), 1, max(1, most - skew), deadline)
    if found is None:
        return None
    value = skew + found[0]
    text = (f"raise max_skew of `{part.subject}`'s spread over {rule.topology}"
            f"{where(rule.origin)} from {skew} to {value}")
    return search.Repair(part, text, rule.origin, str(skew), str(value), found[1].cost, checked=found[1])


def _fewer_domains(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """`min_domains` lowered the least that works (fewer domains asked never places less: the
    emptiest counts as 0 only while fewer than that many exist)."""
    from fitlang.solve.explain import search

    rule = demands_of(problem, part.subject)[0].spreads[part.position]
    least = rule.min_domains
    if least <= 1:
        return None
    found = search.smallest(
        lambda fewer: search.works(_with_spread(problem, part, min_domains=least - fewer), deadline,
                                   cheapest=True), 1, least - 1, deadline)
    if found is None:
        return None
    value = least - found[0]
    text = (f"lower min_domains of `{part.subject}`'s spread over {rule.topology}"
            f"{where(rule.origin)} from {least} to {value}")
    return search.Repair(part, text, rule.origin, f"min_domains {least}", f"min_domains {value}",
                         found[1].cost, checked=found[1])


class SpreadLeast(Frozen):
    """The column `least` of a demand's spread (by its index in `Demand.spreads`): the
    replicas in its emptiest domain (per node for a node spread)."""

    demand: str
    index: int


class DomainExists(Frozen):
    """The binary of a spread's domain that has only offers: are nodes bought in it?"""

    demand: str
    topology: str
    value: str


class DomainsEnough(Frozen):
    """The binary of a spread with `min_domains`: do that many of its domains exist?"""

    demand: str
    topology: str


def _topologies(demand: Demand) -> set[str]:
    return {s.topology for s in demand.spreads} - {"node"}


def keeps_whole(encoding: Encoding, demand: Demand) -> bool:
    """Rounding balances one topology's domains: a spread over two keeps its counts whole,
    as does an exact node spread (it counts per node; see `_node_spread_rows`)."""
    return len(_topologies(demand)) > 1 or any(
        s.topology == "node" and SpreadLeast(demand.name, i) in encoding.index
        for i, s in enumerate(demand.spreads))


def rounding(encoding: Encoding, demand: Demand) -> Rounding | None:
    """A spread over one topology rounds its domains' totals balanced. Its minimum per domain
    stays whole: a fractional one let every domain hold a fraction of a replica (inventory 300
    seed 28: two zone spreads at 1.14 and 0.6 a zone, the relaxed model at 20.03 against an
    optimum of 25.44; with whole minimums 24.74, and HiGHS faster), counts no packing meets."""
    topologies = _topologies(demand)
    if not topologies or demand.group is not None:  # (an option's counts are whole)
        return None
    # (the first by name where there are two: the set's order is another in each process)
    return Rounding(encoding.domains(demand, min(topologies)), balanced=True)


def start(encoding: Encoding, demand: Demand, mine: dict[str, int], opened: dict[str, int],
          values: dict[int, float]) -> None:
    """Each spread's minimum over the domains that exist, and which offer-only domains do."""
    for index, spread in enumerate(demand.spreads):
        least = encoding.index.get(SpreadLeast(demand.name, index))
        if spread.topology == "node" or least is None or over_options(demand, spread):
            continue
        totals = []
        for value, class_ids in encoding.domains(demand, spread.topology).items():
            exists = encoding.index.get(DomainExists(demand.name, spread.topology, value))
            bought = any(opened.get(c, 0) for c in class_ids)
            if exists is not None:
                values[exists] = int(bought)
            if exists is None or bought:
                totals.append(sum(mine.get(c, 0) for c in class_ids))
        values[least] = spread_least(totals, len(totals), spread.min_domains)
        enough = encoding.index.get(DomainsEnough(demand.name, spread.topology))
        if enough is not None:
            values[enough] = int(len(totals) >= spread.min_domains)


class StepSpreadGroup(GroupKey, Frozen):
    """A demand's spread (by its index in `Demand.spreads`) at one step of the horizon."""

    demand: str
    index: int


def time_domains(problem: Problem, demand: Demand, topology: str) -> dict[str, list[NodeClass]]:
    """The domains of `topology` (not `node`) a demand's classes with nodes span, each with its
    classes (`verify` counts a domain the workload may use but does not, as 0)."""
    domains: dict[str, list[NodeClass]] = {}
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        value = node_class.topology_value(topology)
        if node_class.count and value is not None:
            domains.setdefault(value, []).append(node_class)
    return domains


def time_rows(encoding: TimeEncoding) -> None:
    """With a horizon, each spread holds at each step over the replicas running then ("while
    they run", as the scheduler counts the pods bound when one binds): a service, running
    every step, is spread as without a horizon. Over zones and labels, per step t and domain
    D, least[t] <= running in D <= least[t] + max_skew (exact: a class is in one domain); over
    nodes, per class (`_node_time_rows`: exact on classes of one node, a relaxation over
    pools)."""
    problem = encoding.problem
    for demand in problem.demands:
        for index, spread in enumerate(demand.spreads):
            group = StepSpreadGroup(demand.name, index)
            if spread.topology == "node":
                _node_time_rows(encoding, demand, spread, group)
            else:
                _domain_time_rows(encoding, demand, spread, group)


def _running(encoding: TimeEncoding, demand: Demand, classes: list[NodeClass], step: int) -> dict[int, int]:
    """The demand's columns running on `classes` at `step`, as a row's terms."""
    terms: dict[int, int] = {}
    for node_class in classes:
        for column, _ in encoding.running_by_demand(node_class.id, step).get(demand.name, ()):
            terms[column] = 1
    return terms


def _domain_time_rows(encoding: TimeEncoding, demand: Demand, spread: SpreadRule,
                      group: StepSpreadGroup) -> None:
    """Per step, over the domains that exist: those of declared nodes, and a domain of offers
    only where a node of it is bought at some step (its binary: `verify` counts the nodes a
    placement buys, over the horizon)."""
    model = encoding.model
    domains = time_domains(encoding.problem, demand, spread.topology)
    if len(domains) < 2 and spread.min_domains <= 1:
        return
    replicas = demand.replicas
    existing: dict[str, int | None] = {}
    for value, classes in domains.items():
        existing[value] = None
        if all(c.provisioned for c in classes):
            exists = existing[value] = model.var(f"e[{demand.name},{spread.topology}={value}]", 0, 1)
            for node_class in classes:
                for step in range(encoding.timeline.steps):
                    model.add({encoding.u[node_class.id, step]: 1, exists: -node_class.count}, upper=0,
                              group=group)
    enough = _enough(encoding, demand, spread, list(existing.values()), group)
    for step in range(encoding.timeline.steps):
        counts = {value: _running(encoding, demand, classes, step) for value, classes in domains.items()}
        if not any(counts.values()):
            continue
        least = model.var(f"min[{demand.name},{spread.topology},{step}]", 0, replicas)
        if enough is not None:
            model.add({least: 1, **({enough: -replicas} if enough >= 0 else {})}, upper=0, group=group)
        for value, terms in counts.items():
            model.add({**terms, least: -1}, upper=spread.max_skew, group=group)
            bought = existing[value]
            if bought is None:
                model.add({**terms, least: -1}, lower=0, group=group)
            else:  # least <= running here, unless no node of the domain is bought
                model.add({**terms, least: -1, bought: -replicas}, lower=-replicas, group=group)


def _enough(encoding: TimeEncoding, demand: Demand, spread: SpreadRule, existing: list[int | None],
            group: StepSpreadGroup) -> int | None:
    """`min_domains m`: None where the domains declared are enough; -1 where the domains can
    never be enough (the least is 0 at every step); else a binary that is 1 only where m
    domains exist (each step's least <= replicas x it)."""
    declared = sum(1 for exists in existing if exists is None)
    if spread.min_domains <= max(declared, 1):
        return None
    optional = [exists for exists in existing if exists is not None]
    if declared + len(optional) < spread.min_domains:
        return -1
    model = encoding.model
    enough = model.var(f"enough[{demand.name},{spread.topology}]", 0, 1)
    model.add({**dict.fromkeys(optional, 1), enough: -spread.min_domains}, lower=-declared, group=group)
    return enough


def _node_time_rows(encoding: TimeEncoding, demand: Demand, spread: SpreadRule,
                    group: StepSpreadGroup) -> None:
    """`spread node` per step t: every node of an eligible class runs between least[t] and
    least[t] + K of the replicas running then; least[t] above 0 only where every declared
    node is in use then (`some`). Per class of `count` nodes: count x least <= running <=
    count x least + K x u (a node out of use runs none): exact on a class of one node (a
    small fleet is solved node by node), a relaxation over a pool (its nodes' counts not
    told apart). Offers: running <= count x least + K x u only (a relaxation)."""
    problem, model = encoding.problem, encoding.model
    classes = [c for c in map(problem.node_class, demand.eligible) if c.count]
    declared = sum(c.count for c in classes if not c.provisioned)
    if not classes:
        return
    most_least = demand.replicas // declared if declared else demand.replicas
    # fewer nodes than `min_domains` even with every offer bought: the least is 0 at every
    # step; where bought nodes could make them enough, the least is left free (a relaxation)
    never = declared + sum(c.count for c in classes if c.provisioned) < spread.min_domains
    for step in range(encoding.timeline.steps):
        counts = [(c, _running(encoding, demand, [c], step)) for c in classes]
        if not any(terms for _, terms in counts):
            continue
        least = model.var(f"min[{demand.name},node,{step}]", 0, 0 if never else most_least)
        some = model.var(f"min>0[{demand.name},{step}]", 0, 1)
        model.add({least: 1, some: -most_least}, upper=0, group=group)
        for node_class, terms in counts:
            u = encoding.u[node_class.id, step]
            model.add({**terms, least: -node_class.count, u: -spread.max_skew}, upper=0, group=group)
            if node_class.provisioned:
                continue
            model.add({**terms, least: -node_class.count}, lower=0, group=group)
            model.add({u: 1, some: -node_class.count}, lower=0, group=group)


def check_runs(placed: Placed, runs: list[Run]) -> Iterator[Diagnostic]:
    """`fitc verify` with a horizon: each spread over the replicas running at each step (the
    first step it breaks, per spread), counted as without a horizon (`_spreads`)."""
    spreading = {run.demand for run in runs if placed.demands[run.demand].spreads}
    if not spreading:
        return
    domains = _ClassDomains(placed.problem, placed.nodes_of)
    by_demand: dict[str, list[Run]] = {}
    for run in runs:
        if run.demand in spreading:
            by_demand.setdefault(run.demand, []).append(run)
    for name, mine in sorted(by_demand.items()):
        demand = placed.demands[name]
        broken: set[int] = set()  # the spreads already reported
        # the counts change only where a run starts or ends
        for step in sorted({run.start for run in mine} | {run.end for run in mine}):
            here = Counter(run.node for run in mine if run.start <= step < run.end)
            for index, found in _spreads(placed, demand, domains, here, f" at step {step}"):
                if index not in broken:
                    broken.add(index)
                    yield found


RULE = Rule("spread", reads=reads, excludes=excludes, why=why, warnings=warnings, check=check,
            check_reads=CheckReads.DEMANDS,
            rows=Rows(relations=spread_rows, keeps_whole=keeps_whole, rounding=rounding,
                      start=start), packing=OnNodes(same=same_domains),
            part_kind=PartKind.SPREAD, reason=reason, repairs=repairs)
