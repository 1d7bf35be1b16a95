"""A/B of `fitc verify POLICY PLACEMENT` across checkouts, in CPU time, the trees alternating
run by run (A B C, then C B A): each child's `time.process_time()` at the end of the command
(the interpreter's start, the imports and the run), and at the end of `import fitlang.cli`.
More precise than GNU time's 10 ms ticks for a 0.25 s command; CPU, not wall, for a shared
machine. Not a test: numbers go to docs/performance.md ("Session 14: start-up").

    .venv/bin/python bench/verify_startup_ab.py --tree before=/tmp/base17 --tree after=. \\
        --case 1k=/tmp/v17/bench-1000.fit:/tmp/v17/p.json --rounds 8

Each tree should hold compiled modules (`python -m compileall -q fitlang`, without
PYTHONDONTWRITEBYTECODE), as an installed fitc does.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

# run in the child: CPU seconds after `import fitlang.cli`, then after the command
CHILD = """
import contextlib, io, sys, time
from fitlang import cli
imported = time.process_time()
with contextlib.redirect_stdout(io.StringIO()):
    code = cli.main(["verify", sys.argv[1], sys.argv[2]])
assert code == 0, code
print(imported, time.process_time())
"""


def one_run(tree: str, policy: str, placement: str) -> tuple[float, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, policy, placement], capture_output=True,
                          text=True, cwd="/tmp", check=True,
                          env={"PYTHONPATH": tree, "PATH": "/usr/bin:/bin"})
    imported, total = done.stdout.split()
    return float(imported), float(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--case", action="append", required=True, metavar="NAME=POLICY:PLACEMENT")
    parser.add_argument("--rounds", type=int, default=8)
    arguments = parser.parse_args()
    trees = dict(t.split("=", 1) for t in arguments.tree)
    trees = {name: str(Path(path).resolve()) for name, path in trees.items()}
    cases = {name: tuple(files.split(":", 1)) for name, files in
             (c.split("=", 1) for c in arguments.case)}
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {(c, t): [] for c in cases for t in trees}
    for round_number in range(arguments.rounds):
        order = list(trees) if round_number % 2 == 0 else list(reversed(trees))
        for case, (policy, placement) in cases.items():
            for tree in order:
                runs[(case, tree)].append(one_run(trees[tree], policy, placement))
    print("| case | tree | CPU s, median | start + import cli | every run |\n|---|---|---|---|---|")
    for (case, tree), measured in runs.items():
        totals = sorted(round(total, 3) for _, total in measured)
        print(f"| {case} | {tree} | {statistics.median(totals):.3f} | "
              f"{statistics.median(i for i, _ in measured):.3f} | {totals} |")


if __name__ == "__main__":
    main()
