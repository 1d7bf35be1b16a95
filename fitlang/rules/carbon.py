"""Carbon (issue 19): what the nodes in use emit over the horizon, the policy's
`carbon_budget` as a hard row of the time model, the objective `carbon`, and `verify`'s
independent recount.

A node of class c in use at step t emits c's power draw x its grid's carbon intensity then
(`NodeClass.carbon_at`, kgCO2e per hour) x the step's hours. The model's u[c,t] (nodes of c
in use at t) carry it: the budget row is sum over c, t of u[c,t] x carbon_at(t) x hours <=
the budget, and the objective `carbon` minimises the same sum. `check` recounts it from the
runs of a placement, node by node, sharing nothing with the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import NodeClass, Problem
from fitlang.rules.base import GroupKey

if TYPE_CHECKING:  # solve comes after the rules
    from fitlang.rules.base import Placed
    from fitlang.rules.timing import Run
    from fitlang.solve.linear import Number
    from fitlang.solve.timeline import TimeEncoding


class CarbonBudgetGroup(GroupKey, Frozen):
    """The policy's `carbon_budget`: kgCO2e over the whole horizon."""


def in_use_terms(encoding: TimeEncoding, rate: Callable[[NodeClass, int], Fraction]
                 ) -> dict[int, Number]:
    """What the nodes in use accrue over the horizon at a per-hour `rate` of their class and
    step (USD/h: the cost; kgCO2e/h: the carbon), as a linear form of the u[c,t] columns."""
    hours = Fraction(encoding.timeline.step_seconds, 3600)
    terms: dict[int, Number] = {}
    for node_class in encoding.problem.classes:
        for step in range(encoding.timeline.steps):
            accrued = rate(node_class, step) * hours
            if accrued:
                terms[encoding.u[node_class.id, step]] = accrued
    return terms


def emission_terms(encoding: TimeEncoding) -> dict[int, Number]:
    """kgCO2e over the horizon."""
    return in_use_terms(encoding, NodeClass.carbon_at)


def budget_rows(encoding: TimeEncoding) -> None:
    budget = encoding.problem.carbon_budget
    if budget is None:
        return
    encoding.model.add(emission_terms(encoding), upper=budget, group=CarbonBudgetGroup())


def horizon_carbon(problem: Problem, runs: list[Run],
                   owner_carbon: Callable[[str, int], Fraction]) -> Fraction:
    """kgCO2e the nodes hosting the runs emit over the horizon: per step, each node hosting a
    run then, at its emission rate then, for one step's hours."""
    timeline = problem.timeline
    if timeline is None:
        return Fraction(0)
    hours = Fraction(timeline.step_seconds, 3600)
    in_use: list[set[str]] = [set() for _ in range(timeline.steps)]
    for run in runs:
        for step in range(run.start, min(run.end, timeline.steps)):
            in_use[step].add(run.node)
    return sum((owner_carbon(node, step) * hours
                for step, nodes in enumerate(in_use) for node in nodes), Fraction(0))


def check(placed: Placed, runs: list[Run]) -> Iterator[Diagnostic]:
    """The carbon budget, recounted from the runs."""
    problem = placed.problem
    if problem.carbon_budget is None:
        return
    emitted = horizon_carbon(problem, runs, lambda node, step: placed.owner[node].carbon_at(step))
    if emitted > problem.carbon_budget:
        yield placed.violation(f"the nodes in use emit {float(emitted):.2f} kgCO2e over the "
                               f"horizon, over the carbon budget of "
                               f"{float(problem.carbon_budget):.2f} kgCO2e",
                               problem.carbon_budget_origin)

