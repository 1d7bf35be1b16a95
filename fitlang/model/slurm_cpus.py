"""A replica's CPUs as Slurm allocates them, on the nodes read from a Slurm inventory.

Slurm gives each task whole CPUs (`--cpus-per-task` is a count: 1500m asks for 2), and with
CR_Core each job whole cores: on a node of `ThreadsPerCore=2` three jobs of 1, 1 and 2 CPUs
take 2 + 2 + 2 = 6 CPUs (measured on a real Slurm, `tests/test_target_slurm.py`). A job is
what the Slurm target writes as one: the replicas of one workload (or of one accelerator
option of it) on one node.

Which nodes: every node of a `format = slurm` inventory (`NodeClass.slurm_allocated`),
whatever target the policy is compiled to, since Slurm allocates those nodes' CPUs whoever
writes the job; `fitc solve`, `fitc verify` and every target then see the same placement.
Declared pools and bought nodes keep millicores (the Slurm target refuses a fractional CPU
on them, E0601).

The solver counts one replica on such a node as one task alone in its job: whole CPUs,
rounded up to whole cores (`replica_milli`). That is never less than what Slurm gives a job
of several replicas (a sum of roundings is at least the rounding of the sum), so a placement
the solver makes is one Slurm runs; it may leave a thread of a core free where two replicas
of one workload of an odd CPU count share a node. `fitc verify` counts the exact rule, per
job (`job_cpus`), from what the workload asks (`Demand.cpu_asked`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fitlang.model.problem import Demand, NodeClass

MILLI = 1000


def task_cpus(cpu_milli: int) -> int:
    """The whole CPUs Slurm gives one task asking `cpu_milli` (at least one)."""
    return max(1, -(-cpu_milli // MILLI))


def in_whole_cores(cpus: int, threads_per_core: int) -> int:
    """The CPUs a job asking `cpus` of a node takes there: whole cores (CR_Core)."""
    return -(-cpus // threads_per_core) * threads_per_core


def job_cpus(tasks: int, cpu_milli: int, threads_per_core: int) -> int:
    """The CPUs Slurm gives a job of `tasks` tasks of `cpu_milli` each on one node."""
    return in_whole_cores(tasks * task_cpus(cpu_milli), threads_per_core)


def replica_milli(cpu_milli: int, node_class: NodeClass) -> int:
    """What the solver counts one replica asking `cpu_milli` takes of a node of the class."""
    if not node_class.slurm_allocated:
        return cpu_milli
    return job_cpus(1, cpu_milli, node_class.threads_per_core) * MILLI


def sized(demands: list[Demand], classes: Sequence[NodeClass]) -> list[Demand]:
    """The demands with their CPU counted as Slurm allocates it, wherever they may run on a
    node read from Slurm: the most of it over their eligible classes (one size per demand:
    on the other classes it counts a little more than asked, never less). Demands that may
    use no such node are returned as they are (a fleet without one: the list itself)."""
    rounding = {c.id: c for c in classes if c.slurm_allocated}
    if not rounding:
        return demands
    found: dict[tuple[int, int], int] = {}  # (id of the shared eligible list, asked) -> size
    result = []
    for demand in demands:
        asked = demand.requests["cpu"]
        key = (id(demand.eligible), asked)
        size = found.get(key)
        if size is None:
            size = found[key] = max((replica_milli(asked, rounding[c]) for c in demand.eligible
                                     if c in rounding), default=asked)
        if size != asked:
            demand = dataclasses.replace(demand, requests={**demand.requests, "cpu": size},
                                         cpu_asked=asked)
        result.append(demand)
    return result
