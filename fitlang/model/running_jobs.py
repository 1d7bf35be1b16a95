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
horizon). W0931 names the jobs kept and when each ends.

A preemptible job running now is kept running to its end as any other: it may be split, not
must be (a plan in time could stop it for cheaper hours; none is made). Its end is counted
from its latest start, `duration` after it: a job resumed from a checkpoint ends sooner, so
its room is held longer than it runs, never shorter. A recurring job's running job is the run
whose window holds its start (its release at or before it, its due after it): that run is done
where it runs and the others are placed; one started before the horizon is a run before it
(no run of the horizon is taken off). A run some of whose replicas run and others not, or one
whose start the state does not say, is refused (E0906): which run it is, or how to place the
rest of one run apart from it, is not known.
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
from fitlang.model.problem import Demand, Hold, Problem


class RunningJob(Frozen):
    """One running job of a workload of the policy (all its replicas)."""

    workload: str
    job: str  # its id, as squeue writes it
    nodes: tuple[str, ...]  # each replica's node, in the state's order
    ends: int | None  # seconds since the epoch; None: not known (no start stated)
    late: bool = False  # it ends after its deadline (its run's, for a recurring job)
    due: int | None = None  # that deadline, seconds since the epoch

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
    # workload -> the runs of a recurring job done where they run (indexes into its runs)
    runs_done: dict[str, set[int]] = field(default_factory=dict)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (workload, job, why)


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
    runs = _runs_running(program, horizon, nodes, times)
    for (name, job), on in nodes.items():
        workload = program.workloads[name]
        started, limit_ends = times[(name, job)]
        due = start + math.floor(_deadline(workload, horizon))
        if workload.every is not None:
            run = runs[(name, job)]
            if isinstance(run, str):
                found.refused.append((name, job, run))
                continue
            if run is not None:
                found.runs_done.setdefault(name, set()).add(run[0])
                due = start + math.floor(run[1])
        ends = _ends(workload, started, limit_ends)
        late = ends is not None and ends > due
        running = RunningJob(workload=name, job=job, nodes=tuple(on), ends=ends, late=late, due=due)
        found.jobs.append(running)
        if workload.every is None:
            found.replicas[name] = found.replicas.get(name, 0) + len(on)
        if not running.done_by(start):
            room = (foreign_room(work for work in state.held_by_policy if work.job == job)
                    if job in held else _stated_room(workload, on))
            _held_until(found, room, _until(horizon, ends), f"{job} ({name})")
    return found


# a running job's run of a recurring job: (its index, its due in seconds after the start);
# None: a run of none of the horizon's; a text: why it cannot be told
RunOf = tuple[int, Fraction] | str | None


def _runs_running(program: Program, horizon: Horizon, nodes: dict[tuple[str, str], list[str]],
                  times: dict[tuple[str, str], tuple[int | None, int | None]]
                  ) -> dict[tuple[str, str], RunOf]:
    """Per running job of a recurring workload, the run it is (`_run_of`), or why it cannot be
    told. A run may be several jobs (a Kubernetes Job's pods are read one by one), so a run is
    whole where its jobs together run a run's replicas."""
    found: dict[tuple[str, str], RunOf] = {}
    per_run: dict[tuple[str, int], int] = {}  # (workload, run) -> its replicas running
    for (name, job), on in nodes.items():
        workload = program.workloads[name]
        if workload.every is not None:
            found[(name, job)] = run = _run_of(workload, horizon, times[(name, job)][0])
            if isinstance(run, tuple):
                per_run[(name, run[0])] = per_run.get((name, run[0]), 0) + len(on)
    for (name, job), run in found.items():
        replicas = program.workloads[name].replicas
        if isinstance(run, tuple) and per_run[(name, run[0])] != replicas:
            found[(name, job)] = (f"its run ({run[0] + 1} of the horizon) runs {per_run[(name, run[0])]} of "
                                  f"a run's {replicas} replicas, and the rest of a run are not placed "
                                  "apart from it")
    return found


def _run_of(workload: Workload, horizon: Horizon, started: int | None) -> RunOf:
    """The run of a recurring job a running job is: (its index, its due in seconds after the
    start); None for a job started before the horizon, or outside every run's window (a run
    of none of the horizon's); why not, where it cannot be told."""
    from fitlang.check.timing import recurring_runs

    if started is None:
        return "its start is not stated, so which run it is is not known"
    after = started - epoch(horizon.start)
    runs = recurring_runs(workload, horizon)
    index = next((k for k, run in enumerate(runs) if run.release <= after < run.due), None)
    return None if index is None else (index, runs[index].due)


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
    if not replicas and not found.runs_done:
        return problem
    demands = [dataclasses.replace(demand, replicas=max(0, demand.replicas - replicas[demand.name]))
               if demand.group is None and demand.name in replicas else
               _runs_left(demand, found.runs_done[demand.name])
               if demand.group is None and demand.name in found.runs_done else demand
               for demand in problem.demands]
    named: dict[str, tuple[str, ...]] = {}
    for job in found.jobs:
        named[job.workload] = (*named.get(job.workload, ()), job.described(start))
    return dataclasses.replace(problem, demands=demands, running_jobs=named)


def _runs_left(demand: Demand, done: set[int]) -> Demand:
    """A recurring job without the runs done where they run: the rest, numbered as before
    (run by run), each still its own window."""
    runs = tuple(run for index, run in enumerate(demand.runs) if index not in done)
    per_run = demand.replicas_per_run
    if not runs:
        return dataclasses.replace(demand, replicas=0, runs=())
    return dataclasses.replace(demand, window=runs[0], runs=runs, replicas=per_run * len(runs))
