"""Time (issue 19): the rows of the time-indexed model, and `verify`'s check of each step.

With a horizon, a replica of demand d starts at a step s of its window on a class c
(integer columns x[d,c,s]) and runs `duration` steps there, on one node; u[c,t] are the
nodes of c in use at step t. The rows, each with its typed group key:

- starts: every replica of a demand starts once, inside its window (the window is the
  columns: no column exists outside it);
- capacity per class and step: what the replicas running at t take of each resource <= u[c,t]
  nodes' worth;
- power caps per step: the power the nodes in use at t draw in a cap's scope <= the cap then
  (`hourly` caps vary by step);
- the budget per step: what the nodes in use at t cost per hour (electricity at t included)
  <= the budget.

The static rules' row hooks (`Rule.rows`) build the model without time (`solve/encode.py`);
these build the time model (`solve/timeline.py`), which calls them in this order. `check_steps`
is `fitc verify`'s restatement over a placement with start and end times, step by step: it
shares nothing with the rows (it must not import `solve/`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import RESOURCES, Problem
from fitlang.rules import affinity, carbon, exclusive, gang, latency, pool_windows, preemption, spread
from fitlang.rules.base import GroupKey
from fitlang.rules.capacity import as_slurm_gives, readable, used_on_node

if TYPE_CHECKING:  # solve comes after the rules
    from fitlang.rules.base import Placed
    from fitlang.solve.linear import Number
    from fitlang.solve.timeline import TimeEncoding


class StartsGroup(GroupKey, Frozen):
    """Every replica of a demand (of one run of a recurring job) starts once in its window."""

    demand: str
    run: int = 0


class StepCapacityGroup(GroupKey, Frozen):
    """What a class's nodes hold at one step."""

    class_id: str
    step: int


class StepPowerGroup(GroupKey, Frozen):
    """A power cap (by its index in `Problem.power_caps`) at one step."""

    index: int
    step: int


class StepBudgetGroup(GroupKey, Frozen):
    """The policy's hourly budget at one step."""

    step: int


class LeftOut(Frozen):
    """The column of a run's replicas left out (`allow_unplaced`): a count, or for a gang
    (all or none) a binary worth the run's replicas; a preemptible job's (one run) a binary
    per replica, `run` its replica."""

    demand: str
    run: int


def starts_rows(encoding: TimeEncoding) -> None:
    """Every replica of a run starts once in its window; where the policy allows replicas
    left out, the run's starts plus its `LeftOut` column (a gang's: all of them or none)."""
    problem = encoding.problem
    for demand in problem.demands:
        if demand.min_segment is not None:
            continue  # segments, not starts: `preemption.rows`
        for run in range(len(demand.windows)):
            terms: dict[int, Number] = {column: 1 for column in encoding.starts_of(demand.name, run)}
            if problem.allow_unplaced and demand.replicas_per_run:
                whole = demand.replicas_per_run if demand.gang else 1
                left = encoding.column(LeftOut(demand.name, run), f"out[{demand.name},{run}]",
                                       demand.replicas_per_run // whole)
                terms[left] = whole
            encoding.model.add(terms, lower=demand.replicas_per_run,
                               upper=demand.replicas_per_run, group=StartsGroup(demand.name, run))


def left_out_terms(encoding: TimeEncoding, priority: int) -> dict[int, Number]:
    """The replicas of `priority` left out (`LeftOut` columns): the objectives of a policy
    that allows replicas left out, one per priority level, highest first, before its own."""
    terms: dict[int, Number] = {}
    for key, column in encoding.index.items():
        if isinstance(key, LeftOut):
            demand = encoding.problem.demand(key.demand)
            if demand.priority == priority:
                terms[column] = demand.replicas_per_run if demand.gang else 1
    return terms


def capacity_rows(encoding: TimeEncoding) -> None:
    """Per class, step and resource: sum of charge x running replicas - capacity x u <= 0; and
    the pods its kubelet admits: running replicas - max_pods x u <= 0."""
    problem = encoding.problem
    for node_class in problem.classes:
        for step in range(encoding.timeline.steps):
            running = encoding.running(node_class.id, step)
            if not running:
                continue
            u = encoding.u[node_class.id, step]
            for position, resource in enumerate(RESOURCES):
                terms: dict[int, Number] = {}
                for column, charge in running:
                    if charge[position]:
                        terms[column] = terms.get(column, 0) + charge[position]
                if terms:
                    terms[u] = -node_class.capacity[resource]
                    encoding.model.add(terms, upper=0, group=StepCapacityGroup(node_class.id, step))
            if node_class.max_pods is not None:
                pods: dict[int, Number] = {}
                for column, _ in running:
                    pods[column] = pods.get(column, 0) + 1
                pods[u] = -node_class.max_pods
                encoding.model.add(pods, upper=0, group=StepCapacityGroup(node_class.id, step))


def power_rows(encoding: TimeEncoding) -> None:
    problem = encoding.problem
    for index, cap in enumerate(problem.power_caps):
        watts = {c: problem.node_class(c).power_watts for c in cap.classes}
        for step in range(encoding.timeline.steps):
            terms: dict[int, Number] = {encoding.u[c, step]: w for c, w in watts.items() if w}
            if terms:
                encoding.model.add(terms, upper=cap.cap_at(step), group=StepPowerGroup(index, step))


def budget_rows(encoding: TimeEncoding) -> None:
    problem = encoding.problem
    if problem.budget is None:
        return
    for step in range(encoding.timeline.steps):
        terms: dict[int, Number] = {}
        for node_class in problem.classes:
            price = node_class.price_at(step)
            if price:
                terms[encoding.u[node_class.id, step]] = price
        encoding.model.add(terms, upper=problem.budget, group=StepBudgetGroup(step))


class StepBuyGroup(GroupKey, Frozen):
    """A `buy` block's max_count (by its index, `NodeClass.buy_group`) at one step."""

    buy: int
    step: int


def buy_rows(encoding: TimeEncoding) -> None:
    """In time, bought capacity is there for the steps it is needed (the Terraform target
    scales each node group by schedule): a `buy` block's max_count bounds its nodes in use at
    each step, and each node-hour in use is paid (the objective's u[c,t])."""
    problem = encoding.problem
    for group, limit in sorted(problem.buy_limits.items()):
        members = [c.id for c in problem.classes if c.buy_group == group]
        for step in range(encoding.timeline.steps):
            encoding.model.add({encoding.u[c, step]: 1 for c in members}, upper=limit,
                               group=StepBuyGroup(group, step))


# the time model's rows, in the order `solve/timeline.py` adds them
ROWS: tuple[Callable[[TimeEncoding], None], ...] = (starts_rows, capacity_rows, power_rows,
                                                     budget_rows, buy_rows, carbon.budget_rows,
                                                     pool_windows.off_rows, preemption.rows,
                                                     gang.time_rows, latency.time_rows,
                                                     exclusive.time_rows, affinity.time_rows,
                                                     affinity.domain_time_rows, spread.time_rows)
# the static rules whose `check` reads every replica as running at once: with a horizon,
# `check_steps` restates them step by step instead (affinities and spreads over the replicas
# running at each step)
PER_STEP = frozenset({"capacity", "power", "budget", "buy_limits", "exclusive", "affinity", "spread"})


class Run(Frozen):
    """One replica as a placement with times states it: on `node` for steps [start, end)."""

    demand: str
    replica: int
    node: str
    start: int
    end: int


def check_steps(placed: Placed, runs: list[Run]) -> Iterator[Diagnostic]:
    """Each run inside its demand's window and as long as its duration; then each step on
    its own: every node's capacity, every power cap, the budget; then the carbon budget."""
    problem = placed.problem
    for run in runs:
        if placed.demands[run.demand].min_segment is None:  # segments: `preemption.check`
            yield from _window(placed, run)
        yield from pool_windows.check(placed, run)
    yield from preemption.check(placed, runs)
    yield from gang.check_runs(placed, runs)
    yield from exclusive.check_runs(placed, runs)
    yield from affinity.check_runs(placed, runs)
    yield from spread.check_runs(placed, runs)
    steps = problem.timeline.steps if problem.timeline is not None else 0
    for step in range(steps):
        here = [run for run in runs if run.start <= step < run.end]
        yield from _step_capacity(placed, here, step)
        in_use = {run.node for run in here}
        yield from _step_power(placed, in_use, step)
        yield from _step_budget(placed, in_use, step)
        yield from _step_buys(placed, in_use, step)
    yield from carbon.check(placed, runs)


def _window(placed: Placed, run: Run) -> Iterator[Diagnostic]:
    """The replica's run inside its window: a recurring job's replicas are numbered run by
    run (`replicas_per_run` each), so the replica's number names its run's window."""
    demand = placed.demands[run.demand]
    windows = demand.windows
    if not windows:
        return
    index = min(run.replica // max(1, demand.replicas_per_run), len(windows) - 1)
    window = windows[index]
    what = f"`{run.demand}` replica {run.replica}" + (f" (run {index})" if demand.runs else "")
    if run.end - run.start != window.duration:
        yield placed.violation(f"{what} runs {run.end - run.start} steps; its duration is "
                               f"{window.duration}", demand.spans.get("duration", demand.origin))
    if run.start < window.earliest:
        yield placed.violation(f"{what} starts at {placed.step(run.start)}, before its earliest start, "
                               f"{placed.step(window.earliest)}",
                               demand.spans.get("every" if demand.runs else "earliest", demand.origin))
    if run.end > window.latest_start + window.duration:
        yield placed.violation(f"{what} ends at {placed.step(run.end)}, after its deadline, "
                               f"{placed.step(window.latest_start + window.duration)}",
                               demand.spans.get("every" if demand.runs else "deadline", demand.origin))


def _step_capacity(placed: Placed, here: list[Run], step: int) -> Iterator[Diagnostic]:
    jobs: dict[str, Counter] = {}  # node -> (demand, start, end): one job's replicas there
    for run in here:
        jobs.setdefault(run.node, Counter())[(run.demand, run.start, run.end)] += 1
    for node, counts in sorted(jobs.items()):
        node_class = placed.owner[node]
        amounts = used_on_node(node_class, [(placed.demands[d], n) for (d, _, _), n in counts.items()])
        capacity = node_class.capacity_of(node)
        for resource in RESOURCES:
            if amounts[resource] > capacity[resource]:
                yield placed.violation(
                    f"at {placed.step(step)} node `{node}` is over its {resource}: "
                    f"{readable(resource, amounts[resource])} requested"
                    f"{as_slurm_gives(node_class, resource)}, "
                    f"{readable(resource, capacity[resource], unit=False)} available",
                    node_class.origin)
        pods, most = sum(counts.values()), node_class.pods_of(node)
        if most is not None and pods > most:
            yield placed.violation(f"at {placed.step(step)} node `{node}` is over its pods: {pods} placed, "
                                   f"its kubelet admits {most}", node_class.origin)


def _step_power(placed: Placed, in_use: set[str], step: int) -> Iterator[Diagnostic]:
    problem = placed.problem
    for cap in problem.power_caps:
        scope = set(cap.classes)
        drawn = sum((placed.owner[node].power_watts for node in in_use
                     if placed.owner[node].id in scope), Fraction(0))
        if drawn > cap.cap_at(step):
            yield placed.violation(f"at {placed.step(step)} nodes in {cap.scope} draw "
                                   f"{float(drawn) / 1000:.1f} kW, over the cap `{cap.name}` of "
                                   f"{float(cap.cap_at(step)) / 1000:.1f} kW", cap.origin)


def _step_budget(placed: Placed, in_use: set[str], step: int) -> Iterator[Diagnostic]:
    problem = placed.problem
    if problem.budget is None:
        return
    cost = sum((placed.owner[node].price_at(step) for node in in_use), Fraction(0))
    if cost > problem.budget:
        yield placed.violation(f"at {placed.step(step)} the nodes in use cost {float(cost):.2f} USD/h, "
                               f"over the budget of {float(problem.budget):.2f} USD/h",
                               problem.budget_origin)


def _step_buys(placed: Placed, in_use: set[str], step: int) -> Iterator[Diagnostic]:
    problem = placed.problem
    for group, limit in sorted(problem.buy_limits.items()):
        bought = sum(1 for node in in_use if placed.owner[node].buy_group == group)
        if bought > limit:
            yield placed.violation(f"at {placed.step(step)} {bought} bought nodes are in use, over "
                                   f"max_count = {limit}", problem.buy_origins.get(group))


def horizon_cost(problem: Problem, runs: list[Run], owner_price: Callable[[str, int], Fraction]) -> Fraction:
    """What the nodes in use cost over the horizon: per step, each node hosting a run at that
    step at its price then (electricity at that step included), for one step's hours."""
    timeline = problem.timeline
    if timeline is None:
        return Fraction(0)
    hours = Fraction(timeline.step_seconds, 3600)
    total = Fraction(0)
    for step in range(timeline.steps):
        for node in sorted({run.node for run in runs if run.start <= step < run.end}):
            total += owner_price(node, step) * hours
    return total
