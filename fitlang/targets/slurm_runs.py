"""Slurm in time for recurring and preemptible jobs (issue 19).

A job that runs once is one script with `--begin` (its solved start) and `--deadline` (its
window's end), in `slurm.py`. Two kinds of job start more than once:

- A recurring job (`every`) is one job array, a task per run: the script states run 0's
  `--begin`, `--deadline` and `--nodelist` and `--hold`; `NAME.submit.sh` submits it, gives each
  later task its own run's solved start, deadline and nodes (`scontrol update
  JobId=ID_K StartTime=... Deadline=... NodeList=...`: Slurm 22.05 splits the task off the
  array record and keeps what it is given) and releases the array. One array has one shape
  (tasks per node, GPUs, features) for all its tasks: where the solver placed the runs in
  different shapes, started a run's replicas apart, or made a run a heterogeneous job (which
  Slurm cannot array), the runs are written apart instead (`run_starts`): a script per run
  (`NAME-runK.sbatch`), or per start of a run whose replicas start apart
  (`NAME-runK-startJ.sbatch`), each with its own begin, deadline, nodes and tasks, so that
  what runs is the placement (W0956). The solver is not held to one shape per run: that
  would cost every target the cheaper placements to spare Slurm a script per run.
- A preemptible job's segments are one script each (`NAME-segK.sbatch`, in start order), each
  with its segment's `--begin`, `--time` (the segment's length: Slurm ends it there) and the
  window's `--deadline`; `NAME.submit.sh` submits them in order, each after the previous
  segment of its replicas has ended (`--dependency=afterany:ID`), so two segments of a replica
  never run at once. Slurm stops a segment at its time limit (SIGTERM, then SIGKILL after
  `KillWait`): the job must checkpoint and resume from it, W0952 says so.

A job that runs once but whose replicas the solver starts at different steps (a node that
holds one replica at a time, say) is one script per start (`NAME-startK.sbatch`), each its
start's `--begin`, nodes and tasks and the window's `--deadline`: W0955 says the workload's
tasks are split across jobs. A gang is never split (E0601).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from fitlang.model.problem import Demand
from fitlang.targets.base import CompileContext, Split

ARRAY_SUFFIX = ".submit.sh"
SUBMIT_ALL = "submit.sh"  # with a horizon: submits every script, in UTC
# sbatch and scontrol read `--begin`, `--deadline`, `StartTime=` in the time zone of the host
# that runs them (Slurm 22.05 takes no offset); fitc writes UTC, so every submit script runs
# them in UTC whatever the host's zone
IN_UTC = ("# The instants are UTC; sbatch and scontrol read an instant in the time zone of",
          "# the host that runs them, so they run in UTC here.",
          "export TZ=UTC")
START_INFIX = "-start"  # `NAME-startK.sbatch`: the K-th start of a job whose replicas start apart


@dataclass(frozen=True)
class TimedGroup:
    """Replicas of one workload that start and end together: one job (or one array task)."""

    start: int
    end: int
    deadline: int  # the step the window of these replicas ends at
    splits: tuple[Split, ...]
    replicas: frozenset[int]

    def shape(self) -> tuple:
        """What an array task shares with the others: each class's tasks per node, in order."""
        return tuple((s.node_class.id, tuple(sorted(s.per_node.values()))) for s in self.splits)

    def nodes(self) -> list[str]:
        return [node for split in self.splits for node in split.nodes]


def demand_of(context: CompileContext, workload) -> Demand:
    name = workload.name if workload.option is None else f"{workload.name}[{workload.option}]"
    return context.problem.demand(name)


def groups(context: CompileContext, workload, key) -> list[TimedGroup]:
    """The workload's assignments grouped by `key(assignment)`, each group's splits in placement
    order; groups in order of their key."""
    demand = demand_of(context, workload)
    owners = context.problem.owners()
    found: dict = {}
    for assignment in context.placement.assignments:
        if assignment.workload == demand.name:
            found.setdefault(key(assignment), []).append(assignment)
    made = []
    for _, members in sorted(found.items()):
        splits: dict[str, Split] = {}
        for member in members:
            node_class = owners[member.node]
            split = splits.setdefault(node_class.id, Split(workload, node_class, [], {}))
            if member.node not in split.per_node:
                split.nodes.append(member.node)
            split.per_node[member.node] = split.per_node.get(member.node, 0) + 1
        starts = {getattr(m, "start", 0) for m in members}
        ends = {getattr(m, "end", 0) for m in members}
        window = _window_of(demand, min(starts), min(m.replica for m in members))
        made.append(TimedGroup(min(starts), max(ends), window.latest_start + window.duration,
                               tuple(splits.values()), frozenset(m.replica for m in members)))
    return made


def _window_of(demand: Demand, start: int, replica: int):
    """The window of a group of replicas: a recurring job's replicas are numbered run by run
    (`replicas_per_run` each), so the replica names its run; another job has one window (the
    one its start lies in, as a start, not as the end of the window before)."""
    if demand.runs:
        return demand.windows[min(replica // max(1, demand.replicas_per_run),
                                  len(demand.windows) - 1)]
    return next((w for w in demand.windows if w.earliest <= start <= w.latest_start),
                demand.windows[0])


def runs(context: CompileContext, workload) -> list[TimedGroup]:
    """A recurring job's runs, one group each (run k holds replicas k x per_run onward)."""
    per_run = demand_of(context, workload).replicas_per_run
    return groups(context, workload, lambda a: a.replica // per_run)


def run_starts(context: CompileContext, workload) -> list[tuple[int, TimedGroup]]:
    """A recurring job's runs, each split by the step its replicas start at: (run, group), in
    run order, then start order."""
    per_run = demand_of(context, workload).replicas_per_run
    found = groups(context, workload, lambda a: (a.replica // per_run, getattr(a, "start", 0)))
    return [(min(group.replicas) // per_run, group) for group in found]


def starts(context: CompileContext, workload) -> list[TimedGroup]:
    """A job's replicas by the step they start at, one group per start, in start order (a job
    that runs once and unbroken: all of a start's replicas end together)."""
    return groups(context, workload, lambda a: getattr(a, "start", 0))


def segments(context: CompileContext, workload) -> list[TimedGroup]:
    """A preemptible job's segments, those of several replicas that start and end together as
    one group, in start order."""
    return groups(context, workload, lambda a: (getattr(a, "start", 0), getattr(a, "end", 0)))


def array_problems(context: CompileContext, workload) -> list[str]:
    """Why one job array cannot run the recurring job's runs exactly (empty: it can)."""
    found = runs(context, workload)
    problems = []
    demand = demand_of(context, workload)
    starts: dict[int, set[int]] = {}  # run -> the steps its replicas start at
    for a in context.placement.assignments:
        if a.workload == demand.name:
            starts.setdefault(a.replica // demand.replicas_per_run, set()).add(getattr(a, "start", 0))
    apart = next((run for run, steps in sorted(starts.items()) if len(steps) > 1), None)
    if apart is not None:
        problems.append(f"the replicas of run {apart} of `{workload.name}` start at different "
                        f"times ({len(starts[apart])} starts): an array task's tasks start together")
    if len({run.shape() for run in found}) > 1:
        problems.append(f"the runs of `{workload.name}` are placed in different shapes (classes or "
                        "tasks per node): one job array has one shape for all its tasks")
    elif found and len(found[0].splits) > 1 and len({tuple(r.nodes()) for r in found}) > 1:
        problems.append(f"the runs of `{workload.name}` use several pools on different nodes: a "
                        "heterogeneous array task cannot be given other nodes")
    return problems


def array_submit_script(script: str, tasks: list[tuple[int, str, str, str | None]]) -> str:
    """Submits the held array `script`, gives task K (K >= 1) its start, deadline and nodes,
    then releases it. `tasks`: (K, start, deadline, node list or None when run 0's)."""
    lines = ["#!/bin/sh",
             f"# Submits {script} (a job array held, one task per run of a recurring job), gives",
             "# each run after the first its solved start, deadline and nodes, then releases it.",
             "set -eu",
             'cd "$(dirname "$0")"',
             *IN_UTC,
             f"id=$(sbatch --parsable {shlex.quote(script)})",
             'id=${id%%;*}']
    for task, start, deadline, nodes in tasks:
        words = [f'JobId="${{id}}_{task}"', f"StartTime={start}", f"Deadline={deadline}"]
        if nodes is not None:
            words.append(f"NodeList={shlex.quote(nodes)}")
        lines.append("scontrol update " + " ".join(words))
    lines.append('scontrol release "$id"')
    return "\n".join(lines) + "\n"


def chain_submit_script(scripts: list[tuple[str, list[int]]]) -> str:
    """Submits each segment's script in order, after the segments it follows have ended.
    `scripts`: (file, indexes of the earlier scripts it waits for)."""
    lines = ["#!/bin/sh",
             "# Submits the segments of a preemptible job in order; each waits for the previous",
             "# segment of its replicas to end (afterany: Slurm ends a segment at its --time).",
             "# The job must checkpoint before then and resume from its checkpoint.",
             "set -eu",
             'cd "$(dirname "$0")"',
             *IN_UTC]
    for index, (script, after) in enumerate(scripts):
        dependency = ""
        if after:
            dependency = " --dependency=afterany:" + ":".join(f"$j{k}" for k in after)
        lines.append(f"j{index}=$(sbatch --parsable{dependency} {shlex.quote(script)})")
        lines.append(f"j{index}=${{j{index}%%;*}}")
    return "\n".join(lines) + "\n"


def submit_all_script(source: str, scripts: list[str]) -> str:
    """Submits each batch script (`sbatch`) and runs each submit script (`sh`), in UTC."""
    lines = ["#!/bin/sh",
             f"# Generated by fitc from {source}: submits every job of the placement, each",
             "# to start at its solved time.",
             "set -eu",
             'cd "$(dirname "$0")"',
             *IN_UTC]
    for script in scripts:
        runner = "sh" if script.endswith(ARRAY_SUFFIX) else "sbatch"
        lines.append(f"{runner} {shlex.quote(script)}")
    return "\n".join(lines) + "\n"


def follows(segments_: list[TimedGroup]) -> list[list[int]]:
    """For each segment, the earlier segments holding the previous segment of its replicas."""
    last: dict[int, int] = {}
    found = []
    for index, segment in enumerate(segments_):
        found.append(sorted({last[r] for r in segment.replicas if r in last}))
        for replica in segment.replicas:
            last[replica] = index
    return found
