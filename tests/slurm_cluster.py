"""A real Slurm cluster on localhost for the Slurm target's tests (see ../shared/tools-notes.md).

One slurmctld and one slurmd per node, all on 127.0.0.1 with their own ports, no munge
(auth/none), fake GPUs as symlinks to /dev/null. Started from a placement problem's node
classes, so the cluster has exactly the nodes, CPUs, memory, GPUs and features the policy
describes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fitlang.model.problem import Problem

BINARIES = ("slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")
# two checkouts testing at once on one machine each set their own base port
BASE_PORT = int(os.environ.get("FITC_TEST_SLURM_PORT", "17000"))


def require_slurm() -> None:
    """In CI a missing Slurm (or root) is a failure; on a developer machine, a skip."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    problem = None
    if missing:
        problem = f"Slurm is not installed (missing {', '.join(missing)}): apt-get install slurm-wlm"
    elif os.geteuid() != 0:
        problem = "the Slurm cluster tests start slurmd, which needs root"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@dataclass
class Cluster:
    directory: Path
    env: dict[str, str]

    def sbatch_test_only(self, script: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True,
                              env=self.env, timeout=30)

    def shutdown(self) -> None:
        subprocess.run(["scontrol", "shutdown"], capture_output=True, env=self.env, timeout=30)
        time.sleep(1.0)


def _node_lines(problem: Problem, directory: Path) -> tuple[list[str], list[str], list[str]]:
    nodes, gres, names = [], [], []
    port = BASE_PORT + 100
    for node_class in problem.classes:
        if node_class.provisioned:
            continue
        gpu_type = node_class.gres_type or (node_class.accelerator.name.lower()
                                            if node_class.accelerator else None)
        for name in node_class.node_names:
            port += 1
            line = (f"NodeName={name} NodeAddr=127.0.0.1 NodeHostname=localhost Port={port} "
                    f"CPUs={max(1, node_class.capacity['cpu'] // 1000)} "
                    f"RealMemory={max(1, node_class.capacity['memory'] // 2 ** 20)} State=UNKNOWN")
            if node_class.features:
                line += f" Feature={','.join(node_class.features)}"
            if node_class.capacity["gpu"] and gpu_type:
                count = node_class.capacity["gpu"]
                line += f" Gres=gpu:{gpu_type}:{count}"
                devices = directory / "dev" / name
                devices.mkdir(parents=True, exist_ok=True)
                for index in range(count):
                    target = devices / f"nvidia{index}"
                    if not target.exists():
                        target.symlink_to("/dev/null")
                gres.append(f"NodeName={name} Name=gpu Type={gpu_type} File={devices}/nvidia[0-{count - 1}]")
            nodes.append(line)
            names.append(name)
    return nodes, gres, names


def start_cluster(problem: Problem, directory: Path, partitions: list[str]) -> Cluster:
    require_slurm()
    nodes, gres, names = _node_lines(problem, directory)
    for sub in ("spool", "state", "run", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    conf = directory / "slurm.conf"
    node_list = ",".join(names)
    partition_lines = [f"PartitionName=debug Nodes={node_list} Default=YES MaxTime=INFINITE State=UP"]
    partition_lines += [f"PartitionName={p} Nodes={node_list} MaxTime=INFINITE State=UP"
                        for p in partitions if p != "debug"]
    conf.write_text("\n".join([
        "ClusterName=fitctest", "SlurmctldHost=localhost(127.0.0.1)", f"SlurmctldPort={BASE_PORT}",
        f"SlurmdPort={BASE_PORT + 1}", "AuthType=auth/none", "CredType=cred/none", "SlurmUser=root",
        "SlurmdUser=root", f"StateSaveLocation={directory}/state", f"SlurmdSpoolDir={directory}/spool/%n",
        f"SlurmctldPidFile={directory}/run/slurmctld.pid", f"SlurmdPidFile={directory}/run/slurmd-%n.pid",
        f"SlurmctldLogFile={directory}/log/slurmctld.log", f"SlurmdLogFile={directory}/log/slurmd-%n.log",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "ReturnToService=2",
        "SlurmdParameters=config_overrides", "GresTypes=gpu", "MpiDefault=none",
        "SchedulerType=sched/backfill", "JobCompType=jobcomp/none", "AccountingStorageType=accounting_storage/none",
        *nodes, *partition_lines, ""]))
    (directory / "gres.conf").write_text("AutoDetect=off\n" + "\n".join(gres) + "\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    subprocess.run(["slurmctld", "-i", "-f", str(conf)], check=True, env=env, timeout=30,
                   capture_output=True)
    for name in names:
        subprocess.run(["slurmd", "-N", name, "-f", str(conf)], check=True, env=env, timeout=30,
                       capture_output=True)
    cluster = Cluster(directory, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True,
                                env=env, timeout=30).stdout.split()
        idle = [s for s in states[1::2] if s.startswith("idle")]
        if len(idle) >= len(names):
            return cluster
        time.sleep(0.5)
    logs = (directory / "log" / "slurmctld.log").read_text()[-2000:]
    cluster.shutdown()
    pytest.fail(f"the Slurm test cluster did not come up: {states}\n{logs}")
