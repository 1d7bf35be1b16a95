"""The Slurm target: sbatch scripts that a real Slurm accepts (`sbatch --test-only` against
slurmctld + one slurmd per node on localhost), that run the solved placement when run as real
jobs (tasks per node, each task on its own GPUs), the slurm.conf lines of nodes no Slurm
inventory lists (bought capacity as CLOUD nodes), shell quoting of hostile strings, and the
fidelity check (`Slurm.fidelity`), which must pass on every example and on generated policies
and fail on hand edits and on what the target used to write."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shlex
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.model.build import build_problem
from fitlang.rules.explaining import need
from fitlang.solve.placement import solve
from fitlang.solve.report import as_json
from fitlang.solve.self_check import broken_rules
from fitlang.solve.verify import verify
from fitlang.targets import TARGETS, CompileContext

from compiling import (
    COMMAND,
    IMAGE,
    ON_KUBERNETES,
    ON_SLURM,
    compiled_at_sizes,
    context_for,
    details,
    mixed_policy,
    render,
)
from conftest import EXAMPLES, FIXTURES
from slurm_cluster import hostnames, real_slurm, require_slurm, start_cluster

FIXTURE = FIXTURES / "targets" / "gpu-cluster.fit"
# every example the slurm target compiles (the others have workloads without a `command`)
SLURM_EXAMPLES = ["llm-inference", "multi-cloud-buy", "onprem-burst", "power-capped-burst",
                  "slurm-cluster", "stranded-gpus", "training-gang"]
PROBE = "bash -c 'echo \"TASK $SLURM_PROCID $SLURMD_NODENAME ${CUDA_VISIBLE_DEVICES-none}\"'"


def scripts(files: dict[str, str]) -> dict[str, str]:
    return {name: text for name, text in files.items() if name.endswith(".sbatch")}


def fidelity(context: CompileContext, files: dict[str, str]) -> list[str]:
    return details(TARGETS["slurm"]().fidelity(context, files), "slurm")


def solved_tasks(context: CompileContext, job: str) -> dict[str, int]:
    """Tasks per node of one script's workload, from the placement (not from the script)."""
    for workload in context.placed_workloads():
        if job.startswith(workload.name.replace("_", "-")) and (
                workload.option is None or workload.option.lower() in job):
            counts: Counter = Counter()
            for split in context.splits(workload):
                counts.update(split.per_node)
            return dict(counts), workload
    raise AssertionError(job)


@pytest.fixture
def cluster(tmp_path_factory):
    # one cluster at a time: all use the ports from FITC_TEST_SLURM_PORT
    context, files = render(FIXTURE, "slurm")
    directory = tmp_path_factory.mktemp("slurm")
    running = start_cluster(context.problem, directory, ["gpu"], files)
    yield running
    running.shutdown()


@real_slurm
def test_every_script_passes_sbatch_test_only(cluster, tmp_path):
    _, files = render(FIXTURE, "slurm")
    assert sorted(files) == ["fitc-gres.conf", "fitc-nodes.conf", "trainer.sbatch", "web.sbatch"]
    for name, text in scripts(files).items():
        script = tmp_path / name
        script.write_text(text)
        result = cluster.sbatch_test_only(script)
        assert result.returncode == 0, (name, result.stderr)
        assert "to start at" in result.stderr


@real_slurm
def test_a_script_asking_for_a_missing_feature_is_rejected(cluster, tmp_path):
    _, files = render(FIXTURE, "slurm")
    assert "#SBATCH --constraint=avx512&cpu" in files["web.sbatch"]
    text = files["web.sbatch"].replace("--constraint=avx512&cpu", "--constraint=no_such_feature")
    script = tmp_path / "bad.sbatch"
    script.write_text(text)
    result = cluster.sbatch_test_only(script)
    assert result.returncode != 0
    assert "Invalid feature specification" in result.stderr


def test_script_headers_follow_the_placement():
    context, files = render(FIXTURE, "slurm")
    trainer = files["trainer.sbatch"]
    nodes = sorted({a.node for a in context.placement.assignments if a.workload == "trainer"})
    assert f"#SBATCH --nodelist={','.join(nodes)}" in trainer
    assert "#SBATCH --nodes=2" in trainer and "#SBATCH --ntasks-per-node=1" in trainer
    assert "#SBATCH --ntasks=2" in trainer and "#SBATCH --gpu-bind=per_task:8" in trainer
    assert "#SBATCH --gpus-per-task=h100:8" in trainer and "#SBATCH --time=1-00:00:00" in trainer
    assert "#SBATCH --cpus-per-task=32" in trainer and "#SBATCH --mem=262144M" in trainer
    assert "hetjob" not in trainer


# ---- every example on a real Slurm ---------------------------------------------------------------

def probe_script(text: str) -> str:
    """The script with its command replaced by a probe printing each task's node and GPUs;
    the srun options (`--het-group`) stay."""
    lines = text.rstrip("\n").splitlines()
    words = shlex.split(lines[-1])
    assert words[0] == "srun"
    options = [w for w in words[1:] if w.startswith("--het-group=")]
    return "\n".join(lines[:-1] + [" ".join(["srun", *options, PROBE])]) + "\n"


def run_tasks(cluster, directory: Path, name: str, text: str) -> list[tuple[str, str]]:
    script = directory / f"probe-{name}"
    script.write_text(probe_script(text))
    output = directory / f"{name}.out"
    result = cluster.run(script, output)
    assert result.returncode == 0, (name, result.stderr, output.read_text() if output.exists() else "")
    tasks = [line.split()[1:] for line in output.read_text().splitlines() if line.startswith("TASK ")]
    return [(node, gpus) for _, node, gpus in tasks]


@real_slurm
@pytest.mark.parametrize("example", SLURM_EXAMPLES)
def test_every_example_runs_its_placement_on_a_real_slurm(example, tmp_path):
    context, files = render(EXAMPLES / f"{example}.fit", "slurm")
    assert fidelity(context, files) == []
    running = start_cluster(context.problem, tmp_path, [], files)
    try:
        for name, text in sorted(scripts(files).items()):
            script = tmp_path / name
            script.write_text(text)
            accepted = running.sbatch_test_only(script)
            assert accepted.returncode == 0, (name, accepted.stderr)
            tasks = run_tasks(running, tmp_path, name, text)
            expected, workload = solved_tasks(context, name.removesuffix(".sbatch"))
            assert dict(Counter(node for node, _ in tasks)) == expected, name
            _assert_own_gpus(name, tasks, workload, context)
    finally:
        running.shutdown()


def _assert_own_gpus(name: str, tasks: list[tuple[str, str]], workload, context) -> None:
    """Each task sees exactly its workload's GPUs, and no two tasks on a node share one."""
    family = {n: c.accelerator.family if c.accelerator else None
              for c in context.problem.classes for n in c.node_names}
    by_node = defaultdict(list)
    for node, gpus in tasks:
        by_node[node].append(gpus)
    for node, seen in by_node.items():
        if not workload.gpu_count or family[node] != "gpu":
            assert all(g == "none" for g in seen), (name, node, seen)  # nothing for CUDA to see
            continue
        sets = [set(g.split(",")) for g in seen]
        assert all(len(s) == workload.gpu_count for s in sets), (name, node, seen)
        assert len(set().union(*sets)) == workload.gpu_count * len(sets), (name, node, seen)


# what the target wrote before: --mem and --gres of the busiest node applied to every node
OLD_BATCH_SCORING = """#!/bin/bash
#SBATCH --job-name=batch-scoring-6ef636
#SBATCH --nodes=3
#SBATCH --nodelist=aws_p4d_24xlarge-us-east-1-0,aws_g5_xlarge-us-east-1-0,aws_g5_xlarge-us-east-1-1
#SBATCH --ntasks=10
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=3
#SBATCH --mem=114688M
#SBATCH --gres=gpu:8
#SBATCH --partition=fitc
#SBATCH --time=08:00:00
set -euo pipefail
srun --distribution=arbitrary python score.py --shards 10
"""


@real_slurm
def test_uneven_placements_are_heterogeneous_jobs_and_the_old_script_is_rejected(tmp_path):
    context, files = render(EXAMPLES / "onprem-burst.fit", "slurm")
    new = files["batch-scoring-6ef636.sbatch"]
    assert new.count("#SBATCH hetjob") == 1 and "srun --het-group=0-1 " in new
    old = {**files, "batch-scoring-6ef636.sbatch": OLD_BATCH_SCORING}
    problems = fidelity(context, old)
    assert problems and all("batch-scoring-6ef636.sbatch" in p or "node aws_g5" in p
                            for p in problems), problems
    running = start_cluster(context.problem, tmp_path, [], files)
    try:
        script = tmp_path / "old.sbatch"
        script.write_text(OLD_BATCH_SCORING)
        rejected = running.sbatch_test_only(script)
        assert rejected.returncode != 0 and "Requested node configuration is not available" in (
            rejected.stderr)
    finally:
        running.shutdown()


# ---- bought capacity: CLOUD nodes --------------------------------------------------------------

def declared_nodes(text: str) -> dict[str, dict[str, str]]:
    nodes = {}
    for line in text.splitlines():
        if line.startswith("NodeName="):
            fields = dict(word.split("=", 1) for word in line.split())
            nodes[fields["NodeName"]] = fields
    return nodes


def test_bought_capacity_is_declared_as_cloud_nodes_and_nothing_else_is_named():
    context, files = render(EXAMPLES / "multi-cloud-buy.fit", "slurm")
    nodes = declared_nodes(files["fitc-nodes.conf"])
    bought = sorted(n for names in context.placement.bought.values() for n in names)
    # by hand (the example's comment): 2 x g2-standard-8, 1 x g6.2xlarge, 6 x D16as_v5
    assert len(bought) == 9 and sorted(nodes) == bought
    assert {n["State"] for n in nodes.values()} == {"CLOUD"}
    assert nodes["aws_g6_2xlarge-us-east-1-0"]["Gres"] == "gpu:l4:1"
    # what the solver packed: the allocatable, 16 vCPU less AKS's 260m (rounded down to whole
    # CPUs) and 64 GiB less 5050 MiB kube-reserved and the 100 MiB eviction threshold
    assert nodes["azure_d16as_v5-eastus-0"]["CPUs"] == "15"
    assert nodes["azure_d16as_v5-eastus-0"]["RealMemory"] == str(64 * 1024 - 5050 - 100)
    partition = [line for line in files["fitc-nodes.conf"].splitlines()
                 if line.startswith("PartitionName=")]
    assert partition == [f"PartitionName=fitc Nodes={','.join(nodes)} MaxTime=INFINITE State=UP"]
    for text in scripts(files).values():
        listed = [line.split("=", 1)[1] for line in text.splitlines()
                  if line.startswith("#SBATCH --nodelist=")]
        assert {n for item in listed for n in item.split(",")} <= set(nodes)
        assert "#SBATCH --partition=fitc" in text


@real_slurm
def test_a_node_no_cluster_knows_fails_fidelity_and_slurm(tmp_path):
    context, files = render(EXAMPLES / "multi-cloud-buy.fit", "slurm")
    edited = files["etl.sbatch"].replace("azure_d16as_v5-eastus-2", "azure_d16as_v5-eastus-9")
    problems = fidelity(context, {**files, "etl.sbatch": edited})
    assert any("azure_d16as_v5-eastus-9 is known to no Slurm cluster" in p for p in problems)
    undeclared = {**files, "fitc-nodes.conf": "\n".join(
        line for line in files["fitc-nodes.conf"].splitlines()
        if "aws_g6_2xlarge" not in line) + "\n"}
    assert any("CLOUD nodes" in p for p in fidelity(context, undeclared))
    running = start_cluster(context.problem, tmp_path, [], files)
    try:
        script = tmp_path / "edited.sbatch"
        script.write_text(edited)
        rejected = running.sbatch_test_only(script)
        assert rejected.returncode != 0 and "Invalid node name specified" in rejected.stderr
    finally:
        running.shutdown()


@real_slurm
def test_powered_down_cloud_nodes_accept_the_scripts(tmp_path):
    # bought capacity as Slurm has it before any job: CLOUD nodes with no slurmd yet
    context, files = render(EXAMPLES / "multi-cloud-buy.fit", "slurm")
    running = start_cluster(context.problem, tmp_path, [], files, cloud_running=False)
    try:
        for name, text in sorted(scripts(files).items()):
            script = tmp_path / name
            script.write_text(text)
            accepted = running.sbatch_test_only(script)
            assert accepted.returncode == 0, (name, accepted.stderr)
    finally:
        running.shutdown()


def test_trainium_is_a_neuron_gres():
    _, files = render(EXAMPLES / "power-capped-burst.fit", "slurm")
    trn = files["chat-trainium2-70ae70.sbatch"]
    # 4 replicas x 4 Trainium2 devices on one trn2.48xlarge (16 devices), per node
    assert "#SBATCH --gres=neuron:16" in trn and "gpu" not in trn.split("set -euo")[0]
    nodes = declared_nodes(files["fitc-nodes.conf"])
    assert nodes["aws_trn2_48xlarge-us-east-2-0"]["Gres"] == "neuron:16"
    assert nodes["aws_trn2_48xlarge-us-east-2-0"]["State"] == "CLOUD"
    # a declared pool: static nodes, its 4 named as one Slurm range
    assert nodes["h100_onprem-[0-3]"]["State"] == "UNKNOWN"
    assert ("NodeName=aws_trn2_48xlarge-us-east-2-0 Name=neuron File=/dev/neuron[0-15]"
            in files["fitc-gres.conf"].splitlines())


# ---- the fidelity check ----------------------------------------------------------------------------

HAND_EDITS = [
    # (script, text replaced, by) -> each must be caught
    ("sweep.sbatch", "--ntasks-per-node=4", "--ntasks-per-node=3"),
    ("sweep.sbatch", "--nodelist=gpu101,gpu102", "--nodelist=gpu101,gpu001"),
    ("sweep.sbatch", "--nodes=2", "--nodes=3"),
    ("sweep.sbatch", "#SBATCH --gpu-bind=per_task:1\n", ""),
    ("sweep.sbatch", "--gpus-per-task=l40s:1", "--gpus-per-task=l40s:2"),
    ("sweep.sbatch", "--mem=262144M", "--mem=131072M"),
    ("sweep.sbatch", "#SBATCH --mem=262144M\n", ""),
    ("eval.sbatch", "--cpus-per-task=32", "--cpus-per-task=16"),
    ("eval.sbatch", "--cpus-per-task=32", "--cpus-per-task=200"),
    ("eval.sbatch", "--partition=gpu", "--partition=cpu"),
    ("pretrain.sbatch", "#SBATCH --job-name=pretrain", "#SBATCH --job-name=other"),
    ("pretrain.sbatch", "#SBATCH --exclusive\n", ""),
]


@pytest.mark.parametrize("script,old,new", HAND_EDITS)
def test_fidelity_catches_hand_edits(script, old, new):
    context, files = render(EXAMPLES / "slurm-cluster.fit", "slurm")
    assert fidelity(context, files) == []
    assert old in files[script]
    edited = {**files, script: files[script].replace(old, new)}
    assert fidelity(context, edited) != []


def test_fidelity_catches_a_het_job_run_in_one_component():
    # batch_scoring: 8 on a p4d.24xlarge and 2 on g5.xlarge nodes, two components
    context, files = render(EXAMPLES / "onprem-burst.fit", "slurm")
    [script] = [name for name in files if name.startswith("batch-scoring")]
    text = files[script]
    assert "srun --het-group=0-1 " in text
    problems = fidelity(context, {**files, script: text.replace("--het-group=0-1 ", "")})
    assert len(problems) == 2  # srun runs in component 0 only, so the placement is not run
    removed = {k: v for k, v in files.items() if k != script}
    assert len(fidelity(context, removed)) == 1


def generated_policy(seed: int) -> str:
    """A random policy: pools of mixed sizes, some with GPUs, and workloads whose replicas
    must spread unevenly over them."""
    rng = random.Random(seed)
    lines = ['import "std/accelerators"']
    for index in range(rng.randint(2, 3)):
        gpus = rng.choice([0, 0, 1, 2, 4, 8])
        lines += [f"pool p{index} {{", f"  count = {rng.randint(1, 3)}",
                  f"  cpu = {rng.choice([4, 8, 16, 32])}", f"  memory = {rng.choice([16, 32, 64])}GiB",
                  f"  price = {rng.randint(1, 9)} USD/h"]
        if gpus:
            lines += ["  gpu {", f"    model = {rng.choice(['H100', 'L40S'])}", f"    count = {gpus}",
                      "  }"]
        lines.append("}")
    for index in range(rng.randint(1, 3)):
        lines += [f"workload w{index} {{", f"  replicas = {rng.randint(1, 7)}",
                  f"  cpu = {rng.choice(['500m', '1', '2', '3'])}",
                  f"  memory = {rng.choice([1, 2, 3, 5])}GiB", f'  command = ["run", "w{index}"]']
        if rng.random() < 0.5:
            lines += ["  gpu {", f"    count = {rng.choice([1, 1, 2])}", "  }"]
        lines.append("}")
    return "\n".join(lines) + "\n"


def generated_context(tmp_path: Path, seed: int) -> CompileContext | None:
    path = tmp_path / f"g{seed}.fit"
    path.write_text(generated_policy(seed))
    result = check_file(path, Workspace())
    assert not result.has_errors, [d.message for d in result.diagnostics]
    built = build_problem(result.program)
    if built.diagnostics:
        return None
    placement = solve(built.problem)
    if placement.unplaced or not placement.assignments:
        return None
    return CompileContext(result.program, built.problem, placement)


def test_fidelity_holds_on_generated_policies(tmp_path):
    checked = uneven = refused = 0
    for seed in range(40):
        context = generated_context(tmp_path, seed)
        if context is None:
            continue
        target = TARGETS["slurm"]()
        files = target.render(context)
        if target.problems(context):
            # refused only for fractional CPUs that do not fit once Slurm rounds them up: then
            # the files, were they written, would indeed overcommit a node
            assert all("whole CPUs" in n for n in details(target.problems(context), "slurm")), seed
            assert any("CPUs asked" in p for p in fidelity(context, files)), seed
            refused += 1
            continue
        assert fidelity(context, files) == [], (seed, generated_policy(seed))
        checked += 1
        uneven += any("hetjob" in text for text in scripts(files).values())
    assert checked >= 20 and uneven >= 3 and refused >= 1, (checked, uneven, refused)


@real_slurm
def test_generated_uneven_placements_run_on_a_real_slurm(tmp_path):
    ran = 0
    for seed in range(40):
        context = generated_context(tmp_path, seed)
        if context is None:
            continue
        if TARGETS["slurm"]().problems(context):
            continue
        files = TARGETS["slurm"]().render(context)
        if not any("hetjob" in text for text in scripts(files).values()):
            continue
        directory = tmp_path / f"cluster{seed}"
        directory.mkdir()
        running = start_cluster(context.problem, directory, [], files)
        try:
            for name, text in sorted(scripts(files).items()):
                tasks = run_tasks(running, directory, name, text)
                expected, workload = solved_tasks(context, name.removesuffix(".sbatch"))
                assert dict(Counter(node for node, _ in tasks)) == expected, (seed, name)
                _assert_own_gpus(name, tasks, workload, context)
        finally:
            running.shutdown()
        ran += 1
        if ran == 2:
            break
    assert ran == 2


# ---- quoting and names ----------------------------------------------------------------------------

def test_hostile_command_words_are_shell_quoted(tmp_path):
    hostile = ["a'b", 'a"b', "$(touch /tmp/pwned)", "${HOME}", "`id`", "x; rm -rf /", "new\nline", "*"]
    words = ", ".join('"' + w.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
                      for w in hostile)
    path = tmp_path / "h.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    f'workload w {{\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  command = [{words}]\n'
                    '  env = { GREETING: "$(whoami) `id` \'q\'" }\n}\n')
    _, files = render(path, "slurm")
    script = files["w.sbatch"]
    # run the script's own env and srun lines in bash, with srun replaced by a printer
    body = script[script.index("export GREETING"):]
    fake = "srun() { printf '%s\\0' \"$@\"; }\n"
    ran = subprocess.run(["bash", "-c", fake + body + '\nprintf %s "$GREETING"'],
                         capture_output=True, text=True)
    *words, greeting = ran.stdout.split("\0")
    assert words == hostile
    assert greeting == "$(whoami) `id` 'q'"
    assert not __import__("os").path.exists("/tmp/pwned")


def test_invalid_partition_is_refused(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  command = ["true"]\n}\n'
                    'policy {\n  slurm {\n    partition = "gpu --uid=0"\n  }\n}\n')
    needs = details(TARGETS["slurm"]().problems(context_for(path)), "slurm")
    assert needs == ["slurm partition 'gpu --uid=0' is not a Slurm name (letters, "
                                          "digits, `_.-`)"]


def test_a_partition_of_the_cluster_is_not_declared_again(tmp_path):
    # the inventory's nodes are in partition `debug`; pool `extra` is in no Slurm inventory, and
    # the replicas that do not fit the inventory go there: fitc would have to redefine `debug`
    (tmp_path / "nodes.txt").write_text(
        "NodeName=n1 CPUTot=4 RealMemory=16000 State=IDLE Partitions=debug\n")
    path = tmp_path / "p.fit"
    path.write_text('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
                    'pool extra {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 2\n  cpu = 4\n  memory = 1Gi\n  command = ["true"]\n}\n'
                    'policy {\n  slurm {\n    partition = "debug"\n  }\n}\n')
    context = context_for(path)
    assert sorted(a.node for a in context.placement.assignments) == ["extra-0", "n1"]
    needs = details(TARGETS["slurm"]().problems(context), "slurm")
    assert len(needs) == 1 and "partition 'debug' exists in inventory `hpc`" in needs[0]


def test_with_no_partition_in_the_policy_a_job_names_the_partition_that_holds_its_nodes(tmp_path):
    """gpu1 is in partition `gpu` only, n1 in `batch` and `cpu`; the cluster's default (which
    `scontrol show node` does not say) is `cpu`. A script naming no partition went to the
    default, and Slurm 22.05 answered "Requested node configuration is not available" for
    the job on gpu1 (`sbatch --test-only`, a real cluster). Each job now names a partition
    that holds its nodes, and a script without one is a fidelity problem."""
    (tmp_path / "nodes.txt").write_text(
        "NodeName=gpu1 CPUTot=16 RealMemory=64000 Gres=gpu:a100:4 State=IDLE Partitions=gpu\n"
        "NodeName=n1 CPUTot=16 RealMemory=64000 State=IDLE Partitions=cpu,batch\n")
    path = tmp_path / "p.fit"
    path.write_text('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
                    'workload train {\n  replicas = 1\n  cpu = 4\n  memory = 8GiB\n'
                    '  command = ["python", "train.py"]\n  gpu {\n    count = 2\n  }\n}\n'
                    'workload prep {\n  replicas = 1\n  cpu = 14\n  memory = 8GiB\n'
                    '  command = ["python", "prep.py"]\n}\n')
    context = context_for(path)
    files = TARGETS["slurm"]().render(context)
    assert "#SBATCH --partition=gpu\n" in files["train.sbatch"]
    assert "#SBATCH --partition=batch\n" in files["prep.sbatch"]  # the first of those holding n1
    assert fidelity(context, files) == []
    unnamed = {**files, "train.sbatch": files["train.sbatch"].replace("#SBATCH --partition=gpu\n", "")}
    assert fidelity(context, unnamed) == [
        "train.sbatch: no --partition, so Slurm runs it in its default partition, which may not "
        "hold node gpu1 (in gpu)"]


def test_fractional_cpus_that_slurm_rounds_up_are_refused(tmp_path):
    # 3 tasks of 1.5 CPUs fit 4.5 of 5 cores for the solver; Slurm gives 2 CPUs each: 6 > 5
    path = tmp_path / "p.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 5\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 3\n  cpu = 1500m\n  memory = 1Gi\n'
                    '  command = ["true"]\n}\n')
    context = context_for(path)
    needs = details(TARGETS["slurm"]().problems(context), "slurm")
    assert len(needs) == 1 and "6 whole CPUs" in needs[0] and "its 5" in needs[0]
    files = TARGETS["slurm"]().render(context)
    assert fidelity(context, files) == ["node p-0: 6 CPUs asked, it has 5"]


# nodes of 2 cores x 2 threads (4 CPUs each): Slurm's CR_Core gives each job whole cores, so
# three jobs of 1, 1 and 2 CPUs take 2 + 2 + 2 = 6 CPUs though they ask for 4
SMT_NODES = "".join(f"NodeName={name} CPUTot=4 ThreadsPerCore=2 RealMemory=16000 State=IDLE "
                    "Partitions=debug\n" for name in ("n1", "n2"))


def _smt_jobs(*jobs: tuple[str, int, int]) -> str:
    """A policy of the SMT nodes' inventory and a workload per (name, replicas, CPUs)."""
    return ('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
            + "".join(f'workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = 1Gi\n'
                      f'  command = ["sleep", "600"]\n}}\n' for name, replicas, cpu in jobs))


SMT_JOBS = _smt_jobs(("a", 1, 1), ("b", 1, 1), ("c", 1, 2))


def _smt_context(tmp_path, text: str = SMT_JOBS, nodes: str = SMT_NODES):
    (tmp_path / "nodes.txt").write_text(nodes)
    path = tmp_path / "p.fit"
    path.write_text(text)
    return context_for(path)


def _on_one_node(context: CompileContext, node: str) -> CompileContext:
    """The context with every replica on `node`: what the solver made when it counted
    millicores (4 of n1's 4 CPUs)."""
    moved = [dataclasses.replace(a, node=node) for a in context.placement.assignments]
    return CompileContext(context.program, context.problem,
                          dataclasses.replace(context.placement, assignments=moved))


def _whole_cores_per_node(context: CompileContext) -> dict[str, int]:
    """CPUs per node as Slurm gives them, counted here: each job (a workload's replicas on a
    node) rounded up to whole CPUs per task, then to cores of 2 threads."""
    cpus: Counter = Counter()
    for workload in context.placed_workloads():
        for split in context.splits(workload):
            for node, count in split.per_node.items():
                cpus[node] += -(-count * -(-workload.cpu_milli // 1000) // 2) * 2
    return dict(cpus)


def test_the_solver_counts_jobs_on_nodes_of_two_threads_per_core_in_whole_cores(tmp_path):
    # counted in millicores the three jobs fit n1 (4 CPUs asked), and the target refused
    # them (6 CPUs in whole cores); counted as Slurm gives them, they take both nodes
    context = _smt_context(tmp_path)
    assert [(c.threads_per_core, c.slurm_allocated) for c in context.problem.classes] == [(2, True)]
    assert {a.node for a in context.placement.assignments} == {"n1", "n2"}
    assert max(_whole_cores_per_node(context).values()) <= 4
    assert details(TARGETS["slurm"]().problems(context), "slurm") == []
    assert fidelity(context, TARGETS["slurm"]().render(context)) == []
    # the old placement: still refused by the target and its fidelity check
    crowded = _on_one_node(context, "n1")
    needs = details(TARGETS["slurm"]().problems(crowded), "slurm")
    assert len(needs) == 1 and "jobs of 6 CPUs" in needs[0] and "multiples of 2" in needs[0]
    assert fidelity(crowded, TARGETS["slurm"]().render(crowded)) == [
        "node n1: 6 CPUs asked (in whole cores of 2 threads per job), it has 4"]


def test_verify_counts_a_slurm_nodes_cpus_per_job_in_whole_cores(tmp_path):
    # verify rejects the three jobs on n1 (6 CPUs in whole cores); two 1-CPU replicas of ONE
    # workload are one job of one core, so beside the 2-CPU job they fill n1 exactly: verify
    # counts per job, not per replica (which the solver does, to stay linear)
    crowded = _on_one_node(_smt_context(tmp_path), "n1")
    broken = [d.message for d in broken_rules(crowded.problem, crowded.placement)]
    assert broken == ["node `n1` is over its cpu: 6 CPU requested (as Slurm gives it: whole CPUs "
                      "per task, whole cores of 2 threads per job), 4 available"]
    paired = _on_one_node(_smt_context(tmp_path, _smt_jobs(("a", 2, 1), ("c", 1, 2))), "n1")
    assert broken_rules(paired.problem, paired.placement) == []
    tripled = _smt_context(tmp_path, _smt_jobs(("a", 1, 1), ("b", 1, 1), ("c", 1, 3)))
    assert [d.message for d in broken_rules(tripled.problem, _on_one_node(tripled, "n2").placement)] \
        == ["node `n2` is over its cpu: 8 CPU requested (as Slurm gives it: whole CPUs per task, "
            "whole cores of 2 threads per job), 4 available"]


def test_verify_counts_whole_cores_per_job_step_by_step(tmp_path):
    # with a horizon: the three 2-hour jobs, solved over both nodes, then moved by hand to n1
    # at the same start: 6 CPUs at once in whole cores, on 4
    timed = SMT_JOBS.replace("  replicas = 1\n", "  kind = job\n  duration = 2h\n  replicas = 1\n") + (
        'policy {\n  horizon = 4h\n  step = 1h\n  start = "2026-12-01T12:00Z"\n}\n')
    context = _smt_context(tmp_path, timed)
    document = json.loads(as_json(context.problem, context.placement, []))
    assert verify(context.problem, document) == ([], [])
    first = document["assignments"][0]
    for item in document["assignments"]:
        item.update(node="n1", start=first["start"], end=first["end"])
    violations, _ = verify(context.problem, document)
    assert [v.message for v in violations] == [
        f"at step {step} (2026-12-01T1{2 + step}:00Z) node `n1` is over its cpu: 6 CPU requested (as Slurm "
        "gives it: whole CPUs "
        "per task, whole cores of 2 threads per job), 4 available" for step in (0, 1)]



@real_slurm
def test_a_node_with_cores_and_memory_kept_for_the_system_runs_what_fitc_placed(tmp_path):
    # n1 keeps 2 of its 8 CPUs (CoreSpecCount) and 2000 of 8000 MiB (MemSpecLimit) for the
    # system: fitc counted 8 CPUs and placed a 7-CPU job Slurm refuses; now it places 6 CPUs
    # and 6000 MiB, which the real cluster (declared as the node is) runs
    context = _smt_context(tmp_path, _smt_jobs(("a", 1, 6)).replace("memory = 1Gi", "memory = 6000Mi"),
                           "NodeName=n1 CPUTot=8 CPUEfctv=6 CoreSpecCount=2 CPUSpecList=6-7 "
                           "RealMemory=8000 MemSpecLimit=2000 State=IDLE Partitions=debug\n")
    assert [(c.capacity["cpu"], c.capacity["memory"] // 2 ** 20) for c in context.problem.classes] == [
        (6000, 6000)]
    files = TARGETS["slurm"]().render(context)
    declared = ("NodeName=n1 CPUs=8 Sockets=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=8000 "
                "CoreSpecCount=2 MemSpecLimit=2000 State=UNKNOWN\n"
                "PartitionName=debug Nodes=n1 Default=YES MaxTime=INFINITE State=UP\n")
    running = start_cluster(context.problem, tmp_path, [], {**files, "fitc-nodes.conf": declared})
    try:
        for name, text in sorted(scripts(files).items()):
            script = tmp_path / name
            script.write_text(text)
            assert running.sbatch_test_only(script).returncode == 0, name
        for more in (["-c", "7", "--mem=100"], ["-c", "1", "--mem=6001"]):  # one CPU or MiB more
            refused = subprocess.run(["sbatch", "--test-only", "-w", "n1", *more, "--wrap", "true"],
                                     capture_output=True, text=True, env=running.env, timeout=30)
            assert refused.returncode != 0, more
    finally:
        running.shutdown()

def test_fractional_cpus_on_a_slurm_inventory_are_counted_in_whole_cpus(tmp_path):
    # 3 tasks of 1.5 CPUs on nodes of 5 CPUs (1 thread a core): Slurm gives each 2 CPUs, so
    # a node holds 2 of them (the declared pool of the test above: refused, E0601)
    nodes = "".join(f"NodeName={n} CPUTot=5 RealMemory=16000 State=IDLE Partitions=debug\n"
                    for n in ("n1", "n2"))
    text = ('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
            'workload w {\n  replicas = 3\n  cpu = 1500m\n  memory = 1Gi\n  command = ["true"]\n}\n')
    context = _smt_context(tmp_path, text, nodes)
    assert sorted(Counter(a.node for a in context.placement.assignments).values()) == [1, 2]
    assert context.problem.demand("w").requests["cpu"] == 2000
    assert context.problem.demand("w").asked_cpu == 1500
    assert need(context.problem.demand("w")) == "1.5 CPU (2 as Slurm gives it) + 1 GiB"  # explain's
    assert details(TARGETS["slurm"]().problems(context), "slurm") == []
    assert fidelity(context, TARGETS["slurm"]().render(context)) == []


@real_slurm
def test_a_real_slurm_runs_at_once_every_job_the_solver_places_on_nodes_of_two_threads(tmp_path):
    """On a real Slurm (CR_Core_Memory): of the three jobs the millicore count fitted in n1's
    4 CPUs, one waits (the rule the counts above state); the solver's placement, which counts
    whole cores, runs all three at once."""
    solved_context = _smt_context(tmp_path)
    for index, context in enumerate((_on_one_node(solved_context, "n1"), solved_context)):
        files = TARGETS["slurm"]().render(context)
        out = tmp_path / f"out{index}"
        out.mkdir()
        for name, script in files.items():
            (out / name).write_text(script)
        directory = tmp_path / f"cluster{index}"
        directory.mkdir()
        cluster = start_cluster(context.problem, directory, ["debug"], files)
        try:
            for name in sorted(n for n in files if n.endswith(".sbatch")):
                submitted = subprocess.run(["sbatch", str(out / name)], capture_output=True, cwd=out,
                                           text=True, env=cluster.env, timeout=30)  # slurm-N.out here
                assert submitted.returncode == 0, submitted.stderr
            states: list[str] = []
            for _ in range(60):  # until every job is placed or waits for resources
                shown = subprocess.run(["squeue", "-h", "-o", "%j %T %r"], capture_output=True,
                                       text=True, env=cluster.env, timeout=30).stdout
                states = sorted(shown.split("\n")[:-1])
                if len(states) == 3 and all(" RUNNING " in s or s.endswith("Resources") for s in states):
                    break
                time.sleep(1)
        finally:
            cluster.shutdown()
        running = [s.split()[0] for s in states if " RUNNING " in s]
        assert len(states) == 3 and len(running) == (2, 3)[index], states


# ---- a pool of ten million nodes ------------------------------------------------------------------

BIG_POOL = ('pool big {\n  count = COUNT\n  cpu = 4\n  memory = 16Gi\n  price = 0.1 USD/h\n}\n'
            'workload web {\n  replicas = 10\n  cpu = 1\n  memory = 2Gi\n  command = ["serve"]\n}\n')


def _ranges(expression: str) -> list[tuple[int, int]]:
    """`big-[0-65535,65536-99999]` -> [(0, 65535), (65536, 99999)] (the test's own reading)."""
    inside = expression[expression.index("[") + 1: expression.rindex("]")]
    return [tuple(int(n) for n in item.split("-")) for item in inside.split(",")]


def test_a_pool_of_ten_million_nodes_compiles_as_a_pool_of_a_hundred_does(tmp_path):
    # issue 13: 10 replicas of 1 CPU on 4-CPU nodes: 3 nodes (4 + 4 + 2) whatever the pool's
    # size. The script is the same; slurm.conf declares the pool as Slurm host ranges (at most
    # 64Ki hosts a range, Slurm's limit) and not node by node; the memory used to build, solve,
    # render and check the files stays that of the small pool (tracemalloc, not the clock)
    sized = compiled_at_sizes(tmp_path, BIG_POOL, "slurm", fidelity)
    measured = {count: (s.files, s.problems, s.peak) for count, s in sized.items()}
    (small, small_problems, small_peak), (huge, huge_problems, huge_peak) = measured.values()
    assert small_problems == huge_problems == []
    assert small["web.sbatch"] == huge["web.sbatch"]
    assert "# Placement: big-0 x4, big-1 x4, big-2 x2\n" in huge["web.sbatch"]
    lines = {count: [line for line in files["fitc-nodes.conf"].splitlines()
                     if line.startswith(("NodeName=", "PartitionName="))]
             for count, (files, _, _) in measured.items()}
    assert lines[100] == ["NodeName=big-[0-99] CPUs=4 RealMemory=16384 State=UNKNOWN",
                          "PartitionName=fitc Nodes=big-[0-99] MaxTime=INFINITE State=UP"]
    expression = lines[10_000_000][0].split()[0].removeprefix("NodeName=")
    ranges = _ranges(expression)
    assert len(ranges) == 153 and ranges[0] == (0, 65535) and ranges[-1] == (152 * 65536, 9_999_999)
    assert all(high - low + 1 <= 65536 and low == (ranges[i - 1][1] + 1 if i else 0)
               for i, (low, high) in enumerate(ranges))
    assert len(huge["fitc-nodes.conf"]) < len(small["fitc-nodes.conf"]) + 2 * 2500
    assert huge_peak < 2 * small_peak + 2 ** 20, (small_peak, huge_peak)
    # Slurm reads the file (Include) and expands the range from big-0 on
    require_slurm()
    (tmp_path / "fitc-nodes.conf").write_text(huge["fitc-nodes.conf"])
    conf = tmp_path / "slurm.conf"
    conf.write_text(f"ClusterName=big\nSlurmctldHost=localhost\nInclude {tmp_path}/fitc-nodes.conf\n")
    shown = subprocess.run(f"scontrol show hostnames '{expression}' | head -3", shell=True,
                           capture_output=True, text=True, timeout=60,
                           env={**__import__("os").environ, "SLURM_CONF": str(conf)})
    assert shown.stdout.split() == ["big-0", "big-1", "big-2"], shown.stderr
    assert shown.stderr == ""
    assert hostnames(f"big-[{ranges[-1][0]}-{ranges[-1][1]}]", tmp_path)[-1] == "big-9999999"


def test_fidelity_reads_host_ranges_as_slurm_does(tmp_path):
    # the pool's 100 nodes as one range: a range that names a node the policy lacks, declares
    # one twice, or leaves out a node a script uses is caught, without listing the range
    path = tmp_path / "p.fit"
    path.write_text(BIG_POOL.replace("COUNT", "100"))
    context, files = render(path, "slurm")
    used = sorted({a.node for a in context.placement.assignments})
    assert used == ["big-0", "big-1", "big-2"] and fidelity(context, files) == []

    def edited(old: str, new: str) -> list[str]:
        assert old in files["fitc-nodes.conf"]
        return fidelity(context, {**files, "fitc-nodes.conf": files["fitc-nodes.conf"].replace(old, new)})

    assert edited("NodeName=big-[0-99]", "NodeName=big-[0-100]") == [
        "fitc-nodes.conf: node big-100 is no node of the policy"]
    assert edited("NodeName=big-[0-99]", "NodeName=big-[0-99],big-[7-8]") == [
        "fitc-nodes.conf: node big-7 is declared twice"]
    padded = edited("NodeName=big-[0-99]", "NodeName=big-[00-99]")  # Slurm pads to the width
    assert padded[0] == "fitc-nodes.conf: node big-00 is no node of the policy"
    assert "web.sbatch component 0: node big-0 is known to no Slurm cluster (no slurm.conf line " \
           "declares it)" in padded
    assert "web.sbatch component 0: node big-1 is known to no Slurm cluster (no slurm.conf line " \
           "declares it)" in (
        edited("NodeName=big-[0-99]", "NodeName=big-[0,2-99]"))
    assert edited("NodeName=big-[0-99] CPUs=4", "NodeName=big-[0-99] CPUs=5") == [
        "fitc-nodes.conf: node big-0 declares 5 CPUs, the machine has 4"]
    assert "#SBATCH --nodelist=big-0,big-1\n" in files["web.sbatch"]  # 4 each; big-2 runs 2
    script = files["web.sbatch"].replace("--nodelist=big-0,big-1\n", "--nodelist=big-[0-9999999]\n")
    assert "web.sbatch component 0: --nodelist names 10000000 nodes, the placement uses 3" in (
        fidelity(context, {**files, "web.sbatch": script}))


def test_fidelity_reports_a_gres_line_without_a_name():
    # a gres.conf line with no `Name=` was read as GRES `None` ("has 8 None device files")
    context, files = render(EXAMPLES / "power-capped-burst.fit", "slurm")
    line = "NodeName=h100_onprem-[0-3] Name=gpu Type=h100 File=/dev/nvidia[0-7]"
    assert line in files["fitc-gres.conf"].splitlines()
    unnamed = files["fitc-gres.conf"].replace(line, line.replace(" Name=gpu", ""))
    assert fidelity(context, {**files, "fitc-gres.conf": unnamed}) == [
        "fitc-gres.conf: the line for h100_onprem-[0-3] names no GRES (no `Name=`)"]


@pytest.mark.parametrize("file, old, new", [
    ("sweep.sbatch", "--cpus-per-task=", "--cpus-per-task=x"),
    ("sweep.sbatch", "--nodelist=gpu101,gpu102", "--nodelist=gpu1[0-99999999]1"),
    ("sweep.sbatch", "srun ", "srun --het-group=0-99999999999 "),
    ("sweep.sbatch", "#SBATCH --job-name=sweep", "#SBATCH --job-name='sweep"),
    ("fitc-nodes.conf", "CPUs=", "CPUs=x"),
    ("fitc-gres.conf", "File=/dev/nvidia[0-7]", "File=/dev/nvidia[0-x]"),
])
def test_fidelity_reports_what_slurm_cannot_read_and_never_hangs(file, old, new):
    # issue 13: a hand-edited file is a finding of `fitc verify --target slurm`, never an
    # internal error, and never a list of 10^8 names made to check it
    context, files = render(EXAMPLES / "slurm-cluster.fit", "slurm")
    if file not in files:  # the example's own nodes are its inventory's: declare a pool's
        context, files = render(EXAMPLES / "power-capped-burst.fit", "slurm")
        file, old = ("fitc-gres.conf", "File=/dev/nvidia[0-7]") if "gres" in file else (file, old)
    assert old in files[file]
    problems = fidelity(context, {**files, file: files[file].replace(old, new, 1)})
    assert problems != []


# ---- what the target reports, as diagnostics; the partition as the target's rule ----------

def test_a_redeclared_partition_points_at_the_policy_with_both_pools_related(tmp_path):
    (tmp_path / "nodes.txt").write_text(
        "NodeName=n1 CPUTot=4 RealMemory=16000 State=IDLE Partitions=debug\n")
    path = tmp_path / "p.fit"
    path.write_text('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
                    'pool extra {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 2\n  cpu = 4\n  memory = 1Gi\n  command = ["true"]\n}\n'
                    'policy {\n  slurm {\n    partition = "debug"\n  }\n}\n')
    (need,) = TARGETS["slurm"]().problems(context_for(path))
    # the policy block (line 16), the inventory (line 1) and the pool (line 5)
    assert (need.code, need.path, need.span.line) == ("E0601", str(path), 16)
    assert [(r.path, r.span.line, r.message) for r in need.related] == [
        (str(path), 1, "inventory `hpc`"), (str(path), 5, "`extra`")]


def test_a_finding_with_no_place_in_the_policy_points_at_the_root_file(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  command = ["true"]\n}\n')
    context, files = render(path, "slurm")
    found = TARGETS["slurm"]().fidelity(context, {**files, "stray.sbatch": "#!/bin/sh\n"})
    (stray,) = [d for d in found if d.message.startswith("slurm: stray.sbatch")]
    assert (stray.code, stray.path, stray.span.line, stray.span.column) == \
        ("E0602", str(path), 1, 1)


PARTITIONED = ('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
               'workload w {\n  replicas = 2\n  cpu = 1\n  memory = 1Gi\n}\n'
               'policy {\n  slurm {\n    partition = "debug"\n  }\n}\n')


def test_the_partition_is_the_slurm_targets_rule_that_the_driver_adds(tmp_path):
    from fitlang.driver import Compilation
    from fitlang.targets import target_rules

    (tmp_path / "nodes.txt").write_text((FIXTURES / "inventory" / "scontrol.txt").read_text())
    path = tmp_path / "p.fit"
    path.write_text(PARTITIONED)
    program = check_file(path, Workspace()).program
    assert [r.name for r in target_rules(program)] == ["slurm partition"]
    # the language's rules alone: every node; with the target's rule: those of `debug` only
    # (cpu001, cpu002 of scontrol.txt are in cpu,debug; the GPU nodes in gpu)
    alone = build_problem(program).problem.demands[0]
    driven = Compilation(path).build().problem.demands[0]
    problem = Compilation(path).build().problem
    assert {problem.node_class(c).node_names[0][:3] for c in driven.eligible} == {"cpu"}
    assert set(driven.eligible) < set(alone.eligible)
    ruled_out = set(alone.eligible) - set(driven.eligible)
    assert [(driven.excluded[c].rule, driven.excluded[c].detail) for c in sorted(ruled_out)] == [
        ('slurm partition "debug"',
         f"nodes of `{c}` are not in partition debug") for c in sorted(ruled_out)]  # (each class)


def test_eligibility_names_no_target():
    """Which classes a workload may use is the rules' answer, the language's and the targets'
    alike (build.py still groups inventory nodes by their partition labels, as by any label)."""
    text = (Path(__file__).parent.parent / "fitlang" / "model" / "eligibility.py").read_text()
    assert "slurm" not in text.lower() and "partition" not in text


def _tasks_per_zone_and_option(tmp_path, text: str) -> Counter:
    """(zone, option) -> the tasks the scripts written for `text` start there, read from
    their `--nodelist` and `--ntasks-per-node` (the scripts checked to realise the placement)."""
    from fitlang.targets.slurm_fidelity import Hosts

    path = tmp_path / "p.fit"
    path.write_text(text)
    context, files = render(path, "slurm")
    assert fidelity(context, files) == []
    zone_of = {name: c.zone for c in context.problem.classes for name in c.node_names}
    tasks: Counter = Counter()
    for text in files.values():
        lines = text.splitlines()
        option = lines[1].rsplit(" ", 1)[1].rstrip(".") if len(lines) > 1 else ""
        per_node = [int(line.split("=", 1)[1]) for line in lines
                    if line.startswith("#SBATCH --ntasks-per-node=")]
        for line in lines:
            if line.startswith("#SBATCH --nodelist="):
                for node in Hosts.read(line.split("=", 1)[1]).listed():
                    tasks[zone_of[node], option] += per_node[0] if per_node else 1
    return tasks


def test_anti_affinity_self_of_an_option_workload_runs_one_task_per_zone(tmp_path):
    # the scripts of both options list the nodes the solver chose: one per zone in all
    from option_domains import APART_ZONES, apart_policy

    tasks = _tasks_per_zone_and_option(tmp_path, apart_policy())
    assert tasks == Counter(APART_ZONES.items())


def test_a_spread_of_an_option_workload_runs_on_nodes_spread_over_every_zone(tmp_path):
    from option_domains import spread_policy

    per_zone: Counter = Counter()
    for (zone, _), count in _tasks_per_zone_and_option(tmp_path, spread_policy()).items():
        per_zone[zone] += count
    assert set(per_zone) == {"a", "b", "c"} and max(per_zone.values()) - min(per_zone.values()) <= 1


# Slurm node features as `scontrol -o show node` prints them: n1 has NVMe and InfiniBand, n2
# nothing, n3 InfiniBand only
FEATURE_NODES = (
    "NodeName=n1 CPUTot=16 RealMemory=64000 AvailableFeatures=nvme,ib ActiveFeatures=nvme,ib "
    "State=IDLE Partitions=debug\n"
    "NodeName=n2 CPUTot=16 RealMemory=64000 AvailableFeatures=(null) ActiveFeatures=(null) "
    "State=IDLE Partitions=debug\n"
    "NodeName=n3 CPUTot=16 RealMemory=64000 AvailableFeatures=ib ActiveFeatures=ib "
    "State=IDLE Partitions=debug\n")
FEATURE_POLICY = ('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
                  'workload scratch {\n  replicas = 1\n  cpu = 12\n  memory = 8GiB\n'
                  '  command = ["python", "io.py"]\n  require features["nvme"]\n}\n'
                  'workload mpi {\n  replicas = 1\n  cpu = 12\n  memory = 8GiB\n'
                  '  command = ["python", "mpi.py"]\n  require features["ib"] and not features["nvme"]\n}\n'
                  'workload web {\n  replicas = 1\n  cpu = 12\n  memory = 8GiB\n  command = ["web"]\n}\n')


def _feature_context(tmp_path: Path) -> CompileContext:
    (tmp_path / "nodes.txt").write_text(FEATURE_NODES)
    path = tmp_path / "p.fit"
    path.write_text(FEATURE_POLICY)
    return context_for(path)


def test_a_workload_requires_slurm_node_features_solved_verified_and_asked_by_constraint(tmp_path):
    """`require features["nvme"]` (h52h: a workload could not ask for a Slurm feature): only
    n1 has NVMe, only n3 InfiniBand without it, so each job has one node; `verify` holds the
    answer to it, and each script asks for its node's features (`--constraint`), which the
    fidelity check reads against the workload's `require`."""
    context = _feature_context(tmp_path)
    placed = {a.workload: a.node for a in context.placement.assignments}
    assert placed == {"scratch": "n1", "mpi": "n3", "web": "n2"}
    violations, problems = verify(context.problem, json.loads(as_json(
        context.problem, context.placement, [])))
    assert violations == [] and problems == []
    moved = json.loads(as_json(context.problem, context.placement, []))
    for row in moved["assignments"]:
        row["node"] = {"n1": "n2", "n2": "n1"}.get(row["node"], row["node"])
    violations, _ = verify(context.problem, moved)
    assert violations and 'features["nvme"]' in violations[0].message
    files = TARGETS["slurm"]().render(context)
    assert "#SBATCH --constraint=ib&nvme\n" in files["scratch.sbatch"]
    assert "#SBATCH --constraint=ib\n" in files["mpi.sbatch"]
    assert fidelity(context, files) == []
    dropped = {**files, "scratch.sbatch": files["scratch.sbatch"].replace("ib&nvme", "ib")}
    assert fidelity(context, dropped) == [
        'scratch.sbatch: --constraint asks ib, and `scratch` requires features["nvme"]']


@real_slurm
def test_a_real_slurm_runs_a_feature_job_only_where_the_feature_is(tmp_path):
    context = _feature_context(tmp_path)
    files = TARGETS["slurm"]().render(context)
    (tmp_path / "cluster").mkdir()
    running = start_cluster(context.problem, tmp_path / "cluster", ["debug"], files)
    try:
        for name, text in scripts(files).items():
            (tmp_path / name).write_text(text)
            accepted = running.sbatch_test_only(tmp_path / name)
            assert accepted.returncode == 0 and "to start at" in accepted.stderr, (name, accepted.stderr)
        # the same job pinned to a node without NVMe: Slurm refuses it by its --constraint
        moved = files["scratch.sbatch"].replace("--nodelist=n1", "--nodelist=n2")
        (tmp_path / "moved.sbatch").write_text(moved)
        refused = running.sbatch_test_only(tmp_path / "moved.sbatch")
        assert refused.returncode != 0
        assert "Requested node configuration is not available" in refused.stderr, refused.stderr
    finally:
        running.shutdown()


# ---- a mixed Kubernetes + Slurm policy: each target writes what it runs ---------------------

def test_a_mixed_policy_s_service_without_command_is_left_to_kubernetes_and_said(tmp_path):
    # found as a user (session 55): one service without `command` stopped the whole compile
    path = mixed_policy(tmp_path, IMAGE + ON_KUBERNETES, COMMAND + ON_SLURM)
    context = context_for(path)
    slurm = TARGETS["slurm"]()
    [said] = slurm.problems(context)
    assert (said.code, said.span.line) == ("W0623", 12)  # at `workload web`, a warning
    assert details([said], "slurm") == ["workload `web` has no `command`: not written here (the "
                                        "kubernetes target writes it, from its `image`)"]
    written = slurm.written(context)
    files = slurm.render(written)
    assert sorted(files) == ["train.sbatch"]  # no slurm.conf lines for the Kubernetes nodes
    assert "srun python train.py '$(whoami)' '${HOME}' 'it'\"'\"'s \"quoted\"'" in files["train.sbatch"]
    assert fidelity(written, files) == []
    assert [p.split(" (")[0] for p in fidelity(written, {})] == ["no script runs `train`"]
    # compiled beside the kubernetes target, which writes it: nothing to say
    assert slurm.problems(dataclasses.replace(context, targets=("slurm", "kubernetes"))) == []


def test_a_workload_with_a_command_on_kubernetes_nodes_is_left_to_kubernetes_and_said(tmp_path):
    """Found as a user (session 58): a job with both `image` and `command` that the placement
    runs on a `kubectl` inventory's nodes (a GKE TPU pool) was written by Slurm too, its nodes
    declared in fitc-nodes.conf: compiled with both targets, the job ran twice, once on nodes
    no Slurm cluster has."""
    path = mixed_policy(tmp_path, IMAGE + COMMAND + ON_KUBERNETES, COMMAND + ON_SLURM)
    context = context_for(path)
    slurm = TARGETS["slurm"]()
    [said] = slurm.problems(context)
    assert (said.code, said.span.line) == ("W0623", 12)  # at `workload web`, a warning
    [detail] = details([said], "slurm")
    assert re.fullmatch(r"workload `web` runs on kubernetes nodes \([^)]+\): not written here "
                        r"\(the kubernetes target writes it\)", detail), detail
    written = slurm.written(context)
    files = slurm.render(written)
    assert sorted(files) == ["train.sbatch"]  # no script for web, no slurm.conf lines for its nodes
    assert fidelity(written, files) == []
    assert slurm.problems(dataclasses.replace(context, targets=("slurm", "kubernetes"))) == []


@pytest.mark.parametrize("web, said", [
    # the placement runs it on Slurm's own nodes: Slurm would have to run it
    (IMAGE + ON_SLURM, "workload `web` has no `command`, and the placement runs it on slurm nodes "
                       "(gpu...); the slurm target needs one there"),
    # no target runs it (no `image` either)
    (ON_KUBERNETES, "workload `web` has no `command`; the slurm target needs one"),
])
def test_a_workload_slurm_cannot_run_is_an_error_on_slurm_nodes_or_where_nothing_runs_it(
        tmp_path, web, said):
    context = context_for(mixed_policy(tmp_path, web, COMMAND + ON_SLURM))
    [found] = TARGETS["slurm"]().problems(context)
    [found_said] = details([found], "slurm")
    assert found.code == "E0601" and re.sub(r"\(gpu[^)]*\)", "(gpu...)", found_said) == said


def test_a_pool_whose_work_kubernetes_runs_is_not_declared_to_slurm(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text(
        'pool web_nodes {\n  count = 2\n  cpu = 8\n  memory = 32GiB\n  price = 0.3 USD/h\n'
        '  labels = { role: "web" }\n}\n'
        'pool batch_nodes {\n  count = 2\n  cpu = 16\n  memory = 64GiB\n  price = 0.5 USD/h\n'
        '  labels = { role: "batch" }\n}\n'
        f"workload web {{\n  replicas = 2\n  cpu = 2\n  memory = 4Gi\n{IMAGE}"
        '  require labels["role"] == "web"\n}\n'
        "workload crunch {\n  kind = job\n  replicas = 2\n  cpu = 8\n  memory = 16Gi\n"
        '  command = ["./crunch"]\n  require labels["role"] == "batch"\n}\n')
    context = context_for(path)
    slurm = TARGETS["slurm"]()
    assert [d.code for d in slurm.problems(context)] == ["W0623"]
    written = slurm.written(context)
    files = slurm.render(written)
    declared = [line for line in files["fitc-nodes.conf"].splitlines() if line.startswith("NodeName=")]
    assert [line.split()[0] for line in declared] == ["NodeName=batch_nodes-[0-1]"]  # not web_nodes
    assert fidelity(written, files) == []


@pytest.mark.parametrize("command, warned", [
    # found as a user (session 57): the team wrote `srun` in front, as in their own scripts; the
    # script's `srun srun ...` ran on a real Slurm 22.05 for minutes, printing nothing, until cancelled
    ('["srun", "python", "ft.py", "--note=$(date) ${USER}"]', True),
    ('["/usr/bin/srun", "--mpi=pmix", "./a.out"]', True),
    ('["python", "srun.py", "srun"]', False),
])
def test_a_command_that_runs_srun_itself_is_warned_at_the_command(tmp_path, command, warned):
    path = mixed_policy(tmp_path, IMAGE + ON_KUBERNETES, f"  command = {command}\n" + ON_SLURM)
    context = context_for(path)
    found = [d for d in TARGETS["slurm"]().problems(context) if d.code == "W0624"]
    if not warned:
        assert found == []
        return
    [said] = found
    assert path.read_text().splitlines()[said.span.line - 1].strip().startswith("command = [")
    assert details([said], "slurm") == [
        "the command of `train` starts with `srun`, and the script runs it with `srun` already: the "
        "inner `srun` waits for CPUs its own job step holds, and the job hangs until its time limit"]


def test_a_command_word_with_a_newline_is_read_back_as_the_shell_reads_it(tmp_path):
    # found as a user (session 57): `fitc verify --target slurm` said "sbatch cannot read it (No
    # closing quotation)" of a script bash runs: the single-quoted word spans two lines
    command = '  command = ["python", "ft.py", "--note=it\'s \\"ok\\"\\nnext; $(id)"]\n'
    context, files = render(mixed_policy(tmp_path, IMAGE + ON_KUBERNETES, command + ON_SLURM), "slurm")
    written = TARGETS["slurm"]().written(context)
    [script] = [name for name in files if name.endswith(".sbatch")]
    assert "'--note=it'\"'\"'s \"ok\"\nnext; $(id)'" in files[script]
    assert fidelity(written, files) == []
    # a quote that never closes is still one sbatch cannot read
    broken = {**files, script: files[script].replace("next; $(id)'", "next; $(id)")}
    assert [p.split(" (")[0] for p in fidelity(written, broken)][:1] == [f"{script}: sbatch cannot read it"]


@real_slurm
def test_tpu_chips_are_a_tpu_gres_of_their_device_files(tmp_path):
    """Found as a user (session 58): every GRES not `gpu` was written `File=/dev/neuron[...]`,
    TPU chips too, and the header's `GresTypes=gpu,neuron` left `tpu` out (slurmd refuses a
    GRES its `GresTypes` does not name). A TPU VM's chips are /dev/accelN (v5e) or /dev/vfio/N
    (v6e, through VFIO); Trainium stays /dev/neuronN. A real slurmd takes the lines (its
    devices symlinks to /dev/null) and `sbatch --test-only` the scripts."""
    tpu = ('import "std/accelerators"\n\n'
           'pool v5e {\n  count = 1\n  cpu = 112\n  memory = 192GiB\n  price = 4.8 USD/h\n'
           '  gpu {\n    model = TPU_V5E\n    count = 4\n  }\n}\n\n'
           'pool v6e {\n  count = 1\n  cpu = 180\n  memory = 720GiB\n  price = 10.8 USD/h\n'
           '  gpu {\n    model = TPU_V6E\n    count = 4\n  }\n}\n\n')
    jobs = "".join(f'workload {name} {{\n  kind = job\n  replicas = 1\n  cpu = 8\n  memory = 16GiB\n'
                   f'  command = ["python3", "train.py"]\n  gpu {{\n    count = 4\n'
                   f'    require model == {model}\n  }}\n}}\n\n'
                   for name, model in (("small", "TPU_V5E"), ("big", "TPU_V6E")))
    path = tmp_path / "tpu.fit"
    path.write_text(tpu + jobs)
    context, files = render(path, "slurm")
    gres = files["fitc-gres.conf"].splitlines()
    assert "NodeName=v5e-0 Name=tpu File=/dev/accel[0-3]" in gres
    assert "NodeName=v6e-0 Name=tpu File=/dev/vfio/[0-3]" in gres
    assert "#   GresTypes=tpu" in files["fitc-nodes.conf"] and "neuron" not in files["fitc-nodes.conf"]
    assert "#SBATCH --gres=tpu:4" in files["small.sbatch"] and fidelity(context, files) == []
    running = start_cluster(context.problem, tmp_path, [], files)
    try:
        for name in ("small.sbatch", "big.sbatch"):
            (tmp_path / name).write_text(files[name])
            accepted = running.sbatch_test_only(tmp_path / name)
            assert accepted.returncode == 0, (name, accepted.stderr)
    finally:
        running.shutdown()
