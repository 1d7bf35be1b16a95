"""`gpu { count = N  require ... }` on a workload: nodes with GPUs whose accelerator
satisfies the requirements."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Requirement, Workload
from fitlang.model.problem import Exclusion, NodeClass, holds
from fitlang.rules.base import Fleet, Rule, Unsatisfiable, few, predicate_key
from fitlang.rules.require import relaxed

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def reads(workload: Workload) -> Hashable:
    return (workload.gpu_count > 0,
            tuple(predicate_key(r.predicate) for r in workload.gpu_requirements))


def _has_gpus(node_class: NodeClass) -> bool:
    return node_class.accelerator is not None and node_class.capacity["gpu"] > 0


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    if workload.gpu_count <= 0:
        return None
    allowed = facets.passing("gpus", _has_gpus, _has_gpus)
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
    option = _option_rule(workload)
    for requirement in workload.gpu_requirements:
        if not holds(requirement.predicate, node_class.accelerator_attribute):
            yield Exclusion(requirement.text, requirement.origin,
                            f"its accelerator is {node_class.accelerator.name}",
                            relaxed(requirement.predicate, node_class.accelerator_attribute),
                            source="gpu", fact=requirement is option)


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
