"""A fleet of many small workloads on few nodes, written apart from the other generators: a
platform team's microservices (issue 15, "on any shape"). Not a test: the numbers go to
docs/performance.md.

    .venv/bin/python bench/many_workloads.py WORKLOADS NODES SEED > FILE.fit

WORKLOADS workloads of 1-3 replicas, each of one of 48 shapes (8 CPU sizes x 6 memory sizes);
half of those with more than one replica `spread zone max_skew 1`, one in ten
`anti_affinity` on node towards an earlier workload, one in five with a priority. NODES
one-node pools of 5 CPU sizes x 3 memory ratios over 3 zones, each priced by its CPU and
memory (so the cheapest node per CPU is the one with the least memory per CPU). Session 55:
3,000 / 300 seed 1, 10,000 / 1,000 seed 2 (99.8% of the CPU asked for), 10,000 / 1,500 seed 3.
"""

from __future__ import annotations

import random
import sys

ZONES = ("z-a", "z-b", "z-c")


def _pool(index: int, rng: random.Random) -> str:
    cpu = rng.choice([16, 32, 48, 64, 96])
    memory = cpu * rng.choice([2, 4, 8])
    return (f"pool n{index} {{\n  count = 1\n  cpu = {cpu}\n  memory = {memory}GiB\n"
            f"  zone = \"{ZONES[index % 3]}\"\n  price = {cpu * 0.04 + memory * 0.005:.3f} USD/h\n}}\n")


def _workload(index: int, rng: random.Random) -> str:
    replicas = rng.choice([1, 1, 1, 2, 3])
    lines = [f"workload w{index} {{", f"  replicas = {replicas}",
             f"  cpu = {rng.choice([0.25, 0.5, 1, 2, 3, 4, 6, 8])}",
             f"  memory = {rng.choice([0.5, 1, 2, 4, 8, 16])}GiB", f"  image = \"r/w{index}:1\""]
    if replicas > 1 and rng.random() < 0.5:
        lines.append("  spread zone max_skew 1")
    if rng.random() < 0.1 and index > 0:
        lines.append(f"  anti_affinity w{rng.randrange(index)} on node")
    if rng.random() < 0.2:
        lines.append(f"  priority = {rng.choice([10, 50, 100])}")
    return "\n".join(lines) + "\n}\n"


def policy(workloads: int, nodes: int, seed: int) -> str:
    rng = random.Random(seed)
    parts = [_pool(i, rng) for i in range(nodes)] + [_workload(j, rng) for j in range(workloads)]
    return "\n".join(parts + ["policy {\n  objective = cost\n}\n"])


if __name__ == "__main__":
    print(policy(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
