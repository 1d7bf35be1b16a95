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


def node_most(problem: Problem, demand: Demand, node_class: NodeClass) -> int:
    """The most replicas of `demand` one node of the class hosts in any placement: what fits
    (one a node where kept apart from itself), and under `spread node max_skew K` at most
    K above the least count, which is at most its replicas over the fixed nodes it may use
    (`verify` counts every node of its classes, bought ones too)."""
    most = replicas_per_node(demand, node_class)
    fixed = sum(problem.node_class(c).count for c in demand.eligible
                if not problem.node_class(c).provisioned)
    for spread in demand.spreads:
        if spread.topology == "node" and fixed:
            most = min(most, spread.max_skew + demand.replicas // fixed)
    return most


def short_of_room(problem: Problem) -> list[Demand]:
    """The workloads that cannot be placed whole even alone: more replicas than the nodes they
    may use hold, each at `node_most` (a gang: in one cluster, docs/language.md). None where
    the policy allows replicas left out, or with a horizon (a node holds replicas in turn);
    an accelerator option is counted with its group (not here)."""
    if problem.allow_unplaced or problem.timeline is not None:
        return []
    short = []
    for demand in problem.demands:
        if demand.group is not None:
            continue
        room: Counter[str] = Counter()
        for class_id in demand.eligible:
            node_class = problem.node_class(class_id)
            room[node_class.cluster] += node_class.count * node_most(problem, demand, node_class)
        held = max(room.values(), default=0) if demand.gang else sum(room.values())
        if held < demand.replicas:
            short.append(demand)
    return short
