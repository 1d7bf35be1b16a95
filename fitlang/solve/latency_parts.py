"""A workload whose latency rules no class meets together, placed by the greedy pass a part
per rule.

The greedy pass sends a workload to the classes within reach of every location its latency
rules name. Where its users are on two continents (within 50 ms of Frankfurt and of the Bay
Area) no class is: the workload was left out whole, and the floor's completion then put it in
the domain of the class the pass tried last, out of reach of both (ai_fleet 10,000 seed 2:
38 such services, `feasible` and rejected by `fitc verify`; floor_complete.py now takes them
off again). A rule asks for `replicas` of them within reach of its location, not for every
replica (rules/latency.py): so the workload goes in parts, each rule's replicas on the classes
within its reach, then the rest on the classes that cost least, with no latency rule.
"""

from __future__ import annotations

import dataclasses

from fitlang.model.problem import Demand


def reach_parts(demand: Demand) -> list[Demand]:
    """The parts to place in turn (the same workload, a share of its replicas each), or none
    where the workload is not split: fewer than two rules (one rule no class meets, nothing
    meets); a spread, a gang or an option group (each counts the replicas together, which the
    parts would not); more replicas asked for by the rules than the workload has (a replica
    within reach of two locations would have to count for both)."""
    if len(demand.latency) < 2 or demand.spreads or demand.gang or demand.group is not None:
        return []
    needed = sum(rule.replicas for rule in demand.latency)
    if needed > demand.replicas:
        return []
    parts = [dataclasses.replace(demand, replicas=rule.replicas, latency=[rule]) for rule in demand.latency]
    if demand.replicas > needed:
        parts.append(dataclasses.replace(demand, replicas=demand.replicas - needed, latency=[]))
    return parts
