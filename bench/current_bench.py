"""How long reading what runs now takes: a `kubectl get pods,pdb -A -o json` file of 20,000
pods (and 1,000 PDBs), and the same replicas as `squeue --json` and `squeue -o` text.

    .venv/bin/python bench/current_bench.py                 # 20,000 pods, 5 runs
    .venv/bin/python bench/current_bench.py --pods 50000 --repeat 3

The files are made here, shaped as the tools print them (a pod as `kubectl get pods -o json`
prints one: metadata with labels, owner, uid; spec with a container and its requests; status
with conditions): 1,000 workloads of 20 replicas on 10,000 nodes, 5% system pods of no
workload, 1% finished pods. Reading is timed in process, the policy's check excluded: the
JSON parse, validation, the mapping to workloads and PDB matching (`read_state_files`). CPU
seconds, median of `--repeat` runs (the machine is shared). Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fitlang.model.current_read import StateFile, StateNames, read_state_files  # noqa: E402

WORKLOADS = 1000
NODES = 10000


def _pod(index: int, workload: str | None, node: str, phase: str = "Running") -> dict:
    name = f"{workload or 'agent'}-7d9f8b6c5-{index:05x}"
    labels = {"pod-template-hash": "7d9f8b6c5"}
    if workload is not None:
        labels.update({"app.kubernetes.io/name": workload, "app.kubernetes.io/managed-by": "fitc",
                       "fitlang.dev/pool": f"pool-{index % 7}"})
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "prod" if workload else "kube-system",
                     "uid": f"5c0f{index:08d}-1d2e-4f3a-9b8c-0a1b2c3d4e5f",
                     "resourceVersion": str(40000 + index),
                     "creationTimestamp": "2026-11-30T09:12:44Z", "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": f"{workload or 'agent'}-7d9f8b6c5",
                                          "uid": "0b7e4b8e-9c3a-4a5e-8f7d-2c1b0a9e8d7c",
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"nodeName": node, "schedulerName": "default-scheduler", "restartPolicy": "Always",
                 "containers": [{"name": "main", "image": "registry.example.com/app:1.2.3",
                                 "resources": {"requests": {"cpu": "2", "memory": "8Gi"},
                                               "limits": {"memory": "8Gi"}}}]},
        "status": {"phase": phase, "qosClass": "Burstable", "hostIP": "10.0.1.17", "podIP": "10.0.1.201",
                   "startTime": "2026-11-30T09:12:45Z",
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastTransitionTime": "2026-11-30T09:13:30Z"}]},
    }


def kubectl_file(pods: int) -> str:
    workloads = [f"w{i}" for i in range(WORKLOADS)]
    items = []
    for index in range(pods):
        node = f"node-{index % NODES}"
        if index % 20 == 19:
            items.append(_pod(index, None, node))  # a system pod
        elif index % 100 == 42:
            items.append(_pod(index, workloads[index % WORKLOADS], node, "Succeeded"))
        else:
            items.append(_pod(index, workloads[index % WORKLOADS], node))
    items += [{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": name, "namespace": "prod"},
               "spec": {"maxUnavailable": "20%",
                        "selector": {"matchLabels": {"app.kubernetes.io/name": name}}}}
              for name in workloads]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items,
                       "metadata": {"resourceVersion": ""}})


def squeue_files(pods: int) -> tuple[str, str]:
    """The same replicas as Slurm jobs: one job per workload of `pods / WORKLOADS` tasks on as
    many consecutive nodes."""
    per_job = max(1, pods // WORKLOADS)
    jobs, lines = [], []
    for index in range(WORKLOADS):
        first = (index * per_job) % (NODES - per_job)
        nodes = f"node-[{first}-{first + per_job - 1}]"
        jobs.append({"job_id": 1000 + index, "name": f"w{index}", "job_state": "RUNNING", "nodes": nodes,
                     "node_count": per_job, "tasks": per_job, "partition": "gpu", "user_name": "ml"})
        lines.append(f"{1000 + index}|w{index}|RUNNING|{nodes}")
    return json.dumps({"meta": {}, "errors": [], "jobs": jobs}), "\n".join(lines) + "\n"


def _names() -> StateNames:
    workloads = frozenset(f"w{i}" for i in range(WORKLOADS))
    return StateNames(workloads=workloads, pod_names={name: name for name in workloads},
                      job_names={name: (name, None) for name in workloads})


def _time(path: Path, repeat: int) -> tuple[float, int]:
    names = _names()
    times, replicas = [], 0
    for _ in range(repeat):
        start = time.process_time()
        [read] = read_state_files([StateFile(str(path))], names)
        times.append(time.process_time() - start)
        assert not read.problems, read.problems[:3]
        replicas = len(read.state.running)
    return statistics.median(times), replicas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        pods = Path(folder) / "pods.json"
        pods.write_text(kubectl_file(arguments.pods))
        squeue_json, squeue_text = squeue_files(arguments.pods)
        (Path(folder) / "squeue.json").write_text(squeue_json)
        (Path(folder) / "squeue.txt").write_text(squeue_text)
        print("| file | size | replicas read | read (CPU s, median) |")
        print("|---|---|---|---|")
        for name in ("pods.json", "squeue.json", "squeue.txt"):
            path = Path(folder) / name
            seconds, replicas = _time(path, arguments.repeat)
            size = path.stat().st_size / 2 ** 20
            print(f"| {name} | {size:.1f} MiB | {replicas} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
