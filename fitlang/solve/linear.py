"""A small integer linear model that both backends read: HiGHS (scipy) and Z3.

Constraints carry a `group` (what rule of the policy produced them) so that Z3's
unsat cores can be translated back into source terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Union

Number = Union[int, Fraction]
Value = Union[int, float]  # of a variable in a solution


@dataclass
class Variable:
    index: int
    name: str
    lower: int
    upper: int
    integer: bool = True


@dataclass
class Constraint:
    terms: dict[int, Number]
    lower: Number | None
    upper: Number | None
    group: str


@dataclass
class LinearModel:
    variables: list[Variable] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    by_name: dict[str, int] = field(default_factory=dict)

    def var(self, name: str, lower: int, upper: int) -> int:
        index = len(self.variables)
        self.variables.append(Variable(index, name, lower, max(lower, upper)))
        self.by_name[name] = index
        return index

    def add(self, terms: dict[int, Number] | Iterable[tuple[int, Number]], lower: Number | None = None,
            upper: Number | None = None, group: str = "") -> None:
        merged: dict[int, Number] = {}
        for index, coefficient in (terms.items() if isinstance(terms, dict) else terms):
            merged[index] = merged.get(index, 0) + coefficient
        merged = {i: c for i, c in merged.items() if c != 0}
        self.constraints.append(Constraint(merged, lower, upper, group))

    def value(self, terms: dict[int, Number], solution: list[Value]) -> Fraction:
        return sum((Fraction(c) * Fraction(solution[i]) for i, c in terms.items()), Fraction(0))


@dataclass
class Outcome:
    status: str  # optimal, feasible, infeasible, unknown
    # integer variables as int; continuous ones as float (see `Variable.integer`)
    solution: list[Value] | None = None
    objective: Fraction | None = None
    bound: Fraction | None = None
    core: list[str] = field(default_factory=list)
