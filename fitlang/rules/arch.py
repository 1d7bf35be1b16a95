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


def reads(workload: Workload) -> Hashable:
    return values_key(workload.arch)


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
    return ~facets.passing("arch", lambda c: c.arch, lambda c: c.arch in workload.arch)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    if node_class.arch not in workload.arch:
        yield Exclusion(f"arch = [{', '.join(workload.arch)}]",
                        workload.spans.get("arch", workload.origin),
                        f"nodes of `{node_class.pool}` are {node_class.arch}", source="arch")


RULE = Rule("arch", reads=reads, excludes=excludes, why=why)
