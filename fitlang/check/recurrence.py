"""Recurring jobs (issue 19): `every = 24h` or a cron expression, and the run windows it gives.

A recurring job is released at each period (`every = 24h`: at the horizon's start plus
`earliest`, then every 24 h) or at each firing of a five-field cron expression (minute hour
day-of-month month day-of-week, read in UTC as cron's `CRON_TZ=UTC`). Each release starts a run
that must end within `within` of it (default: by the next release), so runs never overlap.
The runs whose windows lie in the horizon (from `earliest`, ending by `deadline`) are placed;
each is its own time demand: `replicas` replicas that start at or after the release.

Cron is parsed here (numbers, `*`, ranges `a-b`, steps `/n`, lists `a,b`; names such as `MON`
and the `@daily` shorthands are refused, E0924) rather than by a dependency: five fields of
integers are all the policies need, and the firings are enumerated day by day.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from fitlang.frozen import Frozen

# (name, lowest, highest) of each cron field, in order
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))
LOOK_AHEAD_DAYS = 366  # how far past the horizon the next firing after the last is looked for


class Cron(Frozen):
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 read as 0)
    any_day: bool  # day of month `*`
    any_weekday: bool  # day of week `*`

    def fires_on(self, day: datetime) -> bool:
        """Cron's rule: with both day fields restricted, a day matching either fires."""
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def firings(self, begin: datetime, end: datetime) -> list[datetime]:
        """Every firing in [begin, end), in order."""
        found = []
        day = begin.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            if self.fires_on(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        moment = day + timedelta(hours=hour, minutes=minute)
                        if begin <= moment < end:
                            found.append(moment)
            day += timedelta(days=1)
        return found


def parse_cron(text: str) -> Cron | str:
    """The cron expression, or what is wrong with it."""
    fields = text.split()
    if len(fields) != 5:
        return f"a cron expression has 5 fields (minute hour day month weekday), found {len(fields)}"
    sets = []
    for field, (name, low, high) in zip(fields, _FIELDS):
        values = _field(field, low, high)
        if isinstance(values, str):
            return f"the {name} field `{field}`: {values}"
        sets.append(values)
    weekdays = frozenset(v % 7 for v in sets[4])
    return Cron(sets[0], sets[1], sets[2], sets[3], weekdays, fields[2] == "*", fields[4] == "*")


def _field(text: str, low: int, high: int) -> frozenset[int] | str:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        if (step_text and not step_text.isdigit()) or step_text == "0":
            return f"`/{step_text}` is not a step of 1 or more"
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = low, high
        else:
            start, dash, end = body.partition("-")
            if not start.isdigit() or (dash and not end.isdigit()):
                return f"`{part}` is not a number, a range `a-b` or `*`"
            first = int(start)
            last = int(end) if dash else (high if step_text else first)
        if not low <= first <= last <= high:
            return f"`{part}` is outside {low}-{high}"
        values.update(range(first, last + 1, step))
    return frozenset(values)


class Run(Frozen):
    """One run of a recurring job, in seconds after the horizon's start: released at
    `release`, to end by `due`."""

    release: Fraction
    due: Fraction


def runs_of(every: Fraction | Cron, within: Fraction | None, start: datetime, end_seconds: int,
            earliest: Fraction, deadline: Fraction) -> list[Run]:
    """The runs released at or after `earliest` whose windows end by `deadline` (both
    seconds after `start`, the deadline at most the horizon's end)."""
    releases = _releases(every, start, earliest, Fraction(end_seconds))
    runs = []
    for index, release in enumerate(releases):
        if release >= end_seconds:
            break
        following = releases[index + 1] if index + 1 < len(releases) else None
        due = release + within if within is not None else following
        if due is not None and due <= deadline:
            runs.append(Run(release, due))
    return runs


def _releases(every: Fraction | Cron, start: datetime, earliest: Fraction,
              end: Fraction) -> list[Fraction]:
    """The releases in [earliest, end), and the first after them (which bounds the last
    run's default window)."""
    if isinstance(every, Fraction):
        count = math.ceil((end - earliest) / every)
        return [earliest + k * every for k in range(count + 1)]
    begin = start + timedelta(seconds=float(earliest))
    horizon_end = start + timedelta(seconds=float(end))
    firings = every.firings(begin, horizon_end)
    after = every.firings(horizon_end, horizon_end + timedelta(days=LOOK_AHEAD_DAYS))[:1]
    return [Fraction(int((moment - start).total_seconds())) for moment in firings + after]
