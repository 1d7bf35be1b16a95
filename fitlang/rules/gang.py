"""`gang = true` on a workload: all its replicas are placed or none, in one cluster."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import Demand, NodeClass
from fitlang.rules.base import CheckReads, GroupKey, OnNodes, PartKind, Placed, Rows, Rule, Stated
from fitlang.rules.explaining import option_group, where

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.encode import DemandColumns, Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair


def check(placed: Placed) -> Iterator[Diagnostic]:
    for demand in placed.problem.demands:
        if not demand.gang:
            continue
        where = demand.spans.get("gang", demand.origin)
        count = placed.placed[demand.name]
        if count not in (0, demand.replicas):
            yield placed.violation(f"gang `{demand.name}` has {count} of {demand.replicas} replicas "
                                   "placed: all or none", where)
        clusters = sorted({placed.owner[node].cluster
                           for node in placed.placed_on.get(demand.name, ())})
        if len(clusters) > 1:
            yield placed.violation(f"gang `{demand.name}` runs in clusters {', '.join(clusters)}: a gang "
                                   "runs in one cluster", where)


class GangGroup(GroupKey, Frozen):
    """A gang: a demand's replicas in one cluster, or an option group's on one option.
    `name` is the demand's name, or the option group's workload."""

    name: str


def one_cluster_rows(encoding: Encoding, made: DemandColumns) -> None:
    """A gang runs in one cluster, always, and within it on one multi-host TPU slice or off
    them all (`NodeClass.gang_domain`): one binary per such domain its classes are in, at most
    one of them on, and replicas only where it is on."""
    demand = made.demand
    if not demand.gang:
        return
    model, problem = encoding.model, encoding.problem
    by_cluster: dict[str, list[str]] = {}
    for class_id in demand.eligible:
        by_cluster.setdefault(problem.node_class(class_id).gang_domain, []).append(class_id)
    if len(by_cluster) < 2:
        return
    choices: dict[int, int] = {}
    for cluster, class_ids in sorted(by_cluster.items()):
        chosen = encoding.column(GangCluster(demand.name, cluster), f"k[{demand.name},{cluster}]",
                                 0, 1)
        model.add({**{encoding.y[demand.name, c]: 1 for c in class_ids}, chosen: -demand.replicas},
                  upper=0, group=GangGroup(demand.name))
        choices[chosen] = 1
    model.add(choices, upper=1, group=GangGroup(demand.name))


def all_or_none_rows(encoding: Encoding, demand: Demand, must_place: bool) -> None:
    """When not everything must be placed, a gang places all its replicas or none (binary g);
    an option's gang is the option group's (`options.py`)."""
    if demand.group is None and demand.gang and not must_place and demand.replicas:
        model = encoding.model
        switch = model.var(f"g[{demand.name}]", 0, 1)
        model.add({encoding.placed[demand.name]: 1, switch: -demand.replicas}, lower=0, upper=0,
                  group=GangGroup(demand.name))


def reason(problem: Problem, part: Part) -> Stated:
    group = option_group(problem, part.subject)
    first = problem.demand(group.demands[0])
    return Stated(f"workload `{part.subject}` must run all its replicas on one option "
                  "(`gang = true`)", first.spans.get("gang", group.origin))


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    from fitlang.solve.explain import search

    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    origin = reason(problem, part).origin
    return search.Repair(part, f"drop `gang = true` from `{part.subject}`{where(origin)}: let it "
                         "mix options", origin, None, None, check.cost, checked=check)


class GangCluster(Frozen):
    """The binary of a gang and one cluster its classes are in: does it run there?"""

    demand: str
    cluster: str


def start(encoding: Encoding, demand: Demand, mine: dict[str, int], opened: dict[str, int],
          values: dict[int, float]) -> None:
    """A gang's cluster binaries: on where the placement runs it."""
    if not demand.gang:
        return
    clusters: dict[str, int] = {}
    for class_id in demand.eligible:
        cluster = encoding.class_of[class_id].gang_domain
        clusters[cluster] = clusters.get(cluster, 0) + mine.get(class_id, 0)
    for cluster, amount in clusters.items():
        chosen = encoding.index.get(GangCluster(demand.name, cluster))
        if chosen is not None:
            values[chosen] = int(amount > 0)


def _cluster(node_class: NodeClass) -> str:
    return node_class.gang_domain


def same_cluster(problem: Problem, demand: Demand) -> Callable[[NodeClass], Hashable] | None:
    """A gang's replica moves only within its cluster (the gang leaves a cluster whole, in
    gang_bought.py). Without it `pack.repair` sent a gang's replicas its nodes did not hold to
    bought nodes, another cluster: accelerator-heavy 10,000 seed 20 at 60 s, the model's counts
    packed with `train_33` in two clusters, the answer refused (E0507)."""
    return _cluster if demand.gang else None


RULE = Rule("gang", check=check, check_reads=CheckReads.DEMANDS,
            rows=Rows(columns=one_cluster_rows, placed=all_or_none_rows, start=start),
            packing=OnNodes(same=same_cluster),
            part_kind=PartKind.GANG, reason=reason, repairs=repairs)
