"""Scale benchmark: generate fleets (seeded), run `fitc solve`, compare with baselines.

    .venv/bin/python bench/run.py --quick          # 1,000- and 10,000-node rows
    .venv/bin/python bench/run.py                  # adds 50,000 nodes

Prints a markdown table: size, parse+check time, solve time, peak memory, objective, lower
bound, gap, whether `fitc verify` accepts it, and the greedy first-fit-decreasing baseline
(kube-scheduler's MostAllocated scoring, one replica at a time).
Not a test: numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import generate  # noqa: E402

SIZES = [(1_000, 100), (10_000, 1_000), (50_000, 5_000)]


def greedy_cost(problem) -> tuple[Fraction, int]:
    """First-fit decreasing per replica onto the most-allocated node that fits (bin packing
    as kube-scheduler's MostAllocated scoring does it), cheapest classes first when opening."""
    from fitlang.model.problem import RESOURCES

    nodes = []  # [class, free]
    classes = sorted(problem.classes, key=lambda c: (c.price, c.id))
    opened: dict[str, int] = {c.id: 0 for c in classes}
    unplaced = 0
    replicas = sorted(((d, i) for d in problem.demands for i in range(d.replicas)),
                      key=lambda item: (-item[0].priority, -item[0].requests["cpu"], item[0].name))
    for demand, _ in replicas:
        best, best_score = None, None
        for node in nodes:
            node_class, free = node
            if node_class.id in demand.eligible and all(free[r] >= demand.requests[r] for r in RESOURCES):
                score = sum(1 - free[r] / node_class.capacity[r] for r in ("cpu", "memory")
                            if node_class.capacity[r])
                if best_score is None or score > best_score:
                    best, best_score = node, score
        if best is None:
            for node_class in classes:
                if node_class.id in demand.eligible and opened[node_class.id] < node_class.count:
                    opened[node_class.id] += 1
                    best = [node_class, dict(node_class.capacity)]
                    nodes.append(best)
                    break
        if best is None:
            unplaced += 1
            continue
        for r in RESOURCES:
            best[1][r] -= demand.requests[r]
    return sum((c.price for c, _ in nodes), Fraction(0)), unplaced


def run_row(nodes: int, workloads: int, directory: Path, time_limit: float) -> dict:
    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem

    path = directory / f"fleet-{nodes}.fit"
    path.write_text(generate(nodes, workloads))
    started = time.perf_counter()
    program = check_file(path).program
    problem = build_problem(program).problem
    parse = time.perf_counter() - started
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fitlang.cli", "solve", str(path), "--format", "json",
                           "--time-limit", str(time_limit)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    document = json.loads(done.stdout)
    placement = directory / f"placement-{nodes}.json"
    placement.write_text(done.stdout)
    verified = subprocess.run([sys.executable, "-m", "fitlang.cli", "verify", str(path), str(placement)],
                              capture_output=True, text=True).returncode == 0
    greedy, greedy_unplaced = greedy_cost(problem)
    objective = document["objective"]
    value, bound = objective["value"], objective["lower_bound"]
    gap = (value - bound) / value if value and bound is not None else None
    return {"nodes": nodes, "workloads": workloads,
            "replicas": sum(d.replicas for d in problem.demands), "parse": parse, "solve": wall,
            "peak_mb": peak, "status": document["status"], "value": value, "bound": bound, "gap": gap,
            "verified": verified, "greedy": float(greedy), "greedy_unplaced": greedy_unplaced,
            "unplaced": len(document["unplaced"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the 1,000- and 10,000-node rows")
    parser.add_argument("--time-limit", type=float, default=60.0)
    arguments = parser.parse_args()
    sizes = SIZES[:2] if arguments.quick else SIZES
    print("| nodes | workloads | replicas | parse+check | fitc solve (end to end) | peak MB | status | "
          "cost USD/h | lower bound | gap | verify | greedy FFD cost | vs greedy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for nodes, workloads in sizes:
            row = run_row(nodes, workloads, Path(directory), arguments.time_limit)
            value, bound, gap = row["value"], row["bound"], row["gap"]
            saving = "n/a" if value is None or not row["greedy"] else \
                f"{(row['greedy'] - value) / row['greedy']:+.1%}"
            shown = lambda number, fmt: "n/a" if number is None else format(number, fmt)  # noqa: E731
            print(f"| {row['nodes']:,} | {row['workloads']:,} | {row['replicas']:,} | {row['parse']:.2f} s "
                  f"| {row['solve']:.1f} s | {row['peak_mb']:.0f} | {row['status']} | {shown(value, '.2f')} "
                  f"| {shown(bound, '.2f')} | {shown(gap, '.2%')} | {'yes' if row['verified'] else 'NO'} "
                  f"| {row['greedy']:.2f} ({row['greedy_unplaced']} unplaced) | {saving} |", flush=True)


if __name__ == "__main__":
    main()
