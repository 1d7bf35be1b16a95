"""One LP-guided greedy pass (`placement._cheapest_guided`), in the order the passes before it
learned (short_order.py) where they learned one, completed in place where it is a few replicas
short (guided_complete.py).

At 10,000 nodes a guided pass is ~0.45 CPU s and `fitc solve --time-limit 5` has ~1.5 s for
the guided passes after the floor and the pair LP (`bench/ai_fleet.py`, CPU clock), so which
passes a guide's first one takes decides whether one finishes:
- a pass with the LP's mixes (lp_mixes.py), where the floor learned an order, goes in it at
  once: its nodes fill the classes the services of one region need (seed 4: the priority order
  left 222 replicas out, then the learned order placed all), so a first pass in the priority
  order is short and its 0.5 CPU s lost (session 36);
- where the floor's passes learned no order, such a pass in the priority order leaves some of
  those services out (seed 13: its floor placed every replica at once; each of the four first
  guides' passes short by 24-37 replicas, then dropped; the answer the options-alone pass,
  1.93%): its shorts are learned and the pass made again in that order, at once;
- the passes in the learned order go on only while the time left holds another and its polish
  (`short_order._holds`); the last, where it is a few replicas short, is completed in place
  (`guided_completed`, in at most the passes' time), which takes less (seed 14: the first pass
  short by 5, the second by 4, the third cut by the deadline: the answer the floor, 3.57%);
  so is each pass before another is made (`short_order.COMPLETION_SHARE` of its time: seed 8,
  short by 16, then 11, then the third cut with no completion, session 53);
- a pass in the learned order that learned nothing new is not made again: it would be the
  same pass (seed 12: short by 6, then the same pass again, cut; the answer the floor, 2.63%).
"""

from __future__ import annotations

import time

from fitlang.model.problem import Problem
from fitlang.solve.aggregate import remaining
from fitlang.solve.greedy import Guide, greedy_floor
from fitlang.solve.guided_complete import guided_completed
from fitlang.solve.pack import Packing
from fitlang.solve.short_order import ShortFirst, short_first_pass


def guided_pass(problem: Problem, guide: Guide, objective: str, deadline: float | None,
                learned: ShortFirst | None) -> tuple[Packing, set[str]]:
    """The pass for `guide` (see the module's doc): its packing, complete where it could be
    made so, and the workloads the `deadline` cut off. `learned` keeps what the passes add and
    what a pass is expected to take (`ShortFirst.expected`: two of this one's first)."""
    began = time.monotonic()

    def completed(packing: Packing, seconds: float) -> bool:
        return guided_completed(problem, packing, objective, deadline, seconds)

    in_order = learned is not None and bool(learned.names) and (learned.at_once or bool(guide.nodes))
    if in_order:
        assert learned is not None
        guided, cut = short_first_pass(problem, learned, deadline, guide, completed)
    else:
        guided, cut = greedy_floor(problem, deadline, guide, plain_too=False)
    took = time.monotonic() - began
    if learned is not None:  # (a retry is two passes: what it is expected to take)
        learned.expected = 2 * took
    if cut or guided.complete:
        return guided, cut
    if learned is not None and _again(problem, guide, guided, learned, in_order):
        return short_first_pass(problem, learned, deadline, guide, completed)
    if not in_order:
        completed(guided, took)
    return guided, cut

def next_pass_fits(learned: ShortFirst | None, deadline: float | None) -> bool:
    """Where a guided pass was kept already: does the time left hold one more pass in the
    learned order (as long as the last one took)? A pass the deadline cuts is dropped, and its
    time is the ruin's and the search's after the passes (ai_fleet 10,000 at 5 s, the second
    guide's pass cut after 0.2-0.4 CPU s: seed 5 96,867.04 -> 96,831.90, seed 13 82,734.45 ->
    82,632.06 with that time given to the ruin of the pass kept). As before where no pass
    went in the learned order."""
    left = remaining(deadline)
    took = None if learned is None else learned.pass_seconds
    return took is None or left is None or left >= took


def _again(problem: Problem, guide: Guide, guided: Packing, learned: ShortFirst, in_order: bool) -> bool:
    """Whether a short pass is made again in the learned order: where it was in it, only where
    its last pass added names (the same pass again otherwise; not where every pass goes in it at
    once, `ShortFirst.at_once`); else where the floor learned an order, or the pass has the
    LP's mixes and its shorts are learned now."""
    if in_order:
        return not learned.at_once and learned.last_order != frozenset(learned.names)
    return bool(learned.names) or (bool(guide.nodes) and learned.learn(problem, guided))
