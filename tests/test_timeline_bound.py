"""The time model's LP bound where a limit holds (issue 19, session 20; `timeline_bound`):
checked against the time model's own LP solved whole by HiGHS's dual simplex (the bound
the solve stated before, `timeline._relaxed_bound`), on small instances of both time shapes
(`bench/timing_sites.py`: three sites, packed replicas, recurring and preemptible jobs;
`bench/timing.py`: whole-node jobs on one site). A bound above that LP would not be one."""

from __future__ import annotations

import random

import highspy
import numpy as np
import pytest

from fitlang.solve import timeline
from fitlang.solve.backends import _highs_with
from fitlang.solve.linear import matrix_form
from fitlang.solve.timeline_bound import differenced_form, interior_bound, lagrangian_bound

from solving import bench_module, problem_from


def _sites(tmp_path, seed: int):
    sites = bench_module("timing_sites")
    return problem_from(tmp_path, sites.policy_text(sites.generate(30, 24, 20, seed), "cost"))


def _whole_nodes(tmp_path, seed: int):
    text, *_ = bench_module("timing").generate(20, 48, 40, seed)
    return problem_from(tmp_path, text)


def _forms(problem):
    encoding = timeline.encode(problem, problem.timeline)
    exact = timeline._relaxed_bound(encoding, "cost")
    with timeline._relaxed(encoding.model):
        form = differenced_form(encoding, matrix_form(encoding.model, timeline.OBJECTIVES["cost"](encoding),
                                                      left_out=encoding.capacity_rows))
    return exact, form


@pytest.mark.parametrize("shape", ["sites", "whole_nodes"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_interior_bound_is_the_lp_bound_and_never_above_it(tmp_path, shape, seed):
    problem = (_sites if shape == "sites" else _whole_nodes)(tmp_path, seed)
    exact, form = _forms(problem)
    assert exact is not None
    bound, finished = interior_bound(form, None)
    assert finished and bound is not None
    assert bound <= exact
    assert exact - bound <= 1e-6 * abs(exact) + 1e-6  # the LP's, to the solver's tolerance


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_differenced_form_has_the_lp_optimum(tmp_path, seed):
    # solved to its optimum by the dual simplex (a basis: no duals read), the same value as
    # the time model's LP: the load columns change the form, not the LP
    exact, form = _forms(_sites(tmp_path, seed))
    highs = _highs_with(form)
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    value = highs.getInfo().objective_function_value
    assert abs(value - float(exact)) <= 1e-6 * abs(float(exact))


@pytest.mark.parametrize("seed", range(6))
def test_any_duals_give_a_bound_below_the_lp(tmp_path, seed):
    # the Lagrangian bound needs no optimal duals: the optimum's, perturbed, scaled, of the
    # wrong sign or none at all, each gives a bound at most the LP's; the optimum's gives it
    exact, form = _forms(_sites(tmp_path, 1 + seed % 3))
    highs = _highs_with(form)
    highs.run()
    lp, optimal = highs.getLp(), np.asarray(highs.getSolution().row_dual)
    rng = random.Random(seed)
    noise = np.array([rng.uniform(-1, 1) for _ in range(len(optimal))])
    for duals in (optimal, optimal * rng.uniform(0.2, 1.8), optimal + noise * np.abs(optimal).max(),
                  -optimal, np.zeros(len(optimal))):
        bound = lagrangian_bound(lp, duals)
        assert bound is None or bound <= exact
    assert exact - lagrangian_bound(lp, optimal) <= 1e-6 * abs(exact)


@pytest.mark.parametrize("rows", [0, 10 ** 9])
def test_the_simplex_probe_runs_only_where_the_lp_has_few_rows(tmp_path, monkeypatch, rows):
    # over PROBE_ROWS the probe did not finish (the sites shape at the goal size: 3.2 of the
    # bound's 12.7 CPU s lost); the interior point gives the same bound without it
    from fitlang.solve import timeline_bound
    from fitlang.solve.linear import Status

    problem = _sites(tmp_path, 1)
    encoding = timeline.encode(problem, problem.timeline)
    exact = timeline._relaxed_bound(encoding, "cost")
    probes: list[int] = []
    probe = timeline_bound.simplex_bound

    def counted(*args):
        probes.append(1)
        return probe(*args)
    monkeypatch.setattr(timeline_bound, "simplex_bound", counted)
    monkeypatch.setattr(timeline_bound, "PROBE_ROWS", rows)
    with timeline._relaxed(encoding.model):
        outcome = timeline_bound.DifferencedBound(encoding).minimise(
            encoding.model, timeline.OBJECTIVES["cost"](encoding), None)
    assert probes == ([] if rows == 0 else [1])
    assert outcome.status is Status.OPTIMAL and outcome.bound is not None and outcome.bound <= exact
    assert exact - outcome.bound <= 1e-6 * abs(exact) + 1e-6


def _arrays(form):
    return (form.c, form.matrix.data, form.matrix.indices, form.matrix.indptr, form.row_lower,
            form.row_upper, form.lower, form.upper, form.integrality)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_form_without_the_capacity_rows_is_the_whole_form_with_them_cut(tmp_path, seed):
    # the bound's form is built without ever making the capacity rows a matrix (1.7 million
    # nonzeros at the sites shape's goal size, only to be cut out again): row for row the
    # whole form's other rows, in order
    problem = _sites(tmp_path, seed)
    encoding = timeline.encode(problem, problem.timeline)
    first, last = encoding.capacity_rows
    assert 0 < first < last < encoding.model.row_count  # rows on either side of them
    objective = timeline.OBJECTIVES["cost"](encoding)
    whole = matrix_form(encoding.model, objective)
    rest = matrix_form(encoding.model, objective, left_out=(first, last))
    dense = whole.matrix
    kept = [row for row in range(dense.shape[0]) if not first <= row < last]
    assert rest.matrix.shape == (len(kept), dense.shape[1])
    for position, row in enumerate(kept):
        span = slice(dense.indptr[row], dense.indptr[row + 1])
        mine = slice(rest.matrix.indptr[position], rest.matrix.indptr[position + 1])
        assert list(rest.matrix.indices[mine]) == list(dense.indices[span])
        assert list(rest.matrix.data[mine]) == list(dense.data[span])
    assert np.array_equal(rest.row_lower, np.delete(whole.row_lower, np.s_[first:last]))
    assert np.array_equal(rest.row_upper, np.delete(whole.row_upper, np.s_[first:last]))
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(whole)[-3:], _arrays(rest)[-3:]))
    assert np.array_equal(whole.c, rest.c)


def test_the_bound_solves_one_differenced_form_whether_or_not_the_probe_ran(tmp_path, monkeypatch):
    # where the probe runs (few rows) and fails, the whole form's capacity rows are cut; where
    # it does not, they are never built: the interior point gets the same arrays either way
    from fitlang.solve import timeline_bound

    problem = _sites(tmp_path, 2)
    encoding = timeline.encode(problem, problem.timeline)
    given = []
    monkeypatch.setattr(timeline_bound, "simplex_bound", lambda *args: None)
    def interior(form, deadline):
        given.append(form)
        return None, False
    monkeypatch.setattr(timeline_bound, "interior_bound", interior)
    with timeline._relaxed(encoding.model):
        for rows in (10 ** 9, 0):
            monkeypatch.setattr(timeline_bound, "PROBE_ROWS", rows)
            timeline_bound.DifferencedBound(encoding).minimise(encoding.model,
                                                               timeline.OBJECTIVES["cost"](encoding))
    probed, direct = given
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(probed), _arrays(direct)))


@pytest.mark.parametrize("stage", ["probe", "interior"])
def test_off_the_wall_the_bound_s_highs_is_given_the_time_left_over_the_process_s_share(tmp_path, monkeypatch,
                                                                                         stage):
    # a bench's CPU clock in a process given half a core: 2 s on the solve's clock are 4 s of
    # wall. HiGHS's own limit (on the wall) was the 2 s as such: at load 15 the sites shape's
    # interior point at the goal size ran 2.5 of its 23 CPU s and stated no bound (h56e)
    import time

    from fitlang.solve import clock, timeline_bound

    problem = _sites(tmp_path, 1)
    exact, form = _forms(problem)
    encoding = timeline.encode(problem, problem.timeline)
    with timeline._relaxed(encoding.model):
        whole = matrix_form(encoding.model, timeline.OBJECTIVES["cost"](encoding))
    made: list = []

    def recorded(given):
        made.append(_highs_with(given))
        return made[-1]
    monkeypatch.setattr(timeline_bound, "_highs_with", recorded)
    monkeypatch.setattr(time, "monotonic", lambda: time.perf_counter() / 2)
    share = clock._Share()
    share.wall, share.clock = share.wall - 1.0, share.clock - 0.5  # (half a core for the last second)
    monkeypatch.setattr(clock, "_SHARE", share)
    if stage == "probe":
        bound = timeline_bound.simplex_bound(whole, time.monotonic() + 2.0, 3.0)
    else:
        bound, finished = interior_bound(form, time.monotonic() + 2.0)
        assert finished
    assert bound is not None and exact is not None and bound <= exact
    assert made[0].getOptionValue("time_limit")[1] >= 3.5
