"""A guided greedy pass with the workloads the passes before it left short placed first.

The floor's passes learn an order: a workload left out by the priority order (a service of
priority 0 bound to one region by residency, whose nodes the workloads of higher priority that
may go anywhere filled first) is placed first in the next pass (`greedy._short_first`,
`short_again.py`), until one places every replica. The guided passes (`placement._cheapest_guided`)
started again from the priority order and met the same wall: ai_fleet 10,000 seed 4 at 5 s,
every LP-guided pass left 689-776 EU-resident replicas out (fra1's untainted nodes all open) and
was dropped after three more passes (`greedy_floor`'s second order and `scarce_first`), and the
answer was the consolidated floor, 3.89% over the bound, where a complete guided pass
consolidated is 2.6% over.

Here the passes share what they learned (`ShortFirst`): a guided pass puts first every workload
short in any pass before it (the floor's and the guided ones'), and where it still leaves some
out that are not among them, it runs again with those added, up to `MAX_PASSES`, within the
deadline. A pass is kept by its caller only where it places every replica: then no priority was
overruled for the order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fitlang.model.problem import Problem
from fitlang.solve.aggregate import past, remaining
from fitlang.solve.greedy import Guide, affinity_followers, greedy_in_order
from fitlang.solve.pack import Packing
from fitlang.solve.scarce_first import scarce_first
from fitlang.solve.zone_bound import bound_to_short_zones, learned_order

# the passes one guided pass may take: each is ~0.25-0.3 CPU s at 10,000 nodes, and a guided
# pass retried without the order took three (its first, the plain order, then `scarce_first`)
MAX_PASSES = 3


@dataclass
class ShortFirst:
    """The workloads the passes so far left short, those that follow another by affinity left
    out (each keeps its place after its target, the usual order)."""

    names: set[str] = field(default_factory=set)
    # the workloads bound to the zones the passes left replicas out in (zone_bound.py): after
    # `names`, before the rest
    behind: set[str] = field(default_factory=set)
    # what the plain order and `scarce_first` took on the last guide both left short (s)
    failed: float | None = None
    # what they are expected to take before that: two passes of the last guide's first's time
    expected: float | None = None
    # a guided pass goes in this order at once, not first in the priority order
    # (passes_beside.py: at 50,000 nodes a first pass in the priority order is short, 3-4 CPU s)
    at_once: bool = False
    # the workloads put first in the last pass in this order (`short_first_pass`): a pass in
    # it again with no name added would be the same pass (`guided_pass.guided_pass`)
    last_order: frozenset[str] | None = None
    pass_seconds: float | None = None  # what that last pass took (`guided_pass.next_pass_fits`)

    def floor_took(self, seconds: float) -> None:
        """Where the floor learned an order, its `greedy_floor` ran three passes (the priority
        order, the plain one, the short workloads first); a pass in the learned order with
        the LP's mixes filled first (lp_mixes.py) and its polish took about half that (ai_fleet
        10,000 seeds 2 / 4: 0.53 + 0.15 CPU s against 1.2-1.3)."""
        if self.names:
            self.expected = seconds / 2

    def learn(self, problem: Problem, packing: Packing) -> bool:
        """Adds the workloads `packing` leaves short; whether any was new."""
        followers = affinity_followers(problem)
        new = {name for name, _ in packing.short_by_workload} - followers - self.names
        self.names |= new
        if new:
            self.behind |= bound_to_short_zones(problem, packing) - followers
        return bool(new)

    def order(self) -> dict[str, int]:
        """The ranks a pass in this order takes (`greedy_in_order`)."""
        return learned_order(self.names, self.behind - self.names)


def short_first_pass(problem: Problem, learned: ShortFirst, deadline: float | None,
                     guide: Guide | None = None,
                     completed: Callable[[Packing, float], bool] | None = None) -> tuple[Packing, set[str]]:
    """The greedy pass with `learned`'s workloads first (the priority order among them and for
    the rest), again with those it leaves short added while some are new, up to MAX_PASSES;
    the last pass, and whether the deadline cut it. `learned` keeps what the passes added.
    `completed`, where given: a short pass completed in place by it (told the seconds it may
    take; whether it is complete), each pass in COMPLETION_SHARE of the pass's time before the
    next is made, the last one still short in the passes' seconds; a pass is then the last also
    where the time left does not hold another and its polish (`_holds`: the completion of a few
    replicas takes less)."""
    began = time.monotonic()
    packing, cut, took = _in_order(problem, learned, deadline, guide)
    for _ in range(MAX_PASSES - 1):
        if cut or packing.complete:
            break
        new = learned.learn(problem, packing)
        if completed is not None and completed(packing, COMPLETION_SHARE * took):
            break
        if not new or (completed is not None and not _holds(deadline, took)):
            break
        packing, cut, took = _in_order(problem, learned, deadline, guide)
    if not cut and not packing.complete:  # (for the next guided pass)
        learned.learn(problem, packing)
        if completed is not None:
            completed(packing, time.monotonic() - began)
    return packing, cut


def _in_order(problem: Problem, learned: ShortFirst, deadline: float | None,
              guide: Guide | None) -> tuple[Packing, set[str], float]:
    """One pass in `learned`'s order (see `short_first_pass`), and the seconds it took."""
    began = time.monotonic()
    learned.last_order = frozenset(learned.names)
    packing, cut = greedy_in_order(problem, learned.order(), deadline, guide)
    learned.pass_seconds = time.monotonic() - began
    return packing, cut, learned.pass_seconds


# the share of a pass's time its completion may take before another pass is made
# (`short_first_pass`): a few replicas' completion takes 0.03-0.1 CPU s where it succeeds, a pass
# 0.45-0.55 (ai_fleet 10,000 seed 8: the guided passes short by 16, 11, then the third cut by
# the deadline with no completion; the second's completed in 0.05 s on the start tree)
COMPLETION_SHARE = 0.5

# a pass and its polish, in passes: a guided pass's consolidation took ~0.3 of the pass
# (`bench/ai_fleet.py` 10,000: 0.12-0.15 CPU s after a pass of 0.43-0.5)
PASS_AND_POLISH = 1.3


def _holds(deadline: float | None, pass_seconds: float) -> bool:
    """Does the time left hold another pass of `pass_seconds` and its polish?"""
    left = remaining(deadline)
    return left is None or left >= PASS_AND_POLISH * pass_seconds


def retried_pass(problem: Problem, guide: Guide, guided: Packing, deadline: float | None,
                 learned: ShortFirst | None, as_before: Callable[[Packing, Guide], Packing]) -> Packing:
    """A guided pass `guided` left short, placed again (`placement._cheapest_guided`, once every
    guide had its first pass): as before, in the plain order too (`plain_order_too`), then with
    the workloads that have least room first (`scarce_first`); where those are short,
    `short_first_pass` (then `scarce_first` again where still short). Where `scarce_first`
    places every replica it costs less than the learned order (ai_fleet 10,000 seed 2,
    consolidated: 98,015.18 against 98,598.66 on the first guide; seed 4 at 60 s, the fourth
    guide's 104,882.02 against 105,457.82), so it keeps its turn while the time left holds it
    (`_before_fits`); after that, the learned order at once (seed 4 at 5 s: one pass of
    0.24-0.3 CPU s where the other two took ~0.8 and were short). `as_before`: the retry as it
    was (the plain order, then `scarce_first`, with the guide), the caller's."""
    if learned is None or not learned.names:  # (the floor learned nothing: the retry as it was)
        return as_before(guided, guide)
    if _before_fits(learned, deadline):
        began = time.monotonic()
        guided = as_before(guided, guide)
        if guided.complete or past(deadline):
            return guided
        learned.failed = time.monotonic() - began
        learned.learn(problem, guided)
    again, cut = short_first_pass(problem, learned, deadline, guide)
    if cut:
        return guided
    return again if again.complete else scarce_first(problem, again, deadline, guide)


def _before_fits(learned: ShortFirst, deadline: float | None) -> bool:
    """Does the time left hold twice what the plain order and `scarce_first` took where they
    were last short (the retry, and where it is short again the learned passes after it), or
    before any was, what they are expected to take (`ShortFirst.expected`)?"""
    left, took = remaining(deadline), learned.failed or learned.expected
    return took is None or left is None or left >= 2 * took
