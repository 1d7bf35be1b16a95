"""With a horizon (issue 19): the policy's own jobs that the current state shows running.

A job of the policy (a workload with a `duration`) that runs now, as the state names it
(`squeue --json`: the Slurm target's job name), runs on where it runs: placing it again from
the horizon's start ran it twice on a real cluster (or killed the running one). So:
- its replicas are taken off its workload's `replicas` (the rest are placed as new work), and
  what it holds of its nodes (Slurm's allocation) is taken off their room;
- it ends `duration` after its `start_time`, or at the end of its time limit where that is
  sooner (Slurm ends it then); one that ended by the horizon's start is done: not run again,
  and it holds no room. One whose start the state does not say holds its room throughout;
- one that ends after its workload's deadline is W0930: it runs on, late (nothing placed now
  can meet the deadline for it).
Another team's job that ended by the horizon's start takes no room (`foreign_holding`), and one
that ends inside the horizon (squeue's `end_time`: its time limit's end) holds its room until then.

A job that ends inside the horizon holds its room until the step it ends in (`Problem.holds`,
which `solve/held_room.py` makes pinned work); one that runs past the horizon's end, or whose
end the state does not say, holds it throughout (taken off its node's room, as without a
horizon). W0931 names the jobs kept and when each ends. Recurring and preemptible jobs
running now are refused (E0906).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction

from fitlang.check.program import Horizon, Program, Workload
from fitlang.frozen import Frozen
from fitlang.model.current import CurrentState, Foreign, foreign_room
from fitlang.model.problem import Hold, Problem


class RunningJob(Frozen):
    """One running job of a workload of the policy (all its replicas)."""

    workload: str
    job: str  # its id, as squeue writes it
    nodes: tuple[str, ...]  # each replica's node, in the state's order
    ends: int | None  # seconds since the epoch; None: not known (no start stated)
    late: bool = False  # it ends after its workload's deadline

    def done_by(self, start: int) -> bool:
        return self.ends is not None and self.ends <= start

    def described(self, start: int) -> str:
        """As W0931 and `verify` name it: "`101 (finetune)` on gpu-1 until 2026-12-06T04:00Z"."""
        on = ", ".join(dict.fromkeys(self.nodes))
        if self.done_by(start):
            return f"`{self.job} ({self.workload})` on {on}: done by the horizon's start"
        until = f"until {at_instant(self.ends)}" if self.ends is not None else "its start not stated"
        return f"`{self.job} ({self.workload})` on {on} {until}"


@dataclass
class RunningJobs:
    """What the state's running jobs of the policy mean for a solve with a horizon."""

    jobs: list[RunningJob] = field(default_factory=list)  # in the state's order
    # workload -> its replicas that run now or are done: not placed again
    replicas: dict[str, int] = field(default_factory=dict)
    # node -> what the jobs that run past the horizon's end (or of no known end) hold there,
    # taken off its room; `holds`: what those that end inside the horizon hold until then
    taken: dict[str, dict[str, int]] = field(default_factory=dict)
    holds: list[Hold] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (workload, job): recurring, preemptible


def epoch(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())


def running_jobs(program: Program, state: CurrentState) -> RunningJobs:
    """The state's running jobs of the policy's jobs, with a horizon (none without one)."""
    horizon = program.policy.horizon
    found = RunningJobs()
    if horizon is None:
        return found
    start = epoch(horizon.start)
    nodes: dict[tuple[str, str], list[str]] = {}  # (workload, job) -> its replicas' nodes
    times: dict[tuple[str, str], tuple[int | None, int | None]] = {}
    for replica in state.running:
        workload = program.workloads.get(replica.workload)
        if workload is None or workload.duration_seconds is None or replica.handle is None:
            continue  # a service runs the whole horizon: placed as without a state
        key = (replica.workload, str(replica.handle))
        nodes.setdefault(key, []).append(replica.node)
        times.setdefault(key, (replica.started, replica.ends))
    held = {held.job: held for held in state.held_by_policy if held.job is not None}
    for (name, job), on in nodes.items():
        workload = program.workloads[name]
        if workload.every is not None or workload.min_segment_seconds is not None:
            found.refused.append((name, job))
            continue
        ends = _ends(workload, *times[(name, job)])
        late = ends is not None and ends - start > _deadline(workload, horizon)
        running = RunningJob(workload=name, job=job, nodes=tuple(on), ends=ends, late=late)
        found.jobs.append(running)
        found.replicas[name] = found.replicas.get(name, 0) + len(on)
        if not running.done_by(start):
            room = (foreign_room(work for work in state.held_by_policy if work.job == job)
                    if job in held else _stated_room(workload, on))
            _held_until(found, room, _until(horizon, ends), f"{job} ({name})")
    return found


def _until(horizon: Horizon, ends: int | None) -> int | None:
    """The step a job that ends at `ends` holds its room until (rounded up to a whole step),
    where that is inside the horizon; None where it runs to the horizon's end or past it."""
    if ends is None:
        return None
    until = math.ceil(Fraction(ends - epoch(horizon.start), horizon.step_seconds))
    return until if until < horizon.steps else None


def _held_until(found: RunningJobs, room: dict[str, dict[str, int]], until: int | None, job: str) -> None:
    """A job's room: held until a step inside the horizon, or else taken for all of it."""
    if until is None:
        _add(found.taken, room)
        return
    for node, amounts in room.items():
        found.holds.append(Hold(node=node, room=dict(amounts), until=until, job=job))


def _stated_room(workload: Workload, nodes: Iterable[str]) -> dict[str, dict[str, int]]:
    """What replicas hold where the state does not say (a pod that lists no `resources`): what
    their workload states, per replica on each node."""
    room: dict[str, dict[str, int]] = {}
    one = {"cpu": workload.cpu_milli, "memory": workload.memory, "gpu": workload.gpu_count,
           "disk": workload.disk}
    for node in nodes:
        _add(room, {node: one})
    return room


def services_running(program: Program, state: CurrentState) -> list[str]:
    """The policy's services (workloads without a `duration`) the state runs replicas of: with
    a horizon, moving them is a plan in time, not built yet (E0906)."""
    return sorted({r.workload for r in state.running if r.workload in program.workloads
                   and program.workloads[r.workload].duration_seconds is None})


def _ends(workload: Workload, started: int | None, limit_ends: int | None) -> int | None:
    """When a running job ends: `duration` after its start, or at its time limit if sooner."""
    assert workload.duration_seconds is not None
    if started is None:
        return limit_ends
    ends = started + int(workload.duration_seconds)
    return ends if limit_ends is None else min(ends, limit_ends)


def _deadline(workload: Workload, horizon: Horizon) -> Fraction:
    """A job's deadline in seconds after the horizon's start (the horizon's end by default)."""
    if workload.deadline is None:
        return Fraction(horizon.end_seconds)
    return horizon.seconds_after_start(workload.deadline)


def _add(into: dict[str, dict[str, int]], room: dict[str, dict[str, int]]) -> None:
    for node, amounts in room.items():
        sums = into.setdefault(node, {})
        for resource, amount in amounts.items():
            sums[resource] = sums.get(resource, 0) + amount


def foreign_holding(program: Program, foreign: Iterable[Foreign]) -> list[Foreign]:
    """The running work of no workload that still holds its room at the horizon's start: with
    a horizon, a job that ended by then (its time limit's end) is gone."""
    horizon = program.policy.horizon
    if horizon is None:
        return list(foreign)
    start = epoch(horizon.start)
    return [work for work in foreign if work.ends is None or work.ends > start]


def held_room(program: Program, state: CurrentState) -> tuple[dict[str, dict[str, int]], list[Hold]]:
    """What running work holds that fitc may not use: node -> what is taken off its room for
    the whole horizon (or without one), and the holds until a step inside the horizon. The
    other teams' work that has not ended by the horizon's start holds its room until its end,
    where squeue says it (its time limit's); with a horizon, the policy's own running jobs
    hold theirs until they end."""
    horizon = program.policy.horizon
    if horizon is None:
        return foreign_room(state.foreign), []
    found = running_jobs(program, state)
    for work in foreign_holding(program, state.foreign):
        _held_until(found, foreign_room([work]), _until(horizon, work.ends), work.name)
    return found.taken, found.holds


def at_instant(seconds: int) -> str:
    """An instant as the messages write it: `2026-12-06T04:00Z`."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%MZ")


def less_running(problem: Problem, found: RunningJobs, start: int) -> Problem:
    """The problem without the replicas that run now or are done (`RunningJobs.replicas`):
    each such workload places only the rest (none where all of them run); the jobs named per
    workload (`Problem.running_jobs`), for `verify` to say which runs where one is placed again."""
    replicas = found.replicas
    if not replicas:
        return problem
    demands = [dataclasses.replace(demand, replicas=max(0, demand.replicas - replicas[demand.name]))
               if demand.group is None and demand.name in replicas else demand
               for demand in problem.demands]
    named: dict[str, tuple[str, ...]] = {}
    for job in found.jobs:
        named[job.workload] = (*named.get(job.workload, ()), job.described(start))
    return dataclasses.replace(problem, demands=demands, running_jobs=named)
