"""The workloads bound to the zones a greedy pass left replicas out in: the next pass places them
after that pass's shorts and before the rest.

The floor's passes learn an order ("squeaky wheel": `greedy._short_first`, short_again.py,
short_order.py): a workload a pass leaves out goes first in the next. Where a zone's room is
bounded by what the pass does not count ahead (a region's power cap, a zone's CPU nodes), the
workloads that may go anywhere fill it first, and of those that can only go there, the ones
put first take the room the others needed: those are short in the next pass, and so on, one
pass (~0.3 CPU s at 10,000 nodes) for each layer. ai_fleet 10,000 seed 8: training gangs and
batch jobs drew ams1's power cap, and EU services and inference spread over zones were left
out in ams1-a; the passes left 511, 56, 15, 10, 6, then 0 replicas out (with `scarce_first`'s
pass between, not kept): 1.9 CPU s after the first pass, of the 5 s limit, before the bounds.
So a pass also puts ahead of the rest, after the shorts, every workload that cannot keep out
of the zones the last pass left replicas out in (`bound_to_short_zones`): the zones it may use
all among them, or a spread over zones, which takes a share of each zone it may use. Seed 8:
511, 25, then 0 out. The passes after the first to a complete floor (replayed without
deadlines, session 53), seeds 8 / 12 / 17 / 20 / 58: 5 / 3 / 4 / 3 / 2 -> 2 / 2 / 3 / 2 / 1;
seed 1: none complete in 8 -> 1.
"""

from __future__ import annotations

from collections.abc import Iterable

from fitlang.model.problem import Problem
from fitlang.solve.pack import Packing


def bound_to_short_zones(problem: Problem, packing: Packing) -> set[str]:
    """The workloads that cannot keep out of the zones `packing` left replicas out in (by the
    class each short replica was sent to): every zone they may use is one of those, or they
    spread over zones and may use one of those. None where no short replica has a zone."""
    zone_of = {node_class.id: node_class.zone for node_class in problem.classes}
    short_zones = {zone_of.get(class_id) for _, class_id in packing.short_by_workload} - {None}
    if not short_zones:
        return set()
    bound: set[str] = set()
    for demand in problem.demands:
        zones = {zone_of[class_id] for class_id in demand.eligible}
        if not zones & short_zones:
            continue
        if zones <= short_zones or any(spread.topology == "zone" for spread in demand.spreads):
            bound.add(demand.name)
    return bound


# a pass's order: the workloads left short first, then those bound to their zones, then the
# rest (the usual order within each: priority, then price)
SHORT_RANK, BOUND_RANK = 0, 1


def learned_order(short: Iterable[str], bound: Iterable[str]) -> dict[str, int]:
    """The ranks `greedy_in_order` takes: the `short` workloads first, then the `bound` ones
    that are not short."""
    order = dict.fromkeys(sorted(bound), BOUND_RANK)
    order.update(dict.fromkeys(sorted(short), SHORT_RANK))
    return order
