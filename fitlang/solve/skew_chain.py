"""A spread replica its skew keeps in its zone let out by another replica of the spread
moved into that zone first (`fitc plan`, issue 18).

A zone spread at `max_skew 1` with counts 4, 4, 3, 3, ... lets no replica leave a zone at
3: the zone would fall to 2 while another holds 4. Inventory 1,000 seed 3 (h35b: the plan
with the joint steps' budgets x 20 against ours): the nodes `merge_many` would empty onto a
new node of us-east-1c each run a replica of `svc1` or `svc63` at its zone's minimum; the
better plan moves one replica of each from a zone at the spread's maximum into the zone
the other leaves, and then that one may go. A chain of two moves, where `targets` tries
one.

`through_skew`: where a replica (taken off its node, not counted now) finds no node of
`rows` only because a spread's skew bars it, a replica of the same workload on a node of
a domain at that spread's maximum is moved onto a node in use in the domain the first
leaves (its own rules, `targets`), and the first tried again; at most `CHAIN_TRIES` such
replicas, each put back where the first still finds no place.
"""

from __future__ import annotations

import numpy as np

from fitlang.model.problem import Demand, NodeClass
from fitlang.solve.move_scale import FleetNode, Moved, ScaleMove, SpreadCounts, zone_of

# the replicas tried as the one moving into the zone the blocked replica leaves (time)
CHAIN_TRIES = 6


def through_skew(fleet: ScaleMove, demand: Demand, source: NodeClass, rows: np.ndarray,
                 moved: list[Moved]) -> FleetNode | None:
    """A node of `rows` that takes the replica (off a node of `source`) once another replica
    of its workload has moved into `source`'s domain (module's docstring); that move is
    appended to `moved` (from, what, onto). None where no such chain is found."""
    blocking = _blocking(fleet, demand, source, rows)
    if blocking is None:
        return None
    zone, class_row = zone_of(source), fleet.rows.class_index[source.id]
    into = _rows_in_domain(fleet, blocking, blocking.of_class[class_row])
    tried = 0
    for other in _at_maximum(fleet, demand, blocking, rows):
        if tried == CHAIN_TRIES:
            break
        tried += 1
        fleet.remove(other, demand)
        fleet.rows.alive[other.row] = False  # (not back onto the node it leaves)
        found = fleet.targets(demand, zone_of(other.node_class), into, source=other.node_class,
                              every=False)
        fleet.rows.alive[other.row] = True
        if found:
            fleet.add(found[0], demand)
            let_out = fleet.targets(demand, zone, rows, source=source, every=False)
            if let_out:
                moved.append((other, demand, found[0]))
                return let_out[0]
            fleet.remove(found[0], demand)
        fleet.add(other, demand)
    return None


def _blocking(fleet: ScaleMove, demand: Demand, source: NodeClass, rows: np.ndarray) -> SpreadCounts | None:
    """The one spread of the demand that bars the replica from every node of `rows` with
    room that takes it; None where none of those nodes exists, or none or more than one
    spread bars it."""
    spreads = fleet.spreads.get(demand.name, ())
    if not spreads:
        return None
    roomy = np.intersect1d(fleet.rows.with_room(fleet.need[demand.name], fleet.eligible_mask[demand.name],
                                                None), rows)
    if not any(fleet.takes(fleet.nodes[fleet.rows.names[row]], demand) for row in roomy):
        return None
    class_row = fleet.rows.class_index[source.id]
    classes = fleet.rows.of_class[roomy]
    barring = [spread for spread in spreads if not spread.allowed(class_row)[classes].any()]
    return barring[0] if len(barring) == 1 else None


def _rows_in_domain(fleet: ScaleMove, spread: SpreadCounts, domain: int) -> np.ndarray:
    """The rows of nodes in use whose class is in the spread's domain."""
    count = len(fleet.rows.names)
    return np.flatnonzero(fleet.rows.alive[:count] & (spread.of_class[fleet.rows.of_class[:count]] == domain))


def _at_maximum(fleet: ScaleMove, demand: Demand, spread: SpreadCounts, rows: np.ndarray) -> list[FleetNode]:
    """The nodes in use (not of `rows`) running a replica of the demand in a domain at the
    spread's maximum, no pinned replica on them, in row order."""
    top, barred = spread.counts.max(), set(rows.tolist())
    found = [node for node in fleet.nodes.values()
             if node.hosted[demand.name] and fleet.rows.alive[node.row] and node.row not in barred and
             spread.of_class[fleet.rows.of_class[node.row]] >= 0 and
             spread.counts[spread.of_class[fleet.rows.of_class[node.row]]] == top and
             not any(name in fleet.problem.pinned for name in node.hosted)]
    return sorted(found, key=lambda node: node.row)
