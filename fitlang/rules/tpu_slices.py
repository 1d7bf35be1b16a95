"""Multi-host TPU slices: a GKE node pool whose `cloud.google.com/gke-tpu-topology` holds more
chips than one of its nodes (`2x4` of 4-chip `ct5lp-hightpu-4t` hosts: 8 chips on 2 hosts) is
one slice, and its hosts run one job together. GKE runs it as one Job of a pod per host, each
asking all the chips of its host ("Plan TPUs in GKE", "Deploy TPU workloads in GKE Standard");
a pod on some hosts only waits for the rest, and the rest is idle for anyone else.

So a workload may use a slice's hosts only as one gang (`gang = true`) of exactly the slice's
host count, each replica asking every chip of a host (`excludes`, `why`): it then fills the
slice or stays off it. That the gang takes one slice, not a host of each of two, is the gang's
domain (`NodeClass.gang_domain`, `rules/gang.py`); `check` holds a placement to it (a
hand-edited one too): each slice a workload runs on, all of its hosts, one replica each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Exclusion, NodeClass, replicas_per_node
from fitlang.rules.base import CheckReads, Placed, Rule, Stated
from fitlang.rules.explaining import demands_of, where

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets
    from fitlang.model.problem import Demand, Problem
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair


def reads(workload: Workload) -> Hashable:
    return workload.gang, workload.replicas, workload.gpu_count


def _shape(node_class: NodeClass) -> tuple[int, int]:
    """(hosts of its slice, chips of a host); (0, ...) off a multi-host slice."""
    return node_class.slice_hosts, node_class.capacity["gpu"]


def fills(workload: Workload, node_class: NodeClass) -> bool:
    """May the workload run on the class's nodes: off a multi-host slice, always; on one, as
    one gang of a replica per host, each asking all the chips of its host."""
    hosts, chips = _shape(node_class)
    return not hosts or (workload.gang and workload.replicas == hosts and workload.gpu_count == chips)


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
    return ~facets.passing("tpu_slices", _shape, lambda c: fills(workload, c))


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    """What of the workload keeps it off the slice, the first of: its chips per replica, its
    replicas, its `gang`; each with what the slice needs in its place (`relaxed`)."""
    if fills(workload, node_class):
        return
    hosts, chips = _shape(node_class)
    slice_ = (f"nodes of `{node_class.id}` are the {hosts} hosts of multi-host TPU slice "
              f"`{node_class.tpu_slice}`, which run one job together: one gang (`gang = true`) of "
              f"{hosts} replicas, each asking the {chips} chips of its host")
    if workload.gpu_count != chips:
        # (the `gpu` block's own spans are not the workload's: it points at the workload)
        yield Exclusion(f"count = {workload.gpu_count}" if workload.gpu_count else "no `gpu` block",
                        workload.origin, slice_,
                        relaxed=f"count = {chips}", source="tpu_slices")
    elif workload.replicas != hosts:
        yield Exclusion(f"replicas = {workload.replicas}", workload.spans.get("replicas", workload.origin),
                        slice_, relaxed=f"replicas = {hosts}", source="tpu_slices")
    else:
        yield Exclusion("no `gang = true`", workload.origin, slice_, source="tpu_slices")


def check(placed: Placed) -> Iterator[Diagnostic]:
    """Each workload on a multi-host slice runs on all its hosts, one replica each (a gang
    split over two slices, or on one host of a slice, waits on GKE for hosts it never gets)."""
    for name, nodes in sorted(placed.placed_on.items()):
        by_slice: dict[str, dict[str, int]] = {}
        classes: dict[str, NodeClass] = {}
        for node, amount in nodes.items():
            node_class = placed.owner.get(node)
            if amount and node_class is not None and node_class.tpu_slice is not None:
                by_slice.setdefault(node_class.id, {})[node] = amount
                classes[node_class.id] = node_class
        for class_id, held in sorted(by_slice.items()):
            node_class, demand = classes[class_id], placed.demands[name]
            if len(held) == node_class.slice_hosts and set(held.values()) == {1}:
                continue
            shown = ", ".join(f"{node}" + (f" x{amount}" if amount > 1 else "")
                              for node, amount in sorted(held.items()))
            yield placed.violation(
                f"`{name}` runs {_replicas(sum(held.values()))} on {len(held)} of the "
                f"{node_class.slice_hosts} hosts of multi-host TPU slice `{node_class.tpu_slice}` "
                f"({shown}): a slice's hosts run one job together, one replica on each",
                demand.spans.get("gang", demand.origin))


def _replicas(count: int) -> str:
    return f"{count} replica" + ("" if count == 1 else "s")


def _slices_kept_off(problem: Problem, part: Part) -> list[NodeClass]:
    """The slices the part alone keeps its workload off (no other rule, no fact, does)."""
    from fitlang.solve.explain import search

    pools, _ = search.ruled_out(problem, part)
    return [node_class for c in pools if (node_class := problem.node_class(c)).slice_hosts
            and all(r.source == "tpu_slices" for d in demands_of(problem, part.subject)
                    for r in d.failing.get(c, ()))]


def reason(problem: Problem, part: Part) -> Stated | None:
    """The slices the workload cannot fill, and what filling one takes, in the policy's terms
    (None: explain's default)."""
    slices = _slices_kept_off(problem, part)
    if not slices:
        return None
    origin = next((r.origin for d in demands_of(problem, part.subject) for c in slices
                   for r in d.failing.get(c.id, ()) if r.source == "tpu_slices"), None)
    return Stated(f"`{part.subject}` has `{part.key}`, which keeps it off {_named(slices)}: the hosts "
                  f"of a multi-host TPU slice run one job together, {_filling(slices[0])}", origin)


def _named(slices: list[NodeClass]) -> str:
    names = ", ".join(f"`{c.tpu_slice}` (pool `{c.id}`)" for c in slices)
    return f"multi-host TPU slice{'s' if len(slices) > 1 else ''} {names}"


def _filling(node_class: NodeClass) -> str:
    return (f"one gang (`gang = true`) of {node_class.slice_hosts} replicas, each asking the "
            f"{node_class.capacity['gpu']} chips of its host")


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """Make the workload the job a slice runs: a gang of a replica per host, each asking all
    of its host's chips, checked by solving the policy so changed (the slices of that shape
    then open to it; its other pools it keeps as its requests allow). The shape the most
    slices it is kept off share, the fewest hosts first. None for a workload with options."""
    from fitlang.solve.explain import search

    slices = _slices_kept_off(problem, part)
    demands = demands_of(problem, part.subject)
    if not slices or len(demands) != 1 or demands[0].group is not None:
        return None
    shapes = sorted({_shape(c) for c in slices}, key=lambda s: (-sum(_shape(c) == s for c in slices), s))
    hosts, chips = shapes[0]
    opened = [c for c in slices if _shape(c) == (hosts, chips)]
    trial = problem.with_demand(part.subject, **_as_slice_job(problem, demands[0], opened))
    check = search.works(trial, deadline, cheapest=True)
    if not check.placed:
        return None
    demand = demands[0]
    changes = [f"`replicas = {hosts}`"] if demand.replicas != hosts else []
    changes += [] if demand.gang else ["`gang = true`"]
    changes += [f"`count = {chips}` in its `gpu` block"] if demand.requests["gpu"] != chips else []
    origin = demand.spans.get("replicas", demand.origin)
    return search.Repair(part, f"make `{part.subject}` {_filling(opened[0])} ({', '.join(changes)})"
                         f"{where(origin)} so that it may run on {_named(opened)}", origin, None, None,
                         check.cost, checked=check)


def _as_slice_job(problem: Problem, demand: Demand, opened: list[NodeClass]) -> dict:
    """The demand's changes as a gang of `opened`'s shape: its replicas, its chips, and its
    classes (those it still fits on, and the slices)."""
    hosts, chips = _shape(opened[0])
    requests = {**demand.requests, "gpu": chips}
    resized = dataclasses.replace(demand, requests=requests)
    kept = {c for c in demand.eligible if replicas_per_node(resized, problem.node_class(c)) > 0}
    ids = {c.id for c in opened}
    eligible = [c.id for c in problem.classes if c.id in kept or c.id in ids]
    return {"replicas": hosts, "gang": True, "requests": requests, "eligible": eligible,
            "excluded": {k: v for k, v in demand.excluded.items() if k not in ids},
            "failing": {k: v for k, v in demand.failing.items() if k not in ids}}


RULE = Rule("tpu_slices", reads=reads, excludes=excludes, why=why, check=check,
            check_reads=CheckReads.DEMANDS, reason=reason, repairs=repairs)
