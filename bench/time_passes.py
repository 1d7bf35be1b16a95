"""Where a time solve's search goes, pass by pass: `fitc solve` of one `.fit` file with a horizon
in process, each pass of the node-level search (`timeline_pack.searched`: the moves, the passes
once they converge, the kick, the overflow chains) printed as it ends: the clock when it began,
its seconds, the schedule's total before and after it, and what it found a second.

    .venv/bin/python bench/time_passes.py FILE [--time-limit 30] [--cpu-clock] [--out ANSWER.json]

The passes are timed by wrapping the functions `searched` calls; nothing else changes. Which
pass pays its seconds, and where in the limit, is what decides a pass order (session 60, h60f:
at the sites shape's goal size a pass's first run found 14-77 USD a CPU s, its later runs 0-44,
the run and stretch passes least). `--cpu-clock`: every deadline reads this process's CPU time
(`bench/timeline.py`'s), the seconds printed are CPU seconds. `--out`: the answer (JSON), for
`fitc verify FILE ANSWER.json`. Not a test: the numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (module, function) of each pass `searched` runs: wrapped where the search looks them up
PASSES = (("timeline_pack", "repacked"), ("timeline_pack", "improved"), ("timeline_pack", "emptied"),
          ("timeline_pack", "runs_recreated"), ("timeline_pack", "cap_kicked"),
          ("timeline_stretches", "stretches_emptied"), ("timeline_stretches", "blocks_emptied_longest_first"),
          ("timeline_fill", "filled"), ("timeline_windows", "windows_emptied"),
          ("timeline_overflow", "overflowed"), ("timeline_regroup", "regrouped"),
          ("timeline_reschedule", "rescheduled"), ("timeline_segments", "resegmented"))


def _timed(name: str, function, began: float):
    @functools.wraps(function)
    def wrapper(problem, ledger, *args, **kwargs):
        start, before = time.monotonic(), ledger.total()
        try:
            return function(problem, ledger, *args, **kwargs)
        finally:
            seconds, after = time.monotonic() - start, ledger.total()
            rate = f"{(before - after) / seconds:9.1f}/s" if seconds > 0.05 else ""
            print(f"{start - began:7.2f} {seconds:6.2f}s {name:30s} {before:13.2f} -> {after:13.2f}"
                  f" ({after - before:+10.2f}) {rate}", file=sys.stderr, flush=True)
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--time-limit", default="30")
    parser.add_argument("--cpu-clock", action="store_true")
    parser.add_argument("--out", help="the answer (JSON), for fitc verify")
    arguments = parser.parse_args()
    if arguments.cpu_clock:
        time.monotonic = time.process_time  # before fitlang reads it
    import importlib

    from fitlang.cli import main as fitc
    began = time.monotonic()
    for module_name, name in PASSES:
        module = importlib.import_module(f"fitlang.solve.{module_name}")
        setattr(module, name, _timed(name, getattr(module, name), began))
    answer = io.StringIO()
    with contextlib.redirect_stdout(answer), contextlib.suppress(SystemExit):
        fitc(["solve", arguments.file, "--time-limit", arguments.time_limit, "--format", "json"])
    if arguments.out:
        Path(arguments.out).write_text(answer.getvalue())
    objective = json.loads(answer.getvalue()).get("objective") or {}
    value, bound = objective.get("value"), objective.get("lower_bound")
    print(f"end {time.monotonic() - began:.2f} s: {value} (bound {bound})")


if __name__ == "__main__":
    main()
