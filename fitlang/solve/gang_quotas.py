"""Where the pair LP puts each gang, as counts for the guided greedy pass (`Guide.quotas`).

The guided pass (`placement._guided_floor`) lets each workload try first the classes the LP
puts it on, cheapest first; a gang whose replicas the LP spreads over classes of one price in
several zones then opens them all in the first zone (by class id). On inventory 10,000 seed 9
the LP puts `gang179`'s eleven 55.04 USD/h 8-GPU nodes in four us zones (4.19 / 2.47 / 2.40 /
1.94), and the zone-spread services' shares of the three other zones into the room their 64
of 192 CPUs leave (1,405 CPUs of services beside the gang); the guided pass put all eleven in
us-east-1a and the services opened CPU nodes in the others. With the gangs placed on the LP's
classes by its counts (rounded), consolidated: 1884.13 -> 1623.03 (ruined 1615.27); seed 8
2516.82 -> 2489.15; seed 7 the same (585.65)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fitlang.model.problem import NodeClass, Problem
from fitlang.solve.bound import Bound
from fitlang.solve.lp_mixes import lp_mixed_nodes
from fitlang.solve.option_mix import option_mixes, three_option_mixes

Quota = tuple[frozenset[str], frozenset[str], int]


@dataclass(frozen=True)
class LPCounts:
    """What the pair LP's last solution places, by count, for the first guided passes: the
    gangs by class (`gang_quotas`, `Guide.quotas`), every workload with GPUs by class (the
    same, for a second first pass where they differ) and the workloads dealt over domains by
    domain (`domain_counts`, `Guide.domains`)."""

    quotas: tuple[Quota, ...] = ()
    domains: Mapping[tuple[str, str], Mapping[str, float]] = field(default_factory=dict)
    gpu_quotas: tuple[Quota, ...] = ()
    # every workload by class (`every_quota`) and the nodes the LP opens per class (`lp_nodes`)
    every: tuple[Quota, ...] = ()
    nodes: Mapping[str, int] = field(default_factory=dict)
    # the option groups the LP mixes options for, by replicas per option (`option_mixes`)
    mixes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # the LP's mixes of plain workloads on classes without accelerators, as nodes to fill first
    # (lp_mixes.py, `Guide.nodes`)
    mixed_nodes: tuple = ()
    # per group of `mixes` the LP splits over three or more options, the option whose whole
    # placement the mix is for (`three_option_mixes`, `Guide.mixed_if_whole`)
    mixed_if_whole: Mapping[str, str] = field(default_factory=dict)


NO_COUNTS = LPCounts()


def lp_counts(problem: Problem, relaxed: Bound) -> LPCounts:
    if relaxed.pair_values is None:  # (no LP solution: nothing to count)
        return NO_COUNTS
    gpus = {d.name for d in problem.demands if d.requests["gpu"] > 0}
    by_gpus = gang_quotas(problem, relaxed, gpus)
    three_options = three_option_mixes(problem, relaxed)
    mixes = option_mixes(problem, relaxed) | {group: mix for group, (mix, _) in three_options.items()}
    return LPCounts(gang_quotas(problem, relaxed), domain_counts(problem, relaxed), by_gpus,
                    by_gpus + every_quota(problem, relaxed, gpus), lp_nodes(problem, relaxed), mixes,
                    tuple(lp_mixed_nodes(problem, relaxed)),
                    {group: option for group, (_, option) in three_options.items()})


def every_quota(problem: Problem, relaxed: Bound, gpus: set[str]) -> tuple[Quota, ...]:
    """`gang_quotas` of the workloads that ask no GPU (not those in `gpus`), on the classes
    without GPUs only: the room the LP gives them beside GPU nodes stays for whatever fills
    it first, as in the other passes (placed by count there, they opened GPU nodes:
    inventory 10,000 seed 10, the pass 578.24 -> 1123.91)."""
    with_gpus = {c.id for c in problem.classes if c.capacity.get("gpu", 0) > 0}
    others = {d.name for d in problem.demands} - gpus
    return tuple(quota for quota in gang_quotas(problem, relaxed, others) if not quota[1] & with_gpus)


def lp_nodes(problem: Problem, relaxed: Bound) -> dict[str, int]:
    """Per class in the LP's last solution: its nodes rounded up, those of a merged class
    given to its members in id order (each up to the nodes it has)."""
    relaxation, values = relaxed.relaxation, relaxed.node_values
    if relaxation is None or values is None:
        return {}
    members: dict[int, list[str]] = {}
    for class_id, index in sorted(relaxation.class_index.items()):
        members.setdefault(index, []).append(class_id)
    has = {c.id: min(c.count, len(c.node_names)) for c in problem.classes}
    nodes: dict[str, int] = {}
    for index in np.flatnonzero(values > 1e-6).tolist():
        left = math.ceil(float(values[index]) - 1e-6)
        for class_id in members.get(index, ()):
            nodes[class_id] = min(left, has.get(class_id, 0))
            left -= nodes[class_id]
    return nodes


def gang_quotas(problem: Problem, relaxed: Bound, workloads: set[str] | None = None) -> tuple[Quota, ...]:
    """Per pair of a gang's (merged) demand and a merged class in the LP's last solution: the
    gangs it stands for, the class's member ids, and its replicas as whole counts
    (`_largest_remainders`; those with none left out); largest first. Empty where the LP
    left no solution. `workloads`: these instead of the gangs."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return ()
    gangs = {d.name for d in problem.demands if d.gang} if workloads is None else workloads
    if not gangs:
        return ()
    members: dict[int, list[str]] = {}
    for class_id, index in relaxation.class_index.items():
        members.setdefault(index, []).append(class_id)
    replicas: dict[tuple[frozenset[str], int], float] = {}
    for pair in np.flatnonzero(values > 1e-6).tolist():
        demand = int(relaxation.pair_demand[pair])
        names = relaxed.members[demand] if relaxed.members else [used.demands[demand].name]
        ganged = frozenset(name for name in names if name in gangs)
        if ganged:
            key = (ganged, int(relaxation.pair_class[pair]))
            replicas[key] = replicas.get(key, 0.0) + float(values[pair])
    ordered = sorted(replicas.items(), key=lambda item: (-item[1], sorted(item[0][0]), item[0][1]))
    counts = _largest_remainders(replicas)
    rounded = ((names, frozenset(members.get(index, ())), counts[names, index])
               for (names, index), _ in ordered)
    return tuple((names, ids, count) for names, ids, count in rounded if count > 0 and ids)


def _largest_remainders(replicas: dict[tuple[frozenset[str], int], float]
                        ) -> dict[tuple[frozenset[str], int], int]:
    """Per group of workloads, its replicas on each class as whole counts that add up to its
    total rounded half up: each rounded down, then one more on those with the largest
    fractions. Rounded half up each, inventory 10,000 seed 9's `gang179` (the LP's 8-GPU
    nodes 4.19 / 2.47 / 2.40 / 1.94 in four zones) had ten of its eleven nodes placed by
    count and the eleventh in us-east-1a by class id, not us-east-1b; in process 1609.25 ->
    1606.59."""
    counts = {key: math.floor(amount + 1e-9) for key, amount in replicas.items()}
    groups: dict[frozenset[str], list[tuple[frozenset[str], int]]] = {}
    for key in replicas:
        groups.setdefault(key[0], []).append(key)
    for keys in groups.values():
        total = math.floor(sum(replicas[key] for key in keys) + 0.5)
        by_fraction = sorted(keys, key=lambda key: (counts[key] - replicas[key], key[1]))
        for key in by_fraction[:max(0, total - sum(counts[key] for key in keys))]:
            counts[key] += 1
    return counts


def domain_counts(problem: Problem, relaxed: Bound) -> dict[tuple[str, str], dict[str, float]]:
    """Per (workload, topology) of a spread or `anti_affinity self` across nodes' domains: the
    replicas the LP's last solution puts in each domain (a merged demand's, for each workload
    it stands for). Inventory 10,000 seed 7: skew-1 spreads over 8-10 zones, whose extra
    replicas the greedy pass dealt to the zones cheapest by its own order, paid ~9 USD/h
    more for CPU nodes in eu-west-1b and us-east-1b than the LP does."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return {}
    dealt = {d.name: {s.topology for s in d.spreads if s.topology != "node"}
             | {r.topology for r in d.affinities if r.target == "self" and r.anti and r.topology != "node"}
             for d in problem.demands}
    classes = {c.id: c for c in problem.classes}
    first_member: dict[int, NodeClass] = {}
    for class_id, index in relaxation.class_index.items():
        if class_id in classes:
            first_member.setdefault(index, classes[class_id])
    counts: dict[tuple[str, str], dict[str, float]] = {}
    for pair in np.flatnonzero(values > 1e-6).tolist():
        demand, index = int(relaxation.pair_demand[pair]), int(relaxation.pair_class[pair])
        names = relaxed.members[demand] if relaxed.members else [used.demands[demand].name]
        node_class = first_member.get(index)
        if node_class is None:
            continue
        for name in names:
            for topology in dealt.get(name, ()):
                domain = node_class.topology_value(topology)
                if domain is not None:
                    in_domain = counts.setdefault((name, topology), {})
                    in_domain[domain] = in_domain.get(domain, 0.0) + float(values[pair])
    return counts
