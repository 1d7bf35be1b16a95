"""Past `LARGE_NODES` the bound of a fleet-scale move is proven in a child process while this one
improves the plan (`move_bound_beside`): at inventory 10,000 and `--time-limit 5` the bound and
the scatter passes did not both fit in one process, and the bound, cut before it converged,
left the passes no time at all."""

from __future__ import annotations

import dataclasses
import os
import time
from fractions import Fraction

import pytest
from test_spread_restore import DRAINED, RUNNING

from fitlang.solve import bound, move_bound, move_neighbourhood, move_scale, scatter_both
from fitlang.solve.backends import Minimising, forks, tell_parent
from fitlang.solve.move_bound_beside import SCATTER_SHARE
from fitlang.solve.move_scale import BOUND_TAIL_SHARE, move_at_scale
from fitlang.solve.moving import move_objectives

from solving import problem_running

pytestmark = pytest.mark.skipif(not forks(), reason="the bound runs beside only where processes fork")


def drained(tmp_path):
    problem = problem_running(tmp_path, DRAINED, RUNNING)
    return dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])


def test_each_round_tells_the_bound_proven_so_far_and_the_last_is_the_bound(tmp_path):
    problem = drained(tmp_path)
    told: list[Fraction] = []
    found = move_bound.moves_lower_bound(problem, None, each_round=told.append)
    assert found is not None and told
    assert told[-1] == found
    assert told == sorted(told)  # (the best so far, the constant added to each)


def past_large_nodes(monkeypatch) -> None:
    """61 nodes counted as a large fleet, without the whole move model's bound after the move."""
    monkeypatch.setattr(move_neighbourhood, "LARGE_NODES", 0)
    monkeypatch.setattr(move_scale, "MOVE_MODEL_MAX_NODES", 0)


def test_the_bound_is_the_one_a_child_process_proved(tmp_path, monkeypatch):
    past_large_nodes(monkeypatch)
    problem = drained(tmp_path)
    here = move_bound.moves_lower_bound(problem, None)
    placement, _ = move_at_scale(problem, "cost+moves", 10.0)
    assert here is not None and placement.bound == here
    # (a stand-in that proves its process's id: not this one's)
    monkeypatch.setattr(move_bound, "moves_lower_bound",
                        lambda p, deadline, start=None, each_round=None: Fraction(os.getpid()))
    placement, _ = move_at_scale(problem, "cost+moves", 10.0)
    assert placement.bound is not None and placement.bound != os.getpid()


def test_a_bound_not_in_by_its_end_is_the_last_one_told(tmp_path, monkeypatch):
    past_large_nodes(monkeypatch)

    def slow(problem, deadline, start=None, each_round=None):
        each_round(Fraction(3))
        time.sleep(deadline - time.monotonic() + 5.0)  # (its answer long after its end)
        return Fraction(4)

    monkeypatch.setattr(move_bound, "moves_lower_bound", slow)
    problem = drained(tmp_path)
    started = time.monotonic()
    placement, _ = move_at_scale(problem, "cost+moves", 2.0)
    assert placement.bound == Fraction(3)
    assert time.monotonic() - started < 2.0 - BOUND_TAIL_SHARE * 2.0 + 1.0


def test_the_scatter_passes_get_the_time_the_bound_took(tmp_path, monkeypatch):
    # in one process they ended by 0.4 of the limit, long passed at 10,000 nodes by then
    past_large_nodes(monkeypatch)
    given = []
    real = scatter_both.scatter_both
    monkeypatch.setattr(scatter_both, "scatter_both",
                        lambda fleet, objective, deadline, *rest: given.append(deadline) or
                        real(fleet, objective, deadline, *rest))
    monkeypatch.setattr(move_bound, "moves_lower_bound", lambda *args, **kwargs: Fraction(0))
    problem = drained(tmp_path)
    started = time.monotonic()
    move_at_scale(problem, "cost+moves", 10.0)
    assert len(given) == 1
    assert started + SCATTER_SHARE * 10.0 - 0.05 <= given[0] <= started + SCATTER_SHARE * 10.0 + 0.05


def test_newest_is_the_last_told_then_the_answer():
    def task(seconds: float) -> int:
        for value in (1, 2, 3):
            tell_parent(value)
        time.sleep(0.5)
        return 4

    pending = Minimising.running(task, 5.0)
    time.sleep(0.3)
    assert pending.newest() == 3
    assert pending.result(5.0) == 4
    assert pending.newest() == 4


def test_the_bound_is_never_run_beside_below_large_nodes(tmp_path, monkeypatch):
    calls = []
    real = bound.lower_bound
    monkeypatch.setattr(bound, "lower_bound", lambda *args, **kwargs: calls.append(os.getpid()) or
                        real(*args, **kwargs))
    move_at_scale(drained(tmp_path), "cost+moves", 10.0)
    assert calls == [os.getpid()]  # (here: the joint steps below `LARGE_NODES` need it first)


def test_a_plan_s_bound_runs_on_through_its_waves_and_is_collected_after_them(tmp_path, monkeypatch):
    # at inventory 10,000 and `--time-limit 5` the charged LP needs ~2.2 CPU s of the child's
    # and had ~1.9-2.5 until the bound's end: for a plan (`bound_after`) the child runs on
    # through the waves, as the move model's does below `LARGE_NODES`, and the plan collects it
    # after them. Here the stand-in tells 3 at once and proves 4 a second before its end: the
    # move returns with the bound left running, which then proves 4
    from fitlang.solve.model_bound_beside import raised_by_later_bound

    past_large_nodes(monkeypatch)

    def proven_late(problem, deadline, start=None, each_round=None):
        each_round(Fraction(3))
        time.sleep(max(0.0, deadline - time.monotonic() - 1.0))
        return Fraction(4)

    monkeypatch.setattr(move_bound, "moves_lower_bound", proven_late)
    placement, fleet = move_at_scale(drained(tmp_path), "cost+moves", 3.0, bound_after=True)
    assert not fleet.unplaced and placement.later_bound is not None
    assert raised_by_later_bound(placement) and placement.bound == 4
