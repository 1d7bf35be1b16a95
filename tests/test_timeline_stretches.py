"""A stretch of a node's block emptied (session 36, h36h): the replicas running over a few steps
of a block taken off together and placed again, where neither one replica's move nor the whole
block's pays. Values by hand (node-hours awake x 1 USD/h)."""

from __future__ import annotations

import pytest
from test_timing import _spot_violations, problem_from
from test_timing_window import CHEAP, _chosen, _spots, _text

from fitlang.solve.timeline import horizon_value, timed_assignments
from fitlang.solve.timeline_pack import (
    Spot,
    emptied,
    holding,
    improved,
    repacked,
    runs_recreated,
    searched,
)
from fitlang.solve.timeline_stretches import _stretches, blocks_emptied_longest_first, stretches_emptied

TWO_NODES = """
pool n {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
}

policy {
  horizon = 6h
  step = 1h
  start = "2026-12-01T00:00Z"
}
"""


def _job(name: str, earliest: int, deadline: int) -> str:
    return f"""
workload {name} {{
  kind = job
  replicas = 1
  cpu = 2
  memory = 1GiB
  duration = {3 if name != "j0" else 2}h
  earliest = {earliest}h
  deadline = {deadline}h
}}
"""


def _problem(tmp_path):
    """Two 4-CPU nodes over 6 h; four jobs of 2 CPUs: j0 (2 h) at hour 2 only, j1 (3 h) in
    hours 1-4, j2 (3 h) at hour 0 only, j3 (3 h) in hours 2-5."""
    return problem_from(tmp_path, TWO_NODES + _job("j0", 2, 4) + _job("j1", 1, 5) + _job("j2", 0, 3)
                        + _job("j3", 2, 6))


# node 0 holds j2 (0-2), j1 (2-4) and j3 (3-5): awake all 6 h, full at hours 2-4; node 1 holds
# j0 at 2-3: 8 USD. j3 alone to node 1 at 2-4 frees hour 5 and wakes hour 4 (1 for 1); j1 alone
# frees nothing; j2 alone to node 1 wakes as much as it frees; the whole block placed again
# (the largest first) does not fit node 1 around j0; the class packed again keeps this packing.
# j1 and j3 together (they alone run at hours 3-5) free hours 3-5 (3 USD): j1 to node 0 at 1-3
# beside j2 wakes hour 3, j3 to node 1 at 2-4 beside j0 wakes hour 4: 7 USD, the optimum (every
# start and node of the four enumerated: none below 7)
STUCK = [Spot("j0", 0, "n", 1, 2, 4), Spot("j1", 0, "n", 0, 2, 5), Spot("j2", 0, "n", 0, 0, 3),
         Spot("j3", 0, "n", 0, 3, 6)]


def test_a_stretch_of_two_replicas_empties_where_no_single_move_or_whole_block_pays(tmp_path):
    problem = _problem(tmp_path)
    for move in (improved, emptied, runs_recreated, repacked):
        ledger = holding(problem, STUCK)
        move(problem, ledger, list(STUCK), None)
        assert ledger.total() == pytest.approx(8.0), move.__name__
    ledger = holding(problem, STUCK)
    spots = stretches_emptied(problem, ledger, STUCK, None)
    assert ledger.total() == pytest.approx(7.0)
    assert {(s.demand, s.node, s.start) for s in spots} == {("j0", 1, 2), ("j1", 0, 1), ("j2", 0, 0),
                                                            ("j3", 1, 2)}
    assert _spot_violations(problem, spots) == []
    # the search reaches it (the code before this move stayed at 8)
    searched_ledger = holding(problem, STUCK)
    found = searched(problem, searched_ledger, list(STUCK), None)
    assert searched_ledger.total() == pytest.approx(7.0) and _spot_violations(problem, found) == []


def test_a_stretch_that_does_not_pay_leaves_the_schedule_as_it_was(tmp_path):
    problem = _problem(tmp_path)
    best = [Spot("j0", 0, "n", 1, 2, 4), Spot("j1", 0, "n", 0, 1, 4), Spot("j2", 0, "n", 0, 0, 3),
            Spot("j3", 0, "n", 1, 2, 5)]
    ledger = holding(problem, best)
    assert stretches_emptied(problem, ledger, best, None) == best
    assert ledger.total() == pytest.approx(7.0)
    assert (ledger.running["n"] == holding(problem, best).running["n"]).all()


def test_a_blocks_stretches_are_its_steps_sets_and_their_neighbours_unions(tmp_path):
    """Node 0's block in STUCK: {j2} at 0-1, {j2, j1} at 2, {j1, j3} at 3-4, {j3} at 5 (spots 2,
    1, 3 of STUCK). Of at least two replicas and not all three: the sets at hours 2 and 3-4; the
    unions of two or three neighbours are one of those again or all three."""
    problem = _problem(tmp_path)
    assert _stretches(problem, STUCK, [1, 2, 3], 0, 6) == [(1, 2), (1, 3)]


# four 10-CPU nodes, 6 cheap steps (1.1 USD a node-step; `test_timing_window._text`). Node 1
# holds r0 (2 CPUs, 0-6): 8 free throughout. Node 2 holds r1 (2 CPUs, 0-2) and r2 (10 CPUs,
# 2-5): 8 free at 0-2, none after. Node 0's block (0-5) holds r3 (8 CPUs, 0-2) and r4 (2 CPUs,
# 0-5); every start fixed. Emptied the largest first (r3: 0.8 of a node x 2 h, r4: 0.2 x 5 h),
# r3 takes node 1's room (the first node where it adds nothing) and r4 then fits no awake node:
# it wakes one for 5 steps, all that emptying the block saved. The longest first, r4 goes to
# node 1 and r3 to node 2: node 0 sleeps, 17.6 -> 12.1 USD, the least (14 CPUs at 0-5: two nodes,
# one at step 5)
LONGEST_FIRST = [(2, 6, 0, 6), (2, 2, 0, 2), (10, 3, 2, 5), (8, 2, 0, 2), (2, 5, 0, 5)]
LONGEST_FIRST_START = ((1, 0), (2, 0), (2, 2), (0, 0), (0, 0))


def test_a_block_whose_replicas_fit_the_room_awake_only_the_longest_first_is_emptied(tmp_path):
    problem = problem_from(tmp_path, _text(4, 4, [CHEAP] * 6, LONGEST_FIRST))
    spots = _spots(LONGEST_FIRST_START, LONGEST_FIRST)
    largest = holding(problem, spots)
    assert largest.total() == pytest.approx(17.6)
    assert emptied(problem, largest, spots, None, {("small", 0)}) == spots  # the largest first
    ledger = holding(problem, spots)
    moved = blocks_emptied_longest_first(problem, ledger, spots, None)
    assert _chosen(moved) == ((1, 0), (2, 0), (2, 2), (2, 0), (1, 0))
    assert ledger.total() == pytest.approx(12.1)
    assert float(horizon_value(problem, timed_assignments(problem, moved))) == pytest.approx(12.1)
    assert _spot_violations(problem, moved) == []
