"""A short floor's pair LP and guided passes before its completion (pair_first.py, issue 15,
session 38): where the time left would not hold the completion, the LP and a guided pass one
after another (`bench/ai_fleet.py` 10,000 at 5 s), the LP runs from the short floor, its guided
passes follow, and the completion only where they leave replicas out."""

from __future__ import annotations

import json

from test_first_fit import short_floor as short_floor  # (a fixture)

from fitlang.solve import placement
from fitlang.solve.pair_first import PASSES_AFTER_FLOOR, pair_first_pays
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify


def test_the_lp_comes_first_only_where_the_time_left_holds_it_and_a_pass_but_not_the_completion_too():
    bound, passes = 0.4, 0.9
    assert not pair_first_pays(bound + 2 * passes, bound, passes, learned=False)  # (no order learned)
    assert not pair_first_pays(None, bound, passes, learned=True)  # (no limit)
    assert not pair_first_pays(bound + 0.5 * passes, bound, passes, learned=True)  # (not even one pass)
    assert pair_first_pays(bound + 2 * passes, bound, passes, learned=True)
    assert not pair_first_pays(bound + PASSES_AFTER_FLOOR * passes, bound, passes, learned=True)  # (all fit)


def test_a_short_floor_goes_to_the_lps_guided_passes_before_its_completion(short_floor, monkeypatch):
    # ai_fleet 1,000 seed 16: the floor leaves 60 replicas out; with the LP first (its gate open
    # whatever the time, the whole model not run, as at 10,000 nodes), the LP and its guided
    # passes come before the completion stages, which here follow (the passes leave replicas
    # out too): every replica placed, verified, with the LP's bound
    monkeypatch.setattr(placement, "pair_first_pays", lambda left, bound, passes, learned: learned)
    monkeypatch.setattr(placement, "_whole_model_pays", lambda *args: False)
    order: list[str] = []
    for name in ("scarce_first", "_first_fit_aside", "_bounds_from_floor", "lower_bound"):
        stage = getattr(placement, name)
        monkeypatch.setattr(placement, name, lambda *args, _name=name, _stage=stage, **keywords:
                            order.append(_name) or _stage(*args, **keywords))
    answer = placement._solve(short_floor, "auto", 30.0, relax=True)
    assert order[:3] == ["lower_bound", "_bounds_from_floor", "scarce_first"]
    assert not answer.unplaced and answer.bound is not None
    violations, problems = verify(short_floor, json.loads(as_json(short_floor, answer, [])))
    assert violations == [] and problems == [], [v.message for v in violations] + problems
