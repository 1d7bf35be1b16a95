"""`affinity T on <topology>` and `anti_affinity T on <topology>` (T a workload or `self`):
the workload's replicas run in the domains where T runs (affinity), or where it does not
(anti-affinity; `self`: one replica per domain). One module: they share their data
(`Workload.affinities`, with `anti`) and their check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Demand, Exclusion, NodeClass
from fitlang.rules.base import PartKind, Placed, Rule, Stated, domain_of
from fitlang.rules.explaining import demands_of, where
from fitlang.rules.spread import topologies_excluded

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def reads(workload: Workload) -> Hashable:
    return tuple(sorted({r.topology for r in workload.affinities}))


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    return topologies_excluded({r.topology for r in workload.affinities}, facets)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    # as Kubernetes reads a topology key: a node without it is in no domain, so a rule over
    # that topology cannot be met there, and the replicas it binds may not run there
    for rule in workload.affinities:
        if rule.topology != "node" and node_class.topology_value(rule.topology) is None:
            verb = "anti_affinity" if rule.anti else "affinity"
            yield Exclusion(f"{verb} {rule.target} on {rule.topology}", rule.origin,
                            f"nodes of `{node_class.pool}` have no {rule.topology}",
                            source="affinity")


def check(placed: Placed) -> Iterator[Diagnostic]:
    for demand in placed.problem.demands:
        yield from _affinities(placed, demand)


def _affinities(placed: Placed, demand: Demand) -> Iterator[Diagnostic]:
    """Each rule reads the nodes of the two workloads it names only: linear in replicas."""
    owner, placed_on = placed.owner, placed.placed_on
    here = placed_on.get(demand.name)
    if not here:
        return
    for rule in demand.affinities:
        mine: Counter = Counter()
        target = demand.name if rule.target == "self" else rule.target
        for node, amount in here.items():
            mine[domain_of(node, owner[node], rule.topology)] += amount
        theirs = {domain_of(node, owner[node], rule.topology)
                  for node in placed_on.get(target, ())}
        verb = "anti_affinity" if rule.anti else "affinity"
        if rule.target == "self":
            crowded = sorted(str(d) for d, n in mine.items() if n > 1 or d is None)
            if crowded:
                yield placed.violation(f"`{demand.name}` has several replicas in {rule.topology} "
                                       f"{', '.join(crowded)} ({verb} self on {rule.topology})",
                                       rule.origin)
            continue
        for domain in sorted(mine, key=str):
            broken = (domain in theirs) if rule.anti else (domain is None or domain not in theirs)
            if broken:
                yield placed.violation(
                    f"`{demand.name}` runs in {rule.topology} {domain} "
                    f"{'with' if rule.anti else 'without'} `{rule.target}` "
                    f"({verb} {rule.target} on {rule.topology})", rule.origin)


def reason(problem: Problem, part: Part) -> Stated | None:
    if part.kind is not PartKind.AFFINITY:  # a pool without the rule's topology: the default
        return None
    rule = demands_of(problem, part.subject)[0].affinities[part.position]
    verb = "anti_affinity" if rule.anti else "affinity"
    text = f"`{part.subject}` has `{verb} {rule.target} on {rule.topology}`"
    if rule.target == "self" and rule.anti:
        text += f": at most 1 replica per {rule.topology}"
    return Stated(text, rule.origin)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    if part.kind is not PartKind.AFFINITY:
        return None
    from fitlang.solve.explain import search

    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    rule = demands_of(problem, part.subject)[0].affinities[part.position]
    verb = "anti_affinity" if rule.anti else "affinity"
    text = (f"drop `{verb} {rule.target} on {rule.topology}` from `{part.subject}`"
            f"{where(rule.origin)}")
    return search.Repair(part, text, rule.origin, None, None, check.cost)


RULE = Rule("affinity", reads=reads, excludes=excludes, why=why, check=check,
            part_kind=PartKind.AFFINITY, reason=reason, repairs=repairs)
