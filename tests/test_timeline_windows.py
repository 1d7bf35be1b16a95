"""A class's emptiest awake nodes at a step giving up their replicas near it, placed again in
several orders (session 59, h59f): `timeline_windows`. Checked against every schedule of a tiny
instance enumerated by `test_timing_window._schedules` (node-hours awake x the node's price),
which shares no code with the search."""

from __future__ import annotations

from fractions import Fraction

import pytest
from test_timing import _spot_violations, problem_from
from test_timing_window import CHEAP, _chosen, _schedules, _spots, _text

from fitlang.solve.timeline import horizon_value, timed_assignments
from fitlang.solve.timeline_fill import filled
from fitlang.solve.timeline_pack import emptied, holding, improved, repacked, runs_recreated
from fitlang.solve.timeline_stretches import blocks_emptied_longest_first, stretches_emptied
from fitlang.solve.timeline_windows import _orders, _wasteful_steps, windows_emptied

# three 10-CPU nodes over 6 h (1.1 USD a node-hour); r0 6 CPUs 3 h in hours 2-5, r1 2 CPUs 3 h
# in 2-4, r2 4 CPUs 4 h at hour 2 only, r3 6 CPUs 3 h at hour 3 only. As placed: node 2 holds r2
# (2-5) and r0 (3-5), node 0 r1 (2-4) and r3 (3-5): both awake 4 h, 8.8 USD. The optimum (the
# enumeration's least) 7.7: r2 and r3 on one node (10 CPUs at 3-5), r0 and r1 at 2-4 on another.
# No replica moves alone (each node is full at 3-5 or its replica's window keeps its hours), no
# node's block or stretch of it fits the other node around what stays there: the two nodes'
# replicas must go back together, which is the windows' neighbourhood (both nodes at a step)
TWO_HALF_NODES = [(6, 3, 2, 6), (2, 3, 2, 5), (4, 4, 2, 6), (6, 3, 3, 6)]
TWO_HALF_NODES_START = ((2, 3), (0, 2), (2, 2), (0, 3))


def test_two_nodes_emptied_together_at_a_step_where_no_move_of_one_node_pays(tmp_path):
    prices = [CHEAP] * 6
    problem = problem_from(tmp_path, _text(3, 3, prices, TWO_HALF_NODES))
    schedules = _schedules(3, 3, prices, TWO_HALF_NODES)
    assert schedules[TWO_HALF_NODES_START] == Fraction(88, 10) and min(schedules.values()) == Fraction(77, 10)
    spots = _spots(TWO_HALF_NODES_START, TWO_HALF_NODES)
    for move in (improved, emptied, runs_recreated, repacked, stretches_emptied, blocks_emptied_longest_first,
                 filled):
        ledger = holding(problem, spots)
        assert _chosen(move(problem, ledger, list(spots), None)) == TWO_HALF_NODES_START, move.__name__
        assert ledger.total() == pytest.approx(8.8), move.__name__
    ledger = holding(problem, spots)
    moved = windows_emptied(problem, ledger, list(spots), None)
    assert ledger.total() == pytest.approx(7.7)
    assert schedules[_chosen(moved)] == Fraction(77, 10)  # the enumeration's cost of what it chose
    assert float(horizon_value(problem, timed_assignments(problem, moved))) == pytest.approx(7.7)
    assert _spot_violations(problem, moved) == []


def test_the_steps_are_taken_the_most_unused_first_and_the_orders_each_once(tmp_path):
    prices = [CHEAP] * 6
    problem = problem_from(tmp_path, _text(3, 3, prices, TWO_HALF_NODES))
    spots = _spots(TWO_HALF_NODES_START, TWO_HALF_NODES)
    ledger = holding(problem, spots)
    # unused shares of the awake nodes: hour 2 (node 0 0.8 unused, node 2 0.6) first, then
    # hour 5 (node 0 0.4, node 2 0.4), then 3 and 4 (both nodes full); hours 0-1 asleep
    assert _wasteful_steps(ledger) == [("small", 2), ("small", 5), ("small", 3), ("small", 4)]
    # the largest first (share x hours: r0 1.8, r3 1.8, r2 1.6, r1 0.6), the longest first (r2's 4 h,
    # then by size), by start (r2 and r1 at 2, r0 and r3 at 3; the larger first), the least slack
    # first (r3, r2, r1 have none, r0 one step)
    assert _orders(problem, ledger, spots) == [[0, 3, 2, 1], [2, 0, 3, 1], [2, 1, 0, 3], [3, 2, 1, 0]]
    # r0 and r3 alike but for slack: the largest, longest and by-start orders are one, tried once
    assert _orders(problem, ledger, [spots[0], spots[3]]) == [[0, 1], [1, 0]]
