"""`budget = X USD/h` in the policy: the nodes in use (hosting a replica, or bought) cost at
most that."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.rules.base import CheckReads, GroupKey, PartKind, Placed, Rows, Rule, Stated
from fitlang.rules.explaining import money

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.linear import Number


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem = placed.problem
    cost = sum((problem.node_class(c).price * k for c, k in placed.used_per_class.items()),
               Fraction(0))
    if problem.budget is not None and cost > problem.budget:
        yield placed.violation(f"the placement costs {float(cost):.2f} USD/h, over the budget of "
                               f"{float(problem.budget):.2f} USD/h", problem.budget_origin)


class BudgetGroup(GroupKey, Frozen):
    """The policy's hourly budget."""


def budget_rows(encoding: Encoding) -> None:
    """What the nodes in use cost per hour <= the budget."""
    problem = encoding.problem
    if problem.budget is not None:
        terms: dict[int, Number] = {encoding.u[c.id]: c.price for c in problem.classes if c.price}
        encoding.model.add(terms, upper=problem.budget, group=BudgetGroup())


def reason(problem: Problem, part: Part) -> Stated:
    return Stated(f"the budget is {money(problem.budget)} USD/h", problem.budget_origin)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """The cost of the cheapest placement without a budget, in whole cents rounded up."""
    from fitlang.solve.explain import search

    # minimised at every size: the cost of any placement found would be a budget, not the least
    least = search.cheapest(dataclasses.replace(problem, budget=None), deadline)
    if not least.placed or least.cost is None:
        return None
    # in whole cents, rounded up: a budget rounded down would not allow the placement
    cents = math.ceil(least.cost * 100)
    budget = Fraction(cents, 100)
    check = search.cheapest(dataclasses.replace(problem, budget=budget), deadline)
    if not check.placed:
        return None
    shown = f"{cents // 100}.{cents % 100:02d}"
    text = f"raise the budget from {money(problem.budget)} to {shown} USD/h"
    return search.Repair(part, text, problem.budget_origin, f"{money(problem.budget)} USD/h",
                         f"{shown} USD/h", check.cost,
                         search.fix(text, problem.budget_origin, f"{shown} USD/h"), value=budget,
                         checked=check)


RULE = Rule("budget", check=check, rows=Rows(limits=budget_rows), part_kind=PartKind.BUDGET,
            check_reads=CheckReads.FLEET,
            reason=reason, repairs=repairs)
