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
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from fitlang import messages as msg
from fitlang.check.program import Horizon, Origin, Program, TimePoint, Workload
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
            for attribute in ("duration", "earliest", "deadline"):
                where = workload.spans.get(attribute)
                if where is not None and attribute in workload.spans:
                    yield msg.TimingWithoutHorizon(attribute=attribute).diagnostic(where.path, where.span)
            continue
        yield from _window(workload, horizon)
        yield from _unsupported(workload)
    if horizon is None:
        for electricity in program.electricity:
            if (electricity.per_step or electricity.timed) and electricity.origin is not None:
                yield msg.PricesWithoutHorizon(name=electricity.name).diagnostic(
                    electricity.origin.path, electricity.origin.span)
        return
    policy = program.policy
    for name in ("allow_unplaced",):
        if name in policy.spans and policy.allow_unplaced:
            where = policy.spans[name]
            yield msg.NotSupportedWithHorizon(detail="`allow_unplaced`").diagnostic(where.path, where.span)
    if [o for o in policy.objective if o != "cost"] and "objective" in policy.spans:
        where = policy.spans["objective"]
        yield msg.NotSupportedWithHorizon(detail="an objective other than `cost`").diagnostic(
            where.path, where.span)


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
        for attribute in ("earliest", "deadline"):
            if attribute in spans:
                yield _at(spans[attribute], workload.name, f"`{attribute}` needs a `duration`: a "
                          "workload without one is a service and runs the whole horizon")
        return
    duration = steps_of(workload.duration_seconds, horizon) * horizon.step_seconds
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


def _first_step(earliest: Fraction, horizon: Horizon) -> int:
    """Jobs start on a step: the first at or after `earliest`."""
    return math.ceil(earliest / horizon.step_seconds)


def _unsupported(workload: Workload) -> Iterator[Diagnostic]:
    """Rules the time model does not handle yet: refused, never silently dropped."""
    where = workload.origin
    rules: list[tuple[str, Origin | None]] = [(f"`spread` ({workload.name})", s.origin)
                                              for s in workload.spreads]
    rules += [(f"`affinity` ({workload.name})", a.origin) for a in workload.affinities]
    rules += [(f"`latency` ({workload.name})", rule.origin or where) for rule in workload.latency]
    for attribute, label in (("gang", "`gang`"), ("exclusive", "`exclusive`")):
        if getattr(workload, attribute) and attribute in workload.spans:
            rules.append((f"{label} ({workload.name})", workload.spans[attribute]))
    if workload.options:
        rules.append((f"accelerator options ({workload.name})", workload.options[0].origin or where))
    for detail, origin in rules:
        if origin is not None:
            yield msg.NotSupportedWithHorizon(detail=detail).diagnostic(origin.path, origin.span)


PriceRows = tuple[tuple[datetime, Fraction], ...]


def read_price_file(path: Path) -> tuple[PriceRows, list[tuple[int, str]]]:
    """The `timestamp,price` rows of a price file (USD/kWh), and the malformed ones as
    (line, what is wrong). A first row whose first field is not a date-time is a header."""
    rows: list[tuple[datetime, Fraction]] = []
    problems: list[tuple[int, str]] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for number, fields in enumerate(csv.reader(handle), start=1):
            if not fields or all(not f.strip() for f in fields):
                continue
            if number == 1 and parse_instant(fields[0])[0] is None and fields[0].strip().isalpha():
                continue  # a header
            row = _price_row(fields)
            if isinstance(row, str):
                problems.append((number, row))
            elif rows and row[0] <= rows[-1][0]:
                problems.append((number, "timestamps must increase from row to row"))
            else:
                rows.append(row)
    if not rows and not problems:
        problems.append((1, "the file has no `timestamp,price` row"))
    return tuple(rows), problems


def _price_row(fields: list[str]) -> tuple[datetime, Fraction] | str:
    if len(fields) != 2:
        return f"expected 2 fields `timestamp,price`, found {len(fields)}"
    instant, detail = parse_instant(fields[0])
    if instant is None:
        return f"`{fields[0].strip()}` is not an ISO 8601 date-time with its UTC offset{detail}"
    try:
        price = Fraction(fields[1].strip())
    except (ValueError, ZeroDivisionError):
        return f"`{fields[1].strip()}` is not a price in USD/kWh"
    if price < 0 or price > 10 ** 6:
        return f"the price {fields[1].strip()} is out of range (0 to 1000000 USD/kWh)"
    return instant, price


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


__all__ = ["check_timing", "horizon_of", "parse_instant", "prices_per_step",
           "read_price_file", "steps_of", "time_point"]
