"""The guided passes (`placement._cheapest_guided`) one after another, a pass left short
completed only after every other guide had its pass: its retries (the plain order, then the
workloads with least room first) cost about twice a pass and rarely complete a guided one,
and where the time holds only a few passes (the child beside the placement at 5 s) a short
pass first took the time of the passes after it (inventory 10,000 seed 41: the fractional
pass, the answer's, not reached; docs/performance.md, session 35). And after the child's
first passes, the one pass this process runs is the first the child did not reach, not
retried where it is short."""

from __future__ import annotations

import time

import pytest

from fitlang.solve import guided_pass, placement
from fitlang.solve.gang_quotas import LPCounts
from fitlang.solve.greedy import Guide, greedy_floor
from fitlang.solve.placement_result import _packed_value

from solving import problem_from, zones_taken


@pytest.fixture(autouse=True)
def no_completion(monkeypatch):
    """A pass a few replicas short is completed at once where room can be made
    (guided_complete.py, session 37), which on these fleets it can: the retries of a pass left
    short are what is tested here, so none is short by so few."""
    from fitlang.solve import guided_complete

    monkeypatch.setattr(guided_complete, "MOST_SHORT", 0)


# `t` (priority 20) on class c's nodes only: there it leaves a and b's room to `u`, which is
# kept apart from it by zone (test_short_floor: 8 USD/h, every replica placed)
T_ON_C = Guide(quotas=((frozenset({"t"}), frozenset({"c"}), 2),))


def _recorded(monkeypatch) -> list[tuple[str, Guide | None]]:
    """The passes `_cheapest_guided` makes, in order: each guide's first pass, and the
    retries of one left short (`scarce_first`, the last of them)."""
    events: list[tuple[str, Guide | None]] = []
    first_pass, scarce = placement.greedy_floor, placement.scarce_first

    def passed(problem, deadline=None, guide=None, **keywords):
        events.append(("pass", guide))
        return first_pass(problem, deadline, guide, **keywords)

    def retried(problem, packing, deadline, guide=None):
        events.append(("scarce_first", guide))
        return scarce(problem, packing, deadline, guide)

    monkeypatch.setattr(guided_pass, "greedy_floor", passed)  # (each guide's pass: guided_pass.py)
    monkeypatch.setattr(placement, "scarce_first", retried)
    return events


def test_a_short_pass_is_completed_after_the_other_guides_passes(tmp_path, monkeypatch):
    # the unguided pass leaves `u` out (solving.zones_taken); its retry by scarcity places
    # every replica at 5 USD/h, the least, after `t`-on-c's pass placed all at 8
    problem = problem_from(tmp_path, zones_taken())
    floor = greedy_floor(problem)[0]
    assert not floor.complete
    plain = Guide()
    events = _recorded(monkeypatch)
    best = placement._cheapest_guided(problem, floor, [plain, T_ON_C], "cost", 30.0, time.monotonic() + 30)
    assert events == [("pass", plain), ("pass", T_ON_C), ("scarce_first", plain)]
    assert best.complete and _packed_value(problem, best, "cost") == 5


def test_a_short_pass_is_not_retried_where_a_whole_pass_no_longer_fits(tmp_path, monkeypatch):
    # the time left after the two first passes is under `whole_pass`: no retry; the complete
    # pass is the answer
    problem = problem_from(tmp_path, zones_taken())
    floor = greedy_floor(problem)[0]
    events = _recorded(monkeypatch)
    lefts = iter([10.0, 10.0, 0.5])  # (before each pass, then before the retry)
    monkeypatch.setattr(placement, "remaining", lambda deadline: next(lefts))
    best = placement._cheapest_guided(problem, floor, [Guide(), T_ON_C], "cost", 30.0, time.monotonic() + 30,
                                      whole_pass=1.0)
    assert [name for name, _ in events] == ["pass", "pass"]
    assert best.complete and _packed_value(problem, best, "cost") == 8


def test_where_the_time_holds_one_pass_a_short_one_is_dropped_not_retried(tmp_path, monkeypatch):
    # (this process's one pass after the child's): the unguided pass leaves `u` out, and its
    # retries, which would place every replica at 5, are not made; the packing given stays
    problem = problem_from(tmp_path, zones_taken())
    floor = greedy_floor(problem)[0]
    events = _recorded(monkeypatch)
    best = placement._cheapest_guided(problem, floor, [Guide()], "cost", 30.0, time.monotonic() + 30,
                                      retry_short=False)
    assert [name for name, _ in events] == ["pass"] and best is floor


def test_the_guides_whose_pass_began_are_told_in_their_order(tmp_path):
    problem = problem_from(tmp_path, zones_taken())
    floor = greedy_floor(problem)[0]
    tried: list[Guide] = []
    placement._cheapest_guided(problem, floor, [Guide(), T_ON_C], "cost", 30.0, time.monotonic() + 30,
                               tried=tried)
    assert tried == [Guide(), T_ON_C]


def test_after_the_childs_first_passes_this_process_runs_the_first_it_did_not_reach(monkeypatch):
    # three first guides (with the LP's classes) and the options alone: the child tried one,
    # so here the second, and only it (the ruin after it needs the rest of the time); where
    # it tried all three, the options alone, as before
    asked: list[list[Guide]] = []
    retried: list[bool] = []

    def cheapest(problem, packing, guides, *args, retry_short=True, **keywords):
        asked.append(list(guides))
        retried.append(retry_short)
        return packing

    monkeypatch.setattr(placement, "_cheapest_guided", cheapest)
    suggested = ({"w": ["w[a]", "w[b]"]}, {"v": frozenset({"c1"})})
    counts = LPCounts(gpu_quotas=((frozenset({"v"}), frozenset({"c1"}), 1),))
    guides = placement._guides(suggested, counts)
    assert [bool(guide.classes) for guide in guides] == [True, True, True, False]
    for tried, expected in ((1, [guides[1]]), (2, [guides[2]]), (3, [guides[3]])):
        asked.clear()
        placement._guided_floor(None, "floor", suggested, "cost", 5.0, None, 0.1, first_passed=tried,
                                counts=counts)
        assert asked == [expected]
    assert not any(retried)  # (one pass: not retried where short)
    asked.clear()
    retried.clear()
    placement._guided_floor(None, "floor", suggested, "cost", 5.0, None, 0.1, first_passed=0, counts=counts)
    assert asked == [guides] and retried == [True]  # (no child's passes: every guide here, as before)
