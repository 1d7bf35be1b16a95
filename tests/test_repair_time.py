"""The search ends sooner by what `whole_cores`' repair of the greedy floor's overfull nodes is
expected to take (`fitlang/solve/repair_time.py`, issue 15): an oversubscribed Slurm cluster
(bench/hpc_queue.py 10,000 nodes) began its repair past its deadline and left replicas out
there, the command past its limit."""

from __future__ import annotations

import dataclasses

import pytest
from test_whole_cores import _write

from fitlang.solve import repair_time
from fitlang.solve.budget import Budget
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.whole_cores import CHECK_CPU_PER_REPLICA, REPAIR_CPU_PER_REPLICA


def _floor(problem, hosted: dict[str, dict[str, int]]) -> Packing:
    """A packing of these nodes' replicas (node -> workload -> replicas)."""
    packing = Packing()
    for name, jobs in hosted.items():
        node_class = problem.owners().find(name)[0]
        node = NodeState(name, dict(node_class.capacity), dict(jobs))
        packing.nodes.setdefault(node_class.id, []).append(node)
    return packing


def test_a_node_overfull_in_whole_cores_per_job_is_counted_and_its_repair_kept_from_the_search(tmp_path):
    # two 4-CPU nodes of 2 threads a core: a's job of 3 x 1 CPU takes 4 CPUs (2 cores), c's of
    # 1 takes 2; n1 with both holds 6 of 4 (the model counts 4: one a core-thread each)
    compilation = _write(tmp_path, [("n1", 4, 2), ("n2", 4, 2)], [("a", 3, "1"), ("c", 2, "1")])
    problem = compilation.problem
    overfull = _floor(problem, {"n1": {"a": 3, "c": 1}, "n2": {"c": 1}})
    fitting = _floor(problem, {"n1": {"a": 3}, "n2": {"c": 2}})
    assert repair_time.overfull_nodes(problem, overfull) == 1
    assert repair_time.overfull_nodes(problem, fitting) == 0
    budget = Budget.starting_now(10.0)
    plain = budget.search_deadline(5, len(problem.demands))
    assert repair_time.search_deadline(problem, fitting, budget, 5) == plain
    kept = repair_time.REPAIR_CPU_PER_OVERFULL_NODE + (CHECK_CPU_PER_REPLICA - REPAIR_CPU_PER_REPLICA) * 5
    sooner = plain - repair_time.search_deadline(problem, overfull, budget, 5)
    assert sooner == pytest.approx(budget.wall(kept))
    assert repair_time.search_deadline(problem, overfull, Budget.starting_now(None), 5) is None


def test_a_node_past_its_kubelets_pods_is_counted(tmp_path):
    compilation = _write(tmp_path, [("n1", 64, 1)], [("a", 3, "1")],
                         pool='pool k {\n  count = 1\n  cpu = 64\n  memory = 64Gi\n  price = 1 USD/h\n'
                              '  max_pods = 2\n}\n')
    problem = compilation.problem
    pool_node = next(c for c in problem.classes if c.max_pods == 2).node_names[0]
    assert repair_time.overfull_nodes(problem, _floor(problem, {pool_node: {"a": 3}, "n1": {"a": 0}})) == 1
    assert repair_time.overfull_nodes(problem, _floor(problem, {pool_node: {"a": 2}, "n1": {"a": 1}})) == 0


def test_the_repairs_moves_end_before_their_check_and_the_report(tmp_path, monkeypatch):
    # the moved answer is checked (`verify`, as long as the verdict's) after the moves: the
    # moves' deadline keeps its time too, not the report's alone
    from fitlang.solve import whole_cores
    from fitlang.solve.budget import FINISH_CPU_PER_REPLICA

    compilation = _write(tmp_path, [("n1", 4, 2), ("n2", 4, 2)], [("a", 3, "1"), ("c", 2, "1")])
    placement = compilation.solve("auto", 20.0)
    deadlines = []
    monkeypatch.setattr(whole_cores.time, "monotonic", lambda: 100.0)
    monkeypatch.setattr(whole_cores, "repaired",
                        lambda problem, answer, **given: deadlines.append(given["deadline"]))
    # (so many that the 5% least share is less)
    many = dataclasses.replace(placement, assignments=placement.assignments * 10_000)
    replicas = len(many.assignments)
    whole_cores.solved_and_repaired(compilation.problem, 10.0, lambda limit: many)
    assert deadlines == [pytest.approx(110.0 - (FINISH_CPU_PER_REPLICA + CHECK_CPU_PER_REPLICA) * replicas)]
