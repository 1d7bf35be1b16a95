"""Deciding a trial: is there a placement of every required replica, or is none proven?"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

from fitlang.model.problem import Problem, node_limit, one_class_per_node
from fitlang.rules import gang, option_spread
from fitlang.solve.aggregate import opener
from fitlang.solve.backends import HighsBackend
from fitlang.solve.encode import Encoding, encode
from fitlang.solve.explain.parts import Trial, _copy
from fitlang.solve.groups import Group, ReplicasGroup, ThroughputGroup
from fitlang.solve.linear import LinearModel, Status
from fitlang.solve.pack import pack
from fitlang.solve.pack import repair as place_leftovers
from fitlang.solve.room import short_of_room

PER_NODE_MAX_NODES = 160  # up to this many nodes a check is the exact per-node model
# with a spread over an option workload's options, up to this many (node by node at 481
# nodes explain took 16 s under load 16, its repairs out of budget; by the aggregate model
# 5.8 s, both repairs): above, the aggregate model, whose rows hold the sum per domain, and a
# packing kept only where it holds the sum too (`option_spread.packing_unbalanced`)
OPTION_SPREAD_PER_NODE_MAX_NODES = 200
# at fleet scale, how long the solver may search for the cheapest placement of a trial (a
# repair's cost, a budget's least): `solve`'s anytime answer at that limit
CHEAPEST_SECONDS = 2.0
LEAST_GAP = 0.02  # a placement within this of its proven bound is called the cheapest found


def per_node(problem: Problem) -> bool:
    """Is a check of `problem` the exact model node by node? Up to PER_NODE_MAX_NODES nodes,
    and up to OPTION_SPREAD_PER_NODE_MAX_NODES where a spread counts an option workload's
    options together (only the per-node model holds one exactly: `rules/option_spread.py`)."""
    nodes = sum(c.count for c in problem.classes)
    return nodes <= PER_NODE_MAX_NODES or (nodes <= OPTION_SPREAD_PER_NODE_MAX_NODES
                                           and option_spread.in_problem(problem))




@dataclass
class Check:
    placed: bool | None  # True: a placement was found; False: proven none; None: unknown
    cost: Fraction | None = None
    trial: Trial | None = field(default=None, compare=False, repr=False)  # what was decided
    # `cost` is the cheapest placement's found: the exact model node by node minimised it, or
    # at fleet scale `solve` did (not the aggregate model's packing: not minimised node by node)
    least: bool = field(default=False, compare=False)


def _now() -> float:
    return time.monotonic()


def _left(deadline: float) -> float:
    return max(0.05, deadline - _now())


def decide(trial: Trial, deadline: float, cheapest: bool = False, packed: bool = True) -> Check:
    """Find a placement of every required replica, or prove there is none. Up to
    PER_NODE_MAX_NODES nodes, the exact model node by node; above, the aggregate model (its
    infeasibility is a proof, being a relaxation) and a placement packed node by node (without
    `packed`, a solution of the aggregate model is only `None`: not shown impossible).
    At fleet scale `cheapest` asks `solve` first; where its answer is not within LEAST_GAP
    of its bound, the aggregate model's packing is tried too and the cheaper one kept."""
    if _now() >= deadline:
        return Check(None)
    if not trial.optional and short_of_room(trial.problem):
        # (room.py, option_room.py: proven at once; inventory 1,000 seed 31's narrowing checked
        # each of its trials by the aggregate model, 0.7 s each, and ran out of `fitc solve`'s 5 s)
        return Check(False)
    if not cheapest or per_node(trial.problem) or trial.optional:
        return _decided_by_model(trial, deadline, cheapest, packed)
    solved = cheapest_solved(trial, deadline)
    if solved is not None and (solved.least or not solved.placed):
        return solved
    packed_check = _decided_by_model(trial, deadline, cheapest, packed)
    if solved is None or not packed_check.placed:
        return packed_check if solved is None else solved
    assert solved.cost is not None and packed_check.cost is not None
    return solved if solved.cost <= packed_check.cost else packed_check


def _decided_by_model(trial: Trial, deadline: float, cheapest: bool, packed: bool) -> Check:
    """`decide` by the exact model node by node (small fleets) or by the aggregate model and
    its packing."""
    problem = trial.problem
    exact = per_node(problem)
    model_problem = one_class_per_node(problem) if exact else problem
    encoding = encode(model_problem, must_place=True)
    if trial.optional:
        _drop_required(encoding.model, trial.optional)
        _optional_gangs_all_or_none(encoding, trial.optional)
    objective = encoding.objective("cost") if cheapest else {}
    outcome = HighsBackend().minimise(encoding.model, objective, _left(deadline))
    if outcome.status is Status.INFEASIBLE:
        return Check(False)
    if outcome.solution is None:
        return Check(None)
    # (node counts u are whole columns: HiGHS gives them as int)
    cost = sum((c.price * int(outcome.solution[encoding.u[c.id]]) for c in model_problem.classes),
               Fraction(0))
    if exact:
        return Check(True, cost, trial=trial, least=cheapest)
    if not packed:
        return Check(None, cost, trial=trial)

    counts = encoding.whole_counts(outcome.solution)
    planned = {c.id: int(outcome.solution[encoding.u[c.id]]) for c in problem.classes}
    filled = _nodes_apart(problem, counts, planned)
    if filled is not None:
        # the nodes the workloads fill: a check that does not minimise (`cheapest` unset) may
        # open more than it fills, and the placement need not pay for those
        return Check(True, sum((problem.node_class(c).price * n for c, n in filled.items()), Fraction(0)),
                     trial=trial)
    packing = pack(problem, counts, planned)
    if not packing.complete:  # as `solve` does next: place the leftovers elsewhere
        place_leftovers(problem, packing, opener(problem, planned))
    if not packing.complete or option_spread.packing_unbalanced(problem, packing):
        return Check(None)
    # the nodes the packing opened, leftovers' too (those may be beyond the model's counts)
    opened = sum((problem.node_class(c).price * packing.opened(c) for c in packing.nodes), Fraction(0))
    return Check(True, opened, trial=trial)


def cheapest_solved(trial: Trial, deadline: float, most: float | None = CHEAPEST_SECONDS) -> Check | None:
    """The cheapest placement the solver finds by the deadline (in at most `most` seconds),
    as `fitc solve` would place the trial (the aggregate model's counts packed by `pack` alone
    can leave replicas that the repair then places on dear nodes: a repair's cost twice the
    policy's); None where it places only part (then the trial is decided below). `least`
    where its cost is within LEAST_GAP of the bound `solve` proved: a 2 s solve under load
    answered 127.70 where 10 s found 52.19."""
    from fitlang.solve.placement import solve

    left = _left(deadline)
    placement = solve(trial.problem, time_limit=left if most is None else min(left, most))
    if placement.proven_infeasible:
        return Check(False)
    if placement.unplaced or placement.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return None
    owners = trial.problem.owners()
    used = {a.node for a in placement.assignments}
    gap = placement.gap
    least = placement.objective == "cost" and gap is not None and gap <= LEAST_GAP
    return Check(True, sum((owners[node].price for node in used), Fraction(0)), trial=trial, least=least)


def _nodes_apart(problem: Problem, counts: dict[tuple[str, str], int],
                 planned: dict[str, int]) -> dict[str, int] | None:
    """The nodes per class the counts fill with each workload on nodes of its own (as many
    to a node as fit), where those fit within the nodes the solution uses; else None.
    Then that is a placement node by node, when no workload has a rule between nodes (an
    affinity or a spread: the rest, eligibility, gangs, reach, `exclusive`, hold per class
    or on nodes of its own) and the nodes of each class are alike. Fewer nodes than the
    solution's keep the budget, power caps and `buy` limits. It saves packing node by node
    (a tenth of a second per thousand nodes) for the many trials of a narrowing that are
    plain capacity."""
    if any(d.affinities or d.spreads for d in problem.demands):
        return None
    needed: dict[str, int] = {}
    for (name, class_id), count in counts.items():
        if not count:
            continue
        node_class = problem.node_class(class_id)
        fit = node_limit(problem.demand(name), node_class)
        if node_class.node_capacity or fit <= 0:
            return None
        needed[class_id] = needed.get(class_id, 0) + -(-count // fit)
    fits = all(nodes <= min(problem.node_class(c).count, math.floor(planned[c] + 1e-9))
               for c, nodes in needed.items())
    return needed if fits else None


def feasible(problem: Problem, time_limit: float | None = None) -> bool:
    """Was a placement of every replica found (within `time_limit`)?"""
    return decide(Trial(_copy(problem)), _now() + (time_limit or 30.0)).placed is True


def _optional_gangs_all_or_none(encoding: Encoding, optional: set[str]) -> None:
    """An optional gang still places all its replicas or none, as under `allow_unplaced`:
    the rows `must_place` left out. A gang placed in part meets an affinity towards it that
    the policy cannot (bench/differential_combos.py seed 1492: a conflict kept a pool's count
    it did not need, and said it was minimal)."""
    for demand in encoding.problem.demands:
        if demand.name in optional:
            gang.all_or_none_rows(encoding, demand, must_place=False)


def _drop_required(model: LinearModel, optional: set[str] | frozenset[str],
                   throughput: bool = True) -> None:
    """Drop the rows that require every replica of the `optional` demands (and, with
    `throughput`, the throughput of the optional option groups)."""
    dropped: set[Group] = {ReplicasGroup(name) for name in optional}
    if throughput:
        dropped |= {ThroughputGroup(name) for name in optional}
    kinds = (ReplicasGroup, ThroughputGroup)
    # the type test first: hashing a key per row of a fleet-scale model would cost
    model.constraints = [c for c in model.constraints
                         if not (isinstance(c.group, kinds) and c.group in dropped)]
