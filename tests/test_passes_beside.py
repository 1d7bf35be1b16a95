"""A guided pass in the solve's own process beside the child (passes_beside.py): the child
tells the pair LP's guides before its answer (`backends.tell_parent`, `Minimising.told`), this
process makes the first of the first passes meanwhile, the child the ones after it, and after
the child it is not made again (accelerator-heavy 50,000: a pass is 8-9 CPU s and the child reached
one, or none; docs/performance.md, session 36)."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from fitlang.solve import bound_stages, guided_pass, placement
from fitlang.solve.backends import Minimising, forks, tell_parent
from fitlang.solve.gang_quotas import LPCounts
from fitlang.solve.greedy import Guide, greedy_floor
from fitlang.solve.passes_beside import (
    CHILD_PASSES,
    LEARNED_PASS_SHARE,
    child_share,
    here_guide,
    pass_beside,
    pays,
)
from fitlang.solve.short_order import ShortFirst

from solving import problem_from, zones_taken

needs_fork = pytest.mark.skipif(not forks(), reason="the task runs in this process where it cannot fork")

SUGGESTED = ({"w": ["w[a]", "w[b]"]}, {"v": frozenset({"c1"})})
COUNTS = LPCounts(gpu_quotas=((frozenset({"v"}), frozenset({"c1"}), 1),))


def _told_then_answered(seconds: float) -> str:
    tell_parent("guides")
    time.sleep(0.2)  # (the parent reads what it was told before the answer is in)
    return "answer"


@needs_fork
def test_the_child_tells_before_it_answers():
    pending = Minimising.running(_told_then_answered, 10.0)
    assert pending.told(10.0) == "guides"
    assert not pending.done()
    assert pending.result(10.0) == "answer"


@needs_fork
def test_what_was_told_and_not_asked_for_does_not_hide_the_answer():
    assert Minimising.running(_told_then_answered, 10.0).result(10.0) == "answer"


@needs_fork
def test_an_answer_without_telling_is_told_nothing():
    pending = Minimising.running(lambda seconds: "answer", 10.0)
    assert pending.told(10.0) is None
    assert pending.result(10.0) == "answer"


def test_a_pass_beside_pays_where_the_child_holds_fewer_than_two_after_its_bound():
    # accelerator-heavy 50,000 seed 1 under load: 12.7 s left at the fork, a pass 8.6-10.8
    assert pays(12.7, 4.4, 8.6, 1.0)
    assert not pays(21.7, 4.4, 8.6, 1.0)  # (it holds two)
    assert not pays(3.3, 1.0, 0.5, 1.0)  # (10,000 at 5 s: the child makes several)
    # (10,000 at 5 s seed 7: the child holds fewer than two, but a pass is short beside this
    # process's own polish; so on the wall clock under load, at a quarter of a core)
    assert not pays(3.86, 2.37, 1.9, 1.0) and not pays(3.86, 2.37, 1.9, 0.25)
    assert not pays(12.7, 4.4, None, 1.0)


def test_a_pass_beside_pays_where_the_floor_is_short_whatever_the_child_holds():
    # accelerator-heavy 50,000 seed 2, 30 s CPU clock: the floor short after its passes (7.2 s),
    # 16.1 s left, the LP's answer in: this process has no floor to polish meanwhile
    assert not pays(16.1, 0.0, 7.2, 1.0) and pays(16.1, 0.0, 7.2, 1.0, short_floor=True)
    assert not pays(3.3, 1.0, 0.5, 1.0, short_floor=True)  # (a pass short beside the fork's own cost)


def test_the_first_guide_is_made_here_the_others_by_the_child():
    first, second, third = Guide(classes={"a": frozenset({"c"})}), Guide(fractional=True), Guide(quotas=())
    assert here_guide([first, second, third], True) is first
    assert child_share([first, second, third], 1e9, None)[0] == [second, third]
    assert here_guide([first], True) is None and child_share([first], 1e9, None)[0] == [first]
    assert here_guide([first, second], False) is None


def test_the_childs_passes_end_about_when_the_pass_here_does():
    now = time.monotonic()
    end = child_share([Guide()], now + 100.0, 8.0)[1]
    assert now + CHILD_PASSES * 8.0 <= end <= time.monotonic() + CHILD_PASSES * 8.0
    assert child_share([Guide()], now + 3.0, 8.0)[1] == now + 3.0  # (never past its own end)


def _asked(monkeypatch) -> list[list[Guide]]:
    asked: list[list[Guide]] = []

    def cheapest(problem, packing, guides, *args, tried=None, **keywords):
        asked.append(list(guides))
        if tried is not None:
            tried.extend(guides)
        return packing

    monkeypatch.setattr(placement, "_cheapest_guided", cheapest)
    return asked


def test_after_the_child_the_pass_made_here_is_not_made_again(monkeypatch):
    # three first guides and the options alone; the first was made here beside the child, which
    # tried the second (then the third here), or both (then nothing: not the options alone,
    # whose time the search's merge of small nodes uses better at 50,000 nodes)
    asked = _asked(monkeypatch)
    guides = placement._guides(SUGGESTED, COUNTS)
    assert [bool(guide.classes) for guide in guides] == [True, True, True, False]
    for tried, expected in ((1, [[guides[2]]]), (2, [])):
        asked.clear()
        placement._guided_floor(None, "floor", SUGGESTED, "cost", 5.0, None, 0.1, first_passed=tried,
                                counts=COUNTS, beside=(True, True))
        assert asked == expected
    asked.clear()  # (the child made none: every guide here but the one made)
    placement._guided_floor(None, "floor", SUGGESTED, "cost", 5.0, None, 0.1, counts=COUNTS,
                            beside=(True, True))
    assert asked == [[guides[1], guides[2], guides[3]]]


def test_after_the_child_the_first_pass_left_here_and_not_made_comes_first(monkeypatch):
    # the child made the second and third; the first, left to this process, did not fit beside
    asked = _asked(monkeypatch)
    guides = placement._guides(SUGGESTED, COUNTS)
    for tried in (1, 2):
        asked.clear()
        placement._guided_floor(None, "floor", SUGGESTED, "cost", 5.0, None, 0.1, first_passed=tried,
                                counts=COUNTS, beside=(True, False))
        assert asked == [[guides[0]]]
    asked.clear()
    placement._guided_floor(None, "floor", SUGGESTED, "cost", 5.0, None, 0.1, counts=COUNTS,
                            beside=(True, False))
    assert asked == [guides]


class _Told:
    def __init__(self, told):
        self._told = told

    def told(self, wait):
        return self._told


def test_here_the_first_guide_the_child_told():
    made: list[Guide] = []
    told = bound_stages.Bounds(None, placement.Bound(None), SUGGESTED, counts=COUNTS)
    assert pass_beside(_Told(told), 10.0, lambda guide: made.append(guide) or True)
    assert made == [placement._guides(SUGGESTED, COUNTS)[0]]


def test_nothing_here_where_the_child_told_nothing():
    made: list[Guide] = []
    assert not pass_beside(_Told(None), 10.0, lambda guide: made.append(guide) or True)
    assert made == []


class _Run:
    problem, objective, time_limit, search_deadline = None, "cost", 30.0, None
    floor, floor_seconds, unruined = "floor", 1.0, Fraction(5)

    def __init__(self, learned: set[str] = frozenset()):
        self.learned = ShortFirst(set(learned))


def test_the_pass_here_is_the_floor_where_cheaper(monkeypatch):
    asked = _asked(monkeypatch)
    run = _Run()
    assert placement._made_here(run, Guide()) and asked == [[Guide()]]
    assert run.floor == "floor" and run.unruined == 5  # (the floor kept: not cheaper)
    monkeypatch.setattr(placement, "_cheapest_guided",
                        lambda *args, tried, **keywords: tried.append(1) or "pass")
    assert placement._made_here(run, Guide())  # (cheaper: the child's pass is weighed against it)
    assert run.floor == "pass" and run.unruined is None
    monkeypatch.setattr(placement, "_cheapest_guided", lambda *args, **keywords: "floor")
    assert not placement._made_here(_Run(), Guide())  # (none tried: a whole pass did not fit)


def test_where_the_floor_learned_an_order_the_pass_here_goes_in_it_at_once(monkeypatch):
    asked: list[tuple[float | None, bool]] = []

    def cheapest(problem, packing, guides, *args, whole_pass=None, tried=None, learned=None, **keywords):
        asked.append((whole_pass, learned.at_once))
        return packing

    monkeypatch.setattr(placement, "_cheapest_guided", cheapest)
    placement._made_here(_Run({"u"}), Guide())
    placement._made_here(_Run(), Guide())
    assert asked == [(LEARNED_PASS_SHARE * _Run.floor_seconds, True), (_Run.floor_seconds, True)]


def test_a_pass_in_the_learned_order_at_once_places_what_the_priority_order_left_out(tmp_path, monkeypatch):
    # the unguided pass leaves `u` out (solving.zones_taken); with `u` first every replica fits,
    # in one pass, none first in the priority order (`greedy_floor`)
    problem = problem_from(tmp_path, zones_taken())
    floor = greedy_floor(problem)[0]
    assert not floor.complete
    first_passes: list[Guide] = []
    monkeypatch.setattr(guided_pass, "greedy_floor", lambda problem, deadline, guide, **keywords:
                        first_passes.append(guide) or greedy_floor(problem, deadline, guide, **keywords))
    best = placement._cheapest_guided(problem, floor, [Guide()], "cost", 30.0, time.monotonic() + 30,
                                      learned=ShortFirst({"u"}, at_once=True), retry_short=False)
    assert best.complete and first_passes == []
    best = placement._cheapest_guided(problem, floor, [Guide()], "cost", 30.0, time.monotonic() + 30,
                                      learned=ShortFirst({"u"}), retry_short=False)
    assert best.complete and first_passes == [Guide()]  # (as before: first in the priority order)


def test_after_a_pass_made_beside_the_child_its_passes_are_not_ruined_before_the_search(tmp_path,
                                                                                       monkeypatch):
    # the search's merge of small nodes, first in its order, has that time (accelerator-heavy
    # 50,000 seed 1: the ruin of two passes took 6.2-6.5 of the 8 CPU s left); where no pass
    # was made beside, as before
    from test_dear_nodes import DEAR

    from fitlang.solve.budget import Budget

    problem = problem_from(tmp_path, DEAR)
    floor, _ = greedy_floor(problem)
    ruined: list = []
    monkeypatch.setattr(placement, "_ruined_first", lambda run, others: ruined.append(others))
    monkeypatch.setattr(bound_stages, "coarse_stage", lambda *args: None)
    monkeypatch.setattr(placement, "_guided_floor", lambda problem, packing, *args, **keywords: packing)
    for here, expected in ((True, 0), (False, 1)):
        found = bound_stages.Bounds(None, placement.Bound(None), ({}, {}), beside=here, here=here)
        monkeypatch.setattr(placement, "_bounds_aside", lambda *args, found=found: found)
        run = placement._Run(problem, "auto", ["cost"], Budget.starting_now(5.0), lambda *said: None, True)
        run.floor, run.search_deadline = floor, run.budget.deadline
        ruined.clear()
        placement._bounds_from_floor(run)
        assert len(ruined) == expected
