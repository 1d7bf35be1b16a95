"""The fragment bound's child's counts, packed here (issue 15, inventory 1,000 nodes / 100
workloads).

The solve's aggregate model packs replicas as a fluid: on the inventory shape at 1,000 nodes its
counts send 4-CPU replicas and 2-CPU ones to 7.9-CPU nodes as if 4 + 2 + 2 fit one, and packed
on nodes they cost 6-21% more than the model (session 51, h51f: seed 3's model 37.13 packed and
completed to 45.11; the 5 s answers ~51, the 60 s ones 41.3-41.9, the optimum in [39.92,
41.57]). The model with the u(1) and u(3) fragmentation rows counts those replicas as they
pack, and its counts pack within a few percent of it (seed 3: 40.19 packed to 42.16), but in the
model the search is guided by the rows slow its first improvement on the greedy start (h47a).
That model is solved beside the solve already, for its bound (`fragment_bound.py`); here the
best solution its child has found is taken back and packed as the aggregate model's counts are
(`fitted_counts`, `pack`, `completed`): the rows add no columns, so it is a solution of the
aggregate model too. `placement` keeps it where it packs cheaper than the floor it has.

The child's first good solution comes after 5-7 CPU s (its root's cut rounds take most of them),
past a 5 s limit, and the aggregate model's own 3 s of branch and bound there end where they
began (its counts packed cost no less than the floor). The same model with the rows solved as an
LP takes 0.25-0.35 CPU s, and a greedy pass it guides (each workload to the classes the LP puts
it on, as many replicas on each as it puts there, `lp_guide`) keeps every rule as the floor
does and packs near the LP (session 56: seed 3 46.84 in ~1.2 CPU s, where the floor was 55.45).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fitlang.model.problem import Problem
from fitlang.rules.option_affinity import followed
from fitlang.solve import work
from fitlang.solve.aggregate import completed, past
from fitlang.solve.backends import _bound_fraction, _highs_with, _native_stdout_silenced, run_until
from fitlang.solve.clock import highs_limited
from fitlang.solve.encode import Encoding, Presence, encode
from fitlang.solve.fitted_counts import fitted_counts
from fitlang.solve.fragment_bound import KS, Found, FragmentBeside
from fitlang.solve.greedy import Guide
from fitlang.solve.improve import consolidate
from fitlang.solve.linear import Value, matrix_form
from fitlang.solve.pack import Packing, pack
from fitlang.solve.placement_result import _packed_value


def fragment_packed(problem: Problem, found: Found, objective: str, deadline: float | None) -> Packing | None:
    """The child's solution (`found`) made whole on the nodes it counts (`fitted_counts`, in
    the model with the rows: whole counts that keep them pack as they count), packed and
    completed by `deadline`; None where it has no solution or the packing leaves replicas out."""
    if found.solution is None:
        return None
    encoding = encode(problem, must_place=True, fragment_ks=KS)
    encoding.relax_replicas()
    variables = encoding.model.variables
    solution: list[Value] = [0] * len(variables)
    for index, value in found.solution.items():
        # (HiGHS's values within its tolerances: a node count 2.9999999 is 3)
        solution[index] = round(value) if variables[index].integer else value
    fitted = fitted_counts(encoding, solution, encoding.objective(objective), deadline, may_grow=True)
    if fitted is not None:
        counts, planned = fitted.counts, fitted.nodes
    else:
        counts = encoding.whole_counts(solution)
        planned = {class_id: int(solution[column]) for class_id, column in encoding.u.items()}
    packing = pack(problem, counts, planned)
    if not packing.complete:
        packing = completed(problem, counts, planned, packing, objective, True, deadline, deadline)
    return packing if packing.complete else None


# a column the LP gives at most this is none (HiGHS's tolerances)
NONE_PLACED = 1e-6


def lp_guide(problem: Problem, objective: str, deadline: float | None) -> Guide | None:
    """The fragment model (the aggregate model with the u(KS) rows) solved as an LP by
    `deadline`, every column fractional, as a guide for the greedy pass: per workload the
    classes the LP places it on, and on each as many replicas as the LP puts there, rounded
    (`Guide.quotas`), on at most the nodes it counts, rounded up (`Guide.quota_nodes`); per
    option group its options, the most placed first. The rows charge the replicas a node holds
    fewer of than its capacity row says, so the LP's counts go where they pack, and the pass
    keeps every rule the LP's fractions do not (a zone apart, a spread's skew). None where the
    LP finds no optimum by then."""
    guides = lp_guides(problem, objective, deadline, apart_rounds=0).guides
    return guides[0] if guides else None


# the LP solved again at most this many times, each time with the smaller side of every pair of
# workloads it keeps apart only in fractions kept out of their domain (`lp_guides`; inventory
# 1,000 seed 22: 4 pairs, 1 after one round, none after two)
APART_ROUNDS = 3


@dataclass(frozen=True)
class LPGuides:
    guides: list[Guide]  # [] where the LP found no optimum in time
    # the LP's optimum, rounded down: a bound on placing every replica (the model with the rows
    # is a relaxation, its LP one too), stated where the solve's other bounds are cut
    bound: Fraction | None = None


def lp_guides(problem: Problem, objective: str, deadline: float | None,
              apart_rounds: int = APART_ROUNDS, apart_until: float | None = None) -> LPGuides:
    """`lp_guide`'s guide, then, where the LP has two workloads an anti-affinity over domains
    keeps apart both in a domain (each presence switch a fraction, their sum within its row),
    the guide of the LP solved again with the smaller of each such pair kept out of that domain,
    until none is left (at most `apart_rounds` times, begun and solved by `apart_until`, else
    `deadline`), and the first LP's optimum as a bound. The pass keeps them apart,
    but the LP's quotas for the second of them went to a zone it may not use, and the pass sent
    its replicas where the classes its guide names had room (inventory 1,000 seed 22 at 5 s:
    `svc23` and `svc56`, one a node, 17 each on 17 nodes of eu-west-1b opened for them, where
    the LP put them in us-east-1a beside `svc41`, which keeps `svc23` out of its zone: the
    pass 65.91, with the second guide 49.78; the LP 39.65 -> 41.36, the bound 41.37). No guide
    where the LP finds no optimum by then."""
    encoding = encode(problem, must_place=True, fragment_ks=KS)
    encoding.relax_replicas()
    model = encoding.model
    model.set_continuous([variable.index for variable in model.variables if variable.integer])
    with _native_stdout_silenced():  # (one HiGHS: each round starts from the last one's basis)
        highs = _highs_with(matrix_form(model, encoding.objective(objective)))
        if deadline is not None:  # (off the wall, HiGHS's interrupts by the solve's clock too)
            highs_limited(highs, deadline, branching=False)
        values = _lp_values(highs, deadline)
        if values is None:
            return LPGuides([])
        bound = _bound_fraction(highs.getInfo().objective_function_value)
        guides = [_guide(problem, encoding, values)]
        pairs, apart = _apart_pairs(problem, encoding), None
        until = deadline if apart_until is None else apart_until
        for _ in range(apart_rounds):
            both = [(one, other) for one, other in pairs
                    if values[one] > NONE_PLACED and values[other] > NONE_PLACED]
            if not both or past(until):
                break
            # the smaller kept out (even: the later rule's)
            out = np.array(sorted({other if values[one] >= values[other] else one for one, other in both}),
                           dtype=np.int32)
            highs.changeColsBounds(len(out), out, np.zeros(len(out)), np.zeros(len(out)))
            values = _lp_values(highs, until)
            if values is None:
                break
            apart = values
    if apart is not None:
        guides.append(_guide(problem, encoding, apart))
    return LPGuides(guides, bound)


def _lp_values(highs, deadline: float | None) -> np.ndarray | None:
    """The LP's solution by `deadline` (None: no optimum by then)."""
    return np.asarray(highs.getSolution().col_value) if run_until(highs, deadline) else None


def _apart_pairs(problem: Problem, encoding: Encoding) -> list[tuple[int, int]]:
    """The presence switches (`Encoding.presence`) of two workloads an anti-affinity over
    domains keeps apart, per domain both may run in: their row says z + z' <= 1."""
    switches: dict[tuple[str, str], dict[str, int]] = {}
    for key, column in encoding.index.items():
        if isinstance(key, Presence):
            switches.setdefault((key.demand, key.topology), {})[key.value] = column
    pairs = []
    for demand in problem.demands:
        for rule in demand.affinities:
            if not rule.anti or rule.target == "self" or rule.topology == "node":
                continue
            mine = switches.get((demand.name, rule.topology), {})
            for other in followed(problem, rule.target):
                theirs = switches.get((other.name, rule.topology), {})
                pairs += [(mine[value], theirs[value]) for value in sorted(mine) if value in theirs]
    return pairs


def _guide(problem: Problem, encoding: Encoding, values: np.ndarray) -> Guide:
    """The greedy pass's guide from the LP's `values` (`lp_guide`)."""
    classes: dict[str, frozenset[str]] = {}
    quotas: list[tuple[frozenset[str], frozenset[str], int]] = []
    shares: dict[str, list[tuple[float, int, str]]] = {}
    for position, demand in enumerate(problem.demands):
        columns = encoding.y.of.get(demand.name, {})
        on = {class_id: float(values[column]) for class_id, column in columns.items()
              if values[column] > NONE_PLACED}
        classes[demand.name] = frozenset(on)
        quotas += [(frozenset([demand.name]), frozenset([class_id]), round(placed))
                   for class_id, placed in sorted(on.items()) if round(placed)]
        if demand.group is not None:  # (ties: the policy's order)
            share = sum(on.values()) / demand.replicas
            shares.setdefault(demand.group, []).append((-share, position, demand.name))
    options = {group: [name for _, _, name in sorted(ranked)] for group, ranked in shares.items()}
    nodes = {class_id: math.ceil(float(values[column]) - NONE_PLACED)
             for class_id, column in encoding.u.items()}
    return Guide(options, classes, quotas=tuple(quotas), quota_nodes=nodes)


def cheaper_floor(problem: Problem, floor: Packing, beside: FragmentBeside, objective: str,
                  deadline: float | None) -> Packing | None:
    """The child's best solution by now (with no user limit, its answer: `FragmentBeside.found`)
    packed and consolidated, where that places every replica for less than `floor`; else None."""
    return cheaper_packed(problem, floor, beside.found(), objective, deadline)


def taken_first(problem: Problem, floor: Packing, beside: FragmentBeside, objective: str,
                deadline: float | None) -> tuple[Packing | None, Takes | None]:
    """`cheaper_floor` before the search, and the `Takes` during it (with a user limit only)."""
    found = beside.found()
    later = None if work.counted() else Takes(problem, beside, objective, deadline, found)
    return cheaper_packed(problem, floor, found, objective, deadline), later


def cheaper_packed(problem: Problem, floor: Packing, found: Found | None, objective: str,
                   deadline: float | None) -> Packing | None:
    """`found` packed and consolidated, where that places every replica for less than `floor`;
    else None. Not packed where the floor costs no more than the child's solution does in its
    model: its counts, packed, seldom cost less than the nodes they count."""
    value = _packed_value(problem, floor, objective)
    if found is None or found.value is None or value is None or value <= found.value or past(deadline):
        return None
    packing = fragment_packed(problem, found, objective, deadline)
    if packing is None:
        return None
    consolidate(problem, packing, objective, deadline)
    packed = _packed_value(problem, packing, objective)
    return packing if packed is not None and packed < value else None


class Takes:
    """The child's solutions taken again while the search runs (`search_stages.searched`'s
    `taken`), each newer one that is cheaper in its model than the one tried before: where the
    child's first good solution comes after the take before the search (step 4b of
    `placement._stages`; inventory 1,000 seed 22 at 20 s: 283.06 there, session 53), the search
    ran from the floor to its end. Called with the search's packing: the child's newest solution
    packed where that is cheaper than it (`cheaper_packed`), else None; each solution is packed
    once at most, and none where its value is not below the last one tried (the child tells its
    bound as it goes too, with the same solution).

    Only with a user limit: with none (`work.counted`), step 4b waited for the child's answer,
    so there is nothing newer, and the child's messages by an instant are the clock's."""

    def __init__(self, problem: Problem, beside: FragmentBeside, objective: str, deadline: float | None,
                 tried: Found | None) -> None:
        self.problem, self.beside, self.objective, self.deadline = problem, beside, objective, deadline
        self.tried = None if tried is None else tried.value

    def __call__(self, packing: Packing) -> Packing | None:
        found = self.beside.found()
        if found is None or found.value is None or (self.tried is not None and found.value >= self.tried):
            return None
        self.tried = found.value
        return cheaper_packed(self.problem, packing, found, self.objective, self.deadline)
