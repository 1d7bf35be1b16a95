"""What runs a plan: `fitc plan --target T --out DIR` (fitlang/targets/waves.py and the
targets' `*_plan.py`).

Each wave's files are read back as the real system reads them (YAML by a YAML parser, shell
scripts by shlex or run against stand-ins of kubectl and scontrol that log their words, HCL by
python-hcl2 and Terraform's own loader, Slurm commands by a real Slurm cluster), and compared
with each wave's state worked out here from the plan's JSON alone: what runs now, then each
wave's moves applied by hand.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import EXAMPLES, ROOT
from slurm_cluster import real_slurm

KUBERNETES_VERSION = "1.33.0"
HOSTNAME = "kubernetes.io/hostname"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"

MIGRATION = """\
offer old {
  provider = aws
  instance_type = "m.old"
  regions = ["us-east-1"]
  cpu = 8
  memory = 32GiB
  price = 1.00 USD/h
}

offer new {
  provider = aws
  instance_type = "m.new"
  regions = ["us-east-1"]
  cpu = 8
  memory = 32GiB
  price = 0.50 USD/h
}

buy {
  offers = [old, new]
}

workload web {
  image = "registry.example.com/web:1"
  replicas = 2
  cpu = 2
  memory = 4GiB
  max_disrupted = 1
}
"""
# two web replicas run on a node of the expensive offer, bought earlier: the plan buys a
# node of the cheaper one, moves both (one per wave: max_disrupted = 1) and releases the old
OLD_NODE = "old-us-east-1-0"
MIGRATION_STATE = {"assignments": [{"workload": "web", "replica": r, "node": OLD_NODE}
                                   for r in range(2)],
                   "nodes": [{"name": OLD_NODE, "provisioned": True}]}


def fitc(*arguments: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fitlang.cli", *arguments], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def planned(tmp_path: Path, policy: Path, state: Path, *targets: str, out: str = "out"):
    """The plan's JSON and the files the targets wrote."""
    document = fitc("plan", str(policy), "--current", str(state), "--format", "json", cwd=tmp_path)
    assert document.returncode == 2, document.stderr
    arguments = [a for t in targets for a in ("--target", t)]
    written = fitc("plan", str(policy), "--current", str(state), *arguments, "--out", out,
                   cwd=tmp_path)
    assert written.returncode == 2, written.stderr
    files = {str(p.relative_to(tmp_path / out)): p.read_text()
             for p in sorted((tmp_path / out).rglob("*")) if p.is_file()}
    return json.loads(document.stdout), files, written.stderr


def codes(stderr: str) -> list[str]:
    return sorted({word.split("[")[1].rstrip("]:") for word in stderr.split()
                   if word.startswith(("warning[", "error["))})


# ---- the reference: each wave's state from the plan's JSON ------------------------------------

def reference_states(document: dict, running: list[tuple[str, str]]) -> list[dict[str, Counter]]:
    """node -> workload -> replicas after wave-00 (the stops) and after each wave."""
    state: dict[str, Counter] = {}
    for workload, node in running:
        state.setdefault(node, Counter())[workload] += 1
    for stop in document["stop"]:
        state[stop["source"]][stop["workload"]] -= 1
    states = [_clean(state)]
    for wave in document["waves"]:
        for move in wave["moves"]:
            if move["source"]:
                state[move["source"]][move["workload"]] -= 1
            if move["target"]:
                state.setdefault(move["target"], Counter())[move["workload"]] += 1
        states.append(_clean(state))
    return states


def _clean(state: dict[str, Counter]) -> dict[str, Counter]:
    return {node: +counts for node, counts in state.items() if +counts}


def consolidate_running() -> list[tuple[str, str]]:
    state = json.loads((EXAMPLES / "consolidate-state.json").read_text())
    return [(a["workload"], a["node"]) for a in state["assignments"]]


# ---- Kubernetes -------------------------------------------------------------------------------

def deployments_state(files: dict[str, str], folder: str, keep_zero: bool = False) -> dict[str, Counter]:
    """node -> workload -> replicas, as the Deployments in `folder` pin them (with those at 0
    replicas where `keep_zero`)."""
    state: dict[str, Counter] = {}
    for path, text in files.items():
        if not path.startswith(folder + "/") or not path.endswith(".yaml"):
            continue
        for document in yaml.safe_load_all(text):
            if document is None or document["kind"] != "Deployment":
                continue
            selected = [e for term in document["spec"]["template"]["spec"]["affinity"]
                        ["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                        ["nodeSelectorTerms"] for e in term["matchExpressions"]]
            # one node by hostname, or bought nodes by instance type: nothing else may run it
            nodes = {value for e in selected if e["key"] in (HOSTNAME, INSTANCE_TYPE)
                     for value in e["values"]}
            assert len(nodes) == 1, document["metadata"]["name"]
            workload = document["spec"]["template"]["metadata"]["annotations"]["fitlang.dev/workload"]
            state.setdefault(nodes.pop(), Counter())[workload] += document["spec"]["replicas"]
    return state if keep_zero else _clean(state)


def applied(state: dict[str, Counter], files: dict[str, str], folder: str) -> dict[str, Counter]:
    """`state` after `kubectl apply -k folder`: each Deployment there sets its node's count of
    its workload; what the folder does not name keeps running as it was."""
    after = {node: Counter(counts) for node, counts in state.items()}
    for node, counts in deployments_state(files, folder, keep_zero=True).items():
        for workload, replicas in counts.items():
            after.setdefault(node, Counter())[workload] = replicas
    return _clean(after)


def test_each_waves_manifests_pin_the_waves_placement_node_by_node(tmp_path):
    document, files, stderr = planned(tmp_path, EXAMPLES / "consolidate.fit",
                                      EXAMPLES / "consolidate-state.json", "kubernetes")
    states = reference_states(document, consolidate_running())
    assert len(document["waves"]) == 2 and "wave-00/run.sh" not in files  # nothing to buy or stop
    state = states[0]
    for number, (before, after) in enumerate(itertools.pairwise(states), 1):
        folder = f"wave-{number:02d}"
        started = {node: before.get(node, Counter()) | after.get(node, Counter())
                   for node in set(before) | set(after)}
        state = applied(state, files, f"{folder}/step-1")
        assert state == _clean(started)  # the new replicas beside the old
        state = applied(state, files, f"{folder}/step-2")
        assert state == after
        # a step names only the Deployments it changes: the target's grows, then the source's shrinks
        [move] = document["waves"][number - 1]["moves"]
        for step, node in (("step-1", move["target"]), ("step-2", move["source"])):
            assert list(deployments_state(files, f"{folder}/{step}", True)) == [node]
    assert codes(stderr) == ["W0821"]  # a declared pool: pinned by the names fitc gives its nodes


def test_a_node_whose_hostname_label_is_not_its_name_is_pinned_by_the_label(tmp_path):
    """Two replicas move from the dear node to the cheap one, whose `kubernetes.io/hostname`
    label is not its name (the kubelet's --hostname-override): the per-node Deployment requires
    the label (the name selects no node: its pods stayed Pending); kubectl takes the name."""
    def node(index: int) -> dict:
        return {"metadata": {"name": f"ip-10-0-0-{index}.ec2.internal",
                             "labels": {HOSTNAME: f"ip-10-0-0-{index}"}},
                "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}

    for name, index in (("cheap", 1), ("dear", 2)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"items": [node(index)]}))
    pods = [{"kind": "Pod", "metadata": {"name": f"web-{i}", "namespace": "default",
                                         "labels": {"app.kubernetes.io/name": "web"}},
             "spec": {"nodeName": "ip-10-0-0-2.ec2.internal", "containers": [
                 {"name": "web", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}]},
             "status": {"phase": "Running"}} for i in range(2)]
    (tmp_path / "pods.json").write_text(json.dumps({"kind": "List", "items": pods}))
    (tmp_path / "p.fit").write_text("".join(
        f'inventory {name} {{\n  format = kubectl\n  file = "{name}.json"\n  price = {price} USD/h\n}}\n'
        for name, price in (("cheap", 1), ("dear", 3)))
        + 'workload web {\n  replicas = 2\n  cpu = 2\n  memory = 1GiB\n'
          '  image = "registry.example.com/web:1"\n}\n')
    document, files, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "pods.json", "kubernetes")
    assert [(m["source"], m["target"]) for m in document["waves"][0]["moves"]] == \
        [("ip-10-0-0-2.ec2.internal", "ip-10-0-0-1.ec2.internal")] * 2
    assert deployments_state(files, "wave-01/step-1") == {"ip-10-0-0-1": Counter(web=2)}
    assert deployments_state(files, "wave-01/step-2", keep_zero=True) == {"ip-10-0-0-2": Counter(web=0)}
    assert "kubectl drain ip-10-0-0-2.ec2.internal " in files["wave-01/run.sh"]


def test_each_wave_script_cordons_starts_waits_stops_then_drains(tmp_path):
    document, files, _ = planned(tmp_path, EXAMPLES / "consolidate.fit",
                                 EXAMPLES / "consolidate-state.json", "kubernetes")
    for number, wave in enumerate(document["waves"], 1):
        commands = [shlex.split(line) for line in files[f"wave-{number:02d}/run.sh"].splitlines()
                    if line.startswith("kubectl")]
        [move] = wave["moves"]
        [drained] = wave["drained"]
        assert commands == [
            ["kubectl", "cordon", drained],
            ["kubectl", "apply", "-k", "step-1"],
            ["kubectl", "-n", "default", "rollout", "status", f"deployment/web-{move['target']}",
             "--timeout=10m"],
            ["kubectl", "apply", "-k", "step-2"],
            ["kubectl", "drain", drained, "--ignore-daemonsets", "--delete-emptydir-data"]]


def valid_objects(files: dict[str, str]) -> int:
    """kubernetes-validate (strict: unknown fields rejected) on every object of every wave,
    Evictions too; kustomizations are kustomize's, not the API server's."""
    checked = 0
    for path, text in files.items():
        if path.endswith((".yaml", ".json")) and not path.endswith("kustomization.yaml"):
            for document in yaml.safe_load_all(text):
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
                checked += 1
    return checked


def test_every_object_of_every_wave_is_valid_kubernetes(tmp_path):
    _, files, _ = planned(tmp_path, EXAMPLES / "consolidate.fit",
                          EXAMPLES / "consolidate-state.json", "kubernetes")
    assert valid_objects(files) == 2 * 2  # 2 waves: the target's Deployment grows, the source's shrinks


def test_the_plan_output_is_byte_identical_twice(tmp_path):
    for targets in (["kubernetes"], ["slurm", "terraform", "kubernetes"]):
        _, first, _ = planned(tmp_path, EXAMPLES / "consolidate.fit",
                              EXAMPLES / "consolidate-state.json", *targets, out="a")
        _, second, _ = planned(tmp_path, EXAMPLES / "consolidate.fit",
                               EXAMPLES / "consolidate-state.json", *targets, out="b")
        assert first == second and first


def _kubectl_state(pods: list[tuple[str, str, str]]) -> dict:
    """`kubectl get pods -A -o json` of running pods: (namespace, name, node), all of `web`."""
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": namespace,
                      "annotations": {"fitlang.dev/workload": "web"}},
         "spec": {"nodeName": node}, "status": {"phase": "Running"}}
        for namespace, name, node in pods]}


HOSTILE_POOL = """\
pool std {
  count = 3
  cpu = 8
  memory = 32GiB
  price = 0.40 USD/h
}

workload web {
  image = "registry.example.com/web:1"
  replicas = 2
  cpu = 2
  memory = 4GiB
}
"""


def test_hostile_pod_and_node_names_reach_kubectl_as_one_word_each(tmp_path):
    # web runs on std-0 and on a node the policy lacks, by a pod whose names are hostile:
    # the wave evicts it by name (the URL path escaped, the words shell-quoted)
    hostile = "pod'$(touch pwned)\"`x`${y}"
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "pods.json").write_text(json.dumps(_kubectl_state(
        [("default", "web-std-0-a-b", "std-0"), ("ns;rm", hostile, "gone 'node'")])))
    _, files, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "pods.json", "kubernetes")
    logged = _run_logging(tmp_path, files, ["wave-01/run.sh"])
    evict = [words for words in logged if words[:3] == ["kubectl", "create", "--raw"]]
    assert evict == [["kubectl", "create", "--raw",
                      "/api/v1/namespaces/ns%3Brm/pods/pod%27%24%28touch%20pwned%29%22%60x%60%24%7By"
                      "%7D/eviction", "-f", "evictions/001.json"]]
    assert json.loads(files["wave-01/evictions/001.json"])["metadata"] == {
        "name": hostile, "namespace": "ns;rm"}
    assert not (tmp_path / "pwned").exists()
    assert valid_objects(files) == 2  # web's Deployment on std-0, grown to 2; the Eviction
    applied = logged.index(["kubectl", "apply", "-k", "step-1"])
    assert logged.index(evict[0]) > applied  # the successor starts before the pod is evicted


def _run_logging(tmp_path: Path, files: dict[str, str], scripts: list[str],
                 tools: tuple[str, ...] = ("kubectl", "scontrol", "squeue", "scancel")) -> list[list[str]]:
    """Run the scripts with stand-ins for the tools on PATH, each logging its words (one JSON
    list a line): what the shell hands the real tool, word by word."""
    out = tmp_path / "run"
    for relative, text in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "log"
    for name in tools:
        stand_in = bin_dir / name
        stand_in.write_text(f"#!{sys.executable}\nimport json, sys\n"
                            f"open({str(log)!r}, 'a').write(json.dumps([{name!r}] + sys.argv[1:]) + '\\n')\n")
        stand_in.chmod(0o755)
    for script in scripts:
        result = subprocess.run(["sh", str(out / script)], capture_output=True, text=True, cwd=tmp_path,
                                env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
        assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_replicas_beyond_the_policys_stop_in_wave_00_and_named_pools_are_not_warned(tmp_path):
    # 4 web run (2 on std-0, 2 on std-1), the policy asks 2: wave-00 scales down to what stays;
    # `pin_nodes = true` says the pool's node names are the cluster's: no W0821
    (tmp_path / "p.fit").write_text(HOSTILE_POOL + "policy {\n  kubernetes {\n    pin_nodes = true\n  }\n}\n")
    running = [("web", "std-0"), ("web", "std-0"), ("web", "std-1"), ("web", "std-1")]
    (tmp_path / "now.json").write_text(json.dumps({"assignments": [
        {"workload": w, "replica": r, "node": n} for r, (w, n) in enumerate(running)]}))
    document, files, stderr = planned(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    states = reference_states(document, running)
    assert len(document["stop"]) == 2 and sum(sum(c.values()) for c in states[0].values()) == 2
    now: dict[str, Counter] = {}
    for workload, node in running:
        now.setdefault(node, Counter())[workload] += 1
    assert applied(now, files, "wave-00/step-1") == states[0]
    assert "wave-00/step-2/kustomization.yaml" not in files  # stopping is one step
    state = states[0]
    for number in range(1, len(states)):
        for step in ("step-1", "step-2"):
            state = applied(state, files, f"wave-{number:02d}/{step}")
        assert state == states[number]
    assert "W0821" not in codes(stderr)


def test_pods_another_controller_runs_are_said_to_stop_only_with_it(tmp_path):
    # web's pods run on std-0 and std-1 by `fitc compile`'s per-pool Deployment (`web-std-...`
    # ReplicaSet pods), not by the plan's per-node ones: the waves start the successor, and
    # say that the old pod stops only when its own Deployment is scaled down
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "pods.json").write_text(json.dumps(_kubectl_state(
        [("default", "web-std-5d8c7b9f4-abcde", "std-0"), ("default", "web-std-5d8c7b9f4-fghij", "std-1")])))
    _, _, stderr = planned(tmp_path, tmp_path / "p.fit", tmp_path / "pods.json", "kubernetes")
    assert codes(stderr) == ["W0820", "W0821"]  # W0821: std is a declared pool


def test_jobs_are_not_moved_and_say_so(tmp_path):
    (tmp_path / "p.fit").write_text(HOSTILE_POOL.replace("workload web {", "workload web {\n  kind = job"))
    (tmp_path / "now.json").write_text(json.dumps({"assignments": [
        {"workload": "web", "replica": 0, "node": "std-0"}, {"workload": "web", "replica": 1,
                                                             "node": "std-1"}]}))
    _, files, stderr = planned(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    assert "W0820" in codes(stderr)
    assert not any(path.endswith(".yaml") and "Deployment" in text for path, text in files.items())


def test_a_node_group_the_release_empties_goes_whole_and_says_nothing(tmp_path):
    (tmp_path / "m.fit").write_text(MIGRATION)
    (tmp_path / "old.json").write_text(json.dumps(MIGRATION_STATE))
    document, files, stderr = planned(tmp_path, tmp_path / "m.fit", tmp_path / "old.json", "terraform")
    assert document["release"] == [OLD_NODE] and codes(stderr) == []
    assert not any(path.endswith("release-nodes.sh") for path in files)  # Terraform deletes it


def test_bought_capacity_is_selected_per_class_and_never_by_a_node_name(tmp_path):
    # the migration: web leaves the old offer's node for a new one; cloud nodes have the
    # cloud's names, so the Deployments select the instance type, counted per offer
    (tmp_path / "m.fit").write_text(MIGRATION)
    (tmp_path / "now.json").write_text(json.dumps(MIGRATION_STATE))
    document, files, stderr = planned(tmp_path, tmp_path / "m.fit", tmp_path / "now.json", "kubernetes")
    per_type = [{"m." + node.split("-")[0]: sum(counts.values()) for node, counts in state.items()}
                for state in reference_states(document, [("web", OLD_NODE)] * 2)]
    state = {"m.old": Counter(web=2)}
    for number in range(1, len(per_type)):
        for step in ("step-1", "step-2"):
            state = applied(state, files, f"wave-{number:02d}/{step}")
        assert {key: counts["web"] for key, counts in state.items()} == per_type[number]
    assert codes(stderr) == []  # nothing pinned by a name fitc made up
    assert not any("cordon" in text or "drain" in text for path, text in files.items()
                   if path.endswith("run.sh"))  # Terraform's release drains the old node group
    assert valid_objects(files) >= 3


# ---- Slurm ------------------------------------------------------------------------------------

def _squeue_text(jobs: list[tuple[str, str, str]]) -> str:
    return "".join(f"{job}|{name}|RUNNING|{node}\n" for job, name, node in jobs)


def test_each_wave_requeues_its_jobs_onto_the_waves_nodes(tmp_path):
    jobs = [("11", "web", "std-0"), ("12", "web", "std-1"), ("13", "web", "std-2"),
            ("14", "web", "std-3"), ("15", "api", "std-0"), ("16", "api", "std-3")]
    (tmp_path / "squeue.txt").write_text(_squeue_text(jobs))
    document, files, stderr = planned(tmp_path, EXAMPLES / "consolidate.fit",
                                      tmp_path / "squeue.txt", "slurm")
    states = reference_states(document, [(name, node) for _, name, node in jobs])
    where = {job: node for job, _, node in jobs}
    for number in range(1, len(states)):
        commands = [shlex.split(line) for line in files[f"wave-{number:02d}/run.sh"].splitlines()
                    if line.startswith("scontrol update JobId=")]
        for command in commands:
            job = command[2].removeprefix("JobId=")
            where[job] = command[3].removeprefix("ReqNodeList=")
        placed: dict[str, Counter] = {}
        for job, name, _ in jobs:
            placed.setdefault(where[job], Counter())[name] += 1
        assert placed == states[number]
    assert codes(stderr) == []


def test_hostile_job_ids_and_node_names_reach_scontrol_as_one_word_each(tmp_path):
    # web runs on two nodes, one holds both: one of the two jobs moves, either has a hostile id
    ids = [f"{n}'$(touch pwned)\"`x`;${{y}} {n}" for n in (7, 8)]
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "squeue.txt").write_text(_squeue_text([(ids[0], "web", "std-1"), (ids[1], "web", "std-0")]))
    document, files, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "squeue.txt", "slurm")
    scripts = sorted(p for p in files if p.endswith("run.sh"))
    logged = _run_logging(tmp_path, files, scripts)
    [move] = [m for w in document["waves"] for m in w["moves"]]
    hostile = move["replica"]
    assert hostile in ids
    assert ["scontrol", "requeuehold", hostile] in logged
    assert ["scontrol", "update", f"JobId={hostile}", f"ReqNodeList={move['target']}", "NumNodes=1"] in logged
    assert ["squeue", "-h", "-j", hostile, "-o", "%T"] in logged
    assert not (tmp_path / "pwned").exists()


def _kubectl_node(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/arch": "amd64"}},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}


def test_hostile_node_names_reach_scontrol_and_kubectl_as_one_word_each(tmp_path):
    # an inventory whose two nodes have hostile names; a job on each; one node holds both
    names = ["n0 '$(touch pwned)'", 'n1";`touch pwned`']
    (tmp_path / "nodes.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                     "items": [_kubectl_node(n) for n in names]}))
    (tmp_path / "p.fit").write_text('inventory rack {\n  format = kubectl\n  file = "nodes.json"\n'
                                    "  price = 0.40 USD/h\n}\n\n" + HOSTILE_POOL.split("\n\n", 1)[1])
    (tmp_path / "squeue.txt").write_text(_squeue_text([("5", "web", names[0]), ("6", "web", names[1])]))
    document, files, stderr = planned(tmp_path, tmp_path / "p.fit", tmp_path / "squeue.txt", "slurm",
                                      "kubernetes")
    [wave] = document["waves"]
    [move], [drained] = wave["moves"], wave["drained"]
    logged = _run_logging(tmp_path, files, ["slurm/wave-01/run.sh", "kubernetes/wave-01/run.sh"])
    assert ["scontrol", "update", f"NodeName={drained}", "State=DRAIN", "Reason=fitc plan wave-01"] in logged
    assert ["scontrol", "update", f"JobId={move['replica']}", f"ReqNodeList={move['target']}",
            "NumNodes=1"] in logged
    # kubernetes: the pods of job-named replicas are not its Deployments', and the names are
    # no label values (the API server would refuse the Deployments): two W0820s
    assert stderr.count("warning[W0820]: kubernetes:") == 2
    assert ["kubectl", "cordon", drained] in logged
    assert ["kubectl", "drain", drained, "--ignore-daemonsets", "--delete-emptydir-data"] in logged
    assert not (tmp_path / "pwned").exists()


def test_jobs_beyond_the_policys_are_cancelled_before_the_moves(tmp_path):
    # 3 one-task web jobs run, the policy asks 2: wave-00 cancels the job the plan stops
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "squeue.txt").write_text(_squeue_text([("21", "web", "std-0"), ("22", "web", "std-1"),
                                                       ("23", "web", "std-2")]))
    document, files, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "squeue.txt", "slurm")
    [stop] = document["stop"]
    logged = _run_logging(tmp_path, files, ["wave-00/run.sh"])
    assert [words for words in logged if words[0] == "scancel"] == [["scancel", stop["replica"]]]


def test_a_job_of_several_tasks_warns_that_it_restarts_whole(tmp_path):
    # job 9 runs web's 2 replicas on std-0 and std-1; one node holds both: moving one replica
    # requeues the job, and with it the replica that stays
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "squeue.txt").write_text("9|web|RUNNING|std-[0-1]\n")
    document, files, stderr = planned(tmp_path, tmp_path / "p.fit", tmp_path / "squeue.txt", "slurm")
    [move] = [m for w in document["waves"] for m in w["moves"]]
    commands = [shlex.split(line) for line in files["wave-01/run.sh"].splitlines()
                if line.startswith("scontrol update JobId=")]
    # both tasks on one node: the job's tasks per node (1, kept by the requeue) and memory per
    # node (one task's) said anew, or it stays pending (found on a real Slurm 22.05, session 56)
    assert commands == [["scontrol", "update", "JobId=9", f"ReqNodeList={move['target']}", "NumNodes=1",
                         "TasksPerNode=2", "MinMemoryNode=8192"]]
    assert codes(stderr) == ["W0822"]  # one task on one node: Slurm's own spread, no W0820


def test_a_script_that_gathers_a_job_onto_fewer_nodes_keeping_its_tasks_per_node_is_found(tmp_path):
    # found on a real Slurm 22.05 (session 56): job 9 of `--ntasks-per-node=1` on std-0 and
    # std-1, requeued to one node with `NumNodes=1` and no `TasksPerNode`, stayed pending
    # ("ReqNodeNotAvail") and the wave's wait never ended
    from fitlang.driver import Compilation
    from fitlang.plan import make_plan
    from fitlang.targets import TARGETS
    from fitlang.targets.base import CompileContext
    from fitlang.targets.waves import stages

    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "squeue.txt").write_text("9|web|RUNNING|std-[0-1]\n")
    compilation = Compilation(tmp_path / "p.fit", current=str(tmp_path / "squeue.txt"))
    result = make_plan(compilation, compilation.current_state())
    planned = stages(result)
    context = CompileContext(compilation.check().program, result.problem, result.placement)
    slurm = TARGETS["slurm"]()
    files, _ = slurm.render_plan(context, planned)
    assert slurm.plan_fidelity(context, planned, files) == []
    kept = {path: re.sub(r" TasksPerNode=\S+ MinMemoryNode=\S+", "", text) for path, text in files.items()}
    [found] = slurm.plan_fidelity(context, planned, kept)
    assert "job 9: 2 task(s) on 1 node(s) of ReqNodeList, at most 1 a node" in found.message


def test_task_counts_slurm_would_spread_otherwise_are_said(tmp_path):
    from fitlang.driver import Compilation
    from fitlang.model.current import CurrentState, ReplicaName, Running
    from fitlang.plan import make_plan
    from fitlang.targets.waves import render_plan

    # job 9 runs web's 5 tasks: 1 on std-0, 1 on std-1, 3 on std-2; 2 nodes hold them (4 a
    # node), the fewest moves keep std-2's 3 and one other: 4 + 1, which is not how Slurm
    # spreads 5 tasks over 2 nodes (3 + 2, the first node one more)
    (tmp_path / "p.fit").write_text(HOSTILE_POOL.replace("replicas = 2", "replicas = 5"))
    compilation = Compilation(tmp_path / "p.fit")
    state = CurrentState(running=tuple(Running("web", node, handle=ReplicaName("9"))
                                       for node in ("std-0", "std-1", "std-2", "std-2", "std-2")))
    result = make_plan(compilation, state)
    files, found = render_plan(result, compilation.check().program, ["slurm"])
    [update] = [shlex.split(line) for path, text in files.items() for line in text.splitlines()
                if line.startswith("scontrol update JobId=")]
    assert update[:2] == ["scontrol", "update"] and update[4] == "NumNodes=2"
    assert sorted(d.code for d in found) == ["W0820", "W0822"]


def test_a_node_drained_by_one_wave_is_made_schedulable_before_a_later_wave_uses_it(tmp_path):
    from fitlang.driver import Compilation
    from fitlang.plan import make_plan
    from fitlang.solve.moving import Move, Wave
    from fitlang.targets.waves import render_plan

    compilation = Compilation(EXAMPLES / "consolidate.fit",
                              current=str(EXAMPLES / "consolidate-state.json"))
    result = make_plan(compilation, compilation.current_state())
    # waves made by hand: wave 1 empties std-1, wave 2 moves a replica back onto it
    result.plan.waves = [Wave([Move("web", "web", "std-1", "std-3")], drained=["std-1"]),
                         Wave([Move("web", "web", "std-2", "std-1")], drained=["std-2"])]
    program = compilation.check().program
    kube, _ = render_plan(result, program, ["kubernetes"])
    slurm, _ = render_plan(result, program, ["slurm"])
    commands = [shlex.split(line) for line in kube["wave-02/run.sh"].splitlines()
                if line.startswith("kubectl")]
    assert commands[:2] == [["kubectl", "uncordon", "std-1"], ["kubectl", "cordon", "std-2"]]
    assert "kubectl uncordon" not in kube["wave-01/run.sh"]
    assert "scontrol update NodeName=std-1 State=RESUME" in slurm["wave-02/run.sh"].splitlines()


@pytest.fixture
def slurm_cluster(tmp_path):
    from fitlang.driver import Compilation

    from slurm_cluster import start_cluster

    problem = Compilation(EXAMPLES / "consolidate.fit").problem
    # a requeued job waits AuthInfo's cred_expire (120 s by default) and the main scheduler's
    # pass (sched_interval, 60 s) before it starts again: shortened for the test
    (tmp_path / "slurm").mkdir()
    cluster = start_cluster(problem, tmp_path / "slurm", [], settings=(
        "AuthInfo=cred_expire=5", "SchedulerParameters=bf_interval=1,sched_interval=1"))
    yield cluster
    cluster.shutdown()


@real_slurm
def test_the_wave_scripts_move_running_jobs_on_a_real_slurm(tmp_path, slurm_cluster):
    env = slurm_cluster.env
    ids = {}
    for name, node in consolidate_running():
        submitted = subprocess.run(["sbatch", "--parsable", "--requeue", "-J", name, "-w", node,
                                    "-c", "2", "--mem=1G", "-o", "/dev/null", "--wrap", "sleep 600"],
                                   capture_output=True, text=True, env=env, timeout=30)
        assert submitted.returncode == 0, submitted.stderr
        ids[submitted.stdout.strip()] = name
    squeue = _wait_all_running(env, len(ids))
    (tmp_path / "squeue.txt").write_text(squeue)  # the real squeue's text is the current state
    document, files, stderr = planned(tmp_path, EXAMPLES / "consolidate.fit", tmp_path / "squeue.txt",
                                      "slurm")
    assert "E0602" not in stderr  # fitc's read-back of the scripts: each wave's states, as Slurm's below
    states = reference_states(document, [(name, line.split("|")[3]) for line in squeue.splitlines()
                                         for name in [line.split("|")[1]]])
    for number in range(1, len(states)):
        script = tmp_path / f"wave-{number}.sh"
        script.write_text(files[f"wave-{number:02d}/run.sh"])
        ran = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=240,
                             env={**env, "FITC_POLL_SECONDS": "1"})
        assert ran.returncode == 0, ran.stderr
        now: dict[str, Counter] = {}
        for line in _wait_all_running(env, len(ids)).splitlines():
            _, name, _, node = line.split("|")
            now.setdefault(node, Counter())[name] += 1
        assert now == states[number]
    drained = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True,
                             env=env, timeout=30).stdout
    for wave in document["waves"]:
        for node in wave["drained"]:
            assert f"{node} drained" in drained or f"{node} draining" in drained


def _wait_all_running(env: dict, count: int) -> str:
    deadline = time.monotonic() + 120
    while True:
        listed = subprocess.run(["squeue", "-h", "-o", "%i|%j|%T|%N"], capture_output=True,
                                text=True, env=env, timeout=30)
        text = listed.stdout
        if sum(1 for line in text.splitlines() if "|RUNNING|" in line) == count:
            return text
        if time.monotonic() > deadline:  # what Slurm says of every job, to see why
            jobs = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True,
                                  env=env, timeout=30).stdout
            raise AssertionError(f"not {count} jobs running:\n{text}{listed.stderr}\n{jobs}")
        time.sleep(0.5)


# the rules of `scontrol update` targets/slurm_plan_fidelity.py relies on

def _slurm(env: dict, *words: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(words), capture_output=True, text=True, env=env, timeout=30)


def _job_nodes(env: dict, job: str, state: str) -> str:
    """The nodes of `job` once squeue says it is in `state`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = _slurm(env, "squeue", "-h", "-j", job, "-o", "%T|%N").stdout.strip()
        if listed.startswith(state + "|"):
            return listed.split("|")[1]
        time.sleep(0.5)
    raise AssertionError(f"job {job} never {state}: {_slurm(env, 'scontrol', 'show', 'job', job).stdout}")


@real_slurm
def test_slurm_changes_the_nodes_of_a_held_job_only_and_runs_every_node_listed(slurm_cluster):
    """What `slurm_plan_fidelity` takes of `scontrol update`: the nodes of a running job do not
    change (refused); a held one runs on every node of its ReqNodeList once released, a
    NumNodes below their number taken as theirs, one above it adding nodes Slurm chooses."""
    env = slurm_cluster.env
    submitted = _slurm(env, "sbatch", "--parsable", "--requeue", "-w", "std-0", "-c", "2", "--mem=1G",
                       "-o", "/dev/null", "--wrap", "sleep 600")
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip()
    assert _job_nodes(env, job, "RUNNING") == "std-0"
    running = _slurm(env, "scontrol", "update", f"JobId={job}", "ReqNodeList=std-1", "NumNodes=1")
    assert running.returncode != 0, running.stdout
    assert _slurm(env, "scontrol", "requeuehold", job).returncode == 0
    for listed, count, runs_on in (("std-1,std-2", 1, 2), ("std-1", 2, 2), ("std-2", 1, 1)):
        update = _slurm(env, "scontrol", "update", f"JobId={job}", f"ReqNodeList={listed}",
                        f"NumNodes={count}")
        assert update.returncode == 0, update.stderr
        assert _slurm(env, "scontrol", "release", job).returncode == 0
        nodes = _slurm(env, "scontrol", "show", "hostnames", _job_nodes(env, job, "RUNNING")).stdout.split()
        assert set(listed.split(",")) <= set(nodes) and len(nodes) == runs_on, (listed, count, nodes)
        assert _slurm(env, "scontrol", "requeuehold", job).returncode == 0


# ---- Terraform: capacity before and after ------------------------------------------------------

def test_capacity_is_added_before_the_moves_and_released_after(tmp_path):
    from test_target_terraform import loads_cleanly, resources

    (tmp_path / "m.fit").write_text(MIGRATION)
    (tmp_path / "now.json").write_text(json.dumps(MIGRATION_STATE))
    document, files, _ = planned(tmp_path, tmp_path / "m.fit", tmp_path / "now.json", "terraform")
    [bought] = document["buy"]
    assert document["release"] == [OLD_NODE] and bought.startswith("new-")
    last = f"wave-{len(document['waves']) + 1:02d}"
    sizes = {}
    for folder in ("wave-00", last):
        stage = {p.split("/")[-1]: t for p, t in files.items() if p.startswith(f"{folder}/terraform/")}
        (tmp_path / folder).mkdir()
        loads_cleanly(tmp_path / folder, stage)
        sizes[folder] = {name: body["scaling_config"][0]["desired_size"]
                         for name, body in resources(stage).items()}
    old = next(name for name in sizes["wave-00"] if "old" in name)
    new = next(name for name in sizes["wave-00"] if "new" in name)
    assert sizes["wave-00"] == {old: 1, new: 1}  # the old node runs the work until it moves
    assert sizes[last] == {new: 1}  # the same resource: the release only removes the old group
    assert sorted(p for p in files if p.endswith("run.sh")) == ["wave-00/run.sh", f"{last}/run.sh"]


# ---- Terraform: nodes released from a group that stays, by name (terraform_release.py) ---------

SHRINK = """\
offer new {{
  provider = {provider}
  instance_type = "{instance_type}"
  regions = ["{region}"]
  cpu = 8
  memory = 32GiB
  price = 0.50 USD/h
}}

buy {{
  offers = [new]
}}

workload web {{
  image = "registry.example.com/web:1"
  replicas = 2
  cpu = 2
  memory = 4GiB
  max_disrupted = 1
}}
"""
CLOUDS = {"aws": ("m5.2xlarge", "us-east-1"), "gcp": ("n2-standard-8", "us-central1"),
          "azure": ("Standard_D8s_v5", "eastus")}
# the label each cloud puts on a node group's nodes, naming the group (the providers' docs)
GROUP_LABELS = {"aws": "eks.amazonaws.com/nodegroup", "gcp": "cloud.google.com/gke-nodepool",
                "azure": "kubernetes.azure.com/agentpool"}
# a stand-in of each cloud tool and kubectl: logs its words, answers what the release asks of
# the cloud from `cloud.json` (node -> labels and spec.providerID, as `kubectl get node` shows);
# an instance the cloud deletes takes its node out of it, unless FITC_TEST_FAILS names the
# instance (the call fails)
STAND_IN = r"""#!@PYTHON@
import json, os, sys
name, words = os.path.basename(sys.argv[0]), sys.argv[1:]
open(@LOG@, "a").write(json.dumps([name] + words) + "\n")
cloud = json.load(open(@CLOUD@))

def delete(instances):
    if set(instances) & set(os.environ.get("FITC_TEST_FAILS", "").split()):
        sys.exit("An error occurred deleting " + " ".join(instances))
    for node in [n for n, v in cloud.items()
                 if n in instances or v["providerID"].rsplit("/", 1)[-1] in instances]:
        del cloud[node]
    json.dump(cloud, open(@CLOUD@, "w"))

if words[:2] == ["autoscaling", "terminate-instance-in-auto-scaling-group"]:
    delete([words[words.index("--instance-id") + 1]])
elif words[:4] == ["compute", "instance-groups", "managed", "delete-instances"]:
    delete([words[words.index("--instances") + 1]])
elif words[:3] == ["aks", "nodepool", "delete-machines"]:
    delete(words[words.index("--machine-names") + 1:])
elif name == "kubectl" and words[:2] == ["get", "node"]:
    node = cloud.get(words[2])
    if node is None and "--ignore-not-found" in words:
        sys.exit(0)
    if node is None:
        sys.exit("Error from server (NotFound): nodes " + repr(words[2]) + " not found")
    path = words[words.index("-o") + 1]
    labels = "jsonpath={.metadata.labels."
    if path == "name":
        print("node/" + words[2])
    elif path == "jsonpath={.spec.providerID}":
        print(node["providerID"])
    elif path.startswith(labels) and path.endswith("}"):
        print(node["labels"].get(path[len(labels):-1].replace("\\.", "."), ""))
    else:
        sys.exit("unexpected JSONPath " + path)
elif name == "aws" and words[:2] == ["ec2", "describe-tags"]:
    print("prod")
elif name == "aws" and words[:2] == ["eks", "describe-nodegroup"]:  # its nodes in the cloud
    group = words[words.index("--nodegroup-name") + 1]
    print(sum(group in node["labels"].values() for node in cloud.values()))
elif name == "gcloud" and words[:3] == ["compute", "instances", "describe"]:
    print("https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/"
          "instanceGroupManagers/gke-prod-fitc-new-1a2b3c4d-grp")
elif name == "az" and words[:2] == ["aks", "list"]:
    print("rg" if "resourceGroup" in words[-1] else "prod")
"""
TOOLS = ("kubectl", "aws", "gcloud", "az", "terraform")
CHANGES = {("kubectl", "cordon"), ("kubectl", "drain"), ("aws", "eks"), ("aws", "autoscaling"),
           ("gcloud", "compute", "instance-groups"), ("az", "aks", "nodepool")}


def _shrunk(tmp_path: Path, provider: str, region: str | None = None):
    """A group of two bought nodes, one replica on each; the plan moves one and releases its
    node, keeping the group at one node: (plan JSON, files, stderr, the nodes)."""
    instance_type, cloud_region = CLOUDS[provider]
    region = region or cloud_region
    (tmp_path / "s.fit").write_text(SHRINK.format(provider=provider, instance_type=instance_type,
                                                  region=region.replace('"', '\\"').replace("\n", "\\n")))
    nodes = [f"new-{region}-0", f"new-{region}-1"]
    (tmp_path / "now.json").write_text(json.dumps({
        "assignments": [{"workload": "web", "replica": r, "node": nodes[r]} for r in range(2)],
        "nodes": [{"name": node, "provisioned": True} for node in nodes]}))
    document, files, stderr = planned(tmp_path, tmp_path / "s.fit", tmp_path / "now.json", "terraform")
    return document, files, stderr, nodes


def _release_folder(document: dict) -> str:
    return f"wave-{len(document['waves']) + 1:02d}"


def _group_name(files: dict[str, str], folder: str) -> str:
    """The node group's name in its cloud, as the stage's Terraform files give it."""
    from test_target_terraform import resources

    [body] = resources({p: t for p, t in files.items() if p.startswith(f"{folder}/terraform/")}).values()
    return body.get("node_group_name", body.get("name"))


def _run_release(tmp_path: Path, files: dict[str, str], cloud: dict, script: str
                 ) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run `script` with stand-ins of kubectl, the cloud tools and terraform: (result, their words)."""
    out, bin_dir, log = tmp_path / "run", tmp_path / "bin", tmp_path / "log"
    for relative, text in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text)
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "cloud.json").write_text(json.dumps(cloud))
    for tool in TOOLS:
        (bin_dir / tool).write_text(STAND_IN.replace("@PYTHON@", sys.executable).replace(
            "@LOG@", repr(str(log))).replace("@CLOUD@", repr(str(tmp_path / "cloud.json"))))
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "tf").mkdir(exist_ok=True)
    result = subprocess.run(["sh", str(out / script)], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                                 "FITC_TERRAFORM_DIR": str(tmp_path / "tf")})
    logged = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, logged


def _cloud_of(provider: str, group: str, nodes: list[str]) -> dict:
    """Each node as its cloud shows it to kubectl: in `group`, with its instance."""
    found = {}
    for index, node in enumerate(nodes):
        labels = {GROUP_LABELS[provider]: group, "kubernetes.azure.com/cluster": "MC_rg_prod_eastus"}
        found[node] = {"labels": labels, "providerID": {
            "aws": f"aws:///us-east-1a/i-0{index}",
            "gcp": f"gce://p/us-central1-a/gke-prod-fitc-new-1a2b3c4d-{index}",
            "azure": f"azure:///subscriptions/s/resourceGroups/mc_rg_prod_eastus/providers/Microsoft."
                     f"Compute/virtualMachineScaleSets/aks-x-vmss/virtualMachines/{index}"}[provider]}
    return found


def _shell_checked(path: Path) -> None:
    """The shells' own syntax check, and ShellCheck where installed (FITC_SHELLCHECK or PATH)."""
    for shell in ("dash", "bash"):
        if shutil.which(shell):
            checked = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr
    shellcheck = os.environ.get("FITC_SHELLCHECK") or shutil.which("shellcheck")
    if shellcheck:
        checked = subprocess.run([shellcheck, "-s", "sh", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
def test_a_group_that_stays_loses_exactly_the_nodes_the_plan_releases_by_name(tmp_path, provider):
    from test_target_terraform import loads_cleanly

    document, files, stderr, nodes = _shrunk(tmp_path, provider)
    [gone] = document["release"]
    [kept] = [node for node in nodes if node != gone]
    folder = _release_folder(document)
    # no W0820: the cloud chooses nothing; W0827: the script names the node as fitc bought it
    assert codes(stderr) == ["W0827"]
    stage = {p.split("/")[-1]: t for p, t in files.items() if p.startswith(f"{folder}/terraform/")}
    loads_cleanly(tmp_path, stage)
    group = _group_name(files, folder)
    result, logged = _run_release(tmp_path, files, _cloud_of(provider, group, nodes), f"{folder}/run.sh")
    assert result.returncode == 0, result.stderr
    for script in ("run.sh", "release-nodes.sh"):
        _shell_checked(tmp_path / "run" / folder / script)
    changes = [words for words in logged if words[0] == "terraform" or tuple(words[:2]) in CHANGES
               or tuple(words[:3]) in CHANGES]
    apply = next(i for i, words in enumerate(changes) if words[0] == "terraform" and "apply" in words)
    released = changes[:apply]  # all of the release happens before Terraform sets the sizes
    assert ["kubectl", "cordon", gone] in released and ["kubectl", "drain", gone, "--ignore-daemonsets",
                                                       "--delete-emptydir-data"] in released
    assert not any(kept in words for words in changes)  # the node the moves filled is never touched
    index = nodes.index(gone)
    deletes = {"aws": [["aws", "autoscaling", "terminate-instance-in-auto-scaling-group", "--region",
                        "us-east-1", "--instance-id", f"i-0{index}", "--should-decrement-desired-capacity"]],
               "gcp": [["gcloud", "compute", "instance-groups", "managed", "delete-instances",
                        "gke-prod-fitc-new-1a2b3c4d-grp", "--instances",
                        f"gke-prod-fitc-new-1a2b3c4d-{index}", "--project", "p", "--zone", "us-central1-a"]],
               "azure": [["az", "aks", "nodepool", "delete-machines", "--resource-group", "rg",
                          "--cluster-name", "prod", "--name", group, "--machine-names", gone]]}[provider]
    assert [w for w in released if w[0] in ("aws", "gcloud", "az") and w[:2] != ["aws", "eks"]] == deletes
    if provider == "aws":  # the group's floor comes down first: below it, AWS refuses to terminate
        assert released.index(["aws", "eks", "update-nodegroup-config", "--region", "us-east-1",
                               "--cluster-name", "prod", "--nodegroup-name", group, "--scaling-config",
                               "minSize=1,maxSize=2,desiredSize=2"]) < released.index(deletes[0])


def test_the_terraform_stage_scripts_parse_in_bash_as_in_dash(tmp_path):
    # run.sh said "fitc's capacity" inside "${FITC_TERRAFORM_DIR:?...}": dash reads the quote
    # as a character, bash (/bin/sh on some systems) opens a string there and the script no
    # longer parses
    (tmp_path / "m.fit").write_text(MIGRATION)
    (tmp_path / "now.json").write_text(json.dumps(MIGRATION_STATE))
    _, files, _ = planned(tmp_path, tmp_path / "m.fit", tmp_path / "now.json", "terraform")
    scripts = [path for path in files if path.endswith(".sh")]
    assert len(scripts) == 2
    for path in scripts:
        (tmp_path / "out" / path).write_text(files[path])
        _shell_checked(tmp_path / "out" / path)


def test_a_node_not_in_its_group_stops_the_release_before_anything_changes(tmp_path):
    document, files, _, nodes = _shrunk(tmp_path, "aws")
    folder = _release_folder(document)
    cloud = _cloud_of("aws", "someone-elses-group", nodes)
    result, logged = _run_release(tmp_path, files, cloud, f"{folder}/run.sh")
    assert result.returncode != 0 and "not fitc-new" in result.stderr
    assert all(words[:2] == ["kubectl", "get"] for words in logged)  # looked, changed nothing
    del cloud[document["release"][0]]  # a name the cluster does not have
    (tmp_path / "log").unlink()
    result, logged = _run_release(tmp_path, files, cloud, f"{folder}/run.sh")
    assert result.returncode != 0 and "no Kubernetes node" in result.stderr
    assert all(words[:2] == ["kubectl", "get"] for words in logged)


def test_names_no_node_can_have_are_w0820_and_every_name_reaches_the_tools_as_one_word(
        tmp_path, monkeypatch):
    # a region's name is the user's: the nodes bought there are named after it
    hostile = "us-east-1'$(touch pwned)\"`touch pwned`\n${HOME}"
    document, files, stderr, nodes = _shrunk(tmp_path, "aws", hostile)
    assert "W0820" in codes(stderr) and not any(p.endswith("release-nodes.sh") for p in files)
    # were they node names, each would reach kubectl and the cloud as exactly one word
    from fitlang.driver import Compilation
    from fitlang.plan import planned as plan_of
    from fitlang.targets import terraform_release
    from fitlang.targets.base import CompileContext
    from fitlang.targets.waves import stages

    monkeypatch.setattr(terraform_release, "is_node_name", lambda name: True)
    compilation = Compilation(tmp_path / "s.fit", current=str(tmp_path / "now.json"))
    result = plan_of(compilation, None)
    context = CompileContext(compilation.check().program, result.problem, result.placement)
    folder = _release_folder(document)
    script, found = terraform_release.release_script(context, stages(result), folder)
    assert script is not None and [d.code for d in found] == ["W0827"]  # named as fitc bought it
    written = {f"{folder}/release-nodes.sh": script}
    _, logged = _run_release(tmp_path, written, _cloud_of("aws", "fitc-new", nodes),
                             f"{folder}/release-nodes.sh")
    [gone] = document["release"]
    assert ["kubectl", "cordon", gone] in logged and ["aws", "autoscaling",
                                                     "terminate-instance-in-auto-scaling-group",
                                                     "--region", hostile, "--instance-id",
                                                     f"i-0{nodes.index(gone)}",
                                                     "--should-decrement-desired-capacity"] in logged
    assert not (tmp_path / "pwned").exists()


# ---- the command --------------------------------------------------------------------------------

def test_target_and_out_go_together_and_a_plan_with_nothing_to_do_writes_nothing(tmp_path):
    policy, state = EXAMPLES / "consolidate.fit", EXAMPLES / "consolidate-state.json"
    alone = fitc("plan", str(policy), "--current", str(state), "--target", "slurm", cwd=tmp_path)
    assert alone.returncode == 2 and "--target and --out go together" in alone.stderr
    assert not (tmp_path / "out").exists()
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "now.json").write_text(json.dumps({"assignments": [
        {"workload": "web", "replica": r, "node": "std-0"} for r in range(2)]}))  # already the best
    kept = fitc("plan", "p.fit", "--current", "now.json", "--target", "kubernetes", "--out", "out",
                cwd=tmp_path)
    assert kept.returncode == 0 and "wrote no files" in kept.stderr
    assert not (tmp_path / "out").exists()


def test_a_target_setting_the_target_refuses_stops_the_plan_s_files_as_compile_s(tmp_path):
    """`fitc plan --target kubernetes --out` wrote a namespace no API server takes into every
    wave's objects (compile refused it, E0601): the target's settings are read once, by the
    function `compile` and `check` read them by, and nothing is written."""
    text = (EXAMPLES / "consolidate.fit").read_text().replace(
        "  max_drained = 1\n}", '  max_drained = 1\n  kubernetes {\n    namespace = "team\\"; ${x}"\n  }\n}')
    (tmp_path / "p.fit").write_text(text)
    state = EXAMPLES / "consolidate-state.json"
    refused = fitc("plan", "p.fit", "--current", str(state), "--target", "kubernetes", "--out", "out",
                   cwd=tmp_path)
    assert refused.returncode == 1 and not (tmp_path / "out").exists()
    line = text[:text.index("namespace =")].count("\n") + 1
    assert f"p.fit:{line}:17: error[E0601]: kubernetes: namespace" in refused.stderr
    checked = fitc("check", "p.fit", cwd=tmp_path)
    assert checked.returncode == 1 and f"p.fit:{line}:17: error[E0601]" in checked.stderr


def test_an_out_fitc_did_not_write_is_refused_and_left_alone(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("not fitc's")
    policy, state = EXAMPLES / "consolidate.fit", EXAMPLES / "consolidate-state.json"
    refused = fitc("plan", str(policy), "--current", str(state), "--target", "kubernetes",
                   "--out", "out", cwd=tmp_path)
    assert refused.returncode == 1 and "has no .fitc-output" in refused.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mine.txt"]
    forced = fitc("plan", str(policy), "--current", str(state), "--target", "kubernetes",
                  "--out", "out", "--force", cwd=tmp_path)
    assert forced.returncode == 2 and (tmp_path / "out" / "mine.txt").read_text() == "not fitc's"
    assert (tmp_path / "out" / "wave-02" / "run.sh").exists()


def test_the_manifest_of_a_plan_says_fitc_plan_wrote_it(tmp_path):
    # `.fitc-output` names the command that wrote the files (it said "fitc compile" for a
    # plan's): a new directory, one fitc wrote before (compile's files replaced) and one
    # holding a file of the user's (written in place, --force)
    policy, state = EXAMPLES / "consolidate.fit", EXAMPLES / "consolidate-state.json"

    def manifest(out: str) -> dict:
        return json.loads((tmp_path / out / ".fitc-output").read_text())

    compiled = fitc("compile", str(policy), "--target", "kubernetes", "--out", "out", cwd=tmp_path)
    assert compiled.returncode in (0, 2) and manifest("out")["written_by"] == "fitc compile"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not fitc's")
    for out, extra in (("new", []), ("out", []), ("mine", ["--force"])):
        run = fitc("plan", str(policy), "--current", str(state), "--target", "kubernetes",
                   "--out", out, *extra, cwd=tmp_path)
        assert run.returncode == 2, run.stderr
        written = manifest(out)
        assert written["written_by"] == "fitc plan"
        assert "wave-01/run.sh" in written["files"] and "notes.txt" not in written["files"]


def test_several_targets_write_a_folder_each(tmp_path):
    (tmp_path / "m.fit").write_text(MIGRATION)
    (tmp_path / "now.json").write_text(json.dumps(MIGRATION_STATE))
    _, files, stderr = planned(tmp_path, tmp_path / "m.fit", tmp_path / "now.json",
                               "terraform", "kubernetes", "slurm")
    assert {path.split("/")[0] for path in files if "/" in path} == {"kubernetes", "slurm", "terraform"}
    # the placement JSON names no job: the Slurm scripts say what they leave to be done by hand
    assert "W0820" in codes(stderr) and "# not done here: move the replica of `web`" in \
        files["slurm/wave-01/run.sh"]


# ---- the plan's own fidelity check (targets/kubernetes_plan_fidelity.py) ----------------------

def _plan_and_files():
    """The consolidate example's plan in-process: (context, stages, the Kubernetes files)."""
    from fitlang.driver import Compilation
    from fitlang.plan import planned as plan_of
    from fitlang.targets import TARGETS
    from fitlang.targets.base import CompileContext
    from fitlang.targets.waves import stages

    compilation = Compilation(EXAMPLES / "consolidate.fit",
                              current=str(EXAMPLES / "consolidate-state.json"))
    result = plan_of(compilation, None)
    assert result.problem is not None and result.placement is not None
    context = CompileContext(compilation.check().program, result.problem, result.placement)
    waves = stages(result)
    files, _ = TARGETS["kubernetes"]().render_plan(context, waves)
    return context, waves, files


def _plan_findings(context, waves, files) -> list[str]:
    from fitlang.targets import TARGETS

    return [d.message for d in TARGETS["kubernetes"]().plan_fidelity(context, waves, files)]


def test_a_real_plans_wave_files_reach_each_waves_state_and_plan_reports_no_error(tmp_path):
    context, waves, files = _plan_and_files()
    assert _plan_findings(context, waves, files) == []
    _, _, stderr = planned(tmp_path, EXAMPLES / "consolidate.fit",
                           EXAMPLES / "consolidate-state.json", "kubernetes")
    assert "E0602" not in stderr


def _damaged(files: dict[str, str], path: str, old: str, new: str) -> dict[str, str]:
    assert old in files[path]
    return {**files, path: files[path].replace(old, new, 1)}


def test_a_changed_replica_count_is_found():
    context, waves, files = _plan_and_files()
    path = "wave-01/step-1/web.yaml"
    replicas = next(line for line in files[path].splitlines() if "replicas:" in line)
    count = int(replicas.split(":")[1])
    findings = _plan_findings(context, waves, _damaged(files, path, replicas,
                                                        replicas.replace(str(count), str(count + 1))))
    assert any("wave-01" in f and "(the plan:" in f for f in findings), findings


def test_a_steps_dropped_deployment_is_found():
    context, waves, files = _plan_and_files()
    kustomization = "wave-01/step-2/kustomization.yaml"
    damaged = _damaged(files, kustomization, "- web.yaml", "[]")
    damaged[kustomization] = damaged[kustomization].replace("resources:\n[]", "resources: []")
    assert any("wave-01" in f for f in _plan_findings(context, waves, damaged))


def test_two_deployments_of_one_name_in_a_step_are_found():
    context, waves, files = _plan_and_files()
    path = "wave-01/step-1/web.yaml"
    damaged = {**files, path: files[path] + "---\n" + files[path]}
    assert any("twice in one step" in f for f in _plan_findings(context, waves, damaged))


def test_a_step_the_script_never_applies_is_found():
    context, waves, files = _plan_and_files()
    damaged = _damaged(files, "wave-01/run.sh", "kubectl apply -k step-2", "true")
    assert any("wave-01" in f for f in _plan_findings(context, waves, damaged))


def test_a_step_that_stops_more_than_the_budget_is_found():
    """web's `max_disrupted = 1`: its source stopped first (the steps swapped) and its target's
    pods scaled to 0 leave 2 of 4 running mid-wave."""
    context, waves, files = _plan_and_files()
    swapped = files["wave-01/run.sh"].replace("apply -k step-1", "apply -k STEP").replace(
        "apply -k step-2", "apply -k step-1").replace("apply -k STEP", "apply -k step-2")
    step = "wave-01/step-1/web.yaml"
    replicas = next(line for line in files[step].splitlines() if "replicas:" in line)
    damaged = {**_damaged(files, step, replicas, replicas.split(":")[0] + ": 0"),
               "wave-01/run.sh": swapped}
    findings = _plan_findings(context, waves, damaged)
    assert any("after `wave-01/step-1`, web runs 2 pods" in f for f in findings), findings


def test_a_drain_that_evicts_pods_of_no_workload_names_them(tmp_path):
    # found as a user (session 57): a wave emptied a node of its last `web` replica, and its
    # `kubectl drain` evicted another team's notebook there too, in silence: the plan keeps such
    # pods where they run (they take room; no budget counts them)
    def other(namespace, name, node, daemon_set=None):
        owner = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": daemon_set, "controller": True,
                  "uid": "u"}] if daemon_set else []
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": {"app": "nb"},
                             "ownerReferences": owner},
                "spec": {"nodeName": node, "containers": [
                    {"name": "c", "image": "x", "resources": {"requests": {"cpu": "100m"}}}]},
                "status": {"phase": "Running"}}
    state = _kubectl_state([("default", "web-std-0-a-b", "std-0"), ("default", "web-std-1-c-d", "std-1")])
    hostile = "nb-'$(id)'\"${HOME}\""
    state["items"] += [other("team-b", "nb-0", "std-0"), other("team-b", hostile, "std-1"),
                       other("kube-system", "proxy-0", "std-0", "kube-proxy"),
                       other("kube-system", "proxy-1", "std-1", "kube-proxy")]
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "pods.json").write_text(json.dumps(state))
    document, files, stderr = planned(tmp_path, tmp_path / "p.fit", tmp_path / "pods.json", "kubernetes")
    [wave] = document["waves"]
    [drained] = wave["drained"]
    evicted = {"std-0": "`team-b/nb-0`", "std-1": f"`team-b/{hostile}`"}[drained]
    assert f"kubectl drain {drained} " in files["wave-01/run.sh"]
    [said] = [line for line in stderr.splitlines() if "W0828" in line]
    assert said.endswith(f"kubernetes: wave-01's `kubectl drain {drained}` also evicts 1 pod(s) of no "
                         f"workload of the policy, which the plan keeps where they run: {evicted}")
    # without pods of no workload on the drained node: nothing to say
    state["items"] = [p for p in state["items"] if p["metadata"]["namespace"] != "team-b"]
    (tmp_path / "pods.json").write_text(json.dumps(state))
    _, _, stderr = planned(tmp_path, tmp_path / "p.fit", tmp_path / "pods.json", "kubernetes", out="o2")
    assert "W0828" not in stderr
