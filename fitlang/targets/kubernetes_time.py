"""Kubernetes in time (issue 19): a job's replicas that start at one step on one pool become
one Job, created suspended (`spec.suspend: true`) with its start, planned end and deadline in
annotations; `start-jobs.sh` resumes each Job once its start has come (run it at every step,
from cron or a CI schedule). `activeDeadlineSeconds` is the run's planned length: Kubernetes
counts it from when the Job is resumed, so a run resumed at its start ends by its planned end,
hence by its deadline, and never overlaps the runs planned after it on its nodes. Nothing in
the cluster resumes a Job by itself: W0950 says so.

A Deployment (a service) runs the whole horizon, as the placement has it: nothing to add.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime

from fitlang.targets.base import CompileContext, Split, dns_name

START_ANNOTATION = "fitlang.dev/start"
END_ANNOTATION = "fitlang.dev/end"
DEADLINE_ANNOTATION = "fitlang.dev/deadline"
START_SCRIPT = "start-jobs.sh"


@dataclass(frozen=True)
class TimedRun:
    """The replicas of one split that start at one step: one suspended Job."""

    start: int
    end: int
    replicas: int
    deadline: int  # the step the workload's window ends at


def timed_runs(context: CompileContext, split: Split) -> list[TimedRun]:
    """The split's replicas grouped by their solved start, in start order."""
    nodes = set(split.nodes)
    name = split.workload.name if split.workload.option is None else \
        f"{split.workload.name}[{split.workload.option}]"
    window = context.problem.demand(name).window
    assert window is not None  # a horizon gives every demand a window
    counts: dict[tuple[int, int], int] = {}
    for assignment in context.placement.assignments:
        if assignment.workload == name and assignment.node in nodes:
            key = (getattr(assignment, "start", 0), getattr(assignment, "end", 0))
            counts[key] = counts.get(key, 0) + 1
    return [TimedRun(start, end, count, window.latest_start + window.duration)
            for (start, end), count in sorted(counts.items())]


def moment(context: CompileContext, step: int) -> datetime:
    from fitlang.solve.timeline import instant

    timeline = context.problem.timeline
    assert timeline is not None
    return instant(timeline, step)


def job_name(split: Split, start: datetime) -> str:
    """Distinct per split and start: the start in UTC, to the minute."""
    return dns_name(f"{split.workload.name}-{split.node_class.id}-{start:%Y%m%d-%H%M}")


def suspend(job: dict, context: CompileContext, run: TimedRun) -> dict:
    """`job` (a Job built as at rest) made to wait for its start: suspended, its times in
    annotations, its run bounded by its planned length."""
    from fitlang.solve.timeline import iso

    timeline = context.problem.timeline
    assert timeline is not None
    job["metadata"]["annotations"].update({
        START_ANNOTATION: iso(moment(context, run.start)),
        END_ANNOTATION: iso(moment(context, run.end)),
        DEADLINE_ANNOTATION: iso(moment(context, run.deadline))})
    spec = job["spec"]
    spec["suspend"] = True
    spec["completions"] = spec["parallelism"] = run.replicas
    planned = (run.end - run.start) * timeline.step_seconds
    spec["activeDeadlineSeconds"] = min(planned, spec.get("activeDeadlineSeconds", planned))
    return job


def start_script(namespace: str, jobs: list[tuple[datetime, str]]) -> str:
    """A POSIX shell script that resumes each Job whose start has come; run at every step.
    Resuming a Job already resumed changes nothing, so running it again is harmless."""
    from fitlang.solve.timeline import iso

    lines = ["#!/bin/sh",
             "# Resumes each suspended Job once its start (annotation fitlang.dev/start) has come.",
             "# The cluster does not do this by itself: run this at every step of the plan, e.g.",
             f"#   */5 * * * * sh {START_SCRIPT}",
             "# or resume one Job by hand when it is due:",
             "#   kubectl patch job NAME -n NAMESPACE --type=merge -p "
             "'{\"spec\":{\"suspend\":false}}'",
             "set -eu",
             "now=$(date -u +%s)",
             f"namespace={shlex.quote(namespace)}",
             "resume() {",
             "  if [ \"$now\" -ge \"$1\" ]; then",
             "    kubectl patch job \"$2\" -n \"$namespace\" --type=merge "
             "-p '{\"spec\":{\"suspend\":false}}'",
             "  fi",
             "}"]
    for start, name in sorted(jobs):
        lines.append(f"resume {int(start.timestamp())} {shlex.quote(name)}  # {iso(start)}")
    return "\n".join(lines) + "\n"
