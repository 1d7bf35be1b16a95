"""A run moved into the room another run holds, and that run placed again where it adds least
(issue 19, session 41): a chain of two runs.

The search's moves take one replica (`improved`), a node's block or stretch (`emptied`,
`timeline_stretches`) or one run (`runs_recreated`) off and place it again where it adds
least. On a converged schedule a run's cheapest place is often an awake node it has no room
on: the room is held by another run, which could go elsewhere for less than the first saves,
but alone gains nothing by moving. On 9 nodes CP-SAT started from fitc's converged schedule
finds 1.4-2.8% less by moving 22 replicas of 9 runs through five classes at once (sessions 39
and 40), a chain of such steps; here a step of it: the run and the run in its way taken off
together, the first placed again first (into the room the second held, where that adds
least), then the second (into what the first left, or anywhere else in its window); kept
where the two together cost less, every step through the ledger (capacity, power caps,
budget and buy limits per step; each start within its run's window).
"""

from __future__ import annotations

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.timeline_pack import (
    Deadline,
    Ledger,
    Spot,
    _any_in_windows,
    _recreated,
    moved_in,
    need_of,
    past,
    runs_held,
    wasteful_first,
)
from fitlang.solve.timeline_resume import Progress

# the runs in a run's way tried per run, the most in its way first: from seed 1's schedule
# converged at 25 CPU s (the goal size), one pass over every run with 3 found -14 USD in 4.8
# CPU s, with 8 -45 in 5.1, with 16 -56 in 8.4
CHAINED_RUNS = 8

Run = tuple[str, int]  # (demand, run)


def runs_chained(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
                 progress: Progress | None = None) -> list[Spot]:
    """One pass over the runs (`wasteful_first`) until the deadline: each run whose leaving
    lets a node sleep at some step taken off with each of the runs most in its way
    (`_in_the_way`) in turn and the two placed again, itself first (`_recreated` in order),
    the first pair that pays kept. `progress`: how far a pass over the same schedule got
    before."""
    spots = list(spots)
    runs = runs_held(problem, spots)
    run_of_spot = {index: key for key, held in runs.items() for index in held}
    where: dict[tuple[str, int], set[int]] = {}  # (class, node) -> the spots on it
    for index, spot in enumerate(spots):
        where.setdefault((spot.class_id, spot.node), set()).add(index)
    for key in (progress or Progress()).through(lambda: wasteful_first(ledger, spots, runs),
                                                 lambda: past(deadline, ledger)):
        if not any(_keeps_awake(ledger, spots[index]) for index in runs[key]):
            continue  # the run in another's room saves nothing: that is the other run's own move
        for other in _in_the_way(problem, ledger, spots, where, run_of_spot, key, runs):
            held = runs[key] + runs[other]
            moved = _recreated(problem, ledger, [spots[index] for index in held], in_order=True)
            if moved is not None:
                moved_in(spots, where, held, moved)
                break
    return spots


def _keeps_awake(ledger: Ledger, spot: Spot) -> bool:
    """Whether the spot alone keeps its node awake at some step of its run."""
    return bool((ledger.running[spot.class_id][spot.node, spot.start:spot.end] == 1).any())


def _in_the_way(problem: Problem, ledger: Ledger, spots: list[Spot], where: dict[tuple[str, int], set[int]],
                run_of_spot: dict[int, Run], key: Run, runs: dict[Run, list[int]]) -> list[Run]:
    """The CHAINED_RUNS other runs most in the way of run `key`: those with replicas on the
    nodes awake over a whole run at some start of its window, on a class it may use, where a
    replica of it finds no room (there it would cost nothing once room is made); the most such
    nodes first, then the fewest replicas (the cheapest to place again)."""
    name, run = key
    demand = problem.demand(name)
    window = demand.windows[run]
    need, duration = need_of(demand), window.duration
    first, last = window.earliest, window.latest_start + duration
    weight: dict[Run, int] = {}
    for class_id in demand.eligible:
        if ledger.running[class_id].shape[0] == 0 or last - first < duration:
            continue
        priced = ledger._rows(class_id, need, first, last, duration)
        # per start and node: the node awake over the whole run, and no room there
        free_if_room = ~_any_in_windows(priced.waking, duration).T & np.isinf(priced.cost)
        for node in np.flatnonzero(free_if_room.any(axis=0)).tolist():
            starts = np.flatnonzero(free_if_room[:, node])
            begins, ends = first + int(starts[0]), first + int(starts[-1]) + duration
            for index in where.get((class_id, node), ()):
                other = run_of_spot.get(index)
                spot = spots[index]
                if other is not None and other != key and spot.start < ends and spot.end > begins:
                    weight[other] = weight.get(other, 0) + 1
    return sorted(weight, key=lambda other: (-weight[other], len(runs[other]), other))[:CHAINED_RUNS]
