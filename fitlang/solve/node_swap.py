"""A bought node bought again as a cheaper class that holds exactly its replicas.

Closing a node and its ruin (`improve.consolidate`) leave alone every node hosting a workload
whose rules count per node (a node spread, affinity on nodes, `exclusive`): moving its
replicas one by one would break them. Found as a user (session 52): three one-GPU inference
replicas and four web replicas with `spread node max_skew 1`, bought from `std/aws` under a
`max_count = 6`: the model's packing needed a seventh node, the floor's first-fit took the
catalogue's first offer (4 x p5.48xlarge, 220.16 USD/h) and nothing could close a node, so
that was the answer, against ~5 USD/h.

The node as a whole may change class. The same replicas together keep every rule that reads
what shares a node; the rest a class decides is checked: each replica's class is one
`equivalents` allows (eligible, the same domain of every topology its rules count, the same
latency reach), the node holds them (capacity, per-node limits, pods), the buy limits, the
budget and the power caps hold, no node spread gains a node its workload may use but has no
replica on, and every spread over zones, regions or labels holds (a node bought in a zone
is a new domain there: `spread_domains.py`). Only bought nodes move, and only to bought
classes: a pool's nodes exist whether used or not, and spreads over nodes count them.
"""

from __future__ import annotations

import time

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, node_limit
from fitlang.solve.limits import fleet_limits
from fitlang.solve.pack import NodeState, Packing, _unused_names, equivalents
from fitlang.solve.spread_domains import spreads_kept

# the cheaper classes tried for one node, cheapest first (each a spread check where it holds)
TARGETS_TRIED = 4


def swapped_cheaper(problem: Problem, packing: Packing, deadline: float | None = None) -> int:
    """Each open bought node, dearest first, moved whole onto a node of the cheapest bought
    class that may hold it; say how many moved. Every kept move lowers the cost."""
    bought = [c for c in problem.classes if c.provisioned and c.price > 0 and packing.opened(c.id)]
    if not bought:
        return 0
    counts = {c.id: packing.opened(c.id) for c in problem.classes}
    node_spread = [d for d in problem.demands if any(s.topology == "node" for s in d.spreads)]
    dearest = sorted(((c, n) for c in bought for n in packing.nodes[c.id]),
                     key=lambda pair: (-pair[0].price, pair[1].name))
    moved = 0
    for origin, node in dearest:
        if deadline is not None and time.monotonic() >= deadline:
            break
        for target in _cheaper_classes(problem, origin, node, counts, node_spread):
            _move(problem, packing, origin, node, target)
            if spreads_kept(problem, packing):
                counts[origin.id] -= 1
                counts[target.id] += 1
                moved += 1
                break
            _moved_back(packing, origin, node, target)
    return moved


def _cheaper_classes(problem: Problem, origin: NodeClass, node: NodeState, counts: dict[str, int],
                     node_spread: list[Demand]) -> list[NodeClass]:
    """The bought classes cheaper than `origin` that may take the node's replicas together,
    cheapest first (at most TARGETS_TRIED)."""
    hosted = [(problem.demand(name), amount) for name, amount in sorted(node.hosted.items()) if amount]
    if not hosted:
        return []  # (an empty node is consolidation's to close)
    allowed: set[str] | None = None
    for demand, _ in hosted:
        same = {c.id for c in equivalents(problem, demand, origin)}
        allowed = same if allowed is None else allowed & same
    found: list[NodeClass] = []
    for target in sorted((problem.node_class(i) for i in allowed or ()), key=lambda c: (c.price, c.id)):
        if target.price >= origin.price or len(found) >= TARGETS_TRIED:
            break
        if not target.provisioned or counts[target.id] >= target.count or not _holds(target, hosted) \
                or _widens_node_spreads(node_spread, node, origin, target):
            continue
        trial = dict(counts)
        trial[origin.id] -= 1
        trial[target.id] += 1
        if fleet_limits(problem).hold(trial):
            found.append(target)
    return found


def _holds(target: NodeClass, hosted: list[tuple[Demand, int]]) -> bool:
    if target.max_pods is not None and sum(amount for _, amount in hosted) > target.max_pods:
        return False
    if any(amount > node_limit(demand, target) for demand, amount in hosted):
        return False
    return all(sum(demand.requests[r] * amount for demand, amount in hosted) <= target.capacity[r]
               for r in RESOURCES)


def _widens_node_spreads(node_spread: list[Demand], node: NodeState, origin: NodeClass,
                         target: NodeClass) -> bool:
    """Would the new node be one more a node spread counts with none of its replicas (its
    least count 0 where it may have been 1)? The node left was one only where it hosts some."""
    return any(target.id in demand.eligible and origin.id not in demand.eligible
               and not node.hosted.get(demand.name) for demand in node_spread)


def _move(problem: Problem, packing: Packing, origin: NodeClass, node: NodeState, target: NodeClass,
          name: str | None = None) -> None:
    """The node's replicas onto a new node of `target` (named `name`, else its first unused)."""
    packing.nodes[origin.id] = [n for n in packing.nodes[origin.id] if n is not node]
    opened = packing.nodes.setdefault(target.id, [])
    name = name or next(_unused_names(target, opened))
    capacity = target.capacity_of(name)
    used = {r: sum(problem.demand(d).requests[r] * a for d, a in node.hosted.items()) for r in RESOURCES}
    opened.append(NodeState(name, {r: capacity[r] - used[r] for r in RESOURCES}, dict(node.hosted)))
    packing._room.pop(origin.id, None)
    packing._room.pop(target.id, None)


def _moved_back(packing: Packing, origin: NodeClass, node: NodeState, target: NodeClass) -> None:
    """A move undone: the new node of `target` dropped, and `node` itself back in its class.
    Moved back as a copy (a new node of the same name), the node the next target was tried
    with was no longer in the class: nothing left it, and each target tried added a copy.
    `cloud_buy.py --small` seed 209 (no placement of every replica): a GPU node tried as two
    cheaper classes whose spreads broke was listed three times, its replicas placed three
    times over, and the stated cost 9.92 where its nodes cost 3.98."""
    packing.nodes[target.id].pop()
    packing.nodes[origin.id].append(node)
    packing._room.pop(origin.id, None)
    packing._room.pop(target.id, None)
