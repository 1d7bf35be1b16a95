"""A guided pass in the solve's own process while the child beside it runs the others.

Where the pair LP runs in a child process (`placement._bounds_aside`), the child then runs the
first guided passes, and this process, once its ruin of the floor's dear nodes is done, only
waits for it. At 50,000 nodes that wait is most of the time: accelerator-heavy seed 1 at 30 s
(CPU clock), the floor and its polish 10.4 s, the child's pair LP 4.4 CPU s, one guided pass
8.6 s (a first pass left short, then two with the workloads it left out first), so the child
reaches one pass, and where its LP or the floor took a little longer, none (a pass is only
started where the time left holds what the floor took): 2.66% in one run of four against
1.57-1.96%, the pass worth 1.1 points (docs/performance.md, sessions 35 and 36). On the wall
clock under load, the child's share of a core decides as much.

Here the child tells this process the LP's guides as soon as it has them
(`backends.tell_parent`), and this process makes the first of the first passes (those with the
LP's classes: the one the child made first, its answer's on seed 1) meanwhile, the child the
ones after it, in their order: this process's time after its ruin holds a pass where the
child's, after its LP, may not. Only where the child's time is not expected to hold two passes
after its LP: elsewhere (10,000 nodes at 5 s: a pass is 0.5-1 s) the child reaches the passes
itself and this process spends the wait on its own polish (`placement._room_floor`, the ruin),
as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fitlang.solve.backends import Minimising
from fitlang.solve.greedy import Guide
from fitlang.solve.guides import guides
from fitlang.solve.short_order import ShortFirst

# the least CPU seconds a pass (the floor's passes and polish) takes where one is made here:
# below it the time the passes take is small beside this process's own polish of the floor
# while it waits (`placement._room_floor`, the ruin), which it keeps (10,000 nodes: 0.5-1 s;
# 50,000: 8-13 s)
LEAST_PASS_CPU = 2.0


def pays(left: float, expected_bound: float, whole_pass: float | None, cpu_share: float,
         short_floor: bool = False) -> bool:
    """Whether a pass here beside the child pays: the child's `left` seconds hold its bound
    (`expected_bound`) and fewer than two passes of `whole_pass` (what the floor's passes and
    polish took: `placement._Run.floor_seconds`), or the floor is short (`short_floor`: its
    completion deferred to the guided passes, so this process has no floor of its own to
    polish while it waits), a pass of at least LEAST_PASS_CPU CPU seconds at the `cpu_share`
    of a core this process has had (`budget.Budget`). Accelerator-heavy 50,000 seed 2, 30 s CPU
    clock: the floor's passes in 7.2 s, not 8.7 (no second pass in the plain order), left 16.1
    s and the child all three first passes, one after another, while this process waited."""
    return whole_pass is not None and whole_pass * cpu_share >= LEAST_PASS_CPU and \
        (short_floor or left < expected_bound + 2 * whole_pass)


# the child's passes beside this one's end at most this many passes after its LP: on the wall
# clock this process waits for the child's answer after its own pass, and a pass measured 8.1
# to 9.3 s where the floor's passes took 9.3 (accelerator-heavy 50,000 seed 1)
CHILD_PASSES = 1.25


def child_share(classed: list[Guide], end: float, pass_seconds: float | None) -> tuple[list[Guide], float]:
    """Where a pass is made here beside the child: the first passes' guides the child makes
    (all but the first, `here_guide`, where there are two or more) and the end of its passes:
    by CHILD_PASSES passes of `pass_seconds` from now, at most `end`. A pass is begun whatever
    it is expected to take (a pass cut by the end is dropped): this process makes its own
    meanwhile, and on the wall clock waits for the child no longer than that."""
    guides = classed[1:] if len(classed) > 1 else classed
    return guides, end if pass_seconds is None else min(end, time.monotonic() + CHILD_PASSES * pass_seconds)


def here_guide(classed: list[Guide], beside: bool) -> Guide | None:
    """The guide of the pass here beside the child: the first of the first guides, where
    there are two or more (with one, the child makes it, as before)."""
    return classed[0] if beside and len(classed) > 1 else None


def pass_beside(pending: Minimising, wait: float, made: Callable[[Guide], bool]) -> bool:
    """While the child beside makes the first guided passes: the first of them made here by
    `made` (`placement._made_here`), with the guides the child tells once its pair LP is done,
    waited for at most `wait` seconds; whether it was made. It is not among the passes ruined
    before one is chosen (`placement._ruined_first`): on accelerator-heavy 50,000 seed 1 that
    ruin took 3.4 of the 5.5 CPU s the search had after it, for 37 USD/h, where the search's
    merge of small nodes, first in its order (`small_nodes_merged`), finds 1,400 in 2.3 s."""
    told = pending.told(wait)
    told_guides = [] if told is None else guides(told.suggested, told.counts)
    guide = here_guide([guide for guide in told_guides if guide.classes], True)
    return guide is not None and made(guide)



# the share of the floor's passes and polish (`placement._Run.floor_seconds`) a pass in the
# learned order needs left to begin (`learned_seconds`): one learned pass and its polish took
# 3.3-3.8 CPU s, two 7.1, where the floor's took 9.3-11 (accelerator-heavy 50,000 seed 1)
LEARNED_PASS_SHARE = 0.4


def learned_seconds(pass_seconds: float | None, learned: ShortFirst) -> float | None:
    """What a pass beside the child needs left to begin: where the floor's passes learned an
    order (short_order.py), the pass goes in it at once (`ShortFirst.at_once`), and a share of
    the floor's passes' time; else as much as those. At 50,000 nodes every first pass in the
    priority order comes back short (accelerator-heavy seed 1: 2.6-4.4 CPU s each, by the
    load), and the guided pass that begins with one, then the learned order, took 8.1-10.2 s,
    which under load the time left did not hold (2.61%, the floor's answer)."""
    if pass_seconds is None or not learned.names:
        return pass_seconds
    return LEARNED_PASS_SHARE * pass_seconds
