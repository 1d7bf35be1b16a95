"""`gang = true` on a workload: all its replicas are placed or none, in one cluster; with a
horizon, the replicas of each run also start at the same step (so they run together: one
duration), as one Slurm job with N tasks runs them (`time_rows`, `check_runs`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import Demand, NodeClass
from fitlang.rules.base import CheckReads, GroupKey, OnNodes, PartKind, Placed, Rows, Rule, Stated
from fitlang.rules.explaining import option_group, where

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.rules.timing import Run
    from fitlang.solve.encode import DemandColumns, Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.timeline import TimeEncoding


def check(placed: Placed) -> Iterator[Diagnostic]:
    for demand in placed.problem.demands:
        if not demand.gang:
            continue
        where = demand.spans.get("gang", demand.origin)
        count = placed.placed[demand.name]
        # with a horizon each run is all or none (`check_runs`): a recurring gang's run may be
        # left out where the policy allows it
        if count not in (0, demand.replicas) and placed.problem.timeline is None:
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


class GangStart(Frozen):
    """The binary of a gang's run and one start step of its window: do its replicas start then?"""

    demand: str
    run: int
    step: int


class GangTimeGroup(GroupKey, Frozen):
    """A gang in time: each run's replicas start at one step, in one cluster."""

    demand: str


def time_rows(encoding: TimeEncoding) -> None:
    """With a horizon, per run of a gang: a binary z[s] per start step of its window, and the
    replicas that start at s on any class = N x z[s] (the starts row makes the z sum to 1).
    In one cluster as without a horizon: a binary per cluster, the gang's starts there <=
    its replicas x it, at most one of them on. (A preemptible gang is refused at check.)"""
    problem = encoding.problem
    gangs = [d for d in problem.demands if d.gang and d.min_segment is None and d.replicas]
    if not gangs:
        return
    names = {demand.name for demand in gangs}
    # per gang: start step -> its start columns then; cluster -> its start columns there
    starting: dict[str, dict[int, dict[int, int]]] = {name: {} for name in names}
    clustered: dict[str, dict[str, dict[int, int]]] = {name: {} for name in names}
    for (name, class_id, start), column in encoding.x.items():
        if name in names:
            starting[name].setdefault(start, {})[column] = 1
            clustered[name].setdefault(problem.node_class(class_id).gang_domain, {})[column] = 1
    for demand in gangs:
        group = GangTimeGroup(demand.name)
        by_start, by_cluster = starting[demand.name], clustered[demand.name]
        for run, window in enumerate(demand.windows):
            starts = [s for s in window.starts() if s in by_start]
            if len(starts) < 2:
                continue
            for step in starts:
                chosen = encoding.column(GangStart(demand.name, run, step),
                                         f"z[{demand.name},{run},{step}]")
                encoding.model.add({**by_start[step], chosen: -demand.replicas_per_run},
                                   lower=0, upper=0, group=group)
        if len(by_cluster) < 2:
            continue
        choices: dict[int, int] = {}
        for cluster, columns in sorted(by_cluster.items()):
            chosen = encoding.column(GangCluster(demand.name, cluster),
                                     f"k[{demand.name},{cluster}]")
            encoding.model.add({**columns, chosen: -demand.replicas}, upper=0, group=group)
            choices[chosen] = 1
        encoding.model.add(choices, upper=1, group=group)


def time_start_values(encoding: TimeEncoding, starts: dict[tuple[str, int], set[int]],
                      clusters: dict[str, set[str]]) -> dict[int, float]:
    """The gang binaries of `time_rows` for a schedule (each gang run's start steps, each
    gang's clusters): HiGHS's start."""
    values: dict[int, float] = {}
    for key, column in encoding.index.items():
        if isinstance(key, GangStart):
            values[column] = int(key.step in starts.get((key.demand, key.run), ()))
        elif isinstance(key, GangCluster):
            values[column] = int(key.cluster in clusters.get(key.demand, ()))
    return values


def check_runs(placed: Placed, runs: list[Run]) -> Iterator[Diagnostic]:
    """`fitc verify` with a horizon: each run of a gang starts all its replicas at one step
    (replicas are numbered run by run, `replicas_per_run` each)."""
    starts: dict[tuple[str, int], set[int]] = {}
    counts: Counter[tuple[str, int]] = Counter()
    for run in runs:
        demand = placed.demands[run.demand]
        if demand.gang:
            index = run.replica // max(1, demand.replicas_per_run)
            starts.setdefault((run.demand, index), set()).add(run.start)
            counts[run.demand, index] += 1
    for (name, index), count in sorted(counts.items()):
        demand = placed.demands[name]
        if count != demand.replicas_per_run:
            which = f" (run {index})" if demand.runs else ""
            yield placed.violation(f"gang `{name}`{which} has {count} of {demand.replicas_per_run} "
                                   "replicas placed: all or none", demand.spans.get("gang", demand.origin))
    for (name, index), steps in sorted(starts.items()):
        if len(steps) > 1:
            demand = placed.demands[name]
            which = f" (run {index})" if demand.runs else ""
            yield placed.violation(
                f"gang `{name}`{which} starts its replicas at steps "
                f"{', '.join(map(str, sorted(steps)))}: a gang's replicas start together",
                demand.spans.get("gang", demand.origin))


RULE = Rule("gang", check=check, check_reads=CheckReads.DEMANDS,
            rows=Rows(columns=one_cluster_rows, placed=all_or_none_rows, start=start),
            packing=OnNodes(same=same_cluster),
            part_kind=PartKind.GANG, reason=reason, repairs=repairs)
