"""What solving a policy gives, as `fitc test` and `fitc diff` read it: the outcome, the codes
reported, the hourly cost, what is bought, and where each workload's replicas run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

from fitlang.diagnostics import Diagnostic
from fitlang.driver import Compilation, Outcome
from fitlang.rules.base import used_per_class

# the driver's verdicts as tests and diffs name them; `invalid`: the policy does not check
OUTCOMES = {Outcome.PLACED: "placed", Outcome.PARTIAL: "partial",
            Outcome.INFEASIBLE: "infeasible", Outcome.UNDECIDED: "undecided"}


@dataclass
class Observed:
    """What a run of the policy gave, as the expectations read it."""

    outcome: str
    codes: tuple[str, ...]  # the distinct codes of every diagnostic, sorted
    cost: Fraction | None = None  # USD/h of the nodes in use
    bought: int = 0
    bought_by_pool: dict[str, int] = field(default_factory=dict)  # pool -> nodes bought
    used_by_pool: dict[str, int] = field(default_factory=dict)  # pool -> nodes in use
    pools: dict[str, set[str | None]] = field(default_factory=dict)  # workload -> its replicas' pools
    zones: dict[str, set[str | None]] = field(default_factory=dict)
    regions: dict[str, set[str | None]] = field(default_factory=dict)
    placed: dict[str, int] = field(default_factory=dict)
    unplaced: dict[str, int] = field(default_factory=dict)


def observe(compilation: Compilation, time_limit: float) -> Observed:
    """Check, build and (without errors) solve, as `fitc solve` does."""
    diagnostics = list(compilation.check().diagnostics)
    problem = compilation.problem
    if problem is None:
        found = diagnostics + [d for d in compilation.diagnostics() if d not in diagnostics]
        return Observed("invalid", _codes(found))
    placement = compilation.solve(time_limit=time_limit)
    verdict = compilation.verdict(placement, time_limit)
    found = diagnostics + compilation.rule_warnings() + verdict.diagnostics
    observed = Observed(OUTCOMES[verdict.outcome], _codes(found))
    owners = problem.owners()
    hosted: dict[str, dict] = {}
    for assignment in placement.assignments:
        node_class = owners[assignment.node]
        workload = problem.demand(assignment.workload).workload
        hosted.setdefault(assignment.node, {})[workload] = 1
        observed.pools.setdefault(workload, set()).add(node_class.pool)
        observed.zones.setdefault(workload, set()).add(node_class.topology_value("zone"))
        observed.regions.setdefault(workload, set()).add(node_class.topology_value("region"))
        observed.placed[workload] = observed.placed.get(workload, 0) + 1
    for item in placement.unplaced:
        workload = problem.demand(item.workload).workload
        observed.unplaced[workload] = observed.unplaced.get(workload, 0) + 1
    bought = {node for nodes in placement.bought.values() for node in nodes}
    in_use = used_per_class(owners, {node: Counter(w) for node, w in hosted.items()}, bought)
    observed.cost = sum((problem.node_class(class_id).price * count for class_id, count in in_use.items()),
                        Fraction(0))
    observed.bought = len(bought)
    for class_id, count in sorted(in_use.items()):
        pool = problem.node_class(class_id).pool
        observed.used_by_pool[pool] = observed.used_by_pool.get(pool, 0) + count
    for class_id, nodes in sorted(placement.bought.items()):
        if nodes:
            pool = problem.node_class(class_id).pool
            observed.bought_by_pool[pool] = observed.bought_by_pool.get(pool, 0) + len(nodes)
    return observed


def _codes(diagnostics: list[Diagnostic]) -> tuple[str, ...]:
    return tuple(sorted({d.code for d in diagnostics}))
