"""`exclusive = true` on a workload: a node that hosts one of its replicas hosts nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import PartKind, Placed, Rule, Stated
from fitlang.rules.explaining import demands_of, where

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair


def check(placed: Placed) -> Iterator[Diagnostic]:
    demands = placed.demands
    for node, counts in sorted(placed.hosted.items()):
        names = sorted(name for name, amount in counts.items() if amount)
        for name in names:
            if demands[name].exclusive and len(names) > 1:
                others = ", ".join(f"`{n}`" for n in names if n != name)
                yield placed.violation(f"`{name}` is exclusive but shares node `{node}` with {others}",
                                       demands[name].spans.get("exclusive", demands[name].origin))


def reason(problem: Problem, part: Part) -> Stated:
    demand = demands_of(problem, part.subject)[0]
    return Stated(f"`{part.subject}` has `exclusive = true`: no other workload may share its "
                  "nodes", demand.spans.get("exclusive", demand.origin))


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    from fitlang.solve.explain import search

    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    origin = reason(problem, part).origin
    return search.Repair(part, f"drop `exclusive = true` from `{part.subject}`{where(origin)}",
                         origin, None, None, check.cost)


RULE = Rule("exclusive", check=check,
            part_kind=PartKind.EXCLUSIVE, reason=reason, repairs=repairs)
