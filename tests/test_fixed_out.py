"""A model's fixed columns taken out before HiGHS sees it (`FixedOut`, `HighsBackend(fixed_out=True)`):
the same answer as the whole model, worked out by hand, from fewer columns and rows."""

from __future__ import annotations

import pytest

from fitlang.solve import backends
from fitlang.solve.backends import HighsBackend
from fitlang.solve.linear import LinearModel, Status


def _model(empty_row_lower: int) -> tuple[LinearModel, dict[int, int]]:
    """x0 = 2 and x1 = 0 and x4 = 3 fixed; x2, x3 in 0..5. Rows: x0 + x2 + x3 >= 6,
    2 x2 - x3 <= 4, and x1 + x4 >= `empty_row_lower` (no free column). Minimise 3 x0 + x1 +
    2 x2 + 3 x3 + x4: the fixed columns give 9; x2 + x3 >= 4 with x2 <= (4 + x3) / 2 is met
    at the least by x2 = x3 = 2 (10; x3 = 1 needs x2 >= 3 > 2.5; x3 = 3, x2 = 1 is 11): 19."""
    model = LinearModel()
    x = [model.var("x0", 2, 2), model.var("x1", 0, 0), model.var("x2", 0, 5), model.var("x3", 0, 5),
         model.var("x4", 3, 3)]
    model.add({x[0]: 1, x[2]: 1, x[3]: 1}, lower=6)
    model.add({x[2]: 2, x[3]: -1}, upper=4)
    model.add({x[1]: 1, x[4]: 1}, lower=empty_row_lower)
    return model, {x[0]: 3, x[1]: 1, x[2]: 2, x[3]: 3, x[4]: 1}


@pytest.fixture
def handed(monkeypatch) -> list[tuple[int, int]]:
    """(rows, columns) of each form HiGHS is handed."""
    shapes: list[tuple[int, int]] = []
    highs_with = backends._highs_with

    def recorded(form):
        shapes.append(form.matrix.shape)
        return highs_with(form)

    monkeypatch.setattr(backends, "_highs_with", recorded)
    return shapes


def test_the_fixed_columns_out_give_the_whole_model_s_optimum(handed):
    model, objective = _model(empty_row_lower=3)
    whole = HighsBackend().minimise(model, objective, 10)
    cut = HighsBackend(fixed_out=True).minimise(model, objective, 10)
    for outcome in (whole, cut):
        assert outcome.status is Status.OPTIMAL
        assert outcome.objective == 19 and outcome.bound == 19
        assert outcome.solution == [2, 0, 2, 2, 3]
    # the whole: 3 rows, 5 columns; cut: x2 and x3, and the row the fixed x1 + x4 = 3 meets dropped
    assert handed == [(3, 5), (2, 2)]


def test_a_row_the_fixed_columns_break_keeps_the_model_infeasible(handed):
    model, objective = _model(empty_row_lower=4)  # x1 + x4 = 3 < 4
    assert HighsBackend().minimise(model, objective, 10).status is Status.INFEASIBLE
    assert HighsBackend(fixed_out=True).minimise(model, objective, 10).status is Status.INFEASIBLE
    assert handed[1] == (3, 2)  # the empty row kept: HiGHS finds it broken


def test_a_start_s_fixed_columns_are_left_out_of_it():
    model, objective = _model(empty_row_lower=3)
    started = HighsBackend(fixed_out=True).minimise(model, objective, 10, start={0: 2, 2: 3, 3: 3})
    assert started.status is Status.OPTIMAL and started.objective == 19
