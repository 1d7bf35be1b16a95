"""The fleet-scale model's u(1) rows (fitlang/solve/fragment_rows.py): replicas over half a node
take a node each, which the class's summed capacity does not see."""

from __future__ import annotations

from fitlang.model.problem import one_class_per_node
from fitlang.solve.backends import HighsBackend
from fitlang.solve.encode import encode
from fitlang.solve.linear import Status
from fitlang.solve.placement import EXACT_MAX_NODES
from tests.solving import problem_from, solved


def _pool(name: str, count: int, cpu: int, price: str) -> str:
    return (f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = 64Gi\n"
            f"  price = {price} USD/h\n}}\n")


def _workload(name: str, replicas: int, cpu: int) -> str:
    return f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = 1Gi\n}}\n"


def test_the_fleet_scale_bound_counts_a_node_for_each_replica_over_half_of_one(tmp_path):
    # 60 nodes of 8 CPUs (past the exact per-node path): x and z 5 replicas of 5 CPUs each, y
    # 10 of 2. The class's sums say 70 CPUs on 9 nodes, and each of x and z alone 5 nodes; no
    # node holds two of x and z, so 10 nodes (y beside them) is the optimum, as the exact
    # per-node model finds. The bound stated (no time limit) is that optimum where the model
    # has the u(1) row; the start tree stated 9 (10% gap, `feasible`).
    problem = problem_from(tmp_path, _pool("p", 60, 8, "1") + _workload("x", 5, 5) + _workload("z", 5, 5)
                           + _workload("y", 10, 2))
    assert sum(c.count for c in problem.classes) > EXACT_MAX_NODES
    exact = encode(one_class_per_node(problem))
    reference = HighsBackend().minimise(exact.model, exact.objective("cost"), 60)
    assert reference.status is Status.OPTIMAL and reference.objective == 10
    placement = solved(problem)  # verified
    assert placement.value == reference.objective
    assert placement.bound == reference.objective
    assert placement.status is Status.OPTIMAL
