"""Schedules in time (issue 19) on inventories whose nodes differ a little: do they hold each
node to its own room? Random kubectl or Slurm inventories of 17-40 nodes (more than 16:
solved over classes, not node by node) whose allocatable memory (and, for kubectl, CPU)
differs by up to ~3% from node to node, as kubelet reservations and BIOS memory make it, so
that fitc merges nodes of different room into one class; 1-3 jobs (sometimes a service, a
preemptible job, a power cap) sized so that a node's last replica fits on its larger
members only. Each seed is solved as `fitc solve --format json` does, then checked twice:
by `fitc verify`, and by a check written here apart from fitc (the document's runs summed per
node and step against the node's allocatable as the generated file states it).

    .venv/bin/python bench/jitter_time.py --from 1 --seeds 100 [--time-limit 10]

The time limit is on the process's CPU clock.

Prints each seed whose answer is wrong (a node over its room by the check here, `verify`
refusing it for another reason than replicas left out, or `infeasible` where a reference MIP
written here apart from fitc, per node and step (`exact`), schedules it) or incomplete (status
`unknown`, with replicas left out: no full schedule found in the time limit, or fitc's own
check refused its answer, E0507), each with the reference's verdict, then the counts. Not a
test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

GIB = 2 ** 30
EXACT_LIMIT = 60.0  # s of HiGHS for the reference (`--exact-limit`), asked only where fitc places not all
MIB = 2 ** 20
START = datetime(2026, 12, 6)


@dataclass
class Node:
    name: str
    cpu_milli: int
    memory: int  # bytes


@dataclass
class Work:
    name: str
    replicas: int
    cpu_milli: int
    memory: int  # bytes
    duration: int | None  # steps; None: a service
    deadline: int | None = None
    preemptible: bool = False


@dataclass
class Case:
    format: str  # kubectl or slurm
    nodes: list[Node]
    steps: int
    works: list[Work] = field(default_factory=list)
    cap_watts: int | None = None


def generate(seed: int) -> Case:
    """A fleet whose nodes share a class in fitc (their room within one 3% bucket of the grid
    the requests lie on) but differ in what a replica more needs."""
    rng = random.Random(seed)
    kind = rng.choice(["kubectl", "slurm"])
    count = rng.randint(17, 40)
    steps = rng.randint(6, 12)
    if kind == "slurm":  # Slurm gives whole CPUs: the memory (RealMemory, MiB) differs
        cpus = rng.choice([16, 32])
        nodes = [Node(f"n{i:03d}", cpus * 1000, int(rng.choice([62, 62.5, 63, 63.5, 64]) * 1024) * MIB)
                 for i in range(count)]
    else:
        nodes = [Node(f"n{i:03d}", rng.choice([15750, 16000]),
                      int(rng.choice([62, 62.5, 63, 63.5, 64]) * GIB)) for i in range(count)]
    cpu = min(n.cpu_milli for n in nodes)
    case = Case(kind, nodes, steps)
    # replicas of 16 / 15.5 GiB: four of them fill a 64 GiB node in every mix, 62-63.5 GiB
    # nodes take four only of the smaller ones; CPU a quarter of a node or less (Slurm: whole)
    for index in range(rng.randint(1, 3)):
        memory = rng.choice([16 * GIB, int(15.5 * GIB), 32 * GIB, int(31 * GIB)])
        share = rng.choice([4, 8]) if kind == "slurm" else rng.choice([8, 16])
        grid = 1000 if kind == "slurm" else 250  # Slurm: whole CPUs
        cpu_milli = max(grid, cpu // share // grid * grid)
        duration = rng.randint(1, max(1, steps // 2))
        replicas = rng.randint(count, 3 * count)
        deadline = rng.randint(duration + 1, steps) if rng.random() < 0.5 else None
        case.works.append(Work(f"j{index}", replicas, cpu_milli, memory, duration, deadline,
                               preemptible=duration > 1 and rng.random() < 0.2))
    if rng.random() < 0.3:
        case.works.append(Work("svc", rng.randint(1, count // 2), 1000, 16 * GIB, None))
    if rng.random() < 0.3:
        case.cap_watts = 500 * rng.randint(count // 2, count)
    return case


def node_file(case: Case) -> str:
    if case.format == "slurm":
        return "".join(
            f"NodeName={n.name} Arch=x86_64 CPUAlloc=0 CPUEfctv={n.cpu_milli // 1000} "
            f"CPUTot={n.cpu_milli // 1000} RealMemory={n.memory // MIB} AllocMem=0 State=IDLE "
            f"ThreadsPerCore=1 TmpDisk=0 Partitions=batch\n" for n in case.nodes)
    items = [{"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": n.name, "labels": {"kubernetes.io/hostname": n.name,
                                                      "kubernetes.io/os": "linux"}},
              "spec": {}, "status": {"allocatable": {"cpu": f"{n.cpu_milli}m",
                                                     "memory": f"{n.memory // MIB}Mi", "pods": "110"},
                                     "conditions": [{"type": "Ready", "status": "True"}]}}
             for n in case.nodes]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def to_fit(case: Case, file: str) -> str:
    out = [f"inventory rack {{\n  format = {case.format}\n  file = \"{file}\"\n  price = 1 USD/h\n"
           f"  labels = {{ site: \"s\" }}\n" + ("  idle_power = 500W\n" if case.cap_watts else "") + "}"]
    for work in case.works:
        kind = "service" if work.duration is None else "job"
        lines = [f"workload {work.name} {{", f"  kind = {kind}",
                 f"  replicas = {work.replicas}", f"  cpu = {work.cpu_milli}m",
                 f"  memory = {work.memory // MIB}MiB"]
        if work.duration is not None:
            lines.append(f"  duration = {work.duration}h")
        if work.deadline is not None:
            lines.append(f"  deadline = {work.deadline}h")
        if work.preemptible:
            lines += ["  preemptible = true", "  min_segment = 1h"]
        out.append("\n".join(lines) + "\n}")
    if case.cap_watts:
        out.append(f"power_cap feed {{\n  cap = {case.cap_watts}W\n  labels = {{ site: \"s\" }}\n}}")
    start = f"{START:%Y-%m-%dT%H:%MZ}"
    out.append(f"policy {{\n  horizon = {case.steps}h\n  step = 1h\n  start = \"{start}\"\n}}")
    return "\n\n".join(out) + "\n"


def overfilled(case: Case, document: dict) -> list[str]:
    """Each (node, step) where the document's runs ask more than the node's allocatable as
    the generated file states it (the check apart from fitc)."""
    works = {w.name: w for w in case.works}
    rooms = {n.name: n for n in case.nodes}
    used: Counter[tuple[str, int, str]] = Counter()
    for item in document.get("assignments", []):
        work = works[item["workload"]]
        first, last = (0, case.steps) if "start" not in item else (
            _step(item["start"]), _step(item["end"]))
        for step in range(first, last):
            used[item["node"], step, "cpu"] += work.cpu_milli
            used[item["node"], step, "memory"] += work.memory
    return [f"{node} at step {step}: {resource} {amount} > {getattr(rooms[node], _field(resource))}"
            for (node, step, resource), amount in sorted(used.items())
            if amount > getattr(rooms[node], _field(resource))]


def exact(case: Case, limit: float) -> tuple[str, float | None]:
    """(verdict, the least node-hours in use) of the case by a per-node, per-step MIP written
    here (scipy's HiGHS): each job's replicas started on a node at a step of its window, each
    node holding what runs on it at each step, in use where anything runs (1 USD/h), the power
    cap over the nodes in use. A preemptible job is run whole here (so its `infeasible` is
    `inconclusive`: segments may fit where the whole run does not)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    steps, nodes = case.steps, len(case.nodes)
    columns: list[tuple[int, int, int]] = []  # (node, work, start)
    for n in range(nodes):
        for w, work in enumerate(case.works):
            duration = work.duration or steps
            last = (work.deadline or steps) - duration
            columns += [(n, w, start) for start in range(0, last + 1) if work.duration or start == 0]
    awake = len(columns)  # then one column per (node, step): in use
    rows, cols, values, lower, upper = [], [], [], [], []

    def row(entries: list[tuple[int, float]], low: float, high: float) -> None:
        for col, value in entries:
            rows.append(len(lower))
            cols.append(col)
            values.append(value)
        lower.append(low)
        upper.append(high)

    for w, work in enumerate(case.works):
        row([(i, 1.0) for i, (_, ww, _) in enumerate(columns) if ww == w], work.replicas, work.replicas)
    running: dict[tuple[int, int], list[int]] = {}
    for i, (n, w, start) in enumerate(columns):
        for t in range(start, start + (case.works[w].duration or steps)):
            running.setdefault((n, t), []).append(i)
    for (n, t), ids in running.items():
        for resource in ("cpu_milli", "memory"):
            room = getattr(case.nodes[n], resource)
            row([(i, float(getattr(case.works[columns[i][1]], resource))) for i in ids]
                + [(awake + n * steps + t, -float(room))], -np.inf, 0)
    if case.cap_watts:
        for t in range(steps):
            row([(awake + n * steps + t, 500.0) for n in range(nodes)], -np.inf, case.cap_watts)
    size = awake + nodes * steps
    matrix = coo_matrix((values, (rows, cols)), shape=(len(lower), size)).tocsr()
    cost = np.concatenate([np.zeros(awake), np.ones(nodes * steps)])
    high = np.concatenate([np.full(awake, np.inf), np.ones(nodes * steps)])
    found = milp(cost, integrality=np.ones(size), bounds=Bounds(0, high),
                 constraints=LinearConstraint(matrix, lower, upper), options={"time_limit": limit})
    preemptible = any(work.preemptible for work in case.works)
    if found.status == 2:
        return ("inconclusive" if preemptible else "infeasible"), None
    if found.x is None:
        return "unknown", None
    return ("feasible" if found.status != 0 else "optimal"), float(found.fun)


def _field(resource: str) -> str:
    return "cpu_milli" if resource == "cpu" else "memory"


def _step(moment: str) -> int:
    at = datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ")
    return (at - START) // timedelta(hours=1)


def run(seed: int, limit: float, exact_limit: float = EXACT_LIMIT) -> tuple[str, str]:
    """(outcome, detail): `ok`, `infeasible`, or what was wrong."""
    from fitlang.cli import main

    case = generate(seed)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        name = "nodes.txt" if case.format == "slurm" else "nodes.json"
        (folder / name).write_text(node_file(case))
        policy = folder / "jitter.fit"
        policy.write_text(to_fit(case, name))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(["solve", str(policy), "--time-limit", str(limit), "--format", "json"])
        try:
            document = json.loads(out.getvalue())
        except ValueError:
            return "no answer", err.getvalue()[-300:]
        if document.get("status") == "infeasible":
            verdict, _ = exact(case, exact_limit)
            if verdict in ("feasible", "optimal"):
                return "wrong", "fitc says infeasible, the exact reference schedules it"
            return "infeasible", verdict
        (folder / "solved.json").write_text(out.getvalue())
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err := io.StringIO()):
            verified = main(["verify", str(policy), str(folder / "solved.json")])
        over = overfilled(case, document)
        errors = err.getvalue().split("error[")[1:]
        others = [e for e in errors if "unplaced, and the policy" not in e]
        if over or others:
            return "wrong", (f"status {document.get('status')}, verify={verified} "
                             f"{sorted(set(e[:5] for e in others))}, {len(over)} node-steps over their "
                             "room" + (f" ({over[0]})" if over else ""))
        if verified != 0 or document.get("status") == "unknown":
            verdict, value = exact(case, exact_limit)
            outcome = ("incomplete, a schedule exists" if verdict in ("feasible", "optimal")
                       else f"incomplete, reference {verdict}")
            left = len(document.get("unplaced", []))
            return outcome, f"status {document.get('status')}, {left} unplaced; reference {verdict} {value}"
        return "ok", f"{document.get('status')} {document.get('objective', {}).get('value')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--exact-limit", type=float, default=EXACT_LIMIT)
    parser.add_argument("--every", action="store_true", help="print every seed's outcome")
    args = parser.parse_args()
    # the time limit on this process's CPU clock (as `e2e.py` does, before fitlang is
    # imported): on a loaded machine the wall clock leaves a solve a fraction of a core
    time.monotonic = time.process_time
    counts: Counter[str] = Counter()
    for seed in range(args.first, args.first + args.seeds):
        outcome, detail = run(seed, args.time_limit, args.exact_limit)
        counts[outcome] += 1
        if args.every or outcome not in ("ok", "infeasible"):
            print(f"seed {seed}: {outcome}: {detail}", flush=True)
    print(dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
