"""A stretch of a node's block emptied (issue 19, session 36): between the search's single
replica moves (`improved`: one replica off its node) and its ruin and recreate of a whole block
(`emptied`: every replica of a maximal run of awake steps), the replicas running over a few
steps of a block taken off together and placed again where each adds least, kept where that
costs less than the steps they alone kept awake.

Where several replicas overlap around a node's light hours (a block's edges, or a dip inside
it), no one of them frees a step by leaving, and the block as a whole holds a replica with
nowhere cheaper to go: the stretch between them is paid for by neither move. At the goal size
of the sites shape, from main's 30 s schedules (converged), one pass found -117 / -146 USD in
2.3 / 2.7 CPU s (seeds 1 / 3), and the moves after it -5 / -15 more; the search's late rounds of
`emptied` find 1-10 USD per CPU s there (session 36, docs/performance.md).
"""

from __future__ import annotations

from fitlang.model.problem import Problem
from fitlang.solve.timeline_pack import Deadline, Ledger, Spot, _blocks, _recreated, moved_in, past
from fitlang.solve.timeline_resume import Progress

# a stretch is the replicas running at one step of a block, or over up to this many of its
# consecutive distinct sets of running replicas: from main's converged 30 s schedules, up to 2
# -85 / -123 USD in 1.7 / 2.0 CPU s (seeds 1 / 3), up to 3 -117 / -146 in 2.3 / 2.7, up to 5
# -129 / -170 in 3.1 / 3.7 (the moves after it found 2-16 more in each case)
SPANNED = 3


def stretches_emptied(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
                      progress: Progress | None = None) -> list[Spot]:
    """One pass over the blocks (`_blocks`: the least used first) until the deadline: each
    block's stretches (`_stretches`) taken off and placed again (`_recreated`), the first that
    pays kept, and the block's stretches read again while one pays (seed 1 from its converged
    30 s schedule: -117 USD in 2.3 CPU s, and the moves after -5, where the first stretch kept
    per block found -79 in 1.9, the moves after -35). `progress`: how far a pass over the same
    schedule got before (a block it was cut in is read again)."""
    spots = list(spots)
    where = _spots_by_node(spots)
    for class_id, node, first, last in (progress or Progress()).through(
            lambda: _blocks(ledger), lambda: past(deadline, ledger)):
        while _one_kept(problem, ledger, spots, where, (class_id, node), first, last) \
                and not past(deadline, ledger):
            pass
    return spots


def blocks_emptied_longest_first(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
                                 progress: Progress | None = None) -> list[Spot]:
    """One pass over the blocks (`_blocks`: the least used first) until the deadline: each
    block's replicas taken off together and placed again the longest first where the largest
    first (`emptied`'s order) does not pay (`_recreated`'s `longest_too`). Largest first, a
    short replica that takes much of a node goes into the room an awake node leaves and the
    long small one after it finds none and wakes a node for its whole run; the long one
    first takes that room and the short one fits the room a node leaves for a few steps
    (the sites shape's 24-CPU replicas of a few hours beside 2-8-CPU ones of a day). Blocks
    whose replicas are all as long are `emptied`'s alone. `progress`: how far a pass over
    the same schedule got before."""
    spots = list(spots)
    where = _spots_by_node(spots)
    for class_id, node, first, last in (progress or Progress()).through(
            lambda: _blocks(ledger), lambda: past(deadline, ledger)):
        held = sorted(index for index in where.get((class_id, node), ())
                      if spots[index].start < last and spots[index].end > first)
        if not held or any(problem.demand(spots[i].demand).min_segment is not None for i in held):
            continue
        moved = _recreated(problem, ledger, [spots[index] for index in held], longest_too=True)
        if moved is not None:
            moved_in(spots, where, held, moved)
    return spots


def _spots_by_node(spots: list[Spot]) -> dict[tuple[str, int], set[int]]:
    """(class, node) -> the indexes of the spots on it."""
    where: dict[tuple[str, int], set[int]] = {}
    for index, spot in enumerate(spots):
        where.setdefault((spot.class_id, spot.node), set()).add(index)
    return where


def _one_kept(problem: Problem, ledger: Ledger, spots: list[Spot], where: dict[tuple[str, int], set[int]],
              at: tuple[str, int], first: int, last: int) -> bool:
    """The first stretch of the spots on node `at` over [first, last) that pays, moved (`spots`
    and `where` with it); whether one did."""
    held = sorted(index for index in where.get(at, ()) if spots[index].start < last
                  and spots[index].end > first)
    for stretch in _stretches(problem, spots, held, first, last):
        moved = _recreated(problem, ledger, [spots[index] for index in stretch])
        if moved is not None:
            moved_in(spots, where, list(stretch), moved)
            return True
    return False


def _stretches(problem: Problem, spots: list[Spot], held: list[int], first: int, last: int
               ) -> list[tuple[int, ...]]:
    """The sets of `held` (a block's spots over [first, last)) running at one step, then over
    2..SPANNED consecutive distinct such sets, each once: of at least two replicas (one is
    `improved`'s) and not the whole block (`emptied`'s), none preemptible (its segments are
    `timeline_segments`')."""
    running: list[frozenset[int]] = []  # the distinct sets step after step
    for step in range(first, last):
        now = frozenset(index for index in held if spots[index].start <= step < spots[index].end)
        if not running or now != running[-1]:
            running.append(now)
    whole = frozenset(held)
    fixed = {index for index in held if problem.demand(spots[index].demand).min_segment is not None}
    found: dict[frozenset[int], None] = {}  # (ordered, each once)
    for span in range(1, SPANNED + 1):
        for position in range(len(running) - span + 1):
            stretch = frozenset().union(*running[position:position + span])
            if len(stretch) >= 2 and stretch != whole and not stretch & fixed:
                found.setdefault(stretch)
    return [tuple(sorted(stretch)) for stretch in found]
