"""A greedy floor still short, placed again with the workloads that have the least room first.

The greedy pass goes by priority: a workload of higher priority that may go anywhere takes the
cheap room of the zones that a zone-pinned or zone-spread workload of lower priority cannot
leave, and that one is left out, though every replica fits where each goes where only it can
(tight zoned fleets, docs/performance.md session 32: 38-1,052 replicas left out after
`floor_complete.py` and `zone_cleared.py`, whose moves are one replica or one workload at a time,
where the room needs a chain: a replica of priority 20 to another region, one of 10 into its
room, one of 1 into that). So: one more pass where the floor is short, the workloads by the
nodes they may use (`scarcity`), fewest first, as "most constrained first" orders a search.
Kept only where it leaves out fewer replicas and at no priority level more (`no_level_worse`):
then no priority was overruled for it.
"""

from __future__ import annotations

from fitlang.model.problem import Demand, Problem
from fitlang.solve.greedy import Guide, affinity_followers, greedy_in_order
from fitlang.solve.make_room import left_out, no_level_worse
from fitlang.solve.pack import Packing


def scarcity(problem: Problem, demand: Demand) -> int:
    """The nodes `demand` may use; for a spread over domains, its fewest in any domain times
    the domains (it takes a share of each, and the smallest one bounds its share)."""
    classes = [problem.node_class(class_id) for class_id in demand.eligible]
    nodes = sum(node_class.count for node_class in classes)
    for spread in demand.spreads:
        if spread.topology == "node":
            continue
        per_domain: dict[object, int] = {}
        for node_class in classes:
            domain = node_class.topology_value(spread.topology)
            per_domain[domain] = per_domain.get(domain, 0) + node_class.count
        if per_domain:
            nodes = min(nodes, min(per_domain.values()) * len(per_domain))
    return nodes


def scarce_first(problem: Problem, packing: Packing, deadline: float | None,
                 guide: Guide | None = None) -> Packing:
    """A greedy pass with the workloads by `scarcity`, fewest nodes first (the priority order
    within the same), where `packing` leaves replicas out; that pass where it leaves out fewer
    at no priority level more, else `packing`. A workload that follows another by affinity
    keeps its place after its target (the usual order, after the others)."""
    if packing.complete:
        return packing
    followers = affinity_followers(problem)
    rank = {d.name: scarcity(problem, d) for d in problem.demands if d.name not in followers}
    other, cut = greedy_in_order(problem, rank, deadline, guide, most_out=most_out_by_level(problem, packing))
    return other if not cut and no_level_worse(problem, other, packing) else packing


def most_out_by_level(problem: Problem, packing: Packing) -> dict[int, int]:
    """Per priority level, what `packing` leaves out there: the pass that leaves out more at
    any level is not kept (`no_level_worse`), so it stops there (`greedy_in_order`'s
    `most_out`). ai_fleet 10,000 (CPU clock, session 44): where the pass was not kept (11 of the
    17 seeds of 1-20 whose floor is short), its zone-spread services of priority 90 / 60,
    placed last in this order, were left out; the first of them came 0.12-0.29 CPU s into a pass
    of 0.28-0.41 s."""
    levels = sorted({demand.priority for demand in problem.demands}, reverse=True)
    return dict(zip(levels, left_out(problem, packing)))
