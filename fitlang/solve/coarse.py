"""A lower bound from a coarser problem: the fleet with what tells its nodes apart, beyond
size and price, forgotten (issue 15, the *breaker* shape).

The pattern bound (patterns.py) over the whole problem does not converge at 10,000 nodes
when rules split the fleet finely: on *breaker* 10,000 (40 racks, workloads pinned to three
of them, rack spreads, anti-affinity between workloads) its master has 1,401 classes and
~700 demands, falls by 0.1-0.3 USD/h a round and is still falling after 600 s, and its
Lagrangian bound never rises above the pair relaxation's (1749.32). Here the same pattern
bound runs on a relaxation of the problem instead:

- classes that differ only in labels, zone, region, site, accelerator or arch merge into
  one (the same price, bought or owned alike, the same buy block and power caps, capacity
  within one `bound.SIZE_STEPS` step: the merged class has every node and, per resource,
  its largest member's capacity);
- a demand may use a merged class where it may use any of its members;
- rules that count over a domain are dropped (spreads and anti-affinities over zones,
  regions or labels, latency rules), and so are rules between two workloads (affinity or
  anti-affinity towards another); what holds on one node stays (one replica a node,
  `exclusive`, a node spread's), with budget, buy limits and power caps.

Why it is a bound: every placement of the problem is a placement of the coarse one (each
node is a node of its merged class, with at least its own capacity; each replica is on a
class its demand may use; every rule kept holds, since it held before; the node counts per
buy block and power cap are the same) at the same cost (each node keeps its price). So the
coarse optimum is at most the problem's, and a proven lower bound on the coarse optimum
(bound.py's and patterns.py's, each proven) is one on the problem's. It is stated only
where it is larger than the other bounds.

What it buys: with the splits gone the merged demands and classes are few (*breaker*
10,000: 7 demands on 6 classes, 30 pairs; 50,000: 13 on 7), the column generation converges
in a few rounds (under 0.1 s), and the whole-node patterns it proves are most of what the
pair bound misses: *breaker* 10,000 1749.32 -> 1830.10, 50,000 8717.75 -> 9122.05. Where
the splits are what costs (zone spreads and latency on the *inventory* shape) it is weaker
than the pair bound and is not stated.
"""

from __future__ import annotations

import dataclasses

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve.bound import _size, lower_bound, merged_classes, merged_demands
from fitlang.solve.pack import Packing
from fitlang.solve.patterns import PatternBound, pattern_bound


def coarsened(problem: Problem) -> tuple[Problem, dict[str, str]]:
    """The coarse problem of the module docstring, and per class id (with nodes) the id of
    its merged class (the first member's)."""
    groups = _class_groups(problem)
    classes: list[NodeClass] = []
    merged_id: dict[str, str] = {}
    for members in groups:
        capacity = {r: max(c.capacity[r] for c in members) for r in RESOURCES}
        classes.append(dataclasses.replace(
            members[0], capacity=capacity, count=sum(c.count for c in members), node_capacity={},
            labels={}, zone=None, region=None, site=None))
        merged_id.update((c.id, members[0].id) for c in members)
    position = {c.id: k for k, c in enumerate(classes)}
    lists: dict[int, list[str]] = {}  # demands share eligibility lists: each read once
    demands = []
    for demand in problem.demands:
        eligible = lists.get(id(demand.eligible))
        if eligible is None:
            # in the merged classes' order, so that equal sets are equal lists (merged_demands)
            chosen = sorted({position[merged_id[c]] for c in demand.eligible if c in merged_id})
            eligible = lists[id(demand.eligible)] = [classes[k].id for k in chosen]
        demands.append(dataclasses.replace(
            demand, eligible=eligible, latency=[],
            spreads=[s for s in demand.spreads if s.topology == "node"],
            affinities=[r for r in demand.affinities if r.topology == "node" and r.target == "self"]))
    return dataclasses.replace(problem, classes=classes, demands=demands, latency={}), merged_id


def _class_groups(problem: Problem) -> list[list[NodeClass]]:
    """The classes with nodes, grouped by what the coarse problem's rows still read: price,
    bought or owned, buy block, power caps (and the watts they count), size."""
    capped: dict[str, list[int]] = {}
    for j, cap in enumerate(problem.power_caps):
        for class_id in cap.classes:
            capped.setdefault(class_id, []).append(j)
    groups: dict[tuple, list[NodeClass]] = {}
    for node_class in problem.classes:
        if node_class.count <= 0:
            continue
        caps = tuple(capped.get(node_class.id, ()))
        key = (node_class.price, node_class.provisioned, node_class.buy_group, caps,
               node_class.power_watts if caps else 0, _size(node_class.capacity))
        groups.setdefault(key, []).append(node_class)
    return list(groups.values())


def coarse_packing(packing: Packing, merged_id: dict[str, str]) -> Packing:
    """A packing's nodes under their merged classes (as the coarse problem's first patterns)."""
    nodes: dict[str, list] = {}
    for class_id, opened in packing.nodes.items():
        if class_id in merged_id:
            nodes.setdefault(merged_id[class_id], []).extend(opened)
    return Packing(nodes=nodes)


def coarse_bound(problem: Problem, objective: str, deadline: float | None = None,
                 start: Packing | None = None, max_pairs: int | None = None) -> PatternBound | None:
    """The pattern bound of the coarse problem (the larger of it and the coarse pair bound),
    until converged or `deadline`; None where the coarse pair relaxation has no bound or more
    than `max_pairs` pairs (its column generation would not converge in time). `start`: a
    packing of `problem` whose nodes are the first patterns."""
    coarse, merged_id = coarsened(problem)
    if max_pairs is not None and merged_classes(merged_demands(coarse)[0])[2] > max_pairs:
        return None  # (the merged pairs, as `lower_bound` counts them, before it builds them)
    first = None if start is None else coarse_packing(start, merged_id)
    pair = lower_bound(coarse, objective, deadline, start=first)
    if pair.value is None or pair.relaxation is None:
        return None
    return pattern_bound(pair, objective, deadline, start=first)


def suggested_classes(found: PatternBound, problem: Problem) -> dict[str, frozenset[str]]:
    """Per workload, the classes of `problem` in the merged classes the coarse pattern LP's
    last solution (`found.nodes`) puts its merged demand on: a guide for the greedy pass
    (`greedy.Guide.classes`), not a bound."""
    members = {group[0].id: [c.id for c in group] for group in _class_groups(problem)}
    on: dict[str, set[str]] = {}
    for ids, hosted, nodes in found.nodes or ():
        if nodes <= 1e-6:
            continue
        chosen = [c for merged in ids for c in members.get(merged, ())]
        for names in hosted:
            for name in names:
                on.setdefault(name, set()).update(chosen)
    return {name: frozenset(ids) for name, ids in on.items()}
