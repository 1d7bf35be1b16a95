"""The floor is never worse than a plain first-fit: where the greedy floor is short, fitc's own
first-fit pass, kept where it places more.

The greedy pass (greedy.py) sends each workload, highest priority first, to the classes where a
replica costs least. On a fleet where that leaves replicas out, a plain first-fit can place
every one: the accelerator-heavy shape's held-out seed 8 (`bench/ai_fleet.py`, 10,000 nodes),
where the generator's own first-fit (gangs, then spreads, then by priority; every node in the
order the policy declares it) places every replica, and fitc's floor left 143 out; whether the
completions after it (scarce_first.py, floor_complete.py) placed the last ones before the time
limit decided the answer (`unknown` with 19-29 out in 5 s runs under load).

So, where the floor is short, one more pass: the same rules kept by the same greedy machinery
(`Guide.first_fit`), with the workloads whose rules need them whole first (gangs, then
spreads over domains), then by priority; the classes in the policy's order and each class's
nodes by name, a workload's replicas on the first node with room for them; an option group's
first option that places whole; a latency rule's replicas within its reach first, the rest
anywhere. It is kept where it places every replica, or leaves out fewer at no priority level
more (`no_level_worse`: no priority overruled), or as many at each level for less. Where the
floor is complete it does not run, nor where its completion completes it (placement.py keeps it
aside, and makes it the floor only where the floor is still short when the search comes: it is
a placement of every replica, not a cheap one, 27-37% over the bound on that shape where the
short floor's path reaches ~2% with the time to complete it).
"""

from __future__ import annotations

from collections.abc import Mapping

from fitlang.model.problem import Demand, Problem
from fitlang.solve.greedy import Guide, affinity_followers, greedy_in_order
from fitlang.solve.make_room import dropped_whole, left_out, no_level_worse
from fitlang.solve.pack import Packing
from fitlang.solve.placement_result import _packed_value
from fitlang.solve.scarce_first import most_out_by_level


def first_fit(problem: Problem, deadline: float | None,
              most_out: Mapping[int, int] | None = None) -> Packing | None:
    """The first-fit pass (None where the `deadline` cut it, or where it left out more than
    `most_out` at a priority level: `greedy_in_order`)."""
    guide = Guide(options={group.workload: list(group.demands) for group in problem.option_groups},
                  first_fit=True)
    packing, cut = greedy_in_order(problem, first_fit_order(problem), deadline, guide, most_out)
    return None if cut else packing


def first_fit_order(problem: Problem) -> dict[str, int]:
    """Every workload's place in the pass: gangs, then spreads over domains, then the others,
    each by priority, then in the policy's order; a workload that follows another by affinity
    after all of them (so after its target, as in every pass)."""
    followers = affinity_followers(problem)

    def key(at: int) -> tuple[int, int, int]:
        demand = problem.demands[at]
        return _whole_first(demand) if demand.name not in followers else 3, -demand.priority, at

    order = sorted(range(len(problem.demands)), key=key)
    return {problem.demands[at].name: rank for rank, at in enumerate(order)}


def _whole_first(demand: Demand) -> int:
    """0 for a gang, 1 for a spread over domains, else 2."""
    if demand.gang:
        return 0
    if any(spread.topology != "node" for spread in demand.spreads):
        return 1
    return 2


def first_fit_beside(problem: Problem, floor: Packing, objective: str,
                     deadline: float | None) -> Packing | None:
    """The first-fit pass where `floor` is short and the pass places more (`first_fit_places_more`),
    else None. The pass stops where it leaves out more than the floor at a priority level
    (`scarce_first.most_out_by_level`): it would not be kept (not complete, a level worse, not
    as many at each). An oversubscribed Slurm cluster (bench/hpc_queue.py 10,000 nodes / 3,000 jobs seed 5,
    2,549 replicas out of the floor, none placed by the pass) spent 0.46-0.60 CPU s of a 5 s
    limit on the whole pass; stopped there, 0.14."""
    if floor.complete:
        return None
    other = first_fit(problem, deadline, most_out_by_level(problem, floor))
    return other if other is not None and first_fit_places_more(problem, other, floor, objective) else None


def first_fit_places_more(problem: Problem, other: Packing, floor: Packing, objective: str) -> bool:
    """Does `other` place every replica where `floor` does not, or leave out fewer at no level
    more, or as many at each level for less?"""
    if floor.complete:
        return False
    if other.complete or no_level_worse(problem, other, floor):
        return True
    if left_out(problem, other) != left_out(problem, floor):
        return False
    value, floor_value = (_packed_value(problem, packing, objective, dropped_whole(problem, packing))
                          for packing in (other, floor))
    return value is not None and floor_value is not None and value < floor_value
