"""A short greedy floor placed again with the workloads that have the fewest nodes first
(`scarce_first.py`, issue 15, "anytime"): where a workload of higher priority that may go
anywhere takes the only zone a pinned one may use, and the room it needs elsewhere is taken by
one of middling priority that could move, the priority order, the pass with the short
workloads first and the completion tools each leave a replica out; the fewest-nodes order places
all. The fleet-scale path forced (no whole model, as at 10,000 nodes)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import bench_module, pool, problem_from, workload


@pytest.fixture
def fleet_path(monkeypatch):
    import fitlang.solve.placement as placement_module

    monkeypatch.setattr(placement_module, "_whole_model_pays", lambda *args: False)


def _chain() -> str:
    """a, b: one 8-CPU node each at 1 USD/h; c: two at 3. f (priority 20, b or c, 2 x 4 CPUs)
    fills b, the cheaper; m (10, a or b) fills a; z (1, a only) finds no room. All fit with f
    on c, m on b, z on a (a chain of two moves): 5 USD/h, the least (z must have a, then m b)."""
    return (pool("a", 1, 8, "32Gi", 1, '  zone = "a"\n') + pool("b", 1, 8, "32Gi", 1, '  zone = "b"\n')
            + pool("c", 2, 8, "32Gi", 3, '  zone = "c"\n')
            + workload("f", 2, 4, "2Gi", '  zones = ["b", "c"]\n  priority = 20\n')
            + workload("m", 2, 4, "2Gi", '  zones = ["a", "b"]\n  priority = 10\n')
            + workload("z", 2, 4, "2Gi", '  zones = ["a"]\n  priority = 1\n')
            + "policy {\n  allow_unplaced = true\n}\n")


def test_scarcity_counts_the_nodes_a_workload_may_use_and_a_spreads_smallest_domain(tmp_path):
    from fitlang.solve.scarce_first import scarcity

    text = (pool("a", 3, 8, "32Gi", 1, '  zone = "a"\n') + pool("b", 1, 8, "32Gi", 1, '  zone = "b"\n')
            + workload("anywhere", 1, 4, "2Gi") + workload("pinned", 1, 4, "2Gi", '  zones = ["a"]\n')
            + workload("spreading", 2, 4, "2Gi", "  spread zone max_skew 1\n"))
    problem = problem_from(tmp_path, text)
    # 4 nodes; 3 in zone a; a spread over a and b takes a share of b's one node in each: 1 x 2
    names = ("anywhere", "pinned", "spreading")
    assert [scarcity(problem, problem.demand(name)) for name in names] == [4, 3, 2]


def test_the_priority_order_and_the_short_first_pass_leave_the_pinned_workload_out(tmp_path):
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.make_room import left_out
    from fitlang.solve.scarce_first import scarce_first

    problem = problem_from(tmp_path, _chain())
    floor = greedy_floor(problem, short_first=True)[0]
    assert left_out(problem, floor) == (0, 0, 2)
    assert left_out(problem, scarce_first(problem, floor, None)) == (0, 0, 0)


def _solved(problem):
    from fitlang.solve.placement import _solve

    placement = _solve(problem, "auto", 5.0, relax=True)
    allowing = dataclasses.replace(problem, allow_unplaced=True)
    violations, problems = verify(allowing, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [], [v.message for v in violations] + problems
    return placement


def test_the_fleet_solve_places_every_replica_at_the_least_cost(tmp_path, fleet_path):
    placement = _solved(problem_from(tmp_path, _chain()))
    assert placement.unplaced == [] and placement.value == 5


def test_a_tight_zoned_fleet_with_a_planted_placement_is_completed(tmp_path, fleet_path):
    # bench/planted_fleets.py's `zones` at 300 nodes, seed 3: every replica fits by
    # construction; the old solve left 9 replicas of a zone-pinned workload (priority 1) out
    text = bench_module("planted_fleets").zones(3, 300)
    problem = problem_from(tmp_path, text)
    assert _solved(problem).unplaced == []


def test_a_pass_that_leaves_a_higher_priority_out_is_not_kept(tmp_path):
    # a and b: one 8-CPU node each. h (priority 20, 3 x 4 CPUs) takes a (the cheaper) and half
    # of b; z (1, a only) is left out (2 replicas). The fewest-nodes order puts z on a first,
    # and one replica of h is left out for it: not kept
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.make_room import left_out
    from fitlang.solve.scarce_first import scarce_first

    text = (pool("a", 1, 8, "32Gi", 1, '  zone = "a"\n') + pool("b", 1, 8, "32Gi", 2, '  zone = "b"\n')
            + workload("h", 3, 4, "2Gi", "  priority = 20\n")
            + workload("z", 2, 4, "2Gi", '  zones = ["a"]\n  priority = 1\n')
            + "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    floor = greedy_floor(problem, short_first=True)[0]
    assert left_out(problem, floor) == (0, 2)
    assert scarce_first(problem, floor, None) is floor


def test_the_pass_stops_at_the_workload_that_leaves_out_more_at_a_level_than_the_floor(tmp_path):
    # the setup above and `late` (priority 0, anywhere, after h in the fewest-nodes order): the
    # floor leaves out z's 2 replicas at level 1, none at 20 or 0; the pass, told that, stops at
    # h, which leaves one replica out at 20, and never places `late` (it could not be kept)
    from fitlang.solve.greedy import greedy_floor, greedy_in_order
    from fitlang.solve.scarce_first import most_out_by_level, scarcity

    text = (pool("a", 1, 8, "32Gi", 1, '  zone = "a"\n') + pool("b", 1, 8, "32Gi", 2, '  zone = "b"\n')
            + workload("h", 3, 4, "2Gi", "  priority = 20\n")
            + workload("z", 2, 4, "2Gi", '  zones = ["a"]\n  priority = 1\n')
            + workload("late", 1, 1, "1Gi")
            + "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    floor = greedy_floor(problem, short_first=True)[0]
    most = most_out_by_level(problem, floor)
    assert most == {20: 0, 1: 2, 0: 0}
    rank = {demand.name: scarcity(problem, demand) for demand in problem.demands}
    assert greedy_in_order(problem, rank)[1] == set()
    assert greedy_in_order(problem, rank, most_out=most)[1] == {"h", "late"}
