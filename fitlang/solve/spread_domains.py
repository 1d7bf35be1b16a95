"""Does a packing keep every spread over the domains that exist in it? A domain of offers exists
only where nodes are bought (docs/language.md), so a packing that buys a node in a new region
for one workload makes that region a domain of every other workload that may use the node,
and those workloads hold none there.

The large-neighbourhood search (`neighbourhood.py`) moves a few workloads at a time, the others
fixed, and kept a step that bought such a node: on `bench/cloud_buy.py --small` seed 12 a step
moved a service onto a node bought in us-central1 that `ser0002` (6 replicas, `spread region
max_skew 1`, 2 in each of three regions) may use too; ser0002 then spread 0..2, the
self-check rejected the answer (E0507) and `fitc solve` said `unknown` at the optimum's cost
on every run. A step is kept only where this holds. Per workload with a spread over zones,
regions or labels (not a spread over an option workload's options: `option_spread.py`), its
replicas per domain of its eligible classes: a domain of declared nodes always exists, one of
offers where the packing holds a node of it; the counts over the domains that exist must lie
within the skew. Linear in classes and nodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from fitlang.check.program import SpreadRule
from fitlang.model.problem import Demand, Problem
from fitlang.rules.base import spread_least
from fitlang.solve.pack import NodeState, Packing


def spreads_kept(problem: Problem, packing: Packing) -> bool:
    """Does every workload's spread over zones, regions or labels hold in the packing?"""
    return all(demand_spreads_kept(problem, packing, demand) for demand in problem.demands)


def demand_spreads_kept(problem: Problem, packing: Packing, demand: Demand) -> bool:
    """Do the workload's spreads over zones, regions or labels hold in the packing?"""
    return demand.group is not None or all(_spread_kept(problem, packing, demand, spread)
                                           for spread in demand.spreads if spread.topology != "node")


def _spread_kept(problem: Problem, packing: Packing, demand: Demand, spread: SpreadRule) -> bool:
    topology = spread.topology
    counts: dict[str, int] = {}
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        value = node_class.topology_value(topology)
        if value is None:
            continue
        nodes = packing.nodes.get(class_id, ())
        if nodes or (not node_class.provisioned and node_class.count > 0):  # an offer's: where bought
            counts[value] = counts.get(value, 0) + sum(node.hosted.get(demand.name, 0) for node in nodes)
    return not counts or max(counts.values()) - spread_least(counts.values(), len(counts),
                                                              spread.min_domains) <= spread.max_skew


def spreads_may_break(problem: Problem) -> bool:
    """Whether a packing's bought nodes can make or drop a domain of some workload's spread
    over zones, regions or labels (it may use an offer's class): else no snapshot is needed."""
    offered = {c.id for c in problem.classes if c.provisioned}
    return bool(offered) and any(
        spread.topology != "node" and not offered.isdisjoint(demand.eligible)
        for demand in problem.demands if demand.group is None for spread in demand.spreads)


def snapshot(packing: Packing) -> Packing:
    """A copy of the packing's nodes and shorts, for `restore` where a stage broke a spread."""
    return dataclasses.replace(
        packing, nodes={c: [NodeState(n.name, dict(n.free), dict(n.hosted)) for n in nodes]
                        for c, nodes in packing.nodes.items()},
        short=dict(packing.short), short_by_workload=dict(packing.short_by_workload),
        exact=set(packing.exact), patterned=set(packing.patterned), _room={})


def restore(packing: Packing, saved: Packing) -> None:
    """The packing as `saved` was, in place (its stages hold it by reference)."""
    for field in dataclasses.fields(Packing):
        setattr(packing, field.name, getattr(saved, field.name))


def searched_keeping_spreads(problem: Problem, packing: Packing, search: Callable[[], Packing]) -> Packing:
    """`search()`'s packing (it improves `packing` in place), or `packing` as it was where the
    search ends breaking a spread it kept: a net under every stage of the search, each of which
    could open a node in a new domain (`dear_room` did, `neighbourhood` did; each now checks
    its own). The snapshot is taken only where some spread may use an offer's class."""
    saved = snapshot(packing) if spreads_may_break(problem) and spreads_kept(problem, packing) else None
    found = search()
    return saved if saved is not None and not spreads_kept(problem, found) else found
