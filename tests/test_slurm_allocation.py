"""Multi-node Slurm jobs in `squeue --json`: what a job holds of each node, as Slurm allocated it
(fitlang/model/slurm_allocation.py), for a job of no workload (room it takes) and a job of a
workload (its replicas per node).

The jobs: on three idle 16-CPU, 64,000 MiB nodes n1-n3, `uneven` (`-N2 -n10 --mem-per-cpu=1000`,
`srun sleep`), `nosrun` (`-N2 -n3 --cpus-per-task=2 --mem-per-cpu=500`, a batch script that
starts no step) and `train` (`-N2 -n5 --nodelist=n2,n3 --mem=2000`, `srun sleep`). Slurm 22.05
allocated them (`scontrol -d show job`: `Nodes=n1 CPU_IDs=0-8 Mem=9000`, ...): uneven 9 CPUs /
9000 MiB on n1 and 1 / 1000 on n2; nosrun 4 / 2000 on n1 and 2 / 1000 on n2; train 4 CPUs on
n2 and 1 on n3, 2000 MiB each, so its 5 tasks run 4 and 1."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from fitlang.driver import Compilation

from conftest import ROOT
from slurm_cluster import real_slurm

# `squeue --json` of the jobs above, as this machine's Slurm 22.05.8 printed it (the live test
# below submits the same jobs; the working directory shown as /tmp)
CAPTURED = ROOT / "tests" / "fixtures" / "squeue" / "uneven-22.05.json"
MIB = 2 ** 20
JOBS = {"uneven": ["-N2", "-n10", "--mem-per-cpu=1000", "--wrap", "srun sleep 600"],
        "nosrun": ["-N2", "-n3", "--cpus-per-task=2", "--mem-per-cpu=500", "--wrap", "sleep 600"],
        "train": ["-N2", "-n5", "--nodelist=n2,n3", "--mem=2000", "--wrap", "srun sleep 600"]}
# what `scontrol -d show job` says Slurm allocated: (job, node) -> (CPUs, MiB)
ALLOCATED = {("uneven", "n1"): (9, 9000), ("uneven", "n2"): (1, 1000),
             ("nosrun", "n1"): (4, 2000), ("nosrun", "n2"): (2, 1000)}


def _policy(tmp_path: Path) -> Path:
    (tmp_path / "nodes.txt").write_text("".join(
        f"NodeName=n{i} CPUTot=16 CPUEfctv=16 RealMemory=64000 State=IDLE ThreadsPerCore=1\n"
        for i in (1, 2, 3)))
    policy = tmp_path / "policy.fit"
    policy.write_text('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n  price = 1 USD/h\n}\n'
                      "workload train {\n  replicas = 5\n  cpu = 1\n  memory = 400MiB\n}\n")
    return policy


def _read(policy: Path, squeue: Path) -> tuple[Counter, dict[tuple[str, str], tuple[int, int]]]:
    """The replicas per node, and (job name, node) -> (CPUs, MiB) of the jobs of no workload."""
    state = Compilation(policy, current=str(squeue)).current_state()
    held = {(work.name.split("(")[1].rstrip(")"), work.node): (work.cpu_milli // 1000, work.memory // MIB)
            for work in state.foreign}
    return Counter(r.node for r in state.running), held


def test_a_multi_node_job_counts_on_each_node_what_slurm_allocated_there(tmp_path):
    """Slurm 22.05's layout (`allocated_nodes`): nosrun's `cpus_used` is 0 on both nodes (no
    step runs), yet it holds 4 and 2 CPUs; train's 5 tasks run 4 and 1, not 3 and 2."""
    running, held = _read(_policy(tmp_path), CAPTURED)
    assert held == ALLOCATED
    assert running == Counter({"n2": 4, "n3": 1})


def _v41(name: str, cpus: int, memory: int) -> dict:
    return {"index": 0, "name": name, "cpus": {"count": cpus, "used": 0},
            "memory": {"used": 0, "allocated": memory}, "sockets": []}


def test_the_24_05_layout_states_each_node_s_cpus_and_memory(tmp_path):
    """Slurm 24.05 and later (data_parser v0.0.41: `job_resources.nodes.allocation[]`, each
    `name`, `cpus.count`, `memory.allocated`, as SchedMD's testsuite/python/tests/test_144_8.py
    reads it): the captured jobs in that layout are read as Slurm allocated them."""
    jobs = [{"job_id": 1, "name": "uneven", "job_state": ["RUNNING"], "nodes": "n[1-2]",
             "cpus": {"set": True, "infinite": False, "number": 10},
             "tasks": {"set": True, "infinite": False, "number": 10},
             "memory_per_cpu": {"set": True, "infinite": False, "number": 1000},
             "job_resources": {"cpus": 10, "nodes": {"count": 2, "list": "n[1-2]", "allocation": [
                 _v41("n1", 9, 9000), _v41("n2", 1, 1000)]}}},
            {"job_id": 3, "name": "train", "job_state": ["RUNNING"], "nodes": "n[2-3]",
             "tasks": {"set": True, "infinite": False, "number": 5},
             "job_resources": {"cpus": 5, "nodes": {"count": 2, "list": "n[2-3]", "allocation": [
                 _v41("n2", 4, 2000), _v41("n3", 1, 2000)]}}}]
    (tmp_path / "squeue.json").write_text(json.dumps({"jobs": jobs}))
    running, held = _read(_policy(tmp_path), tmp_path / "squeue.json")
    assert held == {key: value for key, value in ALLOCATED.items() if key[0] == "uneven"}
    assert running == Counter({"n2": 4, "n3": 1})


def _scontrol_allocation(cluster) -> dict[tuple[str, str], tuple[int, int]]:
    """(job name, node) -> (CPUs, MiB) as `scontrol -d show job` states Slurm's allocation."""
    text = subprocess.run(["scontrol", "-d", "-o", "show", "job"], capture_output=True, text=True,
                          env=cluster.env, timeout=30, check=True).stdout
    found = {}
    for line in text.splitlines():
        name = re.search(r"JobName=(\S+)", line)
        for node, cpu_ids, memory in re.findall(r"Nodes=(\S+) CPU_IDs=(\S+) Mem=(\d+)", line):
            cpus = sum(int(b) - int(a) + 1 if b else 1
                       for a, b in re.findall(r"(\d+)(?:-(\d+))?", cpu_ids))
            found[(name[1] if name else "", node)] = (cpus, int(memory))
    return found


@real_slurm
def test_uneven_multi_node_jobs_on_a_real_slurm(tmp_path):
    """The jobs above submitted to a real Slurm: what fitc reads of `squeue --json` is the
    allocation `scontrol -d show job` states, node by node."""
    from slurm_cluster import start_cluster

    policy = _policy(tmp_path)
    (tmp_path / "cluster").mkdir()
    cluster = start_cluster(Compilation(policy).build().problem, tmp_path / "cluster")
    try:
        for name, options in JOBS.items():
            submitted = subprocess.run(["sbatch", "-J", name, "-o", "/dev/null", *options],
                                       capture_output=True, text=True, env=cluster.env, timeout=30)
            assert submitted.returncode == 0, submitted.stderr
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = subprocess.run(["squeue", "-h", "-o", "%T"], capture_output=True, text=True,
                                    env=cluster.env, timeout=30).stdout.split()
            if len(states) == len(JOBS) and set(states) == {"RUNNING"}:
                break
            time.sleep(0.5)
        allocated = _scontrol_allocation(cluster)
        (tmp_path / "squeue.json").write_text(subprocess.run(
            ["squeue", "--json"], capture_output=True, text=True, env=cluster.env, timeout=30,
            check=True).stdout)
    finally:
        cluster.shutdown()
    running, held = _read(policy, tmp_path / "squeue.json")
    assert held == {key: value for key, value in allocated.items() if key[0] != "train"}
    train = {node: cpus for (name, node), (cpus, _) in allocated.items() if name == "train"}
    assert running == Counter(train)  # one CPU a task
    assert sorted(train.values()) == [1, 4]  # uneven, as Slurm packs
