"""A run that cannot move alone moved with a run in its way (issue 19, session 42): pairs of
runs inside `runs_recreated`'s pass.

`runs_recreated` takes each run's replicas off together and places them again where each adds
least; on a converged schedule most runs find no cheaper place, often because their cheapest
place is an awake node another run fills. Session 41 (h41g) priced the pair, the run and one
run in its way taken off together and placed again (the run first, into the room the other
held, then the other anywhere in its window), as a pass of its own after the run pass: 8.8 USD
a CPU s from a converged schedule, but at 30 s a second pass over every run, each round, that
took the kick's and the overflow chains' time. Here the pairs are tried only where the run
pass has just failed on a run, and only for a run whose leaving saves at least PAIRED_SAVING
(a run that frees little cannot pay for a second run's move), with the PAIRED_RUNS runs most
in its way; every step goes through the ledger (capacity, power caps, budget and buy limits
per step; each start within its run's window). In every run pass (session 42) they pushed the
kick out of a 30 s solve; in the solve's first run pass only (`searched`, session 43) they pay.
"""

from __future__ import annotations

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.timeline_pack import (
    EPSILON,
    Ledger,
    Spot,
    _any_in_windows,
    _recreated,
    moved_in,
    need_of,
)

Run = tuple[str, int]  # (demand, run)

# the runs in a run's way tried per failed run, the most in its way first (h41g, from seed 1's
# schedule converged at 25 CPU s: 3 runs found -14 USD in 4.8 CPU s, 8 -45 in 5.1, 16 -56 in 8.4)
PAIRED_RUNS = 8
# the least a failed run's leaving must save (in the objective's units) for its pairs to be
# tried: from seed 1's schedule converged at 25 CPU s, every failed run's pairs (1,057 runs,
# 4,618 pairs) found -47 in 9.4 CPU s, 5 a CPU s, below the overflow chains' 7 at 30 s; the
# 168 runs saving over 150, 1,092 pairs, found -25 of it (the paying runs lie all through the
# pass, and neither a run's size nor a lower threshold sorts them out)
PAIRED_SAVING = 150.0


class RunPairs:
    """The run pass's schedule (`spots`, changed in place) with where each spot is, so that a
    run the pass failed on can be tried with the runs in its way (`tried`)."""

    def __init__(self, problem: Problem, ledger: Ledger, spots: list[Spot], runs: dict[Run, list[int]]
                 ) -> None:
        self.problem, self.ledger, self.spots, self.runs = problem, ledger, spots, runs
        self.run_of_spot = {index: key for key, held in runs.items() for index in held}
        self.where: dict[tuple[str, int], set[int]] = {}  # (class, node) -> the spots on it
        for index, spot in enumerate(spots):
            self.where.setdefault((spot.class_id, spot.node), set()).add(index)

    def moved(self, held: list[int], moved: list[Spot]) -> None:
        """The spots `held` (indices) now `moved`."""
        moved_in(self.spots, self.where, held, moved)

    def tried(self, key: Run) -> bool:
        """The run `key` (which found no cheaper place alone) taken off with each of the runs
        most in its way in turn, itself placed first; the first pair that pays kept."""
        held = self.runs[key]
        if _saving(self.problem, self.ledger, [self.spots[index] for index in held]) <= PAIRED_SAVING:
            return False
        for other in self._in_the_way(key):
            pair = held + self.runs[other]
            moved = _recreated(self.problem, self.ledger, [self.spots[index] for index in pair],
                               in_order=True)
            if moved is not None:
                self.moved(pair, moved)
                return True
        return False

    def _in_the_way(self, key: Run) -> list[Run]:
        """The PAIRED_RUNS other runs most in the way of run `key`: those with replicas on the
        nodes awake over a whole run at some start of its window, on a class it may use, where
        a replica of it finds no room (there it would cost nothing once room is made); the most
        such nodes first, then the fewest replicas (the cheapest to place again)."""
        name, run = key
        demand = self.problem.demand(name)
        window = demand.windows[run]
        need, duration = need_of(demand), window.duration
        first, last = window.earliest, window.latest_start + duration
        weight: dict[Run, int] = {}
        for class_id in demand.eligible:
            if self.ledger.running[class_id].shape[0] == 0 or last - first < duration:
                continue
            priced = self.ledger._rows(class_id, need, first, last, duration)
            # per start and node: the node awake over the whole run, and no room there
            free_if_room = ~_any_in_windows(priced.waking, duration).T & np.isinf(priced.cost)
            for node in np.flatnonzero(free_if_room.any(axis=0)).tolist():
                starts = np.flatnonzero(free_if_room[:, node])
                begins, ends = first + int(starts[0]), first + int(starts[-1]) + duration
                for index in self.where.get((class_id, node), ()):
                    other = self.run_of_spot.get(index)
                    spot = self.spots[index]
                    if other is not None and other != key and spot.start < ends and spot.end > begins:
                        weight[other] = weight.get(other, 0) + 1
        return sorted(weight, key=lambda other: (-weight[other], len(self.runs[other]), other))[:PAIRED_RUNS]


def _saving(problem: Problem, ledger: Ledger, held: list[Spot]) -> float:
    """What taking `held` off their nodes saves (the ledger left as it was)."""
    ledger.tried()
    saved = sum(ledger.release(s.class_id, s.node, need_of(problem.demand(s.demand)), s.start, s.end)
                for s in held)
    ledger.untried()
    return saved if saved > EPSILON else 0.0
