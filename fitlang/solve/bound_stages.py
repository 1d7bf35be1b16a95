"""The placement's bound stages (`placement.solve` runs them in turn): the coarse problem's
pattern bound (`coarse_stage`), the zoned coarse bound where the pair bound would not converge in
its share (`zoned_stage`), the pair bound seeded by it (`bounds_stage`) and the pattern bound built
on the pair bound (`with_patterns`); with the shares of the time limit each may take and the gates
that say whether one is worth its time. Moved out of placement.py (session 37) unchanged: the
measurements behind each share are in the comments beside it."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.accelerator_options import options_of
from fitlang.solve.bound import SECONDS_PER_PAIR, Bound, lower_bound, relaxation_pairs
from fitlang.solve.coarse import coarse_bound, in_problem_classes, widened, zoned_bound
from fitlang.solve.gang_quotas import LPCounts, lp_counts
from fitlang.solve.greedy import Guide
from fitlang.solve.pack import Packing
from fitlang.solve.patterns import PatternBound, pattern_bound
from fitlang.solve.patterns_first import plain_classes
from fitlang.solve.placement_result import Placement

# the share of the time limit `bound.lower_bound` may take where the whole model is skipped
# (before the neighbourhood search, which gets the rest: it stops once converged) or proved
# no bound. At 10,000 nodes it converges in 1.4-2.8 s (session 7, load 3) and stops there;
# at 50,000 it has not converged within a minute, and its bound grows with its time
# (inventory 50,000: 685 before any LP, 1,449 at 0.3 of a 60 s limit, ~2,200-2,300 at 0.5)
# while the neighbourhood search after it did not move the placement (2997.34 with 42 s of
# search, session 6, and with 30 s, session 7). Where the whole model runs it is not
# computed: on the inventory shape at 1,000 nodes, run first, it took the model's time
# (stated bound 74.30 against the model's own 76.78 with the whole limit), and on bench
# 10,000 it added 1.9 s for 0.005%.
BOUND_SHARE = 0.5


# the pattern bound (patterns.py) runs where the gap left is over PATTERN_MIN_GAP (bench
# 10,000: 0.26%, where the patterns gained 0.005% at 1,000 nodes for 4.6 s), in at most
# PATTERN_SHARE of the time limit, where its column generation is expected to converge in
# that share (it gains little before: at 10,000 nodes, 30 s of it added 0.01-0.13%); and not
# without a time limit. Measured to convergence (2026-11-30, shared machine, load 2-3):
# breaker 1,000 (1,717 pairs) 211.49 -> 222.40 in 1.4 s; bench 1,000 (1,680) 4.6 s;
# inventory 1,000 (8,996) 71.30 -> 75.52 in 32 s: 0.8-3.5 ms a pair
PATTERN_MIN_GAP = 0.01
# the pair bound's column generation to convergence, per pair of merged demand and class
# (`bound.relaxation_pairs`): inventory 10,000 (147,992 pairs) 0.8-1.9 s, inventory 50,000
# (2,025,859) 32.1-33.6 s (session 8, load 2-3): 0.5-1.6e-5 s. Where it would take more
# than BOUND_SHARE of the limit, the zoned coarse bound runs first
PAIR_SECONDS_PER_PAIR = 1.6e-5
# the zoned coarse problem's pairs, per pair of the pair relaxation, about: inventory 10,000
# 0.45, 50,000 0.29 (its build is then about this share of the pair relaxation's: breaker
# 50,000 under load started it past the deadline and spent 1.1 s making it to no bound)
ZONED_PAIRS = 0.5
# the zoned coarse problem keeps classes apart by eligibility (coarse._kept_apart) while its
# pairs stay within this many times those of the problem with labels forgotten, so that it
# converges in about the time that one did. Inventory 50,000 seed 7 (CPU s at load 5-7, the
# spread rows lazy as they then were): labels forgotten 435 classes, 576,572 pairs, 2417.37
# in 24-25 s; within 1.05: 471, 577,532 (the GPU workloads' lists, which split 0-4 groups,
# and a few that split up to 16), 2637.14 (in 36-42 s; in 27 s with every row in); within
# 1.2: 539, 679,727 (an arch's lists too, 26 groups), 2637.36 in 48 s; no limit: the pair
# relaxation's 1,638 classes and 2,025,859 pairs, 2639.38. Seeds 8 and 9 within 1.05:
# 5760.13 -> 6348.93, 4874.58 -> 5412.30 at 6-11% more CPU
ZONED_GROWTH = 1.05
PATTERN_SHARE = 0.2
# with no user limit (work.py), the share of the default limit the pattern bounds' own clocks
# (`work.Tally`) run to: their knapsacks counted as they cost, PATTERN_SHARE (12 s of 60) and the
# solve's other counted stages summed to 58 CPU s on held-out inventory 1,000 seed 41 (patterns
# 15.7 s), which a machine 1.5 times as slow cuts at the default limit (session 54)
PATTERN_COUNTED_SHARE = 0.1
PATTERN_SECONDS_PER_PAIR = 2e-3
# the same where every class is plain (patterns_first.plain_classes: no node-level rule, at most
# MAX_SHAPES request shapes, so each knapsack is a few shapes' counts): `pools` 3,000 seeds 106
# / 111 / 112 converged in 0.52-0.75 CPU s (445-520 pairs), `pools` 10,000 seed 104 in 1.21 s
# (1,095), at load 9: 1.07-1.67 ms a pair. With 2e-3 the gate left 111 and 112 without the
# pattern bound and its floor at 5 s (2.3 / 3.0% over the bound; with them 0.2 / 0.3%)
PLAIN_PATTERN_SECONDS_PER_PAIR = 1.3e-3
# the same fleets' gap over which the patterns run: their floor (pattern_rounding.py) lands 0.1-0.2%
# over the pattern bound in 0.4-0.6 CPU s at 3,000 nodes (`pools` 104 / 114: 0.70 / 0.85% -> 0.12 / 0.07%)
PLAIN_PATTERN_MIN_GAP = 0.005


def gap_over(placement: Placement | None, share: float) -> bool:
    return placement is not None and placement.bound is not None and placement.value is not None \
        and not placement.unplaced and placement.value > 0 \
        and (placement.value - placement.bound) / placement.value > share


def with_patterns(problem: Problem, objective: str, pair, start: Packing | tuple[Packing, ...],
                   time_limit: float | None, deadline: float | None,
                   value: Fraction | None) -> tuple[Fraction | None, PatternBound | None]:
    """The pair bound (`pair`, what `lower_bound` found), or the pattern bound built on it
    (never less) where the gap to `value` is over PATTERN_MIN_GAP, a time limit is set and
    the column generation is expected to converge in its share of it; and what the pattern
    bound found (its last LP solution guides `_pattern_floor`), if it ran."""
    if pair.value is None or pair.relaxation is None or time_limit is None or value is None or value <= 0 \
            or (value - pair.value) / value <= pattern_min_gap(problem) \
            or pattern_seconds(problem, pair.relaxation.pairs) > PATTERN_SHARE * time_limit:
        return pair.value, None
    found = pattern_bound(pair, objective, share_of(time_limit, PATTERN_SHARE, deadline), start=start,
                          counted_seconds=PATTERN_COUNTED_SHARE * time_limit)
    return (pair.value if found.value is None else max(found.value, pair.value)), found


def pattern_seconds(problem: Problem, pairs: int) -> float:
    """About what the pattern bound takes to converge over `pairs` pairs, CPU s."""
    return (PLAIN_PATTERN_SECONDS_PER_PAIR if all_plain(problem) else PATTERN_SECONDS_PER_PAIR) * pairs


def pattern_min_gap(problem: Problem) -> float:
    """The gap over which the pattern bound and its floor run: PLAIN_PATTERN_MIN_GAP where
    every class a workload may use is plain, else PATTERN_MIN_GAP."""
    return PLAIN_PATTERN_MIN_GAP if all_plain(problem) else PATTERN_MIN_GAP


def all_plain(problem: Problem) -> bool:
    plain = plain_class_ids(problem)
    return bool(plain) and all(set(demand.eligible) <= plain for demand in problem.demands)


def coarse_stage(problem: Problem, objective: str, known: Fraction | None, start: Packing,
            time_limit: float | None, deadline: float | None,
            value: Fraction | None) -> PatternBound | None:
    """The coarse problem's pattern bound (coarse.py), or None where it is not run: under
    the pattern bound's conditions (a time limit, a gap between `value` and the bound `known`,
    if any, over PATTERN_MIN_GAP, expected to converge in its PATTERN_SHARE). It costs little where
    it runs (breaker 10,000: 30 pairs, under 0.3 s with the build), and where the fleet's
    splits are what costs it is weaker than the others (inventory 1,000: 59.31 against
    76.80) and not stated."""
    if time_limit is None or value is None or value <= 0 \
            or (known is not None and (value - known) / value <= PATTERN_MIN_GAP):
        return None
    return coarse_bound(problem, objective, share_of(time_limit, PATTERN_SHARE, deadline), start,
                        max_pairs=int(PATTERN_SHARE * time_limit / PATTERN_SECONDS_PER_PAIR),
                        counted_seconds=PATTERN_COUNTED_SHARE * time_limit)


@dataclass
class Zoned:
    """The zoned coarse problem's bound (None: none in time) and what its last solution
    suggests to the greedy pass, in the problem's own classes."""

    value: Fraction | None
    guide: Guide | None  # None: no LP solution in time
    pairs: int  # the pair relaxation's (`bound.relaxation_pairs`)


def zoned_stage(problem: Problem, objective: str, known: Fraction | None, start: Packing,
           time_limit: float | None, deadline: float | None,
           value: Fraction | None) -> tuple[Zoned | None, set[tuple[str, str]]]:
    """The zoned coarse problem's pair bound (`coarse.zoned_bound`) in BOUND_SHARE of the
    limit, where the gap between `value` and the bound `known` is over PATTERN_MIN_GAP and
    the pair bound is not expected to converge in its own share; and the (workload, class)
    pairs its solution uses, which the pair bound's master starts with. Measured on the
    inventory shape at 50,000 nodes: 2417.37 in 7-10 s at load 6-8, where the pair bound's
    share ended at 685-1966; its classes kept apart by eligibility within ZONED_GROWTH,
    2637.14 (the pair LP's 2639.38) at about the same CPU. Not run where the pair bound
    converges in time: at 10,000 nodes (565.24 in 0.55 s against the pair bound's 571.51;
    kept apart by eligibility, 571.41) it made the pair bound's master
    faster (1.8 -> 0.8 s) and its guide placed cheaper on one seed (30 s: 582.39 -> 581.49)
    but dearer on two (2488.18 -> 2506.66, 1659.05 -> 1661.67): which of the relaxations'
    many optimal solutions HiGHS returns decides what a guide is worth."""
    if time_limit is None or value is None or value <= 0 \
            or (known is not None and (value - known) / value <= PATTERN_MIN_GAP):
        return None, set()
    pairs = pairs_of(problem)
    share = share_of(time_limit, BOUND_SHARE, deadline)
    if PAIR_SECONDS_PER_PAIR * pairs <= BOUND_SHARE * time_limit \
            or (share is not None and time.monotonic() + ZONED_PAIRS * SECONDS_PER_PAIR * pairs > share):
        return None, set()  # the pair bound will do; or no time to build the zoned one
    found, merged_id = zoned_bound(problem, objective, share, start, max_growth=ZONED_GROWTH)
    options, classes = suggested(found)
    classes = widened(classes, merged_id)
    seed = {(name, class_id) for name, ids in classes.items() for class_id in ids}
    # where `rebuild_first`, the guide of the pair LP's first guided pass (`_guides`), from
    # this LP: its classes with new GPU nodes last for the workloads that ask none, the gangs'
    # counts by class and the spreads' replicas by zone (inventory 50,000 at 30 s: the pair LP
    # is not run there; the options alone gave no cheaper floor than the rebuilt one on seeds 12
    # and 13; in process, without deadlines, rebuilt after, seed 12: options alone 6641.75, with
    # the classes and GPU nodes last 6573.13, with the counts too 6523.60 against the bound
    # 6497.18; its classes without GPU nodes last put services on accelerator nodes: seed 7
    # 2915.75 against 2704.56 for the options alone, session 27). Elsewhere as it was
    if rebuild_first(problem, time_limit):
        counts = lp_counts(problem, in_problem_classes(found, merged_id))
        guide = Guide(options, classes, quotas=counts.quotas, gpu_nodes_last=True, domains=counts.domains) \
            if options or classes else None
    else:
        guide = Guide(options, classes) if options or classes else None
    return Zoned(found.value, guide, pairs), seed


@dataclass
class Bounds:
    """The zoned coarse bound (where it ran), the pair bound, and what the pair LP's last
    solution suggests to the greedy pass (`suggested`)."""

    zoned: Zoned | None
    pair: Bound
    suggested: tuple[dict[str, list[str]], dict[str, frozenset[str]]]
    # where the child beside the placement (`_bounds_aside`) also ran the first guided passes:
    # how many of them it tried, in their order (not run again here), and its floor where
    # cheaper than the one it started from (else None)
    first_passed: int = 0
    passed: Packing | None = None
    runner_up: Packing | None = None  # the next cheapest first pass there (ruined_choice.py)
    # the pair LP's gangs by class and dealt workloads by domain (`lp_counts`), for the first
    # guided pass
    counts: LPCounts = field(default_factory=LPCounts)
    # whether the child left the first of the first passes to this process (passes_beside.py),
    # and whether this process made it beside the child
    beside: bool = False
    here: bool = False


def bounds_stage(problem: Problem, objective: str, coarse: Fraction | None, start: Packing,
            time_limit: float | None, deadline: float | None, floor_value: Fraction | None,
            rebuilt: bool, beside: bool = False,
            each_round: Callable[[Fraction], None] | None = None) -> Bounds:
    """The zoned coarse bound where it runs (`zoned`), then the pair bound seeded by it
    (none where the zoned one says it would not converge after a rebuild). `beside`: in a
    child process beside the placement (`_bounds_aside`), where the pair LP has the time to
    `deadline` on a core of its own rather than BOUND_SHARE of the limit, so the zoned bound
    runs first only where the pair LP is expected to take more than the whole limit
    (`rebuild_first`: inventory 50,000 at 30 s, not 10,000 at 5 s, where the zoned bound
    took 0.6 of the child's 1.4 CPU s and the guided passes waited for it: seeds 7 / 8 at
    load ~5.5, 598.92 -> 585.65, 2524.13 -> 2493.87, seed 9 the same, the same bounds).
    `each_round`: told the pair bound proven so far after each round (`lower_bound`)."""
    zoned, seed = (None, set()) if beside and not rebuild_first(problem, time_limit) else \
        zoned_stage(problem, objective, coarse, start, time_limit, deadline, floor_value)
    pair = Bound(None) if rebuilt and pair_hopeless(zoned, deadline) else \
        lower_bound(problem, objective, deadline if beside else share_of(time_limit, BOUND_SHARE, deadline),
                    start=start, seed=seed, each_round=each_round)
    return Bounds(zoned, pair, suggested(pair), counts=lp_counts(problem, pair))


def rebuild_first(problem: Problem, time_limit: float | None) -> bool:
    """Is the pair bound not expected to converge within the whole limit? There the floor's
    first pass is the rebuild, not the consolidation, which waits for time left at the end:
    at 50,000 inventory nodes (seed 7, in process, load ~3.5) the consolidation took 1.5 s
    for 3.2 of 2,850 USD/h, the rebuild 2.5 s for 99, and after the bounds no time was left
    for a rebuild (`fitc solve --time-limit 30`, seeds 7 / 8 / 9 at load 3-4: the zoned bound
    ends at its share and the answer was the consolidated floor). Not at 10,000 nodes (the
    pair bound converges in 1-2 s; with a 5 s limit the rebuild first left 2544.18 and
    1675.74 where the consolidation leaves 2539.44 and 1674.50, seeds 8 and 9; and see
    `REBUILD_SHARE`)."""
    return time_limit is not None and PAIR_SECONDS_PER_PAIR * pairs_of(problem) > time_limit


# `bound.relaxation_pairs` per problem (asked twice; 0.04 s at inventory 10,000, 0.16 s at 50,000)
_PAIRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pairs_of(problem: Problem) -> int:
    if problem not in _PAIRS:
        _PAIRS[problem] = relaxation_pairs(problem)
    return _PAIRS[problem]


def pair_hopeless(zoned: Zoned | None, deadline: float | None) -> bool:
    """Where the zoned bound ran (the pair bound not expected to converge in its share), is
    the pair bound expected not to converge in what is left either? Then it is not started:
    cut, it states less than the zoned bound (inventory 50,000: 685-1,966 after 12-20 s
    against 2,417.37; converged, 2,639.38 after 26-34 s), and its time goes to the
    placement. Asked only where `rebuild_first` (at 10,000 nodes with a 5 s limit the
    zoned bound runs too; there the pair bound runs as before)."""
    return zoned is not None and zoned.value is not None and deadline is not None \
        and PAIR_SECONDS_PER_PAIR * zoned.pairs > deadline - time.monotonic()


def suggested(relaxed: Bound) -> tuple[dict[str, list[str]], dict[str, frozenset[str]]]:
    """From the relaxation's last solution: per option group, its options by the share of
    its replicas placed with each, most first (ties: the policy's order); per workload, the
    classes it places replicas on."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return {}, {}
    options = options_of(relaxed)
    members: dict[int, list[str]] = {}
    for class_id, index in relaxation.class_index.items():
        members.setdefault(index, []).append(class_id)
    on: dict[str, set[str]] = {}
    for pair in np.flatnonzero(values > 1e-6).tolist():
        demand = int(relaxation.pair_demand[pair])
        # a merged demand (bound.merged_demands) guides every demand it stands for
        for name in relaxed.members[demand] if relaxed.members else [used.demands[demand].name]:
            on.setdefault(name, set()).update(members.get(int(relaxation.pair_class[pair]), ()))
    return options, {name: frozenset(ids) for name, ids in on.items()}


def share_of(time_limit: float | None, share: float, deadline: float | None) -> float | None:
    """The end of a step given `share` of the time limit from now, within `deadline`."""
    if time_limit is None or deadline is None:
        return deadline
    return min(deadline, time.monotonic() + share * time_limit)


# The whole model is built when it has at most this many (workload, class) columns, and
# building and presolving it fit in its share of the time left (budget.py); else the floor is improved a
# neighbourhood at a time (`neighbourhood.search`). Measured on the inventory shape: at 1,000
# nodes (14,217 columns) the whole model reaches 84.42 USD/h in 26 s; at 10,000 nodes
# (377,222 columns) it had nothing better than the floor (1138.60) and no bound after 900 s
# (1.8 GB), and restricted to 91,718 columns nothing in 40 s, where the search reaches
# ~1046 in 60 s.
MODEL_MAX_COLUMNS = 50_000


def plain_class_ids(problem: Problem) -> set[str]:
    """The classes packed by node patterns (patterns_first.py); none where the whole model
    does not run (a pass over every column: inventory 10,000, 377,222 of them, 0.4 CPU s)."""
    return plain_classes(problem) if columns(problem) <= MODEL_MAX_COLUMNS else set()


def columns(problem: Problem) -> int:
    return sum(len(d.eligible) for d in problem.demands)
