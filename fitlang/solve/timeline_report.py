"""`fitc solve`'s text report of a placement in time (issue 19): per day and pool, the nodes in
use, the work running, the energy and the cost; each run's start and end; the power caps' peak."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from fitlang.model.problem import PowerScope, Problem, Timeline
from fitlang.solve.linear import Status
from fitlang.solve.placement import Placement
from fitlang.solve.report import _aligned, _grouped_unplaced
from fitlang.solve.timeline import instant, iso
from fitlang.solve.timeline_lanes import lanes

SHOWN_RUNS = 40  # runs listed one per line; the JSON has them all


@dataclass
class _Day:
    node_steps: int = 0
    peak: int = 0
    kwh: Fraction = Fraction(0)
    cost: Fraction = Fraction(0)
    carbon: Fraction = Fraction(0)  # kgCO2e
    work: set[str] = field(default_factory=set)


def _runs(placement: Placement) -> list[tuple[str, int, str, int, int]]:
    return [(a.workload, a.replica, a.node, getattr(a, "start", 0), getattr(a, "end", 0))
            for a in placement.assignments]


def in_use_per_step(problem: Problem, placement: Placement) -> list[dict[str, set[str]]]:
    """Per step: class id -> its nodes hosting a run then."""
    timeline = problem.timeline
    assert timeline is not None
    owners = problem.owners()
    steps: list[dict[str, set[str]]] = [{} for _ in range(timeline.steps)]
    for _, _, node, start, end in _runs(placement):
        for step in range(start, end):
            steps[step].setdefault(owners[node].id, set()).add(node)
    return steps


def _days(problem: Problem, timeline: Timeline, placement: Placement) -> dict[tuple[str, str], _Day]:
    hours = Fraction(timeline.step_seconds, 3600)
    per_step = in_use_per_step(problem, placement)
    running: list[set[str]] = [set() for _ in range(timeline.steps)]
    owners = problem.owners()
    work_on: dict[tuple[int, str], set[str]] = {}
    for workload, _, node, start, end in _runs(placement):
        for step in range(start, end):
            running[step].add(workload)
            work_on.setdefault((step, owners[node].id), set()).add(workload)
    days: dict[tuple[str, str], _Day] = {}
    for step, classes in enumerate(per_step):
        day = iso(instant(timeline, step))[:10]
        for class_id, nodes in classes.items():
            node_class = problem.node_class(class_id)
            row = days.setdefault((day, class_id), _Day())
            row.node_steps += len(nodes)
            row.peak = max(row.peak, len(nodes))
            row.kwh += node_class.power_watts * len(nodes) * hours / 1000
            row.cost += node_class.price_at(step) * len(nodes) * hours
            row.carbon += node_class.carbon_at(step) * len(nodes) * hours
            row.work |= work_on.get((step, class_id), set())
    return days


def timed_text(problem: Problem, placement: Placement) -> str:
    timeline = problem.timeline
    assert timeline is not None
    hours = Fraction(timeline.step_seconds, 3600)
    lines = [f"status: {placement.status} (solver: {placement.backend}, "
             f"{placement.seconds:.2f} s)", "",
             f"timeline: {timeline.steps} steps of {float(hours):g} h from "
             f"{iso(timeline.start)}"]
    carbon = any(c.step_carbon for c in problem.classes)  # a grid states its carbon
    rows: list[tuple[str, ...]] = [("day", "pool", "node-hours", "peak nodes", "energy", "cost",
                                    *(("carbon",) if carbon else ()), "runs")]
    total = Fraction(0)
    days = _days(problem, timeline, placement)
    for (day, class_id), row in sorted(days.items()):
        total += row.cost
        rows.append((day, class_id, f"{float(row.node_steps * hours):g}", str(row.peak),
                     f"{float(row.kwh):.1f} kWh", f"{float(row.cost):.2f} USD",
                     *((f"{float(row.carbon):.2f} kgCO2e",) if carbon else ()),
                     ", ".join(sorted(row.work))))
        if (day, class_id) == max(key for key in days if key[0] == day):
            rows += _day_total(day, [r for (d, _), r in days.items() if d == day], hours, carbon)
    lines += _aligned(rows, header=True) if len(rows) > 1 else ["no node in use"]
    lines.append("")
    lines += lanes(problem, placement)
    runs = sorted(_runs(placement), key=lambda r: (r[3], r[0], r[1]))
    shown: list[tuple[str, ...]] = [("workload", "replica", "node", "start", "end")]
    for workload, replica, node, start, end in runs[:SHOWN_RUNS]:
        shown.append((workload, str(replica), node, iso(instant(timeline, start)),
                      iso(instant(timeline, end))))
    if runs:
        lines += _aligned(shown, header=True)
        if len(runs) > SHOWN_RUNS:
            lines.append(f"... and {len(runs) - SHOWN_RUNS} more runs (--format json lists them all)")
        lines.append("")
    wanted = sum(d.replicas for d in problem.demands)
    placed = len({(a.workload, a.replica) for a in placement.assignments})  # segments: once
    lines.append(f"replicas placed: {placed}/{wanted}")
    if placement.status in (Status.OPTIMAL, Status.FEASIBLE):
        lines.append(f"cost over the horizon: {float(total):.2f} USD")
        lines += _carbon_lines(problem, placement)
    if placement.value is not None:
        bound = "unknown" if placement.bound is None else f"{float(placement.bound):.4f}"
        gap = "unknown" if placement.gap is None else f"{placement.gap:.2%}"
        lines.append(f"objective: {placement.objective} = {float(placement.value):.4f} "
                     f"{placement.unit}; lower bound {bound}; gap {gap} (optimal means a gap "
                     f"within {placement.tolerance:.2%})")
    for unplaced in _grouped_unplaced(placement):
        lines.append(f"unplaced: {unplaced}")
    lines += _power_lines(problem, placement)
    return "\n".join(lines) + "\n"


def _carbon_lines(problem: Problem, placement: Placement) -> list[str]:
    """Where a grid states its carbon intensity: what the nodes in use emit (issue 19)."""
    if not any(c.step_carbon for c in problem.classes):
        return []
    from fitlang.solve.timeline import horizon_value

    emitted = horizon_value(problem, placement.assignments, "carbon")  # type: ignore[arg-type]
    budget = "" if problem.carbon_budget is None else \
        f" (budget {float(problem.carbon_budget):.2f} kgCO2e)"
    return [f"carbon over the horizon: {float(emitted):.2f} kgCO2e{budget}"]

def _day_total(day: str, rows: list[_Day], hours: Fraction, carbon: bool) -> list[tuple[str, ...]]:
    """A day's sum over its pools, where it has more than one."""
    if len(rows) < 2:
        return []
    return [(day, "(all pools)", f"{float(sum(r.node_steps for r in rows) * hours):g}", "",
             f"{float(sum(r.kwh for r in rows)):.1f} kWh",
             f"{float(sum(r.cost for r in rows)):.2f} USD",
             *((f"{float(sum(r.carbon for r in rows)):.2f} kgCO2e",) if carbon else ()), "")]


def _power_lines(problem: Problem, placement: Placement) -> list[str]:
    lines = []
    for cap in problem.power_caps:
        drawn = power_per_step(problem, placement, cap)
        peak = max(drawn, default=Fraction(0))
        at = drawn.index(peak) if drawn else 0
        lines.append(f"power {cap.name} ({cap.scope}): peak {float(peak) / 1000:.1f} kW of "
                     f"{float(cap.cap_at(at)) / 1000:.1f} kW (step {at})")
    return lines


def power_per_step(problem: Problem, placement: Placement, cap: PowerScope) -> list[Fraction]:
    """Watts drawn under a power cap at each step: its nodes in use then, at their draw."""
    return [sum((problem.node_class(c).power_watts * len(nodes)
                 for c, nodes in step.items() if c in cap.classes), Fraction(0))
            for step in in_use_per_step(problem, placement)]
