"""Move replicas from cheap nodes into the open dear nodes' free room, then consolidate (issue
15, the inventory shape at 10,000 nodes).

The gangs open the accelerator nodes and leave CPU free on them (seed 9: the pair LP puts 2,167
CPUs of CPU-only replicas on the 8-GPU nodes, the floor 1,230-1,666), while the CPU-only
replicas sit on cheap CPU nodes. Closing a cheap node whole into that room finds nothing on
the floor the search gets at 5 s (seed 9: 309 cheap open nodes, none closes: of their 2,341
replicas 911 may use no class that hosts an accelerator workload, 1,215 may but find no node
with room; the room is on a few classes, and each cheap node also hosts replicas that may not
go there). So here each replica of a cheap open node (it costs something, hosts no accelerator
workload, is of no dear class; least used first) that fits into the free room of the open
nodes of a dear class (one with an open node hosting an accelerator workload) moves there, the
cost unchanged; the room that frees on the cheap nodes is what `consolidate` and the ruin of
the dear full nodes (dear_nodes.py, every one) then use to close nodes. A replica moves only as
`consolidate` moves one (`_Search._place`: a class `equivalents` allows, so every rule's
counts per domain are kept; the node's free room, the per-node limit, anti-affinity and
exclusive workloads checked); no node opens, so the buy limits, the budget and the power caps
hold.
"""

from __future__ import annotations

from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.solve.dear_nodes import ACCELERATOR, dear_nodes_ruined
from fitlang.solve.improve import NODE_OBJECTIVES, _past, _Search, consolidate
from fitlang.solve.spread_domains import restore, snapshot, spreads_kept, spreads_may_break


def dear_room_filled(problem: Problem, packing, objective: str, deadline: float | None) -> int:
    """Move what fits of the cheap open nodes' replicas into the dear classes' free room, then
    `consolidate` and ruin the dear full nodes (`dear_nodes_ruined`, every one) until the
    `deadline`; say how many replicas moved. Deterministic: the order
    depends on the packing only, the deadline only cuts it short."""
    if objective not in NODE_OBJECTIVES or _past(deadline) or not packing.complete:
        return 0
    # (the ruin it ends with may open a node in a new domain of another workload's spread:
    # bench/cloud_buy.py 5,000 seed 2, `ser0689` spread 0..2 per region, E0507 `unknown`)
    saved = snapshot(packing) if spreads_may_break(problem) else None
    search = _DearRoomSearch(problem, packing, objective)
    moved = 0
    for node, node_class in _cheap_open(problem, search) if search.dear else []:
        if _past(deadline):
            break
        moved += search.shift(node, node_class)
    search.finish()
    if moved:
        consolidate(problem, packing, objective, deadline)
        if saved is not None and not spreads_kept(problem, packing):
            restore(packing, saved)
            return 0
        # the ruin undone alone where it breaks a spread: the moves' gain kept (5,000 seed 2:
        # the whole stage undone gave back 4080.40 for 4074.53)
        saved = snapshot(packing) if saved is not None else None
        dear_nodes_ruined(problem, packing, objective, deadline, give_up=None)
    if saved is not None and moved and not spreads_kept(problem, packing):
        restore(packing, saved)
    return moved


def _accelerated(problem: Problem) -> set[str]:
    return {d.name for d in problem.demands if d.requests.get(ACCELERATOR, 0)}


def _cheap_open(problem: Problem, search: _DearRoomSearch) -> list:
    """The open nodes that cost something, host no accelerator workload and are of no dear
    class, least used first (`_Search.ranked`): those most likely to close once emptied."""
    accelerated = _accelerated(problem)
    return [(node, node_class) for _, node, node_class in search.ranked()
            if search.price[node_class.id] > 0 and node_class.id not in search.dear
            and not accelerated & node.hosted.keys()]


class _DearRoomSearch(_Search):
    """`_Search` whose replicas move only into the open nodes of the `dear` classes: those
    with an open node hosting an accelerator workload."""

    def __init__(self, problem: Problem, packing, objective: str) -> None:
        super().__init__(problem, packing, objective)
        accelerated = _accelerated(problem)
        self.dear = {class_id for class_id, nodes in packing.nodes.items()
                     if any(accelerated & node.hosted.keys() for node in nodes)}

    def shift(self, node, node_class: NodeClass) -> int:
        """Move what of `node`'s replicas fits into the dear classes' room; say how many."""
        class_id, index = self.position[node.name]
        moved = 0
        for name in sorted(node.hosted, key=lambda name: (-float(self.requests[name].sum()), name)):
            amount = node.hosted[name]
            left = self._place(self.problem.demand(name), amount, node_class, [])
            self.free[class_id][index] += self.requests[name] * (amount - left)
            moved += amount - left
            if left:
                node.hosted[name] = left
            else:
                del node.hosted[name]
        return moved

    def _place(self, demand: Demand, amount: int, origin: NodeClass,
               moves: list[tuple[str, int, str, int]], targets: list[NodeClass] | None = None) -> int:
        if targets is None:
            targets = [c for c in self.targets(demand, origin) if c.id in self.dear]
        return super()._place(demand, amount, origin, moves, targets)
