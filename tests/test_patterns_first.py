"""patterns_first.py: the aggregate model's counts packed by node patterns first on the classes
whose replicas have no node-level rule, `pack` on the others; and the packing time the budget
keeps for that. Held to placements worked out by hand and to `verify`."""

from __future__ import annotations

import time

from fitlang.solve.budget import PACK_CPU_PER_REPLICA, Budget
from fitlang.solve.pack import pack
from fitlang.solve.patterns_first import PATTERN_CPU_PER_CLASS, packing_cpu, patterns_first, plain_classes
from fitlang.solve.placement import _model_window, _Run

from solving import pool, problem_from, verified_packing, workload

FAR = 1e12  # a deadline no test reaches


def _two_nodes(rule: str = "", times: int = 1) -> str:
    # two 16-CPU / 64 GiB nodes: by hand each holds one 8 CPU / 8 GiB, one 4 / 16 and two
    # 1 / 16 (14 CPUs, 56 GiB), so every replica fits on the two; `pack` puts the memory-heavy
    # replicas together first and leaves two out (test_pattern_pack.py). `times`: that many
    # times over, beside a second pool `q` of as many such nodes
    return (pool("p", 2 * times, 16, "64Gi", 1) + pool("q", 2 * times, 16, "64Gi", 5)
            + workload("small", 4 * times, 1, "16Gi", rule) + workload("mid", 2 * times, 4, "16Gi")
            + workload("big", 2 * times, 8, "8Gi"))


def _counts() -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    return {("small", "p"): 4, ("mid", "p"): 2, ("big", "p"): 2}, {"p": 2}


def test_the_counts_pack_whole_on_the_nodes_counted_where_pack_leaves_two_out(tmp_path):
    problem = problem_from(tmp_path, _two_nodes())
    counts, planned = _counts()
    assert sum(pack(problem, counts, planned).short.values()) == 2  # (main's packing of the round)
    plain = plain_classes(problem)
    assert plain == {"p", "q"}
    packing = patterns_first(problem, counts, planned, plain, FAR)
    assert packing.complete and packing.opened("p") == 2 and packing.patterned == {"p"}
    verified_packing(problem, packing)


def test_a_class_with_a_node_rule_is_packed_by_pack(tmp_path):
    # one `small` a node: a rule the patterns do not count, so neither pool is plain (both
    # may take it) and the packing is `pack`'s
    problem = problem_from(tmp_path, _two_nodes(rule="  anti_affinity self on node\n"))
    counts, planned = {("small", "p"): 2, ("mid", "p"): 2, ("big", "p"): 2}, {"p": 2}
    assert plain_classes(problem) == set()
    packing = patterns_first(problem, counts, planned, set(), FAR)
    assert packing.short == pack(problem, counts, planned).short and not packing.patterned


def test_the_budget_keeps_the_patterns_time_for_plain_classes(tmp_path):
    # 2,000 times over: 16,000 replicas, 0.64 CPU s of `pack` kept on main; both pools are
    # plain, so two classes' patterns; with the node rule, `pack`'s time for every replica
    problem = problem_from(tmp_path, _two_nodes(times=2000))
    assert packing_cpu(problem, plain_classes(problem)) == 2 * PATTERN_CPU_PER_CLASS
    ruled = problem_from(tmp_path, _two_nodes(rule="  anti_affinity self on node\n", times=2000))
    assert packing_cpu(ruled, plain_classes(ruled)) == PACK_CPU_PER_REPLICA * 16_000


def test_the_patterns_pack_first_only_where_pack_s_time_leaves_the_model_less(tmp_path):
    # 16,000 replicas: `pack`'s 0.64 CPU s kept. Search ending in 1 s: the model's window is
    # about (1 - 0.64) x 0.8 = 0.29 s, less than that packing: the plain pools by patterns,
    # and the model's deadline later by what they save. In 10 s: about 7.5 s, `pack` as before
    problem = problem_from(tmp_path, _two_nodes(times=2000))

    def window(seconds: float) -> tuple[float | None, set[str]]:
        run = _Run(problem, "auto", ["cost"], Budget(time.monotonic() + seconds, seconds),
                   lambda stage, value, bound: None, True, search_deadline=time.monotonic() + seconds)
        return _model_window(run)

    started = time.monotonic()
    deadline, plain = window(1.0)
    assert plain == {"p", "q"} and deadline is not None and deadline - started > 0.6
    assert window(10.0)[1] == set()
