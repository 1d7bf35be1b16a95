"""The solver: each rule kind on tiny policies whose optimum is computed by hand,
both backends agreeing, every placement verified, and brute force on random fleets."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.solve import clock
from fitlang.solve.explain import Part, explain
from fitlang.solve.linear import Status
from fitlang.solve.placement import solve
from fitlang.solve.report import as_json, as_text
from fitlang.solve.verify import verify

from solving import (
    RANDOM_POOLS,
    RANDOM_WORKLOADS,
    bench_module,
    on_pools,
    pool,
    problem_from,
    random_fleet,
    solved,
    workload,
)

BACKENDS = ["z3", "highs"]
GPUS = ('accelerator H100 {\n  vendor = nvidia\n  memory = 80GB\n  interconnect = nvlink\n}\n'
        'accelerator L4 {\n  vendor = nvidia\n  memory = 24GB\n  interconnect = pcie\n}\n')


@pytest.mark.parametrize("backend", BACKENDS)
def test_cheapest_pool_that_fits_is_chosen(tmp_path, backend):
    # 6 replicas of 2 CPU: big nodes (8 CPU, 1 USD/h) take 4 each -> 2 nodes = 2 USD/h;
    # small nodes (2 CPU, 0.4 USD/h) take 1 each -> 6 nodes = 2.4 USD/h. Optimum: 1 big (4
    # replicas) + 2 small (2 replicas) = 1.8 USD/h.
    problem = problem_from(tmp_path, pool("big", 5, 8, "32Gi", 1) + pool("small", 10, 2, "8Gi", "0.4")
                           + workload("web", 6, 2, "4Gi"))
    placement = solved(problem, backend)
    assert placement.status is Status.OPTIMAL
    assert placement.value == Fraction(18, 10)
    assert on_pools(placement, problem) == {"web": {"big": 4, "small": 2}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_bound_packing(tmp_path, backend):
    # each replica 1 CPU + 12Gi; a node has 16 CPU + 32Gi -> 2 per node; 5 replicas -> 3 nodes
    problem = problem_from(tmp_path, pool("p", 4, 16, "32Gi", 2) + workload("db", 5, 1, "12Gi"))
    placement = solved(problem, backend)
    assert placement.value == 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_gpu_attribute_rules_pick_the_right_pool(tmp_path, backend):
    text = GPUS + pool("h100", 2, 96, "1Ti", 98, "  gpu {\n    model = H100\n    count = 8\n  }\n") \
        + pool("l4", 8, 16, "64Gi", 1, "  gpu {\n    model = L4\n    count = 1\n  }\n") \
        + workload("llm", 2, 8, "64Gi", "  gpu {\n    count = 4\n    require memory >= 80GB\n  }\n") \
        + workload("small", 3, 4, "16Gi", "  gpu {\n    count = 1\n    require model == L4\n  }\n")
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    # both llm replicas share one H100 node (4 + 4 GPUs): 98 + 3 x 1
    assert placement.value == 101
    assert on_pools(placement, problem) == {"llm": {"h100": 2}, "small": {"l4": 3}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_zones_and_dedicated(tmp_path, backend):
    text = (pool("gold", 2, 8, "32Gi", 5, '  labels = { tier: "gold" }\n  zone = "a"\n')
            + pool("cheap", 4, 8, "32Gi", 1, '  zone = "b"\n')
            + pool("ml", 4, 8, "32Gi", "0.5", '  zone = "a"\n  dedicated = "ml"\n')
            + workload("api", 2, 4, "8Gi", '  labels = { tier: "gold" }\n')
            + workload("batch", 2, 8, "8Gi", '  zones = ["a"]\n  tolerate = ["ml"]\n')
            + workload("other", 1, 8, "8Gi", '  zones = ["a"]\n'))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    pools = on_pools(placement, problem)
    assert pools == {"api": {"gold": 2}, "batch": {"ml": 2}, "other": {"gold": 1}}
    # api: 2 x 4 CPU on one gold node; other needs a whole gold node: 5 + 5 + 2 x 0.5
    assert placement.value == 11


@pytest.mark.parametrize("backend", BACKENDS)
def test_anti_affinity_self_on_node(tmp_path, backend):
    problem = problem_from(tmp_path, pool("p", 5, 16, "64Gi", 1)
                           + workload("web", 3, 1, "1Gi", "  anti_affinity self on node\n"))
    placement = solved(problem, backend)
    assert placement.value == 3
    assert len({a.node for a in placement.assignments}) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_anti_affinity_between_workloads_on_node(tmp_path, backend):
    # noisy and latency would share one node (2 + 2 CPU of 8); apart they need two
    problem = problem_from(tmp_path, pool("p", 4, 8, "32Gi", 1)
                           + workload("latency", 2, 1, "1Gi")
                           + workload("noisy", 2, 1, "1Gi", "  anti_affinity latency on node\n"))
    placement = solved(problem, backend)
    assert placement.value == 2
    nodes_of = {w: {a.node for a in placement.assignments if a.workload == w}
                for w in ("latency", "noisy")}
    assert not nodes_of["latency"] & nodes_of["noisy"]


def test_a_workload_followed_onto_nodes_goes_to_as_many_nodes_as_its_followers_need(tmp_path):
    # 60 nodes (the model by pool, then packing): 8 `web` must each share a node with `db`
    # and take one node each (a node spread over 60 nodes: 0 or 1 a node). By hand: 8 nodes
    # host web, each hosts db, so db (8 replicas) goes one to a node: 8 nodes, 8.00 USD/h.
    # Packed densely (4 db a node, 2 nodes), 6 web had nowhere to go: `unknown` in 0.4 s
    text = (pool("p", 60, 16, "8Gi", 1) + workload("db", 8, 4, "2Gi")
            + workload("web", 8, 2, "2Gi", "  spread node max_skew 1\n  affinity db on node\n"))
    placement = solved(problem_from(tmp_path, text))
    assert not placement.unplaced and placement.value == 8
    assert len({a.node for a in placement.assignments}) == 8


def test_a_chain_of_node_affinities_spreads_each_link_as_the_next_needs(tmp_path):
    # 170 nodes of 8 CPU; w2 (12 x 2 CPU, at most 2 a node) joins w1 on a node, w1 (14 x 0.5
    # CPU) joins w0 (6 x 2 CPU). By hand: w2 takes 6 nodes, each must host w1, so w0 too:
    # 6 nodes, one w0 and 2-3 w1 each (2 + 1.5 + 4 CPU), 6.00 USD/h (bench/differential_fleet.py
    # seed 147, 1,075 nodes, cut down). Spread for w1's needs only, w0 went 3 to a node on 2
    # nodes and w2 had room on 2 of the 6 it needs: `unknown` in 0.5 s of 10
    text = (pool("p", 170, 8, "32Gi", 1) + workload("w0", 6, 2, "2Gi")
            + workload("w1", 14, "500m", "2Gi", "  affinity w0 on node\n")
            + workload("w2", 12, 2, "2Gi", "  spread node max_skew 2\n  affinity w1 on node\n"))
    placement = solved(problem_from(tmp_path, text))
    assert not placement.unplaced and placement.value == 6


# 200 nodes (the fleet path): no node of `cpu` (8 CPU, 8 GiB) or `mem` (2 CPU, 32 GiB) holds a
# replica of t (2 CPU, 2 GiB) beside one of f (0.5 CPU, 8 GiB), which `affinity t on node` needs
APART = (pool("cpu", 100, 8, "8Gi", 1) + pool("mem", 100, 2, "32Gi", 2)
         + workload("t", 10, 2, "2Gi") + workload("f", 5, "500m", "8Gi", "  affinity t on node\n"))


def test_a_node_affinity_is_proven_impossible_where_no_node_holds_both_workloads(tmp_path):
    # bench/differential_fleet.py seed 618, cut down: the pool model counted nodes hosting
    # either workload, never both on one, so it found room; the packing could not, and the
    # verdict was `unknown` (E0506) after 0.6 s of 30 where the reference proves none exists
    problem = problem_from(tmp_path, APART)
    placement = solve(problem)
    assert placement.proven_infeasible and len(placement.unplaced) == 5
    explanation = explain(problem)
    assert not explanation.feasible
    assert {r.part.kind for r in explanation.reasons} >= {"affinity"}


def test_a_node_affinity_uses_the_one_pool_whose_nodes_hold_both(tmp_path):
    # with 5 nodes of `both` (4 CPU, 10 GiB, 5 USD/h) each f runs beside one t there (2.5 CPU,
    # 10 GiB): 5 x 5, and the other 5 t on 2 `cpu` nodes (4 a node): 27 by hand. The model by
    # class put f on `cpu` nodes, where the packing could not follow it
    problem = problem_from(tmp_path, APART + pool("both", 5, 4, "10Gi", 5))
    placement = solved(problem)
    assert not placement.unplaced and placement.value == 27
    assert on_pools(placement, problem)["f"] == {"both": 5}


def test_followers_take_a_nodes_room_before_more_of_their_target(tmp_path):
    # 62 nodes of 6 CPU; w1 (150 x 1 CPU) must join w0 (70 x 3 CPU) on a node. By hand: 50
    # nodes of one w0 and three w1, 10 of two w0: all 360 CPU of 60 nodes, 60.00. Packed
    # with two w0 first, a node had no room for w1 (bench/differential_fleet.py --jitter
    # seed 707): `unknown` with every w1 left out, after 1 s of 10
    text = (pool("a", 62, 6, "32Gi", 1) + workload("w0", 70, 3, "1Gi")
            + workload("w1", 150, 1, "1Gi", "  affinity w0 on node\n"))
    placement = solved(problem_from(tmp_path, text))
    assert not placement.unplaced and placement.value == 60 and placement.status == Status.OPTIMAL
    assert placement.backend  # the greedy pass's answer names it (it said "solver: ,")


@pytest.mark.parametrize("backend", BACKENDS)
def test_affinity_on_zone(tmp_path, backend):
    # cache may run only in zone b (label rule); app follows it there although zone a is cheaper
    text = (pool("za", 4, 8, "32Gi", 1, '  zone = "a"\n')
            + pool("zb", 4, 8, "32Gi", 3, '  zone = "b"\n  labels = { ssd: "yes" }\n')
            + workload("cache", 1, 2, "4Gi", '  labels = { ssd: "yes" }\n')
            + workload("app", 2, 2, "4Gi", "  affinity cache on zone\n"))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert on_pools(placement, problem) == {"cache": {"zb": 1}, "app": {"zb": 2}}
    assert placement.value == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_spread_over_zones(tmp_path, backend):
    # 4 replicas, one per node, 3 zones, max_skew 1: 2/1/1; zone a is cheapest, so it takes
    # the 2: 2 x 1 + 2 + 3 = 7 (1/1/2 would cost 9, 4/0/0 breaks the spread)
    text = (pool("a", 4, 2, "16Gi", 1, '  zone = "a"\n') + pool("b", 4, 2, "16Gi", 2, '  zone = "b"\n')
            + pool("c", 4, 2, "16Gi", 3, '  zone = "c"\n')
            + workload("web", 4, 2, "4Gi", "  spread zone max_skew 1\n"))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert on_pools(placement, problem) == {"web": {"a": 2, "b": 1, "c": 1}}
    assert placement.value == 7


@pytest.mark.parametrize("backend", BACKENDS)
def test_priorities_decide_who_is_left_out(tmp_path, backend):
    # 2 nodes of 4 CPU; high needs 2 x 4, low needs 2 x 4: only high fits
    text = (pool("p", 2, 4, "16Gi", 1) + workload("high", 2, 4, "4Gi", "  priority = 10\n")
            + workload("low", 2, 4, "4Gi", "  priority = 1\n"))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert on_pools(placement, problem) == {"high": {"p": 2}}
    assert [(u.workload, u.replica) for u in placement.unplaced] == [("low", 0), ("low", 1)]
    assert "higher-priority" in placement.unplaced[0].reason


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replica_left_out_names_only_higher_priority_work_that_took_its_room(tmp_path, backend):
    # `low` may use pool `a` alone (1 node, 1 replica); `high` fills pool `b`, which `low` may not
    # use: it took nothing from `low` and is not named
    text = (pool("a", 1, 4, "16Gi", 1, '  zone = "za"\n') + pool("b", 2, 4, "16Gi", 1, '  zone = "zb"\n')
            + workload("high", 2, 4, "4Gi", "  priority = 10\n")
            + workload("low", 2, 4, "4Gi", '  priority = 1\n  zones = ["za"]\n')
            + "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert on_pools(placement, problem) == {"high": {"b": 2}, "low": {"a": 1}}
    assert [u.workload for u in placement.unplaced] == ["low"]
    assert "high" not in placement.unplaced[0].reason


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replica_a_power_cap_keeps_out_names_the_cap(tmp_path, backend):
    # 3 nodes of 300 W under a 700 W cap, one replica a node: two run, the third is out
    text = (pool("p", 3, 4, "16Gi", 1, "  power = 300W\n  labels = { site: \"s\" }\n")
            + workload("web", 3, 4, "4Gi")
            + 'power_cap site_cap {\n  labels = { site: "s" }\n  cap = 700W\n}\n'
            + "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert len(placement.unplaced) == 1
    assert "`site_cap`" in placement.unplaced[0].reason


@pytest.mark.parametrize("backend", BACKENDS)
def test_gang_is_all_or_nothing(tmp_path, backend):
    # 3 nodes; gang of 4 cannot fit so none of it is placed; the single job takes a node
    text = (pool("p", 3, 8, "32Gi", 1) + workload("gang", 4, 8, "4Gi", "  gang = true\n  priority = 5\n")
            + workload("solo", 1, 8, "4Gi"))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert on_pools(placement, problem) == {"solo": {"p": 1}}
    assert {u.workload for u in placement.unplaced} == {"gang"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_budget_caps_cost(tmp_path, backend):
    text = (pool("p", 10, 4, "16Gi", 1) + workload("high", 2, 4, "4Gi", "  priority = 2\n")
            + workload("low", 3, 4, "4Gi", "  priority = 1\n")
            + "policy {\n  budget = 4 USD/h\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert placement.value == 4
    assert on_pools(placement, problem) == {"high": {"p": 2}, "low": {"p": 2}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_nodes_objective_and_lexicographic(tmp_path, backend):
    # big node: 4 replicas for 10 USD/h; small node: 1 replica for 1 USD/h
    text = (pool("big", 1, 8, "32Gi", 10) + pool("small", 4, 2, "8Gi", 1) + workload("w", 4, 2, "2Gi"))
    by_nodes = problem_from(tmp_path, text + "policy {\n  objective = [nodes, cost]\n}\n", "n.fit")
    placement = solved(by_nodes, backend)
    assert (placement.objective, placement.value) == ("nodes", 1)
    by_cost = problem_from(tmp_path, text + "policy {\n  objective = [cost, nodes]\n}\n", "c.fit")
    assert solved(by_cost, backend).value == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_preferences_break_ties(tmp_path, backend):
    text = (pool("a", 2, 4, "16Gi", 1, '  zone = "a"\n') + pool("b", 2, 4, "16Gi", 1, '  zone = "b"\n')
            + workload("w", 2, 4, "4Gi", '  prefer zone == "b" weight 5\n'))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert on_pools(placement, problem) == {"w": {"b": 2}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_buying_capacity_from_offers(tmp_path, backend):
    text = (pool("own", 1, 8, "32Gi", 0)
            + 'offer small {\n  provider = aws\n  instance_type = "m7i.large"\n  regions = ["us-east-1"]\n'
              '  cpu = 2\n  memory = 8GiB\n  price = 0.1 USD/h\n}\n'
            + 'offer big {\n  provider = aws\n  instance_type = "m7i.2xlarge"\n'
              '  regions = ["us-east-1", "eu-west-1"]\n  cpu = 8\n  memory = 32GiB\n  price = 0.35 USD/h\n}\n'
            + 'buy {\n  regions = ["us-east-1"]\n  max_count = 5\n}\n'
            + workload("w", 7, 2, "2Gi"))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    # the free node takes 4; 3 more. Three small (3 x 0.1) would be cheaper, but EKS keeps 70m
    # of a 2-vCPU node (6% of core 1, 1% of core 2): 1.93 CPU allocatable, no 2-CPU replica
    # fits. One big (8 - 0.09 = 7.91 CPU) takes all 3 for 0.35.
    assert placement.value == Fraction(35, 100)
    assert sorted(placement.bought) == ["big@us-east-1"]
    document = json.loads(as_json(problem, placement, []))
    [bought] = [n for n in document["nodes"] if n["provisioned"]]
    # the machine, and what pods get of it: the offer states no max_pods, so nodeadm's 110
    # and no local disk: the ephemeral storage its 20 GiB root volume admits (model/node_disks.py)
    kept = (11 * 110 + 255 + 100) * 2 ** 20
    disk = int(20 * 2 ** 30 * 0.95 * 0.9) - 2 ** 30
    assert bought["capacity"] == {"cpu": 8000, "memory": 32 * 2 ** 30, "gpu": 0, "disk": disk}
    assert bought["allocatable"] == {"cpu": 7910, "memory": 32 * 2 ** 30 - kept, "gpu": 0, "disk": disk}
    assert ("allocatable big@us-east-1: 7.91 CPU, 30.47 GiB of 8 CPU, 32 GiB (kubelet reservation)"
            in as_text(problem, placement).splitlines())


def test_both_backends_agree_on_lexicographic_optimum(tmp_path):
    text = (pool("a", 3, 8, "32Gi", "1.5", '  zone = "a"\n')
            + pool("b", 3, 4, "16Gi", "0.7", '  zone = "b"\n')
            + workload("x", 5, 2, "6Gi", "  spread zone max_skew 2\n") + workload("y", 3, 3, "3Gi"))
    problem = problem_from(tmp_path, text)
    assert solved(problem, "z3").value == solved(problem, "highs").value


def test_infeasible_gang_is_explained_with_repairs(tmp_path):
    text = GPUS + pool("h100", 2, 96, "1Ti", 98, "  gpu {\n    model = H100\n    count = 8\n  }\n") \
        + pool("l4", 8, 16, "64Gi", 1, "  gpu {\n    model = L4\n    count = 1\n  }\n") \
        + workload("trainer", 4, 32, "256Gi", "  gang = true\n  gpu {\n    count = 8\n"
                   "    require memory >= 80GB\n  }\n")
    problem = problem_from(tmp_path, text)
    explanation = explain(problem)
    assert not explanation.feasible
    # l4 nodes have 1 GPU each: the GPU rule is not needed to keep `trainer` off them
    assert [r.part for r in explanation.reasons] == [Part("capacity", "h100"), Part("replicas", "trainer")]
    lines = sorted(r.origin.span.line for r in explanation.reasons)
    assert lines == [12, 32]  # pool h100's count, replicas
    assert [(r.part.kind, r.before, r.after) for r in explanation.repairs] == [
        ("capacity", "2", "4"), ("replicas", "4", "2")]


def _gang_too_big_for_h100(tmp_path):
    """4 gang replicas of 8 GPUs each; only pool h100 (2 nodes) has 8 GPUs per node."""
    text = GPUS + pool("h100", 2, 96, "1Ti", 98, "  gpu {\n    model = H100\n    count = 8\n  }\n") \
        + pool("l4", 8, 16, "64Gi", 1, "  gpu {\n    model = L4\n    count = 1\n  }\n") \
        + workload("trainer", 4, 32, "256Gi", "  gang = true\n  gpu {\n    count = 8\n  }\n")
    return problem_from(tmp_path, text)


def _as_data(problem):
    return ([(c.id, c.count, tuple(c.node_names)) for c in problem.classes],
            [(d.name, d.replicas, tuple(d.eligible), dict(d.excluded), d.gang)
             for d in problem.demands],
            problem.budget, problem.buy_limits, problem.symmetric)


def test_explaining_leaves_the_problem_as_it_was(tmp_path):
    # explain's trials grow pool h100 and lower the replicas: each on a copy (issue 17)
    problem = _gang_too_big_for_h100(tmp_path)
    before = _as_data(problem)
    explanation = explain(problem)
    assert [(r.part.kind, r.before, r.after) for r in explanation.repairs] == [
        ("capacity", "2", "4"), ("replicas", "4", "2")]
    assert _as_data(problem) == before
    assert [c.count for c in problem.classes] == [2, 8]


def test_a_trial_without_a_pools_count_grows_a_copy_of_it(tmp_path):
    from fitlang.solve.explain.parts import with_parts

    problem = _gang_too_big_for_h100(tmp_path)
    trial = with_parts(problem, lambda part: part != Part("capacity", "h100")).problem
    # as many h100 nodes as replicas (4), the new ones named; l4 (1 GPU a node, of no use
    # to `trainer`) keeps its count; the problem keeps its own pools
    assert list(trial.node_class("h100").node_names) == [
        "h100-0", "h100-1", "h100-extra-2", "h100-extra-3"]
    assert trial.node_class("h100").count == 4 and trial.node_class("l4").count == 8
    assert problem.node_class("h100").count == 2 and len(problem.node_class("h100").node_names) == 2
    assert trial.demand("trainer").eligible == ["h100"]


def test_verify_catches_broken_placements(tmp_path):
    problem = problem_from(tmp_path, pool("p", 2, 4, "16Gi", 1)
                           + workload("w", 2, 3, "4Gi", "  anti_affinity self on node\n"))
    placement = solved(problem)
    document = json.loads(as_json(problem, placement, []))
    document["assignments"][1]["node"] = document["assignments"][0]["node"]
    messages = [v.message for v in verify(problem, document)[0]]
    assert any("over its cpu" in m for m in messages)
    assert any("several replicas in node" in m for m in messages)
    document["assignments"][1]["node"] = "nowhere"
    assert any("not a node of this policy" in v.message for v in verify(problem, document)[0])
    assert verify(problem, {"assignments": [{"workload": 1}]})[1]


def test_same_input_gives_identical_output(tmp_path):
    text = pool("a", 3, 8, "32Gi", 1) + pool("b", 3, 8, "32Gi", 1) + workload("w", 5, 3, "4Gi")
    problem = problem_from(tmp_path, text)
    first = as_json(problem, solve(problem), [])
    second = as_json(problem_from(tmp_path, text, "q.fit"), solve(problem_from(tmp_path, text, "q.fit")), [])
    assert first == second


# ---- brute force on random small fleets ---------------------------------------


def _brute_force(classes, demands) -> Fraction | None:
    nodes = [(c, i) for c in classes for i in range(c.count)]
    replicas = [d for d in demands for _ in range(d.replicas)]
    best = None
    for choice in itertools.product(range(len(nodes)), repeat=len(replicas)):
        used: dict[int, dict[str, int]] = {}
        ok = True
        for demand, node_index in zip(replicas, choice):
            node_class = nodes[node_index][0]
            if node_class.id not in demand.eligible:
                ok = False
                break
            load = used.setdefault(node_index, {"cpu": 0, "memory": 0})
            load["cpu"] += demand.requests["cpu"]
            load["memory"] += demand.requests["memory"]
            if load["cpu"] > node_class.capacity["cpu"] or load["memory"] > node_class.capacity["memory"]:
                ok = False
                break
        if ok:
            cost = sum((nodes[i][0].price for i in used), Fraction(0))
            best = cost if best is None or cost < best else best
    return best


@st.composite
def small_fleets(draw):
    classes = []
    for index in range(draw(st.integers(1, 2))):
        classes.append(NodeClass(
            id=f"c{index}", pool=f"c{index}", count=draw(st.integers(1, 2)),
            capacity={"cpu": draw(st.sampled_from([2000, 4000])),
                      "memory": draw(st.sampled_from([4, 8])) * 2 ** 30, "gpu": 0, "disk": 0},
            price=Fraction(draw(st.integers(1, 9)))))
        classes[-1] = dataclasses.replace(
            classes[-1], node_names=tuple(f"c{index}-{i}" for i in range(classes[-1].count)))
    demands = []
    for index in range(draw(st.integers(1, 2))):
        demands.append(Demand(
            name=f"w{index}", replicas=draw(st.integers(1, 2)),
            requests={"cpu": draw(st.sampled_from([1000, 1500, 2000])),
                      "memory": draw(st.sampled_from([1, 3])) * 2 ** 30, "gpu": 0, "disk": 0},
            eligible=[c.id for c in classes if draw(st.booleans()) or len(classes) == 1]))
    return classes, demands


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_fleets(), st.sampled_from(BACKENDS))
def test_optimum_matches_brute_force(fleet, backend):
    classes, demands = fleet
    demands = [d for d in demands if all(
        d.requests["cpu"] <= c.capacity["cpu"] and d.requests["memory"] <= c.capacity["memory"]
        for c in classes if c.id in d.eligible)]
    problem = Problem(classes, demands, ["cost"], allow_unplaced=True)
    expected = _brute_force(classes, demands)
    placement = solve(problem, backend)
    document = json.loads(as_json(problem, placement, []))
    assert verify(problem, document) == ([], [])
    if expected is None:
        assert placement.unplaced
    else:
        assert not placement.unplaced
        assert placement.value == expected


def test_preference_report_says_what_meeting_it_costs(tmp_path):
    from fitlang.solve.preferences import preference_outcomes

    text = (pool("a", 2, 4, "16Gi", 1, '  zone = "a"\n') + pool("b", 2, 4, "16Gi", 3, '  zone = "b"\n')
            + workload("w", 2, 4, "4Gi", '  prefer zone == "b" weight 5\n  prefer zone == "c" weight 1\n'))
    problem = problem_from(tmp_path, text)
    placement = solved(problem)
    to_b, to_c = preference_outcomes(problem, placement)
    assert (to_b.met, to_b.extra) == (0, 4)  # two b nodes at 3 instead of two a nodes at 1
    assert (to_c.met, to_c.extra) == (0, None)
    assert "meeting it would cost +4.00 USD/h" in to_b.line()


def test_explain_offers_rule_relaxation_and_buying(tmp_path):
    text = (GPUS + pool("h100", 1, 96, "1Ti", 98, "  gpu {\n    model = H100\n    count = 8\n  }\n")
            + pool("l4", 4, 16, "64Gi", 1, "  gpu {\n    model = L4\n    count = 8\n  }\n")
            + 'offer p5 {\n  provider = aws\n  instance_type = "p5.48xlarge"\n  regions = ["us-east-1"]\n'
              '  cpu = 192\n  memory = 2048GiB\n  gpu {\n    model = H100\n    count = 8\n  }\n'
              '  price = 98.32 USD/h\n}\n'
            + workload("llm", 2, 8, "64Gi", "  gpu {\n    count = 8\n    require memory >= 80GB\n  }\n"))
    explanation = explain(problem_from(tmp_path, text))
    assert not explanation.feasible
    changes = {(r.part.kind, r.part.subject, r.before, r.after) for r in explanation.repairs}
    assert ("capacity", "h100", "1", "2") in changes
    assert ("rule", "llm", "memory >= 80GB", "memory >= 24GB") in changes
    bought = [r for r in explanation.repairs if r.part == Part("buy", key="new")]
    assert [r.text for r in bought] == [
        "allow buying 1 x p5.48xlarge (`p5`) in us-east-1 at 98.32 USD/h each (add a `buy` block)"]


def test_explain_says_when_repairs_were_cut_short_by_time(tmp_path):
    text = (GPUS + pool("h100", 1, 96, "1Ti", 98, "  gpu {\n    model = H100\n    count = 8\n  }\n")
            + workload("llm", 2, 8, "64Gi", "  gpu {\n    count = 8\n  }\n"))
    problem = problem_from(tmp_path, text)
    full = explain(problem)
    assert [(r.part.kind, r.before, r.after) for r in full.repairs] == [
        ("capacity", "1", "2"), ("replicas", "2", "1")]
    assert not full.repairs_cut_short
    cut = explain(problem, repair_budget=1e-9)  # no time for any repair
    assert cut.repairs_cut_short and cut.repairs == []
    assert [r.part for r in cut.reasons] == [r.part for r in full.reasons]
    # solve, compile and plan have no --repair-budget: their E0501 sends the user to explain's
    from fitlang.solve.explain import explanation_diagnostics, explanation_text

    solved_text = explanation_diagnostics(problem, "p.fit", explanation=cut)[0].message
    assert "`fitc explain --repair-budget`" in solved_text and "raise --repair-budget" not in solved_text
    assert "raise --repair-budget" in explanation_text(cut)


def test_named_buy_is_used(tmp_path):
    text = (pool("own", 1, 2, "8Gi", 0)
            + 'offer small {\n  provider = aws\n  instance_type = "m7i.large"\n  regions = ["us-east-1"]\n'
              '  cpu = 2\n  memory = 8GiB\n  price = 0.1 USD/h\n}\n'
            + 'buy burst {\n  max_count = 2\n}\n'
            # 1.5 CPU: a bought m7i.large keeps 1.93 of its 2 vCPU for pods
            + workload("w", 3, "1.5", "2Gi"))
    placement = solved(problem_from(tmp_path, text))
    assert not placement.unplaced and placement.value == Fraction(2, 10)


def test_gpu_count_is_zero_on_nodes_without_gpus(tmp_path):
    text = (GPUS + pool("gpu", 2, 8, "32Gi", 1, "  gpu {\n    model = L4\n    count = 1\n  }\n")
            + pool("cpu", 2, 8, "32Gi", 5) + workload("w", 1, 2, "2Gi", "  require gpu.count == 0\n"))
    problem = problem_from(tmp_path, text)
    assert on_pools(solved(problem), problem) == {"w": {"cpu": 1}}


def test_exclusive_keeps_other_workloads_off_its_nodes(tmp_path):
    text = (pool("p", 3, 8, "32Gi", 1) + workload("job", 2, 2, "2Gi", "  exclusive = true\n")
            + workload("other", 2, 2, "2Gi"))
    placement = solved(problem_from(tmp_path, text))
    job_nodes = {a.node for a in placement.assignments if a.workload == "job"}
    other_nodes = {a.node for a in placement.assignments if a.workload == "other"}
    assert not job_nodes & other_nodes
    assert placement.value == 2  # job's 2 replicas share one node; other takes another


def test_explain_says_how_far_to_raise_a_buy_limit(tmp_path):
    text = ('offer small {\n  provider = aws\n  instance_type = "m7i.large"\n  regions = ["us-east-1"]\n'
            '  cpu = 2\n  memory = 8GiB\n  price = 0.1 USD/h\n}\n'
            'buy {\n  max_count = 2\n}\n' + workload("w", 5, "1.5", "2Gi"))  # 1.93 CPU allocatable
    explanation = explain(problem_from(tmp_path, text))
    assert [(r.part.kind, r.before, r.after) for r in explanation.repairs if r.part.kind == "buy"] \
        == [("buy", "2", "5")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_affinity_on_node_puts_replicas_beside_their_target(tmp_path, backend):
    text = (pool("p", 4, 8, "32Gi", 1) + workload("cache", 2, 2, "2Gi", "  anti_affinity self on node\n")
            + workload("app", 4, 2, "2Gi", "  affinity cache on node\n"))
    placement = solved(problem_from(tmp_path, text), backend)
    cache_nodes = {a.node for a in placement.assignments if a.workload == "cache"}
    app_nodes = {a.node for a in placement.assignments if a.workload == "app"}
    assert app_nodes <= cache_nodes and len(cache_nodes) == 2
    assert placement.value == 2


def test_stranded_gpus_are_reported(tmp_path):
    from fitlang.solve.utilization import utilization

    # the only node: 16 CPU, 4 GPUs; the CPU job takes all 16 cores, so no GPU job (1 GPU +
    # 1 CPU) fits beside it: all 4 GPUs are stranded, and no CPU is
    text = (GPUS + pool("g", 1, 16, "64Gi", 1, "  gpu {\n    model = L4\n    count = 4\n  }\n")
            + workload("cpu_hog", 1, 16, "8Gi")
            + workload("infer", 0, 1, "1Gi", "  gpu {\n    count = 1\n  }\n"))
    problem = problem_from(tmp_path, text)
    rows = {(u.pool, u.resource): u for u in utilization(problem, solved(problem))}
    assert (rows["g", "gpu"].capacity, rows["g", "gpu"].used, rows["g", "gpu"].stranded) == (4, 0, 4)
    assert (rows["g", "cpu"].used, rows["g", "cpu"].stranded) == (16000, 0)
    assert rows["g", "memory"].stranded == 56 * 2 ** 30
    document = json.loads(as_json(problem, solved(problem), []))
    assert {"pool": "g", "resource": "gpu", "capacity": 4, "used": 0, "stranded": 4} \
        in document["utilization"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_arm_nodes_only_for_workloads_whose_image_runs_there(tmp_path, backend):
    arm = pool("graviton", 2, 8, "32Gi", "0.3", "  arch = arm64\n")
    x86 = pool("intel", 2, 8, "32Gi", "0.4")
    by_default = problem_from(tmp_path, arm + x86 + workload("w", 1, 4, "4Gi"), "a.fit")
    assert on_pools(solved(by_default, backend), by_default) == {"w": {"intel": 1}}
    both = problem_from(tmp_path, arm + x86 + workload("w", 1, 4, "4Gi", "  arch = [amd64, arm64]\n"),
                        "b.fit")
    placement = solved(both, backend)
    assert on_pools(placement, both) == {"w": {"graviton": 1}}
    assert placement.value == Fraction(3, 10)


def test_the_report_says_what_arm_saved(tmp_path):
    from fitlang.solve.savings import arm_saving

    text = (pool("graviton", 2, 8, "32Gi", "0.3", "  arch = arm64\n") + pool("intel", 2, 8, "32Gi", "0.4")
            + workload("w", 2, 8, "4Gi", "  arch = [amd64, arm64]\n"))
    problem = problem_from(tmp_path, text)
    assert arm_saving(problem, solved(problem)) == Fraction(2, 10)  # 2 x (0.4 - 0.3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_power_caps_move_work_to_another_site(backend):
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem

    from conftest import FIXTURES

    # an H100 node at dc1 draws 1200 W + 8 x 700 W = 6.8 kW; the 14 kW cap allows 2 of them,
    # so the third replica goes to dc2 (12 instead of 10 USD/h): 2 x 10 + 12 = 32
    result = check_file(FIXTURES / "valid" / "power.fit", Workspace())
    problem = build_problem(result.program).problem
    placement = solved(problem, backend)
    assert placement.value == 32
    assert on_pools(placement, problem) == {"train": {"h100_dc1": 2, "h100_dc2": 1}}
    document = json.loads(as_json(problem, placement, []))
    assert document["power"] == [{"scope": "site=dc1", "cap_kw": 14.0, "used_kw": 13.6}]
    document["assignments"][2]["node"] = "h100_dc1-2"
    messages = [v.message for v in verify(problem, document)[0]]
    assert any("over the cap `dc1`" in m for m in messages)


def test_explain_names_the_power_cap(tmp_path):
    from conftest import FIXTURES

    text = (FIXTURES / "valid" / "power.fit").read_text().replace("count = 4\n  cpu = 192\n  memory = 2TiB\n"
                                                                  "  gpu {\n    model = H100\n    count = 8\n"
                                                                  "  }\n  power = 10.2kW",
                                                                  "count = 0\n  cpu = 192\n  memory = 2TiB\n"
                                                                  "  gpu {\n    model = H100\n    count = 8\n"
                                                                  "  }\n  power = 10.2kW")
    explanation = explain(problem_from(tmp_path, text))
    assert not explanation.feasible
    assert any(r.text == "power cap `dc1` allows 14 kW in site=dc1" for r in explanation.reasons)


# ---- fleet scale: the aggregate model, rounding, packing and repair ---------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_fleets_are_placed_near_the_bound_and_beat_greedy(tmp_path, seed):
    # CPU pools and GPU generations over 3 zones; services with spreads, gangs, batch with
    # priorities: the aggregate path (more than 48 nodes), every placement verified
    fleet, baselines = bench_module("fleet"), bench_module("baselines")
    fleet.generate(600, 80, seed=seed).write(tmp_path, "fleet")
    problem = problem_from(tmp_path, (tmp_path / "fleet.fit").read_text(), "fleet.fit")
    placement = solved(problem)
    assert not placement.unplaced
    assert placement.status in (Status.OPTIMAL, Status.FEASIBLE)
    # within 2% of the proven bound: at 600 nodes one extra node of a class that packing
    # could not fill as the aggregate counted is worth about 0.3% (10,000 nodes: 0.2% in all)
    assert placement.value - placement.bound <= placement.value / 50
    greedy, greedy_unplaced = baselines.greedy(problem)
    assert greedy_unplaced or placement.value <= greedy


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy_core(count: int) -> Iterator[None]:
    """A heavily loaded machine: this process (and the solver's children) and `count`
    processes spinning beside it share one core for the block, so the test's other workers,
    on the other cores, are not slowed (some time their solves on the wall)."""
    context = multiprocessing.get_context("fork")
    cores = os.sched_getaffinity(0)
    one = {min(cores)}
    os.sched_setaffinity(0, one)
    spinners = [context.Process(target=_spin, daemon=True) for _ in range(count)]
    try:
        for spinner in spinners:
            spinner.start()
        yield
    finally:
        for spinner in spinners:
            if spinner.pid is not None:
                spinner.kill()
                spinner.join()
        os.sched_setaffinity(0, cores)


def test_fleet_scale_placements_are_the_same_unloaded_loaded_and_on_a_fast_machine(tmp_path, monkeypatch):
    # with no time limit no stage's cap in seconds decides the answer. fleet.py 600 seed 4: the
    # whole-count solve on the counted nodes (fitted_counts.py, 0.55 CPU s) was stopped at 0.5 s
    # on the wall, so a loaded machine answered 447.92 `feasible` and a fast one 444.32 `optimal`
    bench_module("fleet").generate(600, 80, seed=4).write(tmp_path, "fleet")
    problem = problem_from(tmp_path, (tmp_path / "fleet.fit").read_text(), "fleet.fit")
    unloaded = as_json(problem, solved(problem), [])
    with busy_core(3):
        loaded = as_json(problem, solved(problem), [])
    wall, began = time.monotonic, time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: began + (wall() - began) / 20)  # 20 times as fast
    monkeypatch.setattr(clock, "_SHARE", clock._Share())
    fast = as_json(problem, solved(problem), [])
    assert unloaded == loaded == fast


def test_verify_counts_spreads_per_zone_and_per_node(tmp_path):
    text = (pool("a", 4, 2, "16Gi", 1, '  zone = "a"\n') + pool("b", 4, 2, "16Gi", 2, '  zone = "b"\n')
            + workload("web", 4, 2, "4Gi", "  spread zone max_skew 1\n")
            + workload("api", 2, 1, "1Gi", "  spread node max_skew 1\n"))
    problem = problem_from(tmp_path, text)
    document = json.loads(as_json(problem, solved(problem), []))
    a_nodes = [name for c in problem.classes if c.pool == "a" for name in c.node_names]
    for item in document["assignments"]:
        if item["workload"] == "web":  # all four in zone a: 4..0
            item["node"] = a_nodes[item["replica"]]
        else:  # both api replicas on one node: 2 there, 0 on the others
            item["node"] = a_nodes[0]
    messages = [v.message for v in verify(problem, document)[0]]
    assert any("`web` is spread 0..4 per zone" in m for m in messages)
    assert any("`api` is spread 0..2 per node" in m for m in messages)


@given(st.lists(st.integers(0, 400), min_size=2, max_size=6), st.integers(1, 3), st.data())
def test_rounding_keeps_totals_and_spread_balance(cents, skew, data):
    from fitlang.solve.encode import _round_balanced, _round_keeping_total

    # fractional domain totals whose spread is within `skew` and whose sum is whole
    totals = [c / 100 for c in cents]
    low = min(totals)
    totals = [min(t, low + skew) for t in totals]
    totals[-1] += round(sum(totals)) - sum(totals)
    if totals[-1] < 0 or max(totals) - min(totals) > skew:
        return
    rounded = _round_balanced(dict(enumerate(totals)))
    assert sum(rounded.values()) == round(sum(totals))
    assert max(rounded.values()) - min(rounded.values()) <= skew
    shares = {i: t for i, t in enumerate(totals)}
    whole = data.draw(st.integers(int(sum(totals)), int(sum(totals)) + 1))
    assert sum(_round_keeping_total(shares, whole).values()) == whole


def test_exclusive_does_not_make_every_other_workload_a_rule_target(tmp_path):
    from fitlang.solve.encode import encode

    text = (pool("p", 60, 8, "32Gi", 1) + workload("job", 2, 2, "2Gi", "  exclusive = true\n")
            + workload("other", 4, 2, "2Gi"))
    problem = problem_from(tmp_path, text)
    assert all(not d.affinities for d in problem.demands)
    encoding = encode(problem)
    encoding.relax_replicas()  # nothing keeps `other`'s counts whole any more
    assert not encoding.model.variables[encoding.y["other", "p"]].integer
    placement = solved(problem)
    job_nodes = {a.node for a in placement.assignments if a.workload == "job"}
    assert len(job_nodes) == 1 and placement.value == 2  # other's 4 x 2 CPUs fill one more node


def test_the_model_leaves_an_exclusive_workloads_nodes_out_of_one_per_node_counts(tmp_path):
    from fitlang.solve.backends import HighsBackend
    from fitlang.solve.encode import encode

    # `ex` (2 x 5 CPUs, exclusive: a node each) and `one` (3 x 1 CPU, one per node) on pool a
    # (3 nodes of 8 CPUs at 1 USD/h) and pool b (3 at 5): ex on two a nodes leaves one for
    # `one`, whose other two take two b nodes (3 + 10); ex on b: 10 + 3; one of each: a's 3
    # nodes and two of b's. By hand 13 every way; the class rows without the exclusive's
    # nodes took all five replicas on a's three nodes (3)
    text = (pool("a", 3, 8, "32Gi", 1) + pool("b", 3, 8, "32Gi", 5)
            + workload("ex", 2, 5, "2Gi", "  exclusive = true\n")
            + workload("one", 3, 1, "1Gi", "  anti_affinity self on node\n"))
    encoding = encode(problem_from(tmp_path, text))
    outcome = HighsBackend().minimise(encoding.model, encoding.objective("cost"))
    assert outcome.status is Status.OPTIMAL and outcome.objective == 13


def test_inventory_shaped_fleet_solves_and_verifies_with_the_greedy_floor_and_the_optimiser(
        tmp_path, monkeypatch):
    import fitlang.solve.placement as placement_module

    fleet = bench_module("inventories").generate(1000, 100)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    for floor_only in (True, False):  # the floor alone (the model has nothing); then the optimiser too
        with monkeypatch.context() as patch:
            if floor_only:
                patch.setattr(placement_module, "_optimised", lambda *args, **kwargs: None)
            placement = solve(problem, time_limit=15)
        violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
        assert violations == [] and problems == [], [v.message for v in violations][:5]
        assert placement.assignments and not placement.unplaced

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nodes, replicas, cost, split", [
    # east (1 USD/h) has too few nodes for the gang: without the rule it would take east's 2
    # nodes and 2 of west's b (2 + 4 = 6 USD/h). In one cluster: west, b then c: 4 + 10 = 14.
    (2, 4, 14, {"b": 2, "c": 2}),
    # at fleet scale (the aggregate model and packing): 30 of b (60) + 10 of c (50) = 110
    (30, 40, 110, {"b": 30, "c": 10}),
])
def test_a_gang_runs_in_one_cluster(tmp_path, backend, nodes, replicas, cost, split):
    text = (pool("a", nodes, 8, "32Gi", 1, '  cluster = "east"\n')
            + pool("b", nodes, 8, "32Gi", 2, '  cluster = "west"\n')
            + pool("c", nodes, 8, "32Gi", 5, '  cluster = "west"\n')
            + workload("train", replicas, 8, "16Gi", "  kind = job\n  gang = true\n"))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert placement.value == cost
    assert on_pools(placement, problem) == {"train": split}
    # and the same replicas, not a gang, take the cheapest nodes of both clusters
    loose = problem_from(tmp_path, text.replace("  gang = true\n", ""), "loose.fit")
    assert on_pools(solved(loose, backend), loose)["train"]["a"] == nodes


def test_verify_rejects_a_gang_over_two_clusters(tmp_path):
    problem = problem_from(tmp_path, pool("a", 2, 8, "32Gi", 1, '  cluster = "east"\n')
                           + pool("b", 2, 8, "32Gi", 2, '  cluster = "west"\n')
                           + workload("train", 4, 8, "16Gi", "  kind = job\n  gang = true\n"))
    document = {"assignments": [{"workload": "train", "replica": i, "node": node} for i, node in
                                enumerate(["a-0", "a-1", "b-0", "b-1"])]}
    violations, problems = verify(problem, document)
    assert problems == []
    assert [v.message for v in violations if "cluster" in v.message] == [
        "gang `train` runs in clusters east, west: a gang runs in one cluster"]


# ---- issue 12: spreads, priorities and topology keys, each with its outcome worked out by hand --


@pytest.mark.parametrize("backend", BACKENDS)
def test_spread_node_bounds_the_difference_between_nodes_not_the_count_per_node(tmp_path, backend):
    # 4 replicas of 2 CPU on 2 nodes of 8 CPU, max_skew 1: 2 + 2 has skew 0
    problem = problem_from(tmp_path, pool("p", 2, 8, "32Gi", 1)
                           + workload("w", 4, 2, "1Gi", "  spread node max_skew 1\n"))
    placement = solved(problem, backend)
    assert (placement.status, placement.value, placement.unplaced) == (Status.OPTIMAL, 2, [])
    per_node = sorted(Counter(a.node for a in placement.assignments).values())
    assert per_node == [2, 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_spread_node_counts_the_empty_nodes_too(tmp_path, backend):
    # 3 nodes: with one of them empty the least is 0 and no node may host 2, so the 4 replicas
    # need all three nodes, 2 + 1 + 1 (cost 3); one node of 8 CPU would take them all
    problem = problem_from(tmp_path, pool("p", 3, 8, "32Gi", 1)
                           + workload("w", 4, 2, "1Gi", "  spread node max_skew 1\n"))
    placement = solved(problem, backend)
    assert placement.value == 3
    assert sorted(Counter(a.node for a in placement.assignments).values()) == [1, 1, 2]


def test_verify_rejects_a_node_spread_beyond_its_skew(tmp_path):
    problem = problem_from(tmp_path, pool("p", 2, 8, "32Gi", 1)
                           + workload("w", 4, 2, "1Gi", "  spread node max_skew 1\n"))
    document = json.loads(as_json(problem, solved(problem), []))
    for item in document["assignments"]:  # 3 + 1
        item["node"] = "p-0" if item["replica"] < 3 else "p-1"
    messages = [v.message for v in verify(problem, document)[0]]
    assert messages == ["`w` is spread 1..3 per node; max_skew is 1"]


def test_spread_node_on_a_fleet_of_classes_keeps_max_skew_per_node(tmp_path):
    # 60 nodes: the aggregate model, where a node spread keeps every node at max_skew or fewer
    problem = problem_from(tmp_path, pool("p", 60, 8, "32Gi", 1)
                           + workload("w", 6, 2, "1Gi", "  spread node max_skew 2\n"))
    placement = solved(problem)
    assert placement.value == 3
    assert sorted(Counter(a.node for a in placement.assignments).values()) == [2, 2, 2]


def test_spread_node_on_a_fleet_of_classes_shares_a_count_above_max_skew_evenly(tmp_path):
    # 150 replicas on 60 nodes, max_skew 1: every node takes 2 or 3 (30 of each), all 60 in use
    problem = problem_from(tmp_path, pool("p", 60, 8, "32Gi", 1)
                           + workload("w", 150, 1, "1Gi", "  spread node max_skew 1\n"))
    placement = solved(problem)
    assert (placement.status, placement.value, placement.unplaced) == (Status.OPTIMAL, 60, [])
    per_node = Counter(Counter(a.node for a in placement.assignments).values())
    assert per_node == {2: 30, 3: 30}


def test_a_node_spread_share_above_max_skew_takes_its_remainder_before_the_workloads_beside_it(tmp_path):
    # `bench/mixed_rules.py` seed 415's class: 138 of `x1` (spread node max_skew 1) on 47
    # nodes of 4 CPUs, 44 with 3 and 3 with 2, and 50 of `x0` in the CPU left (44 x 1 + 3 x 2).
    # The remainder left to the fill, x0 took 2 a node first: 22 of x1 short
    from fitlang.solve.pack import pack

    problem = problem_from(tmp_path, pool("p", 47, 4, "16Gi", 1)
                           + workload("x0", 50, 1, "4Gi")
                           + workload("x1", 138, 1, "1Gi", "  spread node max_skew 1\n  priority = 10\n"))
    packing = pack(problem, {("x0", "p"): 50, ("x1", "p"): 138}, {"p": 47})
    assert packing.short_by_workload == {}
    per_node = Counter(node.hosted["x1"] for node in packing.nodes["p"])
    assert per_node == {3: 44, 2: 3}


AWS_OFFER = ('offer far {\n  provider = aws\n  instance_type = "m7i.xlarge"\n  regions = ["r2"]\n'
             '  cpu = 4\n  memory = 16GiB\n  price = 5 USD/h\n}\n')


@pytest.mark.parametrize("backend", BACKENDS)
def test_spread_over_regions_counts_an_offer_region_only_where_nodes_are_bought(tmp_path, backend):
    # region r2 exists only if a node is bought there: 2 replicas in r1 (1 domain, skew 0) cost
    # 2; counting r2 as an empty domain would force buying there (1 + 5 = 6)
    text = (pool("home", 2, 4, "16Gi", 1, '  region = "r1"\n') + AWS_OFFER + "buy {\n}\n"
            + workload("w", 2, 4, "4Gi", "  spread region max_skew 1\n"))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert (placement.value, placement.bought) == (2, {})
    assert on_pools(placement, problem) == {"w": {"home": 2}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_priorities_place_the_highest_level_first_through_an_affinity_chain(tmp_path, backend):
    # app (priority 10) follows cache, cache follows db; one node of 4 CPU / 16 GiB takes
    # app + cache + one db (3.5 CPU, 14 GiB), not the second db
    text = (pool("p", 1, 4, "16Gi", 1)
            + workload("app", 1, "500m", "2Gi", "  priority = 10\n  affinity cache on node\n")
            + workload("cache", 1, 1, "4Gi", "  affinity db on node\n")
            + workload("db", 2, 2, "8Gi") + "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert on_pools(placement, problem) == {"app": {"p": 1}, "cache": {"p": 1}, "db": {"p": 1}}
    assert [(u.workload, u.replica) for u in placement.unplaced] == [("db", 1)]
    assert placement.value == 1


ZONELESS = (pool("bare", 1, 16, "64Gi", 1) + pool("za", 1, 4, "16Gi", 3, '  zone = "a"\n')
            + pool("zb", 1, 4, "16Gi", 3, '  zone = "b"\n'))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nodes_without_a_zone_take_no_replica_bound_by_a_zone_anti_affinity(tmp_path, backend):
    # the zone-less node is in no zone: `anti_affinity self on zone` cannot hold there, so 3
    # replicas have 2 places (zones a and b); the third is unplaced
    text = ZONELESS + workload("web", 3, 2, "2Gi", "  anti_affinity self on zone\n") \
        + "policy {\n  allow_unplaced = true\n}\n"
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    assert on_pools(placement, problem) == {"web": {"za": 1, "zb": 1}}
    assert len(placement.unplaced) == 1 and placement.value == 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_zone_anti_affinity_to_another_workload_keeps_off_zoneless_nodes(tmp_path, backend):
    # api may not share a zone with web and may not run where there is no zone: zb, not `bare`;
    # web (bound by no rule) runs on the cheap zone-less node
    text = ZONELESS + workload("web", 1, 2, "2Gi") \
        + workload("api", 1, 2, "2Gi", "  anti_affinity web on zone\n")
    problem = problem_from(tmp_path, text)
    placement = solved(problem, backend)
    pools = on_pools(placement, problem)
    assert pools["web"] == {"bare": 1} and pools["api"] in ({"za": 1}, {"zb": 1})
    assert placement.value == 4


def test_verify_rejects_a_zone_rule_on_a_node_without_a_zone(tmp_path):
    problem = problem_from(tmp_path, ZONELESS + workload("web", 2, 2, "2Gi",
                                                         "  anti_affinity self on zone\n"))
    document = json.loads(as_json(problem, solved(problem), []))
    for item in document["assignments"]:
        item["node"] = "bare-0"
    messages = [v.message for v in verify(problem, document)[0]]
    assert "`web` may not run on `bare-0`: anti_affinity self on zone (nodes of `bare` have no zone)" \
        in messages


# ---- issue 12: verify checks everything --------------------------------------------------

SMALL = pool("p", 3, 4, "16Gi", 1) + workload("w", 3, 2, "4Gi")


def _document(tmp_path, text=SMALL):
    problem = problem_from(tmp_path, text)
    document = json.loads(as_json(problem, solved(problem), []))
    return problem, document


def _messages(problem, document) -> list[str]:
    violations, problems = verify(problem, document)
    assert problems == []
    return [v.message for v in violations]


def test_verify_rejects_an_empty_assignment_list(tmp_path):
    problem, document = _document(tmp_path)
    document["assignments"] = []
    document["objective"]["value"] = 0.0
    document["objective"]["lower_bound"] = 0.0
    assert _messages(problem, document) == [
        "`w` has 3 of 3 replicas neither placed nor listed as unplaced (replica 0, 1, 2)"]


def test_verify_rejects_a_dropped_replica(tmp_path):
    problem, document = _document(tmp_path)
    document["assignments"] = [a for a in document["assignments"] if a["replica"] != 1]
    assert _messages(problem, document)[0] == \
        "`w` has 1 of 3 replicas neither placed nor listed as unplaced (replica 1)"


def test_verify_rejects_unplaced_replicas_unless_the_policy_allows_them(tmp_path):
    problem, document = _document(tmp_path)
    # replica 2 shares a node with another (2 + 1 on 2 nodes): dropping it keeps the cost
    alone = Counter(a["node"] for a in document["assignments"])
    moved = next(a for a in document["assignments"] if alone[a["node"]] == 2)
    document["assignments"].remove(moved)
    document["unplaced"] = [{"workload": "w", "replica": moved["replica"], "reason": "moved"}]
    assert _messages(problem, document) == [
        "`w` has 1 replica unplaced, and the policy does not set `allow_unplaced = true`"]
    allowing, _ = _document(tmp_path, SMALL + "policy {\n  allow_unplaced = true\n}\n")
    assert _messages(allowing, document) == []


def test_verify_recomputes_the_objective_from_node_prices(tmp_path):
    problem, document = _document(tmp_path)
    assert document["objective"]["value"] == 2.0 and _messages(problem, document) == []
    document["objective"]["value"] = 1.5
    assert _messages(problem, document) == [
        "the placement states cost = 1.5; its nodes give 2.0",
        "the stated lower bound 2.0 is above the objective 1.5"]
    document["objective"]["value"] = 2.0
    document["nodes"][0]["price"] = 0.5
    assert _messages(problem, document) == [
        "node `p-0` is listed at 0.5 USD/h; the policy prices it at 1 USD/h"]


def test_verify_is_linear_in_rules_between_workloads(tmp_path, monkeypatch):
    # one anti-affinity rule per other workload: each reads only the nodes of the two
    # workloads it names (before, every rule read every node)
    import fitlang.rules.affinity as verifying

    rules = "".join(f"  anti_affinity w{i} on node\n" for i in range(30))
    text = pool("p", 40, 4, "16Gi", 1) + workload("x", 2, 1, "1Gi", rules) + "".join(
        workload(f"w{i}", 1, 1, "1Gi") for i in range(30))
    problem, document = _document(tmp_path, text)
    calls = Counter()
    domain_of = verifying.domain_of

    def counting(node, node_class, topology):
        calls[topology] += 1
        return domain_of(node, node_class, topology)

    monkeypatch.setattr(verifying, "domain_of", counting)
    assert _messages(problem, document) == []
    # x: 30 rules, each reading the nodes x runs on and the one node of its target
    x_nodes = len({a["node"] for a in document["assignments"] if a["workload"] == "x"})
    assert calls["node"] == 30 * (x_nodes + 1)


# ---- issue 15: local search after packing; issue 13: the time limit holds -------------------


def _packed(problem, layout):
    """A packing by hand: class id -> one {workload: replicas} per open node, in order."""
    from fitlang.model.problem import RESOURCES
    from fitlang.solve.pack import NodeState, Packing

    packing = Packing()
    for class_id, nodes in layout.items():
        node_class = problem.node_class(class_id)
        for name, hosted in zip(node_class.node_names, nodes):
            free = dict(node_class.capacity_of(name))
            for workload_name, amount in hosted.items():
                for resource in RESOURCES:
                    free[resource] -= problem.demand(workload_name).requests[resource] * amount
            packing.nodes.setdefault(class_id, []).append(NodeState(name, free, dict(hosted)))
    return packing


def _hosts(packing):
    return {c: [dict(n.hosted) for n in nodes] for c, nodes in packing.nodes.items() if nodes}


def test_consolidation_closes_the_nodes_whose_replicas_fit_elsewhere(tmp_path):
    from fitlang.solve.improve import consolidate

    # w: 3 x 4 CPUs on 8-CPU nodes, one a node: two nodes hold them (2 + 1). The first node
    # (least used, ties by name) moves onto the second, which is then full: one node closed.
    # v (one per node) on 3 nodes of b cannot share: nothing of b closes.
    text = (pool("a", 3, 8, "32Gi", 1) + pool("b", 3, 8, "32Gi", 1)
            + workload("w", 3, 4, "1Gi", '  require pool == a\n')
            + workload("v", 3, 1, "1Gi", '  require pool == b\n  anti_affinity self on node\n'))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"a": [{"w": 1}] * 3, "b": [{"v": 1}] * 3})
    assert consolidate(problem, packing, "cost") == 1
    assert _hosts(packing) == {"a": [{"w": 2}, {"w": 1}], "b": [{"v": 1}] * 3}
    assert [n.free["cpu"] for n in packing.nodes["a"]] == [0, 4000]
    assert consolidate(problem, packing, "preferences") == 0  # not an objective nodes lower


def test_consolidation_stops_at_its_deadline(tmp_path):
    import time as clock

    from fitlang.solve.improve import consolidate

    # the layout above, where one node would close: with its deadline past, none does
    text = pool("a", 3, 8, "32Gi", 1) + workload("w", 3, 4, "1Gi")
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"a": [{"w": 1}] * 3})
    assert consolidate(problem, packing, "cost", clock.monotonic() - 1) == 0
    assert _hosts(packing) == {"a": [{"w": 1}] * 3}
    assert consolidate(problem, packing, "cost") == 1


def test_consolidation_keeps_zone_counts_and_gangs_in_their_cluster(tmp_path):
    from fitlang.solve.improve import consolidate

    # s spreads over zones x and y: its replica in y stays in y although x has room, so the
    # node in y stays open; g (a gang) has room in cluster east's other node, not in west's.
    text = (pool("x", 2, 8, "32Gi", 1, '  zone = "x"\n') + pool("y", 1, 8, "32Gi", 1, '  zone = "y"\n')
            + pool("e", 2, 8, "32Gi", 1, '  cluster = "east"\n')
            + pool("f", 1, 8, "32Gi", 1, '  cluster = "west"\n')
            + workload("s", 2, 2, "1Gi", '  require pool in [x, y]\n  spread zone max_skew 1\n')
            + workload("g", 3, 2, "1Gi", '  kind = job\n  gang = true\n  require pool in [e, f]\n'))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"x": [{"s": 1}], "y": [{"s": 1}], "e": [{"g": 1}, {"g": 1}], "f": [{"g": 1}]})
    assert consolidate(problem, packing, "cost") == 1
    assert _hosts(packing) == {"x": [{"s": 1}], "y": [{"s": 1}], "e": [{"g": 2}], "f": [{"g": 1}]}


def test_inventory_fleet_answers_by_its_time_limit_with_a_verified_placement(tmp_path, cpu_clock):
    # an instance HiGHS does not close in 30 s (bench/inventories.py, 1,000 nodes): with a
    # limit of 6 s the solve returns by the limit (10% and a second's slack: the answer's
    # assembly), with the best placement it has (the greedy floor at least), verified. On the
    # CPU clock, as the benches run: the same seconds of work at any load of the machine
    fleet = bench_module("inventories").generate(1000, 100)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    watch = cpu_clock()
    placement = solve(problem, time_limit=6)
    own, _ = watch.seconds()  # (the children beside it, on the other core, as the benches count)
    assert own <= 6 * 1.1 + 1.0, own
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [] and not placement.unplaced
    assert placement.status is Status.FEASIBLE
    # HiGHS starts from the greedy floor, so it has a placement, and its root LP (under a
    # second here) a bound, whatever it finds by the limit
    assert placement.bound is not None and placement.bound <= placement.value


@pytest.mark.parametrize("shape", ["inventory", "breaker"])
def test_at_the_time_limit_every_shape_answers_verified_no_dearer_than_first_fit(
    tmp_path, shape, monkeypatch
):
    # issue 15's anytime guarantees on its two shapes at 1,000 nodes (the bench shape: the
    # seeds test above): by the limit (slack on top), every replica placed, verified, no
    # dearer than the greedy first-fit written apart (bench/baselines.py: largest CPU request
    # first onto the most allocated node, cheapest new node else), a proven bound at most the
    # cost, and `optimal` only within the stated tolerance. The limit is read on the process's
    # CPU clock, as the benches do: on the wall the test failed at load ~50, where the
    # process had a tenth of a core and reading the fleet alone took seconds of wall
    import time

    generate = getattr(bench_module("inventories"), "generate" if shape == "inventory" else "breaker")
    fleet = generate(1000, 100)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    monkeypatch.setattr(time, "monotonic", time.process_time)
    started = time.process_time()
    placement = solve(problem, time_limit=5)
    assert time.process_time() - started <= 5 * 1.1 + 1.0
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [] and not placement.unplaced
    first_fit, left_out = bench_module("baselines").greedy(problem)
    assert left_out or placement.value <= first_fit
    assert placement.bound is not None and placement.bound <= placement.value
    within = placement.value - placement.bound <= Fraction(placement.tolerance) * placement.value
    assert (placement.status is Status.OPTIMAL) == within
    assert placement.status in (Status.OPTIMAL, Status.FEASIBLE)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(RANDOM_WORKLOADS, RANDOM_POOLS)
def test_repacking_keeps_every_rule_that_verify_checks_and_never_costs_more(tmp_path, workloads, pools):
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.placement import FEASIBLE, _from_packing, _packed_value
    from fitlang.solve.repack import repack

    problem = random_fleet(tmp_path, workloads, pools)
    if problem is None:
        return
    packing, _ = greedy_floor(problem)
    if not packing.complete:
        return  # repacking starts from a complete placement
    before = _packed_value(problem, packing, "cost")
    repack(problem, packing, "cost", time.monotonic() + 0.2)
    assert _packed_value(problem, packing, "cost") <= before
    placement = _from_packing(problem, packing, "cost", FEASIBLE, None)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [], [v.message for v in violations]


def test_small_fleet_out_of_time_answers_with_the_greedy_floor(tmp_path):
    # 4 nodes: the exact per-node path. With no time for Z3 the answer is the greedy floor,
    # not `unknown` with nothing: w's 3 x 4 CPUs on 8-CPU nodes, 2 a node: 2 nodes, 2 USD/h.
    problem = problem_from(tmp_path, pool("a", 4, 8, "32Gi", 1) + workload("w", 3, 4, "1Gi"))
    placement = solve(problem, time_limit=1e-6)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == []
    assert placement.status is Status.FEASIBLE and not placement.unplaced
    assert placement.value == 2 and placement.bound is None


def test_a_pool_of_ten_million_nodes_costs_what_a_pool_of_a_hundred_does(tmp_path):
    # issue 13: 10 replicas of 1 CPU + 2Gi on 4-CPU, 16Gi nodes at 0.1 USD/h: 3 nodes (4 + 4 + 2)
    # = 0.3 USD/h, whatever the pool's size. The model is the same (one class, one workload)
    # and the memory used to build, solve, verify and report stays that of the small pool
    # (measured by tracemalloc, not by the clock, which other work on the machine moves).
    import tracemalloc

    from fitlang.solve.encode import encode

    measured = {}
    for count in (100, 10_000_000):
        tracemalloc.start()
        problem = problem_from(tmp_path, pool("big", count, 4, "16Gi", "0.1")
                               + workload("web", 10, 1, "2Gi"), f"p{count}.fit")
        placement = solved(problem, "highs")  # verified
        as_text(problem, placement)
        json.loads(as_json(problem, placement, []))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        model = encode(problem).model
        used = {a.node for a in placement.assignments}
        measured[count] = (len(model.variables), len(model.constraints), placement.value, len(used), peak)
    small, huge = measured[100], measured[10_000_000]
    assert small[:4] == huge[:4] == (small[0], small[1], Fraction(3, 10), 3)
    assert huge[4] < 2 * small[4] + 2 ** 20, (small[4], huge[4])  # names alone would be ~700 MB


@pytest.mark.parametrize("shape", ["inventory", "breaker"])
def test_the_models_arrays_are_its_rows(tmp_path, shape):
    # issue 15: the large families of rows are built as arrays; read as `Constraint`s (for Z3
    # and explain) and as arrays (`matrix_form`, for HiGHS) they are the same rows, in order
    import numpy as np
    from scipy.sparse import csr_array

    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem
    from fitlang.solve.encode import encode
    from fitlang.solve.linear import matrix_form

    inventories = bench_module("inventories")
    generator = getattr(inventories, "generate" if shape == "inventory" else "breaker")
    path = generator(600, 60).write(tmp_path, shape)
    problem = build_problem(check_file(path).program).problem
    encoding = encode(problem)
    encoding.relax_replicas()
    form = matrix_form(encoding.model, encoding.objective("cost"))
    rows = encoding.model.constraints  # every row as a Constraint, made from the arrays
    variables = encoding.model.variables
    assert form.matrix.shape == (len(rows), len(variables)) and len(rows) > 5000
    triples = [(r, i, float(c)) for r, row in enumerate(rows) for i, c in row.terms.items()]
    built = csr_array(([t[2] for t in triples], ([t[0] for t in triples], [t[1] for t in triples])),
                      shape=form.matrix.shape)
    assert (built != form.matrix.scipy()).nnz == 0
    assert form.row_lower.tolist() == [-np.inf if r.lower is None else float(r.lower) for r in rows]
    assert form.row_upper.tolist() == [np.inf if r.upper is None else float(r.upper) for r in rows]
    assert form.integrality.tolist() == [int(v.integer) for v in variables]
    assert form.upper.tolist() == [float(v.upper) for v in variables]
    assert len({v.name for v in variables}) == len(variables)  # every name made, none twice
    assert any(not v.integer for v in variables) and any(v.name.startswith("y[") for v in variables)


# ---- issue 15, session 5: fragmentation rows and ruin and recreate ---------------------------


@pytest.mark.parametrize("k", [1, 2, 3])
@given(st.lists(st.integers(1, 16), min_size=1, max_size=8))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fragment_weights_of_what_one_node_holds_sum_to_at_most_a_node(k, sizes):
    # any replicas that fit on one node of 16 CPUs (tried by enumerating every subset) weigh
    # at most k(k+1) together: the row sum of weights x y <= k(k+1) x u holds for every packing
    import numpy as np

    from fitlang.rules.capacity import fragment_weights

    weights = fragment_weights(np.array(sizes, dtype=np.int64), 16, k)
    for chosen in itertools.product([0, 1], repeat=len(sizes)):
        if sum(s for s, c in zip(sizes, chosen) if c) <= 16:
            assert sum(int(w) for w, c in zip(weights, chosen) if c) <= k * (k + 1)


def test_fragment_weights_by_hand():
    # 8-CPU nodes; replicas of 5, 4, 3 and 1 CPUs. u(1): over half a node 1, half 1/2, else 0
    # (x2); u(2): 5/8 and 4/8 and 3/8 are in (1/3, 2/3): 1/2 each, 1/8 is under 1/3: 0 (x6)
    import numpy as np

    from fitlang.rules.capacity import fragment_weights

    charges = np.array([5000, 4000, 3000, 1000], dtype=np.int64)
    assert fragment_weights(charges, 8000, 1).tolist() == [2, 1, 0, 0]
    assert fragment_weights(charges, 8000, 2).tolist() == [3, 3, 3, 0]


def test_the_aggregate_counts_a_node_for_each_replica_over_half_a_node(tmp_path, monkeypatch):
    # x: 2 replicas of 5 CPUs, z: 1 of 5 CPUs, y: 1 of 1 CPU, on 8-CPU nodes at 1 USD/h. The
    # class's sums (16 CPUs on 2 nodes) fit, and each workload alone fits one a node on 2
    # nodes, but no node holds two of x and z: 3 nodes (y beside one). The aggregate model
    # says so with the k = 1 row; without the rows (the default) it plans 2 nodes.
    from fitlang.rules import capacity
    from fitlang.solve import encode as encoding_module
    from fitlang.solve.backends import HighsBackend

    problem = problem_from(tmp_path, pool("p", 4, 8, "32Gi", 1)
                           + workload("x", 2, 5, "1Gi") + workload("z", 1, 5, "1Gi")
                           + workload("y", 1, 1, "1Gi"))

    def planned() -> Fraction:
        encoding = encoding_module.encode(problem)
        return HighsBackend().minimise(encoding.model, encoding.objective("cost"), 10).objective

    monkeypatch.setattr(capacity, "FRAGMENT_KS", (1, 2, 3))
    assert planned() == 3
    monkeypatch.setattr(capacity, "FRAGMENT_KS", ())
    assert planned() == 2


def test_ruin_and_recreate_moves_replicas_off_an_expensive_node_onto_cheaper_ones(tmp_path):
    from fitlang.solve.improve import consolidate

    # w: 2 x 2 CPUs on the one 8-CPU node of `big` (10 USD/h); `small` has 4-CPU nodes at
    # 1 USD/h. Nothing else is open, so no node closes; ruin and recreate puts both replicas
    # on one small node (1 < 10). v (one per node, anti-affinity with itself) needs two
    # small nodes (2 < 10). By node count, one node for one is no gain: nothing moves.
    text = (pool("big", 1, 8, "32Gi", 10) + pool("small", 3, 4, "16Gi", 1)
            + workload("w", 2, 2, "1Gi") + workload("v", 2, 2, "1Gi", "  anti_affinity self on node\n"))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"big": [{"w": 2}]})
    assert consolidate(problem, packing, "nodes") == 0
    assert _hosts(packing) == {"big": [{"w": 2}]}
    assert consolidate(problem, packing, "cost") == 1
    assert _hosts(packing) == {"small": [{"w": 2}]}
    assert [n.free["cpu"] for n in packing.nodes["small"]] == [0]

    packing = _packed(problem, {"big": [{"v": 2}]})
    assert consolidate(problem, packing, "cost") == 1
    assert _hosts(packing) == {"small": [{"v": 1}, {"v": 1}]}


def test_ruin_and_recreate_keeps_replicas_in_their_zone(tmp_path):
    from fitlang.solve.improve import consolidate

    # as above, but `small` is in another zone than `big` and s spreads over zones: its
    # replicas stay in big's zone (a spread counts per zone), so nothing moves.
    text = (pool("big", 1, 8, "32Gi", 10, '  zone = "a"\n') + pool("small", 3, 4, "16Gi", 1, '  zone = "b"\n')
            + workload("s", 2, 2, "1Gi", "  spread zone max_skew 2\n"))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"big": [{"s": 2}]})
    assert consolidate(problem, packing, "cost") == 0
    assert _hosts(packing) == {"big": [{"s": 2}]}


def test_highs_starts_from_the_given_solution_and_reports_each_improvement():
    # min 3a + 5b with 4a + 7b >= 30, a and b whole in 0..10. By hand: b = 0 needs a = 8 (24),
    # b = 1: a = 6 (23), b = 2: a = 4 (22), b = 3: a = 3 (24), b = 4: a = 1 (23), b = 5: 25,
    # so 22 at (4, 2). Started from (10, 10), cost 80, HiGHS reports that first, then only
    # better ones, and ends at the optimum with a bound that proves it.
    from fitlang.solve.backends import HighsBackend
    from fitlang.solve.linear import LinearModel

    model = LinearModel()
    a, b = model.var("a", 0, 10), model.var("b", 0, 10)
    model.add({a: 4, b: 7}, lower=30)
    seen = []
    outcome = HighsBackend().minimise(model, {a: 3, b: 5}, start={a: 10, b: 10},
                                      improving=lambda value, bound: seen.append(value))
    assert seen[0] == 80 and seen == sorted(seen, reverse=True) and seen[-1] == 22
    assert (outcome.status, outcome.objective, outcome.bound) == (Status.OPTIMAL, 22, 22)
    assert outcome.solution == [4, 2]


def test_the_greedy_floor_is_a_feasible_start_for_the_aggregate_model(tmp_path):
    # the floor's packing, as values of the model's variables, keeps every row and bound of
    # the (relaxed) aggregate model, and the model prices it at what the packing costs: the
    # inventory shape has spreads, gangs, node anti-affinity, exclusive, latency and options
    import numpy as np

    from fitlang.solve.encode import encode
    from fitlang.solve.greedy import greedy_packing
    from fitlang.solve.linear import matrix_form

    fleet = bench_module("inventories").generate(1000, 100)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    packing = greedy_packing(problem, apart_first=True)
    assert packing.complete
    encoding = encode(problem)
    encoding.relax_replicas()
    start = encoding.start_values(packing)
    form = matrix_form(encoding.model, encoding.objective("cost"))
    values = np.zeros(encoding.model.variable_count)
    values[list(start)] = list(start.values())
    assert len(start) == encoding.model.variable_count  # no node spread here: every variable
    activity = form.matrix.scipy() @ values
    assert ((activity >= form.row_lower - 1e-6) & (activity <= form.row_upper + 1e-6)).all()
    assert ((values >= form.lower) & (values <= form.upper)).all()
    cost = sum(c.price * len(packing.nodes.get(c.id, [])) for c in problem.classes)
    assert encoding.model.value(encoding.objective("cost"), values.tolist()) == cost


def _searched(problem, packing, seconds=5.0):
    import time as clock

    from fitlang.solve import neighbourhood
    from fitlang.solve.placement import _packed_value

    return neighbourhood.search(problem, packing, "cost", clock.monotonic() + seconds,
                                lambda p: _packed_value(problem, p, "cost"))


def _verified_value(problem, packing):
    from fitlang.solve.placement import FEASIBLE, _from_packing

    placement = _from_packing(problem, packing, "cost", FEASIBLE, None)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [], [v.message for v in violations]
    assert not placement.unplaced
    return placement.value


def test_neighbourhood_search_moves_what_the_greedy_order_put_on_dear_nodes(tmp_path):
    from fitlang.solve.greedy import greedy_floor

    # a (priority 10, first in the greedy order) takes the free node that b needs, so one
    # replica of b goes to a dear node: 5 USD/h. Best: a on one cloud node (1), b on both
    # free nodes (0): 1 USD/h. The search's model, with both workloads free to move, finds it.
    text = (pool("free", 2, 4, "16Gi", 0) + pool("cloud", 4, 4, "16Gi", 1) + pool("dear", 4, 4, "16Gi", 5)
            + workload("a", 2, 2, "1Gi", "  priority = 10\n  require pool in [free, cloud]\n")
            + workload("b", 2, 4, "1Gi", "  priority = 1\n  require pool in [free, dear]\n"))
    problem = problem_from(tmp_path, text)
    floor, _ = greedy_floor(problem)
    assert _verified_value(problem, floor) == 5
    assert _hosts(floor) == {"free": [{"a": 2}, {"b": 1}], "dear": [{"b": 1}]}
    best = _searched(problem, floor)
    assert _verified_value(problem, best) == 1
    assert _hosts(best) == {"free": [{"b": 1}, {"b": 1}], "cloud": [{"a": 2}]}
    assert _verified_value(problem, floor) == 5  # the start is left as it was


def test_neighbourhood_search_keeps_a_buy_blocks_max_count_across_its_regions(tmp_path):
    from fitlang.solve.greedy import greedy_floor

    # `small` is sold in two regions (two classes of one `buy` block, max_count = 6). The
    # floor: api's 4 replicas (one a node) and 2 of batch on 6 small nodes in eastus, the
    # third batch on a big node: 6 x 0.384 + 3.20 = 5.504 USD/h. A step with both workloads
    # free packs the model's counts per class, 4 small nodes in eastus and 3 in eastus2, 7
    # of the block's 6: that was kept (2.688 USD/h) and `fitc solve` refused it (E0507). Kept
    # now only within the block's limit.
    offers = ('offer big {\n  provider = azure\n  instance_type = "Standard_NV36ads_A10_v5"\n'
              '  regions = ["eastus"]\n  cpu = 36\n  memory = 440GiB\n  price = 3.20 USD/h\n}\n'
              'offer small {\n  provider = azure\n  instance_type = "Standard_D8s_v5"\n'
              '  regions = ["eastus", "eastus2"]\n  cpu = 8\n  memory = 32GiB\n  price = 0.384 USD/h\n}\n'
              'buy bigs {\n  offers = [big]\n  max_count = 8\n}\n'
              'buy cpus {\n  offers = [small]\n  max_count = 6\n}\n')
    text = offers + workload("api", 4, 2, "6GiB", "  anti_affinity self on node\n") + \
        workload("batch", 3, 6, "20GiB", "  kind = job\n")
    problem = problem_from(tmp_path, text)
    floor, _ = greedy_floor(problem)
    assert _verified_value(problem, floor) == Fraction("5.504")
    best = _searched(problem, floor)
    assert _verified_value(problem, best) <= Fraction("5.504")
    assert sum(len(nodes) for class_id, nodes in best.nodes.items() if class_id.startswith("small")) <= 6


def test_neighbourhood_search_keeps_the_others_where_they_are_and_the_rules_between_them(tmp_path):
    from fitlang.solve import neighbourhood

    # x is kept out of the zone y runs in (anti-affinity on zone). Only x may move (a
    # neighbourhood of one workload): y stays on its two dear nodes in zone b, and x moves
    # from zone c (2 USD/h) to zone a (1 USD/h): 8 -> 7 USD/h.
    text = (pool("a", 4, 4, "16Gi", 1, '  zone = "a"\n') + pool("b", 4, 4, "16Gi", 3, '  zone = "b"\n')
            + pool("c", 4, 4, "16Gi", 2, '  zone = "c"\n')
            + workload("y", 2, 4, "1Gi", "  require pool == b\n")
            + workload("x", 2, 2, "1Gi", "  anti_affinity y on zone\n  require pool in [a, c]\n"))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"b": [{"y": 1}, {"y": 1}], "c": [{"x": 2}]})
    assert _verified_value(problem, packing) == 8
    chosen = neighbourhood._choose(problem, [problem.demand("x")])
    assert chosen == {"x"}
    moved, proven = neighbourhood._step(problem, packing, chosen, "cost", __import__("time").monotonic() + 5)
    assert proven and _hosts(moved) == {"b": [{"y": 1}, {"y": 1}], "a": [{"x": 2}]}
    assert _verified_value(problem, moved) == 7


def test_neighbourhood_search_improves_the_floor_of_an_inventory_shaped_fleet(tmp_path):
    from fitlang.solve.greedy import greedy_floor

    fleet = bench_module("inventories").generate(300, 30, seed=7)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    floor, _ = greedy_floor(problem)
    start = _verified_value(problem, floor)
    best = _searched(problem, floor, seconds=8.0)
    assert _verified_value(problem, best) < start


def test_a_bound_from_highs_is_never_rounded_up():
    from fractions import Fraction

    from fitlang.solve.backends import _bound_fraction, _fraction

    # 1/3 as a float: the nearest fraction with a denominator up to 1e9 is 1/3 itself, a
    # hair above the float; the bound stated must not be above what HiGHS proved
    third = 1 / 3
    assert _fraction(third) == Fraction(1, 3) > Fraction(third)
    assert _bound_fraction(third) <= Fraction(third)
    assert Fraction(third) - _bound_fraction(third) < Fraction(1, 10 ** 9)
    assert _bound_fraction(1304.75) == Fraction(521900, 400) and _bound_fraction(float("inf")) is None


def _packing_of(problem, nodes: list[dict[str, int]]):
    """A packing with these nodes of the first class open, hosting these replicas."""
    from fitlang.model.problem import RESOURCES
    from fitlang.solve.pack import NodeState, Packing

    node_class = problem.classes[0]
    packing = Packing()
    for name, hosted in zip(node_class.node_names, nodes):
        free = {r: node_class.capacity[r] - sum(problem.demand(w).requests[r] * n for w, n in hosted.items())
                for r in RESOURCES}
        packing.nodes.setdefault(node_class.id, []).append(NodeState(name, free, dict(hosted)))
    return packing


def test_repacking_finds_the_packing_that_moving_a_node_at_a_time_cannot(tmp_path):
    # nodes of 10 CPUs at 1 USD/h: a (6 CPUs) alone on two nodes, b (5) and c (4) together on
    # two more: 4 USD/h. No node closes by moving its replicas into the others' room (4, 4, 1
    # and 1 CPUs free), and two new nodes for the two a's cost what they replace. Placed again
    # together: a + c, a + c, b + b: 3 USD/h, the optimum (30 CPUs).
    from fitlang.solve.improve import consolidate
    from fitlang.solve.placement import FEASIBLE, _from_packing
    from fitlang.solve.repack import repack

    text = (pool("p", 60, 10, "64Gi", 1) + workload("a", 2, 6, "1Gi")
            + workload("b", 2, 5, "1Gi") + workload("c", 2, 4, "1Gi"))
    problem = problem_from(tmp_path, text)
    packing = _packing_of(problem, [{"a": 1}, {"a": 1}, {"b": 1, "c": 1}, {"b": 1, "c": 1}])
    consolidate(problem, packing, "cost", time.monotonic() + 5)
    assert sum(len(nodes) for nodes in packing.nodes.values()) == 4
    assert repack(problem, packing, "cost", time.monotonic() + 5) >= 1
    placement = _from_packing(problem, packing, "cost", FEASIBLE, None)
    assert placement.value == 3 and not placement.unplaced
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == []
    hosted = sorted(sorted(node.hosted.items()) for nodes in packing.nodes.values() for node in nodes)
    assert hosted == [[("a", 1), ("c", 1)], [("a", 1), ("c", 1)], [("b", 2)]]


def test_repacking_gives_up_after_steps_in_a_row_that_keep_nothing(tmp_path, monkeypatch):
    # the optimum of the repacking test above (3 nodes for 30 CPUs) leaves nothing to find:
    # repacking stops after PATIENCE steps, long before its deadline
    from fitlang.solve import repack as repack_module

    text = (pool("p", 60, 10, "64Gi", 1) + workload("a", 2, 6, "1Gi")
            + workload("b", 2, 5, "1Gi") + workload("c", 2, 4, "1Gi"))
    problem = problem_from(tmp_path, text)
    packing = _packing_of(problem, [{"a": 1, "c": 1}, {"a": 1, "c": 1}, {"b": 2}])
    steps = []
    step = repack_module._Repacker.step
    monkeypatch.setattr(repack_module._Repacker, "step",
                        lambda self, slots, deadline: steps.append(1) or step(self, slots, deadline))
    assert repack_module.repack(problem, packing, "cost", time.monotonic() + 600) == 0
    assert len(steps) == repack_module.PATIENCE


def test_each_rule_of_the_model_carries_its_typed_group_key(tmp_path):
    # Worked out from the rules, not read off the model: two zones' pools (their capacity
    # rows), w's replicas and eligibility and its spread over zones (rule 0), v's replicas,
    # eligibility and its affinity to w on zone (rule 0), and the budget. Rows that belong to
    # no rule (presence switches, node counts) carry no group.
    from fitlang.solve.encode import encode
    from fitlang.solve.groups import (
        AffinityGroup,
        BudgetGroup,
        CapacityGroup,
        EligibleGroup,
        ReplicasGroup,
        SpreadGroup,
    )

    text = (pool("a", 2, 8, "32Gi", 1, '  zone = "a"\n') + pool("b", 2, 8, "32Gi", 1, '  zone = "b"\n')
            + workload("w", 2, 2, "4Gi", "  spread zone max_skew 1\n")
            + workload("v", 1, 2, "4Gi", "  affinity w on zone\n")
            + "policy {\n  budget = 10 USD/h\n}\n")
    model = encode(problem_from(tmp_path, text)).model
    groups = [c.group for c in model.constraints]
    assert set(groups) - {None} == {
        CapacityGroup("a"), CapacityGroup("b"), ReplicasGroup("w"), EligibleGroup("w"),
        SpreadGroup("w", 0), ReplicasGroup("v"), EligibleGroup("v"), AffinityGroup("v", 0),
        BudgetGroup()}
    assert None in groups  # z[v,zone=...] and z[w,zone=...]: presence, no rule of its own


def test_the_z3_core_gives_back_typed_keys_through_the_backends_own_table():
    # x in 0..10. x >= 5 (w's replicas) against x <= 2 (a latency rule of workload `a` for
    # location `b:c`) is the one conflict; x <= 9 (a latency rule of workload `a:b` for
    # location `c`) and x <= 8 (the budget) hold beside it. The two latency keys have the same
    # readable name, "latency:a:b:c": only a table from switch to key, never a parse of a
    # name, can say which of them is in the core.
    from fitlang.solve.backends import Z3Backend, _smt2, group_name
    from fitlang.solve.groups import BudgetGroup, LatencyGroup, ReplicasGroup
    from fitlang.solve.linear import LinearModel

    model = LinearModel()
    x = model.var("x", 0, 10)
    conflicting, twin = LatencyGroup("a", "b:c"), LatencyGroup("a:b", "c")
    assert group_name(conflicting) == group_name(twin) == "latency:a:b:c" and conflicting != twin
    model.add({x: 1}, lower=5, group=ReplicasGroup("w"))
    model.add({x: 1}, upper=9, group=twin)
    model.add({x: 1}, upper=2, group=conflicting)
    model.add({x: 1}, upper=8, group=BudgetGroup())
    model.add({x: 1}, upper=10)  # no group: always asserted, never in a core
    text, ordered = _smt2(model, switched=True)
    # switch g<i> is the i-th key, in the order of the readable names (ties: as added)
    assert ordered == [BudgetGroup(), twin, conflicting, ReplicasGroup("w")]
    assert "(declare-const g3 Bool)" in text and "(declare-const g4 Bool)" not in text
    core = Z3Backend().unsat_core(model, time_limit=10)
    assert core == [conflicting, ReplicasGroup("w")]
    assert Z3Backend().unsat_core(LinearModel(), time_limit=10) is None  # nothing conflicts


def test_after_the_model_the_cheaper_pattern_floor_is_kept_as_it_is_else_the_models_packing_is_repacked(
        tmp_path, monkeypatch):
    # The repacking example above: nodes of 10 CPUs at 1 USD/h; a (6 CPUs), b (5), c (4), two
    # replicas each. The model's packing a | a | b + c | b + c costs 4; repacked, 3 (a + c,
    # a + c, b + b). A pattern floor of 3 beats it: kept as it is, never repacked. A pattern
    # floor of 5 (every replica alone but the b's) does not: the model's packing is repacked.
    from fitlang.solve import placement as placement_module

    text = (pool("p", 60, 10, "64Gi", 1) + workload("a", 2, 6, "1Gi")
            + workload("b", 2, 5, "1Gi") + workload("c", 2, 4, "1Gi"))
    problem = problem_from(tmp_path, text)
    model = _packing_of(problem, [{"a": 1}, {"a": 1}, {"b": 1, "c": 1}, {"b": 1, "c": 1}])
    patterned = _packing_of(problem, [{"a": 1, "c": 1}, {"a": 1, "c": 1}, {"b": 2}])
    repacked = []
    real_repack = placement_module.repack
    monkeypatch.setattr(placement_module, "repack", lambda problem, packing, *rest:
                        repacked.append(packing) or real_repack(problem, packing, *rest))

    def value(packing):
        return placement_module._packed_value(problem, packing, "cost")

    kept = placement_module._repacked(problem, model, patterned, "cost", time.monotonic() + 5, Fraction(3))
    assert kept is patterned and value(kept) == 3 and repacked == []
    dear = _packing_of(problem, [{"a": 1}, {"a": 1}, {"c": 1}, {"c": 1}, {"b": 2}])
    kept = placement_module._repacked(problem, model, dear, "cost", time.monotonic() + 5, Fraction(3))
    assert kept is model and repacked == [model] and value(kept) == 3


def test_neighbourhood_search_starts_no_step_it_cannot_finish_by_the_deadline(tmp_path, monkeypatch):
    # Steps that take 3 s each (encoding and presolve do not stop at a step's deadline), with
    # 10 s to go: one at 10 s left, one at 7, one at 4; at 1 s left the longest step so far
    # (3 s) no longer fits, so none starts and the search ends 1 s before its deadline (a step
    # started there would end 2 s past it).
    import types

    from fitlang.solve import neighbourhood
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.placement import _packed_value

    text = (pool("free", 2, 4, "16Gi", 0) + pool("cloud", 4, 4, "16Gi", 1) + pool("dear", 4, 4, "16Gi", 5)
            + workload("a", 2, 2, "1Gi", "  priority = 10\n  require pool in [free, cloud]\n")
            + workload("b", 2, 4, "1Gi", "  priority = 1\n  require pool in [free, dear]\n"))
    problem = problem_from(tmp_path, text)
    floor, _ = greedy_floor(problem)
    now = [100.0]
    started = []

    def slow_step(problem, packing, chosen, objective, deadline):
        started.append(deadline - now[0])
        now[0] += 3.0
        return None, False

    monkeypatch.setattr(neighbourhood, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(neighbourhood, "_step", slow_step)
    neighbourhood.search(problem, floor, "cost", 110.0, lambda p: _packed_value(problem, p, "cost"))
    assert len(started) == 3 and now[0] == 109.0


def test_the_relaxations_guide_with_classes_goes_first_then_options_alone(monkeypatch):
    # a short limit leaves time for one guided pass: the one that also says which classes
    # (inventory 10,000: 589.41 against 593.18 with the options alone); without classes
    # (breaker: no option groups either) nothing changes
    from fitlang.solve import placement as placement_module

    tried = []
    monkeypatch.setattr(placement_module, "_cheapest_guided",
                        lambda problem, packing, guides, *a, **k: tried.append(guides) or packing)
    placement_module._guided_floor(None, "floor", ({"w": ["w[a]", "w[b]"]}, {"v": frozenset({"c1"})}),
                                   "cost", 5, None)
    first, fractional, second = tried[0]  # (the first's copy with classes by the share of a node)
    assert first.classes == {"v": frozenset({"c1"})} and first.options == {"w": ["w[a]", "w[b]"]}
    assert fractional.fractional and not first.fractional and fractional.classes == first.classes
    assert not second.classes and second.options == {"w": ["w[a]", "w[b]"]}
    placement_module._guided_floor(None, "floor", ({"w": ["w[a]"]}, {}), "cost", 5, None)
    assert [g.classes for g in tried[1]] == [{}]


def test_a_gang_its_packing_left_short_is_not_paid_for(tmp_path):
    # 3 nodes of 8 CPUs at 1 USD/h; the model's counts ask for the gang's 4 replicas of 8 CPUs
    # and w's one: the packing puts 3 of the gang on the 3 nodes and is short of the fourth and
    # of w. The gang is all or nothing, so it is left out whole: nothing is placed and nothing
    # is paid for (the model's path stated 3 USD/h for it: random fleet seed 1262, 280 where
    # its nodes give 270), and `verify` accepts what is stated.
    from fitlang.solve.aggregate import model_placement
    from fitlang.solve.linear import Outcome
    from fitlang.solve.pack import pack
    from fitlang.solve.placement import FEASIBLE

    problem = problem_from(tmp_path, pool("a", 3, 8, "32Gi", 1) + workload("w", 1, 4, "1Gi")
                           + workload("g", 4, 8, "1Gi", "  gang = true\n")
                           + "policy {\n  allow_unplaced = true\n}\n")
    packing = pack(problem, {("w", "a"): 1, ("g", "a"): 4}, {"a": 3})
    assert sum(n.hosted.get("g", 0) for n in packing.nodes["a"]) == 3  # the gang packed short
    placement = model_placement(problem, Outcome(Status.OPTIMAL), packing, "cost", FEASIBLE)
    assert placement.assignments == [] and len(placement.unplaced) == 5
    assert placement.value == 0
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == []


# ---- rules over the replicas of every accelerator option together ----------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_anti_affinity_self_on_zone_counts_every_option_exactly(tmp_path, backend):
    from option_domains import APART_COST, APART_ZONES, apart_policy, zones_of

    problem = problem_from(tmp_path, apart_policy())
    placement = solved(problem, backend)
    assert placement.value == APART_COST  # by hand in option_domains.apart_policy
    assert {zone: options for zone, [*options] in zones_of(problem, placement).items()} == {
        zone: [option] for zone, option in APART_ZONES.items()}


@pytest.mark.parametrize("whole_model", [True, False])
def test_anti_affinity_self_on_zone_counts_every_option_at_fleet_scale(tmp_path, monkeypatch,
                                                                       whole_model):
    # 80 nodes: the aggregate model (or, with its columns capped to none, the greedy floor
    # and the search after it) holds the rule too
    from option_domains import APART_COST, APART_ZONES, apart_policy, zones_of

    from fitlang.solve import bound_stages
    from fitlang.solve import placement as stages

    if not whole_model:
        monkeypatch.setattr(bound_stages, "MODEL_MAX_COLUMNS", 0)
    problem = problem_from(tmp_path, apart_policy(count=20))
    assert sum(c.count for c in problem.classes) > stages.EXACT_MAX_NODES
    placement = solved(problem)
    assert placement.value == APART_COST
    assert {zone: options for zone, options in zones_of(problem, placement).items()} == {
        zone: [option] for zone, option in APART_ZONES.items()}


def test_anti_affinity_self_on_region_counts_every_option(tmp_path):
    # zones a and b in region east, c in west; throughput 2: one replica per region, of any
    # option: an L40S in a (1) and one in c (30), 31 (counted per option, an L40S in a and
    # an H100 in a or b would do: 11)
    from option_domains import apart_policy, zones_of

    text = (apart_policy().replace("throughput = 3", "throughput = 2")
            .replace("on zone", "on region").replace('zone = "a"', 'zone = "a"\n  region = "east"')
            .replace('zone = "b"', 'zone = "b"\n  region = "east"')
            .replace('zone = "c"', 'zone = "c"\n  region = "west"'))
    problem = problem_from(tmp_path, text)
    placement = solved(problem)
    assert placement.value == 31 and zones_of(problem, placement) == {"a": ["L40S"], "c": ["L40S"]}


def test_spread_zone_counts_every_option_node_by_node(tmp_path):
    from option_domains import per_zone, spread_policy

    problem = problem_from(tmp_path, spread_policy())
    for backend in BACKENDS:
        placement = solved(problem, backend)
        counts = per_zone(problem, placement)
        assert placement.value == 41 and set(counts) == {"a", "b", "c"}  # by hand: spread_policy
        assert max(counts.values()) - min(counts.values()) <= 1


def test_spread_over_options_past_the_per_node_size_is_solved_narrowed(tmp_path):
    # a pool grown to 80 nodes (as explain's trials grow them): narrowed (`option_spread`:
    # no option runs in zones b and c both, so each zone gets one option, the cheapest there,
    # and one replica: L40S in a at 1, H100 in b at 10, L40S in c at 30), which is the optimum
    # here, though not proven
    from option_domains import per_zone, spread_policy

    from fitlang.rules import option_spread
    from fitlang.solve import placement as stages
    from fitlang.solve.explain.search import with_pool

    assert option_spread.MAX_NODES == stages.EXACT_MAX_NODES
    problem = with_pool(problem_from(tmp_path, spread_policy()), "h100a", 80)
    assert sum(c.count for c in problem.classes) > stages.EXACT_MAX_NODES
    placement = solved(problem)
    counts = per_zone(problem, placement)
    assert placement.value == 41 and max(counts.values()) - min(counts.values()) <= 1
    # the bound stated is the policy's without the spread (`option_spread_bound`): one L40S
    # node in zone a would do (1 USD/h), the LP proves less
    assert placement.bound is not None and 0 < placement.bound <= 1


@pytest.mark.parametrize("rule, floor_kept", [("spread zone max_skew 1", False), ("", True)])
def test_out_of_time_the_greedy_floor_is_kept_only_where_it_holds_a_spread_over_options(
        tmp_path, monkeypatch, rule, floor_kept):
    # the per-node search made to end with nothing: the greedy floor balances each option's
    # own zones (2 in a, 1 in b, none in c: a spread over both options broken), so it is not
    # the answer there; without the spread it still is
    from option_domains import apart_policy

    from fitlang.solve import placement as stages
    from fitlang.solve.placement_result import Placement

    problem = problem_from(tmp_path, apart_policy().replace("anti_affinity self on zone", rule))
    monkeypatch.setattr(stages, "_solve", lambda *args, **keywords: Placement(Status.UNKNOWN, "cost",
                                                                              None, None))
    placement = stages.solve(problem)
    assert bool(placement.assignments) is floor_kept  # (kept: complete, so feasible)
    assert placement.status is (Status.FEASIBLE if floor_kept else Status.UNKNOWN)
