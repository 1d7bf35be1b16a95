"""Where fitc's schedule on `bench/timing_sites.py` pays above its own work: a diagnostic.

    .venv/bin/python bench/timing_sites_waste.py --jobs 1000 --nodes 1000 --time-limit 30

The schedule's cost (each node awake at a step, at its price then) is split, per pool and
step, into three parts that add up to it:
- work: the share of the pool's nodes the replicas running then fill, the most-used resource's
  (what the time model's LP pays for the same work at the same steps and pools);
- rounding: up to the whole nodes that share needs (a node is paid whole);
- fragments: the nodes awake beyond that (replicas keep their node for their whole run, so a
  node can be part-empty where the work would fit on fewer nodes if it could move).
The work part above fitc's LP bound is what placing the work elsewhere in time or pool might
gain; rounding and fragments are what packing it might. Not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing_sites import KINDS, generate, instance_arguments, policy_text

from fitlang.driver import Compilation


def split(instance, assignments, owners) -> dict[str, dict[str, float]]:
    steps = instance.steps
    jobs = {job.name: job for job in instance.jobs}
    parts: dict[str, dict[str, float]] = {}
    load = {pool: np.zeros((steps, 3)) for pool in instance.pools}
    awake = {pool: [set() for _ in range(steps)] for pool in instance.pools}
    for a in assignments:
        pool = owners[a.node].pool
        job = jobs[a.workload]
        load[pool][a.start:a.end] += np.array([job.cpu, job.memory_gib, job.gpus])
        for t in range(a.start, a.end):
            awake[pool][t].add(a.node)
    for pool, (site, kind_name, _) in instance.pools.items():
        kind = KINDS[kind_name]
        capacity = np.array([kind.cpu, kind.memory_gib, max(kind.gpus, 1)])
        price = kind.usd_per_hour + kind.watts / 1000 * np.array(instance.prices[site])
        share = (load[pool] / capacity).max(axis=1)
        whole = np.array([math.ceil(s - 1e-9) for s in share])
        nodes = np.array([len(n) for n in awake[pool]])
        parts[pool] = {"work": float((share * price).sum()),
                       "rounding": float(((whole - share) * price).sum()),
                       "fragments": float(((nodes - whole) * price).sum())}
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    instance_arguments(parser)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--dump", help="write the schedule's runs to this JSON file")
    arguments = parser.parse_args()
    instance = generate(arguments.jobs, arguments.steps, arguments.nodes, arguments.seed)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sites.fit"
        path.write_text(policy_text(instance, "cost"))
        compilation = Compilation(path)
        problem = compilation.problem
        assert problem is not None
        began = time.process_time()
        placement = compilation.solve(time_limit=arguments.time_limit)
        solved = time.process_time() - began
    owners = problem.owners()
    parts = split(instance, placement.assignments, owners)
    if arguments.dump:
        rows = [[a.workload, a.replica, owners[a.node].pool, a.node, a.start, a.end]
                for a in placement.assignments]
        Path(arguments.dump).write_text(json.dumps(rows))
    print(f"fitc {float(placement.value):.1f} bound {float(placement.bound):.1f} "
          f"({solved:.1f} CPU s in this process)")
    print("| pool | work | rounding | fragments |")
    print("|---|---|---|---|")
    totals = {"work": 0.0, "rounding": 0.0, "fragments": 0.0}
    for pool, numbers in parts.items():
        print(f"| {pool} | " + " | ".join(f"{v:,.1f}" for v in numbers.values()) + " |")
        for key, value in numbers.items():
            totals[key] += value
    print("| all | " + " | ".join(f"{v:,.1f}" for v in totals.values()) + " |")


if __name__ == "__main__":
    main()
