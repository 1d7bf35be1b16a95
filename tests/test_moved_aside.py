"""moved_aside.py: a short replica placed where a replica of another workload moves aside to
room of its own. Held to placements worked out by hand and to `verify`."""

from __future__ import annotations

from fractions import Fraction

from fitlang.solve.aggregate import opener
from fitlang.solve.moved_aside import loose_workloads, moved_aside
from fitlang.solve.pack import pack, repair
from fitlang.solve.placement import _packed_value

from solving import pool, problem_from, verified_packing, workload

FAR = 1e12  # a deadline no test reaches


def _fleet(any_rule: str = "") -> str:
    # pools a (1 USD/h) and b (2 USD/h) of one 4-CPU node each, in zones a and b. `anywhere`
    # (4 CPUs) may use either, `pinned` (4 CPUs) only a. Both counted on a: `pack` puts
    # `anywhere` there first (by name), and `repair` finds no room for `pinned` in a
    return (pool("a", 1, 4, "16Gi", 1, '  zone = "a"\n') + pool("b", 1, 4, "16Gi", 2, '  zone = "b"\n')
            + workload("anywhere", 1, 4, "1Gi", any_rule)
            + workload("pinned", 1, 4, "1Gi", "  require pool in [a]\n"))


def _short_packing(problem):
    counts, planned = {("anywhere", "a"): 1, ("pinned", "a"): 1}, {"a": 1}
    packing = pack(problem, counts, planned)
    repair(problem, packing, opener(problem, planned))
    return packing, opener(problem, {"a": 1, "b": 1})


def test_the_pinned_replica_takes_the_node_the_other_leaves_for_room_of_its_own(tmp_path):
    problem = problem_from(tmp_path, _fleet())
    packing, may_open = _short_packing(problem)
    assert packing.short_by_workload == {("pinned", "a"): 1}  # (what the test is about)
    assert moved_aside(problem, packing, may_open, FAR) == 1
    assert packing.complete and _packed_value(problem, packing, "cost") == Fraction(3)
    assert [n.hosted for n in packing.nodes["a"]] == [{"pinned": 1}]
    assert [n.hosted for n in packing.nodes["b"]] == [{"anywhere": 1}]
    verified_packing(problem, packing)


def test_a_workload_under_a_zone_spread_is_not_moved(tmp_path):
    # moving `anywhere` would change its zones' counts: it is not loose, and `pinned` stays out
    problem = problem_from(tmp_path, _fleet("  spread zone max_skew 1\n"))
    assert loose_workloads(problem) == {"pinned"}
    packing, may_open = _short_packing(problem)
    assert moved_aside(problem, packing, may_open, FAR) == 0
    assert packing.short_by_workload == {("pinned", "a"): 1}


def test_a_workload_another_keeps_apart_from_by_zone_is_not_moved(tmp_path):
    # `far` must not share a zone with `anywhere`: moving `anywhere` to b could break that
    text = _fleet() + workload("far", 1, 1, "1Gi", "  anti_affinity anywhere on zone\n")
    assert loose_workloads(problem_from(tmp_path, text)) == {"pinned"}
