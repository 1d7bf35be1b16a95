"""`Ledger.cheapest` looks only at the nodes awake in a replica's window and the first of those
asleep throughout, and prices only nodes with a start that fits (session 29, h29j: the CPU of
`emptied`): its answers checked against `Ledger.nodes` start by start, a separate path that
looks at every node, and its helpers against loops written out here."""

from __future__ import annotations

import numpy as np
import pytest
from test_timing import problem_from

from fitlang.solve.timeline_pack import (
    _any_in_windows,
    _distinct_rows,
    _scheduled,
    floor_order,
    need_of,
    run_of,
)


def test_the_nodes_asleep_over_a_window_are_looked_at_once_by_the_first_of_them():
    waking = np.array([[False, True, True],   # awake at step 0
                       [True, True, True],    # asleep: the first of them
                       [True, True, False],   # awake at step 2
                       [True, True, True],    # asleep, alike node 1
                       [True, True, True]])
    rows, kept = _distinct_rows(waking)
    assert rows.tolist() == [0, 1, 2]
    assert (kept == waking[[0, 1, 2]]).all()
    alone = np.array([[True, True], [False, True]])  # one asleep: nothing to drop
    rows, kept = _distinct_rows(alone)
    assert rows.tolist() == [0, 1] and (kept == alone).all()


@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_a_window_is_barred_where_any_of_its_steps_is(width):
    flags = np.random.default_rng(width).random((6, 9)) < 0.2
    barred = _any_in_windows(flags, width)
    by_hand = [[bool(flags[row, k:k + width].any()) for k in range(9 - width + 1)] for row in range(6)]
    assert barred.tolist() == by_hand


def _by_nodes(ledger, demand, window):
    """The least any (class, start, node) adds for one replica, from `Ledger.nodes` at each
    start (every node, its own product of waking steps and rates); None where nothing fits."""
    need, least = need_of(demand), None
    for class_id in demand.eligible:
        for start in window.starts():
            fits, added = ledger.nodes(class_id, need, start, start + window.duration)
            if fits.any():
                value = float(added[fits].min())
                least = value if least is None else min(least, value)
    return least


def test_the_cheapest_place_is_the_least_that_any_node_at_any_start_adds(tmp_path):
    # the sites shape, small: each replica taken off in turn and priced both ways; where it
    # goes fits (`nodes`) and adds what `nodes` says, which is the least of every node's
    from solving import bench_module

    sites = bench_module("timing_sites")
    problem = problem_from(tmp_path, sites.policy_text(sites.generate(40, 48, 40, 2), "cost"))
    # the first round: a schedule with nodes awake, asleep and full (what it leaves out waits)
    ledger, spots, _ = _scheduled(problem, "cost", floor_order(problem))
    asleep_skipped = 0
    for spot in spots[::2]:
        demand = problem.demand(spot.demand)
        window = demand.windows[run_of(demand, spot.start)]
        ledger.drop(spot)
        found, least = ledger.cheapest(demand, window), _by_nodes(ledger, demand, window)
        assert (found is None) == (least is None)
        if found is not None:
            added, class_id, node, start = found
            fits, each = ledger.nodes(class_id, need_of(demand), start, start + window.duration)
            assert fits[node]
            assert added == pytest.approx(float(each[node]), abs=1e-9)
            assert added == pytest.approx(least, abs=1e-9)
            span = slice(window.earliest, window.latest_start + window.duration)
            asleep = (ledger.running[class_id][:, span] == 0).all(axis=1)
            # a node asleep over the whole window is the first of them (alike: the ties' rule)
            assert not asleep[node] or node == int(np.flatnonzero(asleep)[0])
            asleep_skipped += int(asleep.sum()) > 1
        ledger.put(spot)
    assert asleep_skipped > 0  # the instance has nodes the new path does not price
