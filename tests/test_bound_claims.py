"""What fitc claims of a bound: never above a placement it holds, and never a false `optimal`.

A solver's "proven" bound can be wrong: HiGHS 1.16's presolve answered inventory 300 seed 9's
whole-count model "optimal" at 68.22 where the optimum is 67.32 (session 23, h23a, found by an
exact model apart from fitc). A bound above a complete placement's value is contradicted by
that placement; clamped to the value, it used to read as a gap of 0 and `optimal`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.model.build import build_problem
from fitlang.solve import backends
from fitlang.solve.backends import HighsBackend
from fitlang.solve.encode import encode
from fitlang.solve.linear import LinearModel, Status, matrix_form, stated_bound
from fitlang.solve.placement import Placement, _keep_larger_bound


def test_a_bound_above_a_complete_placement_is_not_stated_and_one_below_is_kept():
    assert stated_bound(Fraction(179), Fraction(75)) is None  # contradicted
    assert stated_bound(Fraction(60), Fraction(75)) == 60
    assert stated_bound(Fraction(75) * (1 + Fraction(1, 10 ** 8)), Fraction(75)) == 75  # rounding
    assert stated_bound(None, Fraction(75)) is None
    # a partial placement costs less than placing everything may: its value bounds nothing
    assert stated_bound(Fraction(179), Fraction(75), complete=False) == 75


def test_a_contradicted_bound_makes_no_placement_optimal_and_the_other_bound_stays():
    placement = Placement(Status.FEASIBLE, "cost", Fraction(75), Fraction(60))
    _keep_larger_bound(placement, Fraction(179))  # a relaxation's bound above the placement
    assert (placement.status, placement.bound) == (Status.FEASIBLE, 60)
    alone = Placement(Status.FEASIBLE, "cost", Fraction(75), None)
    _keep_larger_bound(alone, Fraction(179))
    assert (alone.status, alone.bound) == (Status.FEASIBLE, None)
    honest = Placement(Status.FEASIBLE, "cost", Fraction(75), Fraction(60))
    _keep_larger_bound(honest, Fraction(7499, 100))  # within the tolerance: optimal, honestly
    assert (honest.status, honest.bound) == (Status.OPTIMAL, Fraction(7499, 100))


def test_highs_bound_above_its_own_solution_is_not_stated(monkeypatch):
    model = LinearModel()
    a, b = model.var("a", 0, 10), model.var("b", 0, 10)
    model.add({a: 4, b: 7}, lower=30)
    outcome = HighsBackend().minimise(model, {a: 3, b: 5})
    assert (outcome.status, outcome.objective, outcome.bound) == (Status.OPTIMAL, 22, 22)
    # the same model where HiGHS's dual bound reads ten times what it proved (as presolve's
    # fault gives a bound above the optimum): above its own solution's 22, so none is stated
    real = backends._bound_fraction
    monkeypatch.setattr(backends, "_bound_fraction", lambda number: real(number * 10))
    outcome = HighsBackend().minimise(model, {a: 3, b: 5})
    assert (outcome.status, outcome.objective, outcome.bound) == (Status.OPTIMAL, 22, None)


FAULT = Path(__file__).parent / "fixtures" / "presolve_fault" / "inv300-s9.fit"


def _rows_met(model: LinearModel, solution) -> bool:
    """Every row and column bound of `model` in exact arithmetic: a check that trusts no solver."""
    lower, upper, _ = model.bounds()
    if any(not lo <= x <= up for x, lo, up in zip(solution, lower, upper)):
        return False
    for row in model.constraints:
        value = model.value(row.terms, solution)
        if row.lower is not None and value < Fraction(row.lower):
            return False
        if row.upper is not None and value > Fraction(row.upper):
            return False
    return True


def test_highs_presolve_fault_gives_no_optimum_above_a_solution_checked_exactly():
    """HiGHS 1.16 with presolve answers this whole-count model "optimal" at 68.2175, dual bound
    alike. A solution of 67.3215 exists (HiGHS without presolve finds it here; it is checked
    row by row in exact arithmetic, not trusted): fitc's backend must neither answer above it nor
    state a bound above it."""
    import highspy

    problem = build_problem(check_file(FAULT, Workspace()).program).problem
    encoding = encode(problem, must_place=True)
    objective = encoding.objective("cost")
    highs = backends._highs_with(matrix_form(encoding.model, objective))
    highs.setOptionValue("presolve", "off")
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    reference = [round(x) for x in highs.getSolution().col_value]  # every column is whole here
    assert _rows_met(encoding.model, reference)
    known = encoding.model.value(objective, reference)

    outcome = HighsBackend().minimise(encoding.model, objective)
    assert outcome.solution is not None and _rows_met(encoding.model, outcome.solution)
    assert outcome.objective is not None and outcome.objective <= known * (1 + Fraction(1, 10 ** 4))
    assert outcome.bound is None or outcome.bound <= known
