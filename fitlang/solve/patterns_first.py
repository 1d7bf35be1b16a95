"""The aggregate model's counts packed by node patterns first, `pack` only where they do not serve.

`pools` 10,000 seed 104 (docs/performance.md, session 33, h33h): `pack` (FFD-DotProduct, node
by node) took 1.4 CPU s of the model's round on 51,800 replicas and left 595 of them out,
which pattern_pack.py then placed again by node patterns in 0.2 s for all twelve classes.
The budget keeps `PACK_CPU_PER_REPLICA` per replica for the packing (2.1 s there), so under
load the model got no window at all and the answer was the greedy floor, 19.9% over the bound.

So, where the model runs with a time limit: each class whose replicas have no node-level rule
(`pattern_pack._plain`) is packed by its node patterns; `pack` packs the rest, and a class the
patterns leave short is packed by `pack` too, the one short of fewer replicas kept (the
patterns' rounding may leave out a node's worth where `pack` places all). The budget then
keeps `PATTERN_CPU_PER_CLASS` per plain class instead of `pack`'s time for its replicas
(`packing_cpu`), which is what gives the model its window on such fleets.
"""

from __future__ import annotations

import time

from fitlang.model.problem import Demand, Problem
from fitlang.solve.budget import PACK_CPU_PER_REPLICA
from fitlang.solve.pack import Packing, pack, sent_to_classes
from fitlang.solve.pattern_pack import CLASS_SECONDS, LEAST_SECONDS, _plain, _program, _realised

# what one plain class's patterns, program and nodes take, CPU s: `pools` 10,000 (51,800
# replicas, twelve classes of 330-1,000 nodes) 0.15-0.2 s for all twelve, 0.00-0.07 s a class
PATTERN_CPU_PER_CLASS = 0.05


def patterns_first(problem: Problem, counts: dict[tuple[str, str], int], planned: dict[str, int],
                   deadline: float) -> Packing:
    """The counts packed: plain classes by node patterns (until `deadline`), the others, and
    those the patterns leave short, by `pack`."""
    packing = Packing()
    by_pack: dict[tuple[str, str], int] = {}
    for class_id, items in sent_to_classes(problem.demands, counts).items():
        node_class = problem.node_class(class_id)
        found = None
        if deadline - time.monotonic() > LEAST_SECONDS and _plain(problem, node_class, items):
            found = _program(node_class, items, planned.get(class_id, 0),
                             min(deadline, time.monotonic() + CLASS_SECONDS))
        if found is not None:
            packing.patterned.add(class_id)
            opened, short = _realised(node_class, items, found)
            packing.nodes[class_id] = opened
            for name, amount in short.items():
                if amount:
                    packing.add_short(name, class_id, amount)
        if found is None or packing.short.get(class_id):
            by_pack.update({(demand.name, class_id): amount for demand, amount in items})
    if by_pack:
        _merged(packing, pack(problem, by_pack, planned))
    return packing


def _merged(packing: Packing, packed: Packing) -> None:
    """`pack`'s classes into the patterns' packing: all those the patterns did not pack, and
    those they did where `pack` leaves fewer replicas short."""
    for class_id in sorted(set(packed.nodes) | set(packed.short)):
        if class_id in packing.patterned and packed.short.get(class_id, 0) >= packing.short.get(class_id, 0):
            continue
        packing.nodes[class_id] = packed.nodes.get(class_id, [])
        packing._room.pop(class_id, None)
        packing.short.pop(class_id, None)
        for key in [key for key in packing.short_by_workload if key[1] == class_id]:
            del packing.short_by_workload[key]
        for (workload, short_class), amount in packed.short_by_workload.items():
            if short_class == class_id and amount:
                packing.add_short(workload, class_id, amount)


def packing_cpu(problem: Problem) -> float:
    """About what packing the model's counts takes, CPU s: PATTERN_CPU_PER_CLASS per class
    whose eligible replicas are all plain, `pack`'s per replica for the replicas of workloads
    that may go anywhere else."""
    eligible: dict[str, list[tuple[Demand, int]]] = {}
    for demand in problem.demands:
        for class_id in demand.eligible:
            eligible.setdefault(class_id, []).append((demand, 1))
    plain = {class_id for class_id, items in eligible.items()
             if _plain(problem, problem.node_class(class_id), items)}
    by_pack = sum(d.replicas for d in problem.demands if not set(d.eligible) <= plain)
    return PATTERN_CPU_PER_CLASS * len(plain) + PACK_CPU_PER_REPLICA * by_pack
