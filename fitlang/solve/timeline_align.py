"""A tie-break among schedules of equal value: a recurring job's runs at one offset from their
releases (issue 19), so that one cron schedule fires at exactly the solved starts and the
Kubernetes target writes a CronJob instead of suspended Jobs (W0953).

After the solve, each recurring job whose runs start at different offsets from their releases
is tried at one offset for all its runs, each run on the nodes it has: the offsets its runs use
first (the most used first), then the others in order. A shift is kept only where every
objective of the policy has exactly the value it had (recomputed over the horizon, as
fractions) and `verify`, the independent check, finds nothing: so the tie-break never changes
the value the solver reached, nor its bound. Cheap checks come first (the run stays in its
window, the nodes' capacity at each step of it, the objective's change on the nodes it uses);
`verify` runs once per shift that passes them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from fitlang.model.problem import RESOURCES, Demand, Problem

if TYPE_CHECKING:  # timeline.py imports this module
    from fitlang.solve.timeline import TimedPlacement


def aligned(problem: Problem, placement: TimedPlacement, objectives: list[str],
            deadline: float | None = None) -> TimedPlacement:
    """`placement` with each recurring job's runs at one offset where that is a tie; no
    shift is tried past `deadline` (the solve's time limit: at 1,000 x 168 x 1,000 the
    shifts' checks took 2.6 CPU s, past a 30 s limit)."""
    if problem.timeline is None or placement.unplaced or not placement.assignments:
        return placement
    clock = _Clock(deadline, TRIAL_SECONDS_PER_ASSIGNMENT * len(placement.assignments))
    for demand in problem.demands:
        if len(demand.runs) > 1 and demand.min_segment is None:
            placement = _align(problem, placement, demand, objectives, clock)
    return placement


# what one trial of a shift takes (its `verify` of the whole schedule, mostly) per assignment,
# before one is timed: 1.2 CPU s for 7,523 at the goal size (1,000 x 168 x 1,000), rounded up
TRIAL_SECONDS_PER_ASSIGNMENT = 2e-4


@dataclasses.dataclass
class _Clock:
    """The deadline, and the longest trial of a shift yet (at first, an estimate): none is
    begun that would end past the deadline at that length."""

    deadline: float | None
    longest: float = 0.0

    def room(self, now: float) -> bool:
        return self.deadline is None or now + self.longest <= self.deadline

    def took(self, began: float) -> None:
        self.longest = max(self.longest, time.monotonic() - began)


def _align(problem: Problem, placement: TimedPlacement, demand: Demand,
           objectives: list[str], clock: _Clock) -> TimedPlacement:
    starts = _run_starts(placement, demand)
    if starts is None:
        return placement
    offsets = [start - window.earliest for window, start in zip(demand.runs, starts)]
    if len(set(offsets)) == 1:
        return placement
    for offset in _candidates(demand, offsets):
        began = time.monotonic()
        if not clock.room(began):
            return placement
        trial = _shifted(placement, demand, offset)
        found = _fits(problem, trial, demand) and \
            _same_value(problem, placement, trial, demand, objectives) and verified(problem, trial)
        clock.took(began)
        if found:
            return trial
    return placement


def _run_starts(placement: TimedPlacement, demand: Demand) -> list[int] | None:
    """Each run's start; None where a run's replicas start apart or a run is missing."""
    per_run: dict[int, set[int]] = {}
    for a in placement.assignments:
        if a.workload == demand.name:
            per_run.setdefault(a.replica // max(1, demand.replicas_per_run), set()).add(a.start)
    if sorted(per_run) != list(range(len(demand.runs))) or any(len(s) != 1 for s in per_run.values()):
        return None
    return [per_run[run].pop() for run in range(len(demand.runs))]


def _candidates(demand: Demand, offsets: list[int]) -> list[int]:
    """The offsets every run's window allows: those the runs use (the most used first), then
    the others, earliest first."""
    slack = min(window.latest_start - window.earliest for window in demand.runs)
    used = Counter(offsets)
    return sorted(range(slack + 1), key=lambda offset: (-used[offset], offset))


def _shifted(placement: TimedPlacement, demand: Demand, offset: int) -> TimedPlacement:
    moved = []
    for a in placement.assignments:
        if a.workload == demand.name:
            window = demand.runs[a.replica // max(1, demand.replicas_per_run)]
            start = window.earliest + offset
            a = dataclasses.replace(a, start=start, end=start + (a.end - a.start))
        moved.append(a)
    return dataclasses.replace(placement, assignments=moved)


def _fits(problem: Problem, trial: TimedPlacement, demand: Demand) -> bool:
    """The nodes the job uses hold what runs on them at each step (a first, cheap check)."""
    owners = problem.owners()
    nodes = {a.node for a in trial.assignments if a.workload == demand.name}
    used: dict[tuple[str, int], Counter] = {}
    for a in trial.assignments:
        if a.node in nodes:
            requests = problem.demand(a.workload).requests
            for step in range(a.start, a.end):
                used.setdefault((a.node, step), Counter()).update(
                    {r: requests[r] for r in RESOURCES})
    return all(used_there[r] <= owners[node].capacity_of(node)[r]  # (a class's nodes differ)
               for (node, _), used_there in used.items() for r in RESOURCES)


def _same_value(problem: Problem, placement: TimedPlacement, trial: TimedPlacement, demand: Demand,
                objectives: Iterable[str]) -> bool:
    """Every objective exactly as it was. Cost and carbon are sums over the nodes in use at
    each step: only the nodes the job uses can change; the others are recounted whole."""
    from fitlang.solve.timeline import horizon_value

    nodes = {a.node for a in placement.assignments if a.workload == demand.name}
    for name in objectives:
        before, after = placement.assignments, trial.assignments
        if name in ("cost", "carbon"):
            before = [a for a in before if a.node in nodes]
            after = [a for a in after if a.node in nodes]
        if horizon_value(problem, after, name) != horizon_value(problem, before, name):
            return False
    return True


def verified(problem: Problem, trial: TimedPlacement) -> bool:
    """Whether `verify`, the independent check, finds nothing in a schedule."""
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    violations, problems = verify(problem, json.loads(as_json(problem, trial, [])))
    return not violations and not problems
