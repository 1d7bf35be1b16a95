"""What explain's repairs say they cost, against what the repaired policy costs when solved.

    .venv/bin/python bench/repair_costs.py FILE.fit [...] [--repair-budget 10] [--solve-seconds 20]

For each policy with no placement: `fitc explain --format json` (a child process), then, for
each repair that is one literal edit (a pool's count, a workload's replicas, the budget), the
policy with that edit solved by `fitc solve --format json --time-limit S` (another child): its
cost and proven bound are the reference for the repair's `checked_cost`. Prints one JSON line
per repair, and the child's CPU seconds (user + system) with the load at its start. Not a test:
numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

FITC = [sys.executable, "-m", "fitlang.cli"]


def _child(arguments: list[str]) -> tuple[dict, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(FITC + arguments, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(done.stdout), round(cpu, 2)


def _edited(text: str, fix: dict) -> str:
    lines = text.splitlines(keepends=True)
    line = lines[fix["line"] - 1]
    lines[fix["line"] - 1] = line[:fix["column"] - 1] + fix["text"] + line[fix["end_column"] - 1:]
    return "".join(lines)


def _reference(path: Path, fix: dict, seconds: float) -> dict:
    # beside the original: its inventory files are read relative to it
    repaired = path.parent / f".repaired-{os.getpid()}-{path.name}"
    repaired.write_text(_edited(path.read_text(), fix))
    try:
        solved, cpu = _child(["solve", str(repaired), "--format", "json", "--time-limit", f"{seconds:g}"])
    finally:
        repaired.unlink()
    objective = solved.get("objective") or {}
    return {"solved_status": solved.get("status"), "solved_cost": objective.get("value"),
            "solved_bound": objective.get("lower_bound"), "solve_cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--repair-budget", type=float, default=10.0)
    parser.add_argument("--solve-seconds", type=float, default=20.0)
    arguments = parser.parse_args()
    for path in arguments.files:
        load = os.getloadavg()[0]
        explained, cpu = _child(["explain", str(path), "--format", "json",
                                 "--repair-budget", f"{arguments.repair_budget:g}"])
        print(json.dumps({"file": path.name, "outcome": explained.get("outcome"), "explain_cpu": cpu,
                          "load": round(load, 1),
                          "cut_short": explained.get("repairs_cut_short")}), flush=True)
        for repair in explained.get("repairs", []):
            row = {"file": path.name, "repair": repair["text"], "checked_cost": repair["checked_cost"],
                   "least": repair.get("checked_cost_least")}
            if repair.get("fix") and arguments.solve_seconds > 0:
                row.update(_reference(path, repair["fix"], arguments.solve_seconds))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
