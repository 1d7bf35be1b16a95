"""A second bound of a fleet-scale solve, proven in a child process beside it: the aggregate
model with the u(1) and u(3) fragmentation rows (`rules/capacity._fragment_rows`: replicas over
half a node take a node each, and u(3) counts them in thirds of a node), solved for its dual bound
alone (issue 15, inventory 1,000 nodes / 100 workloads).

The aggregate model sums a class's capacity, so it packs replicas as a fluid: on the inventory
shape at 1,000 nodes the zone spreads send replicas of 4 CPUs to 7.9-CPU nodes, one a node at
most, and the model counts two a node. Seed 3's bound was 36.90 where the pattern bound proves
39.70 (not converged) and the best answer seen costs 41.72 (session 47, h47a). The u(1) rows hold
for every placement (the model with them stays a relaxation), and lifted that bound to 39.41; but
in the model the search is guided by they slowed its first improvement on the greedy start, and
the 5 s answers got dearer (seed 1 148.35 -> 152.82, held out 22 65.03 -> 78.81): reverted.

Here the rows are in a model of their own, built and solved in a child (`BoundBeside`, on the
machine's other core; on the CPU clock its time is its own, as the solve's other bounds beside
are), from the solve's start to its limit; its dual bound, where above the solve's, is the one
stated (`raised_beside`). The model the search is guided by is the start tree's, untouched.

The child also tells the best solution of its model it has found (`Found`): its counts pack as
they count, where the solve's own model's do not, and the solve packs them and keeps them where
cheaper (`fragment_counts.py`, session 53).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Problem
from fitlang.solve import work
from fitlang.solve.backends import KILL_GRACE, forks, tell_parent
from fitlang.solve.clock import on_the_wall, wall_seconds
from fitlang.solve.linear import Status
from fitlang.solve.model_bound_beside import raised_by_later_bound
from fitlang.solve.move_bound_beside import OFF_WALL_WAITS, BoundBeside
from fitlang.solve.placement_result import Placement

# the k of u(k) (k = 1: replicas over half a node; k = 3: thirds, a 4-CPU replica beside two of
# 2 on a 7.9-CPU node, which u(1) sums as 6 of 7.9). h47a at 5 s on seed 3: (1,) and (1, 2) both
# 39.41, the model's branch and bound got less far with more rows (seed 4); h51f, the child's
# 4.5 CPU s alone: (1, 3) seeds 26 / 22 / 3 43.16 / 41.51 / 39.41 -> 43.61 / 41.84 / 39.79
KS: tuple[int, ...] = (1, 3)
# fleets with more nodes get no child: measured at 1,000 nodes (issue 15's first example size),
# where the model solves within the limit; past this the pair and pattern bounds are the solve's
MOST_NODES = 2_000
# a replica over half of a node's resource and under this share of it is one the u(1) row charges
# more than the capacity row does (`capacity.FRAGMENT_GAIN`: 10% of a node, x < 0.9)
UNDER_SHARE = Fraction(9, 10)
# the share of its seconds the child's branch and bound stops by, so that its answer is in
# before the solve's end asks for it (what is left is the model's build and the answer's pickling)
CHILD_SHARE = 0.9


def raised_beside(problem: Problem, time_limit: float | None,
                  solved: Callable[[FragmentBeside | None], Placement]) -> Placement:
    """`solved(beside)` with the fragment bound of its first objective proven beside it
    (`fragment_bound_beside`, handed to it: its counts may be packed, `fragment_counts.py`), the
    placement's bound raised where the child proves more."""
    beside = fragment_bound_beside(problem, (list(problem.objective) or ["cost"])[0], time_limit)
    placement = solved(beside)
    if beside is not None:
        raised(placement, beside)
    return placement


def fragment_bound_beside(problem: Problem, objective: str,
                          time_limit: float | None) -> FragmentBeside | None:
    """The fragment model's bound started in a child until the limit's end, where the fleet has
    at most MOST_NODES nodes, a time limit (without, nothing is short of time and no child
    ends), every replica must be placed and some replica is one the u(1) rows charge more
    (`fragments`); else None."""
    nodes = sum(c.count for c in problem.classes)
    if time_limit is None or not forks() or nodes > MOST_NODES or problem.allow_unplaced \
            or "moves" in objective or not fragments(problem):
        return None

    def proven(seconds: float) -> Found | None:
        # (on the child's clock: a CPU clock starts anew at the fork.) Off the wall its CPU
        # seconds stop it, as `model_bound_beside`'s (a child's share of a core is not its parent's)
        slack = 1.0 if on_the_wall() else OFF_WALL_WAITS
        return fragment_found(problem, objective, time.monotonic() + slack * CHILD_SHARE * seconds,
                              CHILD_SHARE * seconds)

    started = FragmentBeside.running(proven, time.monotonic() + time_limit)
    assert isinstance(started, FragmentBeside)
    return started


class FragmentBeside(BoundBeside):
    """The child of `fragment_bound_beside`: its bound collected as a `BoundBeside`'s, and the
    best solution of its model it has found (`found`)."""

    def so_far(self) -> Fraction | None:
        return _bound_of(super().so_far())

    def collected(self) -> Fraction | None:
        return _bound_of(super().collected())

    def found(self) -> Found | None:
        """The best solution the child has found (None: none yet): with no user limit
        (`work.counted`), the one it answers at the end of its count of work, waited for (the
        same on any machine; the child is then done, its bound in); else the newest it told by
        now, the child running on."""
        if not work.counted():
            newest = self._pending.newest()
            return newest if isinstance(newest, Found) else None
        answered = self._pending.result(OFF_WALL_WAITS * wall_seconds(self.seconds) + KILL_GRACE)
        if answered is None:  # (stopped by its backstop: what it told last)
            answered = self._pending.told(0)
        return answered if isinstance(answered, Found) else None


def _bound_of(found: Found | Fraction | None) -> Fraction | None:
    return found.bound if isinstance(found, Found) else found


def fragments(problem: Problem) -> bool:
    """Whether some replica takes over half and under UNDER_SHARE of a resource of a node it may
    use: where none does, the u(1) rows are the capacity rows (none is added). In whole numbers
    over a matrix of the classes' capacities: 10,000 workloads on 1,000 pools, none taking
    half of any node, were 40 million comparisons of fractions (17 s) before the floor."""
    index = {c.id: k for k, c in enumerate(problem.classes)}
    rows = [[c.capacity[r] for r in RESOURCES] for c in problem.classes]
    # (whole numbers in int64 where the products below fit: bytes of memory do, by far)
    kind = np.int64 if max((max(row) for row in rows), default=0) < 1 << 58 else object
    capacities = np.array(rows, dtype=kind)
    asked: set[tuple[int, tuple[int, ...]]] = set()  # (eligibility list, requests) done
    for demand in problem.demands:
        requests = tuple(demand.requests[r] for r in RESOURCES)
        if (id(demand.eligible), requests) in asked or not demand.eligible:
            continue
        asked.add((id(demand.eligible), requests))
        have = capacities[[index[c] for c in demand.eligible]]
        need = np.array(requests, dtype=kind)
        over_half = 2 * need > have
        under_share = UNDER_SHARE.denominator * need < UNDER_SHARE.numerator * have
        if ((have > 0) & over_half & under_share).any():
            return True
    return False


@dataclass(frozen=True)
class Found:
    """What the child tells the parent as it goes, and answers at its end: the bound proven so
    far, and the best solution of its model found so far (its columns' values, those not zero;
    the fragment rows add rows, no columns, so they are a solution of the solve's own aggregate
    model too: `fragment_counts.py` packs them)."""
    bound: Fraction | None
    value: Fraction | None = None
    solution: dict[int, float] | None = None


def fragment_bound(problem: Problem, objective: str, deadline: float, cpu_seconds: float) -> Fraction | None:
    """The relaxed aggregate model with the u(KS) rows, solved until `deadline` (or
    `cpu_seconds` of its branch and bound): HiGHS's dual bound, rounded down. None: none proven
    (or the model is infeasible: the solve's own model says so)."""
    found = fragment_found(problem, objective, deadline, cpu_seconds)
    return None if found is None else found.bound


def fragment_found(problem: Problem, objective: str, deadline: float, cpu_seconds: float) -> Found | None:
    """`fragment_bound`'s model solved, each improving solution told to the parent as it comes
    (`tell_parent`: a `Found`, the bound and that solution), the last one with the bound at its
    end answered. With no user limit (`work.counted`) its branch and bound stops at the node
    count `cpu_seconds` stand for: the parent then waits for that answer (`FragmentBeside`),
    which is the same on any machine."""
    from fitlang.solve.aggregate import RELAXED_GAP
    from fitlang.solve.backends import HighsBackend
    from fitlang.solve.encode import encode

    # (HiGHS at any size: its dual bound is the answer, where z3's bisection proves one only at
    # its end)
    encoding = encode(problem, must_place=True, fragment_ks=KS)
    encoding.relax_replicas()
    best: list[dict[int, float]] = []

    def kept(solution: np.ndarray) -> None:
        nonzero = np.flatnonzero(solution)
        best[:] = [dict(zip(nonzero.tolist(), solution[nonzero].tolist(), strict=True))]

    def told(value: Fraction | None, bound: Fraction | None) -> None:
        # (HiGHS calls `found` with the solution before `improving` with its value)
        if bound is not None or best:
            tell_parent(Found(bound, value, best[0] if best else None))

    # with no user limit, its branch and bound stops at the nodes its seconds stand for, not at
    # their CPU seconds: the bound stated is then the same on any machine (work.py; ai 1,000
    # seed 35 with no limit stated 8061.83 on one clock, 8040.55 on one 2.1 times as slow); and
    # the whole MIP, its root too, at the checks of its limits they stand for (inventory 1,000
    # seed 42: 739 checks in 41 CPU s, in its root or under its nodes' count, and a machine 1.5
    # times as slow had it stopped at the default limit's end)
    counted = work.counted()
    backend = HighsBackend(RELAXED_GAP, checked_seconds=cpu_seconds)
    outcome = backend.minimise(encoding.model, encoding.objective(objective),
                               max(0.0, deadline - time.monotonic()), improving=told,
                               cpu_seconds=None if counted else cpu_seconds,
                               counted_seconds=cpu_seconds if counted else None, found=kept)
    if outcome.status is Status.INFEASIBLE:
        return None
    solution = None if outcome.solution is None else \
        {index: float(x) for index, x in enumerate(outcome.solution) if x}
    return Found(outcome.bound, outcome.objective, solution)


def raised(placement: Placement, beside: BoundBeside) -> None:
    """The child's bound collected and stated where above the placement's, as a plan's later
    bound is (`model_bound_beside.raised_by_later_bound`). Not where the placement leaves
    replicas out (the bound is on placing them all) or is proven optimal: the child stopped."""
    if placement.unplaced or placement.value is None or placement.status is Status.OPTIMAL:
        beside.stop()
        return
    placement.later_bound = beside
    raised_by_later_bound(placement)
