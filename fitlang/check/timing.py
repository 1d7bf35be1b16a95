"""Time in the checker (issue 19): the policy's horizon, workloads' windows, prices per step.

`policy { horizon = 7d  step = 1h  start = "2026-12-01T00:00Z" }` gives a `Horizon`; a
workload's `duration`, `earliest` and `deadline` are checked against it once the whole
program is known (`check_timing`), since the policy may come after the workloads or from
another file. An instant is an ISO 8601 date-time with its UTC offset: one without is a
different instant on each machine, so it is refused.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from fitlang import messages as msg
from fitlang.check.program import Horizon, Inventory, Origin, Pool, Program, TimePoint, Workload
from fitlang.check.recurrence import Run, runs_of
from fitlang.diagnostics import Diagnostic


def parse_instant(text: str) -> tuple[datetime | None, str]:
    """(the instant, "") or (None, why not): ISO 8601 with a date, a time and a UTC offset."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        return None, ""
    if "T" not in text and " " not in text.strip():
        return None, ": it has no time of day"
    if instant.tzinfo is None or instant.utcoffset() is None:
        return None, ": it has no UTC offset (`Z` or `+01:00`)"
    return instant, ""


def horizon_of(horizon: Fraction | None, step: Fraction | None, start: str | None,
               spans: dict[str, Origin], origin: Origin) -> tuple[Horizon | None, list[Diagnostic]]:
    """The policy's horizon from its three attributes, or the diagnostics that prevent it."""
    stated = {"horizon": horizon, "step": step, "start": start}
    if all(value is None for value in stated.values()) and not any(k in spans for k in stated):
        return None, []
    missing = [f"`{name}`" for name, value in stated.items() if name not in spans]
    if missing:
        return None, [msg.HorizonIncomplete(missing=" and ".join(missing)).diagnostic(
            origin.path, origin.span)]
    if horizon is None or step is None or start is None:
        return None, []  # a wrong value, already reported
    instant, detail = parse_instant(start)
    problems = []
    if instant is None:
        where = spans["start"]
        problems.append(msg.InvalidDateTime(text=start, detail=detail).diagnostic(where.path, where.span))
    if step.denominator != 1 or horizon % step:
        where = spans["horizon"]
        problems.append(msg.HorizonNotWholeSteps(horizon=_shown(horizon), step=_shown(step)).diagnostic(
            where.path, where.span))
    if problems or instant is None:
        return None, problems
    return Horizon(instant, int(step), int(horizon // step)), []


def time_point(value: object, found: str, where: Origin,
               attribute: str) -> tuple[TimePoint | None, Diagnostic | None]:
    """`earliest`/`deadline`: a duration after the start (seconds) or an instant."""
    if isinstance(value, str):
        instant, detail = parse_instant(value)
        if instant is None:
            return None, msg.InvalidDateTime(text=value, detail=detail).diagnostic(where.path, where.span)
        return instant, None
    if isinstance(value, Fraction) and found == "time":
        if value < 0:
            return None, msg.TimeValueInvalid(attribute=attribute, found="a negative duration").diagnostic(
                where.path, where.span)
        return value, None
    return None, msg.TimeValueInvalid(attribute=attribute, found=found or "a plain number").diagnostic(
        where.path, where.span)


def check_timing(program: Program) -> Iterator[Diagnostic]:
    """Timing against the horizon: attributes without one, windows that cannot hold their
    job, rules the time model does not handle yet, prices per step without a horizon."""
    horizon = program.policy.horizon
    if horizon is None and any(k in program.policy.spans for k in ("horizon", "step", "start")):
        return  # the horizon itself is wrong, and reported: what needs it would only echo that
    for workload in program.workloads.values():
        if horizon is None:
            for attribute in ("duration", "earliest", "deadline", "every", "within", "preemptible",
                              "min_segment", "due"):
                where = workload.spans.get(attribute)
                if where is not None and attribute in workload.spans:
                    yield msg.TimingWithoutHorizon(attribute=attribute).diagnostic(where.path, where.span)
            continue
        yield from _window(workload, horizon)
        yield from _unsupported(workload)
    yield from _carbon(program)
    yield from _pool_windows(program)
    if horizon is not None:
        yield from _daily_lists(program, horizon)
    if horizon is None:
        where = program.policy.spans.get("objective")
        for name in ("makespan", "lateness"):
            if name in program.policy.objective and where is not None:
                yield msg.TimingWithoutHorizon(attribute=f"objective = {name}").diagnostic(
                    where.path, where.span)
        for cap in program.power_caps:
            if cap.per_step and cap.origin is not None:
                yield msg.TimingWithoutHorizon(attribute=f"hourly` of power_cap `{cap.name}"
                                               ).diagnostic(cap.origin.path, cap.origin.span)
        for electricity in program.electricity:
            if (electricity.per_step or electricity.timed) and electricity.origin is not None:
                yield msg.PricesWithoutHorizon(name=electricity.name).diagnostic(
                    electricity.origin.path, electricity.origin.span)
        return
    policy = program.policy
    if [o for o in policy.objective if o not in TIMED_OBJECTIVES] and "objective" in policy.spans:
        where = policy.spans["objective"]
        yield msg.NotSupportedWithHorizon(
            detail="an objective other than `cost`, `carbon`, `makespan` and `lateness`"
        ).diagnostic(where.path, where.span)


# a pool's windows: all of a step in an `available` window, any of it in an `unavailable` one
WINDOW_ATTRIBUTES = {"available": True, "unavailable": False}


def _pool_windows(program: Program) -> Iterator[Diagnostic]:
    """`available`/`unavailable` need a horizon (E0902); each is an interval (E0922) with a
    step of the horizon in it (E0923)."""
    horizon = program.policy.horizon
    nodes: list[Pool | Inventory] = [*program.pools.values(), *program.inventories.values()]
    for pool in nodes:
        for attribute, whole in WINDOW_ATTRIBUTES.items():
            where = pool.spans.get(attribute)
            if where is None or not getattr(pool, attribute):
                continue
            if horizon is None:
                yield msg.TimingWithoutHorizon(attribute=attribute).diagnostic(where.path, where.span)
                continue
            for text in getattr(pool, attribute):
                steps, detail = window_steps(horizon, text, whole)
                if steps is None:
                    yield msg.WindowInvalid(text=text, detail=detail).diagnostic(where.path, where.span)
                elif not steps:
                    yield msg.WindowOutsideHorizon(text=text, name=pool.name, detail=detail).diagnostic(
                        where.path, where.span)


def window_steps(horizon: Horizon, text: str, whole: bool) -> tuple[range | None, str]:
    """The steps of the horizon an ISO 8601 interval "START/END" covers: those wholly inside
    it (`whole`) or those it touches at all; None and why for text that is no interval."""
    parts = text.split("/")
    if len(parts) != 2:
        return None, "expected two date-times `START/END`"
    (start, why_start), (end, why_end) = parse_instant(parts[0]), parse_instant(parts[1])
    if start is None or end is None:
        bad = parts[0] if start is None else parts[1]
        return None, f"`{bad.strip()}` is not an ISO 8601 date-time with its UTC offset" \
                     f"{why_start if start is None else why_end}"
    if end <= start:
        return None, "it ends before it starts"
    first = horizon.seconds_after_start(start) / horizon.step_seconds
    last = horizon.seconds_after_start(end) / horizon.step_seconds
    touched = range(max(0, math.floor(first)), min(horizon.steps, math.ceil(last)))
    if not touched:
        return touched, "lies outside the horizon"
    if not whole:
        return touched, ""
    inside = range(max(0, math.ceil(first)), min(horizon.steps, math.floor(last)))
    return inside, "" if inside else "holds no whole step of the horizon"


# the objectives of the time model, alone or in a lexicographic list
TIMED_OBJECTIVES = ("cost", "carbon", "makespan", "lateness")


def _carbon(program: Program) -> Iterator[Diagnostic]:
    """Carbon (the objective, `carbon_budget`, a grid's intensity) is counted per step: it
    needs a horizon (E0920); asked for with no grid stating an intensity, it is 0 (W0920)."""
    policy = program.policy
    asked: list[tuple[str, Origin]] = []
    if "carbon" in policy.objective and "objective" in policy.spans:
        asked.append(("the objective `carbon`", policy.spans["objective"]))
    if policy.carbon_budget is not None and "carbon_budget" in policy.spans:
        asked.append(("`carbon_budget`", policy.spans["carbon_budget"]))
    if policy.horizon is None:
        for what, where in asked:
            yield msg.CarbonWithoutHorizon(what=what).diagnostic(where.path, where.span)
        for electricity in program.electricity:
            stated = electricity.carbon_origin
            if electricity.states_carbon and stated is not None:
                yield msg.CarbonWithoutHorizon(what=f"the carbon intensity of `{electricity.name}`"
                                               ).diagnostic(stated.path, stated.span)
    elif not any(e.states_carbon for e in program.electricity):
        for what, where in asked:
            yield msg.CarbonNotStated(what=f"{what} is stated").diagnostic(where.path, where.span)


def steps_of(seconds: Fraction, horizon: Horizon) -> int:
    """A duration in whole steps, rounded up (a job of 90 minutes takes two steps of an hour)."""
    return math.ceil(seconds / horizon.step_seconds)


def _window(workload: Workload, horizon: Horizon) -> Iterator[Diagnostic]:
    """earliest >= start, earliest + duration <= deadline <= the horizon's end."""
    spans = workload.spans
    end = horizon.end_seconds
    earliest = Fraction(0) if workload.earliest is None else horizon.seconds_after_start(workload.earliest)
    deadline = Fraction(end) if workload.deadline is None else horizon.seconds_after_start(workload.deadline)
    if workload.duration_seconds is None:
        for attribute in ("earliest", "deadline", "every", "within", "preemptible", "min_segment",
                          "due"):
            if attribute in spans:
                yield _at(spans[attribute], workload.name, f"`{attribute}` needs a `duration`: a "
                          "workload without one is a service and runs the whole horizon")
        return
    duration = steps_of(workload.duration_seconds, horizon) * horizon.step_seconds
    yield from _preemption(workload, horizon)
    if workload.due is not None and not 0 <= horizon.seconds_after_start(workload.due) <= end:
        yield _at(spans["due"], workload.name, "`due` is not within the horizon")
    if workload.every is not None:
        yield from _recurring(workload, horizon, earliest, min(deadline, Fraction(end)))
        return
    if earliest < 0:
        yield _at(spans["earliest"], workload.name, "`earliest` is before the horizon's start")
    elif earliest >= end:
        yield _at(spans["earliest"], workload.name, "`earliest` is at or after the horizon's end")
    if deadline > end:
        yield _at(spans["deadline"], workload.name,
                  f"`deadline` is {_shown(deadline - end)} after the horizon's end")
    elif deadline < 0:
        yield _at(spans["deadline"], workload.name, "`deadline` is before the horizon's start")
    elif _first_step(earliest, horizon) * horizon.step_seconds + duration > deadline:
        where = spans.get("deadline") or spans["duration"]
        yield _at(where, workload.name,
                  f"it runs {_shown(Fraction(duration))} from its earliest start at step "
                  f"{_first_step(earliest, horizon)}, past its deadline")


def recurring_runs(workload: Workload, horizon: Horizon) -> list[Run]:
    """A recurring job's runs in the horizon, each its release and due in seconds after the start."""
    assert workload.every is not None
    end = Fraction(horizon.end_seconds)
    earliest = Fraction(0) if workload.earliest is None else horizon.seconds_after_start(workload.earliest)
    deadline = end if workload.deadline is None else min(end, horizon.seconds_after_start(workload.deadline))
    return runs_of(workload.every, workload.within_seconds, horizon.start, horizon.end_seconds,
                   max(earliest, Fraction(0)), deadline)


def recurring_windows(workload: Workload, horizon: Horizon) -> list[tuple[int, int]]:
    """A recurring job's runs as (first start step, step it must end by): each run starts at
    a step at or after its release and ends by its due time, both within the horizon."""
    return [(_first_step(run.release, horizon), math.floor(run.due / horizon.step_seconds))
            for run in recurring_runs(workload, horizon)]


def _recurring(workload: Workload, horizon: Horizon, earliest: Fraction,
               deadline: Fraction) -> Iterator[Diagnostic]:
    """Runs that never overlap (`within` at most the period), each long enough for the job,
    at least one of them in the horizon."""
    spans, every = workload.spans, workload.every
    where = spans.get("within") or spans["every"]
    duration = steps_of(workload.duration_seconds or Fraction(0), horizon)
    within = workload.within_seconds
    if "due" in spans:
        yield _recurrence(spans["due"], workload, "`due` on a recurring job is not supported yet")
    if isinstance(every, Fraction) and within is not None and within > every:
        yield _recurrence(where, workload, f"`within` ({_shown(within)}) is longer than the period "
                          f"({_shown(every)}): runs would overlap")
        return
    if earliest < 0 or earliest >= horizon.end_seconds:
        yield _at(spans["earliest"], workload.name, "`earliest` is not within the horizon")
        return
    windows = recurring_windows(workload, horizon)
    overlapping = [k for k in range(1, len(windows)) if windows[k][0] < windows[k - 1][1]]
    if overlapping:
        yield _recurrence(where, workload, f"run {overlapping[0]} is released at step "
                          f"{windows[overlapping[0]][0]}, before run {overlapping[0] - 1} is due "
                          f"(step {windows[overlapping[0] - 1][1]}): runs would overlap")
        return
    if not windows:
        yield _recurrence(spans["every"], workload, "no run is released and due within the "
                          "horizon (from `earliest` to `deadline`)")
    short = [(first, due) for first, due in windows if due - first < duration]
    if short:
        first, due = short[0]
        yield _recurrence(where, workload, f"{len(short)} of its runs cannot hold its duration of "
                          f"{duration} steps: the first from step {first} to step {due}")


def _preemption(workload: Workload, horizon: Horizon) -> Iterator[Diagnostic]:
    """`min_segment` only on a preemptible job, at most its duration; not recurring yet."""
    spans = workload.spans
    if workload.min_segment_seconds is None:
        if "min_segment" in spans:
            yield _preempt(spans["min_segment"], workload, "`min_segment` needs `preemptible = true`")
        return
    where = spans.get("min_segment") or spans["preemptible"]
    duration = steps_of(workload.duration_seconds or Fraction(0), horizon)
    if steps_of(workload.min_segment_seconds, horizon) > duration:
        yield _preempt(where, workload, f"`min_segment` is longer than its duration ({duration} steps)")
    if workload.every is not None:
        yield _preempt(where, workload, "a recurring job cannot be preemptible yet")


def _preempt(where: Origin, workload: Workload, detail: str) -> Diagnostic:
    return msg.PreemptionInvalid(workload=workload.name, detail=detail).diagnostic(
        where.path, where.span)


def _recurrence(where: Origin, workload: Workload, detail: str) -> Diagnostic:
    return msg.RecurrenceImpossible(workload=workload.name, detail=detail).diagnostic(
        where.path, where.span)


def _daily_lists(program: Program, horizon: Horizon) -> Iterator[Diagnostic]:
    """W0914: a power cap's or a grid's list per step that is whole days long (24 hourly caps,
    an evening peak at 17:00-21:00) under a horizon that starts other than at midnight, as
    written: the list is read from the start, so its peak falls at other hours (an HPC
    centre's 24-value evening cap under a 06:00 start was shifted by six hours, in silence)."""
    day, start = 86400, horizon.start
    if day % horizon.step_seconds or (start.hour, start.minute, start.second) == (0, 0, 0):
        return
    per_day = day // horizon.step_seconds
    lists = [(f"power_cap {cap.name}", "hourly", cap.per_step, cap.origin) for cap in program.power_caps]
    for grid in program.electricity:
        lists += [(f"electricity {grid.name}", "hourly", grid.per_step, grid.origin),
                  (f"electricity {grid.name}", "carbon_hourly", grid.carbon_per_step,
                   grid.carbon_origin or grid.origin)]
    for block, attribute, values, where in lists:
        if values and len(values) % per_day == 0 and where is not None:
            yield msg.DailyListNotAtMidnight(
                block=block, attribute=attribute, count=len(values),
                step=_shown(Fraction(horizon.step_seconds)), start=start.strftime("%H:%M"),
            ).diagnostic(where.path, where.span)


def _first_step(earliest: Fraction, horizon: Horizon) -> int:
    """Jobs start on a step: the first at or after `earliest`."""
    return math.ceil(earliest / horizon.step_seconds)


def _unsupported(workload: Workload) -> Iterator[Diagnostic]:
    """Rules the time model does not handle yet: refused, never silently dropped. A `gang`
    (its replicas start together: `rules/gang.py`), `latency` (a count over the nodes in
    reach, as without a horizon), `exclusive`, `spread`, `affinity` and `anti_affinity` (each
    over the replicas running at a step) are handled; a preemptible gang is not (its
    segments would have to break and resume together)."""
    where = workload.origin
    rules: list[tuple[str, Origin | None]] = []
    if workload.gang and "gang" in workload.spans and workload.min_segment_seconds is not None:
        rules.append((f"a preemptible `gang` ({workload.name}: its segments would have to "
                      "break and resume together)", workload.spans["gang"]))
    if workload.min_segment_seconds is not None:
        rules += [(f"`latency` on a preemptible job ({workload.name})", rule.origin or where)
                  for rule in workload.latency]
    if workload.options:
        rules.append((f"accelerator options ({workload.name})", workload.options[0].origin or where))
    for detail, origin in rules:
        if origin is not None:
            yield msg.NotSupportedWithHorizon(detail=detail).diagnostic(origin.path, origin.span)


PriceRows = tuple[tuple[datetime, Fraction], ...]


@dataclass(frozen=True)
class Column:
    """What the second column of a time table holds: its header word, its unit and its range."""

    name: str
    unit: str
    most: int


# the time tables a block may name, by attribute: an `electricity` block's prices and carbon
# intensities, and a pool's, an inventory's or a `buy` block's price per node (issue 19)
PRICE_COLUMNS = {"prices": Column("price", "USD/kWh", 10 ** 6),
                 "carbon_file": Column("intensity", "gCO2e/kWh", 10 ** 5),
                 "price_file": Column("price", "USD/h", 10 ** 9)}


def read_price_file(path: Path, column: Column = PRICE_COLUMNS["prices"]
                    ) -> tuple[PriceRows, list[tuple[int, str]]]:
    """The `timestamp,price` (or `timestamp,intensity`) rows of a time table, and the
    malformed ones as (line, what is wrong). A first row whose first field is not a
    date-time is a header."""
    rows: list[tuple[datetime, Fraction]] = []
    problems: list[tuple[int, str]] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for number, fields in enumerate(csv.reader(handle), start=1):
            if not fields or all(not f.strip() for f in fields):
                continue
            if number == 1 and parse_instant(fields[0])[0] is None and fields[0].strip().isalpha():
                continue  # a header
            row = _price_row(fields, column)
            if isinstance(row, str):
                problems.append((number, row))
            elif rows and row[0] <= rows[-1][0]:
                problems.append((number, "timestamps must increase from row to row"))
            else:
                rows.append(row)
    if not rows and not problems:
        problems.append((1, f"the file has no `timestamp,{column.name}` row"))
    return tuple(rows), problems


def _price_row(fields: list[str], column: Column) -> tuple[datetime, Fraction] | str:
    if len(fields) != 2:
        return f"expected 2 fields `timestamp,{column.name}`, found {len(fields)}"
    instant, detail = parse_instant(fields[0])
    if instant is None:
        return f"`{fields[0].strip()}` is not an ISO 8601 date-time with its UTC offset{detail}"
    try:
        value = Fraction(fields[1].strip())
    except (ValueError, ZeroDivisionError):
        article = "an" if column.name[0] in "aeiou" else "a"
        return f"`{fields[1].strip()}` is not {article} {column.name} in {column.unit}"
    if value < 0 or value > column.most:
        return (f"the {column.name} {fields[1].strip()} is out of range (0 to {column.most} "
                f"{column.unit})")
    return instant, value


def prices_per_step(horizon: Horizon, flat: Fraction | None, per_step: tuple[Fraction, ...],
                    timed: tuple[tuple[datetime, Fraction], ...]) -> tuple[Fraction, ...]:
    """An electricity block's price at each step: its list repeated, its file's price in force
    at the step's start (the first row's before it), or its one price."""
    if per_step:
        return tuple(per_step[t % len(per_step)] for t in range(horizon.steps))
    if timed:
        prices, row = [], 0
        for t in range(horizon.steps):
            moment = horizon.start.timestamp() + t * horizon.step_seconds
            while row + 1 < len(timed) and timed[row + 1][0].timestamp() <= moment:
                row += 1
            prices.append(timed[row][1])
        return tuple(prices)
    return tuple(flat or Fraction(0) for _ in range(horizon.steps))


def _at(where: Origin, workload: str, detail: str) -> Diagnostic:
    return msg.WindowImpossible(workload=workload, detail=detail).diagnostic(where.path, where.span)


def _shown(seconds: Fraction) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds:
            return f"{seconds // size}{unit}"
    return f"{float(seconds):g}s"


__all__ = ["PRICE_COLUMNS", "TIMED_OBJECTIVES", "check_timing", "horizon_of", "parse_instant",
           "prices_per_step", "read_price_file", "recurring_windows", "steps_of", "time_point",
           "window_steps"]
