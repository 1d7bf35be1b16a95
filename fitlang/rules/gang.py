"""`gang = true` on a workload: all its replicas are placed or none, in one cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import PartKind, Placed, Rule, Stated
from fitlang.rules.explaining import option_group, where

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair


def check(placed: Placed) -> Iterator[Diagnostic]:
    for demand in placed.problem.demands:
        if not demand.gang:
            continue
        where = demand.spans.get("gang", demand.origin)
        count = placed.placed[demand.name]
        if count not in (0, demand.replicas):
            yield placed.violation(f"gang `{demand.name}` has {count} of {demand.replicas} replicas "
                                   "placed: all or none", where)
        clusters = sorted({placed.owner[node].cluster
                           for node in placed.placed_on.get(demand.name, ())})
        if len(clusters) > 1:
            yield placed.violation(f"gang `{demand.name}` runs in clusters {', '.join(clusters)}: a gang "
                                   "runs in one cluster", where)


def reason(problem: Problem, part: Part) -> Stated:
    group = option_group(problem, part.subject)
    first = problem.demand(group.demands[0])
    return Stated(f"workload `{part.subject}` must run all its replicas on one option "
                  "(`gang = true`)", first.spans.get("gang", group.origin))


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    from fitlang.solve.explain import search

    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    origin = reason(problem, part).origin
    return search.Repair(part, f"drop `gang = true` from `{part.subject}`{where(origin)}: let it "
                         "mix options", origin, None, None, check.cost)


RULE = Rule("gang", check=check,
            part_kind=PartKind.GANG, reason=reason, repairs=repairs)
