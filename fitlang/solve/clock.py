"""The solve's clock, and HiGHS's wall clock beside it.

Every deadline of a solve reads `time.monotonic`: the wall in `fitc` given a `--time-limit`,
a promise on the wall; with none, `fitc`'s default limit counts the process's CPU seconds (and
a stage in a child the child's: `CpuClock`), so that the same input gives the same answer at any load
(session 47: fleet.py 600 seed 4 under load ended at 444.13, 444.40, 450.66 and 445.05 on 60 s
of wall); the process's CPU time in the benches' `--cpu-clock` (`time.monotonic =
time.process_time`), so that a run measures what the solve does with a core to itself
whatever the load. HiGHS keeps its own time limit on the wall, as does the
kernel's alarm in a group program's child: a limit handed to them as what was left on the
solve's clock gave HiGHS, at load 9-11 on two cores, a quarter of the CPU seconds the other stages
were given (session 31, h31e: inventory 300 seeds 3, 4, 7 and 12 lost at the relaxed model,
in both trees, by the load alone). Off the wall, a wall limit is therefore the time left on
the solve's clock over the share of a core the process has had (HiGHS reads its own limit
often), and HiGHS's interrupt callbacks stop it on the solve's clock where the share fell
(they are called seldom: 32 times in 3 s, gaps up to 1.1 s, on a bin packing); on the wall
nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
import types
from collections.abc import Iterator

# off the wall, the least share of a core a wall limit allows for (load 11 on two cores is
# ~0.18): a share measured below it is a process stopped, not a load
LEAST_CPU_SHARE = 0.1
# the least wall time a share is measured over (shorter: a few scheduler ticks)
SHARE_WALL_SECONDS = 0.5


class _Share:
    """The share of a core the solve's clock has run at since the first measure: the CPU
    share where it is the process's CPU time. In a forked child, the least share: neither its
    parent's share nor its own first seconds' are a guide to what it will have (a parent that
    never measured said a whole core: at load 12-18 the time model's MIP child then had
    HiGHS's wall limit at its CPU seconds, ran a fifth of them and found nothing, where at load
    3 it found a schedule: h56e; a child's own first seconds are no better a guide where the
    load moves), and its parent stops it on its CPU (`answered`), so a wall limit that long
    stops nothing before the clock's deadline does while the child has a tenth of a core."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.wall, self.clock, self.share = time.perf_counter(), time.monotonic(), 1.0

    def measured(self) -> float:
        if os.getpid() != self.pid:  # a forked child
            return LEAST_CPU_SHARE
        wall, clock = time.perf_counter(), time.monotonic()
        if clock < self.clock:
            self.wall, self.clock = wall, clock
        elif wall - self.wall >= SHARE_WALL_SECONDS:
            self.share = min(1.0, max(LEAST_CPU_SHARE, (clock - self.clock) / (wall - self.wall)))
        return self.share


_SHARE = _Share()  # (made at import: the benches set their clock before they import fitlang)


def on_the_wall() -> bool:
    """Whether the solve's clock is the wall (`time.monotonic` as Python has it), not one a
    bench put in its place."""
    clock = time.monotonic
    return isinstance(clock, types.BuiltinFunctionType) and clock.__name__ == "monotonic"


def wall_seconds(clock_seconds: float) -> float:
    """A limit on the solve's clock as a wall limit that stops nothing before it: on a
    `CpuClock`, the wall by which its backstop reaches the same instant (the share a process
    had is no guide to the share it will have: at load ~25, a group program's child given 1 CPU
    s and its parent's share, 0.1 at least, had 0.4 CPU s in its 10 s, and ended elsewhere)."""
    clock = time.monotonic
    if isinstance(clock, CpuClock):
        return max(clock_seconds, clock.backstop_began + clock() + clock_seconds - time.perf_counter())
    return clock_seconds if on_the_wall() else clock_seconds / _SHARE.measured()


def highs_limited(highs, deadline: float, branching: bool = True) -> None:
    """HiGHS stopped at `deadline` on the solve's clock: its own time limit on the wall, and
    off the wall also its interrupts (simplex, interior point and, with `branching`, the
    branch and bound's; `backends.watch` asks the last where it watches a MIP itself). With no
    user limit (`work.counted`), the branch and bound is stopped by its node count, what the
    seconds to `deadline` stand for, and the deadline is the default limit's end (a backstop)."""
    from fitlang.solve import work

    if work.counted():
        seconds = deadline - time.monotonic()
        if branching:
            work.nodes_counted(highs, seconds)
        deadline = max(deadline, work.backstop())
    highs.setOptionValue("time_limit", max(0.0, wall_seconds(deadline - time.monotonic())))
    if on_the_wall():
        return

    def interrupt(event) -> None:
        if time.monotonic() >= deadline:
            event.data_in.user_interrupt = True

    highs.cbSimplexInterrupt.subscribe(interrupt)
    highs.cbIpmInterrupt.subscribe(interrupt)
    if branching:
        highs.cbMipInterrupt.subscribe(interrupt)


# a limit the user did not give (`fitc`'s default) still ends on the wall by this many times
# itself: a process given less than a tenth of a core is stopped, not left to run for hours
WALL_BACKSTOP_TIMES = 10
# off the wall, how often a parent waiting for its child reads the child's CPU time (seconds of
# wall; /proc counts it in ticks of 10 ms)
CHILD_READ_SECONDS = 0.05


class CpuClock:
    """The solve's clock where `fitc` counts its default limit: the process's own CPU seconds,
    so that other processes' load does not change where a search stops. A stage run in a
    child counts the child's: a forked child's CPU starts again from nothing (as the benches'
    CPU clock, `time.process_time`), and its parent waits for it on that (`answered`). The
    children's CPU is not added to the parent's: it would be at the moment each is collected,
    which the scheduler decides (`multiprocessing` collects those that ended whenever another
    starts). It never runs more than (WALL_BACKSTOP_TIMES - 1) x `limit` behind the wall
    since `wall_began` (`time.perf_counter()` seconds; the process's start), so a starved
    process (or its child) still ends by WALL_BACKSTOP_TIMES x `limit` of wall."""

    def __init__(self, limit: float, wall_began: float) -> None:
        self.limit = limit  # (what the stages' counts of work are sized by: work.py)
        self.backstop_began = wall_began + (WALL_BACKSTOP_TIMES - 1) * limit
        self.ends = self() + limit  # (where a stage counted by its work still stops: work.py)

    def __call__(self) -> float:
        return max(time.process_time(), time.perf_counter() - self.backstop_began)


@contextlib.contextmanager
def counted_on_the_cpu(limit: float, process_age: float) -> Iterator[None]:
    """Within: the solve's clock (`time.monotonic`) is a `CpuClock` for `limit`, begun
    `process_age` wall seconds ago (when the process started); then what it was."""
    wall = time.monotonic
    time.monotonic = CpuClock(limit, time.perf_counter() - process_age)
    try:
        yield
    finally:
        time.monotonic = wall


def child_seconds(pid: int) -> float | None:
    """The CPU seconds child `pid` has had (Linux: /proc), None where that cannot be read or
    the child has ended."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:  # state, utime, stime: fields 3, 14, 15
            fields = stat_file.read().rsplit(b")", 1)[1].split()
        ended = fields[0] in (b"Z", b"X")
        return None if ended else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def answered(reader, pid: int, wait: float, most: float) -> bool:
    """Whether child `pid` has written to `reader` (a `multiprocessing` connection) within
    `wait` seconds of the solve's clock: on the wall, its `poll`. Off it (a CPU clock), the
    parent's clock stands while it waits (`poll` itself reads `time.monotonic`: under a CPU
    clock it has always waited for the answer), so a wait waits for the answer until the
    child's own CPU time passes `most` (what it was given, and a grace: where its own deadlines,
    on its CPU, did not stop it), or the solve's clock passes `wait` (its wall backstop): the
    child is stopped at the same point of its work at any load."""
    if on_the_wall() or wait <= 0:
        return bool(reader.poll(max(0.0, wait)))
    began = time.monotonic()
    while not select.select([reader], [], [], CHILD_READ_SECONDS)[0]:
        used = child_seconds(pid)
        if used is None or used >= most or time.monotonic() - began >= wait:  # (None: it has ended)
            return bool(reader.poll(0))
    return True
