"""`gpu { count = N  require ... }` on a workload: nodes with GPUs whose accelerator
satisfies the requirements."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Requirement, Workload, compares
from fitlang.check.workloads import DEVICE_KIND
from fitlang.model.problem import Exclusion, NodeClass, holds
from fitlang.rules.base import Fleet, Rule, Unsatisfiable, few, predicate_key
from fitlang.rules.require import relaxed

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def reads(workload: Workload) -> Hashable:
    return (workload.gpu_count > 0, workload.gpu_count > 1,
            tuple(predicate_key(r.predicate) for r in workload.gpu_requirements))


def _has_gpus(node_class: NodeClass) -> bool:
    return node_class.accelerator is not None and node_class.capacity["gpu"] > 0


def _partition(node_class: NodeClass) -> str | None:
    """"mig" or "shared" where the class's GPUs are parts handed out one to a pod."""
    return None if node_class.accelerator is None else node_class.accelerator.partition


# a part per pod: CUDA sees one MIG device per process; two replicas of a shared GPU may be one GPU
_ONE_PART = {"mig": "its GPUs are MIG slices, one to a pod",
             "shared": "its GPUs are shared replicas, one to a pod"}


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    if workload.gpu_count <= 0:
        return None
    allowed = facets.passing("gpus", _has_gpus, _has_gpus)
    if workload.gpu_count > 1:
        allowed = allowed & facets.passing("gpu partition", _partition, lambda c: _partition(c) is None)
    for requirement in workload.gpu_requirements:
        allowed = allowed & facets.holding(requirement.predicate, "accelerator_attribute")
    return ~allowed


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    if workload.gpu_count <= 0:
        return
    if node_class.accelerator is None or node_class.capacity["gpu"] == 0:
        yield Exclusion(f"gpu {{ count = {workload.gpu_count} }}", workload.origin,
                        "its nodes have no GPUs", source="gpu", fact=True)
        return
    partition = _partition(node_class)
    if workload.gpu_count > 1 and partition is not None:
        yield Exclusion(f"gpu {{ count = {workload.gpu_count} }}", workload.origin, _ONE_PART[partition],
                        source="gpu", fact=True)
    option = _option_rule(workload)
    kinds = [r for r in workload.gpu_requirements if _names_kind(r)]
    for requirement in workload.gpu_requirements:
        if not holds(requirement.predicate, node_class.accelerator_attribute):
            yield Exclusion(requirement.text, requirement.origin,
                            f"its accelerator is {node_class.accelerator.name}",
                            relaxed(requirement.predicate, node_class.accelerator_attribute),
                            source="gpu", fact=requirement is option,
                            kind_default=kinds == [requirement] and option is None
                            and node_class.accelerator.family != "gpu")


def _names_kind(requirement: Requirement) -> bool:
    """Whether the requirement names a kind of device (`model`, `vendor`, `family`): without
    one, the checker gives the block `family == gpu` (`check/workloads.py`)."""
    return any(c.subject[0] in DEVICE_KIND for c in compares(requirement.predicate))


def _option_rule(workload: Workload) -> Requirement | None:
    """The requirement `Workload.for_option` adds (the option's accelerator model, appended
    last): a fact of the option, not a rule of the user's to drop."""
    return workload.gpu_requirements[-1] if workload.option is not None else None


def warnings(workload: Workload, fleet: Fleet) -> Iterator[Unsatisfiable]:
    with_gpus = fleet.with_gpus
    if workload.gpu_count <= 0 or not with_gpus:
        return
    for requirement in workload.gpu_requirements:
        if not any(holds(requirement.predicate, c.accelerator_attribute) for c in with_gpus):
            models = sorted({c.accelerator.name for c in with_gpus if c.accelerator is not None})
            yield Unsatisfiable(requirement.origin, requirement.text,
                                f"; the accelerators are {few(models)}")


RULE = Rule("gpu", reads=reads, excludes=excludes, why=why, warnings=warnings)
