"""A workload's replicas on the accelerator nodes it alone uses placed anew over its options,
mixed, with the services beside them moved (`fitc plan` past `LARGE_NODES` nodes; issue 18,
h42e).

`option_switch` moves a workload that runs on one option from every node to another option,
its new replicas placed by `repair`. A workload that runs on two options, or shares some of
its nodes with another's accelerator replicas, it does not move: inventory 10,000 plan 2,
`infer987` ran 8 L4 replicas on three 4-GPU nodes of 5.06 USD/h, one of them its own (4
replicas beside 29 CPU services); plan 7, `infer950` 12 on four of 5.29, two its own. A solve
from scratch mixes a workload's options and classes: its replicas go where GPUs are free or
cheap. A remix: the workload's replicas on the nodes it leaves with no accelerator replica
taken off (the rest stay), those nodes emptied and closed (`option_switch.vacated`), then
replica by replica (`_mixed`) until the workload delivers its throughput again: onto a node in
use with room, of the option that delivers the most a replica, else onto a new node of the
option and class whose price over the throughput one of its nodes delivers (of what is still
needed) is least (`_cheapest_new`); then the services taken off, onto the new nodes first.
Plan 2: `infer987`'s 4 replicas onto a free L40S GPU and a new 4-GPU L4 node of another class
that also takes the services, -1.96 USD/h. Tried the largest guessed saving first
(`_guesses`), kept where the objective with the moves charged is lower
(`pool_emptied.kept_if_cheaper`), else put back. Run after `option_switch`, whose switches
pay more (plan 7: the remixes first took 0.6 USD/h and blocked switches of 2.7).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from functools import partial

from fitlang.model.problem import RESOURCES, Demand, OptionGroup
from fitlang.solve.move_scale import FleetNode, ScaleMove
from fitlang.solve.option_switch import vacated
from fitlang.solve.pool_emptied import kept_in_turn

# the CPU seconds the remixes are tried for (inventory 10,000: 0.07-0.16 s a remix; the first
# guess was the one kept on plans 2 and 7)
REMIX_CPU_SECONDS = 0.2
_GPU = RESOURCES.index("gpu")


def remix_options(fleet: ScaleMove, objective: str, deadline: float | None,
                  cpu_seconds: float = REMIX_CPU_SECONDS) -> int:
    """The remixes (module's docstring) kept where they lower `objective`, until the `deadline`
    or `cpu_seconds` of process time; returns those kept."""
    if fleet.unplaced or not fleet.problem.option_groups:
        return 0
    return kept_in_turn(fleet, objective, _remixes(fleet), deadline, cpu_seconds)


def _remixes(fleet: ScaleMove) -> Iterator[partial]:
    """The remixes whose guess saves (`_guesses`), the largest first; read again after a
    remix kept (it changes them), not after one put back (the fleet is as it was)."""
    tried: set[str] = set()
    guesses: list[tuple[float, str, OptionGroup, list[Demand]]] = []
    while True:
        if not guesses:
            guesses = sorted(_guesses(fleet, tried), key=lambda g: (-g[0], g[1]))
            if not guesses:
                return
        _, workload, group, members = guesses.pop(0)
        tried.add(workload)
        was = _hosting(fleet, members)
        yield partial(remixed, fleet, group, members)
        if _hosting(fleet, members) != was:  # (kept: read again)
            guesses = []


def _guesses(fleet: ScaleMove, tried: set[str]) -> list[tuple[float, str, OptionGroup, list[Demand]]]:
    """Each workload free to move (neither a gang, nor zoned, nor pinned), not `tried`, and not
    `option_switch`'s (on one option, every replica on nodes it would leave empty of
    accelerator replicas) whose guess saves: the price of the nodes its replicas leave with
    no accelerator replica, less the throughput they deliver there at the least price a
    throughput of a new node of any of its options (`_per_throughput`; the room of nodes in
    use aside). A guide."""
    problem = fleet.problem
    hosting: dict[str, list[FleetNode]] = {}  # per demand, the nodes with an accelerator replica hosting it
    for node in fleet.nodes.values():
        if any(fleet.need_ints[name][_GPU] for name in node.hosted):
            for name in node.hosted:
                hosting.setdefault(name, []).append(node)
    per_throughput: dict[str, float] = {}
    found = []
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        if group.workload in tried or group.gang or \
                any(d.name in fleet.zoned or d.name in problem.pinned for d in members):
            continue
        names = set(group.demands)
        on = {node.name: node for d in members for node in hosting.get(d.name, ())}
        left = [node for node in on.values()
                if not any(fleet.need_ints[name][_GPU] for name in node.hosted if name not in names)]
        running = sum(1 for d in members if d.name in hosting)
        if not left or (running == 1 and len(left) == len(on)):
            continue
        freed = sum(float(node.node_class.price) for node in left)
        leaving = sum(float(d.throughput) * node.hosted[d.name] for node in left for d in members)
        least = min(_per_throughput(fleet, d, per_throughput) for d in members)
        if (guess := freed - leaving * least) > 0:
            found.append((guess, group.workload, group, members))
    return found


def _hosting(fleet: ScaleMove, members: list[Demand]) -> dict[str, Counter]:
    """What each node hosting a replica of the members hosts."""
    names = {d.name for d in members}
    return {node.name: Counter(node.hosted) for node in fleet.nodes.values() if names & node.hosted.keys()}


def _per_throughput(fleet: ScaleMove, demand: Demand, found: dict[str, float]) -> float:
    """The least price a throughput of the demand's replicas on a new node of a class it may
    open (found once per demand, in `found`)."""
    if demand.name not in found:
        found[demand.name] = min(
            (fleet.class_price[fleet.rows.class_index[node_class.id]] / (held * float(demand.throughput))
             for node_class in map(fleet.problem.node_class, demand.eligible)
             if demand.throughput > 0
             and (held := min(demand.replicas, _replicas_held(node_class.capacity, demand)))
             and fleet.may_open(node_class) and fleet.free_node(node_class) is not None), default=math.inf)
    return found[demand.name]


def remixed(fleet: ScaleMove, group: OptionGroup, members: list[Demand]) -> None:
    """The workload's replicas taken off, placed anew over its options (`_mixed`), the services
    beside them moved (`option_switch.vacated`)."""
    vacated(fleet, members, partial(_mixed, fleet, group, members), left_only=True)


def _mixed(fleet: ScaleMove, group: OptionGroup, members: list[Demand], barred: frozenset[str]) -> None:
    """Replicas of the options until they deliver the group's throughput: onto a node in use
    with room (the option that delivers the most a replica first), else onto a new node
    (`_cheapest_new`); the classes `barred` not opened. What no node takes is left in
    `fleet.unplaced`."""
    fleet.barred = barred
    try:
        counts = Counter({d.name: sum(node.hosted[d.name] for node in fleet.nodes.values()) for d in members})
        delivered = sum((d.throughput * counts[d.name] for d in members), Fraction(0))
        by_throughput = sorted(members, key=lambda d: (-d.throughput, d.requests.get("gpu", 0), d.name))
        while delivered < group.required:
            open_to = [d for d in by_throughput if counts[d.name] < d.replicas]
            found = next(((nodes[0], d) for d in open_to if (nodes := fleet.targets(d, None, every=False))),
                     None) or _cheapest_new(fleet, open_to, group.required - delivered, counts)
            if found is None:
                fleet.unplaced.append(members[0].name)
                return
            node, demand = found
            fleet.add(node, demand)
            counts[demand.name] += 1
            delivered += demand.throughput
    finally:
        fleet.barred = frozenset()


def _cheapest_new(fleet: ScaleMove, options: list[Demand], needed: Fraction,
                  counts: Counter) -> tuple[FleetNode, Demand] | None:
    """A new node for a replica: of the option and class whose price (a node bought with the
    move price) over the throughput one of its nodes would deliver, of what is still
    `needed`, is least."""
    best: tuple[float, str, str, Demand] | None = None
    for demand in options:
        wanted = min(demand.replicas - counts[demand.name], math.ceil(needed / demand.throughput))
        for class_id in demand.eligible:
            node_class = fleet.problem.node_class(class_id)
            name = fleet.free_node(node_class) if fleet.may_open(node_class) else None
            if name is None:
                continue
            capacity = node_class.node_capacity.get(name, node_class.capacity)
            held = min(wanted, _replicas_held(capacity, demand))
            if held:
                price = fleet.class_price[fleet.rows.class_index[class_id]] / float(held * demand.throughput)
                if best is None or (price, class_id) < best[:2]:
                    best = (price, class_id, name, demand)
    if best is None:
        return None
    node = fleet.node(best[2])
    return node, best[3]


def _replicas_held(capacity: dict[str, int], demand: Demand) -> int:
    """How many replicas of the demand an empty node of that capacity holds."""
    if demand.one_per_node:
        return int(all(capacity.get(r, 0) >= n for r, n in demand.requests.items()))
    return min((capacity.get(r, 0) // n for r, n in demand.requests.items() if n), default=0)
