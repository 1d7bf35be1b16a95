"""Dear accelerator nodes closed by giving their option replicas another option's free room.

A workload with accelerator options may mix them (docs/language.md): a replica of one option
may be replaced by replicas of another that deliver as much. The search's ruins move a
replica only as itself: where the option's nodes are full, a dear node of it stays open for a
replica or two. Inventory 10,000 seed 107: the on-prem L40S nodes (0.22 USD/h) are all full,
and three cloud L40S nodes (15.90 USD/h, their CPU room full of services) hold 9 L40S
replicas, one of them a node alone, while 8 A10G / L4 GPUs are free (an A10G node not opened,
3 GPUs on open ones): an L40S replica there delivers what two A10G replicas do.

Here each open accelerator node that costs something and hosts a replica of such an option,
with idle accelerators or, full, where another option of its group delivers the throughput for
less on nodes not in use or has idle accelerators (`_delivered_for_less`), dearest first, is
ruined (`improve._Search.try_replace`, with its
checks: every replica into the free room of other open nodes, the rest onto new nodes that
together cost less than the node), where an option replica that finds no room of its own
option has its throughput delivered by the other options' replicas in free room
(`_ConvertingSearch._place`), and where no new nodes cost less for the rest, its option
replicas are taken as another option's (`_ConvertingSearch._open_nodes`). Only groups whose
options no rule counts (no spread, affinity either way or latency rule, not a gang): a
replica more or fewer changes no rule's count. Inventory 10,000 at 5 s (docs/performance.md,
session 50): seed 107 622.37 -> 609.32 USD/h (4.38 -> 2.33%), held-out 110 1.49 -> 0.97%, the
other seeds as before (0.007-0.04 CPU s where nothing closes). The full nodes (session 51):
seed 109's A10G nodes at 6.24 USD/h closed, their replicas as L4 ones on 1-GPU nodes (0.98) and
L40S ones on idle on-prem GPUs; 112's at 5.67 as L4 ones on a 4.60 node; a full node whose other
options all cost more is not tried (seed 110's L4 nodes at 4.60: 10 failures, 0.12 CPU s).
"""

from __future__ import annotations

import math
from fractions import Fraction

from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.solve.dear_nodes import ACCELERATOR, _CrossingSearch
from fitlang.solve.improve import NODE_OBJECTIVES, _past
from fitlang.solve.pack import NodeState

# the ruin stops after this many nodes in a row that found no cheaper place
GIVE_UP_AFTER = 10


def options_converted(problem: Problem, packing, objective: str, deadline: float | None) -> int:
    """Ruin each dear accelerator node with idle accelerators, or full where another option
    delivers for less, that hosts a convertible option replica (`_idle_hosting`), dearest
    first, until the `deadline` or GIVE_UP_AFTER failures in a row, in rounds while one closes
    a node (each over the nodes before the last one closed); say how many moves were kept."""
    if objective not in NODE_OBJECTIVES or _past(deadline) or not packing.complete:
        return 0
    others = _convertible(problem)
    candidates = _idle_hosting(problem, packing, others)
    if not candidates:
        return 0
    search = _ConvertingSearch(problem, packing, objective, others)
    made = 0
    while True:  # a node closed gives room to the nodes tried before it (those after it were tried with it)
        last_closed = None
        failed = 0
        for at, (node, node_class) in enumerate(candidates):
            if _past(deadline) or failed >= GIVE_UP_AFTER:
                break
            if search.try_replace([(node, node_class)]):
                made, failed, last_closed = made + 1, 0, at
            else:
                failed += 1
        if last_closed is None or _past(deadline):
            break
        candidates = candidates[:last_closed]
    search.finish()
    return made


def _convertible(problem: Problem) -> dict[str, list[Demand]]:
    """Per option demand of a group no rule counts, the group's other options."""
    towards = problem.affinity_topologies_towards
    others: dict[str, list[Demand]] = {}
    for group in problem.option_groups:
        options = [problem.demand(name) for name in group.demands]
        if group.gang or len(options) < 2 or towards.get(group.workload) or any(
                d.spreads or d.affinities or d.latency or towards.get(d.name) for d in options):
            continue
        for option in options:
            others[option.name] = [d for d in options if d is not option]
    return others


def _idle_hosting(problem: Problem, packing, others: dict[str, list[Demand]]) -> list:
    """The open nodes that cost something and host a convertible option replica, with
    accelerators not all in use or, full, where another option of a group it hosts delivers
    for less (`_delivered_for_less`), dearest first (then by name). Inventory 10,000 seed 107:
    the node closed had 3 of its 4 GPUs idle; seed 109: full 6.24 USD/h A10G nodes closed, their
    replicas as L4 ones on 4.60 USD/h nodes (session 51)."""
    found = []
    cheapest: dict[str, Fraction | None] = {}
    for class_id, nodes in packing.nodes.items():
        node_class = problem.node_class(class_id)
        if node_class.price <= 0 or not node_class.capacity.get(ACCELERATOR):
            continue
        found += [(-node_class.price, node.name, node, node_class) for node in nodes
                  if others.keys() & node.hosted.keys() and (
                      node.free.get(ACCELERATOR, 0) > 0
                      or _delivered_for_less(problem, packing, node_class, node, others, cheapest))]
    found.sort(key=lambda item: item[:2])
    return [(node, node_class) for *_, node, node_class in found]


def _delivered_for_less(problem: Problem, packing, node_class: NodeClass, node: NodeState,
                        others: dict[str, list[Demand]], cheapest: dict[str, Fraction | None]) -> bool:
    """Whether another option of a group the full `node` hosts delivers its throughput for
    less than the node does (`_price_delivered`) on nodes not in use, or has idle accelerators
    on open ones. Without this, the full 4.60 USD/h L4 nodes of inventory 10,000 seed 110 (whose
    other options cost more) were each tried and failed, 0.12 CPU s of the zones' repack."""
    for name in others.keys() & node.hosted.keys():
        here = _price_delivered(node_class, problem.demand(name))
        for other in others[name]:
            if other.name not in cheapest:
                cheapest[other.name] = _cheapest_delivered(problem, packing, other)
            found = cheapest[other.name]
            if here is not None and found is not None and found < here:
                return True
    return False


def _cheapest_delivered(problem: Problem, packing, option: Demand) -> Fraction | None:
    """The least an option's throughput costs: 0 where an open node it may use has an idle
    accelerator, else the least `_price_delivered` of its classes with nodes not in use."""
    need = option.requests.get(ACCELERATOR, 0)
    least = None
    for class_id in option.eligible:
        nodes = packing.nodes.get(class_id, [])
        if any(node.free.get(ACCELERATOR, 0) >= need for node in nodes):
            return Fraction(0)
        node_class = problem.node_class(class_id)
        price = _price_delivered(node_class, option) if len(nodes) < node_class.count else None
        if price is not None and (least is None or price < least):
            least = price
    return least


def _price_delivered(node_class: NodeClass, option: Demand) -> Fraction | None:
    """A node's price per unit of throughput its accelerators deliver as the option's replicas
    (None: they hold none)."""
    held = node_class.capacity.get(ACCELERATOR, 0) // max(1, option.requests.get(ACCELERATOR, 0))
    return Fraction(node_class.price) / (held * option.throughput) if held and option.throughput > 0 else None


class _ConvertingSearch(_CrossingSearch):
    """`_CrossingSearch` whose option replicas that find no room of their own option are
    replaced by the group's other options' replicas in free room, as many as deliver as
    much (rounded up), the options in the order the policy lists them."""

    def __init__(self, problem: Problem, packing, objective: str, others: dict[str, list[Demand]]) -> None:
        super().__init__(problem, packing, objective)
        self.others = others

    def _place(self, demand: Demand, amount: int, origin: NodeClass,
               moves: list[tuple[str, int, str, int]], targets: list[NodeClass] | None = None) -> int:
        left = super()._place(demand, amount, origin, moves, targets)
        if not left or targets is not None or demand.name not in self.others:
            return left
        wanted = left * demand.throughput
        for other in self.others[demand.name]:
            asked = min(math.ceil(wanted / other.throughput), self._unplaced(other))
            placed = asked - super()._place(other, asked, origin, moves)
            wanted -= placed * other.throughput
            if wanted <= 0:
                return 0
        return math.ceil(wanted / demand.throughput) if wanted > Fraction(0) else 0

    def _open_nodes(self, rest: dict[str, list], ruined: list[tuple[NodeState, NodeClass]]) -> bool:
        """New nodes for `rest` as `_Search` opens them; where none cost less, each option
        replica of it replaced by another option's, one option at a time (an A10G node at 5.67
        USD/h holds what a 15.90 cloud L40S node's replicas deliver)."""
        def copied(entries: dict[str, list]) -> dict[str, list]:  # (`_open_nodes` takes from it)
            return {w: [amount, allowed] for w, (amount, allowed) in entries.items()}

        if super()._open_nodes(copied(rest), ruined):
            return True
        origin = ruined[0][1]
        for name in [name for name in rest if name in self.others]:
            demand = self.problem.demand(name)
            for other in self.others[name]:
                if other.name in rest:
                    continue
                asked = math.ceil(rest[name][0] * demand.throughput / other.throughput)
                if asked > self._unplaced(other):
                    continue
                trial = copied({w: entry for w, entry in rest.items() if w != name})
                trial[other.name] = [asked, {c.id for c in self.movable(other, origin)}]
                if super()._open_nodes(trial, ruined):
                    return True
        return False

    def _unplaced(self, option: Demand) -> int:
        """The replicas of `option` not on a node (its replicas deliver the group alone: more
        are not numbered, `verify`'s range), those on the node being ruined counted too."""
        return option.replicas - sum(node.hosted.get(option.name, 0) for nodes in self.packing.nodes.values()
                                     for node in nodes)
