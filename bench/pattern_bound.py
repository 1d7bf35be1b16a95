"""Benchmark: the pattern bound (fitlang/solve/patterns.py) against the pair relaxation's.

    .venv/bin/python bench/pattern_bound.py FILE... [--seconds 30] [--rounds N]

Per policy: the greedy floor (its cost, and its nodes as the master's first patterns), the
pair bound (`lower_bound`, to convergence), then the pattern bound at the pair prices and
after column generation within `--seconds`; wall seconds of each, rounds, knapsack MIPs.
With `--coarse`, the coarse problem's pattern bound (fitlang/solve/coarse.py) instead of the
pattern bound: its value, wall and CPU seconds (building the coarse problem included), rounds.
Not a timed test: the numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def measure(path: Path, seconds: float, rounds: int | None, coarse: bool = False) -> dict:
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.solve.bound import lower_bound
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.patterns import pattern_bound
    from fitlang.solve.placement import _packed_value

    problem = build_problem(check_file(path, Workspace()).program).problem
    floor, _ = greedy_floor(problem)
    started = time.monotonic()
    pair = lower_bound(problem, "cost", start=floor)
    pair_seconds = time.monotonic() - started
    if coarse:
        return _coarse(problem, floor, pair, pair_seconds, seconds, path.name)
    started = time.monotonic()
    found = pattern_bound(pair, "cost", started + seconds, start=floor, rounds=rounds)
    return {"file": path.name, "floor": float(_packed_value(problem, floor, "cost")),
            "pair": float(pair.value) if pair.value is not None else None,
            "pair_s": pair_seconds, "at_prices": float(found.at_pair_prices or 0),
            "pattern": float(found.value) if found.value is not None else None,
            "pattern_s": found.seconds, "rounds": found.rounds, "patterns": found.patterns,
            "knapsacks": found.knapsacks, "exact": found.exact, "converged": found.converged}


def _coarse(problem, floor, pair, pair_seconds: float, seconds: float, name: str) -> dict:
    from fitlang.solve.coarse import coarse_bound

    wall, cpu = time.monotonic(), time.process_time()
    found = coarse_bound(problem, "cost", wall + seconds, start=floor)
    return {"file": name, "pair": float(pair.value) if pair.value is not None else None,
            "pair_s": pair_seconds,
            "coarse": float(found.value) if found is not None and found.value is not None else None,
            "coarse_s": time.monotonic() - wall, "coarse_cpu_s": time.process_time() - cpu,
            "rounds": found.rounds if found else 0, "converged": bool(found and found.converged)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--coarse", action="store_true")
    args = parser.parse_args()
    for path in args.files:
        print(measure(path, args.seconds, args.rounds, args.coarse), flush=True)


if __name__ == "__main__":
    main()
