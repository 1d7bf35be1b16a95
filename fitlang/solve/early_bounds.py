"""The pair LP begun beside the greedy floor, as soon as the floor's first pass is placed.

At fleet scale the bounds run in a child process beside the placement (`placement._bounds_aside`),
forked once the floor is placed, completed and polished. On the accelerator-heavy shape at 50,000
nodes (30 s limit) that is 11-25 s into the solve: seed 2's first pass leaves replicas out, and the
floor's other passes in the priority order, its completion (`scarce_first`, `shorts_first_again`)
and the first-fit kept aside took 22 CPU s at load 12 (`fitc solve` on the CPU clock, where the
child then had 0.7 s for an LP of 4.3 CPU s); on the wall clock at load 3-8 the floor ended at
42 s, past the limit, and no child ran: the answer's bound was not stated in either. The LP needs
a start (the pairs a packing uses: from none, 14.5 CPU s against 4.3), and the floor's first pass
is one: here the child is forked with it at once, and runs the LP on the second core while this
process places the floor's other passes, completes and polishes it. Where the child's answer is in
by `_bounds_aside`, the child forked there makes the guided passes at once (the LP is not run
again); where the floor took the limit, the bound is stated all the same.

Only where a pass takes seconds (the first one's CPU seconds: EARLY_PASS_CPU) and the LP would run
in a child anyway (`_bounds_aside`'s conditions that do not depend on the time left), and where
the pair LP is expected to converge within the limit (elsewhere the zoned coarse bound decides
first, on the rebuilt floor: inventory 50,000). At 10,000 nodes a pass is 0.3-1.2 CPU s: the
child is forked where it was.
"""

from __future__ import annotations

import time
from fractions import Fraction

from fitlang.solve.backends import Minimising
from fitlang.solve.bound import Bound
from fitlang.solve.bound_stages import Bounds
from fitlang.solve.guides import guides

# the least CPU seconds the floor's first pass takes where the LP begins beside the floor (a
# pass at 10,000 nodes: 0.3-1.2 CPU s, the accelerator-heavy shape at 50,000 2.4-4.4)
EARLY_PASS_CPU = 1.5


def early_pays(first_pass_cpu: float, aside: bool, converges: bool) -> bool:
    """Whether the pair LP begins beside the floor: its first pass took `first_pass_cpu` CPU
    seconds, the LP would run in a child (`aside`) and is expected to converge in the limit."""
    return aside and converges and first_pass_cpu >= EARLY_PASS_CPU


def answered(early: Minimising | None) -> bool:
    """Whether the pair LP begun beside the floor (`early`) has answered, with a bound and the
    guide of a guided pass with the LP's classes. Then, where the floor is still short, those
    passes come before its completion (`placement._floor_stage`): on accelerator-heavy 50,000
    seed 2 (30 s, CPU clock, load 12-15) the completion took 11 CPU s and left the floor short,
    and the answer was the first-fit kept aside, 28% over the bound; each of the four guided
    passes in the order the floor learned placed every replica in 3.2-3.4 CPU s (453,142.78
    against the bound 448,804.47, 0.96%, the first). Still short after them: completed, and
    the first-fit kept aside then."""
    if early is None or not early.done():
        return False
    found = early.result(0.0)
    return found is not None and found.pair.value is not None and \
        any(guide.classes for guide in guides(found.suggested, found.counts))


# the pair LP's CPU seconds begun from the floor's first pass, per pair of the relaxation
# (`bound_stages.pairs_of`): accelerator-heavy 50,000 seeds 1 / 2 (~177,500 pairs), 4.3-5.5
# CPU s in 7 rounds, where `bound_stages.PAIR_SECONDS_PER_PAIR` (a converged LP from the whole
# floor) expects 2.8
EARLY_SECONDS_PER_PAIR = 3.2e-5


def waited(early: Minimising | None, expected: float, most: float) -> bool:
    """Whether the pair LP begun beside the floor has answered (`answered`), where it has not
    yet waited for at most what it is still expected to take (`expected` seconds from its
    start) and at most `most` seconds. The floor still short, the wait is worth more than
    its completion: on accelerator-heavy 50,000 seed 2 on the wall clock (load 4-5) the
    floor's three passes ended before the LP, the completion (`scarce_first`,
    `shorts_first_again`, 11 CPU s at load 12) left it short, and the answer was the first-fit
    kept aside, 28% over the bound, in 2 runs of 3, where each guided pass in the learned
    order places every replica (session 37, h37d)."""
    if early is None:
        return False
    wait = min(most, expected - (time.monotonic() - early.began))
    if wait > 0:
        early.waited(wait)
    return answered(early)


def told_bounds(early: Minimising | None) -> Bounds | None:
    """The pair bound the LP begun beside the floor told last (`lower_bound`'s `each_round`),
    where its answer is not in (`placement._bounds_aside` found none by its time): a proven
    bound all the same, stated (on the wall clock under load its child may have its first
    prices' bound only, 21% under, where its third round's is within 2.5%)."""
    value = None if early is None else early.newest()
    if not isinstance(value, Fraction):
        return None
    return Bounds(None, Bound(value), ({}, {}))
