"""How much of a gap is the bound's: per policy, the pair bound (`bound.lower_bound`, to
convergence), the pattern bound (`patterns.pattern_bound`, column generation over node
patterns within `--pattern-seconds`) and the exact per-node model (every node its own class,
whole replica counts, HiGHS for `--exact-seconds`: its incumbent is a placement node by node,
its dual bound a bound on every placement). The placement to compare with is `fitc solve`'s
(run apart). CPU seconds per stage. Not a timed test: the numbers go to docs/performance.md.

    .venv/bin/python bench/bound_gap.py FILE... [--pattern-seconds 60] [--exact-seconds 120]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def measure(path: Path, pattern_seconds: float, exact_seconds: float) -> dict:
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.solve.bound import lower_bound
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.patterns import pattern_bound
    from fitlang.solve.placement import _packed_value

    problem = build_problem(check_file(path, Workspace()).program).problem
    floor, _ = greedy_floor(problem)
    row: dict = {"file": path.name, "floor": float(_packed_value(problem, floor, "cost"))}
    cpu = time.process_time()
    pair = lower_bound(problem, "cost", start=floor)
    row.update(pair=float(pair.value), pair_lp=pair.lp_value, pair_cpu=time.process_time() - cpu)
    if pattern_seconds > 0:
        cpu = time.process_time()
        found = pattern_bound(pair, "cost", time.monotonic() + pattern_seconds, start=floor)
        at_prices = found.at_pair_prices
        row.update(pattern=float(found.value) if found.value is not None else None,
                   pattern_at_pair_prices=None if at_prices is None else float(at_prices),
                   pattern_rounds=found.rounds, pattern_converged=found.converged,
                   pattern_cpu=time.process_time() - cpu)
    if exact_seconds > 0:
        row.update(_exact(problem, exact_seconds))
    return row


def _exact(problem, seconds: float, presolve: bool = True) -> dict:
    """`presolve=False`: HiGHS without its presolve. HiGHS 1.16's presolve answered inventory
    300 seed 9's per-node model "optimal" at 179.84 (dual bound 179.82) where a solution of 76.78
    meets every row in exact arithmetic (fitc's placement, fixed; session 23); without presolve:
    69.84, bound 67.90 in 60 s. So an "optimum" above a verified placement is HiGHS's error."""
    from pernode import _capped

    from fitlang.model.problem import one_class_per_node
    from fitlang.solve import backends
    from fitlang.solve.encode import encode

    cpu = time.process_time()
    encoding = encode(one_class_per_node(_capped(problem)), must_place=True)
    with_highs = backends._highs_with
    if not presolve:
        def without_presolve(form):
            highs = with_highs(form)
            highs.setOptionValue("presolve", "off")
            return highs
        backends._highs_with = without_presolve
    try:
        outcome = backends.HighsBackend(1e-4).minimise(encoding.model, encoding.objective("cost"), seconds)
    finally:
        backends._highs_with = with_highs
    return {"exact_status": str(outcome.status),
            "exact_cost": float(outcome.objective) if outcome.objective is not None else None,
            "exact_bound": float(outcome.bound) if outcome.bound is not None else None,
            "exact_cpu": time.process_time() - cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--pattern-seconds", type=float, default=60.0)
    parser.add_argument("--exact-seconds", type=float, default=120.0)
    args = parser.parse_args()
    for path in args.files:
        print(json.dumps(measure(path, args.pattern_seconds, args.exact_seconds)), flush=True)


if __name__ == "__main__":
    main()
