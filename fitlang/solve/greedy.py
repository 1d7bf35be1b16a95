"""The floor of every solve: a greedy per-node placement, within a second at 10,000 nodes.

`fitc solve` places greedily first, then asks the optimiser to do better in the time left;
when the optimiser has nothing by the deadline (or something worse), the greedy placement is
what the user gets, never nothing.

Each workload, highest priority first, is sent whole to the class where a replica costs least,
within the domains its rules allow: a spread gives each domain of its topology the fewest
replicas its skew allows and the rest to the cheapest domains, `anti_affinity` towards a
workload on a zone or region keeps out of the domains the other took (and, placed first, keeps
to domains the other may not use where it can), `affinity` follows its target's class, latency
rules pick a class within reach of every location. Its replicas go first into the free room of
nodes already open (the cheapest classes first, each class's nodes in the order they opened),
then onto new nodes (cheapest class first), within the buy limits, the budget and the power
caps. Node-level rules are kept on every node: the per-node limit (`node_limit`), anti-affinity
and affinity between workloads on a node, `exclusive` nodes. What a rule needs whole (a gang, a
spread, an option group) and did not fit is left out whole by the caller, as after any packing.
An option group's option is chosen when its turn comes: each is tried on the fleet as it is
then (and given back), the one that opens the least cost of new nodes kept; a group a guide
gives a mix for (a split of the LP's, option_mix.py) is placed as that mix where it fits.

Replicas are placed in bulk (measured at 10,000 inventory nodes: one packer per class tried,
replica by replica, took 6-8 s): the fleet is kept as arrays (every class's capacity, price and
domains; every open node's free room, class and what it hosts), and a workload's replicas fill
each node with as many as fit there at once: k = min(free // request, per-node limit), summed
over the nodes in order until the replicas run out.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, replicas_per_node
from fitlang.solve.bought_domains import HeldSpread, dealt_over_fewer_domains, kept_off, placed_before_spreads
from fitlang.solve.latency_parts import reach_parts
from fitlang.solve.make_room import no_level_worse
from fitlang.solve.pack import NodeState, Packing, _apart_on_nodes
from fitlang.solve.spread_reach import reach_first, spread_over_reach, within_reach
from fitlang.solve.zone_bound import bound_to_short_zones, learned_order

_GPU = RESOURCES.index("gpu")
# the pods a node admits where its class states no `max_pods` (more than any node holds)
UNLIMITED_PODS = 2 ** 40


@dataclass(frozen=True)
class Guide:
    """What a relaxation's solution suggests to the greedy pass: per option group, its
    options in the order to try them (the first that places whole is taken; none does: the
    cheapest, as without); per workload, the classes to try first (cheapest first among
    them, then the others)."""

    options: Mapping[str, Sequence[str]] = field(default_factory=dict)
    classes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # nodes to fill before the pass (a pattern relaxation's, rounded down): per node, the
    # classes it may be taken from and the replicas it holds, per group of workloads (a
    # merged demand: its replicas go to the first of them with replicas left)
    nodes: Sequence[tuple[Sequence[str], Mapping[tuple[str, ...], int]]] = ()
    # the free room of open nodes that cost something filled dearest class first (else
    # cheapest first): a second floor beside the first (`placement._room_floor`)
    dear_room_first: bool = False
    # replicas placed first on given classes (free room, then new nodes, in the usual order
    # within them): (the workloads that share the count, the classes, the count), each
    # workload's in turn, before its usual order; what they leave placed as without
    # (`gang_quotas.gang_quotas`: the pair LP's gangs by class and zone)
    quotas: Sequence[tuple[frozenset[str], frozenset[str], int]] = ()
    # per class id, the most nodes the quotas may have open there (the LP's, rounded up:
    # `gang_quotas.lp_nodes`); beyond it a quota's replicas take only free room there, the rest
    # placed as without. Every workload's quotas (`gang_quotas.every_quota`) opened a node for a
    # replica or two on each class the LP spreads a service over (inventory 10,000 seed 10, the
    # pass 868.27 -> 614.67, consolidated 521.18 -> 518.94)
    quota_nodes: Mapping[str, int] = field(default_factory=dict)
    # a workload that asks no GPU opens a node of a class with GPUs only where no other class
    # it may use has a node left for it (their open nodes' free room as without): the LP
    # puts services in the room beside its GPU nodes, and a class it suggests for a service
    # then came first for new nodes too (inventory 10,000 seed 9: `svc17` opened five
    # 55.04 USD/h 8-GPU nodes, the pass 2050.05 -> 1631.70, consolidated 1623.03 -> 1622.53)
    gpu_nodes_last: bool = False
    # per (workload, topology of the rule that deals it over domains): the replicas the LP puts
    # in each domain; the replicas a spread leaves free go to the domains with the most first
    # (`gang_quotas.domain_counts`; inventory 10,000 seed 7: a skew-1 spread's extras went to
    # eu-west-1b and us-east-1b, where the LP has them in zones with cheaper room)
    domains: Mapping[tuple[str, str], Mapping[str, float]] = field(default_factory=dict)
    # classes ordered by the share of a node a replica takes, as the LP counts it, not by at
    # least a whole node over the replicas one takes: the room a node has left beside them is
    # what smaller replicas placed later fill (inventory 10,000 seed 11: 4-CPU replicas opened
    # 96-CPU nodes, 23 a node, rather than 16-CPU ones 12% cheaper a CPU, 3 a node and 4 CPUs
    # left; the pass's paid CPU nodes cost 0.0465 USD/h a CPU against the LP's 0.0453)
    fractional: bool = False
    # per option group the LP mixes options for: the replicas of each option (option_mix.py),
    # placed so where every part fits at the group's turn (`_mixed`), else an option whole
    mixes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # per group of `mixes` placed so only where the pass would take this option whole
    mixed_if_whole: Mapping[str, str] = field(default_factory=dict)
    # the plain first-fit pass (first_fit.py): classes in the policy's order, each class's nodes
    # in the order of their names, a workload's replicas on the first node with room for them
    # (open or not); a latency rule's replicas within its reach first, the rest anywhere
    first_fit: bool = False
    # spreads over domains of offers placed last, each over the domains that exist then first
    # (bought_domains.py: a second floor beside the first, `greedy_floor`)
    spreads_last: bool = False


def greedy_floor(problem: Problem, deadline: float | None = None,
                 guide: Guide | None = None, short_first: bool = False,
                 plain_too: bool = True, learned: set[str] | None = None,
                 placed: Callable[[Packing], None] | None = None,
                 passes_until: float | None = None, behind: set[str] | None = None,
                 not_kept: list[Packing] | None = None) -> tuple[Packing, set[str]]:
    """The floor: the greedy placement, workloads kept apart from another by zone or region
    first; when that leaves replicas out and time is left, the plain order too, and the one
    that leaves fewer out (then costs less; not with `plain_too` False: `plain_order_too`
    later); with `short_first`, where both leave replicas out, a pass with those workloads
    first, then the workloads bound to their zones (`_short_first`; their names added to `learned`
    and `behind`, where given: short_order.py, zone_bound.py). Also
    says which workloads the `deadline` cut off (left out whole); `guide`: what a relaxation
    suggests; `placed`: told the first pass's packing, where the deadline did not cut it,
    before the passes after it (early_bounds.py: the pair LP begun from it beside them);
    `passes_until`: no pass after the first past it (the command's limit, spent by the time
    the first pass ends: accelerator-heavy 50,000 at 30 s under load 20-31, where the
    short-first pass took 2.1 of the ~12 CPU s the command ran, 4-7 minutes; a short floor
    is completed or the first-fit answers, `placement._floor_stage`); `not_kept`, where given:
    the short-first pass appended where it was not kept (short_again.py goes on from it).

    Measured (bench/run.py's three shapes, 1,000 and 10,000 nodes): the apart-first order
    never costs more, and on the inventory shape at 1,000 nodes 144.40 against 185.11."""
    fixed = _Classes(problem, guide is not None and guide.fractional)
    packing, cut = _greedy(problem, True, deadline, fixed, guide)
    if placed is not None and not cut:
        placed(packing)
    if passes_until is not None and time.monotonic() >= passes_until:
        return packing, cut
    if guide is None and not cut and placed_before_spreads(problem):
        other, other_cut = _greedy(problem, True, deadline, fixed, Guide(spreads_last=True))
        packing = other if not other_cut and _better_packing(problem, other, packing) else packing
    if plain_too and packing.short and not cut:
        packing = _plain_order_too(problem, packing, deadline, fixed, guide)
    if short_first and packing.short and not cut:
        packing = _short_first(problem, packing, deadline, fixed, guide, learned, behind, not_kept)
    return packing, cut


def plain_order_too(problem: Problem, packing: Packing, deadline: float | None,
                    guide: Guide | None = None) -> Packing:
    """What `greedy_floor` does next where its first pass (`plain_too` False) left `packing`
    short: the plain order too, the better of the two."""
    if not packing.short:
        return packing
    fixed = _Classes(problem, guide is not None and guide.fractional)
    return _plain_order_too(problem, packing, deadline, fixed, guide)


def _plain_order_too(problem: Problem, packing: Packing, deadline: float | None, fixed: _Classes,
                     guide: Guide | None) -> Packing:
    if not kept_apart(problem):  # (the same order: the same pass; accelerator-heavy 50,000: 2.2 CPU s)
        return packing
    other, other_cut = _greedy(problem, False, deadline, fixed, guide)
    return other if not other_cut and _better_packing(problem, other, packing) else packing


def kept_apart(problem: Problem) -> set[str]:
    """The workloads kept apart from another by zone or region: the order apart first puts
    them before the others; where there are none it is the plain order."""
    return {d.name for d in problem.demands for r in d.affinities
            if r.anti and r.target != "self" and r.topology != "node"}


def affinity_followers(problem: Problem) -> set[str]:
    """The workloads that follow another by affinity: a pass that reorders workloads keeps each
    of them after its target (the usual order), so none is put first."""
    return {d.name for d in problem.demands if any(not r.anti for r in d.affinities)}


def greedy_in_order(problem: Problem, first: Mapping[str, int], deadline: float | None = None,
                    guide: Guide | None = None,
                    most_out: Mapping[int, int] | None = None) -> tuple[Packing, set[str]]:
    """The greedy pass (workloads kept apart by zone or region first) with the workloads of
    `first` before the others, by their rank (the usual order within a rank, and for the rest);
    which workloads the `deadline` cut off. `most_out`, where given: per priority level, the
    most replicas the pass may leave out; it stops (as if cut, at the workload that passed it)
    once it leaves out more at any level (`_past_most_out`)."""
    fixed = _Classes(problem, guide is not None and guide.fractional)
    return _greedy(problem, True, deadline, fixed, guide, first, most_out)


def _short_first(problem: Problem, packing: Packing, deadline: float | None, fixed: _Classes,
                 guide: Guide | None, learned: set[str] | None = None,
                 behind: set[str] | None = None, not_kept: list[Packing] | None = None) -> Packing:
    """A pass with the workloads `packing` left short placed first, then those bound to the
    zones they were left out in (zone_bound.py; added to `behind`, where given), kept only
    where it places every replica (then no priority was overruled: the order that puts one above another
    matters only where not everything fits), or leaves out fewer and at no priority level more
    (`no_level_worse`; tight zones at 3,000 nodes, docs/performance.md session 31, seed 1: 38 of
    priority 1 out, where the priority order left 1,539 of 10, 981 of 5 and 377 of 1). A
    workload of lower priority kept apart by zone from a higher one comes after it, and finds
    every zone it may use taken (inventory 10,000 seed 20: `svc942`'s 16 replicas, us-east-1
    only, apart by zone from `svc713`, placed in all three us-east-1 zones first; `unknown`
    with 16 out at 0.6 s of a 5 s limit, the stages after the floor then waiting for a
    complete one). A workload that follows another by affinity
    keeps its place after its target."""
    followers = affinity_followers(problem)
    first = {w for w, _ in packing.short_by_workload} - followers
    if not first:
        return packing
    bound = bound_to_short_zones(problem, packing) - followers - first
    if learned is not None:
        learned |= first
    if behind is not None:
        behind |= bound
    other, cut = _greedy(problem, True, deadline, fixed, guide, learned_order(first, bound))
    if not cut and (other.complete or no_level_worse(problem, other, packing)):
        return other
    if not cut and not_kept is not None:
        not_kept.append(other)
    return packing


def _better_packing(problem: Problem, first: Packing, second: Packing) -> bool:
    """Fewer replicas left out, then the lower cost of the nodes it opens."""
    def key(packing: Packing):
        cost = sum((c.price * len(packing.nodes.get(c.id, ())) for c in problem.classes), Fraction(0))
        return sum(packing.short.values()), cost
    return key(first) < key(second)


def greedy_packing(problem: Problem, apart_first: bool = False,
                   deadline: float | None = None) -> Packing:
    """Each workload in turn, highest priority first (targets of `affinity` before their
    followers): first the free room of nodes already open, then new nodes, in the classes it
    may use cheapest per replica first. What fits nowhere is `short`; so is every workload not
    reached by the `deadline` (whole, against its first eligible class).

    With `apart_first`, workloads kept apart from another by zone or region go before the
    others of their priority: a target spread over every zone first leaves them none."""
    return _greedy(problem, apart_first, deadline, _Classes(problem))[0]


def _greedy(problem: Problem, apart_first: bool, deadline: float | None,
            fixed: _Classes, guide: Guide | None = None,
            first: AbstractSet[str] | Mapping[str, int] = frozenset(),
            most_out: Mapping[int, int] | None = None) -> tuple[Packing, set[str]]:
    guide = guide or Guide()
    fleet = _Fleet(problem, fixed, guide.classes)
    fleet.dear_room_first = guide.dear_room_first
    fleet.set_quotas(guide.quotas, guide.quota_nodes)
    fleet.gpu_nodes_last = guide.gpu_nodes_last
    fleet.domain_counts = guide.domains
    fleet.first_fit = guide.first_fit
    fleet.fewer_first = guide.spreads_last
    if guide.spreads_last:
        first = placed_before_spreads(problem)
    followed = {r.target for d in problem.demands for r in d.affinities if not r.anti}
    apart = kept_apart(problem) if apart_first else set()
    # within a priority, the workloads dearest to place first (the price per replica of the
    # cheapest class each may use): the larger replicas and those with fewer cheap places go
    # before the ones that fit anywhere, as first-fit decreasing does for bin packing
    # (measured at 10,000 nodes, consolidated: breaker 2051 -> 1978, inventory 618.42 ->
    # 614.70, bench 9708.14 -> 9715.72)
    # `first`: the workloads placed before the others (a mapping: in the order of its ranks)
    rank = first if isinstance(first, Mapping) else dict.fromkeys(first, 0)
    order = sorted(problem.demands,
                   key=lambda d: (rank.get(d.name, math.inf), *_pass_order(d, followed, apart, fleet)))
    options = _feasible_options(problem, fixed.shapes)
    if guide.options:
        for group, demands in options.items():
            rank = {name: i for i, name in enumerate(guide.options.get(group, ()))}
            demands.sort(key=lambda d: rank.get(d.name, len(rank)))  # stable: policy order after
    prefilled = fleet.prefill(guide.nodes, deadline) if guide.nodes else {}
    decided: set[str] = set()  # option groups whose option is placed (or tried) already
    apart_rules = _apart_rules(problem, fleet)
    taken: dict[tuple[str, str], set[int]] = {}  # (workload, topology) -> domain codes it uses
    shorts: list[tuple[str, str, int]] = []  # (workload, class id, replicas) that did not fit
    cut: set[str] = set()  # the workloads not reached by the deadline (or past `most_out`)
    out_by_level: dict[int, int] = {}  # replicas left out so far per priority level (`most_out`)
    for demand in order:
        if demand.group is not None:
            if demand.group in decided or demand.group not in options:
                continue
            decided.add(demand.group)
            going = not cut and (deadline is None or time.monotonic() < deadline)
            if going and demand.group in guide.mixes and \
                    guide.mixed_if_whole.get(demand.group) in (None, _option_to_place(
                        fleet, options[demand.group], taken, bool(guide.options)).name) and \
                    _mixed(fleet, options[demand.group], guide.mixes[demand.group], taken, apart_rules):
                continue
            if going:
                demand = _option_to_place(fleet, options[demand.group], taken, bool(guide.options))
        if cut or (deadline is not None and time.monotonic() >= deadline):
            cut.add(demand.name)
            if demand.replicas:  # out of time: left out whole, as a gang or spread would be
                shorts.append((demand.name, demand.eligible[0] if demand.eligible else "",
                               demand.replicas))
            continue
        if prefilled.get(demand.name):  # no rule counts it across nodes: place the rest
            demand = dataclasses.replace(demand, replicas=demand.replicas - prefilled[demand.name])
            if not demand.replicas:
                continue
        rows = fleet.candidates(demand, taken)
        if guide.first_fit and _reach_first_fits(demand):
            shorts += [(demand.name, origin, amount) for origin, amount in _reach_first(fleet, demand, taken)]
            continue
        if spread_over_reach(demand) and _over_reach(fleet, demand, taken):
            if demand.name in apart_rules:
                _note_domains(fleet, demand.name, taken)
            continue
        # no class within reach of every latency rule's users: a part per rule (latency_parts.py)
        for part in (reach_parts(demand) if not len(rows) else []) or [demand]:
            rows = rows if part is demand else fleet.candidates(part, taken)
            left = _place_demand(fleet, part, rows)
            shorts += [(demand.name, origin, amount) for origin, amount in left]
            if most_out is not None and _past_most_out(demand, left, out_by_level, most_out):
                cut.add(demand.name)
        if demand.name in apart_rules:  # a zone or region anti-affinity reads where it went
            _note_domains(fleet, demand.name, taken)
    packing = fleet.packing()
    for name, origin, amount in shorts:
        packing.add_short(name, origin, amount)
    return packing, cut


def _past_most_out(demand: Demand, left: list[tuple[str, int]], out_by_level: dict[int, int],
                   most_out: Mapping[int, int]) -> bool:
    """Adds what `demand` left out to its level's count; whether that passes the level's most.
    A workload with options is not counted: its left out is what its first option's replicas
    deliver (`make_room.left_out`), not what one option left out; for every other workload the
    replicas a pass leaves out are at most what `left_out` counts for it (which takes off a
    spread's excess and a workload dropped whole too), so a pass past a level's most here is
    past it there."""
    if demand.group is not None or not left:
        return False
    level = demand.priority
    out_by_level[level] = out_by_level.get(level, 0) + sum(amount for _, amount in left)
    return out_by_level[level] > most_out.get(level, 0)


def _reach_first_fits(demand: Demand) -> bool:
    """Does the first-fit pass place this workload by `_reach_first`? One with latency rules and
    none that counts its replicas together (a spread, `anti_affinity self` on a zone or region,
    a gang, an option group): `_reach_first` places by capacity alone, and put three replicas
    kept one per zone into one zone (bench/differential.py seed 38101)."""
    return bool(demand.latency) and not _domain_rules(demand) and not demand.gang and demand.group is None


def _reach_first(fleet: _Fleet, demand: Demand,
                 taken: dict[tuple[str, str], set[int]]) -> list[tuple[str, int]]:
    """The first-fit pass's way with latency rules, as a rule reads (rules/latency.py: so many
    replicas within reach of a location, not every one): each rule's replicas not yet within
    its reach (those placed for the rules before it count) on the classes within it, then the
    rest on any class; (class id, replicas) of what did not fit."""
    rows = fleet.candidates(dataclasses.replace(demand, latency=[]), taken)
    limit = fleet.node_limits(demand, rows)
    left, missed = demand.replicas, 0
    for rule in demand.latency:
        reach = fleet.reach(rule)
        have = sum(fleet.hosted[node][demand.name] for node in fleet.hosts.get(demand.name, ())
                   if reach[fleet.owner[node]])
        wanted = min(max(0, rule.replicas - have), left)
        short = fleet.place(demand, rows[reach[rows]], wanted, limit)
        left, missed = left - wanted, missed + short
    missed += fleet.place(demand, rows, left, limit)
    return [(_origin(fleet, demand, rows), missed)] if missed else []


def _pass_order(demand: Demand, followed: set[str], apart: set[str], fleet: _Fleet) -> tuple:
    """Within a priority: targets of `affinity` first, then the workloads that must share a
    node with one (before others take the room beside the target's replicas: differential_fleet.py
    seed 3773 left 25 of a follower out where every replica fits), then those kept apart by
    zone or region, then the dearest to place."""
    return (-demand.priority, demand.name not in followed, not _follows_on_node(demand),
            demand.name not in apart, -fleet.cheapest(demand), demand.name)


def _follows_on_node(demand: Demand) -> bool:
    return any(not rule.anti and rule.topology == "node" for rule in demand.affinities)


def _apart_rules(problem: Problem, fleet: _Fleet) -> set[str]:
    """The workloads a zone or region anti-affinity reads the domains of (either way)."""
    return set(fleet.kept_apart_by) | {d.name for d in problem.demands for r in d.affinities
                                       if r.anti and r.target != "self" and r.topology != "node"}


def _note_domains(fleet: _Fleet, name: str, taken: dict[tuple[str, str], set[int]]) -> None:
    used = fleet.classes_hosting(name)
    for topology in ("zone", "region"):
        codes = fleet.codes(topology)[0][used]
        taken.setdefault((name, topology), set()).update(codes[codes >= 0].tolist())


def options_moved(problem: Problem, packing: Packing, guide: Guide) -> Packing | None:
    """`packing` with the option groups whose options differ from the guide's first one
    placed again, in the guide's order, every other replica where it is: the guided greedy
    pass as moves on a floor (None where no group differs). A fraction of a whole pass: at
    inventory 10,000 seed 7 37 groups in ~0.1 CPU s, 614.70 -> 598.87 USD/h once
    consolidated, where a whole guided pass and its consolidation take ~1 s. Its nodes are
    each class's names up to the last one `packing` uses (the greedy pass opens a class's
    nodes in the order of its names); the empty ones are left out of the packing returned."""
    moved = _groups_off_guide(problem, packing, guide)
    if not moved:
        return None
    fixed = _Classes(problem)
    fleet = _Fleet(problem, fixed, guide.classes)
    _seed(fleet, packing, {d.name for d in problem.demands if d.group in moved})
    apart_rules = _apart_rules(problem, fleet)
    taken: dict[tuple[str, str], set[int]] = {}
    for name in apart_rules & fleet.hosts.keys():
        _note_domains(fleet, name, taken)
    options = _feasible_options(problem, fixed.shapes)
    followed = {r.target for d in problem.demands for r in d.affinities if not r.anti}
    # the moved groups in the order of a whole pass (by their first option; kept apart: either way)
    order = sorted((group for group in moved if group in options),
                   key=lambda g: _pass_order(options[g][0], followed, apart_rules, fleet))
    shorts: list[tuple[str, str, int]] = []
    for group in order:
        rank = {name: i for i, name in enumerate(guide.options.get(group, ()))}
        choices = sorted(options[group], key=lambda d: rank.get(d.name, len(rank)))
        demand = _option_to_place(fleet, choices, taken, True)
        rows = fleet.candidates(demand, taken)
        shorts += [(demand.name, origin, amount) for origin, amount in _place_demand(fleet, demand, rows)]
        if demand.name in apart_rules:
            _note_domains(fleet, demand.name, taken)
    placed = fleet.packing()
    placed.nodes = {c: kept for c, nodes in placed.nodes.items() if (kept := [n for n in nodes if n.hosted])}
    for name, origin, amount in shorts:
        placed.add_short(name, origin, amount)
    return placed


def _groups_off_guide(problem: Problem, packing: Packing, guide: Guide) -> set[str]:
    """The option groups the packing places with anything but the guide's first option."""
    used: dict[str, set[str]] = {}
    for nodes in packing.nodes.values():
        for node in nodes:
            for name in node.hosted:
                group = problem.demand(name).group
                if group is not None:
                    used.setdefault(group, set()).add(name)
    return {group for group, order in guide.options.items() if order and used.get(group) != {order[0]}}


def _seed(fleet: _Fleet, packing: Packing, moved: set[str]) -> None:
    """The fleet opened as `packing` is, but for the `moved` workloads' replicas: each class's
    names up to the last one it uses (the ones it does not use open and empty, counted in
    the limits as if bought: they may only be filled, never named twice)."""
    for node_class in fleet.classes:
        nodes = {node.name: node for node in packing.nodes.get(node_class.id, ())}
        if not nodes:
            continue
        row = fleet.row[node_class.id]
        names = node_class.node_names
        last = max(i for i, name in enumerate(names) if name in nodes)
        for name in names[:last + 1]:
            fleet._open(row, name, np.array([node_class.capacity_of(name)[r] for r in RESOURCES],
                                            dtype=np.int64))
            hosted = nodes[name].hosted if name in nodes else {}
            for workload, amount in hosted.items():
                if workload not in moved:
                    demand = fleet.problem.demand(workload)
                    need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
                    fleet._put(demand, fleet.size - 1, amount, need)
        fleet.limits.count(node_class, last + 1)


def _place_demand(fleet: _Fleet, demand: Demand, rows: np.ndarray) -> list[tuple[str, int]]:
    """Place a workload's replicas on these classes (in order); (class id, replicas) of what
    did not fit. A gang runs in one cluster: the clusters in the order of their cheapest
    class, the first that takes every replica; none does, the gang is left out whole (a gang
    cut short is dropped anyway, and its nodes would be taken from the others for nothing)."""
    limit = fleet.node_limits(demand, rows)
    if not demand.gang:
        return _place_dealt(fleet, demand, rows, limit)
    clusters = fleet.fixed.clusters[rows]
    outer = fleet.journal  # an option being tried: what the gang keeps is undone with it
    for cluster in dict.fromkeys(clusters.tolist()):
        fleet.journal = []
        shorts = _place_dealt(fleet, demand, rows[clusters == cluster], limit)
        if not shorts:
            if outer is not None:
                outer.extend(fleet.journal)
            fleet.journal = outer
            return []
        fleet.rollback()
    fleet.journal = outer
    origin = fleet.classes[int(rows[0])].id if len(rows) else \
        demand.eligible[0] if demand.eligible else ""
    return [(origin, demand.replicas)] if demand.replicas else []


def _place_dealt(fleet: _Fleet, demand: Demand, rows: np.ndarray, limit: np.ndarray,
                 reach: Sequence[np.ndarray] = ()) -> list[tuple[str, int]]:
    """Each domain's share first (`_deal`), then what a spread leaves free to go anywhere:
    into the domains in their order (those in each of `reach`'s first), each up to its extra,
    what one has no room for trying the next. Over fewer domains of offers where that leaves
    replicas out (bought_domains.py)."""
    return dealt_over_fewer_domains(fleet, demand, rows,
                                    lambda only: _dealt(fleet, demand, rows, limit, reach, only))


def _dealt(fleet: _Fleet, demand: Demand, rows: np.ndarray, limit: np.ndarray,
           reach: Sequence[np.ndarray], only: set[int] | None) -> list[tuple[str, int]]:
    shorts = []
    deal = _deal(fleet, demand, rows, only)
    if reach:
        deal = deal._replace(domains=reach_first(deal.domains, reach))
    for part, amount in deal.shares:
        amount = fleet.place(demand, part, amount, limit)
        if amount:
            shorts.append((_origin(fleet, demand, part), amount))
    left = deal.extra
    for part in deal.domains:
        if not left:
            break
        wanted = min(deal.most, left)
        left -= wanted - fleet.place(demand, part, wanted, limit)
    if left:
        shorts.append((_origin(fleet, demand, deal.domains[0] if deal.domains else rows), left))
    return shorts


def _over_reach(fleet: _Fleet, demand: Demand, taken: dict[tuple[str, str], set[int]]) -> bool:
    """Placed over every domain of its spread, those its latency rules reach first
    (spread_reach.py); whether that placed every replica and met every rule (else given back)."""
    free = dataclasses.replace(demand, latency=[])
    rows = fleet.candidates(free, taken)
    if not len(rows):
        return False
    reach = [fleet.reach(rule) for rule in demand.latency]
    outer, fleet.journal = fleet.journal, []
    left = _place_dealt(fleet, free, rows, fleet.node_limits(free, rows), reach)
    hosted = [(int(fleet.owner[node]), fleet.hosted[node][demand.name])
              for node in fleet.hosts.get(demand.name, [])]
    if not left and within_reach(hosted, reach, [rule.replicas for rule in demand.latency]):
        if outer is not None:
            outer.extend(fleet.journal or [])
        fleet.journal = outer
        return True
    fleet.rollback()
    fleet.journal = outer
    return False


def _origin(fleet: _Fleet, demand: Demand, rows: np.ndarray) -> str:
    """The class a replica that did not fit is counted against."""
    return fleet.classes[int(rows[0])].id if len(rows) else demand.eligible[0] if demand.eligible else ""


class _Classes:
    """What does not change while placing: every class's capacity and price as arrays, its
    domain per topology, latency reach per rule, every workload's eligible classes as rows."""

    def __init__(self, problem: Problem, fractional: bool = False) -> None:
        self.problem = problem
        self.classes = problem.classes
        self.row = {c.id: i for i, c in enumerate(self.classes)}
        self.shapes = _ClassShapes(problem, fractional)
        self.available = np.array([min(c.count, len(c.node_names)) for c in self.classes], dtype=np.int64)
        # a declared class's domain exists whatever is placed; an offer's, where a node is bought
        self.declared = np.array([not c.provisioned and c.count > 0 for c in self.classes], dtype=bool)
        ids = sorted(range(len(self.classes)), key=lambda i: self.classes[i].id)
        self.id_rank = np.empty(len(self.classes), dtype=np.int64)
        self.id_rank[ids] = np.arange(len(self.classes))
        self.codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self.reach: dict[tuple[str, Fraction], np.ndarray] = {}
        self.eligible: dict[str | tuple[str, ...], np.ndarray] = {}  # by workload, by set
        # eligible classes by price per replica, and the cheapest price
        self.ordered: dict[tuple, tuple[np.ndarray, float]] = {}
        # a gang's domains (its cluster, and a multi-host TPU slice or none): where it runs whole
        names = {domain: i for i, domain in enumerate(sorted({c.gang_domain for c in self.classes}))}
        self.clusters = np.array([names[c.gang_domain] for c in self.classes], dtype=np.int64)


class _Fleet:
    """Classes as arrays (capacity, price, nodes left, domains per topology) and the nodes
    opened so far as arrays (free room, class), with what each hosts."""

    def __init__(self, problem: Problem, fixed: _Classes,
                 first: Mapping[str, frozenset[str]] | None = None) -> None:
        self.problem = problem
        self.fixed = fixed
        # while a gang tries a cluster: what was done, to be undone if it does not fit whole
        self.journal: list[tuple] | None = None
        self.classes = problem.classes
        self.row = fixed.row
        self.shapes = fixed.shapes
        self.capacity = self.shapes.capacity
        self.available = fixed.available
        self.id_rank = fixed.id_rank
        self.opened = np.zeros(len(self.classes), dtype=np.int64)
        self.members: list[list[int]] = [[] for _ in self.classes]  # per class, its open nodes
        self.limits = _Limits(problem)
        # open nodes, in the order they opened
        self.free = np.zeros((256, len(RESOURCES)), dtype=np.int64)
        self.pods = np.zeros(256, dtype=np.int64)  # per open node, the pods its kubelet admits yet
        self.owner = np.zeros(256, dtype=np.int64)
        self.alone = np.zeros(256, dtype=bool)  # hosts an exclusive workload
        self.size = 0
        self.names: list[str] = []
        self.hosted: list[dict[str, int]] = []
        self.hosts: dict[str, list[int]] = {}  # workload -> the nodes it is on
        self.apart, self.exclusive = _apart_on_nodes(problem)
        self.kept_apart_by = _kept_apart_by(problem)
        self._codes, self._reach, self._eligible = fixed.codes, fixed.reach, fixed.eligible
        self._ordered = fixed.ordered
        self.first = first or {}  # workload -> the classes it tries first (a `Guide`)
        self.dear_room_first = False  # (a `Guide`'s)
        self.set_quotas(())
        self.gpu_nodes_last = False  # (a `Guide`'s)
        self.domain_counts: Mapping[tuple[str, str], Mapping[str, float]] = {}  # (a `Guide`'s)
        self.first_fit = False  # (a `Guide`'s)
        self.fewer_first = False  # (a `Guide`'s `spreads_last`)
        self.held: list[HeldSpread] = []  # spreads dealt over fewer domains (bought_domains.py)
        self._guided: dict[str, np.ndarray] = {}
        self._suggested: dict[frozenset[str], np.ndarray] = {}  # a `Guide`'s classes as a mask
        self._eligible_sets: dict[int, set[int]] = {}  # by `id` of an eligible set's rows (`eligible`)
        # what a node costs is its price (for the `nodes` objective every node costs one)
        self.costed = (list(problem.objective) or ["cost"])[0] == "cost"

    # ---- classes -------------------------------------------------------------------------

    def codes(self, topology: str) -> tuple[np.ndarray, list[str]]:
        """Per class, its domain of the topology as an index into the sorted domain names
        (-1: the class has no such label, so it is in no domain)."""
        if topology not in self._codes:
            values = [c.topology_value(topology) for c in self.classes]
            names = sorted({v for v in values if v is not None})
            position = {v: i for i, v in enumerate(names)}
            self._codes[topology] = (np.array([position.get(v, -1) if v is not None else -1
                                               for v in values], dtype=np.int64), names)
        return self._codes[topology]

    def reach(self, rule) -> np.ndarray:
        key = (rule.location, rule.limit_ms)
        if key not in self._reach:
            self._reach[key] = np.array([self.problem.within_reach(rule, c) for c in self.classes],
                                        dtype=bool)
        return self._reach[key]

    def eligible(self, demand: Demand) -> np.ndarray:
        rows = self._eligible.get(demand.name)
        if rows is None:
            # workloads share eligible sets (breaker shape, 50,000 nodes: 1,486 sets for 5,000
            # workloads, 23 million class ids): each set is looked up once
            key = tuple(demand.eligible)
            rows = self._eligible.get(key)
            if rows is None:
                rows = self._eligible[key] = np.fromiter(
                    map(self.row.__getitem__, key), dtype=np.int64, count=len(key))
            self._eligible[demand.name] = rows
        return rows

    def classes_hosting(self, name: str) -> np.ndarray:
        return np.unique(self.owner[self.hosts.get(name, [])]) if name in self.hosts \
            else np.zeros(0, dtype=np.int64)

    def candidates(self, demand: Demand, taken: dict[tuple[str, str], set[int]]) -> np.ndarray:
        """The classes the workload may use now, cheapest per replica first (then by id)."""
        rows = self._by_price(demand)
        for rule in demand.latency:
            rows = rows[self.reach(rule)[rows]]
        rows = self._keep_apart(demand, rows, taken)  # each filter keeps the order
        rows = self._follow(demand, rows)
        if self.held:  # spreads over fewer domains than they may use keep theirs (bought_domains.py)
            rows = kept_off(self, demand, rows, self.held)
        if not len(rows):
            return rows
        way = self._in_their_way(demand, rows, taken)
        return rows[np.argsort(way, kind="stable")] if way.any() else rows

    def _by_price(self, demand: Demand) -> np.ndarray:
        """The eligible classes, cheapest per replica first (then by id); worked out once per
        eligible set and replica shape (breaker shape, 50,000 nodes: 5,000 workloads over
        7,000 classes took 6 of the greedy pass's 11 s)."""
        if self.first_fit:  # (in the policy's order)
            return self.eligible(demand)
        rows = self._priced(demand)[0]
        first = self.first.get(demand.name)
        if not first:
            return rows
        guided = self._guided.get(demand.name)
        if guided is None:
            # a mask over every class from the few suggested, not a look-up per eligible class:
            # on 1,500 one-node pools that was 1.4 ms a workload, a guided pass ~20 CPU s
            # (many_workloads 10,000 / 1,500, session 56)
            suggested = self._suggested.get(first)  # (workloads share suggestions: one mask each)
            if suggested is None:
                suggested = self._suggested[first] = np.zeros(len(self.classes), dtype=bool)
                suggested[[self.row[c] for c in first if c in self.row]] = True
            guided = self._guided[demand.name] = rows[np.argsort(~suggested[rows], kind="stable")]
        return guided

    def cheapest(self, demand: Demand) -> float:
        """The price per replica of the cheapest class the workload may use (0: none)."""
        return self._priced(demand)[1]

    def _priced(self, demand: Demand) -> tuple[np.ndarray, float]:
        rows = self.eligible(demand)
        key = (id(rows), tuple(demand.requests[r] for r in RESOURCES), demand.replicas,
               demand.one_per_node)
        priced = self._ordered.get(key)
        if priced is None:
            prices = self.shapes.prices_of_rows(demand, rows)
            order = np.lexsort((self.id_rank[rows], prices))
            priced = self._ordered[key] = (rows[order], float(prices[order[0]]) if len(rows) else 0.0)
        return priced

    def _in_their_way(self, demand: Demand, rows: np.ndarray,
                      taken: dict[tuple[str, str], set[int]]) -> np.ndarray:
        """Per row: is its class in a domain that a workload kept apart from this one (either
        way), not placed yet, may use? Those go last: taking them may leave the other no
        domain at all (measured on the inventory shape at 10,000 nodes: a service of 24
        replicas on every us-east zone left the 2 of one kept apart from it out)."""
        way = np.zeros(len(rows), dtype=bool)
        for other, topology in self._apart_from(demand):
            if (other, topology) not in taken:
                codes = self.codes(topology)[0]
                theirs = codes[self.eligible(self.problem.demand(other))]
                way |= np.isin(codes[rows], theirs[theirs >= 0])
        return way

    def _apart_from(self, demand: Demand) -> list[tuple[str, str]]:
        """(workload, topology) kept apart from this one by zone or region, either way."""
        mine = [(r.target, r.topology) for r in demand.affinities
                if r.anti and r.target != "self" and r.topology != "node"]
        return mine + self.kept_apart_by.get(demand.name, [])

    def _keep_apart(self, demand: Demand, rows: np.ndarray,
                    taken: dict[tuple[str, str], set[int]]) -> np.ndarray:
        """Leave out domains that a workload this one must keep apart from (either way) uses."""
        banned: dict[str, set[int]] = {}
        for rule in demand.affinities:
            if rule.anti and rule.target != "self" and rule.topology != "node":
                banned.setdefault(rule.topology, set()).update(taken.get((rule.target, rule.topology), ()))
        for other, topology in self.kept_apart_by.get(demand.name, ()):
            banned.setdefault(topology, set()).update(taken.get((other, topology), ()))
        for topology, values in banned.items():
            codes = self.codes(topology)[0][rows]
            # a node without the topology's label is in no domain: `verify` cannot tell it apart
            rows = rows[(codes >= 0) & ~np.isin(codes, list(values))]
        return rows

    def _follow(self, demand: Demand, rows: np.ndarray) -> np.ndarray:
        """`affinity` towards another workload: only classes where its target runs (on a
        node: only the nodes it is on take a replica), or in the same domain."""
        for rule in demand.affinities:
            if rule.anti or rule.target == "self":
                continue
            hosting = self.classes_hosting(rule.target)
            if rule.topology == "node":
                rows = rows[np.isin(rows, hosting)]
            else:
                codes = self.codes(rule.topology)[0]
                domains = codes[hosting]
                rows = rows[np.isin(codes[rows], domains[domains >= 0])]
        return rows

    # ---- placing -------------------------------------------------------------------------

    def node_limits(self, demand: Demand, rows: np.ndarray) -> np.ndarray:
        """Per class (by row; 0 outside `rows`): the most replicas one of its nodes takes."""
        limit = np.zeros(len(self.classes), dtype=np.int64)
        limit[rows] = self.shapes.node_limits(demand, rows)
        return limit

    def place(self, demand: Demand, rows: np.ndarray, amount: int, limit: np.ndarray) -> int:
        """Up to `amount` replicas on these classes, in order: free room first, then new
        nodes. Returns how many did not fit."""
        if not amount or not len(rows):
            return amount
        if demand.name in self.quotas_of:
            amount = self._by_quota(demand, rows, amount, limit)
            if not amount:
                return amount
        if self.first_fit:
            return self._first_fit(demand, rows, amount, limit)
        free = self.shapes.price[rows] == 0
        if self.costed and free.any() and not free.all():
            # nodes that cost nothing first, new ones too, before the room left on nodes that
            # cost something: that room is what later workloads that may not use the free
            # nodes need (measured on the inventory shape at 10,000 nodes: services with no
            # rule took the room that zone-spread replicas then opened new paid nodes for)
            amount = self._place_in_order(demand, rows[free], amount, limit)
            rows = rows[~free]
        return self._place_in_order(demand, rows, amount, limit)

    def _first_fit(self, demand: Demand, rows: np.ndarray, amount: int, limit: np.ndarray) -> int:
        """Class by class in order, each class's open nodes then its new ones: the first node
        with room, open or not (first_fit.py)."""
        rows = self._with_room(demand, rows, limit)
        for at in range(len(rows)):
            if not amount:
                break
            amount = self._place_in_order(demand, rows[at:at + 1], amount, limit)
        return amount

    def _with_room(self, demand: Demand, rows: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Of these classes (in order), those with an open node or a node left to open that
        room alone would let take a replica: the others, skipped at once (17,466 classes
        tried one by one took 0.75 of a 10,000-node first-fit pass's 1.2 s)."""
        need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
        usable = (limit[rows] > 0) & (self.opened[rows] < self.available[rows])
        for column, asked in zip(self.shapes.columns, need.tolist()):
            usable &= column[rows] >= asked
        nodes, _ = self._open_nodes(rows)
        if len(nodes):
            roomy = np.zeros(len(self.classes), dtype=bool)
            most = np.minimum(limit[self.owner[nodes]], self.pods[nodes])
            roomy[self.owner[nodes[self._fits(self.free[nodes], need, most) > 0]]] = True
            usable |= roomy[rows]
        return rows[usable]

    def set_quotas(self, quotas: Sequence[tuple[frozenset[str], frozenset[str], int]],
                   nodes: Mapping[str, int] | None = None) -> None:
        """A `Guide`'s quotas: per quota, the replicas it has left; per workload, its quotas'
        classes (as rows) and positions; per class, the most nodes open while quotas place
        (`Guide.quota_nodes`; None: no limit)."""
        self.quota_left = [count for _, _, count in quotas]
        self.quota_available = None
        if nodes:
            self.quota_available = self.available.copy()
            for class_id, most in nodes.items():
                if class_id in self.row:
                    row = self.row[class_id]
                    self.quota_available[row] = min(most, int(self.available[row]))
        self.quotas_of: dict[str, list[tuple[np.ndarray, int]]] = {}
        for i, (names, class_ids, _) in enumerate(quotas):
            rows = np.array(sorted(self.row[c] for c in class_ids if c in self.row), dtype=np.int64)
            for name in names:
                self.quotas_of.setdefault(name, []).append((rows, i))

    def _by_quota(self, demand: Demand, rows: np.ndarray, amount: int, limit: np.ndarray) -> int:
        """Up to what each of the workload's quotas has left, on its classes among `rows`
        (in their order); returns how many of `amount` are left to place."""
        available = self.available
        if self.quota_available is not None:  # (new nodes up to the LP's: `Guide.quota_nodes`)
            self.available = np.minimum(available, np.maximum(self.quota_available, self.opened))
        try:
            return self._by_quotas(demand, rows, amount, limit)
        finally:
            self.available = available

    def _by_quotas(self, demand: Demand, rows: np.ndarray, amount: int, limit: np.ndarray) -> int:
        marked = np.zeros(len(self.classes), dtype=bool)  # (`np.isin` per quota: a third of a pass)
        for quota_rows, i in self.quotas_of[demand.name]:
            wanted = min(self.quota_left[i], amount)
            if wanted <= 0:
                continue
            marked[quota_rows] = True
            chosen = rows[marked[rows]]
            marked[quota_rows] = False
            if not len(chosen):
                continue
            placed = wanted - self._place_in_order(demand, chosen, wanted, limit)
            self.quota_left[i] -= placed
            if self.journal is not None:
                self.journal.append(("quota", i, placed))
            amount -= placed
            if not amount:
                break
        return amount

    def _place_in_order(self, demand: Demand, rows: np.ndarray, amount: int, limit: np.ndarray) -> int:
        if not amount or not len(rows):
            return amount
        need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
        amount = self._into_free_room(demand, rows, amount, need, limit)
        together = any(not r.anti and r.target != "self" and r.topology == "node"
                       for r in demand.affinities)
        if not amount or together:  # a new node does not host the workload it must join
            return amount
        # classes with a node left that would take a replica (the buy limits, budget and
        # power caps are asked class by class, in order, as nodes open)
        usable = (limit[rows] > 0) & (self.opened[rows] < self.available[rows])
        for column, asked in zip(self.shapes.columns, need.tolist()):
            usable &= column[rows] >= asked  # resource by resource, as `_fits`
        rows = rows[usable]
        if self.gpu_nodes_last and not need[_GPU]:
            rows = rows[np.argsort(self.shapes.columns[_GPU][rows] > 0, kind="stable")]
        for row in rows.tolist():
            if not amount:
                break
            amount = self._onto_new_nodes(demand, row, amount, need, int(limit[row]))
        return amount

    def _into_free_room(self, demand: Demand, rows: np.ndarray, amount: int, need: np.ndarray,
                        limit: np.ndarray) -> int:
        nodes, ordered = self._open_nodes(rows)
        if not len(nodes):
            return amount
        owner = self.owner[nodes]
        most = np.minimum(limit[owner], self.pods[nodes])
        mine = self.hosts.get(demand.name)
        if mine:  # what it already has there counts towards the per-node limit
            here = np.zeros(self.size, dtype=np.int64)
            for node in mine:
                here[node] = self.hosted[node][demand.name]
            most = most - here[nodes]
        fit = self._fits(self.free[nodes], need, most)
        fit = np.where(self._allowed(demand, nodes), fit, 0)
        keep = fit > 0
        nodes, fit = nodes[keep], fit[keep]
        if not len(nodes):
            return amount
        if self.dear_room_first:  # the dearest class first, then the nodes in the order they opened
            order = np.lexsort((nodes, -self.shapes.price[self.owner[nodes]]))
            nodes, fit = nodes[order], fit[order]
        elif not ordered:  # cheapest class first, then the nodes in the order they opened
            rank = np.full(len(self.classes), -1, dtype=np.int64)
            rank[rows] = np.arange(len(rows))
            order = np.argsort(rank[owner[keep]], kind="stable")
            nodes, fit = nodes[order], fit[order]
        before = np.cumsum(fit) - fit  # what the nodes before each take
        take = np.minimum(fit, np.maximum(amount - before, 0))
        for node, k in zip(nodes[take > 0].tolist(), take[take > 0].tolist()):
            self._put(demand, node, k, need)
        return amount - int(take.sum())

    def _open_nodes(self, rows: np.ndarray) -> tuple[np.ndarray, bool]:
        """The open nodes of these classes, and whether they are in the order to fill them
        (the classes' order, then the order they opened). A few classes' nodes are gathered
        class by class (in order); many, picked out of every open node at once."""
        open_rows = rows[self.opened[rows] > 0]
        total = int(self.opened[open_rows].sum())
        if 32 * total < self.size:
            members = self.members
            nodes = np.fromiter(itertools.chain.from_iterable(members[r] for r in open_rows.tolist()),
                                dtype=np.int64, count=total)
            return nodes, True
        chosen = np.zeros(len(self.classes), dtype=bool)
        chosen[open_rows] = True
        return np.flatnonzero(chosen[self.owner[:self.size]]), False

    @staticmethod
    def _fits(free: np.ndarray, need: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Replicas that fit in each row of free room, within the per-node limit. Resource
        by resource, as `_ClassShapes.replicas_per_node`."""
        fit = limit
        for k, amount in enumerate(need.tolist()):
            if amount > 0:
                fit = np.minimum(fit, free[:, k] // amount)
        return fit.copy() if fit is limit else fit

    def _allowed(self, demand: Demand, nodes: np.ndarray) -> np.ndarray:
        """Node-level rules between workloads: exclusive nodes take nothing else (and an
        exclusive workload only nodes of its own), anti-affinity on nodes, affinity on nodes."""
        allowed = np.ones(len(nodes), dtype=bool)
        if demand.exclusive:
            own = [n for n in self.hosts.get(demand.name, []) if len(self.hosted[n]) == 1]
            return np.isin(nodes, own)
        allowed &= ~self.alone[nodes]
        for other in self.apart.get(demand.name, ()):
            if other in self.hosts:
                allowed &= ~np.isin(nodes, self.hosts[other])
        for rule in demand.affinities:
            if not rule.anti and rule.target != "self" and rule.topology == "node":
                allowed &= np.isin(nodes, self.hosts.get(rule.target, []))
        return allowed

    def _onto_new_nodes(self, demand: Demand, row: int, amount: int, need: np.ndarray,
                        limit: int) -> int:
        """Open nodes of the class, in the order of its names, each filled with what fits,
        while the limits allow; stops at a node where nothing fits (nor would on the next)."""
        node_class = self.classes[row]
        while amount:
            openable = self.limits.openable(node_class, int(self.opened[row]),
                                            int(self.available[row]))
            if openable <= 0:
                return amount
            wanted = min(openable, -(-amount // limit))  # at least this many nodes
            first = int(self.opened[row])
            names = node_class.node_names[first:first + wanted]
            if node_class.node_capacity:
                room = np.array([[node_class.capacity_of(n)[r] for r in RESOURCES] for n in names],
                                dtype=np.int64).reshape(len(names), len(RESOURCES))
            else:
                room = np.broadcast_to(self.capacity[row], (len(names), len(RESOURCES)))
            fit = self._fits(room, need, np.full(len(names), limit, dtype=np.int64))
            stop = np.flatnonzero(fit <= 0)
            usable = int(stop[0]) if len(stop) else len(names)
            before = np.cumsum(fit[:usable]) - fit[:usable]
            take = np.minimum(fit[:usable], np.maximum(amount - before, 0))
            used = int(np.count_nonzero(take))
            for i in range(used):
                self._open(row, names[i], room[i])
                self._put(demand, self.size - 1, int(take[i]), need)
            self.limits.count(node_class, used)
            if self.journal is not None:
                self.journal.append(("count", node_class, used))
            amount -= int(take.sum())
            if usable < len(names) or not used:
                return amount  # a node where nothing fits: more nodes would not help
        return amount

    def _open(self, row: int, name: str, room: np.ndarray) -> None:
        if self.size == len(self.free):
            grow = len(self.free)
            self.free = np.concatenate([self.free, np.zeros_like(self.free)])
            self.pods = np.concatenate([self.pods, np.zeros_like(self.pods)])
            self.owner = np.concatenate([self.owner, np.zeros(grow, dtype=np.int64)])
            self.alone = np.concatenate([self.alone, np.zeros(grow, dtype=bool)])
        self.free[self.size] = room
        most = self.classes[row].node_pods.get(name)  # (fewer where pods of no workload run)
        self.pods[self.size] = self.shapes.pods[row] if most is None else most
        self.owner[self.size] = row
        self.alone[self.size] = False
        self.members[row].append(self.size)
        self.size += 1
        self.opened[row] += 1
        self.names.append(name)
        self.hosted.append({})
        if self.journal is not None:
            self.journal.append(("open", row))

    def _put(self, demand: Demand, node: int, amount: int, need: np.ndarray) -> None:
        self.free[node] -= need * amount
        self.pods[node] -= amount
        hosted = self.hosted[node]
        if demand.name not in hosted:
            self.hosts.setdefault(demand.name, []).append(node)
            hosted[demand.name] = 0
        hosted[demand.name] += amount
        if demand.exclusive:
            self.alone[node] = True
        if self.journal is not None:
            self.journal.append(("put", node, demand.name, amount, need))

    def prefill(self, nodes: Sequence[tuple[Sequence[str], Mapping[tuple[str, ...], int]]],
                deadline: float | None = None) -> dict[str, int]:
        """Open and fill the `Guide`'s nodes, in order, each from the first of its classes
        with a node left within the limits, with what fits of the workloads no rule counts
        across nodes (`_fillable`); a node where none fits is not opened. Returns the
        replicas placed per workload. None opened past the `deadline` (the pass that follows
        is cut there too)."""
        fillable = _fillable(self.problem)
        left = {d.name: d.replicas for d in self.problem.demands if d.name in fillable}
        placed: dict[str, int] = {}
        for class_ids, hosted in nodes:
            if deadline is not None and time.monotonic() >= deadline:
                break
            row = next((self.row[c] for c in class_ids
                        if c in self.row and self._openable(self.row[c])), None)
            if row is None:
                continue
            node_class = self.classes[row]
            name = node_class.node_names[int(self.opened[row])]
            room = np.array([node_class.capacity_of(name)[r] for r in RESOURCES], dtype=np.int64)
            plan = self._fill_plan(row, room, hosted, fillable, left)
            if not plan:
                continue
            self._open(row, name, room)
            self.limits.count(node_class, 1)
            for demand, amount, need in plan:
                self._put(demand, self.size - 1, amount, need)
                placed[demand.name] = placed.get(demand.name, 0) + amount
        return placed

    def _openable(self, row: int) -> bool:
        """Whether the limits let one more node of the class at `row` open."""
        return self.limits.openable(self.classes[row], int(self.opened[row]), int(self.available[row])) > 0

    def _fill_plan(self, row: int, room: np.ndarray, hosted: Mapping[tuple[str, ...], int],
                   fillable: dict[str, Demand], left: dict[str, int]) -> list[tuple[Demand, int, np.ndarray]]:
        """What one new node of the class takes of `hosted`: each group's replicas to its
        workloads with replicas left, as many as fit the room left, within the per-node limit
        and the node-level rules between them."""
        plan: list[tuple[Demand, int, np.ndarray]] = []
        free = room.copy()
        pods = int(self.shapes.pods[row])
        for members, amount in hosted.items():
            for name in members:
                demand = fillable.get(name)
                if not amount or demand is None or not left.get(name) \
                        or row not in self._eligible_set(demand):
                    continue
                names = {d.name for d, _, _ in plan}
                if (demand.exclusive and plan) or any(d.exclusive for d, _, _ in plan) \
                        or names & set(self.apart.get(name, ())):
                    continue
                need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
                most = min(int(self.shapes.node_limits(demand, np.array([row]))[0]), pods)
                fit = int(self._fits(free[None, :], need, np.array([most]))[0])
                take = min(amount, left[name], fit)
                if take > 0:
                    plan.append((demand, take, need))
                    free -= need * take
                    pods -= take
                    left[name] -= take
                    amount -= take
        return plan

    def _eligible_set(self, demand: Demand) -> set[int]:
        """The rows of the classes the workload may use, as a set: one per eligible set, which
        workloads share (one per workload: 1,500 classes for each of 8,342 workloads, 1.4 of a
        guided pass's 2.5 CPU s before its first workload; many_workloads 10,000 / 1,500)."""
        rows = self.eligible(demand)
        found = self._eligible_sets.get(id(rows))
        if found is None:  # (`eligible` keeps `rows` alive: its id stays this set's)
            found = self._eligible_sets[id(rows)] = set(rows.tolist())
        return found

    def rollback(self) -> None:
        """Undo what the journal holds, last first, and stop keeping it."""
        for entry in reversed(self.journal or []):
            if entry[0] == "put":
                _, node, name, amount, need = entry
                self.free[node] += need * amount
                self.pods[node] += amount
                hosted = self.hosted[node]
                hosted[name] -= amount
                if not hosted[name]:
                    del hosted[name]
                    self.hosts[name].remove(node)
                    if not self.hosts[name]:
                        del self.hosts[name]
                    self.alone[node] = bool(hosted.keys() & self.exclusive)
            elif entry[0] == "quota":
                self.quota_left[entry[1]] += entry[2]
            elif entry[0] == "open":
                self.size -= 1
                self.opened[entry[1]] -= 1
                self.members[entry[1]].pop()
                self.names.pop()
                self.hosted.pop()
            else:
                self.limits.count(entry[1], -entry[2])
        self.journal = None

    def packing(self) -> Packing:
        packing = Packing()
        for node in range(self.size):
            free = dict(zip(RESOURCES, self.free[node].tolist()))
            state = NodeState(self.names[node], free, self.hosted[node])
            packing.nodes.setdefault(self.classes[int(self.owner[node])].id, []).append(state)
        return packing


def _shape_of(demand: Demand) -> tuple[int, ...]:
    """A replica's requests, in the order of `RESOURCES`."""
    requests = demand.requests
    return tuple(requests[r] for r in RESOURCES)


class _Limits:
    """Buy limits, budget and power caps, kept as running sums of the nodes opened."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.cost = Fraction(0)
        self.bought: dict[int, int] = {}
        self.watts = [Fraction(0)] * len(problem.power_caps)
        self.scopes = [set(cap.classes) for cap in problem.power_caps]

    def openable(self, node_class: NodeClass, opened: int, available: int) -> int:
        """How many more nodes of the class may open: what asking one node at a time whether
        one more keeps every limit would allow."""
        most = available - opened
        problem = self.problem
        if problem.budget is not None and node_class.price > 0:
            most = min(most, math.floor((problem.budget - self.cost) / node_class.price))
        group = node_class.buy_group
        if group is not None and group in problem.buy_limits:
            most = min(most, problem.buy_limits[group] - self.bought.get(group, 0))
        for index, scope in enumerate(self.scopes):
            if node_class.id in scope and node_class.power_watts > 0:
                headroom = problem.power_caps[index].cap_watts - self.watts[index]
                most = min(most, math.floor(headroom / node_class.power_watts))
        return max(most, 0)

    def count(self, node_class: NodeClass, opened: int) -> None:
        """Count nodes opened (or, negative, given back)."""
        if not opened:
            return
        self.cost += node_class.price * opened
        if node_class.buy_group is not None:
            self.bought[node_class.buy_group] = self.bought.get(node_class.buy_group, 0) + opened
        for index, scope in enumerate(self.scopes):
            if node_class.id in scope:
                self.watts[index] += node_class.power_watts * opened


class _ClassShapes:
    """Every class's capacity and price as arrays, so that a workload's price per replica is
    worked out over all its classes at once (per class in Python it took 7 s of the greedy
    pass's 19 at 10,000 inventory nodes: 374,000 calls). The same numbers as
    `_price_per_replica`, which the test suite holds it to (`fractional`: a `Guide`'s)."""

    def __init__(self, problem: Problem, fractional: bool = False) -> None:
        self.problem = problem
        self.fractional = fractional
        self.row = {c.id: i for i, c in enumerate(problem.classes)}
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in problem.classes],
                                 dtype=np.int64).reshape(len(problem.classes), len(RESOURCES))
        self.columns = [np.ascontiguousarray(self.capacity[:, k]) for k in range(len(RESOURCES))]
        self.price = np.array([float(c.price) for c in problem.classes])
        self.count = np.array([c.count for c in problem.classes], dtype=np.int64)
        # the pods a node's kubelet admits (`NodeClass.max_pods`; none stated: no limit)
        self.pods = np.array([UNLIMITED_PODS if c.max_pods is None else c.max_pods for c in problem.classes],
                             dtype=np.int64)

    def prices(self, demand: Demand, candidates: list[NodeClass]) -> list[float]:
        if not candidates:
            return []
        rows = np.array([self.row[c.id] for c in candidates])
        return self.prices_of_rows(demand, rows).tolist()

    def replicas_per_node(self, demand: Demand, rows: np.ndarray | None = None) -> np.ndarray:
        """`replicas_per_node` of every class (or these rows) at once. Resource by resource
        (`RESOURCES` are few): numpy reduces along a row of four slowly (a minimum over the
        rows of a (classes x 4) array took 10 times what one per column does)."""
        columns = self.columns if rows is None else [column[rows] for column in self.columns]
        fit = None
        for column, need in zip(columns, _shape_of(demand)):
            if need > 0:
                fit = column // need if fit is None else np.minimum(fit, column // need)
        if fit is not None:
            fit = np.minimum(fit, demand.replicas)
        else:
            fit = np.full(len(columns[0]), demand.replicas, dtype=np.int64)
        fit = np.minimum(fit, self.pods if rows is None else self.pods[rows])
        if demand.one_per_node:
            fit = np.minimum(fit, 1)
        return np.maximum(fit, 0)

    def node_limits(self, demand: Demand, rows: np.ndarray) -> np.ndarray:
        """The most replicas a node of these classes takes: a node spread keeps every node at
        its skew or fewer (0..K per node keeps any two within K). Stricter than `node_limit`,
        which lets a class of one node take more (the model counts the rule exactly there):
        the greedy pass does not look at the other nodes."""
        limit = self.replicas_per_node(demand, rows)
        for spread in demand.spreads:
            if spread.topology == "node":
                limit = np.minimum(limit, spread.max_skew)
        return limit

    def prices_of_rows(self, demand: Demand, rows: np.ndarray) -> np.ndarray:
        """The price per replica: the class's price times the largest share of a resource
        both have (1 where none is), at least one node's worth over the replicas it takes
        (unless `fractional`, where at least one replica fits). Resource by resource, as
        `replicas_per_node`."""
        share = np.full(len(rows), -np.inf)
        counted_any = np.zeros(len(rows), dtype=bool)
        for column, need in zip(self.columns, _shape_of(demand)):
            if need > 0:
                capacity = column[rows].astype(np.float64)
                counted = capacity > 0  # resources both have
                with np.errstate(divide="ignore", invalid="ignore"):
                    share = np.maximum(share, np.where(counted, need / np.where(counted, capacity, 1.0),
                                                       -np.inf))
                counted_any |= counted
        share = np.where(counted_any, share, 1.0)
        fit = self.replicas_per_node(demand, rows)
        whole = np.maximum(share, 1.0 / np.maximum(1, fit))
        return self.price[rows] * (np.where(fit > 0, share, whole) if self.fractional else whole)


def _fillable(problem: Problem) -> dict[str, Demand]:
    """The workloads a `Guide`'s nodes may hold before the pass: those no rule counts across
    nodes or follows (no spread but on nodes, no affinity but apart on a node, no gang, no
    option group, no latency rule, and no other workload's rule towards it but on a node), so
    that placing part of them first and the rest in the pass keeps every rule. (The pattern
    relaxation counts no latency: its nodes put a service with users on two continents in a
    third, and the pass, finding its replicas placed, kept them there; `_pattern_floor` was
    the answer, `optimal` and rejected by `fitc verify`.)"""
    targets = {r.target for d in problem.demands for r in d.affinities if r.topology != "node"}
    return {d.name: d for d in problem.demands
            if not d.gang and d.group is None and not d.latency and d.name not in targets
            and all(s.topology == "node" for s in d.spreads)
            and all(r.anti and r.topology == "node" for r in d.affinities)}


def _price_per_replica(demand: Demand, node_class: NodeClass, fractional: bool = False) -> float:
    share = max((demand.requests[r] / node_class.capacity[r] for r in RESOURCES
                 if node_class.capacity[r] and demand.requests[r]), default=1.0)
    fit = replicas_per_node(demand, node_class)
    if not (fractional and fit > 0):
        share = max(share, 1 / max(1, fit))
    return float(node_class.price) * share


def _domain_rules(demand: Demand) -> list[tuple[str, int]]:
    """(topology, most replicas per domain) of rules that deal replicas over domains."""
    rules = [(s.topology, s.max_skew) for s in demand.spreads if s.topology != "node"]
    rules += [(r.topology, 1) for r in demand.affinities
              if r.target == "self" and r.anti and r.topology != "node"]
    return rules


class _Deal(NamedTuple):
    """How a workload's replicas go over domains: `shares`, (classes in order, replicas)
    that each domain must take; then `extra` replicas more over the `domains` (each its
    classes in order, the domains cheapest first), at most `most` more on each."""
    shares: list[tuple[np.ndarray, int]]
    extra: int = 0
    domains: Sequence[np.ndarray] = ()
    most: int = 0


def _deal(fleet: _Fleet, demand: Demand, candidates: np.ndarray, only: set[int] | None = None) -> _Deal:
    """Every replica over all candidates; a spread over every domain its eligible nodes are
    in: each domain takes `low` (the fewest that keeps every domain within the skew of the
    fullest: the more left free, the more go where nodes are cheap), then up to the skew
    more each, the cheapest domains first. A domain it may not use here holds none, so the
    others hold at most the skew each; `anti_affinity self` on the topology, at most one.

    Measured on the breaker shape at 50,000 nodes: dealing a rack spread of 20 replicas
    over 400 racks one each to the first racks by name filled those racks for every
    workload and left 2,013 replicas out; the cheapest racks with nodes left place them.
    `only`: the domains dealt over (bought_domains.py), the others left out."""
    rules = _domain_rules(demand)
    if not demand.replicas:
        return _Deal([])
    if not rules:
        return _Deal([(candidates, demand.replicas)])
    nothing = np.zeros(0, dtype=np.int64)
    topology = rules[0][0]
    codes = fleet.codes(topology)[0]
    domains = sorted(set(codes[fleet.eligible(demand)].tolist()) - {-1})  # by name: codes sort so
    if only is not None:
        domains = [domain for domain in domains if domain in only]
        candidates = candidates[np.isin(codes[candidates], domains)]
    mine = codes[candidates]
    placed = mine >= 0
    order = np.argsort(mine[placed], kind="stable")  # by domain, each in the candidates' order
    grouped, rows = mine[placed][order], candidates[placed][order]
    firsts, starts = np.unique(grouped, return_index=True)
    within = dict(zip(firsts.tolist(), np.split(rows, starts[1:]))) if len(rows) else {}
    one_each = any(r.target == "self" and r.anti and r.topology == topology for r in demand.affinities)
    if any(t != topology for t, _ in rules) or not domains:
        return _Deal([(nothing, demand.replicas)])
    skew = 1 if one_each else min(s for _, s in rules)
    # (fewer domains than a `min_domains` asks for: the least is 0, each holds at most the skew)
    fewest = max((s.min_domains for s in demand.spreads if s.topology == topology), default=1)
    low = 0 if one_each or set(domains) - set(within) or len(domains) < fewest else \
        max(0, -(-demand.replicas // len(domains)) - skew)
    shares = [(within[domain], low) for domain in domains if low]
    # (the first-fit pass: by name, as the shares go)
    cheapest = sorted(within) if fleet.first_fit else _cheapest_domains(fleet, within, candidates)
    counts = fleet.domain_counts.get((demand.name, topology))
    if counts:  # the LP's domains for it first (stable: the cheapest order within a count)
        names = fleet.codes(topology)[1]
        cheapest.sort(key=lambda domain: -round(counts.get(names[domain], 0.0), 6))
    return _Deal(shares, demand.replicas - low * len(domains), [within[domain] for domain in cheapest], skew)


def _cheapest_domains(fleet: _Fleet, within: dict[int, np.ndarray], candidates: np.ndarray) -> list[int]:
    """Domains in the order of their cheapest class with a node left to open (by its place
    among the candidates), those with none last; then by name."""
    place = np.full(len(fleet.classes), len(candidates), dtype=np.int64)
    place[candidates[fleet.opened[candidates] < fleet.available[candidates]]] = \
        np.flatnonzero(fleet.opened[candidates] < fleet.available[candidates])
    return sorted(within, key=lambda domain: (int(place[within[domain]].min()), domain))


def _kept_apart_by(problem: Problem) -> dict[str, list[tuple[str, str]]]:
    """Workload -> (workload, topology) of the zone or region anti-affinities towards it,
    worked out once per greedy run (`_Fleet.kept_apart_by`; per workload it was a scan of
    every workload's rules)."""
    towards: dict[str, list[tuple[str, str]]] = {}
    for other in problem.demands:
        for rule in other.affinities:
            if rule.anti and rule.target != "self" and rule.topology != "node":
                towards.setdefault(rule.target, []).append((other.name, rule.topology))
    return towards


def _mixed(fleet: _Fleet, demands: list[Demand], mix: Mapping[str, int],
           taken: dict[tuple[str, str], set[int]], apart_rules: set[str]) -> bool:
    """Place an option group as `mix` says (replicas per option), where every part fits whole
    (else nothing is kept and the caller chooses one option); whether it was placed."""
    parts = [dataclasses.replace(d, replicas=mix[d.name]) for d in demands if mix.get(d.name)]
    if sum(part.replicas for part in parts) != sum(mix.values()):  # an option not feasible here
        return False
    fleet.journal = []
    for part in parts:
        if _place_demand(fleet, part, fleet.candidates(part, taken)):
            fleet.rollback()
            return False
    fleet.journal = None
    for part in parts:
        if part.name in apart_rules:
            _note_domains(fleet, part.name, taken)
    return True


def _option_to_place(fleet: _Fleet, demands: list[Demand],
                     taken: dict[tuple[str, str], set[int]], in_order: bool) -> Demand:
    """`in_order`: the first option that places whole and follows the guide (`_follows_guide`);
    else (or none does) the cheapest (`_OptionTrial.key`). Each option is placed and given
    back (the journal), with the fleet as it is at the group's turn, and only where the choice
    needs it. Measured on the inventory shape at 10,000 nodes: choosing by list price before
    placing sent an L40S option to a 15.9 USD/h cloud pool once the cheap on-prem L40S nodes
    were taken, where its L4 option fitted on on-prem nodes still free."""
    if len(demands) == 1:
        return demands[0]
    trials = _OptionTrials(fleet, demands, taken)
    if in_order:
        for index, demand in enumerate(demands):
            if _follows_guide(fleet, demand, trials, index):
                return demand
    return demands[min(range(len(demands)), key=lambda index: trials[index].key(index))]


class _OptionTrial(NamedTuple):
    """An option placed and given back: the replicas it leaves out, the cost and the nodes it
    adds, the prices of the nodes it opens."""

    left_out: int
    added: Fraction
    nodes: int
    opened: list[Fraction]

    def key(self, index: int) -> tuple:
        """Fewest replicas left out, then the least cost of new nodes, then the fewest
        nodes, then first in the policy."""
        return self.left_out, self.added, self.nodes, index


class _OptionTrials:
    """A group's options, each placed and given back when first asked for."""

    def __init__(self, fleet: _Fleet, demands: list[Demand], taken: dict[tuple[str, str], set[int]]) -> None:
        self.fleet, self.demands, self.taken = fleet, demands, taken
        self.done: dict[int, _OptionTrial] = {}

    def __len__(self) -> int:
        return len(self.demands)

    def __getitem__(self, index: int) -> _OptionTrial:
        if index not in self.done:
            fleet, demand = self.fleet, self.demands[index]
            cost, size = fleet.limits.cost, fleet.size
            fleet.journal = []
            shorts = _place_demand(fleet, demand, fleet.candidates(demand, self.taken))
            opened = [fleet.classes[entry[1]].price for entry in fleet.journal if entry[0] == "open"]
            left_out = sum(amount for _, amount in shorts)
            self.done[index] = _OptionTrial(left_out, fleet.limits.cost - cost, fleet.size - size, opened)
            fleet.rollback()
        return self.done[index]


def _follows_guide(fleet: _Fleet, demand: Demand, trials: _OptionTrials, index: int) -> bool:
    """Whether the option at `index` is taken in the guide's order: it places whole, and where
    the guide suggests classes (`_Fleet.first`), it suggests some for this option and what the
    option's new nodes cost over the dearest of them (its premium over the relaxation's price)
    is no more than the whole cost of the cheapest other option that places whole.
    A premium on any node dearer than the suggested classes ruled out (session 29) took
    inventory 10,000 seed 10's `infer98` off a 15.90 USD/h node (premium 15.68, its L4 option
    7.84), and seed 12's `infer680` off 4-GPU L4 nodes at 5.06 where the LP's were 4.60
    (0.92, its L40S option on on-prem nodes 0.45), but on seed 13 sent `infer589` (L4 nodes at
    1.078 beside the LP's 0.98: 0.39) to the on-prem L40S nodes (0.45) the LP keeps for two
    other groups, which then took 8 L4 nodes each: 848.20 -> 853.76."""
    trial = trials[index]
    if trial.left_out:
        return False
    if not fleet.first:
        return True
    suggested = _dearest_suggested(fleet, demand)
    if suggested < 0:
        return False
    premium = sum((price - suggested for price in trial.opened if price > suggested), Fraction(0))
    if not premium:
        return True
    others = [trials[at].added for at in range(len(trials)) if at != index and not trials[at].left_out]
    return not others or premium <= min(others)


def _dearest_suggested(fleet: _Fleet, demand: Demand) -> Fraction:
    """The price of the dearest class the guide suggests for `demand` (-1: none)."""
    return max((fleet.classes[fleet.row[class_id]].price for class_id in fleet.first.get(demand.name, ())
                if class_id in fleet.row), default=Fraction(-1))


def _feasible_options(problem: Problem, shapes: _ClassShapes) -> dict[str, list[Demand]]:
    """Per option group: the options whose replicas fit on an empty fleet, in the policy's
    order (a group with none is not placed)."""
    feasible = {}
    for group in problem.option_groups:
        fitting = []
        for name in group.demands:
            demand = problem.demand(name)
            if not demand.eligible:
                continue
            rows = np.array([shapes.row[c] for c in demand.eligible], dtype=np.int64)
            room = int((shapes.count[rows] * shapes.replicas_per_node(demand, rows)).sum())
            if room >= demand.replicas:  # else not even on an empty fleet
                fitting.append(demand)
        if fitting:
            feasible[group.workload] = fitting
    return feasible
