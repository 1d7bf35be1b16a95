"""The Slurm fidelity check of a plan's wave scripts (issue 18): after each wave's `run.sh`,
does every job run where the plan's waves put its tasks?

It reads the scripts as the shell and Slurm would, sharing nothing with `slurm_plan`'s
arithmetic: each `run.sh` line by shlex, the commands replayed in order against the jobs the
current state names (`PlanStages.handles`: job id -> its tasks per node):

- `scontrol requeuehold JOB` stops a running job and holds it; `scontrol update JobId=JOB
  ReqNodeList=L NumNodes=N [NumTasks=T]` sets where it runs next, which Slurm takes of a held
  (pending) job only: every node of L (N below their number is raised to it; above it, Slurm
  adds nodes of its choice; a job keeps its tasks per node, at most the most it ran on one,
  until `TasksPerNode=` says otherwise: more tasks than that on the nodes of L and it stays
  pending, as a real Slurm 22.05 kept one); `scontrol release JOB` lets it start; `scancel
  JOB` ends it.
  (tests/test_plan_fidelity.py checks these rules on a real Slurm.)
- `scontrol update NodeName=N State=DRAIN` / `State=RESUME`: nothing new starts on a drained
  node; `wait_running JOB` (the script's own loop on squeue) waits for a job to run or to
  leave the queue, forever for one held or bound to a drained node.

After each wave, each job must run on the nodes the plan's moves of its tasks put them on
(its start's tasks, each move that names the job applied), with as many tasks, and no job may
be left held or pending; and no node's running jobs may take more than it has beside the
jobs of no workload running there (the current state's, which the plan does not move:
`NodeClass.capacity_of`), CPUs as Slurm gives them (`rules/capacity.used_on_node`), unless
the node took more when the wave began (what runs now may overfill one: the plan repairs it,
no worse: `solve/repair_first.py`). Tasks per node follow: where the plan gives each node as many,
Slurm's block distribution does too; other counts Slurm spreads its own way, which
`slurm_plan` warns of (W0820). A job no move names keeps running as it was.
"""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass, field

from fitlang.diagnostics import Diagnostic
from fitlang.targets.base import CompileContext, Findings
from fitlang.targets.slurm_fidelity import expand_hostlist
from fitlang.targets.waves import PlanStages, script_commands

_QUEUE = ("scontrol", "scancel", "wait_running")  # the commands of a wave that act on the queue

Tasks = Counter  # node ("" a node the policy lacks) -> the job's tasks there


def check_plan(context: CompileContext, planned: PlanStages, files: dict[str, str],
               need: Findings) -> list[Diagnostic]:
    """Each way running the wave scripts of `files` in order leaves a job elsewhere than the
    plan's waves put it, as one diagnostic."""
    wanted = {job: Tasks(tasks) for job, tasks in _start(planned).items()}
    queue = _Queue({job: _Job(Tasks(tasks)) for job, tasks in wanted.items()})
    found: list[str] = []
    room = _Room(context, planned)
    for stage in planned.stages:
        began = room.used(queue)
        for move in stage.moves:
            if move.handle is not None and move.handle.namespace is None:  # a job, not a pod
                tasks = wanted.setdefault(str(move.handle), Tasks())
                tasks[move.source] -= 1
                if move.target:
                    tasks[move.target] += 1
        for words in script_commands(files.get(f"{stage.folder}/run.sh", ""), _QUEUE):  # none: nothing runs
            found += [f"{stage.folder}/run.sh: {problem}" for problem in queue.run(words)]
        found += [f"{stage.folder}: {problem}" for problem in queue.settled()]
        found += [f"{stage.folder}: {problem}" for problem in queue.differences(wanted)]
        found += [f"{stage.folder}: {problem}" for problem in room.overfull(queue, began)]
    return [need(detail) for detail in found]


class _Room:
    """What the running jobs of the policy's workloads take of each node, beside the jobs of
    no workload running there (the current state's, which the plan does not move: off the
    node's room, `NodeClass.capacity_of`)."""

    def __init__(self, context: CompileContext, planned: PlanStages):
        self.problem = context.problem
        self.owners = context.problem.owners()
        self.demand = {str(name): demand for (demand, _), names in planned.handles.items()
                       for name in names if name.namespace is None}

    def used(self, queue: _Queue) -> dict[str, dict[str, int]]:
        """Node -> what the running jobs take of it, per resource (Slurm's whole CPUs)."""
        from fitlang.rules.capacity import used_on_node

        jobs: dict[str, list] = {}
        for job, known in queue.jobs.items():
            demand = self.demand.get(job)
            if known.state != "RUNNING" or demand is None:
                continue
            for node, tasks in known.per_node().items():
                if node in self.owners:
                    jobs.setdefault(node, []).append((self.problem.demand(demand), tasks))
        return {node: used_on_node(self.owners[node], listed) for node, listed in jobs.items()}

    def overfull(self, queue: _Queue, began: dict[str, dict[str, int]]) -> list[str]:
        """Each node whose jobs take more than its room beside the jobs of no workload, and more
        than when the wave began (a state that overfilled a node already may stay so while the
        plan repairs it, no worse: `solve/repair_first.py`)."""
        from fitlang.rules.capacity import readable

        found = []
        for node, used in sorted(self.used(queue).items()):
            room, before = self.owners[node].capacity_of(node), began.get(node, {})
            short = [f"{r} {readable(r, used[r])} > {readable(r, room[r])}" for r in room
                     if used[r] > room[r] and used[r] > before.get(r, 0)]
            if short:
                found.append(f"node {node}: its jobs take more than the jobs of no workload running "
                             f"there leave ({', '.join(short)}): Slurm leaves a job pending")
        return found


def _start(planned: PlanStages) -> dict[str, Tasks]:
    jobs: dict[str, Tasks] = {}
    for (_, node), names in planned.handles.items():
        for name in names:
            if name.namespace is None:  # a job, not a pod (a kubectl state names pods)
                jobs.setdefault(str(name), Tasks())[node] += 1
    return jobs


@dataclass
class _Job:
    tasks: Tasks  # per node, where Slurm's distribution is known; see `nodes` and `total`
    state: str = "RUNNING"  # RUNNING, HELD, PENDING (released, to start), GONE
    nodes: list[str] = field(default_factory=list)  # ReqNodeList once updated
    total: int = 0  # tasks once updated
    # the most tasks it takes a node (`--ntasks-per-node`, which a requeue keeps): the most it
    # runs on one now, until an update sets `TasksPerNode`
    most: int = 0

    def where(self) -> set[str]:
        return set(self.nodes) if self.nodes else set(+self.tasks)

    def count(self) -> int:
        return self.total if self.nodes else sum(self.tasks.values())

    def per_node(self) -> Tasks:
        """Its tasks per node: once updated, as Slurm's block distribution gives them (as many
        on each node, the first nodes one more where they do not divide)."""
        if not self.nodes:
            return +self.tasks
        each, more = divmod(self.total, len(self.nodes))
        return +Tasks({node: each + (index < more) for index, node in enumerate(self.nodes)})


class _Queue:
    """The jobs and nodes as the scripts leave them, command by command."""

    def __init__(self, jobs: dict[str, _Job]):
        self.jobs = jobs
        self.drained: set[str] = set()

    def run(self, words: list[str]) -> list[str]:
        if words[0] == "wait_running" and len(words) == 2:
            return self._wait(words[1])
        if words[0] == "scancel" and len(words) == 2:
            return self._job(words[1], "scancel", ("RUNNING", "HELD", "PENDING"), "GONE")
        if words[:1] == ["scontrol"] and len(words) == 3 and words[1] in ("requeuehold", "release"):
            if words[1] == "requeuehold":
                return self._job(words[2], "requeuehold", ("RUNNING", "PENDING"), "HELD")
            return self._job(words[2], "release", ("HELD",), "PENDING")
        if words[:2] == ["scontrol", "update"]:
            settings = dict(word.partition("=")[::2] for word in words[2:])
            if "NodeName" in settings:
                return self._node(settings)
            if "JobId" in settings:
                return self._update(settings)
        return [f"`{shlex.join(words)}`: not a command these checks read"]

    def _job(self, job: str, command: str, states: tuple[str, ...], then: str) -> list[str]:
        known = self.jobs.get(job)
        if known is None or known.state not in states:
            what = "is not in the queue" if known is None or known.state == "GONE" else \
                f"is {known.state.lower()}"
            return [f"`{command} {job}`: job {job} {what} (Slurm refuses it and the wave stops)"]
        known.state = then
        return []

    def _node(self, settings: dict[str, str]) -> list[str]:
        nodes = expand_hostlist(settings["NodeName"])
        state = settings.get("State", "").upper()
        if state == "DRAIN":
            self.drained |= set(nodes)
        elif state == "RESUME":
            self.drained -= set(nodes)
        else:
            return [f"node {settings['NodeName']} set to State={state}, which no plan writes"]
        return []

    def _update(self, settings: dict[str, str]) -> list[str]:
        job = settings["JobId"]
        known = self.jobs.get(job)
        if known is None or known.state not in ("HELD", "PENDING"):
            what = "is not in the queue" if known is None or known.state == "GONE" else "runs"
            return [f"`scontrol update JobId={job}`: job {job} {what}: Slurm changes the nodes of "
                    "a pending job only"]
        try:
            nodes = expand_hostlist(settings.get("ReqNodeList", ""))
            count = int(settings.get("NumNodes", len(nodes)))
            total = int(settings.get("NumTasks", known.count()))
        except ValueError as error:
            return [f"`scontrol update JobId={job}`: {error}"]
        problems = []
        most = settings.get("TasksPerNode")
        known.most = int(most) if most is not None and most.isdigit() else known.most or max(
            known.tasks.values(), default=0)
        if known.most and known.most * len(set(nodes)) < total:
            problems.append(f"job {job}: {total} task(s) on {len(set(nodes))} node(s) of ReqNodeList, "
                            f"at most {known.most} a node (its tasks per node, which the requeue "
                            "keeps): it stays pending")
        if count > len(set(nodes)):
            problems.append(f"job {job}: NumNodes={count} for the {len(set(nodes))} node(s) of "
                            "ReqNodeList (Slurm adds nodes of its choice)")
        known.nodes, known.total = sorted(set(nodes)), total
        return problems

    def _wait(self, job: str) -> list[str]:
        known = self.jobs.get(job)
        if known is None or known.state in ("RUNNING", "GONE"):
            return []
        bound = sorted(known.where() & self.drained)
        if known.state == "HELD" or bound:
            why = "held" if known.state == "HELD" else f"bound to drained node {bound[0]}"
            return [f"`wait_running {job}` waits forever: job {job} is {why}"]
        known.state = "RUNNING"
        return []

    def settled(self) -> list[str]:
        """Jobs a wave leaves not running: held, or released and never waited for."""
        return [f"job {job} is {known.state.lower()} at the wave's end, not running"
                for job, known in sorted(self.jobs.items()) if known.state in ("HELD", "PENDING")]

    def differences(self, wanted: dict[str, Tasks]) -> list[str]:
        """Where the jobs run against where the plan puts their tasks (the first few)."""
        found = []
        for job in sorted(set(wanted) | set(self.jobs)):
            plan = +wanted.get(job, Tasks())
            known = self.jobs.get(job)
            running = known is not None and known.state != "GONE"
            if not plan and not running:
                continue
            if not running:
                found.append(f"job {job} is cancelled; the plan runs {_tasks(plan)}")
                continue
            assert known is not None
            if not plan:
                found.append(f"job {job} still runs; the plan stops it")
            elif known.where() != set(plan) or known.count() != sum(plan.values()):
                found.append(f"job {job} runs {known.count()} task(s) on "
                             f"{', '.join(sorted(known.where())) or 'no node'}; the plan runs {_tasks(plan)}")
        return found[:5] + ([f"and {len(found) - 5} more job(s)"] if len(found) > 5 else [])


def _tasks(tasks: Tasks) -> str:
    return ", ".join(f"{count} on {node or 'a node the policy lacks'}"
                     for node, count in sorted(tasks.items()))
