"""A zone's dear CPU classes emptied together, their replicas placed again (`fitc plan` past
`LARGE_NODES` nodes; issue 18).

Inventory 10,000, plan 10 (session 40, h40e): the charged LP closes every 16-core 0.85 USD/h
node (0.053 USD/h a core) and runs their services on the 48- and 96-core offers of the same
zones at 0.038 a core; the plan keeps 25 of them in us-east-1c alone. Emptying them one pool at
a time (`pool_emptied`: pools of at most 16 nodes in use) or a few nodes at a time never pays:
each small node holds a replica of each of several services that run one a node, and some of
those services may not run on the cheap offers, so a cheap large node is only filled once the
replicas of many small nodes, of several pools, are placed again together.

A step: in one zone, the classes in use without accelerators whose price a core is over `DEAR`
times the least a core of the zone's classes with free nodes, every node of them emptied and
closed, those classes barred, the replicas placed again (`pool_emptied._emptied`: `repair`, a
zoned replica within its zone, what no other node takes back onto those classes' nodes). The
zones the most spent on such classes first. Kept where the objective is lower
(`pool_emptied.kept_if_cheaper`: exact, the changed nodes tidied first), else put back.
Bounded by `ZONES_CPU_SECONDS` of process time and the deadline.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

from fitlang.model.problem import NodeClass
from fitlang.solve.dear_nodes import ACCELERATOR
from fitlang.solve.move_scale import ScaleMove, zone_of
from fitlang.solve.pool_emptied import _emptied, kept_in_turn

# a class is dear in its zone where its price a core is over this times the zone's least
DEAR = 1.15
# the CPU seconds the zones are tried for (inventory 10,000, plan 10: 0.1-0.3 s a zone)
ZONES_CPU_SECONDS = 0.6


def empty_dear_zones(fleet: ScaleMove, objective: str, deadline: float | None,
                     cpu_seconds: float = ZONES_CPU_SECONDS) -> int:
    """The steps (module's docstring) kept where they lower `objective`, until the `deadline`
    or `cpu_seconds` of process time; returns the zones kept emptied."""
    if fleet.unplaced:
        return 0
    return kept_in_turn(fleet, objective, (partial(_emptied, fleet, dear) for dear in _dear_by_zone(fleet)),
                        deadline, cpu_seconds)


def _per_core(node_class: NodeClass) -> float:
    return float(node_class.price) / max(node_class.capacity.get("cpu", 0), 1)


def _dear_by_zone(fleet: ScaleMove) -> list[frozenset[str]]:
    """Per zone, its dear classes in use (module's docstring) that hold no pinned replica, the
    zones by those classes' nodes' prices summed, most first."""
    in_use = Counter(node.node_class.id for node in fleet.nodes.values())
    least: dict[tuple, float] = {}
    for node_class in fleet.problem.classes:
        if not node_class.capacity.get(ACCELERATOR, 0) and in_use[node_class.id] < node_class.count \
                and fleet.may_open(node_class):
            zone = zone_of(node_class)
            least[zone] = min(least.get(zone, float("inf")), _per_core(node_class))
    dear: dict[tuple, set[str]] = {}
    pinned: set[str] = set()
    spent: Counter = Counter()
    for node in fleet.nodes.values():
        node_class, zone = node.node_class, zone_of(node.node_class)
        if node_class.capacity.get(ACCELERATOR, 0) or zone not in least or \
                _per_core(node_class) <= DEAR * least[zone]:
            continue
        dear.setdefault(zone, set()).add(node_class.id)
        spent[zone] += float(node_class.price)
        if any(name in fleet.problem.pinned for name in node.hosted):
            pinned.add(node_class.id)
    found = [(spent[zone], frozenset(classes - pinned)) for zone, classes in dear.items()]
    return [classes for _, classes in sorted(found, key=lambda item: (-item[0], sorted(item[1])))
            if classes]
