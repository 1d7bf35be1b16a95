"""Shared helpers for solver tests: check, build, solve, and verify every placement."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.model.build import build_problem
from fitlang.solve.placement import Placement, solve
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify


def problem_from(tmp_path: Path, text: str, name: str = "p.fit"):
    path = tmp_path / name
    path.write_text(text)
    result = check_file(path, Workspace())
    assert not result.has_errors, [d.message for d in result.diagnostics]
    built = build_problem(result.program)
    assert not built.diagnostics, [d.message for d in built.diagnostics]
    return built.problem


def solved(problem, backend: str = "auto") -> Placement:
    """Solve and verify. A placement that leaves replicas out of a policy without
    `allow_unplaced` breaks exactly that rule, once per workload left short, and no other."""
    placement = solve(problem, backend)
    document = json.loads(as_json(problem, placement, []))
    allowing = dataclasses.replace(problem, allow_unplaced=True)
    violations, problems = verify(allowing, document)
    assert problems == [] and violations == [], [v.message for v in violations] + problems
    violations, _ = verify(problem, document)
    short = {u.workload for u in placement.unplaced}
    expected = 0 if problem.allow_unplaced else len({problem.demand(w).workload for w in short})
    assert len(violations) == expected, [v.message for v in violations]
    return placement


def on_pools(placement: Placement, problem) -> dict[str, dict[str, int]]:
    """workload -> pool -> replicas, from the per-node assignments."""
    pool_of = {name: c.pool for c in problem.classes for name in c.node_names}
    result: dict[str, dict[str, int]] = {}
    for item in placement.assignments:
        pools = result.setdefault(item.workload, {})
        pools[pool_of[item.node]] = pools.get(pool_of[item.node], 0) + 1
    return result


def bench_module(name: str):
    """A module of the benchmark (its fleet generator, its baselines): bench/ is not a package."""
    bench = Path(__file__).resolve().parent.parent / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(bench))
