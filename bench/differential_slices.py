"""Small GKE inventories with multi-host TPU slices, fitc against a brute force over placements.

Each seed draws (tests/gke_slices.py writes the nodes as `kubectl get nodes -o json`):
- 0-2 multi-host v5e slices (`2x4`: 2 hosts, `4x4`: 4 hosts, of 4 chips each), one node pool
  each, in an inventory of one price; 0-2 single-host `2x2` v5e nodes in another; 0-2 CPU
  nodes in a third (prices drawn);
- 1-3 workloads: TPU jobs (2 or 4 chips a replica, 1, 2 or 4 replicas, a gang or not) and CPU
  jobs; every replica must be placed.

The brute force knows nothing of fitc: it tries every placement of every workload's replicas
on the nodes (as node counts) and keeps those where each node holds what it has (CPU, memory,
chips), a TPU job runs on v5e nodes with chips enough and a CPU job on CPU nodes (the TPU
taint), and a workload on a multi-host slice is a gang of exactly the slice's host count, each
replica asking all of a host's chips, one replica on every host of that slice. Its cheapest
placement (the nodes in use, at their inventory's price) against `fitc solve`'s verdict and
cost; fitc's placement is also checked by the brute force's own rules and by `fitc verify`.

    PYTHONPATH=.:bench:tests .venv/bin/python bench/differential_slices.py --from 1 --seeds 60
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from gke_slices import cpu_node, slice_hosts, write_nodes

CHIPS = 4  # a v5e host's
TPU_CPU, TPU_MEMORY = 111650, 183 * 2 ** 30  # millicores, bytes: tests/gke_slices.py's hosts
CPU_CPU, CPU_MEMORY = 15890, 57 * 2 ** 30


@dataclass
class Node:
    name: str
    cpu: int
    memory: int
    chips: int
    price: Fraction
    slice_: str | None = None  # its multi-host slice's node pool
    hosts: int = 0  # the hosts of that slice


@dataclass
class Job:
    name: str
    replicas: int
    chips: int
    gang: bool
    cpu: int = 8000
    memory: int = 16 * 2 ** 30


def drawn(seed: int) -> tuple[list[Node], list[Job], dict[str, list[dict]], dict[str, Fraction]]:
    rng = random.Random(f"slices-{seed}")
    files: dict[str, list[dict]] = {"slices": [], "singles": [], "cpus": []}
    prices = {"slices": Fraction(rng.choice([3, 4, 5, 6])), "singles": Fraction(rng.choice([3, 4, 5, 6])),
              "cpus": Fraction(rng.choice([1, 2]))}
    nodes: list[Node] = []
    for index in range(rng.randint(0, 2)):
        topology = rng.choice(["2x4", "2x4", "4x4"])
        hosts = slice_hosts(f"s{index}", topology)
        files["slices"] += hosts
        nodes += [Node(h["metadata"]["name"], TPU_CPU, TPU_MEMORY, CHIPS, prices["slices"], f"s{index}",
                       len(hosts)) for h in hosts]
    for index in range(rng.randint(0, 2)):
        (host,) = slice_hosts(f"one{index}", "2x2")
        files["singles"].append(host)
        nodes.append(Node(host["metadata"]["name"], TPU_CPU, TPU_MEMORY, CHIPS, prices["singles"]))
    for index in range(rng.randint(0, 2)):
        files["cpus"].append(cpu_node(f"cpu{index}"))
        nodes.append(Node(f"cpu{index}", CPU_CPU, CPU_MEMORY, 0, prices["cpus"]))
    jobs = []
    for index in range(rng.randint(1, 3)):
        if rng.random() < 0.75:
            jobs.append(Job(f"w{index}", rng.choice([1, 2, 2, 4]), rng.choice([2, 4, 4]), rng.random() < 0.7))
        else:
            jobs.append(Job(f"w{index}", rng.randint(1, 3), 0, rng.random() < 0.3))
    return nodes, jobs, files, prices


def policy(jobs: list[Job], files: dict[str, list[dict]], prices: dict[str, Fraction]) -> str:
    text = 'import "std/accelerators"\n\n'
    for name, nodes in files.items():
        if nodes:
            text += (f'inventory {name} {{\n  format = kubectl\n  file = "{name}.json"\n'
                     f'  price = {float(prices[name]):g} USD/h\n}}\n\n')
    for job in jobs:
        text += (f"workload {job.name} {{\n  kind = job\n  replicas = {job.replicas}\n"
                 + ("  gang = true\n" if job.gang else "") + f"  cpu = {job.cpu // 1000}\n"
                 f"  memory = {job.memory // 2 ** 30}GiB\n  image = \"jax:1\"\n"
                 + (f"  gpu {{\n    count = {job.chips}\n    require model == TPU_V5E\n  }}\n"
                    if job.chips else "")
                 + "}\n\n")
    return text


def _may_use(job: Job, node: Node) -> bool:
    if not job.chips:
        return node.chips == 0  # a TPU node's taint keeps a CPU job off
    if node.chips < job.chips:
        return False
    return node.slice_ is None or (job.gang and job.replicas == node.hosts and job.chips == node.chips)


def _whole_slices(job: Job, counts: dict[str, int], nodes: dict[str, Node]) -> bool:
    """On a multi-host slice: one replica on every host of it."""
    for slice_ in {nodes[n].slice_ for n in counts if nodes[n].slice_ is not None}:
        hosts = [n for n, node in nodes.items() if node.slice_ == slice_]
        if sorted(n for n in counts if nodes[n].slice_ == slice_) != sorted(hosts) \
                or any(counts[n] != 1 for n in hosts):
            return False
    return True


def valid(jobs: list[Job], nodes: dict[str, Node], placed: dict[str, dict[str, int]]) -> bool:
    """Does the placement (workload -> node -> replicas) keep every rule?"""
    used: dict[str, list[int]] = {}
    for job in jobs:
        counts = placed.get(job.name, {})
        if sum(counts.values()) != job.replicas or not _whole_slices(job, counts, nodes):
            return False
        for name, count in counts.items():
            if not _may_use(job, nodes[name]):
                return False
            room = used.setdefault(name, [0, 0, 0])
            room[0] += count * job.cpu
            room[1] += count * job.memory
            room[2] += count * job.chips
    return all(room[0] <= nodes[n].cpu and room[1] <= nodes[n].memory and room[2] <= nodes[n].chips
               for n, room in used.items())


def brute_force(jobs: list[Job], nodes: dict[str, Node]) -> Fraction | None:
    """The least cost of a valid placement, None where none is."""
    options = []
    for job in jobs:
        usable = [n for n, node in nodes.items() if _may_use(job, node)]
        choices = []
        for combo in itertools.combinations_with_replacement(usable, job.replicas):
            counts = {n: combo.count(n) for n in set(combo)}
            if _whole_slices(job, counts, nodes) and valid([job], nodes, {job.name: counts}):
                choices.append(counts)
        options.append(choices)
    best = None
    for pick in itertools.product(*options):
        placed = {job.name: counts for job, counts in zip(jobs, pick)}
        if not valid(jobs, nodes, placed):
            continue
        cost = sum((nodes[n].price for n in {n for c in pick for n in c}), Fraction(0))
        best = cost if best is None or cost < best else best
    return best


TREE = Path(__file__).resolve().parent.parent  # the tree whose fitc is run (not the venv's own)


def fitc(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`fitc` of this tree, in `cwd` (a relative PYTHONPATH would name `cwd`'s)."""
    path = os.pathsep.join([str(TREE), *os.environ.get("PYTHONPATH", "").split(os.pathsep)])
    return subprocess.run([sys.executable, "-m", "fitlang.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": path}, timeout=600)


def run(seed: int) -> str | None:
    """None where fitc and the brute force agree, else what differs."""
    nodes_list, jobs, files, prices = drawn(seed)
    nodes = {n.name: n for n in nodes_list}
    best = brute_force(jobs, nodes)
    with tempfile.TemporaryDirectory(prefix=f"slices-{seed}-") as where:
        folder = Path(where)
        for name, items in files.items():
            if items:
                write_nodes(folder / f"{name}.json", items)
        (folder / "p.fit").write_text(policy(jobs, files, prices))
        solved = fitc(["solve", "p.fit", "--format", "json", "--time-limit", "30"], folder)
        if best is None:
            document = json.loads(solved.stdout) if solved.stdout.strip().startswith("{") else {}
            if document.get("status") != "infeasible":
                return f"brute force: no placement; fitc: {document.get('status')} {solved.stderr[-300:]}"
            return None
        if solved.returncode != 0:
            return f"brute force: {float(best)} USD/h; fitc exit {solved.returncode}: {solved.stderr[-400:]}"
        document = json.loads(solved.stdout)
        placed: dict[str, dict[str, int]] = {}
        for item in document["assignments"]:
            counts = placed.setdefault(item["workload"], {})
            counts[item["node"]] = counts.get(item["node"], 0) + 1
        if not valid(jobs, nodes, placed):
            return f"fitc's placement breaks a rule: {placed}"
        cost = sum((nodes[n].price for n in {n for c in placed.values() for n in c}), Fraction(0))
        if document["status"] != "optimal" or cost != best:
            return f"brute force: {float(best)} USD/h; fitc: {document['status']} {float(cost)} USD/h"
        (folder / "placed.json").write_text(solved.stdout)
        verified = fitc(["verify", "p.fit", "placed.json"], folder)
        if verified.returncode != 0:
            return f"fitc verify exit {verified.returncode}: {verified.stdout[-300:]}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=60)
    arguments = parser.parse_args()
    disagreements = 0
    for seed in range(arguments.first, arguments.first + arguments.seeds):
        nodes, jobs, _, _ = drawn(seed)
        found = run(seed)
        shape = (f"{len(nodes)} nodes ({len({n.slice_ for n in nodes if n.slice_})} slices), "
                 + ", ".join(f"{j.name}: {j.replicas}x{j.chips}{' gang' if j.gang else ''}" for j in jobs))
        print(f"seed {seed}: {'agree' if found is None else 'DISAGREE: ' + found} [{shape}]", flush=True)
        disagreements += found is not None
    print(f"{disagreements} disagreement(s) in {arguments.seeds} seeds")
    sys.exit(1 if disagreements else 0)


if __name__ == "__main__":
    main()
