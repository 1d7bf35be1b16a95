"""Where `fitc solve`'s time limit goes, step by step: the solve of one fleet file in process,
with the seconds (wall, from the solve's start) at which each step of
`fitlang/solve/placement.py` began and ended, what it returned (a value, a bound), and the
progress line's events (best value, proven bound) as they came.

    .venv/bin/python bench/timeline.py FILE [--time-limit 30] [--cpu-clock]

The steps are timed by wrapping the functions `placement.py` calls (greedy floor,
consolidation, the aggregate model, packing, the pair and pattern bounds, repacking, the
neighbourhood search); nothing else changes. A greedy floor and a consolidation also say
the packing's cost after them (USD/h), so that each step's worth shows beside its time.

`--cpu-clock`: the solve's clock (`time.monotonic`, which every deadline reads) is this
process's CPU time, so the limit and the seconds printed are CPU seconds, what the solve
would do with a core to itself on a machine shared with other work (HiGHS is stopped on that
clock too: solve/clock.py). Not a test: the numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
import time

STEPS = ("greedy_floor", "first_fit_beside", "_options_moved", "consolidate", "_solve_aggregate",
         "solve_aggregate", "pack",
         "patterns_first", "repair", "lower_bound", "coarse_stage", "zoned_stage", "_cheapest_guided",
         "pattern_bound",
         "repack", "_polished", "_guided_floor", "_pattern_floor", "_realised_floor", "dear_nodes_ruined",
         "small_nodes_merged")


def _timed(name: str, function, started: float, depth: list[int], cost=None):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        begun = time.monotonic()
        depth[0] += 1
        try:
            result = function(*args, **kwargs)
        finally:
            depth[0] -= 1
        said = _said(result)
        if cost is not None and name in ("greedy_floor", "consolidate"):
            packing = result[0] if name == "greedy_floor" else args[1]
            said += f"  -> {cost(packing)}"
        print(f"{'  ' * depth[0]}{begun - started:7.2f} -> {time.monotonic() - started:7.2f} s"
              f"  {name}{said}", file=sys.stderr)
        return result
    return wrapper


def _said(result) -> str:
    """What a step returned, where it says something short: a bound's value, a flag."""
    value = getattr(result, "value", None)
    if value is not None:
        return f"  value {float(value):.2f}"
    if isinstance(result, bool):
        return f"  {result}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--cpu-clock", action="store_true",
                        help="deadlines and times in this process's CPU seconds")
    arguments = parser.parse_args()
    if arguments.cpu_clock:
        time.monotonic = time.process_time  # (before fitlang is imported: every deadline reads it)
    gc.freeze()  # the collector as `fitc` sets it (cli.main): the defaults add ~0.8 CPU s here
    gc.set_threshold(200_000, 50, 1000)

    from fitlang.cli import compilation_of
    from fitlang.model.build import build_problem
    from fitlang.solve import bound_stages, neighbourhood
    from fitlang.solve import placement as pl

    result = compilation_of(arguments.file).check()
    assert not result.has_errors, result.diagnostics[:3]
    problem = build_problem(result.program).problem
    started = time.monotonic()
    depth = [0]

    def cost(packing) -> str:
        value = pl._packed_value(problem, packing, "cost") if packing.complete else None
        return "incomplete" if value is None else f"{float(value):.2f}"

    for module in (pl, bound_stages):  # (the bound stages moved out of placement.py in session 37)
        for name in STEPS:
            if hasattr(module, name):  # (a step an older tree has not: its timeline without it)
                setattr(module, name, _timed(name, getattr(module, name), started, depth, cost))
    neighbourhood.search = _timed("neighbourhood.search", neighbourhood.search, started, depth)

    def progress(stage, value, bound):
        print(f"{'  ' * depth[0]}{time.monotonic() - started:7.2f} s  progress {stage}: value "
              f"{float(value) if value is not None else '-'} bound "
              f"{float(bound) if bound is not None else '-'}", file=sys.stderr)

    placement = pl.solve(problem, "auto", arguments.time_limit, progress=progress)
    gap = placement.gap
    print(f"{time.monotonic() - started:7.2f} s  done: {placement.status}, value "
          f"{float(placement.value) if placement.value is not None else '-'}, bound "
          f"{float(placement.bound) if placement.bound is not None else '-'}, gap "
          f"{100 * gap if gap is not None else float('nan'):.2f}%, unplaced {len(placement.unplaced)}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
