"""Every shipped example: it checks clean, solves to the outcome written in its header comment
(placement verified), and compiles for every target (files snapshotted, or the target's needs)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.model.build import build_problem
from fitlang.solve.explain import Part, PartKind, explain
from fitlang.solve.report import power_use
from fitlang.solve.savings import arm_saving
from fitlang.solve.utilization import utilization
from fitlang.targets import TARGETS, CompileContext

from compiling import details, errors
from conftest import EXAMPLES, policies
from solving import on_pools, solved, unexpected

# (weekly-queue.fit leaves jobs out, as its policy allows: its outcome in
# tests/test_timeline_unplaced.py and its own weekly-queue_test.fit)
FEASIBLE = [p for p in policies(EXAMPLES) if p.name not in ("infeasible.fit", "weekly-queue.fit")]

# example -> (cost in USD/h, {workload: {pool: replicas}}), from each file's EXPECTED OUTCOME
EXPECTED = {
    "consolidate.fit": (Fraction("0.8"), {"web": {"std": 4}, "api": {"std": 2}}),
    "gpu-migration.fit": (Fraction(18), {"infer": {"l40s": 10}}),
    "pool-maintenance.fit": (Fraction("1.8"), {"web": {"rack_b": 6}, "db": {"rack_b": 2}}),
    "eu-inference.fit": (Fraction("2.446"), {"triage": {"aws_g6_xlarge_ie": 1, "gcp_g2_standard_4_nl": 2}}),
    "llm-inference.fit": (Fraction(10), {"chat": {"h100_1a": 1, "l40s_1b": 1, "l40s_1c": 2}}),
    "mixed-cluster.fit": (Fraction("7.44"), {"embed": {"gpu_1a": 2}}),
    # a horizon: USD over the whole day, not per hour
    "nightly-training.fit": (Fraction("139.8"), {"inference": {"h100": 1}, "train_llm": {"h100": 1},
                                                 "train_vision": {"h100": 1}, "eval": {"h100": 1}}),
    "maintenance-window.fit": (Fraction(112), {"api": {"rack_b": 1}, "etl": {"rack_a": 1},
                                               "train": {"rack_a": 1}}),
    # objective [carbon, cost]: kgCO2e over the week
    "weekly-batch-carbon.fit": (Fraction("42.72"), {"weekly_report": {"north": 14, "south": 1}}),
    # spot prices per step (issue 19): USD over the day; two tasks at 04:00, one at 14:00
    "spot-window.fit": (Fraction("4.8"), {"render": {"aws_g6e_xlarge": 3}}),
    "multi-cloud-buy.fit": (Fraction("3.5104"), {"asr": {"gcp_g2_standard_8": 2, "aws_g6_2xlarge": 1},
                                                 "etl": {"azure_d16as_v5": 6}}),
    "onprem-burst.fit": (Fraction("23.972"), {"finetune": {"onprem": 2}, "chat": {"onprem": 4},
                                              "batch_scoring": {"aws_p4d_24xlarge": 8, "aws_g5_xlarge": 2},
                                              "dataprep": {"onprem": 4}}),
    "power-capped-burst.fit": (Fraction("142.545"), {"finetune": {"h100_onprem": 1},
                                                      "chat[TRAINIUM2]": {"aws_trn2_48xlarge": 11},
                                                      "etl": {"cpu_onprem": 24}}),
    "slurm-cluster.fit": (Fraction(0), {"pretrain": {"hpc": 2}, "eval": {"hpc": 1}, "sweep": {"hpc": 8}}),
    "stranded-gpus.fit": (Fraction("31.2"), {"infer": {"gpu_l40s": 6}, "feature_store": {"gpu_l40s": 2},
                                             "web": {"cpu_general": 4}, "thumbnails": {"cpu_general": 6}}),
    "training-gang.fit": (Fraction(168), {"pretrain": {"h100": 4}, "eval": {"h200": 1},
                                          "notebook": {"l40s": 2}}),
}


def load(path: Path):
    result = check_file(path, Workspace())
    assert result.diagnostics == [], [d.message for d in result.diagnostics]
    built = build_problem(result.program)
    assert unexpected(built.diagnostics) == []
    return result.program, built.problem


def test_every_example_has_an_expected_outcome():
    assert sorted(EXPECTED) == [p.name for p in FEASIBLE]
    assert len(FEASIBLE) + 1 >= 6


@pytest.mark.parametrize("path", FEASIBLE, ids=lambda p: p.name)
def test_example_solves_to_its_written_outcome(path):
    _, problem = load(path)
    placement = solved(problem)
    cost, pools = EXPECTED[path.name]
    assert placement.status == "optimal" and not placement.unplaced
    assert placement.value == cost
    placed = on_pools(placement, problem)
    for workload, expected in pools.items():
        assert placed[workload] == expected, workload


def test_slurm_example_places_tasks_as_its_comment_says():
    _, problem = load(EXAMPLES / "slurm-cluster.fit")
    placement = solved(problem)
    nodes = {a.workload: sorted({a.node for a in placement.assignments if a.workload == a.workload})
             for a in placement.assignments}
    by_workload: dict[str, set[str]] = {}
    for assignment in placement.assignments:
        by_workload.setdefault(assignment.workload, set()).add(assignment.node)
    assert by_workload["sweep"] == {"gpu101", "gpu102"}
    assert by_workload["pretrain"] | by_workload["eval"] <= {"gpu001", "gpu002", "gpu003"}
    assert not by_workload["pretrain"] & by_workload["eval"]
    assert nodes


def test_power_capped_example_uses_the_power_its_comment_says():
    _, problem = load(EXAMPLES / "power-capped-burst.fit")
    placement = solved(problem)
    [(cap, used)] = power_use(problem, placement)
    # etl's 16-core shards fit no c7g.4xlarge's allocatable: all 6 CPU nodes run, and only
    # finetune's H100 node beside them
    assert (cap.cap_watts, used) == (17000, 7100 + 6 * 600)
    assert arm_saving(problem, placement) is None  # no Arm node in use


def test_stranded_gpus_example_reports_the_gpus_its_comment_says():
    _, problem = load(EXAMPLES / "stranded-gpus.fit")
    placement = solved(problem)
    rows = {(u.pool, u.resource): (u.capacity, u.used, u.stranded)
            for u in utilization(problem, placement)}
    assert rows["gpu_l40s", "gpu"] == (16, 6, 10)
    assert rows["gpu_l40s", "cpu"] == (96000, 88000, 8000)
    per_node = {}
    for assignment in placement.assignments:
        if assignment.node.startswith("gpu_l40s"):
            hosted = per_node.setdefault(assignment.node, {})
            hosted[assignment.workload] = hosted.get(assignment.workload, 0) + 1
    assert list(per_node.values()) == [{"feature_store": 1, "infer": 3}] * 2


def test_infeasible_example_is_explained_as_its_comments_say():
    _, problem = load(EXAMPLES / "infeasible.fit")
    placement = solved(problem)
    assert [(u.workload, u.replica) for u in placement.unplaced] == [("finetune", i) for i in range(4)]
    explanation = explain(problem)
    assert not explanation.feasible
    lines = sorted(r.origin.span.line for r in explanation.reasons)
    assert lines == [28, 65, 71]  # h100's count, replicas, the GPU memory rule
    assert [r.part for r in explanation.reasons] == [
        Part("capacity", "h100"), Part(PartKind.RULE, "finetune", "memory >= 80GB", rule="gpu"),
        Part("replicas", "finetune")]
    assert [(r.part.kind, r.before, r.after, r.cost) for r in explanation.repairs] == [
        ("capacity", "2", "4", 160), ("rule", "memory >= 80GB", "memory >= 40GB", 80),
        ("replicas", "4", "2", 80)]


def test_eu_inference_reaches_each_office_and_selects_eu_regions_in_kubernetes():
    import json

    import yaml

    from fitlang.solve.report import as_json

    from compiling import render

    _, problem = load(EXAMPLES / "eu-inference.fit")
    document = json.loads(as_json(problem, solved(problem), []))
    assert [(r["location"], r["worst_ms"], r["replicas_within"]) for r in document["latency"]] == [
        ("dublin", 2.0, 1), ("frankfurt", 9.0, 2)]
    _, files = render(EXAMPLES / "eu-inference.fit", "kubernetes")
    regions = []
    for text in files.values():
        for manifest in yaml.safe_load_all(text):
            spec = (manifest or {}).get("spec", {}).get("template", {}).get("spec")
            if spec is None:
                continue
            (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
                "nodeSelectorTerms"]
            regions += [e["values"][0] for e in term["matchExpressions"]
                        if e["key"] == "topology.kubernetes.io/region"]
    assert sorted(regions) == ["eu-west-1", "europe-west4"]


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("path", FEASIBLE, ids=lambda p: p.name)
def test_example_compiles_for_every_target(path, target, snapshot):
    program, problem = load(path)
    context = CompileContext(program, problem, solved(problem))
    instance = TARGETS[target]()
    needs = errors(instance.problems(context))  # warnings (W0620, W0623) still compile
    if needs:
        assert {"needs": details(needs, target)} == snapshot
    else:  # what the target runs, as `fitc compile` writes it (W0623: another target's work)
        assert instance.render(instance.written(context)) == snapshot
