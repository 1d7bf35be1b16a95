"""Schedules in time (issue 19) from a cluster that already runs work: are the jobs running now
kept, never placed again, and is their room held until they end? Random clusters of 2-6
nodes (`scontrol -o show node` text and a `squeue --json` state, Slurm 22.05's layout; or
`kubectl get nodes` / `get pods -A -o json`, a pod per task) with
the policy's own running jobs (some of recurring workloads, `every = Nh`, some preemptible)
and other teams' jobs, each started at a random hour around the horizon's start, with or
without a time limit. Each seed is solved as `fitc solve --format json` does, then checked
against what is worked out here, apart from fitc:

- how many replicas of each workload are placed: a job's `replicas` less those running (none
  of a run done by its start), a recurring job's runs in the horizon (releases every N h from
  the start, each due at the next) less the one whose window holds a running job's start;
- each placed run inside its window (a recurring run's, or [earliest start, deadline]);
- per node and step, what is placed plus what the running jobs hold (until their end: the
  start plus `duration`, or the time limit's end if sooner, rounded up to the step; an
  other team's until squeue's `end_time`) within the node's room as the generated text says;
- `fitc verify` accepts the answer; `infeasible` where the MIP here (per node and step, with
  the holds) schedules everything is wrong; a recurring run only partly running must be
  refused (E0906), nothing else.

    .venv/bin/python bench/running_time.py --from 1 --seeds 100 [--time-limit 10]

The time limit is on the process's CPU clock. Prints each seed that is wrong or incomplete,
then the counts. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HOUR = 3600
MIB = 2 ** 20
START = datetime(2026, 12, 6, tzinfo=UTC)
EPOCH = int(START.timestamp())


@dataclass
class Node:
    name: str
    cpus: int
    memory_mib: int


@dataclass
class Job:
    name: str
    replicas: int  # a run's, for a recurring job
    cpus: int
    memory_mib: int
    duration: int  # hours
    every: int | None = None  # hours
    deadline: int | None = None  # hours after the start
    preemptible: bool = False


@dataclass
class Running:
    """A RUNNING squeue job on one node: the policy's (`job` names its workload) or another team's."""

    job_id: int
    name: str
    node: str
    tasks: int
    cpus: int
    memory_mib: int
    started: int  # hours after the start (negative: before it)
    limit: int | None  # hours; None: no time limit


@dataclass
class Case:
    nodes: list[Node]
    steps: int
    kubectl: bool = False  # nodes and state as kubectl prints them; else Slurm's
    jobs: list[Job] = field(default_factory=list)
    running: list[Running] = field(default_factory=list)


def generate(seed: int) -> Case:
    rng = random.Random(seed)
    steps = rng.choice([12, 24, 36, 48])
    nodes = [Node(f"n{i}", rng.choice([16, 32]), rng.choice([64, 128]) * 1024)
             for i in range(rng.randint(2, 6))]
    case = Case(nodes, steps, kubectl=rng.random() < 0.4)
    for index in range(rng.randint(1, 3)):
        duration = rng.randint(1, 6)
        job = Job(f"j{index}", rng.randint(1, 3), rng.choice([2, 4, 8]), rng.choice([4, 8, 16]) * 1024,
                  duration)
        shape = rng.random()
        if shape < 0.4:
            job.every = rng.choice([p for p in (6, 8, 12, 24) if p >= duration + 1 and steps // p >= 1])
        elif shape < 0.6 and duration > 1:
            job.preemptible = True
        if job.every is None and rng.random() < 0.5:
            job.deadline = rng.randint(duration + 2, steps)
        case.jobs.append(job)
    job_id = 100
    for job in case.jobs:
        if rng.random() < 0.7:
            job_id += 1
            whole = job.every is not None and rng.random() < 0.85
            tasks = job.replicas if whole else rng.randint(1, job.replicas)
            case.running.append(Running(job_id, job.name, rng.choice(nodes).name, tasks, tasks * job.cpus,
                                        tasks * job.memory_mib, rng.randint(-job.duration - 1, 3),
                                        rng.choice([None, job.duration, job.duration + 2])))
    for _ in range(rng.randint(0, 3)):
        job_id += 1
        node = rng.choice(nodes)
        case.running.append(Running(job_id, f"other{job_id}", node.name, 1, rng.choice([2, 4, 8]),
                                    rng.choice([4, 8]) * 1024, rng.randint(-6, 0),
                                    rng.choice([None, 2, 8, 30])))
    return case


def node_text(case: Case) -> str:
    if case.kubectl:
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": n.name, "labels": {"kubernetes.io/hostname": n.name}},
             "spec": {}, "status": {"allocatable": {"cpu": str(n.cpus), "memory": f"{n.memory_mib}Mi",
                                                    "pods": "110"},
                                    "conditions": [{"type": "Ready", "status": "True"}]}}
            for n in case.nodes]})
    return "".join(f"NodeName={n.name} Arch=x86_64 CPUAlloc=0 CPUEfctv={n.cpus} CPUTot={n.cpus} "
                   f"RealMemory={n.memory_mib} AllocMem=0 State=IDLE ThreadsPerCore=1 TmpDisk=0 "
                   "Partitions=batch\n" for n in case.nodes)


def pods(case: Case) -> str:
    """The running work as `kubectl get pods -A -o json` prints it: a pod per task, each with
    its share of the job's requests; the policy's labelled with their workload."""
    items = []
    for run in case.running:
        own = any(job.name == run.name for job in case.jobs)
        started = (START + timedelta(hours=run.started)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for task in range(run.tasks):
            labels = {"fitlang.dev/workload": run.name} if own else {"app": run.name}
            items.append({"kind": "Pod", "metadata": {"name": f"{run.name}-{run.job_id}-{task}",
                                                      "namespace": "batch", "labels": labels},
                          "spec": {"nodeName": run.node, "containers": [{"name": "main", "resources": {
                              "requests": {"cpu": str(run.cpus // run.tasks),
                                           "memory": f"{run.memory_mib // run.tasks}Mi"}}}]},
                          "status": {"phase": "Running", "startTime": started}})
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def squeue(case: Case) -> str:
    jobs = []
    for run in case.running:
        started = EPOCH + run.started * HOUR
        ends = started + (run.limit * HOUR if run.limit is not None else 365 * 24 * HOUR)
        jobs.append({"job_id": run.job_id, "name": run.name, "job_state": "RUNNING", "nodes": run.node,
                     "tasks": run.tasks, "cpus": run.cpus, "memory_per_node": run.memory_mib,
                     "start_time": started, "end_time": ends,
                     "time_limit": None if run.limit is None else run.limit * 60})
    return json.dumps({"meta": {}, "errors": [], "jobs": jobs})


def to_fit(case: Case) -> str:
    kind, nodes = ("kubectl", "nodes.json") if case.kubectl else ("slurm", "nodes.txt")
    out = [f'inventory rack {{\n  format = {kind}\n  file = "{nodes}"\n  price = 1 USD/h\n}}']
    for job in case.jobs:
        lines = [f"workload {job.name} {{", "  kind = job", f"  replicas = {job.replicas}",
                 f"  cpu = {job.cpus}", f"  memory = {job.memory_mib}MiB", f"  duration = {job.duration}h",
                 '  command = ["run.sh"]']
        if job.every is not None:
            lines.append(f"  every = {job.every}h")
        if job.deadline is not None:
            lines.append(f"  deadline = {job.deadline}h")
        if job.preemptible:
            lines += ["  preemptible = true", "  min_segment = 1h"]
        out.append("\n".join(lines) + "\n}")
    out.append(f'policy {{\n  horizon = {case.steps}h\n  step = 1h\n  start = "{START:%Y-%m-%dT%H:%MZ}"\n}}')
    out.append(f'current {{\n  file = "{"pods.json" if case.kubectl else "squeue.json"}"\n}}')
    return "\n\n".join(out) + "\n"


def _ends(case: Case, run: Running) -> int | None:
    """The hour a running job ends (after the start), or None: it holds its room throughout."""
    job = next((j for j in case.jobs if j.name == run.name), None)
    if case.kubectl:  # a pod states no end: the policy's runs its duration, another's all horizon
        return None if job is None else run.started + job.duration
    ends = [run.started + run.limit] if run.limit is not None else []
    if job is not None:
        ends.append(run.started + job.duration)
    return min(ends) if ends else None


def _runs(case: Case, job: Job) -> list[tuple[int, int]]:
    """A job's windows in hours: (earliest start, latest end)."""
    if job.every is None:
        return [(0, job.deadline or case.steps)]
    return [(k * job.every, (k + 1) * job.every) for k in range(case.steps // job.every)]


def expected(case: Case) -> tuple[dict[str, list[tuple[int, int]]], dict[str, int], bool]:
    """Per job its windows to place (each `replicas` replicas; a plain job: one window, of
    `count` replicas), the plain jobs' counts, and whether fitc must refuse the state."""
    windows = {job.name: _runs(case, job) for job in case.jobs}
    counts = {job.name: job.replicas for job in case.jobs if job.every is None}
    refuse = False
    for run in case.running:
        job = next((j for j in case.jobs if j.name == run.name), None)
        if job is None:
            continue
        if job.every is None:
            counts[job.name] -= run.tasks
            continue
        held = [w for w in windows[job.name] if w[0] <= run.started < w[1]]
        if held and run.tasks != job.replicas:
            refuse = True
        windows[job.name] = [w for w in windows[job.name] if w not in held]
    return windows, counts, refuse


def held(case: Case) -> Counter[tuple[str, int, str]]:
    """What the running jobs hold per (node, hour, resource) inside the horizon."""
    used: Counter[tuple[str, int, str]] = Counter()
    for run in case.running:
        ends = _ends(case, run)
        last = case.steps if ends is None else min(case.steps, ends)
        for hour in range(0, last):
            used[run.node, hour, "cpu"] += run.cpus
            used[run.node, hour, "memory"] += run.memory_mib
    return used


def check(case: Case, document: dict) -> list[str]:
    """What is wrong with a solved document, by the reading above."""
    jobs = {job.name: job for job in case.jobs}
    windows, counts, _ = expected(case)
    wrong = []
    placed: dict[str, list[tuple[int, int]]] = {}
    used = held(case)
    for item in document.get("assignments", []):
        first, last = _hour(item["start"]), _hour(item["end"])
        placed.setdefault(item["workload"], []).append((first, last))
        job = jobs[item["workload"]]
        for hour in range(first, last):
            used[item["node"], hour, "cpu"] += job.cpus
            used[item["node"], hour, "memory"] += job.memory_mib
    for job in case.jobs:
        starts = sorted(placed.get(job.name, []))
        if job.every is None:
            want = max(0, counts[job.name])
            # a preemptible job's segments are several items a replica: count hours, not items
            hours = sum(last - first for first, last in starts)
            if hours != want * job.duration:
                wrong.append(f"{job.name}: {hours} h placed, {want} x {job.duration} h expected")
            earliest, latest = windows[job.name][0]
            if any(first < earliest or last > latest for first, last in starts):
                wrong.append(f"{job.name}: a run outside [{earliest}, {latest}]")
            continue
        want_runs = windows[job.name]
        inside = Counter(next((w for w in want_runs if w[0] <= first and last <= w[1]), None)
                         for first, last in starts)
        if None in inside or sorted(inside.items()) != sorted((w, job.replicas) for w in want_runs):
            wrong.append(f"{job.name}: runs {sorted(starts)} against windows {want_runs} x {job.replicas}")
    rooms = {n.name: n for n in case.nodes}
    for (node, hour, resource), amount in sorted(used.items()):
        room = rooms[node].cpus if resource == "cpu" else rooms[node].memory_mib
        if amount > room and any(item["node"] == node and _hour(item["start"]) <= hour < _hour(item["end"])
                                 for item in document.get("assignments", [])):
            wrong.append(f"{node} at {hour} h: {resource} {amount} > {room}")
    return wrong


def exact(case: Case, limit: float) -> str:
    """Whether every run fits beside the holds, per node and hour (scipy's HiGHS); preemptible
    jobs are run whole here, so `infeasible` with one is `inconclusive`."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    windows, counts, _ = expected(case)
    columns: list[tuple[int, str, int]] = []  # (node index, job, start hour)
    demand: list[tuple[list[int], int]] = []
    for job in case.jobs:
        for earliest, latest in windows[job.name]:
            ids = []
            for n in range(len(case.nodes)):
                for start in range(earliest, latest - job.duration + 1):
                    ids.append(len(columns))
                    columns.append((n, job.name, start))
            demand.append((ids, job.replicas if job.every is not None else max(0, counts[job.name])))
    if not columns:
        return "feasible"
    rows, cols, values, lower, upper = [], [], [], [], []
    for ids, count in demand:
        for i in ids:
            rows.append(len(lower))
            cols.append(i)
            values.append(1.0)
        lower.append(count)
        upper.append(count)
    jobs = {job.name: job for job in case.jobs}
    used = held(case)
    for n, node in enumerate(case.nodes):
        for hour in range(case.steps):
            on = [i for i, (nn, name, start) in enumerate(columns)
                  if nn == n and start <= hour < start + jobs[name].duration]
            for resource, room in (("cpu", node.cpus), ("memory", node.memory_mib)):
                for i in on:
                    rows.append(len(lower))
                    cols.append(i)
                    job = jobs[columns[i][1]]
                    values.append(float(job.cpus if resource == "cpu" else job.memory_mib))
                lower.append(-np.inf)
                upper.append(float(max(0, room - used[node.name, hour, resource])))
    matrix = coo_matrix((values, (rows, cols)), shape=(len(lower), len(columns))).tocsr()
    found = milp(np.zeros(len(columns)), integrality=np.ones(len(columns)), bounds=Bounds(0, np.inf),
                 constraints=LinearConstraint(matrix, lower, upper), options={"time_limit": limit})
    if found.status == 2:
        return "inconclusive" if any(job.preemptible for job in case.jobs) else "infeasible"
    return "feasible" if found.x is not None else "unknown"


def _hour(moment: str) -> int:
    at = datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return math.floor((at - START) / timedelta(hours=1))


def run(seed: int, limit: float) -> tuple[str, str]:
    from fitlang.cli import main

    case = generate(seed)
    _, _, refuse = expected(case)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / ("nodes.json" if case.kubectl else "nodes.txt")).write_text(node_text(case))
        (folder / ("pods.json" if case.kubectl else "squeue.json")).write_text(
            pods(case) if case.kubectl else squeue(case))
        policy = folder / "running.fit"
        policy.write_text(to_fit(case))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["solve", str(policy), "--time-limit", str(limit), "--format", "json"])
        errors = sorted(set(part[:5] for part in err.getvalue().split("error[")[1:]))
        with contextlib.suppress(ValueError):
            said = json.loads(out.getvalue())
            if isinstance(said, list):  # the diagnostics, where no answer was made
                errors = sorted({d["code"] for d in said if d.get("severity") == "error"})
                out = io.StringIO("")
        if refuse:
            if errors == ["E0906"]:
                return "refused", "E0906"
            return "wrong", f"expected E0906, got {errors} exit {code}"
        if "E0906" in errors or "internal error" in err.getvalue():
            return "wrong", f"exit {code}: {errors} {err.getvalue()[-300:]}"
        try:
            document = json.loads(out.getvalue())
        except ValueError:
            if errors and errors != ["E0501"] and "E0501" not in errors:
                return "wrong", f"no answer: {errors}: {err.getvalue()[-300:]}"
            verdict = exact(case, 60.0)
            return (("wrong", "fitc: no schedule; the MIP here has one") if verdict == "feasible"
                    else ("infeasible", verdict))
        if document.get("status") == "infeasible":
            verdict = exact(case, 60.0)
            if verdict == "feasible":
                return "wrong", "infeasible, the MIP here schedules it"
            return "infeasible", verdict
        (folder / "solved.json").write_text(out.getvalue())
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(checked := io.StringIO()):
            verified = main(["verify", str(policy), str(folder / "solved.json")])
        wrong = check(case, document)
        if document.get("status") == "unknown" or document.get("unplaced"):
            return "incomplete", f"status {document.get('status')}; the MIP: {exact(case, 60.0)}"
        if wrong or verified != 0:
            return "wrong", f"verify={verified} {checked.getvalue()[-200:]!r}; " + "; ".join(wrong[:3])
        return "ok", str(document.get("status"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--every", action="store_true", help="print every seed's outcome")
    args = parser.parse_args()
    time.monotonic = time.process_time  # the limit on this process's CPU clock, as e2e.py
    counts: Counter[str] = Counter()
    for seed in range(args.first, args.first + args.seeds):
        outcome, detail = run(seed, args.time_limit)
        counts[outcome] += 1
        if args.every or outcome not in ("ok", "infeasible", "refused"):
            print(f"seed {seed}: {outcome}: {detail}", flush=True)
    print(dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
