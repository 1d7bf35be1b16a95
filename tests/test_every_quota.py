"""The first guided pass with every workload placed by the pair LP's counts (`LPCounts.every`,
`gang_quotas.every_quota`), new nodes up to the LP's per class (`gang_quotas.lp_nodes`,
`Guide.quota_nodes`). Costs held to a hand count and to `verify`."""

from __future__ import annotations

import time
from dataclasses import replace
from fractions import Fraction

from fitlang.solve import bound_stages, placement
from fitlang.solve.bound import lower_bound
from fitlang.solve.gang_quotas import every_quota, lp_counts, lp_nodes
from fitlang.solve.greedy import Guide, greedy_floor

from solving import pool, problem_from, verified_cost, workload

# `anchor` (zone e only, first by priority) opens an `east` node (4 CPUs for 4 USD/h) and
# leaves 1 CPU. `anywhere` (4 x 1 CPU, next by priority) takes that CPU first, as free room is,
# and opens a `west` node (4 CPUs, 2 USD/h) for the other 3; `late` (zone e only, 1 CPU) then
# opens an `east_small` node (1.5): 7.5. The least, by hand: `anchor` needs an `east` node (4);
# the 5 CPUs left to place need 4 more than its free CPU, at least one `west` node (2): 6, with
# `late` in the east node's room and `anywhere` whole on the west node. The LP's solution is
# that one (east u = 1, west u = 1), and placed by its counts the pass finds it.
ZONED = (pool("east", 2, 4, "16GiB", "4", '  zone = "e"\n')
         + pool("west", 2, 4, "16GiB", "2", '  zone = "w"\n')
         + pool("east_small", 2, 1, "4GiB", "1.5", '  zone = "e"\n')
         + workload("anchor", 1, 3, "1GiB", '  zones = ["e"]\n  priority = 30\n')
         + workload("anywhere", 4, 1, "1GiB", "  priority = 20\n")
         + workload("late", 1, 1, "1GiB", '  zones = ["e"]\n  priority = 10\n'))


def test_every_workload_by_the_lps_counts_leaves_the_free_room_to_the_zone_bound_one(tmp_path):
    problem = problem_from(tmp_path, ZONED)
    relaxed = lower_bound(problem, "cost")
    assert relaxed.converged and round(float(relaxed.value), 6) == 6
    # without the LP's mixes filled first (lp_mixes.py, which places `anywhere` on `west` too)
    counts = replace(lp_counts(problem, relaxed), mixed_nodes=())
    guides = placement._guides(bound_stages.suggested(relaxed), counts)
    floor, _ = greedy_floor(problem)
    assert verified_cost(problem, floor) == Fraction("7.5")
    before = placement._cheapest_guided(problem, floor, guides[1:], "cost", 30.0, time.monotonic() + 30)
    assert verified_cost(problem, before) == Fraction("7.5")  # (the passes main had)
    assert guides[0].quotas == counts.every and guides[0].quota_nodes == counts.nodes
    best = placement._cheapest_guided(problem, floor, guides, "cost", 30.0, time.monotonic() + 30)
    assert verified_cost(problem, best) == 6
    # first of the guides: where the time holds one first pass (the child beside the placement
    # at 5 s on inventory 10,000), that one is it (session 36)
    first = placement._cheapest_guided(problem, floor, guides[:1], "cost", 30.0, time.monotonic() + 30)
    assert verified_cost(problem, first) == 6


def test_the_lps_nodes_are_rounded_up_and_dealt_to_a_merged_classs_members_in_id_order(tmp_path):
    # `a` and `b` are alike (merged in the LP); 18 CPUs of 1-CPU replicas on 4-CPU nodes:
    # 4.5 nodes, 5 with the LP's cover row (whole nodes): `a` has 3 of them, `b` the other 2;
    # 14 replicas, 4 nodes: 3 and 1; 6, 2 nodes: both `a`'s, and `b` none (0: a quota opens
    # none there, where a class not named has no limit)
    for replicas, nodes, dealt in ((18, 5, {"a": 3, "b": 2}), (14, 4, {"a": 3, "b": 1}),
                                   (6, 2, {"a": 2, "b": 0})):
        problem = problem_from(tmp_path, pool("a", 3, 4, "16GiB", "1") + pool("b", 3, 4, "16GiB", "1")
                               + workload("w", replicas, 1, "1GiB"))
        relaxed = lower_bound(problem, "cost")
        assert relaxed.node_values is not None and round(float(relaxed.node_values.sum()), 6) == nodes
        assert lp_nodes(problem, relaxed) == dealt


def test_services_are_counted_on_classes_without_gpus_only(tmp_path):
    # `infer` fills half the GPU node's CPUs; the LP puts `svc` in the other half (the GPU
    # node is paid for anyway): by count there it would open GPU nodes, so its quota is only
    # where the LP puts it on `cpu` nodes (none here)
    gpu = '  gpu {\n    model = L4\n    count = 1\n  }\n'
    problem = problem_from(tmp_path, 'import "std/accelerators"\n'
                           + pool("gpu", 1, 8, "32GiB", "1", gpu) + pool("cpu", 2, 4, "16GiB", "1")
                           + workload("infer", 1, 4, "1GiB", '  gpu {\n    count = 1\n  }\n')
                           + workload("svc", 4, 1, "1GiB"))
    relaxed = lower_bound(problem, "cost")
    assert round(float(relaxed.value), 6) == 1
    gpus = {"infer"}
    assert every_quota(problem, relaxed, gpus) == ()
    assert lp_counts(problem, relaxed).every == lp_counts(problem, relaxed).gpu_quotas
    # with the GPU node's room too small for `svc`, its quota is on `cpu`
    problem = problem_from(tmp_path, 'import "std/accelerators"\n'
                           + pool("gpu", 1, 8, "32GiB", "1", gpu) + pool("cpu", 2, 4, "16GiB", "1")
                           + workload("infer", 1, 7, "1GiB", '  gpu {\n    count = 1\n  }\n')
                           + workload("svc", 4, 1, "1GiB"))
    relaxed = lower_bound(problem, "cost")
    quotas = every_quota(problem, relaxed, gpus)
    assert sum(count for names, ids, count in quotas if ids == frozenset({"cpu"})) >= 3
    assert all(ids == frozenset({"cpu"}) for _, ids, _ in quotas)


def test_a_quota_opens_no_more_nodes_than_the_lp_has_there(tmp_path):
    # the quota asks 4 replicas of `w` on `a` (one per node), the LP's nodes there 2: the pass
    # opens 2 `a` nodes by the quota, the other replicas go as without (the `b` nodes)
    problem = problem_from(tmp_path, pool("a", 4, 4, "16GiB", "1") + pool("b", 4, 4, "16GiB", "2")
                           + workload("w", 4, 3, "1GiB", "  anti_affinity self on node\n"))
    quota = ((frozenset({"w"}), frozenset({"a"}), 4),)
    unlimited, _ = greedy_floor(problem, None, Guide(quotas=quota))
    assert len(unlimited.nodes["a"]) == 4
    limited, _ = greedy_floor(problem, None, Guide(quotas=quota, quota_nodes={"a": 2}))
    assert len(limited.nodes["a"]) == 4  # (as without, after the quota: `a` is still cheapest)
    both = ((frozenset({"w"}), frozenset({"b"}), 4),)
    limited, _ = greedy_floor(problem, None, Guide(quotas=both, quota_nodes={"b": 1}))
    assert len(limited.nodes["b"]) == 1 and len(limited.nodes["a"]) == 3
    assert verified_cost(problem, limited) == 5
