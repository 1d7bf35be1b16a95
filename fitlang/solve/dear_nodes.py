"""Ruin and recreate on the dear full nodes (issue 15, the inventory shape at 10,000 nodes).

`consolidate` (improve.py) ruins nodes at most `SINGLE_USED` full, least used first, and gives
up after `GIVE_UP_AFTER` failures in a row: a full node rarely has a cheaper replacement. On the
inventory shape the floor's dearest CPU nodes are full (seeds 8 and 9 at 10,000 nodes: paid CPU
classes at 3-5.3 USD/h a node, CPU used 96-100%) while the accelerator nodes the gangs must open
keep CPU free (seed 8: 55 A100 nodes with 15.9 of 95.9 cores free), and cheaper CPU classes
have room or nodes to open. Here every open node fuller than that, that costs something and
hosts no accelerator workload (an accelerator node's replicas have no cheaper place), is
ruined alone, dearest first: its replicas into the free room of other open nodes, the rest
onto new nodes that together cost less (`_Search.try_replace`, with every check
`consolidate` makes: a replica moves only to a class that keeps every rule's counts, the
buy limits, the budget and the power caps kept). Each kept move lowers the cost.
"""

from __future__ import annotations

from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.solve.cross_domains import CrossDomains
from fitlang.solve.improve import NODE_OBJECTIVES, SINGLE_USED, _past, _Search

# the ruin stops after this many dear full nodes in a row that found no cheaper place
# (inventory 10,000 seed 9, every candidate tried: 24 kept of 497, all but 4 of the saving
# in the first 80)
GIVE_UP_AFTER = 50
# (the search's ruin of the guided floor tries every candidate instead, `give_up=None`: its
# deadline bounds it; inventory 10,000, in process, seeds 7 / 8 / 9: 581.42 -> 581.31,
# 2482.49 -> 2481.48, 1643.87 -> 1643.47 for up to 0.27 CPU s more)
# the accelerator resource: a node hosting a workload that asks for some is left as it is
ACCELERATOR = "gpu"


def dear_nodes_ruined(problem: Problem, packing, objective: str, deadline: float | None,
                      give_up: int | None = GIVE_UP_AFTER) -> int:
    """Ruin and recreate each dear full node (`_dear_full`) in turn until the `deadline` or
    `give_up` failures in a row (None: every node); say how many moves were kept.
    Deterministic: the order depends on the packing only, the deadline only cuts it short."""
    if objective not in NODE_OBJECTIVES or _past(deadline) or not packing.complete:
        return 0
    search = _CrossingSearch(problem, packing, objective)
    made = failed = 0
    for node, node_class in _dear_full(problem, search):
        if _past(deadline) or (give_up is not None and failed >= give_up):
            break
        if search.try_replace([(node, node_class)]):
            made, failed = made + 1, 0
        else:
            failed += 1
    search.finish()
    return made


def _dear_full(problem: Problem, search: _Search) -> list:
    """The open nodes more than `SINGLE_USED` full (those `consolidate` leaves) that cost
    something and host no accelerator workload, dearest first (then by name)."""
    accelerated = {d.name for d in problem.demands if d.requests.get(ACCELERATOR, 0)}
    found = [(-search.price[node_class.id], node.name, node, node_class)
             for used, node, node_class in search.ranked()
             if used > SINGLE_USED and search.price[node_class.id] > 0
             and not accelerated & node.hosted.keys()]
    found.sort(key=lambda item: item[:2])
    return [(node, node_class) for *_, node, node_class in found]


class _CrossingSearch(_Search):
    """`_Search` whose replicas of spread workloads may also cross domains (`_place`)."""

    crossing = True

    def __init__(self, problem: Problem, packing, objective: str) -> None:
        super().__init__(problem, packing, objective)
        self.cross = CrossDomains(problem, packing, lambda class_id: bool(
            class_id in self.open and self.open[class_id].any()))

    def try_replace(self, ruined) -> bool:
        mark = self.cross.mark()
        replaced = super().try_replace(ruined)
        if not replaced:
            self.cross.undo_to(mark)
        return replaced

    def _place(self, demand: Demand, amount: int, origin: NodeClass,
               moves: list[tuple[str, int, str, int]], targets: list[NodeClass] | None = None) -> int:
        """`_Search._place`, then what found no room in its domains into the free room of
        other domains where the spreads' skew allows it, one replica at a time
        (cross_domains.py)."""
        left = super()._place(demand, amount, origin, moves, targets)
        if not left or targets is not None or not self.crossing or not self.cross.may_cross(demand):
            return left
        while left:
            for domain, classes in self.cross.destinations(demand, origin):
                if not super()._place(demand, 1, origin, moves, classes):
                    self.cross.moved(demand, origin, domain)
                    left -= 1
                    break
            else:
                return left
        return 0
