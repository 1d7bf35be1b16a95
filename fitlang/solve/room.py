"""The most replicas of a workload the nodes it may use can hold, each node alone; and from
it, before any model, a proof that no placement exists.

A workload that may not leave replicas out (no `allow_unplaced`) and has more replicas than
every node it may use holds, with nothing else placed, has no placement: fitc says so at once
(E0501, the conflict named by explain) rather than after the aggregate model's search
(`bench/differential_fleet.py --jitter` seed 3875: a 33-replica gang whose label no pool
carries; its MIP took 12 of 20 CPU s on 277 nodes, the verdict came after 19.5 s).
"""

from __future__ import annotations

from collections import Counter

from fitlang.model.problem import Demand, NodeClass, Problem, replicas_per_node


def spread_most(problem: Problem, demand: Demand) -> int | None:
    """The most replicas of `demand` one node hosts under its `spread node max_skew K` (None
    without one): K above the least count, which is at most its replicas over the fixed nodes
    it may use (`verify` counts every node of its classes, bought ones too)."""
    skews = [s.max_skew for s in demand.spreads if s.topology == "node"]
    if not skews:
        return None
    fixed = sum(c.count for c in map(problem.node_class, demand.eligible) if not c.provisioned)
    return min(skews) + demand.replicas // fixed if fixed else None


def node_most(demand: Demand, node_class: NodeClass, spread: int | None) -> int:
    """The most replicas of `demand` one node of the class hosts in any placement: what fits
    (one a node where kept apart from itself), at most `spread` (`spread_most`)."""
    most = replicas_per_node(demand, node_class)
    return most if spread is None else min(most, spread)


def short_of_room(problem: Problem) -> list[Demand]:
    """The workloads that cannot be placed whole even alone: more replicas than the nodes they
    may use hold, each at `node_most` (a gang: in one cluster, docs/language.md); and the
    workloads with accelerator options whose nodes cannot hold them together (their option
    demands: `option_room.py`); and the gangs with options none of which can run them alone
    (`gang_room.py`); and the followers whose own spread the workload they follow caps
    (`follower_room.py`); and the workloads whose spread over zones no placement of
    every replica keeps (`spread_room.py`). None where the policy allows replicas left out,
    or with a horizon (a node holds replicas in turn)."""
    from fitlang.solve.follower_room import followers_short_of_room
    from fitlang.solve.gang_room import gangs_short_of_options
    from fitlang.solve.option_room import options_short_of_room  # (they read `node_most` here)
    from fitlang.solve.spread_room import spreads_short_of_room

    if problem.allow_unplaced or problem.timeline is not None:
        return []
    alone = [d for d in problem.demands if d.group is None and not _held(problem, d)]
    return alone or spreads_short_of_room(problem) or options_short_of_room(problem) or \
        gangs_short_of_options(problem) or followers_short_of_room(problem)


def _held(problem: Problem, demand: Demand) -> bool:
    """Do the nodes `demand` may use hold its replicas? (`held_on`)"""
    return held_on(problem, demand, demand.eligible)


def held_on(problem: Problem, demand: Demand, classes: list[str]) -> bool:
    """Do the nodes of `classes` (some `demand` may use) hold its replicas (a gang's: in one
    cluster)? Summed until they do (a workload of an inventory may use hundreds of classes)."""
    if demand.replicas <= 0:  # nothing to hold (a narrowed option's share: no nodes, none)
        return True
    spread = spread_most(problem, demand)
    room: Counter[str] = Counter()
    for node_class in map(problem.node_class, classes):
        cluster = node_class.gang_domain if demand.gang else ""
        room[cluster] += node_class.count * node_most(demand, node_class, spread)
        if room[cluster] >= demand.replicas:
            return True
    return False
