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
"""

from __future__ import annotations

from fitlang.model.problem import Problem
from fitlang.solve import work
from fitlang.solve.aggregate import completed, past
from fitlang.solve.encode import encode
from fitlang.solve.fitted_counts import fitted_counts
from fitlang.solve.fragment_bound import KS, Found, FragmentBeside
from fitlang.solve.improve import consolidate
from fitlang.solve.linear import Value
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
