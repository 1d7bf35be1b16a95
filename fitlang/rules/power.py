"""`power_cap` blocks: the nodes in use in a scope (zone, region, labels) draw at most the cap."""

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
    problem, per_class = placed.problem, placed.used_per_class
    for cap in problem.power_caps:
        drawn = sum((problem.node_class(c).power_watts * per_class[c] for c in set(cap.classes)),
                    Fraction(0))
        if drawn > cap.cap_watts:
            yield placed.violation(f"nodes in {cap.scope} draw {float(drawn) / 1000:.1f} kW, over the cap "
                                   f"`{cap.name}` of {float(cap.cap_watts) / 1000:.1f} kW", cap.origin)


@dataclass(frozen=True)
class PowerGroup:
    """A power cap, by its index in `Problem.power_caps`."""

    index: int


def power_rows(encoding: Encoding) -> None:
    """Per power cap: the watts of the nodes in use in its classes <= the cap."""
    problem = encoding.problem
    for index, cap in enumerate(problem.power_caps):
        watts = {c.id: c.power_watts for c in problem.classes}
        terms: dict[int, Number] = {encoding.u[c]: watts[c] for c in cap.classes if watts[c]}
        if terms:
            encoding.model.add(terms, upper=cap.cap_watts, group=PowerGroup(index))


RULE = Rule("power", check=check, rows=Rows(limits=power_rows))
