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

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.bound import Bound

Quota = tuple[frozenset[str], frozenset[str], int]


def gang_quotas(problem: Problem, relaxed: Bound) -> tuple[Quota, ...]:
    """Per pair of a gang's (merged) demand and a merged class in the LP's last solution: the
    gangs it stands for, the class's member ids, and its replicas rounded half up (those that
    round to none left out); largest first. Empty where the LP left no solution."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return ()
    gangs = {d.name for d in problem.demands if d.gang}
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
    rounded = ((names, frozenset(members.get(index, ())), math.floor(amount + 0.5))
               for (names, index), amount in ordered)
    return tuple((names, ids, count) for names, ids, count in rounded if count > 0 and ids)
