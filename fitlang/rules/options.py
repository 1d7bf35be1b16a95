"""`options` of a workload (accelerator choices with a `throughput` each): what its replicas
deliver together reaches the workload's throughput; a gang uses one option only."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rule


def check(placed: Placed) -> Iterator[Diagnostic]:
    """(Or, where the placement reports the workload unplaced, nothing of it runs.)"""
    problem, count = placed.problem, placed.placed
    known = {d.name for d in problem.demands}  # not a pass over them per listed name
    unplaced = {problem.demand(name).workload for name in placed.unplaced if name in known}
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        delivered = sum((d.throughput * count[d.name] for d in members), Fraction(0))
        used = [d.option for d in members if count[d.name]]
        if delivered < group.required and (used or group.workload not in unplaced):
            yield placed.violation(
                f"`{group.workload}` delivers {float(delivered):g} of the {float(group.required):g} "
                "it needs (" + ", ".join(f"{d.option} x{count[d.name]} at {float(d.throughput):g} "
                                          "each" for d in members) + ")",
                group.origin)
        if group.gang and len(used) > 1:
            yield placed.violation(f"gang `{group.workload}` runs on options {', '.join(map(str, used))}: "
                                   "a gang uses one option", group.origin)


RULE = Rule("options", check=check)
