"""What runs on a Slurm cluster: `squeue --json`, or the text of `squeue -h -o "%i|%j|%T|%N"`.

fitc's Slurm target writes one job per workload (or per accelerator option of it), named as
`StateNames.job_names` says, with one task per replica: a RUNNING job of k tasks on n nodes is
k replicas, on each node in proportion to the CPUs the job holds there where `squeue --json`
states that per node (`slurm_allocation.py`: Slurm packs `-N2 -n10` as 9 and 1), else as
evenly as possible, the first nodes one more. A heterogeneous job is one record per component in
`squeue --json`, each with its own tasks and nodes. The text gives no task count: there, a job
is one replica per node. A RUNNING job of no workload of the policy (another team's) is not a
replica: in `squeue --json` what it holds of each node takes room there (`Foreign`: its CPUs,
memory and GPUs per node, `_held`); the text says nothing of it, so there it is only counted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fitlang.file_problems import FileProblem
from fitlang.model.current import CurrentState, Foreign, ReplicaName, Running, StateRead
from fitlang.model.slurm_allocation import Allocation, apportion, stated_allocation

if TYPE_CHECKING:
    from fitlang.documents_read import SqueueJob
    from fitlang.model.current_read import StateNames

_RUNNING = "RUNNING"
MIB = 2 ** 20  # Slurm counts memory in MiB
_GPU_COUNT = re.compile(r"^gpu(?::[^:(]+)?:([0-9]+)")  # `gpu:l40s:4(IDX:0-3)`, `gpu:2`
_TEXT_FIELDS = 4  # %i|%j|%T|%N
# Slurm refuses a range of more than 64Ki hosts (`scontrol show hostnames`); a file that asks
# for more is not squeue's output, and expanding it could exhaust memory
MOST_HOSTS = 65536


class HostlistError(ValueError):
    pass


def expand_hostlist(text: str) -> list[str]:
    """The host names of a Slurm host list, as `scontrol show hostnames` prints them:
    `node[01-03,07]` is node01 node02 node03 node07 (a range keeps its zero padding),
    `a[1-2]-b[1-2]` is a1-b1 a1-b2 a2-b1 a2-b2, and commas outside brackets separate names."""
    hosts: list[str] = []
    for item in _split_top(text):
        hosts += _expand_item(item)
        if len(hosts) > MOST_HOSTS:
            raise HostlistError(f"more than {MOST_HOSTS} hosts in `{_short(text)}`")
    return hosts


def _split_top(text: str) -> Iterator[str]:
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
            if depth > 1:
                raise HostlistError(f"nested `[` in `{_short(text)}`")
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"`]` without `[` in `{_short(text)}`")
        elif char == "," and depth == 0:
            if index > start:
                yield text[start:index]
            start = index + 1
    if depth:
        raise HostlistError(f"`[` without `]` in `{_short(text)}`")
    if start < len(text):
        yield text[start:]


def _expand_item(item: str) -> list[str]:
    """One name with bracketed ranges, each bracket expanded in turn (left to right, the
    rightmost varying fastest, as Slurm lists them)."""
    open_at = item.find("[")
    if open_at < 0:
        return [item]
    close_at = item.index("]", open_at)
    head, rest = item[:open_at], item[close_at + 1:]
    tails = _expand_item(rest)
    return [f"{head}{number}{tail}" for number in _numbers(item[open_at + 1:close_at], item)
            for tail in tails]


_RANGE = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")


def _numbers(ranges: str, item: str) -> list[str]:
    numbers: list[str] = []
    for part in ranges.split(","):
        match = _RANGE.match(part)
        if match is None:
            raise HostlistError(f"`{_short(part)}` is not a number or range in `{_short(item)}`")
        low, high = match.group(1), match.group(2) or match.group(1)
        width = len(low) if low.startswith("0") else 0
        if int(high) < int(low):
            raise HostlistError(f"range `{part}` runs backwards in `{_short(item)}`")
        if int(high) - int(low) >= MOST_HOSTS:
            raise HostlistError(f"range `{part}` has more than {MOST_HOSTS} hosts")
        numbers += [str(n).zfill(width) for n in range(int(low), int(high) + 1)]
    return numbers


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _per_node(tasks: int, nodes: list[str], held: Allocation) -> Iterator[str]:
    """Each node once per task it runs: in proportion to the CPUs the job holds on each where
    stated for every node (a task's CPUs are the same on all), else evenly."""
    cpus = [held.get(node, {}).get("cpus") for node in nodes]
    if nodes and all(count is not None for count in cpus):
        counts = apportion(tasks, [count or 0 for count in cpus])
    else:
        counts = apportion(max(tasks, len(nodes)), [1] * len(nodes))
    for node, count in zip(nodes, counts):
        yield from [node] * count


def _workload(job_name: str, names: StateNames) -> tuple[str, str | None] | None:
    if job_name in names.job_names:
        return names.job_names[job_name]
    return (job_name, None) if job_name in names.workloads else None


def _replicas(job_id: str, job_name: str, node_list: str, tasks: int | None,
              names: StateNames, read: StateRead, where: FileProblem,
              held: Allocation | None = None, times: tuple[int | None, int | None] = (None, None)
              ) -> list[Running]:
    """`where`: the node list's place in the file, for a message about it; `held`: what the
    job holds of each node, where stated; `times`: when it started and the latest it ends."""
    found = _workload(job_name, names)
    if found is None:
        read.ignored.append(f"{job_id} ({job_name})")
        return []
    try:
        nodes = expand_hostlist(node_list)
    except HostlistError as error:
        read.problems.append(FileProblem(f"{where.text}: {error}", where.at, where.line, where.column))
        return []
    workload, option = found
    return [Running(workload=workload, node=node, option=option, handle=ReplicaName(job_id),
                    started=times[0], ends=times[1])
            for node in _per_node(tasks if tasks is not None else len(nodes), nodes, held or {})]


def read_squeue_text(text: str, source: str, names: StateNames) -> StateRead:
    """`squeue -h -o "%i|%j|%T|%N"`: job id, name, state, node list, one job a line."""
    read = StateRead(unit="job", room_known=False)
    running: list[Running] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < _TEXT_FIELDS:
            read.problems.append(FileProblem(f"{source}:{number}: expected `JOBID|NAME|STATE|NODELIST`, "
                                             "as `squeue -h -o \"%i|%j|%T|%N\"` prints", line=number))
            continue
        # a job name may hold `|`: the id is the first field, state and nodes the last two
        job_id, state, node_list = fields[0].strip(), fields[-2].strip(), fields[-1].strip()
        name = "|".join(fields[1:-2])
        if state != _RUNNING:
            continue
        running += _replicas(job_id, name, node_list, None, names, read,
                             FileProblem(f"{source}:{number}", line=number))
    read.state = CurrentState(running=tuple(running), sources=(source,))
    return read


def read_squeue_json(document: object, source: str, names: StateNames) -> StateRead:
    """`squeue --json`: each RUNNING job's tasks on its nodes."""
    from pydantic import ValidationError

    from fitlang.documents_read import error_problems, squeue_document

    read = StateRead(unit="job")
    try:
        jobs = squeue_document().validate_python(document)["jobs"]
    except ValidationError as error:
        read.problems += [problem.of_file(source) for problem in error_problems(error)]
        return read
    running: list[Running] = []
    foreign: list[Foreign] = []
    own: list[Foreign] = []  # what the policy's own jobs hold
    for index, job in enumerate(jobs):
        state = job["job_state"]
        if (state if isinstance(state, str) else " ".join(state)).split(" ")[0] != _RUNNING:
            continue
        tasks = _count(job.get("tasks"))
        where = FileProblem(f"{source}: jobs[{index}].nodes", ("jobs", index, "nodes"))
        running += _replicas(_job_handle(job), job["name"], job.get("nodes") or "", tasks,
                             names, read, where, stated_allocation(job, _count(job.get("cpus"))),
                             job_times(job))
        if _workload(job["name"], names) is None:
            foreign += _held(job, read, where)
        else:
            own += [dataclasses.replace(held, job=_job_handle(job)) for held in _held(job, read, where)]
    read.state = CurrentState(running=tuple(running), sources=(source,), foreign=tuple(foreign),
                              held_by_policy=tuple(own))
    return read


def _held(job: SqueueJob, read: StateRead, where: FileProblem) -> list[Foreign]:
    """What a job of no workload holds of each of its nodes: its CPUs and memory there where
    `squeue --json` states them (`slurm_allocation.py`), else its `cpus` spread evenly over its
    nodes (the first ones the remainder) and `memory_per_node` (or `memory_per_cpu` x its CPUs
    there); its GPUs from `gres_detail`, one entry per node in order."""
    try:
        nodes = expand_hostlist(job.get("nodes") or "")
    except HostlistError:
        return []  # `_replicas` reported it
    if not nodes:
        return []
    cpus = _count(job.get("cpus"))
    stated = stated_allocation(job, cpus)
    spread = apportion(cpus or 0, [1] * len(nodes))
    gres = job.get("gres_detail") or []
    held = []
    for index, node in enumerate(nodes):
        own = stated.get(node, {})
        node_cpus = own.get("cpus", spread[index])
        memory = own.get("memory", _count(job.get("memory_per_node"))
                         or (_count(job.get("memory_per_cpu")) or 0) * node_cpus)
        gpus = _gpus(gres[index]) if index < len(gres) and isinstance(gres[index], str) else 0
        held.append(Foreign(node=node, name=f"{_job_handle(job)} ({job['name']})",
                            cpu_milli=1000 * node_cpus, memory=MIB * memory, gpu=gpus,
                            ends=job_times(job)[1]))
    return held


def job_times(job: SqueueJob) -> tuple[int | None, int | None]:
    """When a running job started, and the latest it ends, in seconds since the epoch (None
    where not said). A job without a time limit (`time_limit` null in 22.05, `infinite` from
    23.02: UNLIMITED) has no end, though squeue writes one a year after its start."""
    started = _count(job.get("start_time")) or None
    limit = job.get("time_limit")
    if limit is None or (isinstance(limit, dict) and limit.get("infinite")) or _count(limit) is None:
        return started, None
    ends = _count(job.get("end_time")) or None
    if ends is None and started is not None:
        ends = started + 60 * (_count(limit) or 0)
    return started, ends


def _gpus(detail: str) -> int:
    """The GPUs of one node's `gres_detail` entry (`gpu:l40s:4(IDX:0-3)`; several GRES are
    separated by commas outside the parentheses)."""
    count = 0
    for item in re.split(r",(?![^(]*\))", detail):
        match = _GPU_COUNT.match(item.strip())
        if match is not None:
            count += int(match.group(1))
    return count


def _job_handle(job: SqueueJob) -> str:
    """The id as squeue's text and scontrol write it: `1234`, or `1234+1` for component 1 of
    heterogeneous job 1234 (each component is a record of its own, with its own id)."""
    leader = _count(job.get("het_job_id"))
    if leader:
        return f"{leader}+{_count(job.get('het_job_offset')) or 0}"
    return str(job["job_id"])


def _count(value: Any) -> int | None:
    """A count as 22.05 writes it (4) or as 23.02 does ({"set": true, "number": 4})."""
    if isinstance(value, dict):
        number = value.get("number")
        return number if value.get("set", True) and isinstance(number, int) else None
    return value if isinstance(value, int) else None
