"""outranked.py: a short replica of a plain workload placed in the room of loose replicas of
lower priority; most_placed.py's patterns keep workloads apart on a node apart."""

from __future__ import annotations

from dataclasses import replace

from fitlang.solve.linear import Status
from fitlang.solve.most_placed import most_placed
from fitlang.solve.outranked import outranked_room
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.placement_result import Unplaced

from solving import _placed_by_level, pool, problem_from, solved, workload


def apart(high: int = 10, low: int = 0, budget: int = 240) -> str:
    """`bench/differential_fleet.py` seed 4303: `w2` (a gang of 150, exclusive) and `w1` (156,
    8 a node of `p0`, never beside `w0` on a node) of priority `high`, `w0` (2 a node of `p0`)
    of priority `low`; the budget pays for every `p0` node and 6 of `p1` (3 USD/h, one replica
    each). With `w2`'s 6 replicas there, `p0` keeps 144 nodes for `w2`, 20 for `w1` (19 of 8,
    one of 4) and 56 for 112 of `w0`: the most by priority, at 238 USD/h."""
    return (pool("p0", 220, 8, "8GiB", "1.00", '  region = "r2"\n')
            + pool("p1", 230, 2, "32GiB", "3.00", '  zone = "z1"\n  region = "r1"\n')
            + workload("w0", 120, "2000m", "4GiB", f"  priority = {low}\n")
            + workload("w1", 156, "1000m", "1GiB", f"  priority = {high}\n  anti_affinity w0 on node\n")
            + workload("w2", 150, "2000m", "8GiB",
                       f"  priority = {high}\n  gang = true\n  exclusive = true\n")
            + f"policy {{\n  budget = {budget}.00 USD/h\n  allow_unplaced = true\n}}\n")


def test_the_most_by_priority_is_placed_and_proven(tmp_path, cpu_clock):
    # before: the model's counts packed 4 of w1 short, and the next round capped w1 on p0 and
    # gave up 3 replicas of w0 more for them (110 of w0, `unknown`); the patterns, blind to
    # the anti-affinity and fractional, bounded w0 at 113. The 20 s on the CPU clock: on the
    # wall at load 30 the proof did not come in time (`feasible`, alone and in a serial run)
    problem = problem_from(tmp_path, apart())
    placement = solved(problem, time_limit=20.0)  # (as `fitc solve`: with none the model's status stands)
    assert _placed_by_level(problem, placement) == {10: 306, 0: 112}
    assert placement.status is Status.OPTIMAL
    assert placement.value == placement.bound == 238


def test_the_patterns_prove_the_most_and_no_more(tmp_path, cpu_clock):
    # whole node counts per pattern, w1 never beside w0: w0's bound is 112, not 113; a
    # placement with two of w0 fewer is not proven
    problem = problem_from(tmp_path, apart())
    best = solved(problem, time_limit=20.0)
    proven = most_placed(problem, replace(best, status=Status.UNKNOWN, bound=None), "cost", None)
    assert proven.status is Status.OPTIMAL and proven.bound == 238
    dropped = [a for a in best.assignments if a.workload == "w0"][:2]
    short = replace(best, status=Status.UNKNOWN, bound=None,
                    assignments=[a for a in best.assignments if a not in dropped],
                    unplaced=[*best.unplaced, *(Unplaced("w0", a.replica, "") for a in dropped)])
    assert most_placed(problem, short, "cost", None).status is Status.UNKNOWN


def _short_beside(tmp_path, high: int, low: int):
    """Two 8-CPU nodes: one full of `w1`, one with a replica of `w0`; 4 of `w1` short (it may
    not join `w0`, and no node more may open)."""
    text = (pool("p0", 2, 8, "64GiB", "1.00")
            + workload("w0", 1, "2000m", "4GiB", f"  priority = {low}\n")
            + workload("w1", 12, "1000m", "1GiB", f"  priority = {high}\n  anti_affinity w0 on node\n")
            + "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    (node_class,) = problem.classes
    full, beside = ({r: node_class.capacity[r] for r in node_class.capacity} for _ in range(2))
    full["cpu"] -= 8000
    full["memory"] -= 8 * 2**30
    beside["cpu"] -= 2000
    beside["memory"] -= 4 * 2**30
    first, second = node_class.node_names[:2]
    nodes = [NodeState(first, full, {"w1": 8}), NodeState(second, beside, {"w0": 1})]
    packing = Packing({node_class.id: nodes}, {node_class.id: 4}, {("w1", node_class.id): 4})
    return problem, packing, node_class.id


def test_a_lower_priority_replica_makes_room(tmp_path):
    problem, packing, class_id = _short_beside(tmp_path, high=10, low=0)
    assert outranked_room(problem, packing, lambda node_class, packing: False)
    assert [node.hosted for node in packing.nodes[class_id]] == [{"w1": 8}, {"w1": 4}]
    assert packing.short_by_workload == {("w0", class_id): 1}


def test_a_replica_of_the_same_priority_keeps_its_room(tmp_path):
    # one of w1 for one of w0 gains nothing by priority: nothing changes
    problem, packing, class_id = _short_beside(tmp_path, high=5, low=5)
    assert not outranked_room(problem, packing, lambda node_class, packing: False)
    assert packing.short_by_workload == {("w1", class_id): 4}
