"""Shared helpers for solver tests: check, build, solve, and verify every placement."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import resource
import sys
import time
from fractions import Fraction
from pathlib import Path

from hypothesis import strategies as st

from fitlang.diagnostics import Diagnostic, Severity
from fitlang.driver import Compilation
from fitlang.model.build import with_current
from fitlang.model.current import CurrentState, Running
from fitlang.model.problem import RESOURCES
from fitlang.solve.bound import lower_bound
from fitlang.solve.coarse import coarse_bound
from fitlang.solve.pack import NodeState
from fitlang.solve.patterns import pattern_bound
from fitlang.solve.placement import Placement, solve
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify


def node_state(problem, class_id: str, index: int, hosted: dict[str, int]) -> NodeState:
    """The class's `index`-th node hosting `hosted` (workload -> replicas), its room left."""
    node_class = problem.node_class(class_id)
    name = node_class.node_names[index]
    capacity = node_class.capacity_of(name)
    free = {r: capacity[r] - sum(problem.demand(w).requests[r] * n for w, n in hosted.items())
            for r in RESOURCES}
    return NodeState(name, free, dict(hosted))


def problem_running(tmp_path: Path, text: str, running: list[tuple[str, str]]):
    """The policy's problem with what runs now: (workload, node) per replica."""
    path = tmp_path / "p.fit"
    path.write_text(text)
    compilation = Compilation(path)
    problem = compilation.problem
    assert problem is not None, [d.message for d in compilation.diagnostics()]
    state = CurrentState(running=tuple(Running(w, n) for w, n in running))
    return with_current(problem, compilation.check().program, state)


def problem_from(tmp_path: Path, text: str, name: str = "p.fit"):
    path = tmp_path / name
    path.write_text(text)
    compilation = Compilation(path)
    result = compilation.check()
    assert not result.has_errors, [d.message for d in result.diagnostics]
    built = compilation.build()
    assert built is not None and not unexpected(built.diagnostics), [d.message for d in built.diagnostics]
    return built.problem


def unexpected(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics of a build but its notes (W0522: the inventory nodes a file states that
    take no work, which fixtures with cordoned nodes have on purpose)."""
    return [d for d in diagnostics if d.severity is not Severity.NOTE]


def solved(problem, backend: str = "auto", time_limit: float | None = None) -> Placement:
    """Solve and verify. A placement that leaves replicas out of a policy without
    `allow_unplaced` breaks exactly that rule, once per workload left short, and no other."""
    placement = solve(problem, backend, time_limit)
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


def shape_with_floor(tmp_path: Path, shape: str):
    """A fleet of one of bench/run.py's shapes at 1,000 nodes, its greedy placement (every
    replica placed) and that placement as verify accepts it: (problem, packing, placement)."""
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.placement import FEASIBLE, _from_packing

    if shape == "bench":
        fleet = bench_module("fleet").generate(1000, 100)
    else:
        inventories = bench_module("inventories")
        fleet = getattr(inventories, "generate" if shape == "inventory" else "breaker")(1000, 100)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    packing, _ = greedy_floor(problem)
    assert packing.complete
    placement = _from_packing(problem, packing, "cost", FEASIBLE, None)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == []
    return problem, packing, placement


# ---- the differential run against tests/reference.py -----------------------------------------


@dataclasses.dataclass
class Differential:
    seed: int
    kinds: set[str]
    disagreements: list[str]  # empty: fitc and the reference agree on everything compared
    # where every replica must be and can be placed: (pair bound, pattern bound, optimum,
    # coarse bound or None)
    bounds: tuple | None = None


def compare_with_reference(seed, directory: Path) -> Differential:
    """Generate a policy, solve it with fitc and with the reference: the verdict, the optimum
    (cost, and with `allow_unplaced` the replicas placed per priority level) agree, `verify`
    accepts fitc's placement, and `verify` accepts the reference's (a second check of verify)."""
    import reference

    spec = seed if isinstance(seed, reference.Spec) else reference.generate(seed)
    seed = seed if isinstance(seed, int) else "spec"
    path = directory / f"seed{seed}.fit"
    path.write_text(reference.to_fit(spec))
    compilation = Compilation(path)
    errors = [f"{d.code} {d.message}" for d in compilation.check().diagnostics if d.is_error]
    if errors:
        return Differential(seed, spec.kinds, [f"fitc check: {errors[0]}"])
    problem = compilation.build_any().problem
    placement = compilation.solve()
    expected = reference.reference(spec)
    found, bounds = [], None
    if not expected.decided:
        return Differential(seed, spec.kinds, ["the reference ran out of time"])
    fitc_feasible = placement.status in ("optimal", "feasible") and (
        spec.allow_unplaced or not placement.unplaced)
    if fitc_feasible != expected.feasible:
        found.append(f"verdict: fitc {placement.status} ({len(placement.unplaced)} unplaced), "
                     f"reference {'feasible' if expected.feasible else 'infeasible'}")
    if not expected.feasible and placement.status == "unknown":
        found.append("verdict: fitc unknown where the reference proves infeasible")
    if fitc_feasible and expected.feasible:
        if placement.value != expected.cost:
            found.append(f"optimum: fitc {placement.value} ({placement.status}), reference {expected.cost}")
        if not spec.allow_unplaced and placement.bound is not None and placement.bound > expected.cost:
            # a proven lower bound above the true optimum is no bound
            found.append(f"bound: fitc {placement.bound} above the reference's optimum {expected.cost}")
        pair = lower_bound(problem, placement.objective) if not spec.allow_unplaced else None
        relaxed = pair.value if pair is not None else None
        if relaxed is not None and relaxed > expected.cost:
            # the relaxation's bound (fitlang/solve/bound.py), stated where the model has none
            found.append(f"relaxation bound: {relaxed} above the reference's optimum {expected.cost}")
        if relaxed is not None:
            # the pattern bound built on it (fitlang/solve/patterns.py), and its own best round
            patterns = pattern_bound(pair, placement.objective)
            for name, value in (("pattern bound", patterns.value), ("patterns' round", patterns.best_round)):
                if value is not None and value > expected.cost:
                    found.append(f"{name}: {value} above the reference's optimum {expected.cost}")
            # the pattern bound of the coarse problem (fitlang/solve/coarse.py)
            coarse = coarse_bound(problem, placement.objective)
            coarse_value = None if coarse is None else coarse.value
            if coarse_value is not None and coarse_value > expected.cost:
                found.append(f"coarse bound: {coarse_value} above the reference's optimum {expected.cost}")
            bounds = (relaxed, patterns.value, expected.cost, coarse_value)
        if spec.allow_unplaced:
            levels = _placed_by_level(problem, placement)
            wanted = {k: v for k, v in expected.placed_by_level.items()}
            if levels != wanted:
                found.append(f"placed per priority: fitc {levels}, reference {wanted}")
    document = json.loads(as_json(problem, placement, []))
    violations, problems = verify(problem, document)
    allowed = spec.allow_unplaced or not fitc_feasible
    unplaced_only = all("allow_unplaced" in v.message for v in violations)
    if problems or (violations and not (allowed and unplaced_only and placement.unplaced)):
        found.append("verify rejects fitc: "
                     + "; ".join([v.message for v in violations] + [p.text for p in problems]))
    if expected.feasible:
        violations, problems = verify(problem, reference.placement_json(spec, expected))
        if violations or problems:
            found.append("verify rejects the reference: "
                         + "; ".join([v.message for v in violations] + [p.text for p in problems]))
    return Differential(seed, spec.kinds, found, bounds)


def _placed_by_level(problem, placement: Placement) -> dict[int, int]:
    """Replicas placed per priority level (an option workload, which the generator keeps away
    from priorities, counts 1 when placed)."""
    levels = {d.priority: 0 for d in problem.demands}
    seen_groups = set()
    for item in placement.assignments:
        demand = problem.demand(item.workload)
        if demand.group is None:
            levels[demand.priority] += 1
        elif demand.group not in seen_groups:
            seen_groups.add(demand.group)
            levels[demand.priority] += 1
    return levels


# ---- small policies written as text, shared by the solver's test files ----------------------

# an on-prem region of US law (the bought-capacity cases reduced from `bench/cloud_buy.py`)
ONPREM_DC1 = '''region onprem_dc1 {
  code = "dc1"
  provider = "onprem"
  jurisdiction = US
  country = "US"
  city = "Chicago"
}
'''


def pool(name, count, cpu, memory, price, extra=""):
    return (f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = {memory}\n"
            f"  price = {price} USD/h\n{extra}}}\n")


def workload(name, replicas, cpu, memory, extra=""):
    return f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = {memory}\n{extra}}}\n"


def zones_taken(t_require: str = "") -> str:
    """a and b: one 8-CPU node each (1 USD/h), c: five (3 USD/h). h (priority 30, a or b, one a
    node) opens a and b; t (20, one a node, `t_require`) takes their free room; u (10, a or b,
    never in a zone with t) then finds no zone (inventory 10,000 seed 20's shape)."""
    return (pool("a", 1, 8, "32Gi", 1, '  zone = "a"\n') + pool("b", 1, 8, "32Gi", 1, '  zone = "b"\n')
            + pool("c", 5, 8, "32Gi", 3, '  zone = "c"\n')
            + workload("h", 2, 4, "2Gi", "  require pool in [a, b]\n  anti_affinity self on node\n"
                       "  priority = 30\n")
            + workload("t", 2, 4, "2Gi", t_require + "  anti_affinity self on node\n  priority = 20\n")
            + workload("u", 1, 4, "2Gi", "  require pool in [a, b]\n  anti_affinity t on zone\n"
                       "  priority = 10\n"))


def verified_packing(problem, packing) -> Placement:
    """A packing of every replica as a placement, accepted by `verify`."""
    from fitlang.solve.placement import FEASIBLE, _from_packing

    placement = _from_packing(problem, packing, "cost", FEASIBLE, None)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [], [v.message for v in violations] + problems
    assert not placement.unplaced
    return placement


def verified_cost(problem, packing) -> Fraction:
    """What a packing of every replica costs, once `verify` accepts it."""
    return Fraction(verified_packing(problem, packing).value)


def inventory_shaped(tmp_path):
    """The inventory-shaped fleet at 1,000 nodes (GPU, one per node, no-CPU asks...)."""
    fleet = bench_module("inventories").generate(1000, 100)
    fleet.write(tmp_path, "unused")
    return problem_from(tmp_path, fleet.policy)


RULES = ["", "  anti_affinity self on node\n", "  spread node max_skew 1\n", "  spread zone max_skew 2\n",
         "  spread zone max_skew 1\n", "  exclusive = true\n", "  anti_affinity {other} on node\n",
         "  affinity {other} on node\n", "  anti_affinity {other} on zone\n", "  priority = 5\n",
         "  kind = job\n  gang = true\n"]

RANDOM_WORKLOADS = st.lists(st.tuples(st.integers(1, 12), st.integers(1, 9), st.sampled_from(RULES)),
                            min_size=1, max_size=5)
RANDOM_POOLS = st.lists(st.tuples(st.integers(1, 6), st.sampled_from([4, 8]), st.integers(1, 4)),
                        min_size=1, max_size=3)


def random_fleet(tmp_path, workloads, pools):
    """Small fleets over zones z0-z2 and workloads with node, zone and exclusive rules (None:
    a combination the language refuses, which is not what these tests are about)."""
    text = "".join(pool(f"p{i}", count, cpu, "32Gi", price, f'  zone = "z{i}"\n  cluster = "c{i % 2}"\n')
                   for i, (count, cpu, price) in enumerate(pools))
    for i, (replicas, cpu, rule) in enumerate(workloads):
        other = f"w{(i + 1) % len(workloads)}"
        if "{other}" in rule and other == f"w{i}":
            rule = ""
        text += workload(f"w{i}", replicas, f"{cpu * 500}m", "1Gi", rule.format(other=other))
    path = tmp_path / "random.fit"
    path.write_text(text)
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem

    checked = check_file(path, Workspace())
    return None if checked.has_errors else build_problem(checked.program).problem


def children_cpu() -> float:
    """The CPU seconds of this process's children that have ended (and been waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuWatch:
    """A stopwatch on the CPU clock, read from outside the solve: this process's CPU seconds
    and its ended children's since it was made. A limit checked on the wall fails on a loaded
    machine (the 100-node solve of test_timed_limit.py ended 1.74 s into its 1 s limit at load
    25, having placed nothing); on the CPU clock it means the same work at any load."""

    def __init__(self) -> None:
        self.own, self.children = time.process_time(), children_cpu()

    def seconds(self) -> tuple[float, float]:
        return time.process_time() - self.own, children_cpu() - self.children


def least_in_cents(model) -> Fraction | None:
    """A CP-SAT model's optimum (its objective in cents) in USD/h, on one worker; None where it
    proves no solution exists (a reference written apart from the solver)."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10.0
    status = solver.Solve(model)
    if status == cp_model.INFEASIBLE:
        return None
    assert status == cp_model.OPTIMAL
    return Fraction(round(solver.ObjectiveValue()), 100)
