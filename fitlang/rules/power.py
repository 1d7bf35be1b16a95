"""`power_cap` blocks: the nodes in use in a scope (zone, region, labels) draw at most the cap."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rule


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem, per_class = placed.problem, placed.used_per_class
    for cap in problem.power_caps:
        drawn = sum((problem.node_class(c).power_watts * per_class[c] for c in set(cap.classes)),
                    Fraction(0))
        if drawn > cap.cap_watts:
            yield placed.violation(f"nodes in {cap.scope} draw {float(drawn) / 1000:.1f} kW, over the cap "
                                   f"`{cap.name}` of {float(cap.cap_watts) / 1000:.1f} kW", cap.origin)


RULE = Rule("power", check=check)
