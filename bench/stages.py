"""Benchmark: the stages of `fitc solve FILE --format json` in one process, CPU seconds each.

    .venv/bin/python bench/stages.py FILE [--time-limit 60] [--profile OUT.prof] [--only-build]

Stages: parse + check, build_problem, (with `--greedy`, one greedy floor pass without a
deadline), solve (greedy floor, model, packing), the JSON report,
then `verify` of that report. CPU seconds of the process (`time.process_time`), since the
machine is shared and wall times move with the load (wall seconds are printed too); the
collector tuned as `fitc` runs it.
The process's peak resident memory is printed at the end (`ru_maxrss`); for the memory of
one stage run it alone (`--only-build`). Not a timed test.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import resource
import sys
import time


def _stage(name: str, times: dict, profiler, action):
    started, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    value = action()
    if profiler is not None:
        profiler.disable()
    times[name] = time.process_time() - started
    times[name + " wall"] = time.perf_counter() - wall
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name:14s} {times[name]:7.2f} s CPU {times[name + ' wall']:7.2f} s wall"
          f"   peak RSS so far {rss:6.0f} MB", file=sys.stderr)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--profile", help="write a cProfile of the non-solver stages here")
    parser.add_argument("--only-build", action="store_true", help="stop after build_problem")
    parser.add_argument("--greedy", action="store_true",
                        help="also time one greedy floor pass (no deadline, profiled) before the solve")
    arguments = parser.parse_args()

    from fitlang.cli import compilation_of
    from fitlang.model.build import build_problem
    from fitlang.solve.placement import solve
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)  # as fitlang/cli.py sets it
    profiler = cProfile.Profile() if arguments.profile else None
    times: dict[str, float] = {}
    result = _stage("parse+check", times, profiler,
                    lambda: compilation_of(arguments.file).check())
    assert not result.has_errors, result.diagnostics[:3]
    built = _stage("build_problem", times, profiler, lambda: build_problem(result.program))
    problem = built.problem
    if arguments.greedy:
        from fitlang.solve.greedy import greedy_floor
        _stage("greedy", times, profiler, lambda: greedy_floor(problem))
    if not arguments.only_build:
        placement = _stage("solve", times, None, lambda: solve(problem, "auto", arguments.time_limit))
        text = _stage("report+json", times, profiler,
                      lambda: as_json(problem, placement, list(built.diagnostics), False))
        document = json.loads(text)
        _stage("verify", times, profiler, lambda: verify(problem, document))
        print(f"status {placement.status}, value {placement.value}, "
              f"unplaced {len(placement.unplaced)}", file=sys.stderr)
    if profiler is not None:
        profiler.dump_stats(arguments.profile)
    print(json.dumps({k: round(v, 3) for k, v in times.items()}
                     | {"peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
