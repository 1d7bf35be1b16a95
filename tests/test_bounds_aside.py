"""The placement's bounds in a child process beside the ruin of the floor's dear nodes
(`placement._bounds_aside`): the bounds and guides those computed in this process, the floor
ruined meanwhile, and no bound (never a wrong one) where the child has no answer in time."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from fractions import Fraction

import pytest
from test_dear_nodes import DEAR, _brute_force

from fitlang.solve import aside_passes, bound_stages, guided_pass, placement
from fitlang.solve.backends import Minimising
from fitlang.solve.budget import Budget
from fitlang.solve.gang_quotas import LPCounts
from fitlang.solve.greedy import greedy_floor
from fitlang.solve.improve import consolidate

from solving import problem_from, verified_packing


def _aside_everywhere(monkeypatch) -> list[float]:
    """`_bounds_aside` on a fleet this small (its gates are for 10,000 nodes), with the
    children it starts counted (their time limits)."""
    monkeypatch.setattr(placement, "ASIDE_MIN_SECONDS", 0.0)
    monkeypatch.setattr(placement, "few_merged_classes", lambda problem: False)
    monkeypatch.setattr(bound_stages, "PATTERN_SECONDS_PER_PAIR", 1e9)  # no pattern bound would follow
    started: list[float] = []
    running = Minimising.running.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Minimising, "running", classmethod(
        lambda cls, task, limit: started.append(limit) or running(cls, task, limit)))
    return started


def _run(problem, floor, seconds: float) -> placement._Run:
    run = placement._Run(problem, "auto", ["cost"], Budget.starting_now(seconds), lambda *said: None, True)
    run.floor, run.search_deadline = floor, run.budget.deadline
    return run


def _consolidated_floor(problem):
    floor, _ = greedy_floor(problem)
    consolidate(problem, floor, "cost")
    return floor


def test_the_bounds_from_the_child_are_those_computed_here_and_the_floor_is_left_to_the_choice(
        tmp_path, monkeypatch):
    # the consolidated floor (13) has the full 12-CPU node that only the ruin empties
    # (test_dear_nodes): it is not ruined here while the child computes the pair bound from
    # the floor (ruin_beside.py: the choice after the child's answer ruins the cheapest pass,
    # the search a floor no pass beat); the bound, whether it converged and the LP's guide
    # are the ones the same call gives in this process
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    value = Fraction(verified_packing(problem, floor).value)
    assert value == 13
    here = bound_stages.bounds_stage(problem, "cost", None, floor, 30.0, time.monotonic() + 30.0, value,
                                     False, beside=True)
    assert here.pair.value is not None and here.pair.converged
    started = _aside_everywhere(monkeypatch)
    run = _run(problem, floor, 30.0)
    aside = placement._bounds_aside(run, None, value)
    assert len(started) == 1 and aside is not None
    assert (aside.pair.value, aside.pair.converged, aside.suggested, aside.zoned) == \
        (here.pair.value, True, here.suggested, here.zoned)
    assert aside.pair.relaxation is None  # (its arrays stay in the child)
    assert run.floor is floor and Fraction(verified_packing(problem, floor).value) == 13 > _brute_force()
    assert aside.pair.value <= _brute_force()


def test_where_a_pass_is_made_beside_the_child_the_floor_is_ruined_meanwhile(tmp_path, monkeypatch):
    # where this process makes a pass beside the child (passes_beside.py: 50,000 nodes) no choice
    # between ruined passes follows it: the floor is ruined while the child computes
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    _aside_everywhere(monkeypatch)
    monkeypatch.setattr(placement, "pays", lambda *args: True)
    monkeypatch.setattr(placement, "pass_beside", lambda *args: False)
    run = _run(problem, floor, 30.0)
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert aside is not None and aside.beside
    assert run.floor is floor and Fraction(verified_packing(problem, floor).value) == _brute_force()


def test_where_the_floor_was_rebuilt_it_is_not_ruined_beside_the_child(tmp_path, monkeypatch):
    # a rebuilt floor (`bound_stages.rebuild_first`: inventory 50,000) keeps its dear full node while the
    # child computes: the search's ruin later tries every dear node, and the process's time
    # goes to the zoned guide's pass; the child's bound is the same as where it is ruined
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    here = bound_stages.bounds_stage(problem, "cost", None, floor, 30.0, time.monotonic() + 30.0,
                                     Fraction(13), False, beside=True)
    started = _aside_everywhere(monkeypatch)
    run = _run(problem, floor, 30.0)
    run.rebuilt = True
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert len(started) == 1 and aside is not None and aside.pair.value == here.pair.value
    assert run.floor is floor and Fraction(verified_packing(problem, floor).value) == 13 > _brute_force()


def test_no_answer_from_the_child_in_time_is_no_bound(tmp_path, monkeypatch):
    # the child's task never answers within the search deadline: no bound, no guide, the
    # floor as it was (the search ruins it)
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    _aside_everywhere(monkeypatch)

    def never(*args, **kwargs):
        time.sleep(60)

    monkeypatch.setattr(bound_stages, "bounds_stage", never)
    run = _run(problem, floor, 2.0)
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert aside is not None and aside.pair.value is None and aside.zoned is None
    assert aside.suggested == ({}, {})
    assert Fraction(verified_packing(problem, floor).value) == 13


def test_beside_the_placement_the_pair_bound_has_the_time_left_the_zoned_bound_only_where_that_is_short(
        monkeypatch):
    # in this process the pair bound has BOUND_SHARE of the limit; beside the placement the
    # time to the deadline, without the zoned bound first unless the pair LP is expected to
    # take more than the whole limit (`bound_stages.rebuild_first`)
    asked: list[tuple[str, float | None]] = []
    monkeypatch.setattr(bound_stages, "zoned_stage",
                        lambda *args: asked.append(("zoned", args[5])) or (None, set()))
    monkeypatch.setattr(bound_stages, "lower_bound",
                        lambda problem, objective, deadline, **kw: asked.append(("pair", deadline)) or
                        placement.Bound(None))
    monkeypatch.setattr(bound_stages, "suggested", lambda pair: ({}, {}))
    deadline = time.monotonic() + 100.0
    for beside, slow, expected in ((False, False, ["zoned", "pair"]), (True, False, ["pair"]),
                                   (True, True, ["zoned", "pair"])):
        monkeypatch.setattr(bound_stages, "rebuild_first", lambda problem, limit, slow=slow: slow)
        asked.clear()
        bound_stages.bounds_stage(None, "cost", None, None, 10.0, deadline, Fraction(1), False, beside=beside)
        assert [name for name, _ in asked] == expected
        pair_deadline = asked[-1][1]
        assert pair_deadline is not None
        assert (pair_deadline == deadline) == beside and pair_deadline <= deadline


def test_where_processes_cannot_fork_the_bounds_are_computed_here_as_before(tmp_path, monkeypatch):
    problem = problem_from(tmp_path, DEAR)
    started = _aside_everywhere(monkeypatch)
    monkeypatch.setattr(placement, "forks", lambda: False)
    run = _run(problem, _consolidated_floor(problem), 30.0)
    assert placement._bounds_aside(run, None, Fraction(13)) is None
    assert started == []


# the LP's guide in the child made to lead the greedy pass to the optimum (`web` on the GPU
# node's free CPUs and a small node: 11.10), where the greedy floor is 13 (the big node)
TO_THE_OPTIMUM = ({}, {"train": frozenset({"gpu"}), "web": frozenset({"gpu", "small"})})


def _guided_in_the_child(monkeypatch, problem) -> list:
    """`_bounds_aside` as above, the LP's suggestions TO_THE_OPTIMUM, the ruin here doing
    nothing (so that only the child's pass can improve the floor); the guides the greedy
    passes of this process are given (the child's are its own), but for the second floor's
    (`_room_floor`: no guide of the LP's)."""
    _aside_everywhere(monkeypatch)
    monkeypatch.setattr(bound_stages, "suggested", lambda pair: TO_THE_OPTIMUM)
    monkeypatch.setattr(placement, "dear_nodes_ruined", lambda *args: 0)
    guides_here: list = []
    floor_pass = placement.greedy_floor

    def counted(problem, deadline=None, guide=None, **keywords):
        if guide is None or not guide.dear_room_first:
            guides_here.append(guide)
        return floor_pass(problem, deadline, guide, **keywords)

    monkeypatch.setattr(placement, "greedy_floor", counted)
    monkeypatch.setattr(guided_pass, "greedy_floor", counted)  # (each guided pass's)
    return guides_here


def test_the_child_also_runs_the_first_guided_pass_and_sends_its_floor_back(tmp_path, monkeypatch):
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    guides_here = _guided_in_the_child(monkeypatch, problem)
    run = _run(problem, floor, 30.0)
    run.floor_seconds = 0.01
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert aside is not None and aside.first_passed and aside.passed is not None
    assert Fraction(verified_packing(problem, aside.passed).value) == _brute_force()
    assert run.floor is floor and Fraction(verified_packing(problem, floor).value) == 13  # (not ruined)
    assert guides_here == []  # the pass ran in the child


def test_the_childs_guided_floor_is_taken_where_cheaper_and_its_pass_not_run_again(tmp_path, monkeypatch):
    problem = problem_from(tmp_path, DEAR)
    guides_here = _guided_in_the_child(monkeypatch, problem)
    monkeypatch.setattr(bound_stages, "coarse_stage", lambda *args: None)
    monkeypatch.setattr(placement, "_pair_packed_floor", lambda *args: None)  # (its own floor: 11.10 too)
    run = _run(problem, _consolidated_floor(problem), 30.0)
    run.floor_seconds = 0.01
    placement._bounds_from_floor(run)
    assert run.floor is not None and Fraction(verified_packing(problem, run.floor).value) == _brute_force()
    assert guides_here == []  # the classes' guide ran in the child; the options alone: none here


def test_after_the_childs_pass_the_other_guides_run_here_each_where_it_fits(tmp_path, monkeypatch):
    # with the first pass run beside: no options moved here, the options' guide alone as a
    # whole pass where the floor's time is left, none where it is not
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    guides_here = _guided_in_the_child(monkeypatch, problem)
    monkeypatch.setattr(placement, "_options_moved",
                        lambda *args: pytest.fail("options moved after the child's pass"))
    suggested = ({"web": ["small"]}, TO_THE_OPTIMUM[1])
    deadline = time.monotonic() + 30.0
    for whole_pass, expected in ((0.01, [placement.Guide({"web": ["small"]})]), (60.0, [])):
        guides_here.clear()
        placement._guided_floor(problem, floor, suggested, "cost", 30.0, deadline, whole_pass,
                                first_passed=2)  # (both first passes: the classes', its fractional copy)
        assert guides_here == expected


def test_the_second_first_pass_by_every_gpu_workloads_counts_runs_in_the_child_not_here(
        tmp_path, monkeypatch):
    # the passes with the LP's classes (the gangs' quotas, every GPU workload's, the first's
    # fractional copy) are the child's: where it tried all three, here only the options' guide
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    guides_here = _guided_in_the_child(monkeypatch, problem)
    suggested = ({"web": ["small"]}, TO_THE_OPTIMUM[1])
    counts = LPCounts(gpu_quotas=((frozenset({"web"}), frozenset({"small"}), 1),))
    guides = placement._guides(suggested, counts)
    assert [bool(guide.classes) for guide in guides] == [True, True, True, False]
    placement._guided_floor(problem, floor, suggested, "cost", 30.0, time.monotonic() + 30.0, 0.01,
                            first_passed=3, counts=counts)
    assert guides_here == [placement.Guide({"web": ["small"]})]


def test_where_the_first_pass_is_not_expected_to_fit_in_the_child_it_is_left_to_this_process(
        tmp_path, monkeypatch):
    problem = problem_from(tmp_path, DEAR)
    _guided_in_the_child(monkeypatch, problem)
    run = _run(problem, _consolidated_floor(problem), 30.0)
    run.floor_seconds = 60.0
    # (not the pass made here beside the child, where a pass is this long: test_passes_beside.py)
    monkeypatch.setattr(placement, "pays", lambda *args: False)
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert aside is not None and aside.pair.value is not None
    assert not aside.first_passed and aside.passed is None


def _two_guides_each_slow(monkeypatch, problem, seconds: float) -> None:
    """In the child: the LP's classes alone, then their fractional copy (the first leads to the
    optimum), each guided pass moving the clock on by `seconds` (so off the wall: clock.py)."""
    _guided_in_the_child(monkeypatch, problem)
    classes = placement.Guide({}, TO_THE_OPTIMUM[1])
    monkeypatch.setattr(placement, "_guides", lambda *args: [classes, replace(classes, fractional=True)])
    ahead = [0.0]
    clock, passed = time.monotonic, placement.guided_pass
    monkeypatch.setattr(time, "monotonic", lambda: clock() + ahead[0])

    def slow(*args, **kwargs):
        found = passed(*args, **kwargs)
        ahead[0] += seconds
        return found

    monkeypatch.setattr(placement, "guided_pass", slow)


@pytest.mark.parametrize("wall", [True, False])
def test_the_child_makes_the_passes_counted_at_the_fork_each_where_its_time_holds_it(
        tmp_path, monkeypatch, wall):
    # each guided pass takes 20 s on the child's clock, the child has 30 s, and at the fork both
    # passes were expected to fit (aside_passes.py). On the wall the first pass (the optimum, kept)
    # leaves ~10, which the last pass does not fit: the second (the fractional copy) is not begun,
    # not counted as the child's, and this process makes it (session 42's start tree began it,
    # the deadline cut it, and this process made the guide after it instead). Off the wall (the
    # benches' CPU clock) the same where the second would end past the grace this process waits
    # for the child (`backends.KILL_GRACE`): the start tree made both whatever its clock said, and
    # where the CPU clock's child ran past the grace this process stopped it and had no bound
    # (inventory 10,000 seed 94 at 5 s, 1 run in 3)
    problem = problem_from(tmp_path, DEAR)
    _two_guides_each_slow(monkeypatch, problem, 20.0)
    monkeypatch.setattr(aside_passes, "on_the_wall", lambda: wall)
    run = _run(problem, _consolidated_floor(problem), 30.0)
    run.floor_seconds = 0.01
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert aside is not None and aside.passed is not None and aside.first_passed == 1
    assert Fraction(verified_packing(problem, aside.passed).value) == _brute_force()


def test_a_child_stopped_in_its_passes_still_leaves_its_bound_and_guides(tmp_path, monkeypatch):
    # the child ends in its first guided pass (as where this process stops it past its grace):
    # the bound and the guides it told before its passes are this process's, no pass counted as
    # the child's (this process makes them); the start tree had no bound and no guide
    problem = problem_from(tmp_path, DEAR)
    floor = _consolidated_floor(problem)
    here = bound_stages.bounds_stage(problem, "cost", None, floor, 30.0, time.monotonic() + 30.0,
                                     Fraction(13), False, beside=True)
    _aside_everywhere(monkeypatch)
    monkeypatch.setattr(placement, "pays", lambda *args: False)  # (no pass made here meanwhile)
    monkeypatch.setattr(placement, "guided_pass", lambda *args: os._exit(0))  # (only the child makes one)
    run = _run(problem, floor, 30.0)
    run.floor_seconds = 0.01
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert aside is not None and aside.pair.value == here.pair.value and aside.pair.converged
    assert aside.suggested == here.suggested and aside.first_passed == 0 and aside.passed is None
    assert run.floor is floor


def test_the_child_makes_no_more_passes_than_counted_at_the_fork_where_they_end_sooner(
        tmp_path, monkeypatch):
    # 30 s of limit, a pass expected to take 15 s: in the child's window (20 s, WINDOW_SHARE of the
    # limit) one pass fits after the LP, not two, so the child makes one, though its passes take
    # no time on its clock and the time left would hold the second (the start tree made both)
    problem = problem_from(tmp_path, DEAR)
    _two_guides_each_slow(monkeypatch, problem, 0.0)
    monkeypatch.setattr(placement, "PASS_CPU_PER_REPLICA", 15.0 / placement._replicas(problem))
    run = _run(problem, _consolidated_floor(problem), 30.0)
    run.floor_seconds = 0.01
    aside = placement._bounds_aside(run, None, Fraction(13))
    assert aside is not None and aside.passed is not None and aside.first_passed == 1
