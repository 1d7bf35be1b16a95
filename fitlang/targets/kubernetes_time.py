"""Kubernetes in time (issue 19): a job's replicas that start at one step on one pool become
one Job, created suspended (`spec.suspend: true`) with its start, planned end and deadline in
annotations; `start-jobs.sh` resumes each Job once its start has come (run it at every step,
from cron or a CI schedule). `activeDeadlineSeconds` is the run's planned length: Kubernetes
counts it from when the Job is resumed, so a run resumed at its start ends by its planned end,
hence by its deadline, and never overlaps the runs planned after it on its nodes. Nothing in
the cluster resumes a Job by itself: W0950 says so.

A recurring job (`every`) whose runs all start at firings of one cron schedule, and at no other
firing in the horizon (every run at the same offset from its release, one pool, the same
replicas), is one CronJob instead (`schedule` in `timeZone: Etc/UTC`, `concurrencyPolicy:
Forbid`), which the cluster starts by itself. It starts a run at every firing from when it is
applied until it is deleted: W0954 says to apply it at the horizon's start and that it keeps
firing past the horizon's end, runs no solve planned. Runs no schedule fires at exactly stay
suspended Jobs, with W0953 saying why.

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
HORIZON_END_ANNOTATION = "fitlang.dev/horizon-end"  # a CronJob's runs after it are unplanned


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
    demand = context.problem.demand(name)
    counts: dict[tuple[int, int], int] = {}
    for assignment in context.placement.assignments:
        if assignment.workload == name and assignment.node in nodes:
            key = (getattr(assignment, "start", 0), getattr(assignment, "end", 0))
            counts[key] = counts.get(key, 0) + 1
    return [TimedRun(start, end, count, window_end(demand, start))
            for (start, end), count in sorted(counts.items())]


def window_end(demand, start: int) -> int:
    """The step the window a start lies in ends at: a recurring job's run's own, not its
    first run's."""
    windows = demand.windows  # a horizon gives every demand a window
    window = next((w for w in windows if w.earliest <= start <= w.latest_start), windows[0])
    return window.latest_start + window.duration


# ---- a CronJob for a recurring job, where one runs the solved schedule exactly ------------------

CRON_TIME_ZONE = "Etc/UTC"


@dataclass(frozen=True)
class NoCronJob:
    """Why no CronJob runs a recurring job's solved runs exactly (they stay suspended Jobs)."""

    why: str


def cron_schedule(context: CompileContext, split: Split, runs: list[TimedRun]) -> str | NoCronJob:
    """The five-field schedule whose firings in the horizon are exactly the runs' starts, or
    why none is. Candidates are read off the starts (their minutes
    and hours, then their weekdays, then their days of the month) and each is checked by
    enumerating its firings (`check/recurrence.py`), so a schedule written is exact."""
    from fitlang.check.recurrence import parse_cron

    timeline = context.problem.timeline
    assert timeline is not None
    name = split.workload.name if split.workload.option is None else \
        f"{split.workload.name}[{split.workload.option}]"
    demand = context.problem.demand(name)
    if sum(run.replicas for run in runs) != demand.replicas:
        return NoCronJob("its runs are placed on more than one pool (a CronJob's Job has one pod template)")
    if len({run.replicas for run in runs}) > 1 or len(runs) != len(demand.runs):
        return NoCronJob("the replicas of a run start at different times")
    if len({run.end - run.start for run in runs}) > 1:
        return NoCronJob("its runs are planned for different lengths")
    starts = [moment(context, run.start) for run in runs]
    end = moment(context, timeline.steps)
    minutes = ",".join(str(m) for m in sorted({s.minute for s in starts}))
    hours = ",".join(str(h) for h in sorted({s.hour for s in starts}))
    weekdays = ",".join(str(d) for d in sorted({s.isoweekday() % 7 for s in starts}))
    days = ",".join(str(d) for d in sorted({s.day for s in starts}))
    for candidate in (f"{minutes} {hours} * * *", f"{minutes} {hours} * * {weekdays}",
                      f"{minutes} {hours} {days} * *"):
        cron = parse_cron(candidate)
        if not isinstance(cron, str) and cron.firings(timeline.start, end) == starts:
            return candidate
    shown = ", ".join(f"{s:%a %H:%M}" for s in starts[:4]) + (", ..." if len(starts) > 4 else "")
    return NoCronJob(f"the solver starts the runs at different offsets from their releases ({shown}), "
                     "which no cron schedule fires at alone")


def cron_job(job: dict, split: Split, context: CompileContext, runs: list[TimedRun],
             schedule: str) -> dict:
    """`job` (a Job built as at rest) as the template of a CronJob that fires at `schedule`
    in UTC, each Job bounded by the run's planned length; one run at a time."""
    from fitlang.solve.timeline import iso

    timeline = context.problem.timeline
    assert timeline is not None
    spec = job["spec"]
    spec["completions"] = spec["parallelism"] = runs[0].replicas
    planned = (runs[0].end - runs[0].start) * timeline.step_seconds
    spec["activeDeadlineSeconds"] = min(planned, spec.get("activeDeadlineSeconds", planned))
    metadata = job["metadata"]
    # the controller names each Job NAME-<11 characters>, within 63
    metadata["name"] = dns_name(f"{split.workload.name}-{split.node_class.id}", limit=52)
    metadata["annotations"].update({
        START_ANNOTATION: ",".join(iso(moment(context, run.start)) for run in runs),
        HORIZON_END_ANNOTATION: iso(moment(context, timeline.steps))})
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata,
            "spec": {"schedule": schedule, "timeZone": CRON_TIME_ZONE,
                     "concurrencyPolicy": "Forbid",
                     # a run started late may overlap the work planned after it: skip it
                     "startingDeadlineSeconds": min(300, timeline.step_seconds),
                     "jobTemplate": {"metadata": {"labels": dict(metadata["labels"])},
                                     "spec": spec}}}


def moment(context: CompileContext, step: int) -> datetime:
    from fitlang.solve.timeline import instant

    timeline = context.problem.timeline
    assert timeline is not None
    return instant(timeline, step)


def job_name(split: Split, start: datetime, end: datetime | None = None) -> str:
    """Distinct per split and start: the start in UTC, to the minute; and the end, where the
    split has runs of several lengths from one start (a preemptible job's segments of two
    replicas), which would otherwise be two Jobs of one name (`kubectl apply` keeps one)."""
    name = f"{split.workload.name}-{split.node_class.id}-{start:%Y%m%d-%H%M}"
    return dns_name(name if end is None else f"{name}-to-{end:%Y%m%d-%H%M}")


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
