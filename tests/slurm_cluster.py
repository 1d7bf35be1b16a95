"""A real Slurm cluster on localhost for the Slurm target's tests (see ../shared/tools-notes.md).

One slurmctld and one slurmd per node, all on 127.0.0.1 with their own ports, no munge
(auth/none), fake GPUs as symlinks to /dev/null. Started from a placement problem's node
classes, so the cluster has exactly the nodes, CPUs, memory, GPUs and features the policy
describes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fitlang.model.problem import Problem

BINARIES = ("slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "squeue", "scancel")
# A test cluster takes BASE_PORT (slurmctld), BASE_PORT + 1 and its nodes' ports from
# BASE_PORT + 101 on, all below BASE_PORT + 1,000; each xdist worker (gw0, gw1, ...) has its
# own 1,000 ports above the last. So checkouts testing at once on one machine set
# FITC_TEST_SLURM_PORT 10,000 apart (e.g. 20000, 30000): with ranges that overlap, one
# checkout's slurmctld may reach another's slurmd (no authentication here), or a slurmd may
# not bind its port
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
BASE_PORT = int(os.environ.get("FITC_TEST_SLURM_PORT", "17000")) + 1000 * int(_WORKER or 0)
# a guard, not a measure: one slurmd per node takes minutes to start a job at load 10+ on
# two cores (120 s timed out there while the same test passed in 56 s on a quiet machine)
SBATCH_WAIT_SECONDS = 360
# likewise: every slurmd registering idle took over 60 s at load 5+ ("did not come up")
CLUSTER_UP_SECONDS = 180


# the tests that start a cluster: one xdist group, so one worker runs them one at a time
# (two clusters of one slurmd per node on two cores starve each other's `sbatch --wait`)
real_slurm = pytest.mark.xdist_group("slurm")


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

    def run(self, script: Path, output: Path) -> subprocess.CompletedProcess:
        """Submit a script and wait until the job has ended (`sbatch --wait`)."""
        return subprocess.run(["sbatch", "--wait", f"--output={output}", str(script)],
                              capture_output=True, text=True, env=self.env, timeout=SBATCH_WAIT_SECONDS)

    spool: Path | None = None

    def shutdown(self) -> None:
        self._cancel_every_job()
        subprocess.run(["scontrol", "shutdown"], capture_output=True, env=self.env, timeout=30)
        # the next cluster reuses the ports: wait until every daemon of this one has exited
        deadline = time.monotonic() + 30
        pids = [pid for p in (self.directory / "run").glob("*.pid") if (pid := _pid(p))]
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.2)
        # a slurmd that had not registered when `scontrol shutdown` ran never hears of it and
        # keeps its port (seen in CI at load: the next two clusters each lacked one node)
        _kill(pid for pid in pids if _alive(pid))
        if self.spool is not None:
            shutil.rmtree(self.spool, ignore_errors=True)


    def _cancel_every_job(self) -> None:
        """`scontrol shutdown` stops the daemons, not the jobs: a running job's slurmstepd
        lives on, and when its job ends it reports to whatever controller then has this
        cluster's port, under a job id the next cluster reuses (seen: a later cluster's jobs
        1, 4, 5 and 6 ended with signal 15 while the test ran). So every job is cancelled
        and gone from the queue (its steps ended) before the daemons stop."""
        subprocess.run(["scancel", "--user=root"], capture_output=True, env=self.env, timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                                    env=self.env, timeout=30)
            if listed.returncode != 0 or not listed.stdout.strip():
                return
            time.sleep(0.2)


def _first_job_id() -> int:
    """A different start for each cluster (a tenth of a second apart), below Slurm's MaxJobId
    (67,043,328 by default)."""
    return int(time.time() * 10) % 60_000_000 + 1


def _pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:  # the daemon removed it as it exited
        return None
    return int(text) if text.isdigit() else None


def _kill(pids) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _listening_inodes(low: int, high: int) -> set[str]:
    """The socket inodes listening on a TCP port in [low, high) (/proc/net/tcp's hex fields)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and low <= int(fields[1].rsplit(":", 1)[1], 16) < high:
                inodes.add(fields[9])
    return inodes


def _free_port_range() -> None:
    """Kill the Slurm daemons still listening in this checkout's and worker's port range: they
    can only be an earlier test cluster's (one killed before its shutdown, or a daemon that
    outlived it), and a slurmd that cannot bind its port never registers."""
    deadline = time.monotonic() + 10
    while (inodes := _listening_inodes(BASE_PORT, BASE_PORT + 1000)) and time.monotonic() < deadline:
        sockets = {f"socket:[{inode}]" for inode in inodes}
        _kill(pid for pid, held in _slurm_daemon_sockets() if held & sockets)
        time.sleep(0.2)


def _slurm_daemon_sockets():
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() not in ("slurmd", "slurmctld", "slurmstepd"):
                continue
            yield int(proc.name), {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:  # it exited meanwhile
            continue


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Ports:
    def __init__(self) -> None:
        self.next = BASE_PORT + 100

    def take(self) -> int:
        self.next += 1
        assert self.next < BASE_PORT + 1000, "a test cluster of more nodes than its port range"
        return self.next


def _fake_devices(directory: Path, node: str, count: int) -> Path:
    """`count` GPU device files for `node`: symlinks to /dev/null (tools-notes.md)."""
    devices = directory / "dev" / node
    devices.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        target = devices / f"dev{index}"
        if not target.exists():
            target.symlink_to("/dev/null")
    return devices


def _node_lines(problem: Problem, directory: Path, ports: Ports,
                skip: set[str]) -> tuple[list[str], list[str], list[str], set[str]]:
    """The nodes of the problem's Slurm-side classes (inventory nodes the cluster already has)
    that the compiled files do not declare themselves."""
    nodes, gres, names, partitions = [], [], [], set()
    for node_class in problem.classes:
        if node_class.provisioned:
            continue
        gpu_type = node_class.gres_type or (node_class.accelerator.name.lower()
                                            if node_class.accelerator else None)
        for name in node_class.node_names:
            if name in skip:
                continue
            line = (f"NodeName={name} NodeAddr=127.0.0.1 NodeHostname=localhost Port={ports.take()} "
                    f"CPUs={max(1, node_class.capacity['cpu'] // 1000)} "
                    f"RealMemory={max(1, node_class.capacity['memory'] // 2 ** 20)} State=UNKNOWN")
            threads = node_class.threads_per_core
            if threads > 1:  # CPUs are threads: slurmd needs the layout to give whole cores
                cpus = max(1, node_class.capacity["cpu"] // 1000)
                line += f" Sockets=1 CoresPerSocket={cpus // threads} ThreadsPerCore={threads}"
            if node_class.features:
                line += f" Feature={','.join(node_class.features)}"
            if node_class.capacity["gpu"] and gpu_type:
                count = node_class.capacity["gpu"]
                line += f" Gres=gpu:{gpu_type}:{count}"
                devices = _fake_devices(directory, name, count)
                gres.append(f"NodeName={name} Name=gpu Type={gpu_type} File={devices}/dev[0-{count - 1}]")
            nodes.append(line)
            names.append(name)
            partitions |= {k.removeprefix("slurm.partition.") for k in node_class.labels
                           if k.startswith("slurm.partition.")}
    return nodes, gres, names, partitions


def hostnames(expression: str, directory: Path) -> list[str]:
    """The names of a Slurm host list, as Slurm expands it (`scontrol show hostnames`)."""
    conf = directory / "hostnames.conf"  # scontrol reads a configuration before anything
    conf.write_text("ClusterName=names\nSlurmctldHost=localhost\n")
    result = subprocess.run(["scontrol", "show", "hostnames", expression], capture_output=True,
                            text=True, env={**os.environ, "SLURM_CONF": str(conf)}, timeout=60)
    assert result.returncode == 0, (expression, result.stderr)
    return result.stdout.split()


def _declared(files: dict[str, str], directory: Path, ports: Ports) -> tuple[str, list[str], list[str]]:
    """The compiled `slurm.conf`/`gres.conf` lines as written, plus only what nodes on
    localhost need (their address and slurmd ports: a range for a range of nodes) and fake
    device files (shared by the nodes of a line, as /dev/nvidia0 is on every machine)."""
    require_slurm()
    nodes_text = files.get("fitc-nodes.conf", "")
    gres_text = files.get("fitc-gres.conf", "")
    lines, names = [], []
    for line in nodes_text.splitlines():
        if line.startswith("NodeName="):
            members = hostnames(line.split()[0].removeprefix("NodeName="), directory)
            names += members
            taken = [ports.take() for _ in members]
            port = str(taken[0]) if len(taken) == 1 else f"[{taken[0]}-{taken[-1]}]"
            line += (f" NodeAddr={','.join(['127.0.0.1'] * len(members))}"
                     f" NodeHostname={','.join(['localhost'] * len(members))} Port={port}")
        lines.append(line)
    gres = []
    for index, line in enumerate(gres_text.splitlines()):
        match = re.match(r"NodeName=(\S+) (.*)File=/dev/(?:vfio/|\w+)\[0-(\d+)\]$", line)
        if match:
            devices = _fake_devices(directory, f"declared-{index}", int(match[3]) + 1)
            line = f"NodeName={match[1]} {match[2]}File={devices}/dev[0-{match[3]}]"
        gres.append(line)
    (directory / "fitc-nodes.conf").write_text("\n".join(lines) + "\n")
    return nodes_text, names, gres


def start_cluster(problem: Problem, directory: Path, partitions: list[str] = (),
                  files: dict[str, str] | None = None, cloud_running: bool = True,
                  settings: tuple[str, ...] = ()) -> Cluster:
    """A cluster with the problem's inventory nodes, and the nodes, partition and GRES the
    compiled `files` declare (fitc-nodes.conf is read through slurm.conf's `Include`).
    `cloud_running=False` leaves the CLOUD nodes powered down, as bought capacity is until a
    job needs it, with power saving programs that do nothing (`/bin/true`). `settings`: more
    slurm.conf lines."""
    require_slurm()
    ports = Ports()
    declared_text, declared, declared_gres = _declared(files or {}, directory, ports)
    nodes, gres, names, known = _node_lines(problem, directory, ports, set(declared))
    for sub in ("spool", "state", "run", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    conf = directory / "slurm.conf"
    # slurmstepd's socket is SPOOL/NODE/NODE_JOB.STEP and must fit 108 bytes: a short spool
    spool = Path(tempfile.mkdtemp(prefix="fitc-", dir="/tmp"))
    partition_lines = []
    if names:
        node_list = ",".join(names)
        partition_lines.append(f"PartitionName=debug Nodes={node_list} Default=YES MaxTime=INFINITE State=UP")
        partition_lines += [f"PartitionName={p} Nodes={node_list} MaxTime=INFINITE State=UP"
                            for p in sorted(set(partitions) | known) if p != "debug"]
    conf.write_text("\n".join([
        "ClusterName=fitctest", "SlurmctldHost=localhost(127.0.0.1)", f"SlurmctldPort={BASE_PORT}",
        f"SlurmdPort={BASE_PORT + 1}", "AuthType=auth/none", "CredType=cred/none", "SlurmUser=root",
        "SlurmdUser=root", f"StateSaveLocation={directory}/state", f"SlurmdSpoolDir={spool}/%n",
        f"SlurmctldPidFile={directory}/run/slurmctld.pid", f"SlurmdPidFile={directory}/run/slurmd-%n.pid",
        f"SlurmctldLogFile={directory}/log/slurmctld.log", f"SlurmdLogFile={directory}/log/slurmd-%n.log",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "ReturnToService=2",
        "SlurmdParameters=config_overrides", "GresTypes=gpu,neuron,tpu", "MpiDefault=none",
        # heterogeneous jobs are started by the backfill scheduler only: let it run every second
        "SchedulerType=sched/backfill", "SchedulerParameters=bf_interval=1",
        "JobCompType=jobcomp/none", "AccountingStorageType=accounting_storage/none",
        # job ids of their own: a job an earlier cluster on these ports left running (a test
        # killed before its shutdown) cannot report its end as one of this cluster's jobs
        f"FirstJobId={_first_job_id()}",
        *([] if cloud_running else ["ResumeProgram=/bin/true", "SuspendProgram=/bin/true"]),
        *settings,
        *nodes, *partition_lines,
        *([f"Include {directory}/fitc-nodes.conf"] if declared_text else []), ""]))
    (directory / "gres.conf").write_text("AutoDetect=off\n" + "\n".join(gres + declared_gres) + "\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    _free_port_range()
    subprocess.run(["slurmctld", "-i", "-f", str(conf)], check=True, env=env, timeout=30,
                   capture_output=True)
    cloud = {name for line in declared_text.splitlines()
             if line.startswith("NodeName=") and "State=CLOUD" in line.split()
             for name in hostnames(line.split()[0].removeprefix("NodeName="), directory)}
    everyone = names + [n for n in declared if cloud_running or n not in cloud]
    for name in everyone:
        _start_slurmd(name, conf, env)
    cluster = Cluster(directory, env, spool)
    deadline = time.monotonic() + CLUSTER_UP_SECONDS
    next_look = time.monotonic() + 15
    while time.monotonic() < deadline:
        states = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True,
                                env=env, timeout=30).stdout.split()
        idle = {n for n, s in zip(states[::2], states[1::2]) if s.startswith("idle")}
        missing = sorted(set(everyone) - idle)
        if not missing:
            return cluster
        if time.monotonic() > next_look:  # a slurmd that exited (its port was busy) starts again
            next_look = time.monotonic() + 15
            for name in missing:
                pid = _pid(directory / "run" / f"slurmd-{name}.pid")
                if pid is None or not _alive(pid):
                    _start_slurmd(name, conf, env)
        time.sleep(0.5)
    logs = (directory / "log" / "slurmctld.log").read_text()[-2000:]
    node_logs = "\n".join(f"{name}: {_tail(directory / 'log' / f'slurmd-{name}.log')}" for name in missing)
    cluster.shutdown()
    pytest.fail(f"the Slurm test cluster did not come up: {missing} not idle in {states}\n{logs}\n"
                f"{node_logs}")


def _start_slurmd(name: str, conf: Path, env: dict[str, str]) -> None:
    subprocess.run(["slurmd", "-N", name, "-f", str(conf)], check=True, env=env, timeout=30,
                   capture_output=True)


def _tail(path: Path) -> str:
    try:
        return path.read_text()[-600:]
    except OSError:
        return "(no log)"
