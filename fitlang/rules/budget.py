"""`budget = X USD/h` in the policy: the nodes in use (hosting a replica, or bought) cost at
most that."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rule


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem = placed.problem
    cost = sum((problem.node_class(c).price * k for c, k in placed.used_per_class.items()),
               Fraction(0))
    if problem.budget is not None and cost > problem.budget:
        yield placed.violation(f"the placement costs {float(cost):.2f} USD/h, over the budget of "
                               f"{float(problem.budget):.2f} USD/h", problem.budget_origin)


RULE = Rule("budget", check=check)
