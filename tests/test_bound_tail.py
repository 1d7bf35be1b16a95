"""Past `LARGE_NODES` the charged bound of a fleet-scale move ends `BOUND_TAIL_SHARE` of the
limit before the move (`move_scale.move_at_scale`): what follows it at inventory 10,000 (the
placement, its value, `verify`'s check) left `fitc plan --time-limit 5` no time for its waves.
There it runs in a child process (`move_bound_beside`), here in this one, its deadline the
same."""

from __future__ import annotations

import dataclasses
import time

import pytest
from test_spread_restore import DRAINED, RUNNING

from fitlang.solve import backends, move_bound, move_neighbourhood
from fitlang.solve.move_scale import BOUND_TAIL_SHARE, move_at_scale
from fitlang.solve.moving import move_objectives

from solving import problem_running


@pytest.mark.parametrize("large", [False, True])
def test_the_charged_bound_ends_before_the_move_past_large_nodes(tmp_path, monkeypatch, large):
    problem = problem_running(tmp_path, DRAINED, RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    given, called = [], []
    real = move_bound.moves_lower_bound
    monkeypatch.setattr(move_bound, "moves_lower_bound",
                        lambda p, deadline, start=None, each_round=None:
                        called.append(time.monotonic()) or given.append(deadline)
                        or real(p, deadline, start, each_round))
    if large:  # (61 nodes counted as a large fleet; the child's task run at once, here)
        monkeypatch.setattr(move_neighbourhood, "LARGE_NODES", 0)
        monkeypatch.setattr(backends, "forks", lambda: False)
    started = time.monotonic()
    move_at_scale(problem, "cost+moves", 10.0)
    assert len(given) == 1
    # The move takes its clock between `started` and the bound's call, whatever the load.
    tail = BOUND_TAIL_SHARE * 10.0 if large else 0.0
    assert started + 10.0 - tail <= given[0] <= called[0] + 10.0 - tail
