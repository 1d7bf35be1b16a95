"""Benchmark: `bound.lower_bound` alone on a fleet, from the greedy floor.

    .venv/bin/python bench/bound_bench.py FILE [--repeat 3] [--profile OUT.prof] [--limit S] [--trace]

Reads and builds the problem and runs the greedy floor once (not timed), then runs
`lower_bound` `--repeat` times from the floor's packing and prints, per run, the wall seconds,
the bound, the rounds, whether it converged, and the relaxation's size (demands and pairs
after merging, rows); then the median, and the process's peak resident memory. `--limit`
gives `lower_bound` a deadline that many seconds after it starts (as `fitc solve` gives it
its share of the time limit). `--trace` prints each round of the column generation: seconds
since `lower_bound` started, the master's columns, its value and the best bound so far
(`Bound.trace`). Not a timed test: the numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import resource
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of the last run here")
    parser.add_argument("--limit", type=float, help="seconds lower_bound may take")
    parser.add_argument("--objective", default="cost")
    parser.add_argument("--trace", action="store_true", help="print each round's seconds, "
                        "master columns, master value and best bound so far")
    arguments = parser.parse_args()

    from fitlang.cli import compilation_of
    from fitlang.model.build import build_problem
    from fitlang.solve.bound import lower_bound
    from fitlang.solve.greedy import greedy_floor

    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)  # as fitlang/cli.py sets it
    result = compilation_of(arguments.file).check()
    assert not result.has_errors, result.diagnostics[:3]
    problem = build_problem(result.program).problem
    packing, _ = greedy_floor(problem)
    print(f"floor complete: {packing.complete}", file=sys.stderr)
    seconds = []
    for run in range(arguments.repeat):
        profiler = cProfile.Profile() if arguments.profile and run == arguments.repeat - 1 else None
        started = time.monotonic()
        deadline = None if arguments.limit is None else started + arguments.limit
        if profiler is not None:
            profiler.enable()
        found = lower_bound(problem, arguments.objective, deadline, start=packing)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(arguments.profile)
        seconds.append(time.monotonic() - started)
        relaxed = found.relaxation
        row = {"seconds": round(seconds[-1], 3), "bound": None if found.value is None else float(found.value),
               "rounds": found.rounds, "converged": found.converged,
               "demands": None if found.problem is None else len(found.problem.demands),
               "pairs": None if relaxed is None else relaxed.pairs,
               "rows": None if relaxed is None else relaxed.matrix.shape[0]}
        print(json.dumps(row))
        if arguments.trace:
            for seconds_in, columns, master_value, best in found.trace:
                print(f"  {seconds_in:7.2f} s  {columns:8d} columns  master {master_value:12.4f}"
                      f"  bound {best:12.4f}")
    print(json.dumps({"median_seconds": round(statistics.median(seconds), 3),
                      "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
