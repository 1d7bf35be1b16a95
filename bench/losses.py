"""Where the per-node placement loses against the aggregate plan: the plan's objective, the
packing of it (how many replicas fell short, of which rule kinds), after repair, after
consolidation, and the proven bound. In process, one aggregate solve per row.

    .venv/bin/python bench/losses.py --shape inventory --shape breaker --nodes 1000 --workloads 100

Not a test: the numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import inventories
from fleet import generate

SHAPES = {"bench": generate, "inventory": inventories.generate, "breaker": inventories.breaker}


def _kind(demand) -> str:
    """The rule kind that constrains a workload's packing most (for the short counts)."""
    if demand.gang:
        return "gang"
    if any(s.topology == "node" for s in demand.spreads):
        return "node spread"
    if any(r.anti and r.topology == "node" for r in demand.affinities):
        return "node anti-affinity"
    if demand.spreads:
        return "spread"
    if demand.exclusive:
        return "exclusive"
    return "plain"


def row(shape: str, nodes: int, workloads: int, time_limit: float) -> None:
    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem
    from fitlang.solve import placement as pl
    from fitlang.solve.improve import consolidate
    from fitlang.solve.pack import pack, repair
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    with tempfile.TemporaryDirectory() as directory:
        path = SHAPES[shape](nodes, workloads).write(Path(directory), "fleet")
        problem = build_problem(check_file(path).program).problem
    objectives = pl._objectives(problem)
    started = time.perf_counter()
    deadline = time.monotonic() + time_limit
    result = pl.solve_aggregate(problem, "auto", objectives, {}, deadline, {}, relax=True)
    solved = time.perf_counter() - started
    if result is None:
        print(f"{shape} {nodes:,}: the aggregate model had no plan in {solved:.1f} s")
        return
    encoding, outcome, counts, _, _ = result
    planned = {c.id: outcome.solution[encoding.u[c.id]] for c in problem.classes}
    plan_value = sum(c.price * planned[c.id] for c in problem.classes)
    started = time.perf_counter()
    packing = pack(problem, counts, planned)
    pack_seconds = time.perf_counter() - started
    short: dict[str, int] = {}
    for (workload, _), amount in packing.short_by_workload.items():
        kind = _kind(problem.demand(workload))
        short[kind] = short.get(kind, 0) + amount
    packed = pl._packed_value(problem, packing, "cost")
    started = time.perf_counter()
    if not packing.complete:
        repair(problem, packing, pl.opener(problem, planned))
    repair_seconds = time.perf_counter() - started
    repaired = pl._packed_value(problem, packing, "cost")
    started = time.perf_counter()
    closed = consolidate(problem, packing, "cost", time.monotonic() + 60)
    improve_seconds = time.perf_counter() - started
    final = pl._packed_value(problem, packing, "cost")
    placement = pl._from_packing(problem, packing, "cost", pl.FEASIBLE, None)
    violations, malformed = verify(problem, json.loads(as_json(problem, placement, [])))
    bound = float(outcome.bound) if outcome.bound is not None else None

    def gap(value) -> str:
        return f"{(float(value) - bound) / float(value):.2%}" if bound else "n/a"

    print(f"{shape} {nodes:,}: aggregate {solved:.1f} s, plan {float(plan_value):.2f}, "
          f"bound {bound if bound is None else f'{bound:.2f}'}")
    print(f"  packed (nodes of the plan only) {float(packed):.2f} in {pack_seconds:.2f} s, "
          f"{sum(short.values())} replicas short: "
          + ", ".join(f"{k} {v}" for k, v in sorted(short.items(), key=lambda kv: -kv[1])))
    print(f"  after repair {float(repaired):.2f} ({gap(repaired)}) in {repair_seconds:.2f} s, "
          f"{sum(packing.short.values())} still short")
    print(f"  after consolidate {float(final):.2f} ({gap(final)}) in {improve_seconds:.2f} s, "
          f"{closed} moves kept; verify: {len(violations) + len(malformed)} violations, "
          f"{len(placement.unplaced)} unplaced")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), default=[])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--workloads", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=30.0, help="for the aggregate model")
    arguments = parser.parse_args()
    for shape in arguments.shape or ["inventory", "breaker"]:
        row(shape, arguments.nodes, arguments.workloads, arguments.time_limit)


if __name__ == "__main__":
    main()
