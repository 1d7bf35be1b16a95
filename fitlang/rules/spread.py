"""`spread <topology> max_skew K` on a workload: its replicas per domain of the topology (zone,
region, a label; `node`) differ by at most K, over the domains of the nodes it may use."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Demand, Exclusion, NodeClass, Problem
from fitlang.rules.base import PartKind, Placed, Rule, Stated, domain_of
from fitlang.rules.explaining import demands_of, where

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


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
    domains = _ClassDomains(placed.problem, placed.nodes_of)
    for demand in placed.problem.demands:
        yield from _spreads(placed, demand, domains, placed.placed_on.get(demand.name, Counter()))


def _spreads(placed: Placed, demand: Demand, domains: _ClassDomains,
             placed_on: Counter) -> Iterator[Diagnostic]:
    """Replicas per domain of each spread's topology, counted over the nodes the workload
    may use (a domain it does not use counts 0)."""
    owner = placed.owner
    for spread in demand.spreads:
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
        least = min(counts, default=0) if len(counts) == domains_count else 0
        if most - least > spread.max_skew:
            yield placed.violation(f"`{demand.name}` is spread {least}..{most} per {spread.topology}; "
                                   f"max_skew is {spread.max_skew}", spread.origin)


def reason(problem: Problem, part: Part) -> Stated:
    spread = demands_of(problem, part.subject)[0].spreads[part.position]
    text = f"`{part.subject}` must spread over {spread.topology} with max_skew {spread.max_skew}"
    if spread.topology == "node":
        text += (f" (replicas per node, empty nodes included, differ by at most "
                 f"{spread.max_skew})")
    return Stated(text, spread.origin)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """A wider max_skew, the least that works; else the spread dropped."""
    from fitlang.solve.explain import search

    members = demands_of(problem, part.subject)
    index = part.position
    skew = members[0].spreads[index].max_skew
    most = max(d.replicas for d in members)

    def works(wider: int) -> search.Check:
        trial = problem
        for demand in members:
            spreads = list(demand.spreads)
            spreads[index] = dataclasses.replace(spreads[index], max_skew=skew + wider)
            trial = trial.with_demand(demand.name, spreads=spreads)
        return search.works(trial, deadline, cheapest=True)

    found = search.smallest(works, 1, max(1, most - skew), deadline)
    rule = members[0].spreads[index]
    if found is not None:
        value = skew + found[0]
        text = (f"raise max_skew of `{part.subject}`'s spread over {rule.topology}"
                f"{where(rule.origin)} from {skew} to {value}")
        return search.Repair(part, text, rule.origin, str(skew), str(value), found[1].cost)
    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    text = f"drop the spread over {rule.topology} from `{part.subject}`{where(rule.origin)}"
    return search.Repair(part, text, rule.origin, None, None, check.cost)


RULE = Rule("spread", reads=reads, excludes=excludes, why=why, check=check,
            part_kind=PartKind.SPREAD, reason=reason, repairs=repairs)
