"""What runs a plan on Slurm (`fitc plan --target slurm --out DIR`): a shell script per wave.

A running job cannot move: it is requeued and held (`scontrol requeuehold`), its required
nodes set to the nodes its tasks run on after the wave (`scontrol update JobId=... ReqNodeList=
... NumNodes=...`, and where the most tasks it runs on a node changes, that many and the memory
they take there: `TasksPerNode=`, `MinMemoryNode=`), and released (`scontrol release`); once
every job of the wave is on its way, the script waits until each runs again (Slurm holds a
requeued job back for `AuthInfo=cred_expire`, 120 s by default: the jobs of a wave wait it out
together), so a wave ends with its jobs running where the plan puts them. A job a wave
stops entirely is cancelled (`scancel`). The nodes a wave empties are drained first
(`State=DRAIN`): nothing new starts there. Every job id and node name is shell-quoted.

What the script does not do is a warning: a replica with no job id in the current state
(fitc's placement JSON names none), a replica to start (submit the job `fitc compile --target
slurm` writes). W0822: requeueing a job restarts all its tasks, not only those the plan moves.
"""

from __future__ import annotations

import shlex
from collections import Counter

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.model.current import ReplicaName
from fitlang.span import FIRST_CHARACTER
from fitlang.targets.base import CompileContext
from fitlang.targets.waves import PlanStages, Stage

MIB = 2 ** 20
WAIT_RUNNING = """\
wait_running() {  # until job $1 runs again, or has left the queue
  while state=$(squeue -h -j "$1" -o %T 2>/dev/null) && [ -n "$state" ] && [ "$state" != RUNNING ]; do
    sleep "${FITC_POLL_SECONDS:-5}"
  done
}"""


def render_plan(context: CompileContext, planned: PlanStages
                ) -> tuple[dict[str, str], list[Diagnostic]]:
    jobs = _jobs(planned)
    files: dict[str, str] = {}
    notes = _Notes()
    for stage in planned.stages:
        files[f"{stage.folder}/run.sh"] = _script(planned, stage, jobs, notes)
    return files, notes.diagnostics(context.program.path)


class _Notes:
    """What the scripts leave undone (W0820) and the tasks they restart beyond the plan's
    moves (W0822), each said once with a count and its first case: a plan of thousands of
    moves gets two warnings, not thousands."""

    def __init__(self) -> None:
        self.undone: list[str] = []
        self.restarted: list[tuple[str, int]] = []  # (what, tasks restarted beyond the moves)
        self.spread: list[str] = []  # jobs whose tasks per node Slurm would spread otherwise

    def diagnostics(self, root: str) -> list[Diagnostic]:
        found = []
        if self.undone:
            found.append(msg.PlanNotRun.at(root, FIRST_CHARACTER, target="slurm", detail=(
                f"{len(self.undone)} replica(s) to move or start have no job in the current state "
                f"(the first: {self.undone[0]}): each is a `# not done here` line of its wave's "
                "run.sh; requeue those by hand, submit the others (`fitc compile --target slurm`)")))
        if self.spread:
            found.append(msg.PlanNotRun.at(root, FIRST_CHARACTER, target="slurm", detail=(
                f"{len(self.spread)} requeued job(s) get tasks per node that Slurm's block "
                f"distribution does not give (the first: {self.spread[0]}): Slurm spreads them "
                "as evenly as it can over the nodes named")))
        if self.restarted:
            extra = sum(count for _, count in self.restarted)
            found.append(msg.PlanMovesMore.at(root, FIRST_CHARACTER, target="slurm", detail=(
                f"requeueing {len(self.restarted)} job(s) restarts {extra} task(s) the plan does "
                f"not move (the first: {self.restarted[0][0]})")))
        return found


def _jobs(planned: PlanStages) -> dict[str, Counter]:
    """Job id -> its tasks per node before the plan ("" a node the policy lacks)."""
    jobs: dict[str, Counter] = {}
    for (_, node), names in sorted(planned.handles.items()):
        for name in names:
            if _job_id(name) is not None:
                jobs.setdefault(str(name), Counter())[node] += 1
    return jobs


def _job_id(handle: ReplicaName | None) -> str | None:
    """The Slurm job running a replica, as squeue and scontrol write it; None where the state
    names none (a placement), or names a pod (kubectl's state: namespace/name), no job."""
    return None if handle is None or handle.namespace is not None else str(handle)


def _script(planned: PlanStages, stage: Stage, jobs: dict[str, Counter], notes: _Notes) -> str:
    lines = ["#!/bin/sh", f"# fitc plan, {stage.folder}: {_summary(stage)}",
             "# Each command must succeed before the next (set -e); squeue and scontrol reach "
             "the cluster of SLURM_CONF.", "set -eu", WAIT_RUNNING]
    reason = shlex.quote(f"fitc plan {stage.folder}")
    lines += [f"scontrol update NodeName={shlex.quote(node)} State=RESUME" for node in stage.resumed]
    for node in stage.drained + stage.released:
        lines.append(f"scontrol update NodeName={shlex.quote(node)} State=DRAIN Reason={reason}")
    touched: dict[str, Counter] = {}
    memory: dict[str, int] = {}  # job -> a task's memory (its workload's), bytes
    for move in stage.moves:
        job = _job_id(move.handle)
        if job is None:
            source = move.source or "a node the policy lacks"
            what = f"start a replica of `{move.workload}` on {move.target}" if move.kind == "start" \
                else f"{move.kind} the replica of `{move.workload}` on {source}"
            notes.undone.append(f"{stage.folder}: {what}")
            lines.append(f"# not done here: {what}")
            continue
        memory.setdefault(job, planned.problem.demand(move.demand).requests["memory"])
        tasks = touched.setdefault(job, Counter(jobs.get(job, Counter())))
        tasks[move.source] -= 1
        if move.target:
            tasks[move.target] += 1
    waits = []
    for job, tasks in sorted(touched.items(), key=lambda item: _job_order(item[0])):
        lines += _requeued(job, +tasks, jobs.get(job, Counter()), stage, notes, memory[job])
        if +tasks:
            waits.append(f"wait_running {shlex.quote(job)}")
        jobs[job] = +tasks  # the next stage starts from here
    return "\n".join(lines + waits) + "\n"  # every job on its way, then waited for: one delay


def _requeued(job: str, tasks: Counter, before: Counter, stage: Stage, notes: _Notes,
              task_memory: int) -> list[str]:
    quoted = shlex.quote(job)
    if not tasks:
        return [f"scancel {quoted}"]
    moved = sum((before - tasks).values())
    if sum(before.values()) > moved:
        notes.restarted.append((f"job {job} in {stage.folder}, {sum(before.values())} task(s) for "
                                f"{moved} moved", sum(before.values()) - moved))
    nodes = sorted(node for node in tasks if node)
    per_node = [tasks[node] for node in nodes]
    if per_node != _block(sum(per_node), len(nodes)):
        notes.spread.append(f"job {job} in {stage.folder}: "
                            + ", ".join(f"{node} {tasks[node]}" for node in nodes))
    update = f"scontrol update JobId={quoted} ReqNodeList={shlex.quote(','.join(nodes))} " \
             f"NumNodes={len(nodes)}"
    if sum(tasks.values()) != sum(before.values()):
        update += f" NumTasks={sum(tasks.values())}"
    most = max(per_node)
    if most != max(before.values(), default=0):
        # a requeued job keeps its `--ntasks-per-node` and `--mem` (per node): gathered onto
        # fewer nodes it would stay pending for ever (seen on a real Slurm 22.05: 2 tasks of
        # `--ntasks-per-node=1` sent to one node), and spread out it would hold memory for
        # tasks it no longer runs there; MiB without a unit (22.05 refuses `131072M`)
        update += f" TasksPerNode={most} MinMemoryNode={max(1, -(-most * task_memory // MIB))}"
    return [f"scontrol requeuehold {quoted}", update, f"scontrol release {quoted}"]


def _block(tasks: int, nodes: int) -> list[int]:
    """Tasks per node as Slurm's block distribution gives them: as even as can be, the first
    nodes (in node list order) one more."""
    each, more = divmod(tasks, nodes)
    return [each + 1] * more + [each] * (nodes - more)


def _job_order(job: str) -> tuple[int, str]:
    return (int(job), "") if job.isdigit() else (-1, job)


def _summary(stage: Stage) -> str:
    if stage.kind == "buy":
        return f"before the moves: {len(stage.moves)} replica(s) beyond the policy's stop"
    if stage.kind == "release":
        return "after the moves: the nodes bought earlier and left empty are drained for release"
    return f"{len(stage.moves)} replica(s) move or start"


def render_reached(target, context: CompileContext, planned: PlanStages
                   ) -> tuple[dict[str, str], list[Diagnostic]]:
    """`fitc compile --current`: `compile`'s batch scripts for the plan's end state (each job
    pinned to the nodes the end state puts its tasks on), to submit where nothing of the
    policy runs. Jobs that run now cannot be pointed elsewhere by a new script: W0824 names
    them (the plan's waves requeue them; or cancel them first)."""
    jobs = sorted({str(job) for names in planned.handles.values() for job in names
                   if _job_id(job) is not None}, key=_job_order)
    found = []
    if jobs:
        found.append(msg.ReachedBesideCurrent.at(
            context.program.path, FIRST_CHARACTER, target="slurm", detail=(
                f"{len(jobs)} job(s) of the policy run now (the first: {jobs[0]}): these scripts "
                "submit the end state anew, so beside them the work runs twice; move them with "
                "`fitc plan --target slurm`, or cancel them (`scancel`) before submitting")))
    return target.render(context), found
