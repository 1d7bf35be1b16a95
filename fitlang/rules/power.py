"""`power_cap` blocks: the nodes in use in a scope (zone, region, labels) draw at most the cap."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.rules.base import CheckReads, GroupKey, PartKind, Placed, Rows, Rule, Stated

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.linear import Number


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem, per_class = placed.problem, placed.used_per_class
    for cap in problem.power_caps:
        drawn = sum((problem.node_class(c).power_watts * per_class[c] for c in set(cap.classes)),
                    Fraction(0))
        if drawn > cap.cap_watts:
            yield placed.violation(f"nodes in {cap.scope} draw {float(drawn) / 1000:.1f} kW, over the cap "
                                   f"`{cap.name}` of {float(cap.cap_watts) / 1000:.1f} kW", cap.origin)


class PowerGroup(GroupKey, Frozen):
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


def reason(problem: Problem, part: Part) -> Stated:
    cap = problem.power_caps[part.position]
    return Stated(f"power cap `{cap.name}` allows {float(cap.cap_watts) / 1000:g} kW in "
                  f"{cap.scope}", cap.origin)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """A higher cap, in whole kW: the least that works."""
    from fitlang.solve.explain import search

    index = part.position
    cap = problem.power_caps[index]

    def works(extra_kw: int) -> search.Check:
        caps = list(problem.power_caps)
        caps[index] = dataclasses.replace(cap, cap_watts=cap.cap_watts + 1000 * extra_kw)
        trial = dataclasses.replace(problem, power_caps=caps)
        return search.works(trial, deadline, cheapest=True)

    found = search.smallest(works, 1, 10 ** 6, deadline)
    if found is None:
        return None
    before = float(cap.cap_watts) / 1000
    text = f"raise power cap `{cap.name}` from {before:g} kW to {before + found[0]:g} kW"
    return search.Repair(part, text, cap.origin, f"{before:g}kW", f"{before + found[0]:g}kW",
                         found[1].cost, checked=found[1])


RULE = Rule("power", check=check, rows=Rows(limits=power_rows), part_kind=PartKind.POWER,
            check_reads=CheckReads.FLEET,
            reason=reason, repairs=repairs)
