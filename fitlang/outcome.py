"""What solving a policy gives, as `fitc test` and `fitc diff` read it: the outcome, the codes
reported, the hourly cost, what is bought, and where each workload's replicas run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.driver import Compilation, Outcome
from fitlang.model.inventory import capacity_spot
from fitlang.rules.base import used_per_class

if TYPE_CHECKING:
    from fitlang.model.problem import NodeClass, Problem
    from fitlang.solve.placement import Placement

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
    # the instance types and CPU architectures of their nodes: within one inventory (a
    # cluster's `kubectl get nodes`, one pool) a move from x86 to Graviton changes only these
    instance_types: dict[str, set[str | None]] = field(default_factory=dict)
    archs: dict[str, set[str | None]] = field(default_factory=dict)
    # spot or on-demand, where the class's pricing says it (`capacity_type`): onto spot nodes
    # of the same types and zones, a move showed as a cost change alone
    capacities: dict[str, set[str | None]] = field(default_factory=dict)
    regions: dict[str, set[str | None]] = field(default_factory=dict)
    placed: dict[str, int] = field(default_factory=dict)
    unplaced: dict[str, int] = field(default_factory=dict)
    binding: tuple[str, ...] = ()  # the limits the placement reaches (`fitc diff`'s "binding")
    # with a horizon (issue 19): the cost over the horizon (USD), and when each workload's
    # replicas start (UTC instants, as the placement JSON states them)
    total_cost: Fraction | None = None
    total_carbon: Fraction | None = None  # kgCO2e over the horizon
    starts: dict[str, set[str]] = field(default_factory=dict)


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
        observed.instance_types.setdefault(workload, set()).add(node_class.instance_type)
        observed.archs.setdefault(workload, set()).add(node_class.arch)
        observed.capacities.setdefault(workload, set()).add(capacity_type(node_class, assignment.node))
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
    observed.binding = _binding(problem, placement, observed, in_use)
    if problem.timeline is not None:
        _observe_in_time(problem, placement, observed)
    return observed


def capacity_type(node_class: NodeClass, node: str) -> str | None:
    """`spot` or `on-demand`: a bought class's pricing; an inventory node's as the labels of its
    class (a class priced by `spot_prices` is all spot) or its own say it; else None."""
    if node_class.provisioned:
        return "spot" if node_class.spot else "on-demand"
    spot = capacity_spot(node_class.labels)
    if spot is None:
        return node_class.node_capacity_types.get(node)
    return "spot" if spot else "on-demand"


def _observe_in_time(problem: Problem, placement: Placement, observed: Observed) -> None:
    """The cost over the horizon and the start of each replica; the hourly cost of every node
    in use at once means nothing here."""
    from fitlang.solve.timeline import horizon_value, instant, iso

    assert problem.timeline is not None
    observed.cost = None
    if placement.assignments:  # whatever the objective: the totals of the placement's runs
        runs = placement.assignments
        observed.total_cost = horizon_value(problem, runs, "cost")  # type: ignore[arg-type]
        observed.total_carbon = horizon_value(problem, runs, "carbon")  # type: ignore[arg-type]
    for assignment in placement.assignments:
        workload = problem.demand(assignment.workload).workload
        start = iso(instant(problem.timeline, getattr(assignment, "start", 0)))
        observed.starts.setdefault(workload, set()).add(start)


def _binding(problem: Problem, placement: Placement, observed: Observed,
             in_use: Counter) -> tuple[str, ...]:
    """The limits the placement is at: the budget, a `buy` block's node limit, a power cap, a
    pool whose every node is in use. A limit that starts (or stops) binding is what a change to
    a policy shows beside its cost."""
    from fitlang.solve.report import power_use

    found = []
    if problem.budget is not None and observed.cost is not None and observed.cost >= problem.budget:
        found.append(f"budget {float(problem.budget):.2f} USD/h")
    bought_in: Counter = Counter()
    for class_id, nodes in placement.bought.items():
        group = problem.node_class(class_id).buy_group
        if group is not None:
            bought_in[group] += len(nodes)
    for group, limit in sorted(problem.buy_limits.items()):
        if bought_in[group] >= limit:
            found.append(f"buy limit {limit} node{'s' if limit != 1 else ''} (`buy` block {group + 1})")
    for cap, drawn in power_use(problem, placement):
        if drawn >= cap.cap_watts:
            found.append(f"power cap `{cap.name}` {float(cap.cap_watts) / 1000:g} kW")
    nodes_of: Counter = Counter()
    for node_class in problem.classes:
        if not node_class.provisioned:
            nodes_of[node_class.pool] += node_class.count
    for pool, total in sorted(nodes_of.items()):
        if total and observed.used_by_pool.get(pool, 0) >= total:
            found.append(f"pool `{pool}` full ({total}/{total} nodes)")
    return tuple(found)


def _codes(diagnostics: list[Diagnostic]) -> tuple[str, ...]:
    return tuple(sorted({d.code for d in diagnostics}))
