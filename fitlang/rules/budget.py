"""`budget = X USD/h` in the policy: the nodes in use (hosting a replica, or bought) cost at
most that."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rows, Rule

if TYPE_CHECKING:
    from fitlang.solve.encode import Encoding
    from fitlang.solve.linear import Number


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem = placed.problem
    cost = sum((problem.node_class(c).price * k for c, k in placed.used_per_class.items()),
               Fraction(0))
    if problem.budget is not None and cost > problem.budget:
        yield placed.violation(f"the placement costs {float(cost):.2f} USD/h, over the budget of "
                               f"{float(problem.budget):.2f} USD/h", problem.budget_origin)


@dataclass(frozen=True)
class BudgetGroup:
    """The policy's hourly budget."""


def budget_rows(encoding: Encoding) -> None:
    """What the nodes in use cost per hour <= the budget."""
    problem = encoding.problem
    if problem.budget is not None:
        terms: dict[int, Number] = {encoding.u[c.id]: c.price for c in problem.classes if c.price}
        encoding.model.add(terms, upper=problem.budget, group=BudgetGroup())


RULE = Rule("budget", check=check, rows=Rows(limits=budget_rows))
