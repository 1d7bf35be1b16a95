"""The pair LP begun in a child beside the greedy floor, from its first pass (early_bounds.py):
the child forked at the bounds (`placement._bounds_aside`) takes its answer and does not run the
LP again; where the floor took the limit its bound is stated all the same; a short floor goes to
the LP's guided passes before its completion, and is still completed (the first-fit kept aside)
where they leave it short; the child is stopped where its answer is not taken. Gated to where a
pass takes seconds (accelerator-heavy 50,000: seed 2 at 30 s, the first-fit with no bound ->
0.90%; docs/performance.md, session 37)."""

from __future__ import annotations

import json
import multiprocessing
import time
from fractions import Fraction

import pytest
from test_bounds_aside import _aside_everywhere, _consolidated_floor, _run
from test_dear_nodes import DEAR
from test_first_fit import _ai_fleet

from fitlang.solve import bound_stages, placement
from fitlang.solve.backends import Minimising, forks, tell_parent
from fitlang.solve.early_bounds import EARLY_PASS_CPU, answered, early_pays, waited
from fitlang.solve.gang_quotas import LPCounts
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import problem_from, verified_packing

needs_fork = pytest.mark.skipif(not forks(), reason="the task runs in this process where it cannot fork")


def test_the_lp_begins_beside_the_floor_only_where_a_pass_takes_seconds():
    assert early_pays(EARLY_PASS_CPU, True, True)
    assert not early_pays(0.5, True, True)  # (10,000 nodes: a pass 0.3-1.2 CPU s)
    assert not early_pays(5.0, False, True)  # no child for the bounds anyway
    assert not early_pays(5.0, True, False)  # the zoned bound first (inventory 50,000)


class _Early:
    def __init__(self, done: bool, found) -> None:
        self._done, self._found = done, found

    def done(self) -> bool:
        return self._done

    def result(self, wait: float):
        return self._found


def test_answered_is_a_bound_with_a_guide_of_the_lps_classes():
    suggested = ({}, {"web": frozenset({"small"})})
    bounds = bound_stages.Bounds(None, placement.Bound(Fraction(3)), suggested, counts=LPCounts())
    assert answered(_Early(True, bounds))
    assert not answered(None) and not answered(_Early(False, bounds)) and not answered(_Early(True, None))
    assert not answered(_Early(True, bound_stages.Bounds(None, placement.Bound(None), suggested)))
    assert not answered(_Early(True, bound_stages.Bounds(None, placement.Bound(Fraction(3)), ({}, {}))))


def _told_then_answered(seconds: float) -> str:
    tell_parent(Fraction(7))
    time.sleep(0.5)
    return "answer"


@needs_fork
def test_a_child_that_told_is_not_done_until_it_answers_and_runs_on_while_waited_for():
    pending = Minimising.running(_told_then_answered, 10.0)
    assert pending.told(5.0) == Fraction(7)
    assert not pending.done() and not pending.waited(0.05)  # (a told bound is not the answer)
    assert pending.waited(5.0) and pending.done() and pending.result(0.0) == "answer"


def _told_each_round_then_cut(*args, each_round=None, **kwargs):
    each_round(Fraction(9))
    time.sleep(60)


@needs_fork
def test_where_the_lp_begun_beside_is_not_in_by_the_bounds_its_last_told_bound_is_stated(
        tmp_path, monkeypatch):
    # the LP's child told a bound after a round, and is cut (its answer not in by the search
    # deadline): that bound is stated, not none
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    _early_everywhere(monkeypatch)
    monkeypatch.setattr(bound_stages, "bounds_stage", _told_each_round_then_cut)
    run = _run(problem, floor, 5.0)
    placement._early_bounds(run, floor, 10 * EARLY_PASS_CPU)
    assert run.early is not None and run.early.told(5.0) == Fraction(9)
    run.search_deadline = time.monotonic() - 1.0  # (past: no child at the bounds)
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert aside is not None and aside.pair.value == Fraction(9) and not aside.pair.converged
    assert multiprocessing.active_children() == []


def test_the_floor_waits_for_the_lp_what_it_is_still_expected_to_take_at_most_what_is_held():
    waits: list[float] = []

    class Pending(_Early):
        began = time.monotonic()

        def waited(self, wait: float) -> bool:
            waits.append(wait)
            return False

    assert not waited(None, 10.0, 5.0)
    assert not waited(Pending(False, None), 10.0, 2.0) and 1.9 < waits[-1] <= 2.0
    assert not waited(Pending(False, None), 3.0, 20.0) and 2.0 < waits[-1] <= 3.0
    assert not waited(Pending(False, None), 0.0, 20.0) and len(waits) == 2  # (past its time: none)


def _early_everywhere(monkeypatch) -> list[float]:
    """`_early_bounds` on a fleet this small (its gates are for 50,000 nodes)."""
    monkeypatch.setattr(placement, "_whole_model_pays", lambda *args: False)
    return _aside_everywhere(monkeypatch)


def _never(*args, **kwargs):
    time.sleep(60)


@needs_fork
def test_the_child_at_the_bounds_takes_the_lp_begun_beside_the_floor(tmp_path, monkeypatch):
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    value = Fraction(verified_packing(problem, floor).value)
    here = bound_stages.bounds_stage(problem, "cost", None, floor, 30.0, time.monotonic() + 30.0, value,
                                     False, beside=True)
    started = _early_everywhere(monkeypatch)
    run = _run(problem, floor, 5.0)
    placement._early_bounds(run, floor, 10 * EARLY_PASS_CPU)
    assert run.early is not None and len(started) == 1
    # the child forked at the bounds would wait out the limit where it ran the LP again
    monkeypatch.setattr(bound_stages, "bounds_stage", _never)
    began = time.monotonic()
    aside = placement._bounds_aside(run, None, value)
    assert len(started) == 2 and time.monotonic() - began < 4.0
    assert aside is not None and (aside.pair.value, aside.suggested) == (here.pair.value, here.suggested)


@needs_fork
def test_where_the_floor_took_the_limit_the_bound_begun_beside_it_is_stated(tmp_path, monkeypatch):
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    started = _early_everywhere(monkeypatch)
    run = _run(problem, floor, 5.0)
    placement._early_bounds(run, floor, 10 * EARLY_PASS_CPU)
    assert run.early is not None
    end = time.monotonic() + 5.0
    while not run.early.done() and time.monotonic() < end:
        time.sleep(0.01)
    run.search_deadline = time.monotonic() - 1.0  # (past: no child at the bounds)
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert len(started) == 1 and aside is not None and aside.pair.value is not None
    assert aside.pair.value <= 13


def test_not_begun_at_10000_nodes_where_a_pass_is_short(tmp_path, monkeypatch):
    problem = problem_from(tmp_path, DEAR)
    started = _early_everywhere(monkeypatch)
    run = _run(problem, _consolidated_floor(problem), 5.0)
    placement._early_bounds(run, run.floor, EARLY_PASS_CPU / 2)
    assert run.early is None and started == []


def _recorded(order: list[str], name: str, stage):
    return lambda *args: order.append(name) or stage(*args)


@pytest.fixture(scope="module")
def short_floor(tmp_path_factory):
    # bench/ai_fleet.py at 1,000 nodes, seed 21: the greedy floor leaves 74 replicas out (seed
    # 16, test_first_fit's short floor before session 53, is placed whole by its short-first
    # pass now: zone_bound.py)
    return _ai_fleet(tmp_path_factory, 21)


@needs_fork
def test_a_short_floor_goes_to_the_lps_guided_passes_before_its_completion(short_floor, monkeypatch):
    # ai_fleet 1,000 seed 21: the floor leaves 74 replicas out; with the LP begun beside it and
    # in before the floor's passes end (as at 50,000 nodes), the guided passes come before the
    # completion stages, which follow them only where the floor is still short: every replica
    # placed, verified, with the LP's bound; no child left running
    started = _early_everywhere(monkeypatch)
    monkeypatch.setattr(placement, "early_pays", lambda cpu, aside, converges: aside and converges)
    # not in when the floor's passes end (a pass here is milliseconds): waited for, not completed
    monkeypatch.setattr(placement, "EARLY_SECONDS_PER_PAIR", 1.0)
    order: list[str] = []
    for name in ("scarce_first", "_first_fit_aside", "_bounds_aside"):
        monkeypatch.setattr(placement, name, _recorded(order, name, getattr(placement, name)))
    answer = placement._solve(short_floor, "auto", 5.0, relax=True)
    assert len(started) >= 1 and order[0] == "_bounds_aside" and "scarce_first" not in order
    assert not answer.unplaced and answer.bound is not None
    violations, problems = verify(short_floor, json.loads(as_json(short_floor, answer, [])))
    assert violations == [] and problems == [], [v.message for v in violations] + problems
    assert multiprocessing.active_children() == []
