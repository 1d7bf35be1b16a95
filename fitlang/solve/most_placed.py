"""A placement that leaves replicas out (`allow_unplaced`) proven to place the most it can.

Where not every replica fits, a placement is judged by priority: each level, highest first,
places as many replicas as it can, then the objective is minimised. The aggregate model
proves the most per level where it finds that not every replica fits (`aggregate.py`), but
where it fits every replica and packing node by node falls short, nothing proves that the
replicas left out could not be placed: the answer was `unknown`, however good it is (now
`feasible` with W0502, `driver.verdict`, where no stage proves more)
(`bench/differential_fleet.py` seed 3768: a gang of 98 replicas that fills a node and 192
spread one a node, under a budget of 240 nodes; fitc placed 157 of priority 10 and 142 of
priority 5 at 120 USD/h, the reference's proven optimum, and answered `unknown`).

Here the aggregate model (every rule's rows, no packing cuts: a relaxation of the rules) is
given the *patterns* of each class: a used node holds one of the most its capacity admits
(whole replicas of the workloads that may use it, at most what one node may host of each:
its capacity, one a node, a node spread's `least + max_skew`; an `exclusive` workload
alone; two workloads kept apart on a node (`anti_affinity X on node`) not both), so
`y[w, c] <= sum_p a_pw z_cp` and `sum_p z_cp <= u_c`, with z whole: every placement is a
point of it (each node's replicas lie under one pattern). The model could not know that the gang's
replica leaves no room beside it for a spread one: the patterns do. Then, level by level from
the highest, HiGHS bounds the replicas placed there with the levels above held at the
placement's counts; where every bound equals the placement's count, no placement keeps more
(by priority), and the least objective with those counts is the placement's bound: the
status is `optimal` within the tolerance, else `feasible`. Where any bound is above the
placement's count, or the patterns are too many, nothing changes.

Without `allow_unplaced`, a placement short of replicas that no model proved impossible is
`unknown` too; where this model cannot place every replica, none can: the verdict is proven
(`differential_fleet.py` seed 3926: a budget and a power cap; the model by class placed every
replica at 186 USD/h, with the patterns it has no placement, and fitc said `unknown`).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import replace

from fitlang.model.problem import RESOURCES, Problem
from fitlang.solve.aggregate import past, remaining
from fitlang.solve.backends import HighsBackend
from fitlang.solve.budget import Budget, encoding_cpu
from fitlang.solve.encode import Encoding, encode
from fitlang.solve.linear import Status, stated_bound
from fitlang.solve.placement_result import Placement, Unplaced, _why_unplaced
from fitlang.solve.room import node_most, spread_most

# past this many patterns over all classes (or steps to enumerate them, over all classes:
# ~0.2 CPU s) no bound is tried: the fleets where packing falls short with replicas left
# out have a few workloads per class (the differential fleets 2-6); an inventory's dozens
# would have millions
MAX_PATTERNS = 20_000
MAX_STEPS = 50_000
PATTERNS_CPU = 0.2  # about the CPU seconds of the patterns' search at its most (MAX_STEPS)
# HiGHS's bound on a count is a float: a count above it by less than this is not excluded
COUNT_MARGIN = 1e-6


def most_placed(problem: Problem, placement: Placement, objective: str,
                deadline: float | None, budget: Budget | None = None) -> Placement:
    """`placement` with the status it earns where the bound of the module docstring proves
    that no placement places more by priority (its unplaced replicas said why); else as it
    was. Within `deadline`: not tried where the model's build alone is expected to take
    longer than is left (`budget.encoding_cpu`, at the CPU share of `budget`)."""
    started = time.monotonic()
    if not _worth_trying(problem, placement) or not _time_left(problem, deadline, budget):
        return placement
    encoding = encode(problem, must_place=not problem.allow_unplaced)
    if not _with_patterns(encoding):
        return placement
    if not problem.allow_unplaced:
        return _none_proven(encoding, placement, deadline)
    placed = Counter(problem.demand(a.workload).priority for a in placement.assignments)
    solver = HighsBackend(relative_gap=0.0)
    model = encoding.model
    for level in sorted({d.priority for d in problem.demands}, reverse=True):
        terms = encoding.placed_terms([d for d in problem.demands if d.priority == level])
        if past(deadline):
            return placement
        outcome = solver.minimise(model, terms, remaining(deadline))
        if outcome.bound is None or math.floor(-outcome.bound + COUNT_MARGIN) > placed[level]:
            return placement  # more may fit at this level: not proven
        model.add(terms, upper=-placed[level])  # (every placement as good places exactly these)
    bound = None
    if objective in ("cost", "nodes") and not past(deadline):
        bound = solver.minimise(model, encoding.objective(objective), remaining(deadline)).bound
    return _proven(problem, placement, stated_bound(bound, placement.value, complete=False),
                   time.monotonic() - started)


def _worth_trying(problem: Problem, placement: Placement) -> bool:
    """A placement short of replicas, which no model proved the most that fit (or, without
    `allow_unplaced`, that none places all); not with a horizon or accelerator options
    (counted otherwise). `feasible` with `allow_unplaced` claims no most either (a model
    cut short: seed 4303's under load). With `allow_unplaced`, a model's proof that not every replica fits
    says nothing of the most that do (seed 4303: the model by class placed 113 of `w0`,
    packing 112, the most: `unknown` until this proved it)."""
    unproven = placement.status is Status.UNKNOWN or (
        problem.allow_unplaced and placement.status is Status.FEASIBLE)  # (claims no most either)
    return (bool(placement.unplaced) and unproven
            and (problem.allow_unplaced or not placement.proven_infeasible)
            and problem.timeline is None and not problem.option_groups)


def _time_left(problem: Problem, deadline: float | None, budget: Budget | None) -> bool:
    """Is there time for the model (inventory 10,000: 374,500 (workload, class) pairs, 0.9
    CPU s to encode, then 0.8 for the patterns' search to give up at 200,000 steps)?"""
    if deadline is None:
        return True
    pairs = sum(len(d.eligible) for d in problem.demands)
    cpu = encoding_cpu(pairs) + PATTERNS_CPU
    return (cpu if budget is None else budget.wall(cpu)) < deadline - time.monotonic()


def _none_proven(encoding: Encoding, placement: Placement, deadline: float | None) -> Placement:
    """`placement`, `infeasible` and proven so where the model with the patterns has no
    placement of every replica (else as it was)."""
    outcome = HighsBackend().minimise(encoding.model, {}, remaining(deadline))  # (any placement will do)
    if outcome.status is not Status.INFEASIBLE:
        return placement
    return replace(placement, status=Status.INFEASIBLE, proven_infeasible=True)


def _proven(problem: Problem, placement: Placement, bound, seconds: float) -> Placement:
    """The placement proven to place the most by priority: `feasible`, or `optimal` where its
    value is within the tolerance of `bound`; each replica left out said why (not "packing
    fell short": no placement keeps it)."""
    unplaced = [Unplaced(u.workload, u.replica, _why_unplaced(problem, problem.demand(u.workload)))
                for u in placement.unplaced]
    status = Status.FEASIBLE
    if bound is not None and placement.value is not None \
            and placement.value - bound <= abs(placement.value) * placement.tolerance:
        status = Status.OPTIMAL
    return replace(placement, status=status, bound=bound, unplaced=unplaced,
                   seconds=placement.seconds + seconds)


def _with_patterns(encoding: Encoding) -> bool:
    """The pattern rows of the module docstring added to the encoding, class by class; False
    (the encoding left unusable) where they would be more than MAX_PATTERNS."""
    problem, model = encoding.problem, encoding.model
    known: dict[tuple, list[tuple[int, ...]]] = {}
    steps = [MAX_STEPS]  # left for every class's search together
    spread = {d.name: spread_most(problem, d) for d in problem.demands}
    kept_apart = problem.apart_on_nodes[0]
    total = 0
    for node_class in problem.classes:
        here = encoding.here[node_class.id]
        if not here or node_class.count <= 0:
            continue
        limits = tuple(node_most(d, node_class, spread[d.name]) for d in here)
        requests = tuple(tuple(d.requests[r] for r in RESOURCES) for d in here)
        capacity = tuple(node_class.capacity[r] for r in RESOURCES)
        exclusive = tuple(d.exclusive for d in here)
        apart = tuple(frozenset(j for j, other in enumerate(here) if other.name in kept_apart.get(d.name, ()))
                      for d in here)
        key = (limits, requests, capacity, exclusive, apart)
        if key not in known:
            found = _maximal_patterns(limits, requests, capacity, exclusive, apart, steps)
            if found is None:
                return False
            known[key] = found
        patterns = known[key]
        total += len(patterns)
        if total > MAX_PATTERNS:
            return False
        # (whole, as nodes are: continuous, 19.5 nodes of w1's pattern left half a node more
        # for w0, seed 4303's bound 113 where 112 fit; HiGHS's dual bound holds however cut)
        columns = [model.var(f"z[{node_class.id},{k}]", 0, node_class.count) for k in range(len(patterns))]
        model.add({**dict.fromkeys(columns, 1), encoding.u[node_class.id]: -1}, upper=0)
        for position, demand in enumerate(here):
            holding = {z: -p[position] for z, p in zip(columns, patterns) if p[position]}
            model.add({encoding.y[demand.name, node_class.id]: 1, **holding}, upper=0)
    return True


def _maximal_patterns(limits: tuple[int, ...], requests: tuple[tuple[int, ...], ...],
                      capacity: tuple[int, ...], exclusive: tuple[bool, ...],
                      apart: tuple[frozenset[int], ...], steps: list[int]) -> list[tuple[int, ...]] | None:
    """Every pattern one node holds to which no replica more can be added (an exclusive
    workload's: as many as fit, alone; none of a workload beside one of those `apart` from
    it), by depth-first search; None once `steps[0]`, the steps left, runs out (taken from
    it). Without `apart`, a node could hold `w1` beside `w0` in the model where `anti_affinity
    w0 on node` forbids it, and the bound placed more than any placement (seed 4303: 113 of
    `w0`'s replicas where 112 fit)."""
    count = len(limits)
    found: list[tuple[int, ...]] = []
    for i in range(count):
        if exclusive[i] and limits[i] > 0:
            found.append(tuple(limits[i] if j == i else 0 for j in range(count)))
    shared = [i for i in range(count) if not exclusive[i] and limits[i] > 0]
    pattern = [0] * count

    def room(i: int, free: list[int]) -> int:
        if any(pattern[j] for j in apart[i]):
            return 0
        return min([limits[i] - pattern[i]] + [f // q for f, q in zip(free, requests[i]) if q > 0])

    def fill(at: int, free: list[int]) -> bool:
        steps[0] -= 1
        if steps[0] < 0 or len(found) > MAX_PATTERNS:
            return False
        if at == len(shared):
            if any(pattern) and all(room(i, free) <= 0 for i in shared):
                found.append(tuple(pattern))
            return True
        i = shared[at]
        for amount in range(room(i, free), -1, -1):
            pattern[i] = amount
            if not fill(at + 1, [f - amount * q for f, q in zip(free, requests[i])]):
                return False
        pattern[i] = 0
        return True

    return found if fill(0, list(capacity)) else None
