"""pattern_pack.py: a class `pack` left short of the aggregate model's counts, packed again by
node patterns. Held to placements worked out by hand and to `verify`."""

from __future__ import annotations

import time
from fractions import Fraction

from fitlang.model.problem import RESOURCES
from fitlang.solve.aggregate import completed
from fitlang.solve.pack import pack
from fitlang.solve.pattern_pack import _patterns, pattern_packed
from fitlang.solve.placement import _packed_value

from solving import pool, problem_from, verified_packing, workload

FAR = 1e12  # a deadline no test reaches


def _two_nodes(extra_pool: str = "", rule: str = "", times: int = 1) -> str:
    # two 16-CPU / 64 GiB nodes at 1 USD/h; by hand each holds one 8 CPU / 8 GiB, one 4 / 16
    # and two 1 / 16 (14 CPUs, 56 GiB): every replica fits on the two. `pack` puts the
    # memory-heavy replicas together first and leaves two out (the session-33 pools shape).
    # `times`: that many times over
    return (pool("p", 2 * times, 16, "64Gi", 1) + extra_pool
            + workload("small", 4 * times, 1, "16Gi", rule) + workload("mid", 2 * times, 4, "16Gi")
            + workload("big", 2 * times, 8, "8Gi"))


def _counts(times: int = 1) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    return {("small", "p"): 4 * times, ("mid", "p"): 2 * times, ("big", "p"): 2 * times}, {"p": 2 * times}


def test_the_model_counts_pack_short_packs_whole_on_the_nodes_counted(tmp_path):
    problem = problem_from(tmp_path, _two_nodes())
    counts, planned = _counts()
    packing = pack(problem, counts, planned)
    assert sum(packing.short.values()) == 2  # (what this test is about: pack's order misses it)
    assert pattern_packed(problem, packing, counts, planned, FAR) == 2
    assert packing.complete and packing.opened("p") == 2
    verified_packing(problem, packing)


def test_the_completion_at_scale_takes_no_dearer_node_where_the_patterns_fit(tmp_path):
    # the two nodes 200 times over, and a pool q of 200 such nodes at 5 USD/h. `pack` leaves
    # 200 replicas out of p's 400 nodes; before pattern_pack.py the completion opened 45 of q
    # for them (625 USD/h; the groups' exact program is for groups of a few hundred columns,
    # and repack's moves are a few nodes at a time). The least is 400: weigh a replica of 8
    # CPUs 1/2, of 4 CPUs 1/4, of 1 CPU 1/8: no node holds more than 1 (two of 8 fill its
    # CPUs; one of 8 leaves 8 CPUs and 56 GiB: two of 4, or one of 4 and two of 1; none of 8:
    # at most four of 16 GiB), and the replicas weigh 200 + 100 + 100 = 400 nodes
    problem = problem_from(tmp_path, _two_nodes(pool("q", 200, 16, "64Gi", 5), times=200))
    counts, planned = _counts(200)
    packing = pack(problem, counts, planned)
    assert sum(packing.short.values()) == 200
    packing = completed(problem, counts, planned, packing, "cost", True, time.monotonic() + 3)
    assert packing.complete and _packed_value(problem, packing, "cost") == Fraction(400)
    verified_packing(problem, packing)


def test_replicas_kept_apart_on_a_node_keep_pack_s_nodes(tmp_path):
    # one a node: a rule the patterns do not count, so the class is left as `pack` left it
    problem = problem_from(tmp_path, _two_nodes(rule="  anti_affinity self on node\n"))
    counts, planned = {("small", "p"): 2, ("mid", "p"): 2, ("big", "p"): 2}, {"p": 2}
    packing = pack(problem, counts, planned)
    short = dict(packing.short)
    assert pattern_packed(problem, packing, counts, planned, FAR) == 0
    assert packing.short == short


def test_the_maximal_patterns_counted_by_hand(tmp_path):
    # a 16 CPU / 64 GiB node, replicas of 1 CPU / 16 GiB and 8 / 8: four of the first (memory
    # full); one of the second and three of the first (5 CPUs, 8 GiB left: neither fits);
    # two of the second (no CPU left). Fewer of either is not maximal
    problem = problem_from(tmp_path, _two_nodes())
    shape = {d.name: tuple(d.requests[r] for r in RESOURCES) for d in problem.demands}
    capacity = tuple(problem.node_class("p").capacity[r] for r in RESOURCES)
    shapes = sorted([shape["small"], shape["big"]])
    found = {dict(zip(shapes, pattern))[shape["small"]]: dict(zip(shapes, pattern))[shape["big"]]
             for pattern in _patterns(capacity, shapes, [10, 10])}
    assert found == {4: 0, 3: 1, 0: 2}
    # each count at most its need: with two of the first needed, two and one of the second
    assert len(_patterns(capacity, shapes, [2, 10])) == 2


def test_small_shapes_on_a_large_node_are_given_up_in_a_bounded_time():
    # eight shapes of 1 CPU on a 192-CPU node: the partial patterns number about 10^13; the
    # enumeration stops at MAX_VISITS and the class keeps `pack`'s nodes
    started = time.process_time()
    shapes = [(1, size) for size in range(1, 9)]
    assert _patterns((192, 4096), shapes, [10_000] * 8) is None
    assert time.process_time() - started < 5


def test_a_class_s_program_with_no_user_limit_answers_on_any_machine(tmp_path, monkeypatch):
    # with no --time-limit the class's program runs to the default limit's end (`highs_limited`)
    # and its answer is kept however long it took: the start tree dropped it where it ended past
    # its CLASS_SECONDS on the clock, so a machine slow enough kept `pack`'s 200 short replicas
    # and one fast enough packed them (400 nodes: the module's test above)
    from test_work import _counted

    problem = problem_from(tmp_path, _two_nodes(pool("q", 200, 16, "64Gi", 5), times=200))
    counts, planned = _counts(200)

    def packed() -> tuple[int, dict]:
        packing = pack(problem, counts, planned)
        return pattern_packed(problem, packing, counts, planned, time.monotonic() + FAR), dict(packing.short)

    fast, slow = (_counted(monkeypatch, speed, FAR, packed) for speed in (1000.0, 0.001))
    assert fast == slow == (200, {})
