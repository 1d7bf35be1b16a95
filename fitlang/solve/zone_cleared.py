"""A short workload kept apart from another by zone (or region) placed where the other is
moved out of one of its zones.

The greedy pass places a workload of higher priority first; where it may go anywhere, it
takes the free room of nodes open in every zone, and a later workload that must not share a
zone with it finds none (inventory 10,000 seed 20: `svc713`, 28 replicas one a node, in all
three us-east-1 zones, and `svc942`, us-east-1 only and apart from it by zone, left out: 16
replicas). `floor_complete.py`'s tools place a short replica in room others make, never
move a whole workload out of a domain. Here, for each such short workload, the domain it may
use where the other has fewest replicas: those moved out (aimed at the other's domains
outside it, where it is already, cheapest class first), the short replicas aimed at the
domain, then `repair` places both. Kept only where it leaves out fewer replicas and at no
priority level more, every affinity kept.
"""

from __future__ import annotations

import time
from collections import Counter
from fractions import Fraction

from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.solve.floor_complete import breaks_affinities
from fitlang.solve.make_room import adopt, copied, loses_more, move_replicas, no_level_worse, take_short
from fitlang.solve.pack import MayOpen, Packing, repair

# the domains tried per short workload, fewest of the other's replicas first; and the domains
# the other's replicas moved out of one are aimed at in turn, while some are still short
DOMAINS_TRIED = 2
TARGETS_TRIED = 4


def zones_cleared(problem: Problem, packing: Packing, may_open: MayOpen, deadline: float | None) -> bool:
    """For each short workload apart by zone or region from a movable one (`_apart_pairs`),
    highest priority first, a trial per domain (`_cleared`) until one is kept or the
    `deadline`; whether any was."""
    changed = False
    for demand, other, topology in _apart_pairs(problem, packing):
        for domain in _domains(problem, packing, demand, other, topology)[:DOMAINS_TRIED]:
            if deadline is not None and time.monotonic() >= deadline:
                return changed  # (each trial copies the packing: its cost grows with the fleet)
            trial = copied(packing)
            _cleared(problem, trial, demand, other, topology, domain, may_open)
            if no_level_worse(problem, trial, packing) and not breaks_affinities(problem, trial):
                adopt(packing, trial)
                changed = True
                break
    return changed


def _apart_pairs(problem: Problem, packing: Packing) -> list[tuple[Demand, Demand, str]]:
    """(short workload, the workload it is kept apart from, the topology) where the short one
    has no spread over domains (its replicas all go to one) and the other moves whole out of a
    domain with no rule's count changed but the pair's: it loses nothing more than its replicas
    (`loses_more`), follows and is followed by nothing, and is not on exclusive nodes."""
    short = {w for w, _ in packing.short_by_workload}
    followed = {r.target for d in problem.demands for r in d.affinities if not r.anti}
    pairs = []
    for demand in sorted(map(problem.demand, short), key=lambda d: (-d.priority, d.name)):
        if any(s.topology != "node" for s in demand.spreads) or demand.group is not None:
            continue
        for name, topology in _kept_apart(problem, demand):
            other = problem.demand(name)
            if loses_more(other) or other.exclusive or other.name in followed \
                    or any(not r.anti for r in other.affinities):
                continue
            pairs.append((demand, other, topology))
    return pairs


def _kept_apart(problem: Problem, demand: Demand) -> list[tuple[str, str]]:
    """(workload, topology) pairs `demand` may not share a domain with, by its rules or theirs."""
    found = {(r.target, r.topology) for r in demand.affinities
             if r.anti and r.target != "self" and r.topology != "node"}
    found |= {(d.name, r.topology) for d in problem.demands for r in d.affinities
              if r.anti and r.target == demand.name and r.topology != "node"}
    return sorted(found)


def _domains(problem: Problem, packing: Packing, demand: Demand, other: Demand, topology: str) -> list[str]:
    """The domains of `demand`'s classes, fewest of `other`'s replicas first, then cheapest."""
    placed: Counter = Counter()
    for class_id, nodes in packing.nodes.items():
        domain = problem.node_class(class_id).topology_value(topology)
        placed[domain] += sum(node.hosted.get(other.name, 0) for node in nodes)
    cheapest: dict[str, Fraction] = {}
    for node_class in map(problem.node_class, demand.eligible):
        domain = node_class.topology_value(topology)
        if domain is not None and (domain not in cheapest or node_class.price < cheapest[domain]):
            cheapest[domain] = node_class.price
    return sorted(cheapest, key=lambda domain: (placed[domain], cheapest[domain], domain))


def _cleared(problem: Problem, packing: Packing, demand: Demand, other: Demand, topology: str,
             domain: str, may_open: MayOpen) -> None:
    """`other`'s replicas in `domain` taken off, `demand`'s short replicas aimed at its
    cheapest class in `domain`, and `repair`; what of `other` is still short aimed at the
    next of its domains outside `domain` (those where it already is first, then the cheapest)
    and repaired again, up to TARGETS_TRIED of them."""
    inside = _cheapest([c for c in map(problem.node_class, demand.eligible)
                        if c.topology_value(topology) == domain])
    targets = _targets(problem, packing, other, topology, domain)
    if inside is None or not targets:
        return
    for class_id, nodes in packing.nodes.items():
        if problem.node_class(class_id).topology_value(topology) != domain:
            continue
        for node in nodes:
            amount = node.hosted.get(other.name, 0)
            if amount:
                move_replicas(problem, node, other.name, -amount)
                packing.add_short(other.name, targets[0].id, amount)
    _aimed(packing, demand.name, inside)
    repair(problem, packing, may_open)
    for target in targets[1:TARGETS_TRIED]:
        if not any(name == other.name for name, _ in packing.short_by_workload):
            break
        _aimed(packing, other.name, target)
        repair(problem, packing, may_open)


def _targets(problem: Problem, packing: Packing, other: Demand, topology: str,
             domain: str) -> list[NodeClass]:
    """Per domain of `other`'s classes but `domain`, its cheapest class: those of the domains
    it is in already first (kept apart from `demand` there anyway), then by price."""
    present = {problem.node_class(c).topology_value(topology)
               for c, nodes in packing.nodes.items() if any(other.name in n.hosted for n in nodes)}
    cheapest: dict[str | None, NodeClass] = {}
    for node_class in map(problem.node_class, other.eligible):
        key = node_class.topology_value(topology)
        if key != domain and (key not in cheapest or (node_class.price, node_class.id) <
                              (cheapest[key].price, cheapest[key].id)):
            cheapest[key] = node_class
    return sorted(cheapest.values(), key=lambda c: (c.topology_value(topology) not in present, c.price, c.id))


def _cheapest(classes: list[NodeClass]) -> NodeClass | None:
    return min(classes, key=lambda c: (c.price, c.id), default=None)


def _aimed(packing: Packing, name: str, target: NodeClass) -> None:
    """Every short replica of `name` made short against `target`."""
    for (workload, class_id), amount in sorted(packing.short_by_workload.items()):
        if workload == name:
            for _ in range(amount):
                take_short(packing, workload, class_id)
            packing.add_short(workload, target.id, amount)
    packing._room.clear()
