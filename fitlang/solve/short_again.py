"""A greedy floor still short after `scarce_first`, placed again and again with every workload
an earlier pass left out first ("squeaky wheel": what was hard to place goes earlier next time).

The greedy pass goes by priority and price. Where a scarce room is bounded by something the
pass does not count ahead (a power cap over a region, the accelerators within a latency
rule's reach), the workloads of higher priority that may go anywhere fill it and the ones that
may only go there are left out, though every replica fits (ai_fleet 10,000 seeds 1 and 3: EU
services of priority 0 out of power-capped Amsterdam, which batch jobs of priority 1-40 had
taken; 166 and 5 replicas out where a first-fit of the generator places all).
`scarce_first` orders by the nodes a workload may use, which a power cap does not shrink; the
short-first pass (`greedy_floor`) puts one pass's shorts first, and what they push out is then
short instead. Here the workloads short in any pass so far go first in the next, up to
`MAX_PASSES` passes (~0.25-0.3 CPU s each at 10,000 nodes) within the deadline: seed 3 places
every replica after one pass, seed 1 goes 166 -> 28 -> 8 -> 6. A pass is kept where it leaves
out fewer replicas and at no priority level more (`no_level_worse`): then no priority was
overruled for it.
"""

from __future__ import annotations

import time

from fitlang.model.problem import Problem
from fitlang.solve.greedy import Guide, affinity_followers, greedy_in_order
from fitlang.solve.make_room import no_level_worse
from fitlang.solve.pack import Packing
from fitlang.solve.zone_bound import bound_to_short_zones, learned_order

MAX_PASSES = 4


def shorts_first_again(problem: Problem, packing: Packing, deadline: float | None,
                       guide: Guide | None = None, learned: set[str] | None = None,
                       bound_turn: float | None = None, seconds: list[float] | None = None,
                       behind: set[str] | None = None, after: Packing | None = None) -> Packing:
    """The packing of the pass that leaves out least (see the module's doc), or `packing`
    where none leaves out fewer at no priority level more. A workload that follows another by
    affinity keeps its place after its target (the usual order). `learned`, where given: the
    workloads the floor's passes put first (`greedy._short_first`, short_order.py), which the
    passes here continue where `packing`'s shorts add one, and to which they add theirs.
    `bound_turn`, where given: a pass may run past `deadline` where, as long as the last, it
    ends before the bound's turn less one more pass (`_pass_deadline`). `seconds`, where given:
    each pass's seconds appended (the completion after them is timed by them,
    `guided_complete.floor_completion_end`). `behind`, where given: the workloads bound to the
    zones earlier passes left replicas out in (zone_bound.py), placed after the short ones;
    each pass adds those of the zones the last one left replicas out in. `after`, where given:
    the last pass in the learned order, not kept (`greedy_floor`'s short-first pass, which left
    out more at some priority level than `packing`): the passes go on from its shorts, where
    starting over from `packing`'s, all learned, made that same pass again (ai_fleet 10,000
    seeds 17 / 20: 65 / 84 replicas out twice, a pass of ~0.4 CPU s lost)."""
    followers = affinity_followers(problem)
    # (a first pass with only the floor's last shorts first sends the ones it put first back to
    # their wall: seed 1 219 out, not kept, then 28; continued, 28 at once, a pass of 0.35 CPU
    # s saved; seed 8 all placed after four passes, where starting over left 6 out)
    earlier = (learned or set()) - followers
    short = set(earlier) if after is not None or _shorts(packing) - followers - earlier else set()
    bound = set(behind or ()) - followers if short else set()
    best, last = packing, after or packing
    took: float | None = None  # the last pass's seconds
    for _ in range(MAX_PASSES):
        new = _shorts(last) - followers - short
        begins, ends = _pass_deadline(deadline, bound_turn, took)
        if best.complete or not new or not begins:
            break
        short |= new
        more = bound_to_short_zones(problem, last) - followers
        bound |= more
        if learned is not None:
            learned |= new
        if behind is not None:
            behind |= more
        began = time.monotonic()
        other, cut = greedy_in_order(problem, learned_order(short, bound - short), ends, guide)
        took = time.monotonic() - began
        if seconds is not None:
            seconds.append(took)
        if cut:
            break
        if no_level_worse(problem, other, best):
            best = other
        last = other
    return best


def _pass_deadline(deadline: float | None, bound_turn: float | None,
                   took: float | None) -> tuple[bool, float | None]:
    """Whether the next pass begins, and its deadline: `deadline` where it ends before that, as
    long as the last one (`took`); else `bound_turn` less one pass where it ends before that:
    the pass that may complete the floor, with the first-fit's time kept after it (one greedy
    pass as long, first_fit.py: the floor's alternative where it stays short) and the pair
    bound's; no pass where it ends before neither (a pass cut is time lost). ai_fleet 10,000
    seed 8 at 5 s on the CPU clock, passes of 0.26-0.43 s: the fourth, the one that places
    every replica, began after `deadline` or was cut there, and the answer was the first-fit,
    28.49% over the bound, where the completed floor is 2.30% over it (sessions 42-43)."""
    if deadline is None or took is None or time.monotonic() + took <= deadline:
        return True, deadline
    if bound_turn is not None and time.monotonic() + 2 * took <= bound_turn:
        return True, bound_turn - took
    return False, deadline


def _shorts(packing: Packing) -> set[str]:
    return {name for name, _ in packing.short_by_workload}
