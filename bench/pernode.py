"""A per-node reference for the *inventory* and *breaker* shapes: every node its own class, so
the aggregate model is the exact per-node model (no packing step), solved with whole replica
counts for a fixed time by HiGHS or CP-SAT (`--solver cpsat`, 2 workers). It tells a weak bound
from a poor placement: its incumbent is a placement node by node, its dual bound a bound on any placement.

    .venv/bin/python bench/pernode.py --shape inventory --nodes 1000 --workloads 100 --time-limit 120

It shares fitc's encoding (fitlang/solve/encode.py), not its packing, rounding or repair; the
independent check of that encoding is tests/test_differential.py (CP-SAT on small policies).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import inventories
from fleet import generate

SHAPES = {"bench": generate, "inventory": inventories.generate, "breaker": inventories.breaker}


def main() -> None:
    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem
    from fitlang.model.problem import one_class_per_node
    from fitlang.solve.backends import HighsBackend
    from fitlang.solve.encode import encode

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="inventory")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--workloads", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--solver", choices=("highs", "cpsat", "lp"), default="highs",
                        help="lp: the aggregate model's LP relaxation instead (its bound)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = SHAPES[arguments.shape](arguments.nodes, arguments.workloads).write(Path(directory), "fleet")
        problem = build_problem(check_file(path).program).problem
    if arguments.solver == "lp":  # the aggregate model's LP relaxation: its bound, per class
        encoding = encode(problem, must_place=True)
        for variable in encoding.model.variables:
            variable.integer = False
        started = time.perf_counter()
        outcome = HighsBackend().minimise(encoding.model, encoding.objective("cost"), arguments.time_limit)
        print(f"{arguments.shape} {arguments.nodes}: LP of the aggregate model: {outcome.status}, "
              f"bound {float(outcome.bound) if outcome.bound is not None else 'none'} "
              f"in {time.perf_counter() - started:.1f} s")
        return
    exact = one_class_per_node(_capped(problem))
    if arguments.solver == "cpsat":
        import baselines

        result = baselines.cp_sat(exact, 1e-4, arguments.time_limit)
        print(f"{arguments.shape} {arguments.nodes}: CP-SAT {arguments.time_limit:.0f} s per node: "
              f"{result.status}, cost {result.value}, bound {result.bound}")
        return
    started = time.perf_counter()
    encoding = encode(exact, must_place=True)
    built = time.perf_counter() - started
    outcome = HighsBackend(1e-4).minimise(encoding.model, encoding.objective("cost"), arguments.time_limit)
    print(f"{arguments.shape} {arguments.nodes}: {len(encoding.model.variables):,} variables, "
          f"built in {built:.1f} s; HiGHS {arguments.time_limit:.0f} s: {outcome.status}, "
          f"cost {float(outcome.objective) if outcome.objective is not None else 'none'}, "
          f"bound {float(outcome.bound) if outcome.bound is not None else 'none'}")


def _capped(problem):
    """*breaker*'s pool of a million 1-CPU nodes, cut to as many nodes as replicas may use it
    (one each at most): the optimum is the same, and one class per node within reach."""
    import dataclasses

    classes = []
    for node_class in problem.classes:
        users = sum(d.replicas for d in problem.demands if node_class.id in d.eligible)
        if node_class.count > users:
            node_class = dataclasses.replace(node_class, count=users,
                                             node_names=tuple(node_class.node_names[:users]))
        classes.append(node_class)
    return dataclasses.replace(problem, classes=classes)


if __name__ == "__main__":
    main()
