"""Room for a short replica of a plain workload made by leaving out replicas of lower priority.

`made_room` (make_room.py) does this for the workloads that lose more than their short
replicas (a gang, an option, a spread); a plain workload's short replica only costs itself,
so it was left out even where a replica of *lower* priority held its room, and the answer
placed fewer by priority than it could (`bench/differential_fleet.py` seed 4303: `w1`, 156
replicas of priority 10 kept off a node with `w0` of priority 0 by `anti_affinity w0 on
node`; the model's counts packed 4 of `w1` short, the next round capped `w1` on that class and
gave up 3 of `w0`'s replicas to place them elsewhere: 110 of `w0` where 112 fit, `unknown`).

Here each short replica of a plain workload goes where `made_room`'s rules put one (an open
node of an equivalent class, the loose replicas of the least priority taken off), but only
where everything taken off has a *lower* priority: one replica of a higher level placed for
any number of a lower one is what placing by priority asks; a replica traded for one of the
same level gains nothing. The replicas taken off go back to `repair`; the result is kept only
where it leaves out less, level by level from the highest (`left_out`).
"""

from __future__ import annotations

from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.solve.make_room import _Room, kept_where_fewer_left_out, loses_more
from fitlang.solve.pack import MayOpen, NodeState, Packing


def outranked_room(problem: Problem, packing: Packing, may_open: MayOpen,
                   deadline: float | None = None) -> bool:
    """Each plain workload short of replicas, highest priority first, given the room of loose
    replicas of lower priority (the module docstring), in place where that leaves out less,
    until the `deadline`; whether any was."""
    room = _Outranking(problem, may_open, deadline)
    lowest = min((problem.demand(name).priority for name in room.loose), default=None)
    names = {w for w, _ in packing.short_by_workload if not loses_more(problem.demand(w))}
    short = sorted((d for d in map(problem.demand, names) if lowest is not None and d.priority > lowest),
                   key=lambda demand: (-demand.priority, demand.name))
    return kept_where_fewer_left_out(problem, packing, may_open, short, room.placed_some, room.past)


class _Outranking(_Room):
    """`made_room`'s room, with nothing taken off but replicas of a lower priority."""

    def placed_some(self, packing: Packing, demand: Demand) -> bool:
        """The short replicas of `demand` placed one at a time until one finds no room (or the
        deadline); whether any was."""
        placed = False
        for (name, origin), amount in sorted(packing.short_by_workload.items()):
            if name != demand.name:
                continue
            for _ in range(amount):
                if self.past() or not self.placed_one(packing, demand, self.problem.node_class(origin)):
                    return placed
                placed = True
        return placed

    def victims(self, demand: Demand, node_class: NodeClass, node: NodeState,
                evict: bool) -> dict[str, int] | None:
        """`_Room.victims` where every one is of lower priority than `demand` (the least loss
        it picks has none of `demand`'s level where any choice has none)."""
        found = super().victims(demand, node_class, node, evict)
        if found and any(self.problem.demand(name).priority >= demand.priority for name in found):
            return None
        return found
