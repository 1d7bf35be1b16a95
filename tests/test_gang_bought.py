"""A whole gang moved onto bought accelerator nodes, whose free CPUs then take the CPU work
(gang_bought.py). Costs held to a hand count and to `verify` (which shares no code with it)."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

import pytest

from fitlang.solve import gang_bought, placement, search_stages
from fitlang.solve.dear_nodes import dear_nodes_ruined
from fitlang.solve.dear_room import dear_room_filled
from fitlang.solve.gang_bought import _candidates, gangs_onto_bought
from fitlang.solve.improve import consolidate
from fitlang.solve.pack import Packing, repair

from solving import node_state, pool, problem_from, verified_cost, workload

# `train` (a gang of 2, 8 GPUs each) on the two owned H100 nodes (50 USD/h each, dedicated to
# GPU work: nothing else may use their CPUs); `batch` (4 x 60 CPUs) on four CPU nodes (10 USD/h):
# 140. The owned nodes are in the cluster "default", the bought p5 nodes (55.04 USD/h, 192 CPUs,
# 8 H100) in "aws-us-east-1": no replica of `train` moves alone, and no `batch` replica has
# anywhere cheaper to go. With `train` whole on two bought p5 nodes, their 2 x 184 free CPUs take
# the four `batch` replicas: 110.08, the least (2 x 8 H100 GPUs are needed, and 240 CPUs of
# `batch`, which the owned H100 nodes may not hold: two p5 nodes at least, or 100 + 40)
FLEET = ('import "std/accelerators"\nimport "std/aws"\n'
         + pool("h100", 2, 192, "2048GiB", 50,
                '  gpu {\n    model = H100\n    count = 8\n  }\n  dedicated = "gpu"\n')
         + pool("cpu", 4, 64, "256GiB", 10)
         + 'buy burst {\n  offers = [aws_p5_48xlarge]\n  regions = ["us-east-1"]\n  max_count = {slots}\n}\n'
         + workload("train", 2, 8, "64GiB", '  gpu {\n    count = 8\n  }\n  gang = true\n'
                    '  tolerate = ["gpu"]\n')
         + workload("batch", 4, 60, "200GiB"))


def _owned(problem) -> Packing:
    """The packing above: `train` on the owned H100 nodes, `batch` one per CPU node."""
    return Packing({"h100": [node_state(problem, "h100", i, {"train": 1}) for i in range(2)],
                    "cpu": [node_state(problem, "cpu", i, {"batch": 1}) for i in range(4)]})


def test_no_move_of_the_search_before_it_leaves_the_owned_nodes(tmp_path):
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2"))
    packing = _owned(problem)
    assert verified_cost(problem, packing) == 140
    assert consolidate(problem, packing, "cost") == 0
    assert dear_nodes_ruined(problem, packing, "cost", None, give_up=None) == 0
    assert dear_room_filled(problem, packing, "cost", None) == 0
    assert verified_cost(problem, packing) == 140


def test_the_gang_moves_whole_onto_bought_nodes_and_the_cpu_work_follows(tmp_path):
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2"))
    packing = _owned(problem)
    assert gangs_onto_bought(problem, packing, "cost", None) == 1
    assert float(verified_cost(problem, packing)) == 110.08  # (verified: the gang in one cluster)
    bought = [class_id for class_id in packing.nodes if class_id not in ("h100", "cpu")]
    hosted = [node.hosted for node in packing.nodes[bought[0]]] if len(bought) == 1 else []
    assert [one["train"] for one in hosted] == [1, 1] and sum(one["batch"] for one in hosted) == 4
    assert packing.nodes.get("h100", []) == [] and packing.nodes.get("cpu", []) == []


def test_not_where_the_buy_limit_holds_fewer_nodes_than_the_gang_needs(tmp_path):
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "1"))
    packing = _owned(problem)
    assert gangs_onto_bought(problem, packing, "cost", None) == 0
    assert verified_cost(problem, packing) == 140


def test_not_where_the_move_costs_more(tmp_path):
    # no `batch` to take the bought nodes' free CPUs: 2 x 55.04 against the owned 100, kept
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2").replace(
        workload("batch", 4, 60, "200GiB"), ""))
    packing = Packing({"h100": [node_state(problem, "h100", i, {"train": 1}) for i in range(2)]})
    assert gangs_onto_bought(problem, packing, "cost", None) == 0
    assert verified_cost(problem, packing) == 100


def test_a_move_tried_in_vain_is_not_tried_again(tmp_path, monkeypatch):
    # the move runs on the first complete guided pass and again in the search: a trial is ~0.1
    # CPU s at 10,000 nodes, and the search's is the same packing or one as cheap
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2").replace(
        workload("batch", 4, 60, "200GiB"), ""))
    trials = []
    moved = gang_bought._moved
    monkeypatch.setattr(gang_bought, "_moved", lambda *args: trials.append(args[2].name) or moved(*args))
    for _ in range(2):
        packing = Packing({"h100": [node_state(problem, "h100", i, {"train": 1}) for i in range(2)]})
        assert gangs_onto_bought(problem, packing, "cost", None) == 0
    assert trials == ["train"]


def test_the_polish_gives_up_after_trials_in_a_row_that_keep_nothing(tmp_path, monkeypatch):
    # (gang_polish.py: each trial is ~0.1 CPU s at 10,000 nodes, and the search goes on down the
    # list after the polish)
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2"))
    (gang, target), = _candidates(problem, _owned(problem))
    others = [(dataclasses.replace(gang, name=f"{gang.name}{i}"), target) for i in range(3)]
    trials = []
    monkeypatch.setattr(gang_bought, "_candidates", lambda *args: others)
    monkeypatch.setattr(gang_bought, "_moved", lambda *args: trials.append(args[2].name) and False)
    assert gangs_onto_bought(problem, _owned(problem), "cost", None, give_up=2) == 0
    assert trials == ["train0", "train1"]
    assert gangs_onto_bought(problem, _owned(problem), "cost", None) == 0  # (the third, not again)
    assert trials == ["train0", "train1", "train2"]


def test_the_search_moves_the_gang_before_its_exact_stages(tmp_path, monkeypatch):
    # `search_stages.searched` from the owned packing, its exact repacking and neighbourhood search
    # left out (at this size they find the move too; at 10,000 nodes they have no time for it):
    # the gang's move, then nothing (the bound is met)
    monkeypatch.setattr(search_stages, "repack", lambda *args: 0)
    monkeypatch.setattr(search_stages.neighbourhood, "search",
                        lambda problem, packing, *args, **kwargs: packing)
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2"))
    packing = _owned(problem)
    searched = search_stages.searched(problem, packing, "cost", time.monotonic() + 5.0, lambda *said: None,
                                      Fraction(11008, 100))
    assert float(verified_cost(problem, searched)) == 110.08


def test_not_a_gang_another_workloads_affinity_names(tmp_path):
    # `near` must run in a zone with `train`: moving `train` alone would break it
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2").replace(
        "  dedicated = \"gpu\"\n", "  dedicated = \"gpu\"\n  zone = \"a\"\n")
        + workload("near", 1, 1, "1GiB", "  affinity train on zone\n"))
    packing = _owned(problem)
    assert _candidates(problem, packing) == []
    assert _candidates(problem_from(tmp_path, FLEET.replace("{slots}", "2")), packing) != []


def test_bought_cpu_nodes_counted_as_freeable_where_the_buy_limit_is_spent(tmp_path):
    # the buy group's 2 slots spent on two m7i nodes (0.4032 USD/h) running `small` (4 CPUs
    # each): 140.8064. The gang's two p5 nodes fit only once the m7i nodes close, and their free
    # CPUs take `small` too: 110.08, the least (the move stopped at the slots before: 140.8064)
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2").replace(
        "[aws_p5_48xlarge]", "[aws_p5_48xlarge, aws_m7i_2xlarge]") + workload("small", 2, 4, "8GiB"))
    m7i = next(c.id for c in problem.classes if c.id.startswith("aws_m7i_2xlarge"))
    packing = _owned(problem)
    packing.nodes[m7i] = [node_state(problem, m7i, i, {"small": 1}) for i in range(2)]
    assert verified_cost(problem, packing) == Fraction("140.8064")
    assert gangs_onto_bought(problem, packing, "cost", None) == 1
    assert float(verified_cost(problem, packing)) == 110.08
    assert packing.nodes.get(m7i, []) == [] and packing.nodes.get("h100", []) == []


def test_not_where_the_bought_cpu_nodes_cannot_close(tmp_path):
    # `small` may run only on nodes of at most 8 CPUs (the m7i nodes): they stay open, the two
    # p5 nodes would pass the buy limit, and the move is dropped (140.8064 kept)
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2").replace(
        "[aws_p5_48xlarge]", "[aws_p5_48xlarge, aws_m7i_2xlarge]")
        + workload("small", 2, 4, "8GiB", "  require cpu <= 8\n"))
    m7i = next(c.id for c in problem.classes if c.id.startswith("aws_m7i_2xlarge"))
    packing = _owned(problem)
    packing.nodes[m7i] = [node_state(problem, m7i, i, {"small": 1}) for i in range(2)]
    assert gangs_onto_bought(problem, packing, "cost", None) == 0
    assert verified_cost(problem, packing) == Fraction("140.8064")


def test_the_first_complete_pass_is_consolidated_before_its_gangs_move(tmp_path, monkeypatch):
    # (gang_polish.py: the move then closes the nodes the consolidation left dearest: seeds 1 /
    # 5 / 14 at 10,000 nodes gained 188 / 214 / 663 USD/h where the move first gained 88 / 191 / 647)
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2"))
    steps: list[str] = []
    monkeypatch.setattr(placement, "consolidate", lambda *args: steps.append("consolidate") or 0)
    monkeypatch.setattr(placement, "gangs_polished", lambda *args: steps.append("gangs") or 0)
    packing = _owned(problem)
    placement._polished_pass(problem, packing, packing, "cost", 5.0, time.monotonic() + 5.0, None, gangs=True)
    assert steps == ["consolidate", "gangs"]


def test_the_consolidation_before_the_move_takes_at_most_half_the_time_left(monkeypatch):
    # seed 12 with 0.1-0.2 CPU s left: a whole consolidation first left the move no trial (29 USD/h
    # gained), cut at half the time left the move's first trial ran (212; the move first: 219)
    from fitlang.solve import gang_polish

    monkeypatch.setattr(gang_polish.time, "monotonic", lambda: 10.0)
    assert gang_polish.consolidation_deadline(10.5, 10.2) == pytest.approx(10.1)
    assert gang_polish.consolidation_deadline(10.5, 12.0) == 10.5
    assert gang_polish.consolidation_deadline(None, 10.2) is None


def test_repair_keeps_a_gangs_short_replica_in_its_cluster(tmp_path):
    """`pack.repair` with one `train` replica on an owned H100 node and one short of it, no owned
    node left to open (the model's planned nodes used up): the bought p5 class, in another
    cluster, would hold it, and the gang would run in two clusters (seed 20 at 60 s: E0507).
    It stays short instead, for the stages after to place the gang whole."""
    problem = problem_from(tmp_path, FLEET.replace("{slots}", "2"))
    packing = Packing({"h100": [node_state(problem, "h100", 0, {"train": 1})],
                       "cpu": [node_state(problem, "cpu", i, {"batch": 1}) for i in range(4)]})
    packing.add_short("train", "h100", 1)
    repair(problem, packing, lambda node_class, packing_: node_class.id != "h100")
    assert packing.short_by_workload == {("train", "h100"): 1}
    clusters = {problem.node_class(class_id).cluster for class_id, nodes in packing.nodes.items()
                for node in nodes if node.hosted.get("train")}
    assert clusters == {"default"}
