"""One round of the aggregate model: the model solved (every replica, else level by level by
priority, then the objectives in order), its counts packed and completed node by node, and the
placement that packing makes. `placement.solve` runs the rounds and everything around them."""

from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from fitlang.model.problem import Problem
from fitlang.solve import work
from fitlang.solve.backends import HighsBackend, Settle, Z3Backend, started_from
from fitlang.solve.encode import Encoding, encode
from fitlang.solve.group_pack import packed_by_group
from fitlang.solve.limits import fleet_limits
from fitlang.solve.linear import Outcome, Status, Value, stated_bound
from fitlang.solve.make_room import made_room
from fitlang.solve.moved_aside import moved_aside
from fitlang.solve.outranked import outranked_room
from fitlang.solve.pack import MayOpen, Packing, pack, repair
from fitlang.solve.pattern_pack import pattern_packed
from fitlang.solve.placement_result import (
    OPTIMALITY_TOLERANCE,
    Placement,
    PlacementStatus,
    _from_packing,
    _packed_value,
)
from fitlang.solve.repack import place_short

if TYPE_CHECKING:
    from fitlang.solve.placement import Progress

Z3_MAX_VARIABLES = 400  # small, logic-heavy instances get exact answers from Z3
# the aggregate's target gap at fleet scale: packing adds its own few tenths of a percent, and
# closing the last 0.1% costs HiGHS ten times as long (see docs/performance.md)
RELAXED_GAP = 1e-3
# past this share of its time, the aggregate model (relaxed, with a time limit) stops once its
# incumbent is within MODEL_SETTLE_GAP of its bound: closing the last percents of the gap took
# the time its counts needed to be packed (inventory 300 seed 3 at 5 s: 20.701, the optimum,
# found at 1.8 s, the model ran on to its deadline at 4.0 s, and the packing that followed
# left 19 replicas out)
MODEL_SETTLE_SHARE = 0.25
MODEL_SETTLE_GAP = 0.03
# with no user limit (work.py), the model's window as a share of the default limit (inventory
# 1,000 at 60 CPU s: 47-48 s from the model's start to its deadline), and the share of it whose
# node count ends the model where it does not settle (before its deadline, the backstop)
MODEL_WINDOW_SHARE = 0.8
MODEL_COUNTED_SHARE = 0.6


def choose_backend(name: str, encoding: Encoding, relax: bool = False):
    """Z3 for a small model solved exactly (node by node); HiGHS at fleet scale (`relax`) at
    any size: Z3 minimises by bisection on the cost, and on a small model over bought nodes
    with region spreads (`cloud_buy.py --small` seed 179: 21 classes, 113 columns) it had
    7.49 with no bound at its deadline, where HiGHS proves the model's optimum, 3.7062, in
    0.1 s; the model's answer packed was 4.59 and the search stayed there."""
    if name == "z3" or (name == "auto" and not relax and _small(encoding)):
        return Z3Backend()
    return HighsBackend()


def _small(encoding: Encoding) -> bool:
    """A model Z3 solves node by node, and HiGHS at fleet scale with whole replica counts:
    relaxing them (`Encoding.relax_replicas`) speeds the branch and bound on thousands of
    columns; on a few hundred it costs nothing to keep them whole, and the whole counts are
    what packs (seed 179's model relaxed: 3.66, its counts packed 4.59; whole: 3.7062, packed
    as counted)."""
    return len(encoding.model.variables) <= Z3_MAX_VARIABLES


def past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.05, deadline - time.monotonic())


def opener(problem: Problem, planned: dict[str, int]) -> MayOpen:
    """The nodes the aggregate model counted may open; one more only if the buy limits, the
    budget and the power caps still hold with it."""
    def may_open(node_class, packing: Packing) -> bool:
        opened = packing.opened(node_class.id)
        if opened >= node_class.count:
            return False
        if opened < planned.get(node_class.id, 0):
            return True
        counts = {c.id: max(packing.opened(c.id), planned.get(c.id, 0)) for c in problem.classes}
        counts[node_class.id] += 1
        return within_limits(problem, counts)

    return may_open


def within_limits(problem: Problem, counts: dict[str, int]) -> bool:
    """Do these node counts per class keep the buy limits, the budget and the power caps?
    (Integer rows built once per problem, limits.py: the Fraction sums over every class took
    most of the consolidation's time where there is a budget.)"""
    return fleet_limits(problem).hold(counts)


def cap_short(packing: Packing, counts: dict[tuple[str, str], int],
               caps: dict[tuple[str, str], int]) -> bool:
    """A full class could not pack what the aggregate sent it: send the replicas that did not
    fit elsewhere next time (a heuristic cut, so the bound of the first round is kept)."""
    changed = False
    for (workload, class_id), short in packing.short_by_workload.items():
        cap = counts.get((workload, class_id), 0) - short
        if caps.get((workload, class_id), cap + 1) > cap:
            caps[workload, class_id] = max(cap, 0)
            changed = True
    return changed


def completed(problem: Problem, counts: dict[tuple[str, str], int], planned: dict[str, int],
               packing: Packing, objective: str, relax: bool, deadline: float | None,
               pack_deadline: float | None = None) -> Packing:
    """What `pack` left short of the model's counts, placed. First, where the aggregate model
    ran with a time limit, each domain group `pack` fell short on is packed again exactly
    (group_pack.py) until `pack_deadline` (the search's end: the model's own deadline may
    have passed, and packing its answer is what that time is kept for); where that places
    every replica, nothing more. Inventory 300 seed 3: 14 replicas short -> 1 (the one its
    counts cannot fit). Then, as before: `repair` opens nodes for it
    greedily; where the model is the aggregate one and time is left, a second packing of
    the same counts has repack's exact program place it first on the class's domain group
    (`place_short`), and `repair` only what that cannot. The one short of fewer replicas is
    kept, then the cheaper. Inventory 300 (h22a): the first counts are an optimum's on 8 of
    12 seeds, `pack` leaves 11-39 replicas of them out, and `repair`'s nodes cost 7-65% over
    the model; the exact program first took the 30 s answers from 5.2% to 3.1% over the
    optimum on average, but alone it left more replicas out on fleets that cannot place all.
    Before all that, the classes whose replicas have no node-level rules are packed by node
    patterns (pattern_pack.py), and what `repair` leaves out of those placed where another
    workload's replica moves aside (moved_aside.py)."""
    patterned = 0
    if relax and deadline is not None:
        patterned = pattern_packed(problem, packing, counts, planned, pack_deadline or deadline) \
            + len(packing.patterned)
        packed_by_group(problem, packing, counts, objective, pack_deadline or deadline)
        if packing.complete:
            return packing
    repair(problem, packing, opener(problem, planned))
    if patterned and not packing.complete:
        moved_aside(problem, packing, opener(problem, planned), pack_deadline or deadline)
    # (exact: that ran already; patterned: `pack` again left out what the patterns placed,
    # pools 3,000 seed 108: 1.6 s for 97 out, where the patterns' packing was complete)
    if relax and deadline is not None and not packing.exact and not patterned \
            and not _within_model(problem, packing, planned, objective):
        exact = pack(problem, counts, planned)
        place_short(problem, exact, objective, deadline)
        if not exact.complete:
            repair(problem, exact, opener(problem, planned))
        packing = min((packing, exact), key=lambda p: _shortfall_then_value(problem, p, objective))
    if not packing.complete and relax and deadline is not None:
        place_short(problem, packing, objective, deadline)  # a few moves, before a dearer round
    if not packing.complete:
        # a spread's or gang's last replica in the room of loose lower-priority ones, rather
        # than the whole workload left out; by the search's end (random fleet seed 0 at ten
        # times its nodes, 4,290, 5 s limit: 15 CPU s here, past it)
        made_room(problem, packing, opener(problem, planned), pack_deadline or deadline)
    if not packing.complete:  # a plain workload's replica in the room of lower-priority ones
        outranked_room(problem, packing, opener(problem, planned), pack_deadline or deadline)
    return packing


def _within_model(problem: Problem, packing: Packing, planned: dict[str, int], objective: str) -> bool:
    """Is the repaired packing complete and within the optimality tolerance of what the
    model's own nodes cost? Then a second, exact packing of the counts has nothing worth its
    time to gain: bench 1,000 spent 3.0 of its 4.8 s there for the same 1305.64."""
    if not packing.complete or objective not in ("cost", "nodes"):
        return False
    value = _packed_value(problem, packing, objective)
    model = sum(((problem.node_class(c).price if objective == "cost" else 1) * n for c, n in planned.items()),
                Fraction(0))
    return value is not None and value <= model * (1 + Fraction(OPTIMALITY_TOLERANCE))


def _shortfall_then_value(problem: Problem, packing: Packing, objective: str) -> tuple[int, float]:
    value = _packed_value(problem, packing, objective)
    return sum(packing.short.values()), math.inf if value is None else float(value)


def solve_aggregate(problem: Problem, backend: str, objectives: list[str],
                     min_nodes: dict[str, int], deadline: float | None,
                     caps: dict[tuple[str, str], int] | None = None, relax: bool = False,
                     start: Packing | None = None, progress: Progress | None = None,
                     proven: list[Fraction] | None = None):
    """One model solved: (encoding, outcome, whole counts, backend, model_status), or None. The
    bound of the first objective, when the solver proved one, is appended to `proven` (also
    when it found no placement)."""
    encoding = encode(problem, must_place=True, min_nodes=min_nodes, caps=caps)
    solver = choose_backend(backend, encoding, relax)
    extra: dict[str, Any] = {}  # HiGHS's own options: a start, a callback
    if relax and isinstance(solver, HighsBackend):
        if not _small(encoding):  # (a small model keeps its counts whole: `_small`)
            encoding.relax_replicas()
        solver = HighsBackend(RELAXED_GAP)
        extra["start"] = encoding.start_values(start) if start is not None else None
        if progress is not None:
            extra["improving"] = lambda value, bound: progress("optimise", value, bound)
        if deadline is not None and work.counted():
            # no user limit: settled and stopped by its node count (work.py), the seconds of the
            # default limit's model window they stand for
            window = MODEL_WINDOW_SHARE * work.default_limit()
            nodes = work.nodes_for(MODEL_SETTLE_SHARE * window, len(encoding.model.variables))
            extra["settle"] = Settle(math.inf, MODEL_SETTLE_GAP, after_nodes=nodes)
            extra["counted_seconds"] = MODEL_COUNTED_SHARE * window
        elif deadline is not None and not _small(encoding):
            # (a small model is solved to the gap: on a loaded machine a quarter of the window
            # on the wall passed before its 0.1 CPU s did, and an incumbent within 3%
            # was kept: tests/test_aggregate.py's fleet packed to 4.07, the optimum 3.67)
            window = max(0.0, deadline - time.monotonic())
            extra["settle"] = Settle(time.monotonic() + MODEL_SETTLE_SHARE * window, MODEL_SETTLE_GAP)
    outcome = solver.minimise(encoding.model, encoding.objective(objectives[0]), remaining(deadline),
                              **extra)
    if proven is not None and outcome.bound is not None and outcome.status is not Status.INFEASIBLE:
        proven.append(outcome.bound)
    everything_fits = outcome.status is not Status.INFEASIBLE
    if outcome.status is Status.INFEASIBLE and past(deadline):
        return None
    if outcome.status is Status.INFEASIBLE:
        encoding = encode(problem, must_place=False, min_nodes=min_nodes, caps=caps)
        solver = choose_backend(backend, encoding, relax)
        if relax and isinstance(solver, HighsBackend) and not _small(encoding):
            encoding.relax_replicas()
        placed = _place_by_priority(problem, encoding, solver, deadline)
        if placed is None:
            return None
        # the last level's solution places as many as the levels allow: a start for the cost
        # step, which the priority steps may have left little time
        outcome = solver.minimise(encoding.model, encoding.objective(objectives[0]),
                                  remaining(deadline), **started_from(solver, placed),
                                  **_counted(solver, len({d.priority for d in problem.demands}) + 1))
    if outcome.solution is None:
        return None
    first, status = outcome, outcome.status
    for name in objectives[1:]:
        _fix(encoding, objectives[objectives.index(name) - 1], outcome)
        following = solver.minimise(encoding.model, encoding.objective(name), remaining(deadline),
                                    **_counted(solver, len(objectives)))
        if following.solution is None:
            break
        outcome = following
        if following.status is not Status.OPTIMAL:
            status = Status.FEASIBLE
    primary_value = encoding.model.value(encoding.objective(objectives[0]), outcome.solution)
    final = Outcome(status, outcome.solution, primary_value, first.bound)
    counts = encoding.whole_counts(outcome.solution)
    # a packing that falls short of a placement the aggregate says exists is not infeasible
    return encoding, final, counts, solver.name, PlacementStatus(status, partial=not everything_fits)


def _counted(solver, solves: int) -> dict[str, Any]:
    """`minimise`'s `counted_seconds` for one of `solves` solves sharing the model's window, where
    the stages count their work (work.py: no user limit); else nothing (their deadline)."""
    if not isinstance(solver, HighsBackend) or not work.counted():
        return {}
    return {"counted_seconds": MODEL_COUNTED_SHARE * MODEL_WINDOW_SHARE * work.default_limit() / solves}


def _fix(encoding: Encoding, name: str, outcome: Outcome) -> None:
    terms = encoding.objective(name)
    if terms and outcome.solution is not None:
        encoding.model.add(terms, upper=encoding.model.value(terms, outcome.solution))


def _place_by_priority(problem: Problem, encoding: Encoding, solver,
                       deadline: float | None) -> list[Value] | None:
    """The most replicas placed, level by level from the highest priority, each level's count
    held in the model; the last level's solution (None: out of time)."""
    levels = sorted({d.priority for d in problem.demands}, reverse=True)
    solution = None
    for level in levels:
        if past(deadline):
            return None
        terms = encoding.placed_terms([d for d in problem.demands if d.priority == level])
        outcome = solver.minimise(encoding.model, terms, remaining(deadline),
                                  **started_from(solver, solution), **_counted(solver, len(levels) + 1))
        if outcome.solution is None:
            return None
        solution = outcome.solution
        encoding.model.add(terms, upper=encoding.model.value(terms, solution))
    return solution


def grown_classes(problem: Problem, encoding: Encoding, solution: list[int],
                  packing: Packing) -> dict[str, int]:
    """Classes whose packing opened more nodes than the aggregate model counted."""
    grown = {}
    for node_class in problem.classes:
        counted = solution[encoding.u[node_class.id]]
        opened = len(packing.nodes.get(node_class.id, []))
        if opened > counted or node_class.id in packing.short:
            grown[node_class.id] = min(node_class.count, max(opened, counted + 1))
    return grown


def can_grow(problem: Problem, min_nodes: dict[str, int], grown: dict[str, int]) -> bool:
    return any(grown[c] > min_nodes.get(c, 0) for c in grown)


def model_placement(problem: Problem, outcome: Outcome, packing: Packing, objective: str,
               model_status: PlacementStatus) -> Placement:
    """The placement the model's packing makes, its value what was actually packed (a gang
    the packing left short is out whole and its nodes are not paid for: random fleet seed
    1262 stated 280 USD/h where its nodes give 270), or the model's where the nodes alone do
    not give the objective."""
    placement = _from_packing(problem, packing, objective, model_status, outcome.bound)
    if placement.value is None:
        placement.value = outcome.objective if outcome.objective is not None else Fraction(0)
    placement.bound = stated_bound(placement.bound, placement.value, packing.complete)
    return placement
