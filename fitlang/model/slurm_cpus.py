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

The solver counts each replica at a size that never exceeds what Slurm gives it on any node
it may use (`least_milli`), so its model stays a relaxation of the real rule and its bounds,
`optimal` and E0501 stay true: on a Slurm node whole CPUs per task (exact), and whole cores
only where they are exact per replica (the task's CPUs a multiple of ThreadsPerCore, or at
most one replica of the workload per node); on any other eligible node what it asks. A
placement that overfills a Slurm node in whole cores per job (n 1-CPU replicas of one workload
on a 2-thread node count n, Slurm gives n rounded up to even) is repaired after the solve
(`solve/whole_cores.py`). `fitc verify` counts the exact rule, per job (`job_cpus`), from what
the workload asks (`Demand.cpu_asked`).
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


def least_milli(demand: Demand, node_class: NodeClass) -> int:
    """The least one replica of `demand` takes of a node of the class, whatever else of its
    workload shares the node: on a Slurm node its whole CPUs, rounded up to whole cores where
    that is exact per replica (a multiple of ThreadsPerCore, or one replica per node)."""
    asked = demand.requests["cpu"]
    if not node_class.slurm_allocated:
        return asked
    cpus, threads = task_cpus(asked), node_class.threads_per_core
    if cpus % threads == 0 or demand.replicas <= 1 or demand.one_per_node:
        return in_whole_cores(cpus, threads) * MILLI
    return cpus * MILLI


def sized(demands: list[Demand], classes: Sequence[NodeClass]) -> list[Demand]:
    """The demands with their CPU counted as Slurm allocates it where they may run only on
    nodes read from Slurm: the least of `least_milli` over their eligible classes (one size
    per demand, never more than any node takes, so the model is a relaxation). Demands that
    may use no such node are returned as they are (a fleet without one: the list itself)."""
    by_id = {c.id: c for c in classes}
    if not any(c.slurm_allocated for c in classes):
        return demands
    found: dict[tuple[int, int, bool], int] = {}  # (id of the shared eligible list, asked, exact) -> size
    result = []
    for demand in demands:
        asked = demand.requests["cpu"]
        key = (id(demand.eligible), asked, demand.replicas <= 1 or demand.one_per_node)
        size = found.get(key)
        if size is None:
            size = found[key] = min((least_milli(demand, by_id[c]) for c in demand.eligible), default=asked)
        if size != asked:
            demand = dataclasses.replace(demand, requests={**demand.requests, "cpu": size},
                                         cpu_asked=asked)
        result.append(demand)
    return result
