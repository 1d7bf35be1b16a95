"""`fitc solve`'s timeline step by step (issue 19): per pool, one lane per workload, one
character per step, so that what runs when reads at a glance. For horizons of up to
`MAX_STEPS` steps; longer ones are summed per day only (timeline_report's day table).

    per step (1 h each, times in UTC; a digit: replicas running then, *: 10 or more, .: none)
    pool  workload        12:00 18:00 00:00 06:00
    h100  (nodes in use)  111111111122222222222211
    h100  inference       111111111111111111111111
    h100  train_vision    ..........1111..........
"""

from __future__ import annotations

from datetime import UTC
from fractions import Fraction

from fitlang.model.problem import Problem
from fitlang.solve.placement import Placement

MAX_STEPS = 96  # a lane per step fits a wide terminal up to four days of hours
TICK = 6  # a time label every this many steps
NODES = "(nodes in use)"  # each pool's first lane


def lanes(problem: Problem, placement: Placement) -> list[str]:
    """The lanes, with their header; [] for a long horizon or nothing placed."""
    from fitlang.solve.report import _aligned
    from fitlang.solve.timeline import instant

    timeline = problem.timeline
    if timeline is None or timeline.steps > MAX_STEPS or not placement.assignments:
        return []
    owners = problem.owners()
    running: dict[tuple[str, str], list[int]] = {}
    nodes: dict[str, list[set[str]]] = {}  # pool -> per step, its nodes in use
    for assignment in placement.assignments:
        pool = owners[assignment.node].id
        counts = running.setdefault((pool, assignment.workload), [0] * timeline.steps)
        in_use = nodes.setdefault(pool, [set() for _ in range(timeline.steps)])
        for step in range(getattr(assignment, "start", 0), getattr(assignment, "end", 0)):
            counts[step] += 1
            in_use[step].add(assignment.node)
    order = {c.id: index for index, c in enumerate(problem.classes)}
    # in UTC, as the day table and each run's start and end are (a start at +01:00 labelled
    # its first step 00:00 beside runs stated at 13:00Z)
    ticks = "".join(f"{instant(timeline, s).astimezone(UTC):%H:%M}".ljust(TICK)[:TICK]
                    for s in range(0, timeline.steps, TICK)).rstrip()
    rows: list[tuple[str, ...]] = [("pool", "workload", ticks)]
    for pool in sorted(nodes, key=order.__getitem__):
        rows.append((pool, NODES, "".join(_cell(len(n)) for n in nodes[pool])))
        rows += [(pool, workload, "".join(_cell(n) for n in running[pool, workload]))
                 for p, workload in sorted(running) if p == pool]
    hours = Fraction(timeline.step_seconds, 3600)
    return [f"per step ({float(hours):g} h each, times in UTC; a digit: replicas running then, *: 10 or "
            "more, .: none)", *_aligned(rows), ""]


def _cell(replicas: int) -> str:
    return "." if replicas == 0 else str(replicas) if replicas < 10 else "*"
