"""Node taints (from an inventory): only workloads that `tolerate` a taint run there.

A taint keyed by the extended resource a node's accelerators are (`nvidia.com/gpu:NoSchedule`,
as EKS's and AKS's guides and GKE taint GPU nodes) keeps off only pods that do not request it:
Kubernetes' ExtendedResourceToleration admission plugin gives a pod requesting the resource the
toleration (GKE and EKS run it), and fitc's Kubernetes target writes it on every pod placed
there, so a workload with `gpu { ... }` needs no `tolerate` for it. (It was excluded from every
GPU node of a GKE inventory: `infeasible`, where the cluster runs it.)
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.model.problem import Exclusion, NodeClass, Taint
from fitlang.rules.base import Rule, Stated
from fitlang.rules.dedicated import tolerating

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets
    from fitlang.model.problem import Problem
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair


def reads(workload: Workload) -> Hashable:
    return tuple(workload.tolerate), workload.gpu_count > 0


def _device(node_class: NodeClass) -> str | None:
    """The extended resource a pod requests to use the class's accelerators."""
    if node_class.accelerator is None or not node_class.capacity["gpu"]:
        return None
    return node_class.accelerator.resource


def _kept_off(workload: Workload, node_class: NodeClass) -> list[Taint]:
    """The class's taints that keep the workload off its nodes."""
    device = _device(node_class) if workload.gpu_count > 0 else None
    return [t for t in node_class.taints if t.key != device and not t.tolerated_by(workload.tolerate)]


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
    if workload.gpu_count > 0:
        return ~facets.passing("taints and devices", lambda c: (c.taints, _device(c)),
                               lambda c: not _kept_off(workload, c))
    return ~facets.passing("taints", lambda c: c.taints, lambda c: not _kept_off(workload, c))


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    for taint in _kept_off(workload, node_class):
        yield Exclusion(f"taint {taint}", node_class.origin,
                        f"nodes of `{node_class.id}` are tainted {taint}", source="taints")


def _named(problem: Problem, part: Part) -> tuple[list[str], Taint | None]:
    """The pools the part keeps its workload off, and the taint it is (the one whose
    exclusion `why` wrote as the part's clause)."""
    from fitlang.solve.explain import search

    pools, _ = search.ruled_out(problem, part)
    taints = {t for c in pools for t in problem.node_class(c).taints if f"taint {t}" == part.key}
    return pools, (taints.pop() if len(taints) == 1 else None)


def reason(problem: Problem, part: Part) -> Stated | None:
    """The pools whose nodes carry the taint: the nodes (the cluster) have it, not the
    workload, which only lacks the toleration."""
    from fitlang.solve.explain import search

    pools, taint = _named(problem, part)
    if taint is None:
        return None
    _, origin = search.ruled_out(problem, part)
    one = len(pools) == 1
    return Stated(f"{search.pools_listed(pools)} {'has' if one else 'have'} `{part.key}`, which "
                  f"`{part.subject}` does not tolerate", origin)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """Tolerate the taint (a taint is the cluster's: the policy cannot drop it)."""
    _, taint = _named(problem, part)
    if taint is None:
        return None
    # a taint of no value (`amd.com/gpu:NoSchedule`, as AMD's GPU operator taints) is tolerated
    # by its key: `amd.com/gpu=` read as a typo
    return tolerating(problem, part, deadline, f"{taint.key}={taint.value}" if taint.value else taint.key)


def tolerated(problem: Problem, subject: str, tolerate: Collection[str]) -> set[Part]:
    """The parts of workload `subject` that keep it off nodes tainted with what `tolerate`
    tolerates: a taint's part is its `key=value:effect`, so `key=value` tolerates one part per
    effect the fleet's nodes carry it with (`differential_taints.py` seed 2186: `team=a` and
    `team=b` NoExecute on one pool, NoSchedule on another; the pair of tolerations was priced
    on the first pool alone, 3.00, where the second joins it and its zone then counts in a
    spread: 4.50)."""
    from fitlang.rules.base import PartKind
    from fitlang.solve.explain.parts import Part

    keys = {f"taint {t}" for c in problem.classes for t in c.taints if t.tolerated_by(tolerate)}
    return {Part(PartKind.RULE, subject, key, rule="taints") for key in keys}


RULE = Rule("taints", reads=reads, excludes=excludes, why=why, reason=reason, repairs=repairs)
