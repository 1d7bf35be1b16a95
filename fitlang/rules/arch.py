"""`arch = [amd64, arm64]` on a workload: the CPU architectures its images run on."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.model.problem import Exclusion, NodeClass
from fitlang.rules.base import Rule, values_key

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


# the architectures a workload's `arch` may list, in the order a repair writes them
ARCHES = ("amd64", "arm64")


def reads(workload: Workload) -> Hashable:
    return values_key(workload.arch)


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
    return ~facets.passing("arch", lambda c: c.arch, lambda c: c.arch in workload.arch)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    """An `arch` the workload does not state is the default, and said so: "drop `arch =
    [amd64]`" pointed at a workload that writes no `arch`. The repair states the node's
    architecture beside the workload's (`relaxed`): with two architectures, as dropping it."""
    if node_class.arch not in workload.arch:
        stated = "arch" in workload.spans
        rule = f"arch = [{', '.join(workload.arch)}]" + ("" if stated else " (the default)")
        both = [a for a in ARCHES if a in workload.arch or a == node_class.arch]
        yield Exclusion(rule, workload.spans.get("arch", workload.origin),
                        f"nodes of `{node_class.id}` are {node_class.arch}",
                        relaxed=f"arch = [{', '.join(both)}]", source="arch")


RULE = Rule("arch", reads=reads, excludes=excludes, why=why)
