"""Preemptible (checkpointed) jobs (issue 19): a replica's `duration` may be split into
segments of at least `min_segment` steps, each inside the job's window, on any node it may use
(it resumes from its checkpoint), never two at once.

Columns, per replica r of a preemptible demand d, eligible class c and step t of d's window
(`add_columns`, called by `solve/timeline.encode` in place of d's start columns):
y[d,r,c,t] = 1 when r runs on c at t, s[d,r,c,t] = 1 when a segment of r starts on c at t.
The rows (`rows`, with their typed group keys), the min-up-time formulation of unit
commitment:

- work: sum over c, t of y[d,r,c,t] = duration;
- one place at a time: sum over c of y[d,r,c,t] <= 1;
- a segment starts where r begins to run on c: y[t] - y[t-1] - s[t] <= 0;
- each segment runs min_segment steps: sum of s over the last min_segment steps <= y[t]; a
  segment may start only where min_segment steps of the window are left (s has no column
  later).

The y columns enter the capacity rows as a running replica does. `segments` reads a solution
back as (class, start, end) segments per replica; `check` is `fitc verify`'s restatement over
the runs of a placement (each replica's runs add up to its duration, each at least
min_segment long, inside the window, none overlapping), sharing nothing with the rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import Demand
from fitlang.rules.base import GroupKey

if TYPE_CHECKING:  # solve comes after the rules
    from fitlang.rules.base import Placed
    from fitlang.rules.timing import Run
    from fitlang.solve.linear import Number
    from fitlang.solve.timeline import TimeEncoding


class SegmentColumn(Frozen):
    """The typed key of a y (`running`) or s (`starting`) column."""

    demand: str
    replica: int
    class_id: str
    step: int
    starting: bool


class PreemptWorkGroup(GroupKey, Frozen):
    """A preemptible replica runs its whole duration."""

    demand: str
    replica: int


class PreemptOnceGroup(GroupKey, Frozen):
    """A preemptible replica runs in one place at a step."""

    demand: str
    replica: int
    step: int


class PreemptSegmentGroup(GroupKey, Frozen):
    """A segment's start, and its least length, on one class at one step."""

    demand: str
    replica: int
    class_id: str
    step: int


def _steps(demand: Demand) -> range:
    window = demand.window
    assert window is not None
    return range(window.earliest, window.latest_start + window.duration)


def add_columns(encoding: TimeEncoding, demand: Demand, class_id: str, charge: tuple[int, ...]) -> None:
    """The y and s columns of every replica of `demand` on class `class_id`."""
    assert demand.min_segment is not None
    steps = _steps(demand)
    last_start = steps.stop - demand.min_segment
    for replica in range(demand.replicas):
        for step in steps:
            key = SegmentColumn(demand.name, replica, class_id, step, False)
            running = encoding.column(key, f"y[{demand.name},{replica},{class_id},{step}]")
            encoding.add_running(class_id, step, running, charge)
            if step <= last_start:
                encoding.column(SegmentColumn(demand.name, replica, class_id, step, True),
                                f"s[{demand.name},{replica},{class_id},{step}]")


def rows(encoding: TimeEncoding) -> None:
    for demand in encoding.problem.demands:
        if demand.min_segment is None:
            continue
        for replica in range(demand.replicas):
            _replica_rows(encoding, demand, replica)


def _replica_rows(encoding: TimeEncoding, demand: Demand, replica: int) -> None:
    window, least = demand.window, demand.min_segment
    assert window is not None and least is not None
    index, model = encoding.index, encoding.model
    steps = _steps(demand)
    classes = [c for c in demand.eligible
               if SegmentColumn(demand.name, replica, c, steps.start, False) in index]

    def y(class_id: str, step: int) -> int:
        return index[SegmentColumn(demand.name, replica, class_id, step, False)]

    def s(class_id: str, step: int) -> int | None:
        return index.get(SegmentColumn(demand.name, replica, class_id, step, True))

    work: dict[int, Number] = {y(c, t): 1 for c in classes for t in steps}
    if encoding.problem.allow_unplaced:  # the replica runs its whole duration, or not at all
        from fitlang.rules.timing import LeftOut  # (timing's rows import this module)

        work[encoding.column(LeftOut(demand.name, replica), f"out[{demand.name},{replica}]")] = \
            window.duration
    model.add(work, lower=window.duration, upper=window.duration,
              group=PreemptWorkGroup(demand.name, replica))
    if len(classes) > 1:
        for t in steps:
            model.add({y(c, t): 1 for c in classes}, upper=1,
                      group=PreemptOnceGroup(demand.name, replica, t))
    for c in classes:
        for t in steps:
            group = PreemptSegmentGroup(demand.name, replica, c, t)
            begins: dict[int, Number] = {y(c, t): 1}
            if t > steps.start:
                begins[y(c, t - 1)] = -1
            starting = s(c, t)
            if starting is not None:
                begins[starting] = -1
            model.add(begins, upper=0, group=group)
            recent = [s(c, k) for k in range(max(steps.start, t - least + 1), t + 1)]
            lasting: dict[int, Number] = {column: 1 for column in recent if column is not None}
            if lasting:
                lasting[y(c, t)] = -1
                model.add(lasting, upper=0, group=group)


def segments(encoding: TimeEncoding, solution: list) -> list[tuple[str, int, str, int, int]]:
    """(demand, replica, class, start, end) of each segment a solution runs: the maximal runs
    of consecutive steps a replica runs on one class."""
    found = []
    running: dict[tuple[str, int, str], list[int]] = {}
    for key, column in encoding.index.items():
        if isinstance(key, SegmentColumn) and not key.starting and solution[column]:
            running.setdefault((key.demand, key.replica, key.class_id), []).append(key.step)
    for (demand, replica, class_id), steps in sorted(running.items()):
        steps.sort()
        begin = steps[0]
        for previous, step in zip(steps, [*steps[1:], None]):
            if step != previous + 1:
                found.append((demand, replica, class_id, begin, previous + 1))
                begin = step if step is not None else begin
    return found


def start_values(encoding: TimeEncoding, demand: Demand, replica: int, class_id: str,
                 begin: int, end: int | None = None) -> dict[int, int]:
    """The columns of one run from `begin` to `end` (a schedule the greedy start finds: the
    replica unbroken, its duration; a node schedule: one of its segments)."""
    window = demand.window
    assert window is not None
    values = {encoding.index[SegmentColumn(demand.name, replica, class_id, begin, True)]: 1}
    for step in range(begin, begin + window.duration if end is None else end):
        values[encoding.index[SegmentColumn(demand.name, replica, class_id, step, False)]] = 1
    return values


def check(placed: Placed, runs: list[Run]) -> Iterator[Diagnostic]:
    """Each preemptible replica's runs: together its duration, each at least min_segment
    steps, inside its window, never two at once."""
    by_replica: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        if placed.demands[run.demand].min_segment is not None:
            by_replica.setdefault((run.demand, run.replica), []).append(run)
    for (name, replica), pieces in sorted(by_replica.items()):
        demand = placed.demands[name]
        yield from _replica(placed, demand, replica, sorted(pieces, key=lambda r: r.start))


def _replica(placed: Placed, demand: Demand, replica: int, pieces: list[Run]) -> Iterator[Diagnostic]:
    window, least = demand.window, demand.min_segment
    assert window is not None and least is not None
    what = f"`{demand.name}` replica {replica}"
    where = demand.spans.get("min_segment") or demand.spans.get("preemptible", demand.origin)
    total = sum(piece.end - piece.start for piece in pieces)
    if total != window.duration:
        yield placed.violation(f"{what} runs {total} steps in {len(pieces)} segments; its "
                               f"duration is {window.duration}", demand.spans.get("duration", where))
    for piece in pieces:
        if piece.end - piece.start < least:
            yield placed.violation(f"{what} runs a segment of {piece.end - piece.start} steps from "
                                   f"step {piece.start}, shorter than its min_segment of {least}",
                                   where)
        if piece.start < window.earliest or piece.end > window.latest_start + window.duration:
            yield placed.violation(f"{what} runs from step {piece.start} to {piece.end}, outside "
                                   f"its window (steps {window.earliest} to "
                                   f"{window.latest_start + window.duration})", where)
    for first, second in itertools.pairwise(pieces):
        if second.start < first.end:
            yield placed.violation(f"{what} runs twice at once: at step {second.start} on "
                                   f"`{first.node}` and `{second.node}`", where)
