"""The Slurm fidelity check in time (issue 19): when each script's jobs run, as Slurm reads the
scripts and the `*.submit.sh` scripts that submit them, against the solved starts.

Shares no code with the renderer (`slurm.py`, `slurm_runs.py`). A script runs as one job from
its `--begin` for at most its `--time`, unless it is an array (`--array=A-B`): then each task is
a job of its own, which starts at the script's `--begin`, `--deadline` and `--nodelist` unless a
submit script updates the task (`scontrol update JobId=${ID}_K StartTime=... Deadline=...
NodeList=...`, ID the variable its `sbatch --parsable` set). A script with `--hold` runs only if
a submit script releases it (`scontrol release "$ID"`). Every job (array task) is an `Instance`;
together, per workload, they must start the placement's replicas on their nodes at their
solved starts, each with `--deadline` at the end of the window its start lies in and `--time`
at least its planned length (exactly it for a preemptible job's segment, whose next segment is
planned right after).
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fitlang.targets.base import CompileContext

_SUBMIT = re.compile(r"^(\w+)=\$\(sbatch (.*)\)$")
_TASK = re.compile(r"^JobId=\$\{?(\w+)\}?_(\d+)$")


@dataclass
class Submitted:
    """What the submit scripts do to one batch script."""

    updates: dict[int, dict[str, str]] = field(default_factory=dict)  # array task -> fields
    released: bool = False
    after: set[str] = field(default_factory=set)  # the scripts it starts only after (afterany)


@dataclass
class Instance:
    """One job as Slurm runs it: from `begin` (epoch seconds) for at most `seconds`, on nodes
    with tasks per node."""

    script: str
    job: str
    begin: float | None
    seconds: float | None
    deadline: float | None
    per_node: dict[str, int]


def read_submits(files: dict[str, str], problems: list[str]) -> dict[str, Submitted]:
    """Batch script name -> what the `*.submit.sh` scripts do to it."""
    found: dict[str, Submitted] = {}
    for name, text in sorted(files.items()):
        if not name.endswith(".submit.sh"):
            continue
        variables: dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            submit = _SUBMIT.match(line)
            if submit:
                words = shlex.split(submit[2])
                variables[submit[1]] = words[-1]
                submitted = found.setdefault(words[-1], Submitted())
                for word in words[:-1]:
                    if word.startswith("--dependency=afterany:"):
                        submitted.after |= {variables.get(v.strip("${}"), v) for v in
                                            word.removeprefix("--dependency=afterany:").split(":")}
                continue
            words = shlex.split(line)
            if words[:2] == ["scontrol", "update"]:
                task = _TASK.match(words[2]) if len(words) > 2 else None
                if task is None or task[1] not in variables:
                    problems.append(f"{name}: cannot tell which job `{line}` updates")
                    continue
                fields = dict(w.split("=", 1) for w in words[3:] if "=" in w)
                found[variables[task[1]]].updates[int(task[2])] = fields
            elif words[:2] == ["scontrol", "release"] and len(words) == 3:
                variable = words[2].strip("${}")
                if variable in variables:
                    found[variables[variable]].released = True
    return found


def in_utc(files: dict[str, str]) -> set[str]:
    """The batch scripts some submit script (`submit.sh`, `*.submit.sh`) submits in UTC: after
    `export TZ=UTC`, its own or that of the script that runs it (`sh NAME.submit.sh`): sbatch
    reads `--begin` and `--deadline` in the zone it runs in, and the placement's are UTC."""
    submitted: dict[str, list[tuple[str, bool]]] = {}  # submit script -> (what it runs, in UTC)
    for name, text in files.items():
        if name != "submit.sh" and not name.endswith(".submit.sh"):
            continue
        utc = False
        for line in text.splitlines():
            words = shlex.split(line.strip(), comments=True) if line.strip() else []
            if words == ["export", "TZ=UTC"]:
                utc = True
            elif words[:1] in (["sbatch"], ["sh"]):
                submitted.setdefault(name, []).append((words[-1], utc))
            elif (submit := _SUBMIT.match(line.strip())) is not None:
                submitted.setdefault(name, []).append((shlex.split(submit[2])[-1], utc))
    found = set()
    for name, runs in submitted.items():
        callers = [utc for caller in submitted.values() for script, utc in caller if script == name]
        inherited = bool(callers) and all(callers)
        found |= {script for script, utc in runs if utc or inherited}
    return found


def instances(script: str, job: str, options: dict[str, str], per_node: dict[str, int],
              submitted: Submitted | None, problems: list[str]) -> list[Instance]:
    """The jobs a script runs: one, or one per array task."""
    from fitlang.targets.slurm_fidelity import expand_hostlist

    seconds = _seconds(options.get("time", ""))
    if "hold" in options and (submitted is None or not submitted.released):
        problems.append(f"{script}: --hold, and no submit script releases it: it never runs")
        return []
    array = options.get("array")
    if array is None:
        return [Instance(script, job, instant(options.get("begin")), seconds,
                         instant(options.get("deadline")), per_node)]
    low, _, high = array.partition("-")
    if not low.isdigit() or not (high or low).isdigit():
        problems.append(f"{script}: --array={array} is not a range A-B")
        return []
    made = []
    for task in range(int(low), int(high or low) + 1):
        update = (submitted.updates if submitted else {}).get(task, {})
        nodes = per_node
        if "NodeList" in update:
            listed = expand_hostlist(update["NodeList"])
            counts = set(per_node.values())
            if len(listed) != len(per_node) or len(counts) != 1:
                problems.append(f"{script}: task {task}'s NodeList names {len(listed)} nodes, the "
                                f"script's tasks run on {len(per_node)}")
                continue
            count = counts.pop()  # each node runs as many of the task's tasks
            nodes = {node: count for node in listed}
        made.append(Instance(f"{script} task {task}", job,
                             instant(update.get("StartTime", options.get("begin"))), seconds,
                             instant(update.get("Deadline", options.get("deadline"))), nodes))
    return made


def chained(context: CompileContext, demand_of_job: dict[str, str], made: list[Instance],
            submits: dict[str, Submitted]) -> list[str]:
    """A preemptible job's segments: each that continues a replica (not its first segment) is
    submitted to start only after (`--dependency=afterany:`) an earlier one, so that a segment
    Slurm starts late never runs beside the next. A replica's first segment waits for none:
    two replicas run one after the other on one node need no order between them."""
    problems = []
    for job, demand_name in sorted(demand_of_job.items()):
        if context.problem.demand(demand_name).min_segment is None:
            continue
        begins: dict[str, float] = {i.script: i.begin for i in made
                                    if i.job == job and i.begin is not None}
        continuing = _continuing(context, demand_name)
        nodes = {i.script: set(i.per_node) for i in made if i.job == job}
        order = sorted(begins, key=lambda script: (begins[script], script))
        for script in order[1:]:
            if not any((node, begins[script]) in continuing for node in nodes[script]):
                continue
            after = submits.get(script, Submitted()).after
            if not any(begins.get(s, begins[script]) < begins[script] for s in after):
                problems.append(f"{script}: a segment submitted to start after no earlier "
                                "segment (`--dependency=afterany:`): started late, the one before "
                                "it could run beside it")
    return problems


def _continuing(context: CompileContext, demand_name: str) -> set[tuple[str, float]]:
    """(node, epoch seconds) where the placement starts a segment that is not its replica's
    first."""
    timeline = context.problem.timeline
    assert timeline is not None
    starts = [(a.replica, a.node, getattr(a, "start", 0)) for a in context.placement.assignments
              if a.workload == demand_name]
    first: dict[int, int] = {}
    for replica, _, start in starts:
        first[replica] = min(first.get(replica, start), start)
    origin, step = timeline.start.timestamp(), timeline.step_seconds
    return {(node, origin + start * step) for replica, node, start in starts if start > first[replica]}


def compare(context: CompileContext, demand_of_job: dict[str, str], made: list[Instance]) -> list[str]:
    """The jobs against the placement: replicas per (node, start) of each workload, per (node,
    start, end) of a preemptible one (whose segments from one start may end apart: a script's
    `--time` is its segments' length), each job's deadline and time."""
    timeline = context.problem.timeline
    assert timeline is not None
    origin = timeline.start.timestamp()
    step = timeline.step_seconds
    problems = []
    for job, demand_name in sorted(demand_of_job.items()):
        demand = context.problem.demand(demand_name)
        segments = demand.min_segment is not None
        solved: Counter = Counter()
        ends: dict[tuple[str, float], set[float]] = {}  # two segments may start together
        for a in context.placement.assignments:
            if a.workload == demand_name:
                start, end = origin + getattr(a, "start", 0) * step, origin + getattr(a, "end", 0) * step
                solved[(a.node, start, end) if segments else (a.node, start)] += 1
                ends.setdefault((a.node, start), set()).add(end)
        ran: Counter = Counter()
        for instance in (i for i in made if i.job == job):
            if instance.begin is None:
                problems.append(f"{instance.script}: no --begin: Slurm starts it when it submits it")
                continue
            ended = None if instance.seconds is None else instance.begin + instance.seconds
            for node, count in instance.per_node.items():
                ran[(node, instance.begin, ended) if segments else (node, instance.begin)] += count
            problems += _times(instance, demand, ends, origin, step)
        if ran != solved:
            problems.append(f"`{job}` starts {_listed(ran)}; the placement starts {_listed(solved)}")
    return problems


def _times(instance: Instance, demand, ends: dict, origin: float, step: int) -> list[str]:
    """The job's deadline is its window's end; its time (a service's too) lets it run its
    planned length (and no longer, for a segment of a preemptible job)."""
    assert instance.begin is not None
    problems = []
    # the windows the job may start in (a start lies in [earliest, latest_start]; a start at
    # the end of one run's window is the next run's release, not the end run's)
    dues = sorted(origin + (w.latest_start + w.duration) * step for w in demand.windows
                  if w.earliest <= (instance.begin - origin) / step <= w.latest_start)
    if demand.job and dues and instance.deadline not in dues:
        problems.append(f"{instance.script}: deadline {_utc(instance.deadline)}, its window "
                        f"ends {_utc(dues[0])}")
    planned = {end - instance.begin for node in instance.per_node
               for end in ends.get((node, instance.begin), ())}
    if planned:  # a service too: with no `--time`, the partition's DefaultTime stops it
        # a segment's time is one of the lengths planned from its start (two replicas' segments
        # of different lengths may start together on a node: a script each)
        seconds = instance.seconds
        segment = seconds is not None and demand.min_segment is not None and seconds in planned
        length = seconds if segment and seconds is not None else max(planned)
        if instance.seconds is None or instance.seconds < length:
            problems.append(f"{instance.script}: --time lets it run {_hours(instance.seconds)}, "
                            f"it is planned to run {_hours(length)}")
        elif demand.min_segment is not None and instance.seconds != length:
            problems.append(f"{instance.script}: a segment runs {_hours(instance.seconds)}, "
                            f"planned {_hours(length)}: it would run into the next one")
    return problems


def instant(text: str | None) -> float | None:
    from fitlang.targets.slurm_fidelity import _instant

    return _instant(text)


def _seconds(text: str) -> float | None:
    from fitlang.targets.slurm_fidelity import _minutes

    minutes = _minutes(text)
    return None if minutes is None else minutes * 60


def _utc(epoch: float | None) -> str:
    if epoch is None:
        return "none"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _hours(seconds: float | None) -> str:
    return "its partition's DefaultTime (no --time)" if seconds is None else f"{seconds / 3600:g} h"


def _listed(counts: Counter) -> str:
    """Replicas per (node, start) or (node, start, end); an end None: a job with no `--time`."""
    def order(key: tuple) -> tuple:
        return (key[0], *(-1.0 if moment is None else moment for moment in key[1:]))

    return ", ".join(f"{key[0]} x{counts[key]} at {_utc(key[1])}"
                     + (f" to {_utc(key[2])}" if len(key) > 2 else "") for key in sorted(counts, key=order))
