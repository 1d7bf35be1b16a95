"""When jobs finish (issue 19): the objectives `makespan` (hours until the last job ends) and
`lateness` (hours each job's replicas end past its soft `due`, summed), and `verify`'s
recount of both from the runs of a placement. Services run the whole horizon and count in
neither.

Makespan: binaries f[t], "some job runs at step t or later", monotone (f[t] >= f[t+1]); a
replica started at s for D steps forces f[s+D-1] (x[d,c,s] <= replicas x f[s+D-1]), a
preemptible replica running at t forces f[t]; the makespan is sum over t of f[t] x the step's
hours. Lateness: a replica started at s ends at (s+D) steps, known per start column, so its
lateness is a constant coefficient of x[d,c,s]; a preemptible replica's end is its last
segment's, so it has binaries z[t], "still running at step t or later", monotone, forced by
its running columns: its lateness is sum over t of z[t] x the hours of step t past `due`.

The columns and rows are made the first time the objective is asked for (a lexicographic list
asks again: the same columns come back).
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.frozen import Frozen
from fitlang.model.problem import Demand, Problem
from fitlang.rules.base import GroupKey
from fitlang.rules.preemption import SegmentColumn

if TYPE_CHECKING:  # solve comes after the rules
    from fitlang.rules.timing import Run
    from fitlang.solve.linear import Number
    from fitlang.solve.timeline import TimeEncoding


class Busy(Frozen):
    """The typed key of f[t] (`replica` None: any job) or of a preemptible replica's z[t]."""

    step: int
    demand: str | None = None
    replica: int | None = None


class CompletionGroup(GroupKey, Frozen):
    """What a `Busy` column holds: its order over the steps, and the runs that force it."""

    step: int
    demand: str | None = None
    replica: int | None = None


def makespan_terms(encoding: TimeEncoding) -> dict[int, Number]:
    steps = encoding.timeline.steps
    if Busy(0) not in encoding.index:
        _busy_columns(encoding, None, None, range(steps))
        for (name, _, start), column in encoding.x.items():
            demand = encoding.problem.demand(name)
            if demand.job:
                last = start + demand.windows[0].duration - 1
                encoding.model.add({column: 1, encoding.index[Busy(last)]: -demand.replicas_per_run},
                                   upper=0, group=CompletionGroup(last))
        _segments_force(encoding, lambda key: Busy(key.step))
    hours = Fraction(encoding.timeline.step_seconds, 3600)
    return {encoding.index[Busy(t)]: hours for t in range(steps)}


def lateness_terms(encoding: TimeEncoding) -> dict[int, Number]:
    problem, timeline = encoding.problem, encoding.timeline
    terms: dict[int, Number] = {}
    for (name, _, start), column in encoding.x.items():
        demand = problem.demand(name)
        if demand.due_seconds is not None:
            end = (start + demand.windows[0].duration) * timeline.step_seconds
            if end > demand.due_seconds:
                terms[column] = Fraction(end - demand.due_seconds) / 3600
    for demand in problem.demands:
        if demand.min_segment is None or demand.due_seconds is None:
            continue
        for replica in range(demand.replicas):
            terms.update(_late_replica(encoding, demand, replica))
    return terms


def _late_replica(encoding: TimeEncoding, demand: Demand, replica: int) -> dict[int, Number]:
    """z[t] of one preemptible replica, weighted by the hours of step t past its due time."""
    window, due = demand.window, demand.due_seconds
    assert window is not None and due is not None
    step_seconds = encoding.timeline.step_seconds
    steps = range(window.earliest, window.latest_start + window.duration)
    if Busy(steps.start, demand.name, replica) not in encoding.index:
        _busy_columns(encoding, demand.name, replica, steps)
        _segments_force(encoding, lambda key: Busy(key.step, key.demand, key.replica),
                        (demand.name, replica))
    terms: dict[int, Number] = {}
    for t in steps:
        past = max(Fraction(0), (t + 1) * step_seconds - max(due, Fraction(t * step_seconds))) / 3600
        if past > 0:
            terms[encoding.index[Busy(t, demand.name, replica)]] = past
    return terms


def _busy_columns(encoding: TimeEncoding, demand: str | None, replica: int | None,
                  steps: range) -> None:
    for t in steps:
        encoding.column(Busy(t, demand, replica), f"busy[{demand or '*'},{replica},{t}]")
    for t in steps[:-1]:
        later, now = encoding.index[Busy(t + 1, demand, replica)], encoding.index[Busy(t, demand, replica)]
        encoding.model.add({later: 1, now: -1}, upper=0, group=CompletionGroup(t, demand, replica))


def _segments_force(encoding: TimeEncoding, busy_of, only: tuple[str, int] | None = None) -> None:
    """A preemptible replica running on any class at t forces its Busy column at t."""
    for key, column in list(encoding.index.items()):
        if not isinstance(key, SegmentColumn) or key.starting:
            continue
        if only is not None and (key.demand, key.replica) != only:
            continue
        busy = encoding.index[busy_of(key)]
        encoding.model.add({column: 1, busy: -1}, upper=0,
                           group=CompletionGroup(key.step, key.demand, key.replica))


def makespan(problem: Problem, runs: list[Run]) -> Fraction:
    """Hours from the horizon's start until the last job's run ends."""
    timeline = problem.timeline
    assert timeline is not None
    ends = [run.end for run in runs if problem.demand(run.demand).job]
    return Fraction(max(ends, default=0) * timeline.step_seconds, 3600)


def lateness(problem: Problem, runs: list[Run]) -> Fraction:
    """Hours each replica with a due time ends past it (its last segment's end), summed."""
    timeline = problem.timeline
    assert timeline is not None
    ends: dict[tuple[str, int], int] = {}
    for run in runs:
        key = (run.demand, run.replica)
        ends[key] = max(ends.get(key, 0), run.end)
    total = Fraction(0)
    for (name, _), end in sorted(ends.items()):
        due = problem.demand(name).due_seconds
        if due is not None:
            total += max(Fraction(0), Fraction(end * timeline.step_seconds) - due) / 3600
    return total
