"""Spreads that must share one domain's nodes and cannot: proven, before any model, by Hall's
condition over each one's classes in the domain.

`spread_room.py` bounds each spread alone: with M the least room over its domains, each holds
at most M + s. Turned round, it is a floor: a workload with n replicas spread with skew s
over domains of room cap_i has, in any placement of all of them, at least
`spread_room.least_count` replicas in every domain with nodes. Several workloads with such
floors in one domain share its nodes. For each of them, the classes of the domain it may use
(S) must hold the floors of every such workload that may use only classes of S (Hall's
condition): per resource, their requests within what S's nodes have; and the replicas that
take more than half of a resource of every node of S, at most one a node (two do not fit on
one). Where either fails, no placement exists: other workloads and rules only take room.
(No LP: a domain's at inventory 10,000, ~6,500 columns, took 0.1 CPU s each to build, and
this runs before every solve.)

Inventory 1,000, seed 37 (a plan after a drain): `svc1` (27 replicas of 4 CPUs) and `svc70`
(24) spread with skew 1 over the three EU zones of their tier, whose eu-central-1a has only
10 nodes of 7.77 CPUs, one 4-CPU replica each: floors of 9 and 8 there, 17 on 10 nodes. The
move found no plan, nor the whole model in 120 CPU s (E0506, `unknown`, 25 replicas out).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, Problem

if TYPE_CHECKING:
    from fitlang.solve.spread_room import Classes


def spreads_short_together(problem: Problem, spread: list[Demand], classes: Classes) -> list[Demand]:
    """The demands of `spread` (each with a spread over a topology other than `node`, not over
    options) with floors in one domain whose nodes cannot hold them together (module
    docstring); none where no such domain is found."""
    floors: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)  # (topology, domain) -> floors
    for demand in spread:
        for rule in demand.spreads:
            if rule.topology != "node":
                for domain, least in classes.least_counts(demand, rule.topology, rule.max_skew).items():
                    known = floors[rule.topology, domain]
                    known[demand.name] = max(least, known.get(demand.name, 0))
    for (topology, domain), found in floors.items():
        if len(found) > 1 and (short := _crowded(problem, classes, topology, domain, found)):
            return short
    return []


def _crowded(problem: Problem, classes: Classes, topology: str, domain: int,
             least: dict[str, int]) -> list[Demand]:
    """The demands whose floors (`least`: demand -> replicas) the classes of one domain that
    one of them may use cannot hold (Hall's condition, module docstring); none where each
    such set holds them."""
    demands = [problem.demand(name) for name in least]
    floor = np.array([least[d.name] for d in demands], dtype=np.int64)
    rows = np.flatnonzero((classes.domains(topology) == domain) & (classes.count > 0))
    position = np.full(len(classes.count), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    may = np.zeros((len(demands), len(rows)), dtype=bool)  # may[d, c]: some fit on c's nodes
    for k, demand in enumerate(demands):
        usable, fits = classes.rows_of(demand)
        at = position[usable]
        may[k, at[(at >= 0) & (fits > 0)]] = True
    requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands], dtype=np.int64)
    count, capacity = classes.count[rows], classes.capacity[rows]
    large = 2 * requests[:, None, :] > capacity[None, :, :]  # (demand, class, resource)
    for nodes in np.unique(may, axis=0):  # (many share their classes: each set once)
        within = ~(may & ~nodes).any(axis=1)  # the demands that may use only these classes
        if (floor[within] @ requests[within] > count[nodes] @ capacity[nodes]).any():
            return [d for d, inside in zip(demands, within) if inside]
        alone = within[:, None] & large[:, nodes, :].all(axis=1)  # (demand, resource)
        crowded = np.flatnonzero(floor @ alone > count[nodes].sum())
        if len(crowded):
            return [d for d, inside in zip(demands, alone[:, crowded[0]]) if inside]
    return []
