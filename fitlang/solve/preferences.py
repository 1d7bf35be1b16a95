"""Per soft preference: was it met, and what would meeting it have cost?

Meeting a preference is tried as a hard rule on a copy of the problem and
solved again; the difference in the primary objective is its price.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from fitlang.check.program import Origin
from fitlang.model.problem import Problem
from fitlang.solve.placement import Placement, solve


@dataclass
class PreferenceOutcome:
    workload: str
    text: str
    weight: Fraction
    met: int
    replicas: int
    extra: Fraction | None  # objective increase to meet it fully; None: cannot be met
    unit: str
    origin: Origin | None

    def line(self) -> str:
        where = f" (line {self.origin.span.line})" if self.origin else ""
        head = f"`{self.workload}` prefer {self.text} weight {self.weight}{where}: "
        if self.met == self.replicas:
            return head + f"met for all {self.replicas} replicas"
        tail = "cannot be met" if self.extra is None else \
            f"meeting it would cost {float(self.extra):+.2f} {self.unit}"
        return head + f"met for {self.met} of {self.replicas} replicas; {tail}"


def preference_outcomes(problem: Problem, placement: Placement) -> list[PreferenceOutcome]:
    owners = problem.owners()
    outcomes = []
    for demand in problem.demands:
        placed = [owners[a.node].id for a in placement.assignments if a.workload == demand.name]
        for index, rule in enumerate(demand.preferences):
            met = sum(1 for class_id in placed if class_id in rule.met_by)
            extra = None
            if met < demand.replicas:
                extra = _price_of_meeting(problem, placement, demand.name, index)
            outcomes.append(PreferenceOutcome(demand.name, rule.text, rule.weight, met,
                                              demand.replicas, extra, placement.unit, rule.origin))
    return outcomes


def _price_of_meeting(problem: Problem, placement: Placement, name: str, index: int) -> Fraction | None:
    demand = problem.demand(name)
    met_by = demand.preferences[index].met_by
    trial = problem.with_demand(name, eligible=[c for c in demand.eligible if c in met_by])
    result = solve(trial, "highs", time_limit=10)
    if result.unplaced or result.value is None or placement.value is None:
        return None
    return result.value - placement.value
