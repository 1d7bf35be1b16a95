"""The Slurm target's rule: a policy's `slurm { partition = "..." }` keeps work in it.

Slurm inventory nodes carry `slurm.partition.<name>` labels (`model/inventory.py`). With a
partition in the policy, a node in other partitions only is ruled out; a node in none (a
declared pool, bought capacity: fitc declares its partition) is not. The Slurm target
contributes this `Rule` (`Slurm.rules`); the driver hands it to `build_problem` beside the
language's rules, so that model code names no target. Kept apart from `slurm.py`: building a
problem should not load the script templates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Program, Workload
from fitlang.model.problem import Exclusion, NodeClass
from fitlang.rules.base import Rule

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets

PARTITION_LABEL = "slurm.partition."  # + the partition's name


def partition_rules(program: Program) -> tuple[Rule, ...]:
    """The rule of the policy's Slurm partition, or none without one."""
    partition = program.policy.work_partition()
    if partition is None:
        return ()
    inside = PARTITION_LABEL + partition

    def outside(node_class: NodeClass) -> bool:
        partitions = _partitions(node_class)
        return bool(partitions) and inside not in partitions

    def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
        return facets.passing(("slurm", "partitions"), _partitions, outside)

    def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
        if outside(node_class):
            yield Exclusion(f'slurm partition "{partition}"', None,
                            f"nodes of `{node_class.id}` are not in partition {partition}")

    # the same answer for every workload: one key shared by all
    return (Rule("slurm partition", reads=_every_workload, excludes=excludes, why=why),)


def _every_workload(workload: Workload) -> None:
    return None


def _partitions(node_class: NodeClass) -> tuple[str, ...]:
    return tuple(k for k in node_class.labels if k.startswith(PARTITION_LABEL))
