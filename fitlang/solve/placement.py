"""Solve a `Problem`: the aggregate model, lexicographic objectives, priorities, per-node packing.

1. Try to place every replica; minimise the objectives in order.
2. If that is impossible, place by priority: for each priority level, highest first, maximise the
   replicas placed (gangs whole or not at all), keep that, go on; then minimise the objectives.
3. Pack each class node by node. Where packing needs more nodes than the aggregate model counted,
   require that many and solve again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from fractions import Fraction

from fitlang.model.problem import Problem, one_class_per_node
from fitlang.rules import option_affinity, option_spread
from fitlang.solve import bound_stages, option_spread_bound, repair_time, whole_cores, work
from fitlang.solve.accelerator_options import accelerator_options
from fitlang.solve.accelerator_repack import repacks_much
from fitlang.solve.aggregate import (
    MODEL_WINDOW_SHARE,
    _small,
    can_grow,
    cap_short,
    completed,
    grown_classes,
    model_placement,
    past,
    remaining,
    solve_aggregate,
)
from fitlang.solve.aside_passes import LP_CPU_PER_PAIR, PASS_CPU_PER_REPLICA, child_passes, passes_at_fork
from fitlang.solve.backends import HighsBackend, Minimising, forks, tell_parent
from fitlang.solve.bound import Bound, lower_bound
from fitlang.solve.bound_stages import (
    Bounds,
    columns,
    gap_over,
    pairs_of,
    pattern_min_gap,
    plain_class_ids,
    rebuild_first,
    share_of,
    suggested,
    with_patterns,
)
from fitlang.solve.budget import PACK_CPU_PER_REPLICA, Budget
from fitlang.solve.coarse import (
    class_groups,
    suggested_classes,
)
from fitlang.solve.counted_exact import counted_exact
from fitlang.solve.dear_nodes import dear_nodes_ruined
from fitlang.solve.early_bounds import EARLY_SECONDS_PER_PAIR, early_pays, told_bounds, waited
from fitlang.solve.first_fit import first_fit_beside, first_fit_places_more
from fitlang.solve.fitted_counts import fitted_counts
from fitlang.solve.floor_complete import completion_deadline
from fitlang.solve.fragment_bound import FragmentBeside, raised_beside
from fitlang.solve.fragment_counts import lp_guides, taken_first
from fitlang.solve.gang_polish import consolidation_deadline, gangs_polished
from fitlang.solve.gang_quotas import NO_COUNTS, LPCounts, lp_counts
from fitlang.solve.greedy import Guide, greedy_floor, options_moved, plain_order_too
from fitlang.solve.guided_complete import floor_completion_end, room_made
from fitlang.solve.guided_pass import guided_pass, next_pass_fits
from fitlang.solve.guides import guides as _guides
from fitlang.solve.home_regions import at_home
from fitlang.solve.improve import NODE_OBJECTIVES, consolidate
from fitlang.solve.linear import Status, stated_bound
from fitlang.solve.lp_mixes import mixed_first
from fitlang.solve.make_room import left_out, trim_spreads
from fitlang.solve.most_placed import most_placed
from fitlang.solve.pack import Packing, pack
from fitlang.solve.pair_pack import few_merged_classes, pair_packed, verified
from fitlang.solve.passes_beside import child_share, here_guide, learned_seconds, pass_beside, pays
from fitlang.solve.pattern_model import cheaper_by_patterns
from fitlang.solve.pattern_rounding import pattern_floor
from fitlang.solve.patterns import PatternBound
from fitlang.solve.patterns_first import packing_cpu, patterns_first
from fitlang.solve.placement_result import (
    FEASIBLE,
    FEASIBLE_PARTIAL,
    OPTIMALITY_TOLERANCE,
    Placement,
    PlacementStatus,
    _from_packing,
    _packed_value,
)
from fitlang.solve.priority_first_fit import floor_by_priority, kept_above
from fitlang.solve.realise import realised, supported
from fitlang.solve.rebuild import rebuild
from fitlang.solve.repack import repack
from fitlang.solve.room import short_of_room
from fitlang.solve.ruin_beside import floor_ruined_beside
from fitlang.solve.ruined_choice import choice_fits, kept_cheapest, ranked, ruined_choice
from fitlang.solve.scarce_first import scarce_first
from fitlang.solve.search_room import later_pass_fits, search_room
from fitlang.solve.search_stages import REPACK_SHARE, SEARCH_DEAR_SHARE, Progress, searched
from fitlang.solve.short_again import shorts_first_again
from fitlang.solve.short_cheaper import cheaper_at_same_counts
from fitlang.solve.short_order import ShortFirst, retried_pass
from fitlang.solve.spread_domains import searched_keeping_spreads

# progress(stage, best value so far, proven bound so far): for a progress line on a terminal

MAX_REPACKS = 8
EXACT_MAX_NODES = 48  # fleets this small are solved node by node, exactly
# with a horizon, fleets this small (and nodes x steps this few) are solved node by node: the
# time model over pools counts what a pool holds, not how it packs onto nodes, so on 5 nodes
# and 6 steps it proved 2.2 where every schedule costs 2.4 and ended `feasible`
# (bench/differential_time.py seed 5054)
EXACT_TIME_MAX_NODES = 16
EXACT_TIME_MAX_NODE_STEPS = 2_000


def solve(problem: Problem, backend: str = "auto", time_limit: float | None = None,
          progress: Progress | None = None) -> Placement:
    """Small fleets: the exact per-node model. Larger: the aggregate model, then packing.
    With a horizon: the time-indexed model (`timeline.py`). Then nodes read from Slurm that
    the answer overfills in whole cores per job are repaired (`whole_cores.py`), and nodes bought
    in another region at a price tie moved to the policy's own (`home_regions.py`). Running jobs'
    room held until a step of the horizon (`Problem.holds`) is pinned work (`held_room.py`)."""
    if problem.holds:
        from fitlang.solve.held_room import with_holds, without_holds

        held = with_holds(problem)
        return without_holds(solve(held, backend, time_limit, progress), held)
    # never worse by priority than Slurm's first-fit (its module), whole cores restored (whole_cores.py)
    placement = kept_above(problem, time_limit, lambda limit: whole_cores.solved_and_repaired(
        problem, limit, lambda rest: _solved(problem, backend, rest, progress)))
    return at_home(problem, placement)  # at a price tie, bought in the policy's own region


def _solved(problem: Problem, backend: str, time_limit: float | None,
            progress: Progress | None) -> Placement:
    nodes, started = sum(c.count for c in problem.classes), time.monotonic()

    def left() -> float | None:
        """The limit less what the solve took so far: the checks before the stages count (room.py
        took 0.8 CPU s before a 10 s limit's clock began: many_workloads 10,000 / 1,500, session 56)."""
        return None if time_limit is None else max(0.0, started + time_limit - time.monotonic())

    if short_of_room(problem):  # a workload more than its nodes hold: no placement (room.py)
        floor = _greedy_placement(problem, Status.INFEASIBLE, proven=True)
        return option_spread.balanced_or_left_out(problem, floor)
    if nodes > EXACT_MAX_NODES and (narrow := option_spread.narrowed(problem)) is not None:
        narrowed = option_spread.solve_narrowed(problem, narrow, lambda p: solve(p, backend, left(),
                                                                                progress))

        def in_time_left(narrowed_problem: Problem) -> Placement:
            return solve(narrowed_problem, backend, left(), progress)

        narrowed = option_spread.retried_alone(problem, narrowed, in_time_left)
        narrowed = option_spread.cheapest_narrowing(problem, narrowed, in_time_left, left)
        return option_spread_bound.bounded(problem, narrowed, started, time_limit)  # a bound (its module)
    if nodes > EXACT_MAX_NODES and option_affinity.in_problem(problem):
        # `affinity W` to a workload with options: held node by node only (its module)
        return option_affinity.solve_narrowed(problem, lambda p: solve(p, backend, left(), progress))
    if problem.timeline is not None:
        from fitlang.solve.timeline import solve_timed

        if nodes > EXACT_TIME_MAX_NODES or nodes * problem.timeline.steps > EXACT_TIME_MAX_NODE_STEPS:
            return solve_timed(problem, left())
        timed = solve_timed(one_class_per_node(problem), left())
        timed.bought = _bought_by_class(problem, timed.bought)
        return timed
    # a spread over an option workload's options: node by node at any size where it cannot be
    # narrowed (build refuses such a fleet; explain's grown trials come here too)
    exact_only = option_spread.in_problem(problem)
    if nodes > EXACT_MAX_NODES and not exact_only:  # (a second bound beside: fragment_bound.py)
        return raised_beside(problem, left(),
                             lambda beside: _solve(problem, backend, left(), True, progress, beside))
    placement = _solve(one_class_per_node(problem), backend, left())
    placement.bought = _bought_by_class(problem, placement.bought)
    if placement.status is Status.UNKNOWN and not placement.proven_infeasible:
        # out of time before the exact search had a placement: the greedy one is the floor
        floor = _greedy_placement(problem, Status.FEASIBLE)
        if (len(floor.unplaced) < len(placement.unplaced) or not placement.assignments) and \
                not (exact_only and _breaks_a_rule(problem, floor)):
            floor.status = Status.UNKNOWN if floor.unplaced else Status.FEASIBLE
            floor.seconds = placement.seconds
            return floor
    return placement


def _greedy_placement(problem: Problem, status: Status, proven: bool = False) -> Placement:
    """The greedy floor and a first-fit pass (first_fit.py), the one placing more, as a
    placement of that status (`proven`: no placement of every replica exists)."""
    started, objective = time.monotonic(), _objectives(problem)[0]
    packing = greedy_floor(problem, short_first=True)[0]
    packing = first_fit_beside(problem, packing, objective, None) or packing
    placement = _from_packing(problem, packing, objective, FEASIBLE_PARTIAL, None)
    placement.status, placement.proven_infeasible, placement.backend = status, proven, "greedy"
    placement.seconds = time.monotonic() - started
    return placement


def _breaks_a_rule(problem: Problem, floor: Placement) -> bool:
    """Does the greedy floor break a rule (replicas it leaves out aside)? It balances each
    option's own domains, not a spread over all of them (`rules/option_spread.py`)."""
    from fitlang.solve.self_check import broken_rules

    return bool(broken_rules(replace(problem, allow_unplaced=True), floor))


@dataclass
class _Run:
    """What the stages of one fleet-scale solve (`_solve`) hand on to each other."""
    problem: Problem
    backend: str
    objectives: list[str]
    budget: Budget
    progress: Progress
    relax: bool
    search_deadline: float | None = None  # the end of the search: what follows is kept
    floor: Packing | None = None  # the greedy floor, improved stage by stage
    floor_polished: bool = True  # its nodes closed already (else at the end, where it may win)
    rebuilt: bool = False  # the floor's first pass was the rebuild (`rebuild_first`)
    whole: bool = False  # the aggregate model ran
    best: Placement | None = None  # the aggregate model's placement
    proven: Fraction | None = None  # the bounds proven apart from the model's
    before_model: Bound | None = None  # the pair bound proven before the model (`_bound_before_model`)
    found: PatternBound | None = None  # the pattern bound, where it ran
    realised_first: bool = False  # the floor is realise.py's placement, before the patterns
    packed: list[Packing] = field(default_factory=list)  # the model's packing, not yet repacked
    settled: bool = False  # the floor is within the tolerance of a proven bound: nothing to search
    # what the floor's passes and first polish took, its completion left out: a guided pass's
    # (accelerator-heavy 50,000 seed 1: 10.4 s, 2.5 of them the completion; a guided pass 8.6)
    floor_seconds: float | None = None
    unruined: Fraction | None = None  # where `_room_floor` ran: the floor's value before its ruin
    ruined: Packing | None = None  # the floor ruined to its end (`_ruined_first`): not ruined again
    learned: ShortFirst = field(default_factory=ShortFirst)  # what passes left short (short_order.py)
    first_fit: Packing | None = None  # a plain first-fit placing more than the short floor (first_fit.py)
    early: Minimising | None = None  # the bounds begun beside the floor (early_bounds.py)
    completion_deferred: bool = False  # the short floor's completion after the early bounds' guided passes
    fragment: FragmentBeside | None = None  # the fragment bound's child, its counts packed (step 4b)
    lp_bound: Fraction | None = None  # the fragment model's LP's optimum (step 1b, `_lp_guided_floor`)
    lp_floor: Packing | None = None  # the pass that LP guided, where it became the floor (step 1b)

    @property
    def objective(self) -> str:
        return self.objectives[0]

    @property
    def time_limit(self) -> float | None:
        return self.budget.time_limit

    @property
    def complete(self) -> bool:
        return self.floor is not None and self.floor.complete


def _bought_by_class(problem: Problem, bought: dict[str, list[str]]) -> dict[str, list[str]]:
    """A node-by-node solve's bought nodes (each its own class) under their classes."""
    owner = {name: c.id for c in problem.classes for name in c.node_names}
    by_class: dict[str, list[str]] = {}
    for names in bought.values():
        for name in names:
            by_class.setdefault(owner[name], []).append(name)
    return by_class


def _solve(problem: Problem, backend: str, time_limit: float | None, relax: bool = False,
           progress: Progress | None = None, fragment: FragmentBeside | None = None) -> Placement:
    """At fleet scale (`relax`): the greedy placement first (the floor, and the model's start),
    then the aggregate model in what is left of the time limit; whichever of the two is
    better. The floor runs whole whatever is left of the limit: it is the least the answer
    is (a floor the deadline cut left nothing placed where reading a 10,000-node inventory on
    a loaded machine took the 5 s: `unknown` with nothing while a placement exists)."""
    started = time.monotonic()
    run = _Run(problem, backend, _objectives(problem), Budget.starting_now(time_limit),
               progress or (lambda stage, value, bound: None), relax, fragment=fragment)
    run.search_deadline = run.budget.deadline
    try:
        # short by `allow_unplaced`, where no model proved the most fit: proven so if it is
        answer = _stages(run, started)
        if answer.proven_infeasible and answer.unplaced and not problem.allow_unplaced:
            # the model proved that not every replica fits (h45d's rows for node spreads prove
            # it where packing alone had fallen short): what the exact path and the patterns'
            # proof say, not the model's own status for the replicas it placed
            answer.status = Status.INFEASIBLE
        proven = most_placed(problem, answer, run.objective, run.search_deadline, run.budget)
        if not relax:
            return proven
        # then, proven the most, placed again cheaper with the same replicas (its module)
        return cheaper_at_same_counts(problem, proven, proven is not answer,
                                      lambda cut, limit: _solve(cut, backend, limit, relax=True),
                                      run.budget.deadline, time.monotonic() - started)
    finally:
        if run.early is not None:  # (the child's answer not taken: stopped)
            run.early.result(0.0)


def _stages(run: _Run, started: float) -> Placement:
    """The stages, in order, each within its deadline (budget.py: what the stages after it are
    expected to take is kept, at the CPU share this process had while the floor ran)."""
    problem, backend, time_limit, relax = run.problem, run.backend, run.time_limit, run.relax
    if relax:
        _floor_stage(run)  # 1. the greedy floor, then its first polish
    # 1b. where the fragment child runs: a pass the fragment model's LP guides; where it beats the
    # floor, the floor's path follows, not the aggregate model (`_lp_guided_floor`)
    guided = relax and run.fragment is not None and _lp_guided_floor(run)
    model_deadline, plain = run.search_deadline, set[str]()
    if relax:
        model_deadline, plain = _model_window(run)
    run.whole = not guided and _whole_model_pays(problem, model_deadline, run.budget)
    if relax and time_limit is not None and (run.whole or few_merged_classes(problem)):
        # 2a. a bound that a model cut short cannot lose; where the classes are few, its
        # answer packed may settle the search (pair_pack.py), with the model or without it
        _bound_before_model(run, model_deadline if run.whole else run.search_deadline)
        run.whole = run.whole and _model_still_fits(run) and not run.settled
    if run.whole:  # 2. the aggregate model, packed and polished
        run.best = _optimised(problem, backend, run.objectives, model_deadline, relax, run.progress,
                              run.search_deadline, start=run.floor, packed=run.packed if relax else None,
                              plain=plain)
    complete = run.complete
    no_model_bound = not run.whole or run.best is None or run.best.bound is None
    floor_path = relax and not run.settled and (
        ((complete or not run.whole) and (no_model_bound or _model_left_out(run))) or _model_packed_dear(run))
    if floor_path:
        # 3. the model skipped, proved nothing, left out what the floor places or packed dear:
        # the bounds, guided floors (on a floor still short too: a guided pass may place what
        # it left out, and the bound is stated)
        _bounds_from_floor(run)
        if not run.complete and not run.whole:  # what is still out, in the time left
            _completed_floor(run, run.search_deadline)
            if run.completion_deferred and not run.complete:
                _first_fit_aside(run)
        complete = run.complete
    elif relax and time_limit is not None and run.best is not None \
            and gap_over(run.best, pattern_min_gap(problem)):
        # 3. the model's bound leaves a gap: the patterns' bound; also where the floor is short
        # and the model's packing complete (`pools` 3,000 seed 102: 1.2% over, the patterns
        # never tried)
        _patterns_after_model(run)
        complete = run.complete
    if run.packed and not _floor_places_more(problem, run.floor, run.packed[0], run.objective):
        # 4. the model's packing, repacked unless the pattern bound's floor is cheaper
        patterned = run.floor if complete and (run.found or run.realised_first or floor_path) else None
        run.floor = _repacked(problem, run.packed[0], patterned, run.objective, run.search_deadline,
                              _larger(run.best.bound if run.best is not None else None, run.proven))
        complete = True
    if relax and not complete and _first_fit_if_short(run):  # never worse than a first-fit
        complete = run.complete
    takes = None
    if run.fragment is not None and complete and run.floor is not None and not run.settled:
        # 4b. the counts of the model with the fragment rows, found beside, packed where cheaper;
        # and the child's newer ones again as the search goes (`Takes`)
        cheaper, takes = taken_first(problem, run.floor, run.fragment, run.objective, run.search_deadline)
        run.floor = run.floor if cheaper is None else cheaper
    if run.floor is not None and complete and not run.settled and _search_pays(run):
        # 5. improve the floor (or the model's packing, repacked) a neighbourhood at a time
        floor, bound = run.floor, _larger(run.best.bound if run.best is not None else None, run.proven)
        ruined = floor is run.ruined
        run.floor = searched_keeping_spreads(problem, floor, lambda: searched(
            problem, floor, run.objective, run.search_deadline, run.progress, bound, ruined, takes))
    return _answer(run, started)  # 6. the better of the two, with every bound proven


# the share of the time left the fragment model's LP and the pass it guides take (`_lp_guided_floor`;
# inventory 1,000 / 100 at 5 s: 1.0-1.3 CPU s of the ~4.7 left after the floor)
LP_GUIDED_SHARE = 0.3


def _lp_guided_floor(run: _Run) -> bool:
    """Did a greedy pass guided by the fragment model's LP (`fragment_counts.lp_guides`: the
    LP's, then the LP's with the workloads it keeps apart in fractions kept apart) place every
    replica for less than the floor? The cheapest is then the floor. With a user limit, where the
    floor is complete (with none, the model has the default limit's time: its path stays).
    Inventory 1,000 nodes / 100 workloads at 5 s: the aggregate model's 3 CPU s of branch and
    bound ended at the floor's counts (its packing 55.45 on seed 3, as the floor), and the
    fragment child's counts come at 5-7 CPU s; this pass packed 46.84 by 1.4 s, and the floor's
    path searched it to 45.34-46.55 (session 56: 51.55-52.79 before)."""
    deadline = run.search_deadline
    if run.time_limit is None or work.counted() or deadline is None or run.floor is None \
            or not run.complete:
        return False
    until = time.monotonic() + LP_GUIDED_SHARE * (deadline - time.monotonic())
    # (the rounds of the second guide stop where what is left holds two passes no more)
    passes = 2 * (run.floor_seconds or 0.0)
    lp = lp_guides(run.problem, run.objective, until, apart_until=until - run.budget.wall(passes))
    if not lp.guides:
        return False
    run.lp_bound = lp.bound
    if lp.bound is not None:
        run.progress("bound", None, lp.bound)
    guided = _cheapest_guided(run.problem, run.floor, lp.guides, run.objective, run.time_limit, until,
                              whole_pass=run.floor_seconds, learned=run.learned)
    if guided is run.floor:
        return False
    run.floor = run.lp_floor = guided
    run.progress("improve", _packed_value(run.problem, guided, run.objective), None)
    return True


def _model_left_out(run: _Run) -> bool:
    """Did the model's packing leave out replicas the floor places? Then the floor is the answer
    (`_better`: fewer left out first), and it gets the guided passes it gets where the model is
    skipped. Accelerator-heavy 10,000 seed 17 at 60 s: two rounds of the model (52 CPU s, its
    counts 0.02% over the bound) packed short under the power caps, and the greedy floor with 5 s
    of search was the answer, 2.34-2.65% over, where at 5 s the floor's path gave 1.16%; with the
    guided passes after the model, 1.05%. Within a limit only (with none, no search follows)."""
    return run.time_limit is not None and run.best is not None and bool(run.best.unplaced) and run.complete


# the floor's path after a model that packed dear, where the search has this many times the
# floor's own passes left (`_model_packed_dear`)
FLOOR_PATH_AFTER_MODEL = 4


def _model_packed_dear(run: _Run) -> bool:
    """Did the model's packing, complete, end over the tolerance with time left for the floor's
    path (its guided passes, FLOOR_PATH_AFTER_MODEL times the floor's passes) and the pair bound
    converged before the model (reused, not solved again)? Then that path runs too, and the
    cheaper of its floor and the model's packing is searched (`_repacked`). Accelerator-heavy
    10,000 at 60 s, the model's counts packed onto nodes (power caps, several resources) ended
    worse than the floor's path at 5 s: seeds 5 / 20 1.55 / 1.44% against 1.08 / 1.21%."""
    pair, left = run.before_model, run.budget.left(run.search_deadline)
    enough = run.floor_seconds is not None and left is not None and \
        left >= FLOOR_PATH_AFTER_MODEL * run.floor_seconds
    return run.time_limit is not None and bool(run.packed) and run.complete and enough and \
        gap_over(run.best, OPTIMALITY_TOLERANCE) and pair is not None and pair.converged


def _model_window(run: _Run) -> tuple[float | None, set[str]]:
    """The aggregate model's deadline, and the classes its counts are packed by node patterns
    first (patterns_first.py). None where, with `pack`'s time kept, the model has at least
    as long as that packing, as before (`pools` 3,000, session 33 h33h: every plain class by
    patterns gave 0.03-0.4% more than `pack` and then the patterns on the classes it left
    short); else the plain classes, with the patterns' time kept instead of `pack`'s (`pools`
    10,000 under load: 2.1 CPU s kept for `pack` left the model 0.3 s, its pair bound was cut,
    the model skipped, and the answer was the floor, 19.9% over)."""
    problem = run.problem
    packing = PACK_CPU_PER_REPLICA * _replicas(problem)
    with_pack = run.budget.model_deadline(run.search_deadline, packing)
    window = run.budget.left(with_pack)
    if window is None or window >= run.budget.wall(packing):
        return with_pack, set()
    plain = plain_class_ids(problem)
    if not plain:
        return with_pack, plain
    return run.budget.model_deadline(run.search_deadline, packing_cpu(problem, plain)), plain


def _search_pays(run: _Run) -> bool:
    """The neighbourhood search runs where the whole model was too large for the limit, and
    after the whole model where its packing, repacked, is still over the tolerance from the
    bound with time left (inventory 300 seed 3 at 5 s: the model packed at 1.7 s, 6.4% over);
    and on the floor where the model's packing leaves replicas out, or none came, and the floor
    is the answer (inventory 1,000 seed 11 at 5 s: the model's counts packed short twice, and
    the floor, 51.25, was the answer with 1.6 s of the limit unused)."""
    if not run.whole:
        return True
    if past(run.search_deadline):
        return False
    if run.packed:
        return gap_over(run.best, OPTIMALITY_TOLERANCE)
    return run.floor is not None and not _beats_packing(run.problem, run.best, run.floor, run.objective)


# the share of the limit the floor's completion may take before the bounds (`_floor_stage`);
# where it is cut, it runs again after them in what is left. Random fleet seed 0 x 10 (4,290
# nodes, 1,385 replicas short): its made_room ran minutes, past a 2 s limit
FLOOR_COMPLETE_SHARE = 0.4


def _floor_stage(run: _Run) -> None:
    """The greedy floor, whole; the CPU share it had (which sizes every later stage); then,
    in FLOOR_IMPROVE_SHARE of the limit, its first polish: the rebuild instead of the
    consolidation where `rebuild_first` (the consolidation then waits for time left,
    rebuild.py; where it rebuilds no zone, the consolidation as before: breaker 50,000: 9939
    -> 9936), nothing where realise.py's placement comes next (the floor's polish is done at
    the end where that placement is not within the tolerance: breaker 10,000 at 5 s spent
    the 0.5 s the placement lacked there consolidating a floor it then replaced). A floor
    still short is placed again with the workloads that have the fewest nodes first
    (scarce_first.py), then completed where room can be made (`_completed_floor`); still
    short, a plain first-fit pass is kept aside where it places more (`_first_fit_aside`).
    Not where the pair LP begun beside the floor has answered (`early_bounds.answered`): its
    guided passes come first (`completion_deferred`)."""
    problem, objective, time_limit = run.problem, run.objective, run.time_limit
    run.progress("greedy", None, None)
    cpu, wall = time.process_time(), time.monotonic()
    guide = _floor_guide(problem, objective, time_limit)
    not_kept: list[Packing] = []  # (the short-first pass, where not kept: the learned passes go on from it)
    run.floor, _ = greedy_floor(problem, None, guide, short_first=True, learned=run.learned.names,
                                placed=lambda packing: _early_bounds(run, packing, time.process_time() - cpu),
                                passes_until=run.budget.deadline, behind=run.learned.behind,
                                not_kept=not_kept)
    run.floor = floor_by_priority(problem, run.floor)  # (never less by priority than a first-fit)
    run.learned.floor_took(time.monotonic() - wall)
    run.budget.measure(time.process_time() - cpu, time.monotonic() - wall)
    run.search_deadline = repair_time.search_deadline(problem, run.floor, run.budget, _replicas(problem))
    completion = time.monotonic()
    # (where the time left holds as long as the floor's passes took: ai50000 seed 1 on the wall
    # clock at load ~4, its floor short where the options' LP was cut, the floor's passes took
    # 16.3 s and left 0.3, or 11.2 and left 9.2 (the pass here, in the learned order, cut); no
    # pass placed all and the answer was the first-fit, 29.43%, where the completion gives 2.67%)
    # (the LP begun beside not in yet: waited for, as long as it still holds: early_bounds.waited)
    left = run.budget.left(run.search_deadline)
    held = None if left is None else left - (time.monotonic() - wall)
    run.completion_deferred = not run.floor.complete and held is not None and held >= 0 and \
        waited(run.early, run.budget.wall(EARLY_SECONDS_PER_PAIR * pairs_of(problem)), held)
    if not run.floor.complete and not run.completion_deferred:  # (the stages after: worth more complete)
        pair_seconds = run.budget.wall(bound_stages.PAIR_SECONDS_PER_PAIR * pairs_of(problem))
        completing = completion_deadline(share_of(time_limit, FLOOR_COMPLETE_SHARE, run.search_deadline),
                                         run.search_deadline, completion - wall, pair_seconds)
        bound_turn = None if run.search_deadline is None else run.search_deadline - pair_seconds
        passes: list[float] = []
        _floor_passes(run, completing, guide, bound_turn, passes, not_kept[-1] if not_kept else None)
        # (no learned pass made: the floor's passes, three at most, as one)
        pass_seconds = max(passes, default=completion - wall)
        short = sum(run.floor.short.values())
        _completed_floor(run, floor_completion_end(completing, bound_turn, pass_seconds, short))
        _first_fit_aside(run)
    completion = time.monotonic() - completion
    first_pass = share_of(time_limit, FLOOR_IMPROVE_SHARE, run.search_deadline)
    realise_next = _realise_next(problem, run.search_deadline)
    run.rebuilt = not realise_next and rebuild_first(problem, time_limit) and rebuild(
        problem, run.floor, objective, share_of(time_limit, REBUILD_SHARE, run.search_deadline)) > 0
    if not run.rebuilt and not realise_next:
        consolidate(problem, run.floor, objective, first_pass)
    run.floor_polished = not past(first_pass) and not run.rebuilt and not realise_next
    # (a guided pass is not completed so: lp_mixes.py, seed 3's completion took 1.1 CPU s)
    run.floor_seconds = time.monotonic() - wall - completion
    if run.floor.complete:
        run.progress("greedy", _packed_value(problem, run.floor, objective), None)


def _floor_passes(run: _Run, completing: float | None, guide: Guide | None, bound_turn: float | None,
                  passes: list[float], not_kept: Packing | None) -> None:
    """The short floor placed again: with the workloads that have the fewest nodes first
    (scarce_first.py), then in the order its passes learned (short_again.py), going on from
    `not_kept` (`greedy_floor`'s short-first pass, not kept) where `scarce_first` kept nothing
    either. `scarce_first` stays first: where the learned passes chase gangs one at a time its
    one pass places all (ai_fleet 10,000 seed 77: four learned passes, each a different gang of
    fra1-d short, 2.2 CPU s, where `scarce_first` placed every replica in 0.5; with it after
    them the answer 1.91% over the bound, the start tree's 0.69%, session 53)."""
    problem, floor = run.problem, run.floor
    assert floor is not None
    placed = scarce_first(problem, floor, completing, guide)
    after = not_kept if placed is floor else None
    run.floor = shorts_first_again(problem, placed, completing, guide, run.learned.names, bound_turn, passes,
                                   run.learned.behind, after)


def _first_fit_aside(run: _Run) -> None:
    """The floor still short after its completion: a first-fit pass kept aside where it places
    more (first_fit.py: why not the floor at once), shown on the progress line."""
    assert run.floor is not None  # (whole, whatever is left of the limit, as the floor: the least it is)
    run.first_fit = first_fit_beside(run.problem, run.floor, run.objective, None)
    if run.first_fit is not None and run.first_fit.complete:
        run.progress("greedy", _packed_value(run.problem, run.first_fit, run.objective), None)


def _first_fit_if_short(run: _Run) -> bool:
    """The first-fit kept aside as the floor, where the floor is still short; whether it was."""
    if run.first_fit is None or run.floor is None or run.floor.complete or \
            not first_fit_places_more(run.problem, run.first_fit, run.floor, run.objective):
        return False
    run.floor, run.floor_polished = run.first_fit, False
    return True


def _completed_floor(run: _Run, deadline: float | None) -> None:
    """The short floor completed where room can be made (`guided_complete.room_made`)."""
    assert run.floor is not None
    room_made(run.problem, run.floor, run.objective, deadline)


# the most of the model's window the pair bound may be expected to take before the model
# (`bound_stages.PAIR_SECONDS_PER_PAIR`, at the CPU share measured): bench 10,000 converges in 0.2-0.5 s;
# where it would take more, the model runs without it, as before
BOUND_BEFORE_MODEL_SHARE = 0.25


def _bound_before_model(run: _Run, model_deadline: float | None) -> None:
    """The pair bound (bound.py) before the model, where it is cheap beside the model's time.
    Under contention the model can be cut before HiGHS's root LP: its placement then comes
    with no bound, and no time is left for the floor's (bench 10,000 at 5 s, load ~2: 9706.53
    with no bound, where the floor's path would have said 1.17%)."""
    window = run.budget.left(model_deadline)
    if window is None or run.floor is None:
        return
    if work.counted():  # (no user limit: the model's counted window, not the time left: aggregate.py)
        window = MODEL_WINDOW_SHARE * work.default_limit()
    expected = run.budget.wall(bound_stages.PAIR_SECONDS_PER_PAIR * pairs_of(run.problem))
    if expected > BOUND_BEFORE_MODEL_SHARE * window:
        return
    pair = lower_bound(run.problem, run.objective, time.monotonic() + BOUND_BEFORE_MODEL_SHARE * window,
                       start=run.floor, counted_seconds=BOUND_BEFORE_MODEL_SHARE * window)
    run.before_model = pair
    if pair.value is not None:
        run.progress("bound", None, pair.value)
        _pair_packed_floor(run, pair, run.search_deadline)


# the CPU seconds of packing the pair LP's answer and checking it, per replica, about: bench
# 10,000 (16,795 replicas) 0.7 s to pack and repair, 0.25 s to check
PAIR_PACK_CPU_PER_REPLICA = 6e-5


def _pair_packed_floor(run: _Run, pair: Bound, deadline: float | None) -> None:
    """The pair LP's answer packed onto nodes (pair_pack.py), where it converged over few
    classes and the time is there; the floor where it is cheaper, and the search settled where
    it is within the tolerance of the pair bound (bench 10,000: 9,608.91 against 9,602.28, in
    ~1 CPU s, where the floor is 9,715.72 and the model's packing 9,626.58 after ~3)."""
    left = run.budget.left(deadline)
    if not pair.converged or run.floor is None or \
            (left is not None and run.budget.wall(PAIR_PACK_CPU_PER_REPLICA * _replicas(run.problem)) > left):
        return
    packed = pair_packed(run.problem, pair, run.objective)
    if packed is None:
        return
    value, floor_value = _packed_value(run.problem, packed, run.objective), \
        _packed_value(run.problem, run.floor, run.objective)
    if value is None or (floor_value is not None and run.floor.complete and value >= floor_value):
        return
    run.floor, run.floor_polished = packed, False
    run.progress("improve", value, pair.value)
    if _settled(run.problem, packed, run.objective, pair.value):
        run.settled, run.proven = True, _larger(run.proven, pair.value)


def _model_still_fits(run: _Run) -> bool:
    """Whether the model keeps its window after the pair bound before it. A pair bound cut by
    its share of the window says the process has too little of a core for the model's root
    LP (a larger LP) in the rest: bench 10,000 at 5 s, load ~4, pair bound cut at 0.48 s of
    its 0.47 s share, then the model cut before its root: 9690.62 against the cut bound
    7594.48, 21.6%, where the floor's path gives 9715.48 / 9602.28, 1.17%, by 3.4 s."""
    pair = run.before_model
    if pair is None or pair.relaxation is None:  # not run (the objective, or no time for it)
        return True
    return pair.converged


def _bounds_from_floor(run: _Run) -> None:
    """Where the model is skipped or proved none: the coarse problem's bound (coarse.py)
    first, which converges within a second where it runs (so it stands even where the pair
    bound's share ends before its first master: breaker 50,000 under load), then the
    relaxation's (bound.py); the floors they guide, the cheapest kept."""
    problem, objective, time_limit, deadline = run.problem, run.objective, run.time_limit, run.search_deadline
    assert run.floor is not None
    floor_value = _packed_value(problem, run.floor, objective)
    run.progress("bound", floor_value, None)
    coarse_found = bound_stages.coarse_stage(problem, objective, None, run.floor, time_limit, deadline,
                                             floor_value)
    coarse = None if coarse_found is None else coarse_found.value
    if coarse_found is not None and coarse is not None:
        run.progress("bound", None, coarse)
        # the placement from the coarse patterns first (realise.py: on breaker the optimum
        # or next to it, in ~1 CPU s at 10,000 nodes); the coarse-guided greedy pass only
        # where that finds nothing cheaper than the floor
        realised_packing = _realised_floor(problem, run.floor, objective, deadline)
        if realised_packing is run.floor:
            run.floor = _coarse_floor(problem, run.floor, coarse_found, objective, time_limit, deadline)
        else:
            run.floor = realised_packing
            run.progress("improve", _packed_value(problem, run.floor, objective), coarse)
    if _settled(problem, run.floor, objective, coarse):
        # within the tolerance of the coarse bound (breaker, from the coarse patterns): the
        # other bounds and guided passes could not improve the answer by its tolerance
        run.proven, run.found = coarse, None
        return
    tried = run.before_model  # (converged before the model: the same bound, its answer packed)
    bounds = Bounds(None, tried, suggested(tried), counts=lp_counts(problem, tried)) \
        if tried is not None and tried.converged else \
        _bounds_aside(run, coarse, floor_value) or \
        bound_stages.bounds_stage(problem, objective, coarse, run.floor, time_limit, deadline, floor_value,
                                  run.rebuilt)
    zoned, pair = bounds.zoned, bounds.pair
    if zoned is not None and zoned.value is not None and (coarse is None or zoned.value > coarse):
        run.progress("bound", None, zoned.value)
        coarse = zoned.value  # (from here: the larger of the two coarse bounds)
    if pair.value is not None:
        run.progress("bound", None, _larger(pair.value, coarse))
        if pair is not tried:
            _pair_packed_floor(run, pair, deadline)
        if run.settled:
            run.proven, run.found = _larger(pair.value, coarse), None
            return
    if zoned is not None and zoned.guide is not None:  # (the cheaper floor is kept)
        run.floor = _cheapest_guided(problem, run.floor, [zoned.guide], objective, time_limit, deadline,
                                     moves_first=True, whole_pass=run.floor_seconds, learned=run.learned)
    if bounds.passed is not None and _beats_unruined(run, bounds.passed):
        run.floor = bounds.passed  # the child's guided pass beat the floor here before its ruin
    kept: list[tuple[Fraction, Packing]] = []
    run.floor = _guided_floor(problem, run.floor, bounds.suggested, objective, time_limit, deadline,
                              run.floor_seconds, bounds.first_passed, bounds.counts, kept, run.learned,
                              beside=(bounds.beside, bounds.here))
    if not bounds.here:  # (a pass made beside the child: the search's time, `_guided_floor`)
        _ruined_first(run, [bounds.runner_up, *(packing for _, packing in kept), _lp_floor_passed(run)])
    floor_value = _packed_value(problem, run.floor, objective)
    proven, run.found = with_patterns(problem, objective, pair, run.floor, time_limit, deadline, floor_value)
    run.proven = _larger(proven, coarse)
    if run.proven is not None and run.proven != _larger(pair.value, coarse):
        run.progress("bound", None, run.proven)
    run.floor = _pattern_floor(problem, run.floor, run.found, objective, time_limit, deadline)


def _patterns_after_model(run: _Run) -> None:
    """The whole model ran and its bound leaves a gap: the patterns may close part of it.
    Where realise.py keeps every rule, the coarse bound and the placement from its patterns
    first (breaker 1,000: 223 against the bound 222.40, in under a second; after the pattern
    bound, the limit had passed under load)."""
    problem, objective, time_limit, deadline = run.problem, run.objective, run.time_limit, run.search_deadline
    best = run.best
    assert run.floor is not None and best is not None
    coarse_found = None
    if supported(problem):
        coarse_found = bound_stages.coarse_stage(problem, objective, best.bound, run.floor, time_limit,
                                                 deadline, best.value)
        if coarse_found is not None and coarse_found.value is not None:
            run.floor = _realised_floor(problem, run.floor, objective, deadline)
            run.realised_first = True
    coarse = None if coarse_found is None else coarse_found.value
    if _settled(problem, run.floor, objective, coarse):
        run.proven = coarse
        return
    pair = run.before_model
    if pair is None or not pair.converged:  # (converged before the model: the same bound again)
        pair = lower_bound(problem, objective, share_of(time_limit, bound_stages.PATTERN_SHARE, deadline),
                           start=run.floor, counted_seconds=bound_stages.PATTERN_SHARE * work.default_limit())
    # the master's first patterns: the floor's and the model's packing's, nodes packed to its
    # counts and nearer the relaxation's (`pools` 3,000 seed 112: converged in 0.44-0.49 CPU s
    # instead of 0.68; where the limit counts the reading, 0.68 s was past the share)
    start = (run.packed[0], run.floor) if run.packed else run.floor
    proven, run.found = with_patterns(problem, objective, pair, start, time_limit, deadline, best.value)
    if coarse_found is None:
        coarse_found = bound_stages.coarse_stage(problem, objective, _larger(proven, best.bound), run.floor,
                                                 time_limit, deadline, best.value)
    run.proven = _larger(proven, None if coarse_found is None else coarse_found.value)
    run.floor = _pattern_floor(problem, run.floor, run.found, objective, time_limit, deadline)


def _answer(run: _Run, started: float) -> Placement:
    """The better of the model's placement and the floor (polished here where it was not and
    may win), with the largest bound proven and the status it earns."""
    problem, objective, best = run.problem, run.objective, run.best
    proven = _larger(run.proven, None if run.before_model is None else run.before_model.value)
    proven = _larger(proven, run.lp_bound)  # (the floor's path after step 1b cut short of its bounds)
    floor = None
    if run.floor is not None:
        if not run.floor_polished and not _beats_packing(problem, best, run.floor, objective) \
                and not _settled(problem, run.floor, objective, proven):
            # (settled: within the tolerance of the bound already; breaker 10,000 spent 1.7 s
            # consolidating realise.py's 1831 against 1830.10 for nothing)
            consolidate(problem, run.floor, objective, run.search_deadline)  # it may be the answer
        # partial: what the greedy pass leaves out is said why (no node, or capacity)
        floor = _from_packing(problem, run.floor, objective, FEASIBLE_PARTIAL, None)
        floor.backend = "greedy"  # the first-fit pass and its consolidation; no model solved
    placement = _better(best, floor)
    if placement is None:  # no placement found at all in the time allowed
        return Placement(Status.UNKNOWN, objective, None, None, backend=run.backend,
                         seconds=time.monotonic() - started)
    if placement is floor and best is not None and best.bound is not None \
            and best.status is not Status.INFEASIBLE and not floor.unplaced:
        if floor.value is not None:  # (None: an objective the nodes alone do not give)
            # the optimiser's bound holds for any placement
            floor.bound = stated_bound(best.bound, floor.value)
        floor.backend = best.backend
    if placement is floor and best is not None:
        floor.proven_infeasible = best.proven_infeasible
    if placement is floor and floor.unplaced and not floor.proven_infeasible:
        floor.status = Status.UNKNOWN  # the greedy floor left replicas out; more time may place them
    if proven is not None and (proven > 0 or placement.value == 0) and placement.value is not None:
        if not placement.unplaced:
            _keep_larger_bound(placement, proven)
        elif placement.status is Status.UNKNOWN and placement.bound is None:
            # a short floor's: what placing every replica costs at least, clamped as the model's
            # path clamps a partial placement's. Not where a status claims something: that
            # bound is on placing every replica, not on the most by priority (random fleet seed
            # 1334: `optimal` at 96 with 23 out, the complete placements' bound clamped to it)
            placement.bound = stated_bound(proven, placement.value, complete=False)
    placement.seconds = time.monotonic() - started
    if placement.status is Status.OPTIMAL and not _within_tolerance(placement):
        placement.status = Status.FEASIBLE
    return placement


# the pair LP's expected CPU seconds (`bound_stages.PAIR_SECONDS_PER_PAIR`) from which the bounds run in
# a child process beside the placement (`_bounds_aside`), and the least time left for it: below
# it the fork and the answer's way back are a large part of what the second core gives, and
# the LP cut here still states what its first rounds proved (inventory 10,000 seed 7 at 5 s on
# the wall clock, load 6-7: the floor done with 0.1 s left, 128.24 here, nothing from a child)
ASIDE_MIN_SECONDS = 0.5
# the time the child keeps after the first guided pass to send its floor back (~24,000 replicas)
ASIDE_SEND_SECONDS = 0.1


def _bounds_aside(run: _Run, coarse: Fraction | None, floor_value: Fraction | None) -> Bounds | None:
    """`bound_stages.bounds_stage` in a child process (`backends.Minimising`, on the machine's other core),
    where the pair LP is expected to take ASIDE_MIN_SECONDS or more and neither its answer
    packed (few merged classes) nor the pattern bound built on it (too many pairs for its
    share) would follow; meanwhile here the ruin of the floor's dear nodes (dear_nodes.py,
    which needs no bound), then the bounds waited for until the search deadline; the guided
    passes follow as before. Inventory 10,000 at 5 s: the zoned and pair LPs took ~1.7 of
    the ~3.3 CPU s the solve has after the start, and the passes after them got nothing.
    The child reads the floor as it was before the ruin: the bounds and guides are those
    the solve computed here, in the same order. None where it does not run.
    Not the ruin where the floor was rebuilt (`rebuild_first`, inventory 50,000): there it
    took 2.4 of the process's CPU s for 0.4-3.4 USD/h that the search's ruin finds again (it
    tries every dear node), and the zoned guide's pass after it, which decides seed 7 (2710.84
    -> 2691.89), did not fit after it in a 17 CPU s `fitc solve` (2.22%; 1.51% without it,
    docs/performance.md, session 28)."""
    problem, time_limit, deadline = run.problem, run.time_limit, run.search_deadline
    left = run.budget.left(deadline)
    # (begun beside the floor: its answer, waited for as the child's here would be)
    known = None if run.early is None else run.early.result(max(0.0, left or 0.0))
    if left is None or run.floor is None or run.before_model is not None or not _aside(run) \
            or left < run.budget.wall(ASIDE_MIN_SECONDS):  # (no child: the bounds here, as they were)
        return known or told_bounds(run.early)
    objective, start, rebuilt, whole_pass = run.objective, run.floor, run.rebuilt, run.floor_seconds
    expected_bound = 0.0 if known is not None else \
        run.budget.wall(bound_stages.PAIR_SECONDS_PER_PAIR * pairs_of(problem))
    beside = pays(left, expected_bound, run.floor_seconds, run.budget.cpu_share, run.completion_deferred)
    # (the child's own copy: it learns apart; beside this process's pass, in the learned order at once)
    learned = ShortFirst(set(run.learned.names), set(run.learned.behind), at_once=beside)
    pass_seconds = run.floor_seconds
    count = passes_at_fork(left - ASIDE_SEND_SECONDS, time_limit, 0.0 if known is not None else
                           run.budget.wall(LP_CPU_PER_PAIR * pairs_of(problem)),
                           run.budget.wall(PASS_CPU_PER_REPLICA * _replicas(problem)))

    def bounds(seconds: float) -> Bounds:
        deadline = time.monotonic() + seconds
        found = known or bound_stages.bounds_stage(problem, objective, coarse, start, time_limit, deadline,
                                                   floor_value, rebuilt, beside=True)
        # the first guided passes (those with the LP's classes) here too, on the floor as it was at
        # the fork, each where it is expected to end with the time to send its floor back
        # (ASIDE_SEND_SECONDS); where the first is not, the solve's process tries them (the
        # options as moves first), as it did before. Inventory 10,000 seed 7 at 5 s, CPU clock:
        # the second (every GPU workload's counts) here, not after the child, 579.35 -> 578.94
        end = deadline - ASIDE_SEND_SECONDS
        told = _told(found)
        first = [guide for guide in _guides(found.suggested, found.counts) if guide.classes]
        passes_end: float | None = end
        if beside:  # (the bounds to this process at once: it makes the first pass meanwhile)
            tell_parent(told)
            first, passes_end = child_share(first, end, pass_seconds)
        else:  # (how many: fixed at the fork, aside_passes.py; the bounds told first, kept if it is stopped)
            tell_parent(told)
            first, passes_end = child_passes(first, count, end, found.pair.converged)
            if passes_end is not None and whole_pass is not None and \
                    passes_end - time.monotonic() < whole_pass:
                first = []
        kept: list[tuple[Fraction, Packing]] = []
        tried: list[Guide] = []
        # on the wall, a pass after the first only where the time left holds the last and its polish
        # (`room` 0), not the floor's shorter pass alone: a pass begun and cut was dropped, yet it
        # counted as tried (inventory 10,000 seed 10 at 5 s: 0.44-0.59 s left, the floor's
        # 0.60-0.63, a pass and its polish 0.75-0.85)
        timed = passes_end is not None
        passed = _cheapest_guided(problem, start, first, objective, time_limit, passes_end,
                                  whole_pass=whole_pass if timed and not beside else None, kept=kept,
                                  tried=tried, learned=learned, room=0.0 if timed else None)
        # the next cheapest pass too, ruined beside the cheapest before one is kept (ruined_choice.py)
        runner_up = [packing for _, packing in kept[1:2]] if passed is not start else []
        return replace(told, first_passed=len(tried), passed=None if passed is start else passed,
                       runner_up=runner_up[0] if runner_up else None)

    pending = Minimising.running(bounds, left)
    _room_floor(run)
    ruin_deadline = time.monotonic() + DEAR_SHARE * max(0.0, run.budget.left(deadline) or 0.0)
    if not run.rebuilt and floor_ruined_beside(objective, beside) and \
            dear_nodes_ruined(problem, run.floor, objective, ruin_deadline):
        run.progress("improve", _packed_value(problem, run.floor, objective), None)
    here = beside and pass_beside(pending, max(0.0, left - (time.monotonic() - pending.began)),
                                  lambda guide: _made_here(run, guide))
    # (where the child's answer is not in by the deadline, its bounds as it told them)
    found = pending.result(max(0.0, left - (time.monotonic() - pending.began))) or pending.told(0) or \
        Bounds(None, Bound(None), ({}, {}))
    return replace(found, beside=beside, here=here)


def _aside(run: _Run) -> bool:
    """`_bounds_aside`'s conditions that do not depend on the time left (see there)."""
    problem, time_limit = run.problem, run.time_limit
    return time_limit is not None and run.objective in NODE_OBJECTIVES \
        and bound_stages.PAIR_SECONDS_PER_PAIR * pairs_of(problem) >= ASIDE_MIN_SECONDS \
        and bound_stages.PATTERN_SECONDS_PER_PAIR * pairs_of(problem) \
        > bound_stages.PATTERN_SHARE * time_limit \
        and not few_merged_classes(problem) and forks()


def _told(found: Bounds) -> Bounds:
    """What a child sends back through the pipe: the values, guides and passes, not the
    relaxation's arrays."""
    return Bounds(found.zoned, Bound(found.pair.value, converged=found.pair.converged), found.suggested,
                  counts=found.counts)


def _early_bounds(run: _Run, first_pass: Packing, first_pass_cpu: float) -> None:
    """The pair LP begun in a child beside the floor's other passes, from its first pass
    (early_bounds.py), where a pass takes seconds, the LP would run in a child anyway and is
    expected to converge in the limit, and the whole model is not expected to run."""
    problem, objective, time_limit = run.problem, run.objective, run.time_limit
    converges = not rebuild_first(problem, time_limit)
    if run.early is not None or not early_pays(first_pass_cpu, _aside(run), converges) \
            or _whole_model_pays(problem, run.budget.deadline, run.budget):
        return
    left = run.budget.left(run.budget.search_deadline(_replicas(problem), len(problem.demands)))
    if left is None or left <= 0:
        return

    def bounds(seconds: float) -> Bounds:  # (its bound told each round: early_bounds.told_bounds)
        return _told(bound_stages.bounds_stage(problem, objective, None, first_pass, time_limit,
                                               time.monotonic() + seconds, None, False, beside=True,
                                               each_round=tell_parent))
    run.early = Minimising.running(bounds, left)


def _made_here(run: _Run, guide: Guide) -> bool:
    """The guided pass beside the child (passes_beside.py), the floor where it is cheaper;
    whether it was made. Where the floor's passes learned an order (short_order.py), in it at
    once, where the time left holds a learned pass (`learned_seconds`)."""
    tried: list[Guide] = []
    floor, deadline = run.floor, run.search_deadline
    assert floor is not None
    run.floor = _cheapest_guided(run.problem, floor, [guide], run.objective, run.time_limit, deadline,
                                 whole_pass=learned_seconds(run.floor_seconds, run.learned), tried=tried,
                                 learned=replace(run.learned, at_once=True))
    if run.floor is not floor:
        run.unruined = None  # (the child's pass is weighed against this one, not the floor before)
    return bool(tried)


# the second floor (`_room_floor`) runs where the time left is at least this many times what
# the first floor and its polish took: its pass and consolidation take about that, its ruin
# about as much, and the guided passes and the search after it need the rest
ROOM_FLOOR_PASSES = 4


def _room_floor(run: _Run) -> None:
    """Beside the child's bounds (`_bounds_aside`), before the ruin: a second floor whose
    replicas fill the free room of the dearest open nodes first (`Guide.dear_room_first`),
    consolidated; the floor where it is cheaper. The first floor fills the cheapest nodes'
    room first: on inventory 10,000 seed 9 one-per-node services took the room of 0.19-0.42
    USD/h CPU nodes while the 8-GPU nodes the gangs opened kept 8,865 CPUs free (the pair LP
    puts 2,167 of them to use, the floor 1,230), and later workloads opened CPU nodes for
    what was taken (consolidated 1668.77 -> 1658.60, ruined 1652.60 -> 1644.25). Its classes
    by the share of a node a replica takes (`Guide.fractional`): consolidated, seed 11 513.48 ->
    477.82, seed 7 625.79 -> 606.44, seed 9 1658.60 -> 1645.89 (seed 19 669.28 -> 669.95). Not where
    the floor is rebuilt (inventory 50,000: a pass there takes seconds) nor for the `nodes`
    objective (no price to order by)."""
    problem, objective, deadline = run.problem, run.objective, run.search_deadline
    left = remaining(deadline)
    if objective != "cost" or run.rebuilt or run.floor is None or run.floor_seconds is None \
            or left is None or left < ROOM_FLOOR_PASSES * run.floor_seconds:
        return
    other, cut = greedy_floor(problem, deadline, Guide(dear_room_first=True, fractional=True))
    if cut or not other.complete:
        return
    consolidate(problem, other, objective, share_of(run.time_limit, FLOOR_IMPROVE_SHARE, deadline))
    if _cheaper(problem, other, run.floor, objective):
        run.floor = other
        run.progress("improve", _packed_value(problem, other, objective), None)
    run.unruined = _packed_value(problem, run.floor, objective)  # (the child's pass is weighed against it)


def _floor_guide(problem: Problem, objective: str, time_limit: float | None) -> Guide | None:
    """Where `rebuild_first`, the options the accelerator side's pair LP uses
    (accelerator_options.py; 0.2-0.3 CPU s at 50,000 inventory nodes) guide the floor's
    own greedy pass. Inventory 50,000 seed 7, without deadlines, rebuilt: 2751.34 -> 2728.75
    (GPU nodes 1711.62 -> 1665.22). Elsewhere the pair LP's own options guide a later pass
    (`_guided_floor`)."""
    if time_limit is None or not rebuild_first(problem, time_limit):
        return None
    options = accelerator_options(problem, objective, time.monotonic() + OPTIONS_SHARE * time_limit)
    return Guide(options) if options else None


# the accelerator side's LP gets at most this share of the limit (it converges in ~1% of 30 s)
OPTIONS_SHARE = 0.05


def _coarse_floor(problem: Problem, packing: Packing, found: PatternBound, objective: str,
                  time_limit: float | None, deadline: float | None) -> Packing:
    """The floor placed again with each workload trying first the node shapes the coarse
    problem's pattern LP puts it on (`coarse.suggested_classes`), consolidated; the cheaper
    of that and `packing`. The greedy pass opens, per workload, the class cheapest per
    replica, which on *breaker* is not the mix of shapes that packs best (its 10,000-node
    floor opens 90 nodes of 48 CPUs / 96 GiB the LP leaves out): consolidated, 1984 -> 1972
    USD/h there, 9937 -> 9859 at 50,000 nodes; 240 either way at 1,000."""
    classes = suggested_classes(found, problem)
    if not classes:
        return packing
    return _cheapest_guided(problem, packing, [Guide(classes=classes)], objective, time_limit, deadline)


def _realise_next(problem: Problem, deadline: float | None) -> bool:
    """Will the whole model be skipped and realise.py keep every rule (so that its placement
    is tried once the coarse bound stands)?"""
    return deadline is not None and supported(problem) and not _whole_model_pays(problem, deadline)


def _settled(problem: Problem, packing: Packing, objective: str, bound: Fraction | None) -> bool:
    """Is the packing within OPTIMALITY_TOLERANCE of the proven `bound`?"""
    value = _packed_value(problem, packing, objective)
    return bound is not None and value is not None and packing.complete and value > 0 \
        and (value - bound) / value <= Fraction(OPTIMALITY_TOLERANCE)


def _realised_floor(problem: Problem, packing: Packing, objective: str, deadline: float | None) -> Packing:
    """The placement built from the coarse problem's whole-node patterns (realise.py) where
    it is cheaper than `packing`. Run where the coarse bound ran (its gap over
    bound_stages.PATTERN_MIN_GAP): on *breaker* it is the optimum or next to it (1,000 nodes: 223 against
    228; 10,000: 1831 against 1977; the coarse bound rounded up is 223 and 1831)."""
    if objective not in NODE_OBJECTIVES or past(deadline):
        return packing
    made = realised(problem, class_groups(problem), deadline)
    if made is None:
        return packing
    return made if _cheaper(problem, made, packing, objective) else packing


def _pattern_floor(problem: Problem, packing: Packing, found: PatternBound | None, objective: str,
                   time_limit: float | None, deadline: float | None) -> Packing:
    """`pattern_rounding.pattern_floor`, each guided pass `_cheapest_guided`'s."""
    return pattern_floor(packing, found, objective, deadline, lambda start, guides: _cheapest_guided(
        problem, start, guides, objective, time_limit, deadline))


def _cheapest_guided(problem: Problem, packing: Packing, guides, objective: str,
                     time_limit: float | None, deadline: float | None,
                     moves_first: bool = False, whole_pass: float | None = None,
                     kept: list[tuple[Fraction, Packing]] | None = None,
                     tried: list[Guide] | None = None, retry_short: bool = True,
                     learned: ShortFirst | None = None, room: float | None = None) -> Packing:
    """The floor placed again as each guide says, in turn while time is left, consolidated;
    the cheapest of those that place every replica, and `packing`. `moves_first` (`guides`
    a list) where the first guide has options: first those as moves on `packing`
    (`_options_moved`, a fraction of a whole pass's time), and the whole passes only where
    they are expected to fit in what is left (`whole_pass`: what the floor and its first
    polish took; a pass the deadline cuts is dropped, its time taken from what follows);
    without `moves_first`, each whole pass only where `whole_pass` fits.
    Inventory 10,000 at 5 s gave the guided
    answer or, where the pass was cut, the floor (h21b: 582.30 or 616.96 on seed 7); with
    the moves, 605.40 where it is cut (session 22). A pass left short is placed again in the
    plain order, then with the workloads that have the fewest nodes first (`scarce_first`, the
    same guide): held-out pools 3,000 seed 101, where the floor's own such pass placed all at
    2,330, the guided passes were all short and none was kept (2,321.78; 1,789.00 with it).
    Those retries wait until every guide had its first pass: they cost twice a pass and
    rarely complete a guided one (inventory 10,000 seed 41: the gang-and-GPU-counts pass short
    by 11 replicas, 0.3 + 0.9 CPU s of retries in vain, and the fractional pass after it, the
    answer's, not reached in the child's time, 478.24 -> 480.99; docs/performance.md, session
    35). `kept`: where
    given, the two cheapest whole passes that place every replica with their values, cheapest
    first, one per value (`ruined_choice.kept_cheapest`; no more are kept alive: at 10,000
    nodes each is large). `tried`: where given, the guides whose pass began, in their order.
    `retry_short` False: a pass left short is dropped (the time holds one pass, not its retries).
    `learned`: a pass still short goes with the workloads passes left short first (short_order.py).
    `room`: once a pass is kept, the seconds the next must leave for the search (search_room.py);
    None: the next begins whatever the last took."""
    mixed = bool(guides) and mixed_first(guides[0], deadline, whole_pass, learned)
    if moves_first and guides and guides[0].options and not mixed:
        packing = _options_moved(problem, packing, Guide(guides[0].options), objective, time_limit, deadline)
        left = remaining(deadline)
        if whole_pass is not None and left is not None and left < whole_pass:
            return packing
    best = packing
    short: list[tuple[Guide, Packing]] = []
    took = None  # the last pass and its polish
    gangs = True  # the first complete pass's polish moves gangs onto bought nodes (gang_polish.py)
    for guide in guides:
        if not _pass_fits(problem, best, objective, deadline, None if moves_first else whole_pass) or \
                (best is not packing and not (next_pass_fits(learned, deadline) and
                                              later_pass_fits(took, deadline, room))):
            break
        if tried is not None:
            tried.append(guide)
        began = time.monotonic()
        guided, cut = guided_pass(problem, guide, objective, deadline, learned)
        if not cut and not guided.complete:  # (retried once the other guides had their pass)
            short += [(guide, guided)] if retry_short else []
        elif not cut:
            best = _polished_pass(problem, guided, best, objective, time_limit, deadline, kept, gangs)
            gangs = False
        took = time.monotonic() - began
    for guide, guided in short:  # the plain order, then the workloads with least room first
        if not _pass_fits(problem, best, objective, deadline, None if moves_first else whole_pass):
            break
        guided = retried_pass(problem, guide, guided, deadline, learned, lambda short, by: scarce_first(
            problem, plain_order_too(problem, short, deadline, by), deadline, by))
        if guided.complete:
            best = _polished_pass(problem, guided, best, objective, time_limit, deadline, kept)
    return best


def _pass_fits(problem: Problem, best: Packing, objective: str, deadline: float | None,
               whole_pass: float | None) -> bool:
    """Whether another guided pass is tried (`_cheapest_guided`): time left, and where
    `whole_pass` is given, at least that much."""
    left = remaining(deadline)
    return not past(deadline) and _packed_value(problem, best, objective) is not None and \
        (whole_pass is None or left is None or left >= whole_pass)


def _polished_pass(problem: Problem, guided: Packing, best: Packing, objective: str,
                   time_limit: float | None, deadline: float | None,
                   kept: list[tuple[Fraction, Packing]] | None, gangs: bool = False) -> Packing:
    """A guided pass that places every replica polished as the floor was; the cheaper of it
    and `best` (where `best` is short: the pass). Where `rebuild_first`, the rebuild instead of
    the consolidation unless it rebuilds no zone (inventory 50,000 seed 7, the zoned options'
    floor: 1.2 CPU s of consolidation before the rebuild for 0.7 USD/h), else the consolidation.
    `gangs`: then whole gangs moved onto bought accelerator nodes, the consolidation given at
    most half the time left before them (gang_polish.py)."""
    consolidated = share_of(time_limit, FLOOR_IMPROVE_SHARE, deadline)
    if not (rebuild_first(problem, time_limit) and
            rebuild(problem, guided, objective, share_of(time_limit, REBUILD_SHARE, deadline)) > 0):
        consolidate(problem, guided, objective, consolidation_deadline(consolidated, deadline) if gangs
                    else consolidated)
    if gangs:
        gangs_polished(problem, guided, objective, deadline)
    if kept is not None:
        kept[:] = kept_cheapest(problem, kept, guided, objective)
    return guided if _cheaper(problem, guided, best, objective) else best


def _keep_larger_bound(placement: Placement, proven: Fraction) -> None:
    """Of the optimiser's bound and the relaxation's, the larger (both hold for every
    placement that places every replica); `optimal` when that closes the gap."""
    if placement.value is None:
        return
    held = [b for b in (placement.bound, proven)
            if b is not None and stated_bound(b, placement.value) is not None]
    placement.bound = stated_bound(max(held), placement.value) if held else None
    if placement.status is Status.FEASIBLE and _within_tolerance(placement):
        placement.status = Status.OPTIMAL


# the share of the time left that the ruin of the dear full nodes beside the child's bounds may
# take (`_bounds_aside`; it gives up after GIVE_UP_AFTER failures in a row)
DEAR_SHARE = 0.5
def _guided_floor(problem: Problem, packing: Packing,
                  suggested: tuple[dict[str, list[str]], dict[str, frozenset[str]]], objective: str,
                  time_limit: float | None, deadline: float | None,
                  whole_pass: float | None = None, first_passed: int = 0,
                  counts: LPCounts = NO_COUNTS,
                  kept: list[tuple[Fraction, Packing]] | None = None,
                  learned: ShortFirst | None = None, beside: tuple[bool, bool] = (False, False)) -> Packing:
    """The greedy floor placed again as the relaxation's last solution suggests (`Guide`),
    consolidated; the cheapest of those and `packing`. Each option group tries its options
    in the order the solution uses them: the greedy pass chooses an option by what it costs
    at its turn, so the first workloads took the scarce cheap accelerators whatever they
    saved there (measured on the inventory shape at 10,000 nodes: workloads needing 12 L4s
    took the 50 on-prem L40S nodes, where those needing 4, which save twice as much there,
    did not; 615.96 -> 593.65 USD/h). First with each workload also trying first the classes
    the solution puts it on (inventory 10,000: 589.41 against 593.18 with the options alone;
    breaker 10,000: 2046 against 1978, so the cheaper is kept), then, time left, with the
    options alone: where a short limit leaves time for one pass it is the first one
    (`fitc solve --time-limit 5`, inventory 10,000, seeds 7 / 8 / 9, session 15: 594.26 ->
    590.30, 2534.34 either way, 1669.51 -> 1671.43). `suggested`: `suggested` of the relaxation.
    `first_passed`: how many of the first passes (those with classes) the child beside the
    placement tried (`_bounds_aside`); then one pass here, where it is expected to fit, and not
    retried where it is short (the ruin after it needs the rest: a second pass here cut seed
    31's, 626.98 -> 628.72; a short one's retries held-out seed 43's, 1.27 CPU s, 524.00): the
    first pass with classes the child did not reach, else the options alone. The child's time
    is what its process had left at the fork, so which first pass it last reached decided the
    answer (inventory 10,000 at 5 s, seed 12: its fifth 1451.95, the options alone after its
    fourth 1454.63; docs/performance.md, session 35). `counts`: the first passes place the
    gangs (then every workload with GPUs) and deal spreads over domains as the LP does
    (`lp_counts`). `beside`: whether the child left the first pass to this process, and whether
    this process made it (then not again; else it comes first, `first_passed` counting the
    child's others). Where it made it (50,000 nodes: a pass takes seconds), after the child's
    passes neither the options alone nor the ruin of its passes before the choice
    (`_ruined_first`): the search's merge of small nodes, first in its order, gains more in
    their time (accelerator-heavy 50,000 seed 1, 30 s CPU clock: the options-alone pass 2.2
    CPU s, short and dropped, then the ruin of two passes 6.2-6.5 s, leaving the search 1.6;
    its merge found 1,175-1,405 USD/h in 2.3 s on the same pass; session 36, h36d)."""
    guides = _guides(suggested, counts)
    first = here_guide([guide for guide in guides if guide.classes], beside[0])
    if first is not None:
        guides.remove(first)  # (the child's order)
    first_here = [first] if first is not None and not beside[1] else []
    if first_passed:
        options_alone = [guide for guide in guides if not guide.classes] if not beside[1] else []
        rest = (first_here or [guide for guide in guides if guide.classes][first_passed:] or
                options_alone)[:1]
        if not rest:
            return packing
        return _cheapest_guided(problem, packing, rest, objective, time_limit, deadline, False, whole_pass,
                                kept=kept, retry_short=False)
    return _cheapest_guided(problem, packing, first_here + guides, objective, time_limit, deadline, True,
                            whole_pass, kept=kept, learned=learned, room=search_room(time_limit))


def _ruined_first(run: _Run, others: list[Packing | None]) -> None:
    """The search's ruin now, on the floor (the child's pass where it won) and, where the
    time holds it, on the next cheapest of `others` (the child's next cheapest first pass, the
    passes made here: ruined_choice.py); the cheaper after its ruin kept as the floor, and not
    ruined again by the search. The pass cheapest consolidated is not always the cheapest
    ruined: inventory 10,000 seed 12 at 5 s, the fractional pass with the option groups whole
    1454.52 -> 1452.29, the gangs' pass 1458.25 -> 1455.61.
    Not where there is no choice (one complete pass, or passes alike in value): the search then
    ruins the floor in its own order, after the merge of small nodes, which gains more in the
    first tenths of a second (`bench/ai_fleet.py` 10,000 at 5 s, seed 3: merged 89,385 -> 89,369
    in 0.2 CPU s, where the ruin first found 14 in 1.0 s; search_room.py). Nor where the search's
    first stage, the accelerator MIP, has much to move (`accelerator_repack.repacks_much`): it
    gains more in that time (seed 1: the ruin of two passes took 0.93 of the 1.2 CPU s left); nor
    where the time left is short for the choice (`choice_fits`: the search's zones first gain more)."""
    passes = [packing for packing in others if packing is not None]
    assert run.floor is not None
    if not passes or run.objective != "cost" or run.search_deadline is None or run.rebuilt or \
            len(ranked(run.problem, [run.floor, *passes], run.objective)) < 2 or \
            repacks_much(run.problem, run.floor, run.objective) or \
            not choice_fits(remaining(run.search_deadline), run.floor_seconds):
        return
    ruin_deadline = time.monotonic() + SEARCH_DEAR_SHARE * max(0.0, run.search_deadline - time.monotonic())
    chosen = ruined_choice(run.problem, [run.floor, *passes], run.objective, ruin_deadline)
    if chosen is not None:
        run.floor = chosen.packing
        run.ruined = chosen.packing if chosen.ruined else None


def _lp_floor_passed(run: _Run) -> Packing | None:
    """Step 1b's pass, where a floor after it (a pair-LP guided pass) replaced it: a candidate of
    the ruined choice. The fragment LP's rows send the replicas where they pack, and its pass may
    consolidate a little dearer and ruin far cheaper (inventory 1,000 seed 3 at 5 s: 46.84 -> 45.01
    against a pair-LP pass's 46.67 -> 46.67, every one-a-node service of us-east-1 stacked in
    us-east-1a there; the answers 44.09 against 46.55)."""
    return run.lp_floor if run.lp_floor is not None and run.lp_floor is not run.floor else None


def _beats_unruined(run: _Run, passed: Packing) -> bool:
    """Whether the child's guided floor beats the floor here as it was before its ruin beside
    the child (`run.unruined`), where that is known; else the floor as it is. The search
    ruins the floor it is given again: from the guided floor that ruin goes further
    (inventory 10,000 seed 8: 2516.82 -> 2482.49, where the floor ruined here, 2514.70 from
    the second floor's 2528.77, gains 0.41 more)."""
    assert run.floor is not None
    if run.unruined is None or not run.floor.complete:
        return _cheaper(run.problem, passed, run.floor, run.objective)
    value = _packed_value(run.problem, passed, run.objective)
    return passed.complete and value is not None and value < run.unruined


def _cheaper(problem: Problem, packing: Packing, than: Packing, objective: str) -> bool:
    value, other = _packed_value(problem, packing, objective), _packed_value(problem, than, objective)
    return packing.complete and value is not None and (other is None or not than.complete or value < other)


def _options_moved(problem: Problem, packing: Packing, guide: Guide, objective: str,
                   time_limit: float | None, deadline: float | None) -> Packing:
    """Before the whole guided passes, the guide's options as moves on the floor
    (`greedy.options_moved`), consolidated; kept where cheaper and `verify` finds nothing
    (the moved groups' rules are kept as a greedy pass keeps them, the check is for the
    rules of the workloads left where they were). Inventory 10,000 seed 7: 37 groups moved,
    614.70 -> 598.87 in ~0.3 CPU s with the check, where a whole guided pass and its
    consolidation (585.65) take ~1.1 s; seeds 8 and 9: dearer, not kept."""
    if past(deadline) or not packing.complete:
        return packing
    moved = options_moved(problem, packing, guide)
    if moved is None or not moved.complete:
        return packing
    consolidate(problem, moved, objective, share_of(time_limit, FLOOR_IMPROVE_SHARE, deadline))
    value, before = _packed_value(problem, moved, objective), _packed_value(problem, packing, objective)
    if value is None or before is None or value >= before or not verified(problem, moved):
        return packing
    return moved


def _beats_packing(problem: Problem, best: Placement | None, packing: Packing, objective: str) -> bool:
    """Is the optimiser's placement already better than this floor could become by closing
    nodes (every replica placed, and no dearer than the floor is now)?"""
    if best is None or best.unplaced or best.value is None:
        return False
    value = _packed_value(problem, packing, objective)
    return value is not None and best.value <= value


# The floor runs first and its own time is measured, not estimated: greedy_floor takes about
# 0.03-0.1 ms a replica (measured at 10,000 nodes, bench/run.py's three shapes: 0.5-1.3 s),
# so at fleet scale it leaves most of any limit to the model. Closing nodes in the floor
# before the model (it is the model's start) gets this share of the limit at most; the rest
# of the floor's consolidation happens after the model, and only when the floor may win.
FLOOR_IMPROVE_SHARE = 0.1
# `rebuild` (each zone's paid nodes from the covering LP's resource prices, the zones with
# the most spend first) gets at most this share of the limit each time it runs, only where
# `rebuild_first`: on the floor (instead of its first consolidation) and on each guided
# floor. In process, consolidated floors, inventory 50,000 seeds 7 / 8 / 9: 2847.05 ->
# 2751.34, 6658.05 -> 6581.15, 5614.86 -> 5525.30 USD/h in 1.6-2.7 s (load 3-4). Not at
# 10,000 nodes: 614.70 -> 611.27, 2530.08 -> 2529.53, 1668.77 -> 1667.29 in process (0.2 s),
# but `fitc solve --time-limit 30` with it after every consolidation ended dearer on seeds 7
# and 8 (584.32 -> 587.08, 2493.90 -> 2519.08; seed 9 1659.78 -> 1658.72, load ~2): the
# repacking after it found less. A tenth of the limit cut it short of its last zones: with
# the zoned bound converging inside a 30 s run (session 17, ~10 s of it), 0.1 left seed 9 at
# 5558.47 or 5526.87 by the run and seed 7 at 2771.82-2787.10; with 0.2 it ends whole, 5526.87
# and 2751.34 in every run, seed 8 6600.84 -> 6580.78, breaker 50,000 9939 -> 9938 (alternate
# runs at load 1-2, every answer verified; the bounds unchanged)
REBUILD_SHARE = 0.2
# after the model, repacking runs only where the gap is over this: on the bench shape (the
# model leaves 0.1-0.3%) it gained 0.06% at 10,000 nodes for 1.8 s (4.9 -> 6.7 s end to end)
REPACK_MIN_GAP = 0.01
def _replicas(problem: Problem) -> int:
    return sum(d.replicas for d in problem.demands)


def _whole_model_pays(problem: Problem, deadline: float | None, budget: Budget | None = None) -> bool:
    """Without a time limit, always (the optimum was asked for, however long it takes). When
    building and presolving alone would eat the model's time, the greedy placement is the
    answer (with the bounds the floor's stages prove) rather than an answer past the limit."""
    if deadline is None:
        return True
    return columns(problem) <= bound_stages.MODEL_MAX_COLUMNS and \
        (budget or Budget(deadline, None)).model_fits(deadline, columns(problem), len(problem.classes))


def _better(first: Placement | None, second: Placement | None) -> Placement | None:
    """Fewer replicas left out, then the lower objective (the optimiser's on a tie)."""
    if first is None or second is None:
        return first or second
    if len(second.unplaced) != len(first.unplaced):
        return first if len(first.unplaced) < len(second.unplaced) else second
    if first.value is not None and second.value is not None and second.value < first.value:
        return second
    return first


def _optimised(problem: Problem, backend: str, objectives: list[str], deadline: float | None,
               relax: bool, progress: Progress,
               improve_deadline: float | None = None, start: Packing | None = None,
               packed: list[Packing] | None = None, plain: set[str] | None = None) -> Placement | None:
    """The aggregate model, packed; where packing needed more nodes than it counted, solved
    again with those counts required. None when the optimiser had nothing in time.

    `start`: a placement of every replica (the greedy floor) that the optimiser starts from;
    when the optimiser has nothing better in time, it is the answer, with the bound the
    optimiser proved.

    `packed`: where given, the placement's packing is only consolidated, not repacked, and
    appended to it (`_repacked` repacks it after the pattern bound, whose floor may beat it).

    `plain`: the classes packed by node patterns first (`_model_window`)."""
    min_nodes: dict[str, int] = {}
    caps: dict[tuple[str, str], int] = {}
    first_bound = None
    best = None
    whole = False  # the kept packing places every replica (not only every replica counted)
    proven_infeasible = False
    start = start if start is not None and start.complete and relax else None
    plain = plain if relax and deadline is not None and plain else set()
    for round_ in range(MAX_REPACKS):
        round_deadline = deadline if round_ == 0 else _later_round_deadline(deadline, improve_deadline)
        if past(round_deadline):
            break
        progress("optimise", None, first_bound)
        proven: list[Fraction] = []
        result = solve_aggregate(problem, backend, objectives, min_nodes, round_deadline, caps, relax,
                                  start=start if round_ == 0 else None, progress=progress,
                                  proven=proven)
        if round_ == 0 and proven:
            first_bound = proven[0]  # with or without a placement: no packing cuts yet
        if result is None:
            break  # out of time (or the cuts overreached): keep the last round's answer
        encoding, outcome, counts, backend_name, model_status = result
        counted_short = bool(caps) and model_status.partial
        if counted_short:
            # a model that cannot place every replica within the caps packing put on it
            # proves nothing of the policy (the caps are a heuristic cut): what it leaves out
            # is the search's shortfall, not a verdict; and its packing, though short of no
            # replica it was given, is not whole (`whole`: cloud_buy small seed 154's capped
            # counts left a GPU replica out and replaced the whole floor at step 4)
            model_status = PlacementStatus(model_status.status)
        if round_ == 0 and first_bound is None:
            first_bound = outcome.bound  # after placing by priority: that model's bound
        if round_ == 0:
            # the first round has no packing cuts: its model is a relaxation of the rules (or,
            # node by node, the rules themselves), so its infeasibility is a proof
            proven_infeasible = model_status.partial and _relaxation(problem)
        progress("pack", outcome.objective, first_bound)
        planned = {c.id: outcome.solution[encoding.u[c.id]] for c in problem.classes}
        # rounded counts a full class cannot hold, made whole on the nodes counted instead
        # (by the search's deadline, like the packing: the model may have used its own)
        fitted = fitted_counts(encoding, outcome.solution, encoding.objective(objectives[-1]),
                               improve_deadline or round_deadline, may_grow=len(objectives) == 1)
        if fitted is not None:
            counts, planned = fitted.counts, fitted.nodes
        packing = patterns_first(problem, counts, planned, plain, improve_deadline or round_deadline) \
            if plain and round_deadline is not None else pack(problem, counts, planned)
        if not packing.complete:
            # the per-node model over the counted nodes, in a child while this completes the packing
            # (not where the model could not place every replica: nor can the per-node one)
            first = relax and round_ == 0 and not model_status.partial
            exact = counted_exact(problem, objectives, planned, packing.short_by_workload, outcome.objective,
                                  improve_deadline or round_deadline) if first else None
            packing = completed(problem, counts, planned, packing, objectives[0], relax, round_deadline,
                                 improve_deadline)
            packing = packing if exact is None else exact.cheaper(packing, objectives[0])
        if relax and round_ == 0 and not model_status.partial and len(objectives) == 1 and _small(encoding):
            # counts that packed dearer than the model: the model again, exact by node patterns
            packing, patterns_bound = cheaper_by_patterns(problem, packing, objectives[0], outcome.objective,
                                                          improve_deadline or round_deadline)
            first_bound = _larger(first_bound, patterns_bound)
        # a later round's packing that leaves out more than an earlier one's (whole workloads
        # dropped, by priority) is not kept (a round cut short by the deadline: its model
        # dear, its packing short of more)
        if best is None or left_out(problem, packing) <= left_out(problem, best[4]):
            best = (encoding, outcome, counts, backend_name, packing, model_status)
            whole = packing.complete and not counted_short
        if packing.complete:
            break
        # what packing and repair could not place: require more nodes where it fell short,
        # or send the replicas elsewhere, and solve again
        grown = grown_classes(problem, encoding, outcome.solution, packing)
        if not grown:
            break
        if can_grow(problem, min_nodes, grown):
            min_nodes.update(grown)
        elif not cap_short(packing, counts, caps):
            break
    if best is None:
        if start is None or first_bound is None:
            return None
        # the optimiser proved a bound but found nothing better than the start in time
        progress("improve", _packed_value(problem, start, objectives[0]), first_bound)
        _polished(problem, start, objectives[0], improve_deadline, first_bound, packed)
        placement = _from_packing(problem, start, objectives[0], FEASIBLE, first_bound)
        if placement.value is not None:  # (None: an objective the nodes alone do not give)
            placement.bound = stated_bound(first_bound, placement.value, start.complete)
        placement.backend = HighsBackend.name
        return placement
    encoding, outcome, counts, backend_name, packing, model_status = best
    outcome.bound = first_bound
    # a spread the kept packing is short of keeps what holds its skew, not dropped whole (in
    # the rounds it stays short as it is: its excess's classes are not where nodes were short)
    trim_spreads(problem, packing)
    if relax:
        progress("improve", _packed_value(problem, packing, objectives[0]), first_bound)
        # (only a whole packing is handed on to replace the floor at `_stages` step 4)
        _polished(problem, packing, objectives[0], improve_deadline, first_bound,
                  packed if whole else None)
    placement = model_placement(problem, outcome, packing, objectives[0], model_status)
    placement.proven_infeasible = proven_infeasible
    placement.backend = backend_name
    return placement


# a later round (the first's counts did not pack) may take this share of what is left of the
# search, where that ends after the first round's deadline: what it places is worth more than
# polishing a placement that leaves replicas out
LATER_ROUND_SHARE = 0.6


def _later_round_deadline(deadline: float | None, search_deadline: float | None) -> float | None:
    if deadline is None or search_deadline is None:
        return deadline
    return max(deadline, time.monotonic() + LATER_ROUND_SHARE * (search_deadline - time.monotonic()))


def _polished(problem: Problem, packing: Packing, objective: str, deadline: float | None,
              bound: Fraction | None, packed: list[Packing] | None = None) -> None:
    """Close what nodes can close (`consolidate`), then, where the gap to the model's `bound`
    is over REPACK_MIN_GAP, repack node groups exactly for REPACK_SHARE of what is left before
    the deadline. Measured after the model on the inventory shape at 1,000 nodes (machine
    shared, load 3): 85.28 -> 84.43 USD/h in 5 s. With `packed`, consolidate only, and
    append the packing to it (repacked later, `_repacked`)."""
    consolidate(problem, packing, objective, deadline)
    if packed is not None:
        packed.append(packing)
        return
    value = _packed_value(problem, packing, objective)
    if deadline is None or (bound is not None and value and (value - bound) / value <= REPACK_MIN_GAP):
        return
    repack(problem, packing, objective, time.monotonic() + REPACK_SHARE * (deadline - time.monotonic()))


def _within_tolerance(placement: Placement) -> bool:
    gap = placement.gap
    return gap is not None and gap <= placement.tolerance + 1e-12


def _relaxation(problem: Problem) -> bool:
    """Is the model without cuts a relaxation of the rules? Yes: every rule is stated exactly
    or relaxed (a class counts its largest node's capacity), `spread node` included."""
    return True


def _objectives(problem: Problem) -> list[str]:
    objectives = list(problem.objective) or ["cost"]
    if any(d.preference for d in problem.demands) and "preferences" not in objectives:
        objectives.append("preferences")
    return objectives


def _larger(first: Fraction | None, second: Fraction | None) -> Fraction | None:
    return first if second is None else second if first is None else max(first, second)


def _floor_places_more(problem: Problem, floor: Packing | None, model: Packing, objective: str) -> bool:
    """Does the floor leave out fewer replicas than the model's packing (`make_room.left_out`,
    priority level by level) and break no rule? Then it stays the floor: the model's packing,
    cheaper for what it leaves out, does not replace it (the floor is the least the answer is;
    `bench/cloud_buy.py --small` seed 154 answered `unknown`, one replica out, where the floor
    had placed all 18: there a capped round's short counts, now kept from `packed` by
    `_optimised`). A floor that breaks a rule is not whole however few it leaves out: on a
    narrowed option workload the greedy placed `chat[G80]`'s 2 replicas under a latency rule
    for 3 (the group's rule), where the model's packing left it out and the narrowing was
    tried again (`tests/test_option_latency.py`). The rules are read (a dump and `verify`)
    only where the count says the floor places more."""
    if floor is None or not left_out(problem, floor) < left_out(problem, model):
        return False
    return not _breaks_a_rule(problem, _from_packing(problem, floor, objective, FEASIBLE, None))


def _repacked(problem: Problem, model: Packing, patterned: Packing | None, objective: str,
              deadline: float | None, bound: Fraction | None) -> Packing:
    """The floor from here on: the pattern bound's floor (`patterned`, the floor after
    `_pattern_floor`) where it is cheaper than the model's packing (consolidated), as it is;
    else the model's packing, repacked where the gap to `bound` is over REPACK_MIN_GAP for
    REPACK_SHARE of what is left. Repacking the model's packing before the pattern bound spent
    that time on a placement the pattern floor then beat (breaker 1,000: 11 s of repacking,
    244 -> 240 USD/h, then the pattern floor 228), and repacking the pattern floor, whose
    nodes hold the relaxation's patterns, gained nothing in 10.7 s there."""
    model_value = _packed_value(problem, model, objective)
    patterned_value = None if patterned is None else _packed_value(problem, patterned, objective)
    if patterned is not None and patterned_value is not None and \
            (model_value is None or patterned_value < model_value) and \
            not left_out(problem, model) < left_out(problem, patterned):  # (cheaper for what it leaves out)
        return patterned
    if deadline is None or (bound is not None and model_value and
                            (model_value - bound) / model_value <= REPACK_MIN_GAP):
        return model
    repack(problem, model, objective, time.monotonic() + REPACK_SHARE * (deadline - time.monotonic()))
    return model
