"""A Slurm cluster of nodes with and without hyper-threads, and batch work of whole and odd CPU
counts: what counting a replica's CPUs as Slurm gives them (whole CPUs per task, whole cores
per job; `fitlang/model/slurm_cpus.py`) costs and buys (docs/performance.md, session 40).

    python bench/slurm_cores.py SEED NODES DIR   # writes DIR/smt.txt, DIR/plain.txt, DIR/pSEED.fit

Half the nodes are `ThreadsPerCore=2` (64 and 128 CPUs, 1 USD/h), half 1 (32 and 96 CPUs,
1.2 USD/h); 40 workloads of 500m-8 CPUs (1 CPU most often), 50 to 0.9 x NODES replicas each.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SHAPES = {"smt": ((64, 2, 256000), (128, 2, 512000)), "plain": ((32, 1, 128000), (96, 1, 384000))}
PRICES = {"smt": "1", "plain": "1.2"}
CPUS = ("500m", "1", "1", "1500m", "2", "3", "4", "6", "8", "1")


def write(seed: int, nodes: int, directory: Path) -> Path:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    text = []
    for name, shapes in SHAPES.items():
        lines = []
        for index in range(nodes // 2):
            cpus, threads, memory = shapes[index % 2]
            lines.append(f"NodeName={name}{index:05d} CPUTot={cpus} ThreadsPerCore={threads} "
                         f"RealMemory={memory - rng.randrange(0, 2000)} State=IDLE Partitions=batch\n")
        (directory / f"{name}.txt").write_text("".join(lines))
        text.append(f'inventory {name} {{\n  format = slurm\n  file = "{name}.txt"\n'
                    f'  price = {PRICES[name]} USD/h\n}}\n')
    for index in range(40):
        cpu, memory = rng.choice(CPUS), rng.choice(("1Gi", "2Gi", "4Gi", "8Gi"))
        replicas = rng.randrange(50, int(nodes * 0.9))
        text.append(f'workload w{index} {{\n  replicas = {replicas}\n  cpu = {cpu}\n'
                    f'  memory = {memory}\n  command = ["run"]\n}}\n')
    path = directory / f"p{seed}.fit"
    path.write_text("".join(text))
    return path


if __name__ == "__main__":
    print(write(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
