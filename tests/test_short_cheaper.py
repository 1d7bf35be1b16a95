"""short_cheaper.py: a short placement proven to place the most by priority, placed again
cheaper with the same replicas of each workload."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from fitlang.solve.linear import Status
from fitlang.solve.placement_result import Placement
from fitlang.solve.short_cheaper import cheaper_at_same_counts, kept_only

import reference
from solving import _placed_by_level, problem_from, solved


def _gang_beside_gang() -> str:
    """`bench/mixed_rules.py` seed 56: `x1` (priority 5, a gang of 124, one a node by `spread
    node max_skew 1` over 134 nodes, never beside `x0`) leaves 10 nodes, too few for `x0` (a
    gang of 64 one a node): the most by priority is `x1` whole, at the least on the 82 nodes
    at 0.40, 8 at 1.20, 30 at 1.60 and 4 of `m3`'s at 2.00: 98.40."""
    pools = [reference.Pool("m0", 28, 4, 64, 40, zone="z2", region="r1"),
             reference.Pool("m1", 30, 8, 16, 160, "G24", 2, "z3", "r2"),
             reference.Pool("m2", 54, 8, 16, 40, zone="z3", region="r2"),
             reference.Pool("m3", 14, 16, 16, 200, zone="z3", region="r2"),
             reference.Pool("m4", 8, 4, 32, 120, zone="z3", region="r2")]
    x0 = reference.Workload("x0", 64, 4000, 1, gang=True, rules=[("self", "node", True)])
    x1 = reference.Workload("x1", 124, 2000, 1, priority=5, gang=True, spreads=[("node", 1)],
                            rules=[("x0", "node", True)])
    return reference.to_fit(reference.Spec(pools, [x0, x1], allow_unplaced=True))


def test_the_most_by_priority_placed_at_its_least_cost(tmp_path):
    # before: the floor ran x1 on 18 of m0's nodes and all 14 of m3's (114.40, `feasible`):
    # the search that lowers the cost runs only on a complete floor
    problem = problem_from(tmp_path, _gang_beside_gang())
    placement = solved(problem, time_limit=30.0)
    assert _placed_by_level(problem, placement) == {5: 124, 0: 0}
    assert placement.value == placement.bound == Fraction("98.4")
    assert placement.status is Status.OPTIMAL
    assert sorted(u.replica for u in placement.unplaced) == list(range(64))


def test_the_cut_policy_keeps_each_workloads_placed_replicas(tmp_path):
    problem = problem_from(tmp_path, _gang_beside_gang())
    placement = solved(problem, time_limit=30.0)
    cut = kept_only(problem, placement)
    assert not cut.allow_unplaced
    assert {d.name: d.replicas for d in cut.demands} == {"x0": 0, "x1": 124}
    assert Counter(a.workload for a in placement.assignments) == {"x1": 124}


def test_not_tried_unless_the_most_is_proven(tmp_path):
    problem = problem_from(tmp_path, _gang_beside_gang())
    placement = solved(problem, time_limit=30.0)
    short = Placement(Status.FEASIBLE, "cost", Fraction(1000), Fraction(1), placement.assignments,
                      placement.unplaced)

    def never(cut, limit):
        raise AssertionError("solved again")

    assert cheaper_at_same_counts(problem, short, False, never, None, 0.0) is short
