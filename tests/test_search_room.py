"""The search's time after the guided passes (search_room.py, issue 15, session 40): once a pass
placing every replica is kept, another begins only where it leaves the search its room; a
choice of one pass is not ruined before the search, which ruins it in its own order."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from test_bounds_aside import _run
from test_ruined_choice import TWO_SHAPES, _passes

from fitlang.solve import placement, search_stages
from fitlang.solve.greedy import Guide
from fitlang.solve.search_room import SEARCH_ROOM_SHARE, later_pass_fits, search_room

from solving import problem_from, verified_cost


def test_the_room_is_a_share_of_the_limit_and_a_later_pass_must_leave_it():
    assert search_room(None) == 0.0
    assert search_room(5.0) == SEARCH_ROOM_SHARE * 5.0
    now = time.monotonic()
    assert later_pass_fits(None, now + 0.01, 60.0)  # (no pass made yet: as before)
    assert later_pass_fits(0.5, None, 60.0)
    assert later_pass_fits(0.5, now + 60, 1.0)
    assert not later_pass_fits(0.5, now + 1.2, 1.0)
    assert later_pass_fits(0.5, now + 1.2, 0.0)
    assert not later_pass_fits(2.0, now + 1.2, 0.0)  # (no room, but the pass must end in the time)
    assert later_pass_fits(2.0, now + 1.2, None)  # (no check: as before, whatever the last took)


@pytest.mark.parametrize("room, passes", [(0.0, 2), (60.0, 1)])
def test_after_a_complete_pass_the_next_begins_only_where_it_leaves_the_room(tmp_path, monkeypatch, room,
                                                                           passes):
    # 30 s left: without a room both guides' passes are made; with a room of 60 s, the first
    # (every replica placed, cheaper than the floor of two small nodes: kept) and no other
    problem = problem_from(tmp_path, TWO_SHAPES)
    floor, _ = _passes(problem)
    made: list[Guide] = []
    passed = placement.guided_pass

    def counted(problem, guide, objective, deadline, learned):
        made.append(guide)
        return passed(problem, guide, objective, deadline, learned)

    monkeypatch.setattr(placement, "guided_pass", counted)
    best = placement._cheapest_guided(problem, floor, [Guide(), Guide(fractional=True)], "cost", None,
                                      time.monotonic() + 30, retry_short=False, room=room)
    assert best is not floor and verified_cost(problem, best) == Fraction(3, 2) and len(made) == passes


def test_one_pass_to_choose_from_is_left_to_the_search_which_merges_before_it_ruins(tmp_path, monkeypatch):
    # `mixed` (2.50) and a pass alike in value: no choice, so not ruined here (the start tree
    # ruined it to 1.50 before the search); the search then ruins it after its merge
    problem = problem_from(tmp_path, TWO_SHAPES)
    _, mixed = _passes(problem)
    _, alike = _passes(problem)
    run = _run(problem, mixed, 30.0)
    placement._ruined_first(run, [None, alike])
    assert run.floor is mixed and run.ruined is None and verified_cost(problem, mixed) == Fraction(5, 2)
    order: list[str] = []
    merged, ruined = search_stages.small_nodes_merged, search_stages.dear_nodes_ruined
    monkeypatch.setattr(search_stages, "small_nodes_merged",
                        lambda *args, **kwargs: order.append("merge") or merged(*args, **kwargs))
    monkeypatch.setattr(search_stages, "dear_nodes_ruined",
                        lambda *args, **kwargs: order.append("ruin") or ruined(*args, **kwargs))
    search_stages.searched(problem, run.floor, "cost", time.monotonic() + 5, lambda *said: None, None,
                           ruined=run.floor is run.ruined)
    assert order[:2] == ["merge", "ruin"] and verified_cost(problem, run.floor) == Fraction(3, 2)
