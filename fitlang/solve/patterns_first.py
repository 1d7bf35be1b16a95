"""The aggregate model's counts packed by node patterns first, `pack` only where they do not serve.

`pools` 10,000 seed 104 (docs/performance.md, session 33, h33h): `pack` (FFD-DotProduct, node
by node) took 1.4 CPU s of the model's round on 51,800 replicas and left 595 of them out,
which pattern_pack.py then placed again by node patterns (0.3-0.4 s for all twelve classes).
The budget keeps `PACK_CPU_PER_REPLICA` per replica for the packing (2.1 s there), so under
load the model got no window at all and the answer was the greedy floor, 19.9% over the bound.

So, where that packing time would leave the model less than itself (`placement._model_window`;
elsewhere `pack` first, as before): each class whose eligible replicas have no node-level rule
(`plain_classes`) is packed by its node patterns, `pack` packs the rest, and what either
leaves short goes to `aggregate.completed` as before (`repair`, then `moved_aside`). The budget
then keeps `PATTERN_CPU_PER_CLASS` per plain class instead of `pack`'s time for its replicas
(`packing_cpu`), which is what gives the model its window on such fleets. Tried: `pack` again
on each class the patterns left short, the one short of fewer kept: on `pools` 10,000 seed 108
it ran on 5 classes for 0.59 s and left 1,559 out where the patterns left 245; never kept.
"""

from __future__ import annotations

import time

from fitlang.model.problem import Problem
from fitlang.solve.budget import PACK_CPU_PER_REPLICA
from fitlang.solve.pack import Packing, pack, sent_to_classes
from fitlang.solve.pattern_pack import (
    CLASS_SECONDS,
    LEAST_SECONDS,
    MAX_SHAPES,
    Shape,
    _program,
    _realised,
    _shape,
    node_ruled,
)

# what one plain class's patterns, program and nodes take, CPU s: `pools` 10,000 (51,800
# replicas, twelve classes of 660-1,320 nodes) 0.3-0.4 s for all twelve, 0.014-0.07 s a class
PATTERN_CPU_PER_CLASS = 0.05


def patterns_first(problem: Problem, counts: dict[tuple[str, str], int], planned: dict[str, int],
                   plain: set[str], deadline: float) -> Packing:
    """The counts packed: the classes of `plain` (`plain_classes`) by node patterns (until
    `deadline`), the others by `pack`."""
    packing = Packing()
    by_pack: dict[tuple[str, str], int] = {}
    for class_id, items in sent_to_classes(problem.demands, counts).items():
        node_class = problem.node_class(class_id)
        found = None
        if class_id in plain and deadline - time.monotonic() > LEAST_SECONDS:
            found = _program(node_class, items, planned.get(class_id, 0),
                             min(deadline, time.monotonic() + CLASS_SECONDS))
        if found is not None:
            packing.patterned.add(class_id)
            opened, short = _realised(node_class, items, found)
            packing.nodes[class_id] = opened
            for name, amount in short.items():
                if amount:
                    packing.add_short(name, class_id, amount)
        if found is None:
            by_pack.update({(demand.name, class_id): amount for demand, amount in items})
    if by_pack:
        packed = pack(problem, by_pack, planned)
        packing.nodes.update(packed.nodes)
        for (workload, class_id), amount in packed.short_by_workload.items():
            packing.add_short(workload, class_id, amount)
    return packing


def packing_cpu(problem: Problem, plain: set[str]) -> float:
    """About what packing the model's counts takes, CPU s: PATTERN_CPU_PER_CLASS per class
    of `plain`, `pack`'s per replica for the replicas of workloads that may go anywhere else;
    at most `pack`'s for all (many plain classes of few replicas)."""
    by_pack = sum(d.replicas for d in problem.demands if not set(d.eligible) <= plain)
    return min(PATTERN_CPU_PER_CLASS * len(plain) + PACK_CPU_PER_REPLICA * by_pack,
               PACK_CPU_PER_REPLICA * sum(d.replicas for d in problem.demands))


def plain_classes(problem: Problem) -> set[str]:
    """The classes whose eligible replicas, all of them, are plain (`pattern_pack._plain`):
    those packed by patterns, whatever the counts send there (so that the budget's estimate
    holds, and fleets with no such class pack as before). One pass over the demands
    (inventory 10,000: 690 classes, 1,158 workloads)."""
    apart, exclusive = problem.apart_on_nodes
    shapes: dict[str, set[Shape]] = {}
    ruled: set[str] = set()
    for demand in problem.demands:
        if node_ruled(demand, apart, exclusive):
            ruled.update(demand.eligible)
            continue
        for class_id in demand.eligible:
            shapes.setdefault(class_id, set()).add(_shape(demand))
    return {node_class.id for node_class in problem.classes
            if node_class.id not in ruled and not node_class.node_capacity
            and 0 < len(shapes.get(node_class.id, ())) <= MAX_SHAPES}
