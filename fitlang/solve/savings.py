"""What running on Arm saved: the same policy solved with arm64 nodes ruled out, compared."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from fitlang.model.problem import Problem
from fitlang.solve.placement import Placement, solve


def arm_saving(problem: Problem, placement: Placement) -> Fraction | None:
    """The objective's increase without arm64 nodes (None: no Arm node in use, or no
    placement of everything without them)."""
    arm = {c.id for c in problem.classes if c.arch == "arm64"}
    owners = problem.owners()
    if placement.value is None or not any(owners[a.node].id in arm for a in placement.assignments):
        return None
    trial = dataclasses.replace(problem, demands=[
        dataclasses.replace(d, eligible=[c for c in d.eligible if c not in arm])
        for d in problem.demands])
    without = solve(trial, "highs", time_limit=10)
    if without.unplaced or without.value is None:
        return None
    return without.value - placement.value
