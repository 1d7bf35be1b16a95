"""Explain benchmark: an infeasible 10,000-node fleet (bench/fleet.py plus a workload of 3,000
one-GPU replicas, more GPUs than the training gangs leave free), `fitc explain` end to end.

    .venv/bin/python bench/explain_bench.py                 # 10,000 nodes, 1,000 workloads
    .venv/bin/python bench/explain_bench.py --nodes 1000 --runs 3
    .venv/bin/python bench/explain_bench.py --repair-budget 0.001   # the conflict alone

Prints, per run, the wall time and peak memory of the child (GNU time), the conflict's size
and the repairs found (the JSON states no seconds, so that two runs write the same bytes:
`--repair-budget 0.001` times the start, check, model build and the conflict alone). The CPU
seconds of the child (user + system) and the load average at its start are printed too: on a
shared machine the wall time says more about the others than about fitc. Not a test:
numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import generate
from run import timed_child

GPU_WORKLOAD = """
workload inference {
  replicas = 3000
  cpu = 4
  memory = 16GiB
  gpu {
    count = 1
  }
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--workloads", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--repair-budget", type=float, default=None)
    arguments = parser.parse_args()
    fitc = str(Path(sys.executable).with_name("fitc"))
    walls, peaks = [], []
    with tempfile.TemporaryDirectory() as directory:
        fleet = generate(arguments.nodes, arguments.workloads)
        fleet.policy += GPU_WORKLOAD
        path = fleet.write(Path(directory), f"fleet-{arguments.nodes}-explain")
        command = [fitc, "explain", str(path), "--format", "json"]
        if arguments.repair_budget is not None:
            command += ["--repair-budget", str(arguments.repair_budget)]
        for run in range(arguments.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            load = os.getloadavg()[0]
            result, wall, peak = timed_child(command)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            walls.append(wall)
            peaks.append(peak or 0)
            try:
                document = json.loads(result.stdout)
            except ValueError:
                print(result.stdout[-2000:], result.stderr[-2000:])
                raise
            explanation = document
            print(f"run {run + 1} (load {load:.1f}): exit {result.returncode}, {wall:.1f} s "
                  f"({cpu:.1f} s CPU), {peak or 0:.0f} MB, "
                  f"outcome {explanation.get('outcome')}, conflict of "
                  f"{len(explanation.get('conflict', []))} rules, "
                  f"{len(explanation.get('repairs', []))} repairs"
                  f"{' (cut short)' if explanation.get('repairs_cut_short') else ''}")
            for repair in explanation.get("repairs", []):
                print(f"    - {repair.get('text')}")
    print(f"median of {len(walls)}: {statistics.median(walls):.1f} s, "
          f"{statistics.median(peaks):.0f} MB peak")


if __name__ == "__main__":
    main()
