"""A/B of two checkouts of fitc on the rows of `bench/run.py --quick`: `fitc solve --format json`
then `fitc verify` of what it wrote, the two trees alternating run by run (A B, then B A), each
child's CPU time (user + sys, from GNU time), wall time and peak memory, and the cost and bound
it found. CPU time is the number to compare on a shared machine; the wall time of a
time-limited row is the limit whatever the code.

    .venv/bin/python bench/startup_ab.py --before /tmp/base17 --after . --rounds 2
    .venv/bin/python bench/startup_ab.py --before /tmp/base17 --after . --shape bench --rounds 6

Both trees should hold compiled modules (`python -m compileall -q fitlang` in each, without
PYTHONDONTWRITEBYTECODE), as an installed fitc does. Prints one JSON line per run, then a
markdown table of medians. Not a test: numbers go to docs/performance.md ("Session 14").
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import SHAPES

SIZES = [(1_000, 100), (10_000, 1_000)]  # the --quick rows


def fitc(tree: str, *arguments: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `fitc ARGUMENTS` from checkout `tree`: the result, and its wall, CPU and peak."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", sys.executable, "-m", "fitlang.cli",
                           *arguments], capture_output=True, text=True, cwd="/tmp",
                          env={"PYTHONPATH": tree, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    wall = time.perf_counter() - started
    user, system, peak = done.stderr.strip().splitlines()[-1].split()
    return done, {"wall": round(wall, 3), "cpu": round(float(user) + float(system), 3),
                  "peak_mb": round(int(peak) / 1024)}


def one_run(tree: str, name: str, policy: Path, time_limit: str, directory: Path) -> dict:
    solved, measured = fitc(tree, "solve", str(policy), "--format", "json", "--time-limit", time_limit)
    document = json.loads(solved.stdout)
    placement = directory / f"placement-{name}-{policy.stem}.json"
    placement.write_text(solved.stdout)
    verified, verify = fitc(tree, "verify", str(policy), str(placement))
    objective = document["objective"]
    return {**measured, "cost": objective["value"], "bound": objective["lower_bound"],
            "verified": verified.returncode == 0, "verify_cpu": verify["cpu"]}


def table(runs: list[dict], names: list[str]) -> str:
    """Per row and tree: median CPU and wall, the costs and bounds found, median verify CPU."""
    lines = ["| row | " + " | ".join(f"{n}: CPU s, wall s, cost / bound, verify CPU s" for n in names)
             + " |", "|---|" + "---|" * len(names)]
    for row in dict.fromkeys(r["row"] for r in runs):
        cells = []
        for name in names:
            mine = [r for r in runs if r["row"] == row and r["tree"] == name]
            found = "; ".join(sorted({f"{r['cost']} / {r['bound']}" for r in mine}))
            cells.append(f"{statistics.median(r['cpu'] for r in mine):.2f}, "
                         f"{statistics.median(r['wall'] for r in mine):.1f}, {found}, "
                         f"{statistics.median(r['verify_cpu'] for r in mine):.2f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", required=True, help="the checkout to compare against")
    parser.add_argument("--after", required=True, help="the checkout measured")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), default=[])
    parser.add_argument("--time-limit", default="60", help="for fitc solve (bench/run.py's default)")
    arguments = parser.parse_args()
    trees = {"before": str(Path(arguments.before).resolve()), "after": str(Path(arguments.after).resolve())}
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        policies = {f"{shape} {nodes:,}": SHAPES[shape](nodes, workloads).write(directory, f"{shape}-{nodes}")
                    for shape in (arguments.shape or sorted(SHAPES)) for nodes, workloads in SIZES}
        for round_number in range(arguments.rounds):
            order = list(trees.items()) if round_number % 2 == 0 else list(trees.items())[::-1]
            for row, policy in policies.items():
                for name, tree in order:
                    run = {"round": round_number, "row": row, "tree": name,
                           **one_run(tree, name, policy, arguments.time_limit, directory)}
                    print(json.dumps(run), flush=True)
                    runs.append(run)
    print(table(runs, list(trees)))


if __name__ == "__main__":
    main()
