"""Room for the last replicas of a workload that goes whole, made by leaving out replicas of a
workload that may go in part.

A gang, a spread workload or an option that packing leaves short of even one replica is left
out whole (`dropped_whole`: all replicas or none). Where not everything fits, every
round of the aggregate model can end short of one such replica, and the answer then leaves a
whole service out (inventory 300 seed 11: each of 8 rounds short of exactly one zone-spread
replica, 12-21 replicas left out) where leaving one batch replica out would do. So: each
replica of such a workload still short goes on an open node of a class equivalent to the
one the model sent it to (every rule's counts kept), after replicas of *loose* workloads
(no gang, spread, option group or exclusive node, and no workload that follows them onto a
node or into a domain) of no higher priority are taken off that node; those go back to
`repair`, which places them elsewhere where it can, and what it cannot stays short, counted
one by one. Where even that leaves no room, a whole workload of no higher priority and
fewer replicas is dropped instead (inventory 300 seed 11: its one-node zone cannot hold the
share of all seven spreads it is in; svc14's 10 replicas are the least to leave out, where
the rounds left out whichever of 12-21 came last). The result is kept only where it leaves
out less, compared priority level by priority level from the highest (`left_out`).
"""

from __future__ import annotations

import time
from collections import Counter

from fitlang import rules
from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, SpreadRule, node_limit
from fitlang.rules import base as rules_base
from fitlang.solve.pack import MayOpen, NodeState, Packing, _together, _unused_names, equivalents, repair


def goes_whole(demand: Demand) -> bool:
    """Left out whole when any replica is: a gang, one option of a group."""
    return demand.gang or demand.group is not None


def loses_more(demand: Demand) -> bool:
    """Leaving a replica of it out may leave out more: a gang or an option (whole), a spread
    (trimmed to its skew, `excess`)."""
    return goes_whole(demand) or bool(demand.spreads)


def dropped_whole(problem: Problem, packing: Packing, hosted: Hosted | None = None) -> set[str]:
    """Workloads a short packing leaves in breach of a rule: gangs cut short, spreads cut short
    whose placed replicas break a skew (`trim_spreads` takes the excess off first where it
    runs), and then whatever must follow a workload that was dropped, or that runs in a domain
    where the short workload it must follow has no replica (random fleet x10 seed 3: `w5`
    placed in zone b where `w3`, the target of its zone affinity, was short of all 870). They
    are left out whole. `hosted`: `hosted_on(packing)`, where the caller has it."""
    short = {w for w, _ in packing.short_by_workload}
    dropped = {d.name for d in problem.demands if d.name in short and d.gang}
    dropped |= {d.name for d in problem.demands if d.name in short and d.spreads and d.name not in dropped
                and excess(problem, packing, d, hosted)}
    # an option packed short leaves its group short of throughput: the group goes whole
    groups = {d.group for d in problem.demands if d.name in short and d.group is not None}
    dropped |= {d.name for d in problem.demands if d.group in groups}
    dropped |= _away_from_short_targets(problem, packing, short)
    dropped |= _short_of_reach(problem, packing, short)
    while True:
        followers = {d.name for d in problem.demands if d.name not in dropped and any(
            not r.anti and r.target in dropped for r in d.affinities)}
        if not followers:
            return dropped
        dropped |= followers


def _short_of_reach(problem: Problem, packing: Packing, short: set[str]) -> set[str]:
    """Short workloads whose placed replicas are fewer within a latency rule's reach than it
    needs (ai_fleet 10,000 seed 3: `infer_31` short of its one replica near the Bay Area, its
    seven others kept in Frankfurt, and `fitc verify` rejected the placement). Option groups
    short go whole above. A scan of every node, so only where such a workload is short."""
    ruled = {d.name: d for d in problem.demands if d.name in short and d.latency and d.group is None}
    if not ruled:
        return set()
    within: Counter[tuple[str, int]] = Counter()
    for class_id, nodes in packing.nodes.items():
        node_class = problem.node_class(class_id)
        for node in nodes:
            for name in ruled.keys() & node.hosted.keys():
                for index, rule in enumerate(ruled[name].latency):
                    if problem.within_reach(rule, node_class):
                        within[name, index] += node.hosted[name]
    return {name for name, demand in ruled.items()
            if any(within[name, index] < rule.replicas for index, rule in enumerate(demand.latency))}


def _away_from_short_targets(problem: Problem, packing: Packing, short: set[str]) -> set[str]:
    """Workloads with an affinity to a short workload that run in a domain of its topology
    where that workload has no replica. Only short targets are read: one placed whole is where
    the packing put its followers beside it (a scan of every node, so not done otherwise)."""
    rules = [(d.name, r) for d in problem.demands for r in d.affinities
             if not r.anti and r.target != "self" and r.target in short]
    if not rules:
        return set()
    names = {name for name, _ in rules} | {r.target for _, r in rules}
    domains: dict[tuple[str, str], set] = {}
    for class_id, nodes in packing.nodes.items():
        node_class = problem.node_class(class_id)
        for node in nodes:
            for name in names.intersection(n for n, amount in node.hosted.items() if amount):
                for topology in {r.topology for _, r in rules}:
                    domains.setdefault((name, topology), set()).add(
                        rules_base.domain_of(node.name, node_class, topology))
    nowhere: set = set()
    return {name for name, rule in rules
            if not domains.get((name, rule.topology), nowhere)
            <= domains.get((rule.target, rule.topology), nowhere)}


def left_out(problem: Problem, packing: Packing) -> tuple[int, ...]:
    """Replicas the placement of `packing` leaves out, per priority level from the highest
    (compare two as tuples: fewer at a higher level first), a spread's excess (`excess`)
    taken off: a workload dropped whole counts every replica; a workload with options, its
    first option's replicas where they deliver less than it needs (as the placement reports)."""
    hosted = hosted_on(packing)
    dropped = dropped_whole(problem, packing, hosted)
    placed = {name: sum(on.values()) for name, on in hosted.items()}
    short = {w for w, _ in packing.short_by_workload}
    for demand in problem.demands:
        if demand.name in dropped:
            placed[demand.name] = 0
        elif demand.name in short and demand.spreads:
            taken = sum(excess(problem, packing, demand, hosted).values())
            placed[demand.name] = placed.get(demand.name, 0) - taken
    levels = sorted({d.priority for d in problem.demands}, reverse=True)
    out = dict.fromkeys(levels, 0)
    for demand in problem.demands:
        if demand.group is None:
            out[demand.priority] += max(0, demand.replicas - placed.get(demand.name, 0))
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        if sum(d.throughput * placed.get(d.name, 0) for d in members) < group.required:
            out[members[0].priority] += members[0].replicas
    return tuple(out[level] for level in levels)


def no_level_worse(problem: Problem, packing: Packing, than: Packing) -> bool:
    """Does `packing` leave out fewer replicas than `than` (`left_out`), and at no priority
    level more? Then no priority was overruled for it."""
    new, old = left_out(problem, packing), left_out(problem, than)
    return new != old and all(n <= o for n, o in zip(new, old))


def trim_spreads(problem: Problem, packing: Packing) -> int:
    """Each spread workload the packing is short of keeps its skew with what it placed: its
    excess (`excess`) taken off and made short, rather than the workload left out whole
    (inventory 300 seed 11: svc6's 21 replicas were left out for one short in a one-node
    zone; 2 are left out instead). How many replicas it took off."""
    taken = 0
    for name in sorted({w for w, _ in packing.short_by_workload}):
        demand = problem.demand(name)
        if not demand.spreads or goes_whole(demand):
            continue
        for (class_id, index), amount in sorted(excess(problem, packing, demand).items()):
            move_replicas(problem, packing.nodes[class_id][index], name, -amount)
            packing.add_short(name, class_id, amount)
            taken += amount
    packing._room.clear()
    return taken


# per workload, the nodes that host it: (class id, node's index) -> replicas
Hosted = dict[str, dict[tuple[str, int], int]]


def hosted_on(packing: Packing) -> Hosted:
    """Per workload, the nodes that host some of it, in one pass over the nodes: `left_out`
    asks `excess` of every short spread, each of which went over every node (accelerator-heavy
    50,000, the floor's first pass: 474 short spreads over ~30,000 nodes, twice (`dropped_whole`
    too), 0.7-1 CPU s a call, and `no_level_worse` asks it of two packings)."""
    hosted: Hosted = {}
    for class_id, nodes in packing.nodes.items():
        for index, node in enumerate(nodes):
            for name, amount in node.hosted.items():
                if amount:
                    hosted.setdefault(name, {})[(class_id, index)] = amount
    return hosted


def excess(problem: Problem, packing: Packing, demand: Demand,
           hosted: Hosted | None = None) -> dict[tuple[str, int], int]:
    """The replicas of `demand` to take off its nodes (class id, node's index -> replicas) for
    every spread of it to keep its skew with what it has placed, as `verify` counts it: one
    at a time off the node with the most of it in the fullest domain. `hosted`:
    `hosted_on(packing)`, where the caller asks of many workloads."""
    on = dict(hosted.get(demand.name, {})) if hosted is not None else \
        {(class_id, index): node.hosted[demand.name] for class_id, nodes in packing.nodes.items()
         for index, node in enumerate(nodes) if node.hosted.get(demand.name)}
    taken: dict[tuple[str, int], int] = {}
    spans = [(spread, _spanned(problem, packing, demand, spread.topology)) for spread in demand.spreads]
    while True:
        fullest = None
        for spread, (domains, count) in spans:
            per_domain = dict.fromkeys(domains, 0)
            for key, amount in on.items():
                if amount:
                    domain = _domain(problem, packing, key, spread.topology)
                    per_domain[domain] = per_domain.get(domain, 0) + amount
            per_domain.pop(None, None)
            least = min(per_domain.values(), default=0) if len(per_domain) == count else 0
            most = max(per_domain.values(), default=0)
            if most - least > spread.max_skew:
                fullest = next(d for d, amount in sorted(per_domain.items(), key=str) if amount == most)
                topology = spread.topology
                break
        if fullest is None:
            return taken
        key = max((k for k, amount in on.items() if amount
                   and _domain(problem, packing, k, topology) == fullest), key=lambda k: (on[k], k))
        on[key] -= 1
        taken[key] = taken.get(key, 0) + 1


def _spanned(problem: Problem, packing: Packing, demand: Demand, topology: str) -> tuple[list, int]:
    """The domains of `topology` the eligible classes with nodes span (`node`: none listed),
    and how many domains there are."""
    with_nodes = [c for c in map(problem.node_class, demand.eligible)
                  if (c.count and not c.provisioned) or packing.opened(c.id)]
    if topology == "node":
        return [], sum(packing.opened(c.id) if c.provisioned else c.count for c in with_nodes)
    domains = [d for d in dict.fromkeys(c.topology_value(topology) for c in with_nodes) if d is not None]
    return domains, len(domains)


def _domain(problem: Problem, packing: Packing, key: tuple[str, int], topology: str):
    class_id, index = key
    if topology == "node":
        return packing.nodes[class_id][index].name
    return problem.node_class(class_id).topology_value(topology)


def made_room(problem: Problem, packing: Packing, may_open: MayOpen, deadline: float | None = None) -> bool:
    """Each workload short of replicas that loses more than them (`loses_more`) placed whole
    where it can be (`all_placed`, then `repair` for the replicas it took off nodes), in place
    where that leaves out less (`left_out`), until the `deadline`; whether any was."""
    names = {w for w, _ in packing.short_by_workload if loses_more(problem.demand(w))}
    short = sorted(map(problem.demand, names), key=lambda demand: (-demand.priority, demand.name))
    room = _Room(problem, may_open, deadline)
    return kept_where_fewer_left_out(problem, packing, may_open, short, room.all_placed, room.past)


def kept_where_fewer_left_out(problem: Problem, packing: Packing, may_open: MayOpen,
                              short: list[Demand], place, past) -> bool:
    """Each demand in turn placed on a copy of the packing (`place(trial, demand)`, which says
    whether it placed any), the replicas it took off repaired, and the copy adopted where it
    leaves out less (`left_out`), until `past()`; whether any was."""
    changed = False
    for demand in short:
        if past():
            break  # (each trial copies the packing: its cost grows with the fleet)
        trial = copied(packing)
        if not place(trial, demand):
            continue
        repair(problem, trial, may_open)
        if left_out(problem, trial) < left_out(problem, packing):
            adopt(packing, trial)
            changed = True
    return changed


def copied(packing: Packing) -> Packing:
    nodes = {class_id: [NodeState(n.name, dict(n.free), dict(n.hosted)) for n in opened]
             for class_id, opened in packing.nodes.items()}
    return Packing(nodes, dict(packing.short), dict(packing.short_by_workload), set(packing.exact))


def adopt(packing: Packing, trial: Packing) -> None:
    packing.nodes, packing.short = trial.nodes, trial.short
    packing.short_by_workload = trial.short_by_workload
    packing._room.clear()


class _Room:
    """Where a short replica of a workload that loses more than it may go, and what it costs."""

    def __init__(self, problem: Problem, may_open: MayOpen, deadline: float | None = None) -> None:
        self.problem, self.may_open = problem, may_open
        # each replica placed reads every node, and one moved aside tries every node again: the
        # trial ends at this (random fleet seed 0 x 10, 4,290 nodes, 1,385 replicas short: minutes
        # past a 2 s limit)
        self.deadline = deadline
        self.levels = sorted({d.priority for d in problem.demands}, reverse=True)
        followed = {r.target for d in problem.demands for r in d.affinities if not r.anti}
        # a replica of these may be left out alone with no rule broken
        self.loose = {d.name for d in problem.demands
                      if not loses_more(d) and not d.exclusive and d.name not in followed}
        # these may be left out whole (an option's group would go with them)
        self.droppable = {d.name for d in problem.demands
                          if d.gang and not d.exclusive and d.name not in followed}
        # a replica of these may move aside to another node its rules allow (`_targets`)
        self.movable = {d.name for d in problem.demands
                        if loses_more(d) and not d.exclusive and d.name not in followed}

    def loss(self, victims: dict[str, int]) -> tuple[int, ...]:
        """Replicas left out by taking `victims` off a node, per priority level from the highest:
        a workload that goes whole loses every replica."""
        lost = dict.fromkeys(self.levels, 0)
        for name, amount in victims.items():
            demand = self.problem.demand(name)
            lost[demand.priority] += demand.replicas if goes_whole(demand) else amount
        return tuple(lost[level] for level in self.levels)

    def past(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def all_placed(self, packing: Packing, demand: Demand) -> bool:
        """Every short replica of `demand` placed, one at a time (`placed_one`), by the deadline."""
        for (name, origin), amount in sorted(packing.short_by_workload.items()):
            if name != demand.name:
                continue
            for _ in range(amount):
                if self.past():
                    return False
                if not self.placed_one(packing, demand, self.problem.node_class(origin)):
                    return False
        return True

    def placed_one(self, packing: Packing, demand: Demand, origin: NodeClass, chain: bool = True) -> bool:
        """One short replica of `demand` (sent to `origin`) where it leaves out least: on an
        open node of a class it may move to (`_targets`) or a new one; where that takes any
        replica off, first (with `chain`) where another workload's replica moves aside
        (`moved_aside`); then where what it takes off loses less than `demand` whole. The
        replicas taken off made short on their class. Whether it went."""
        choices = []
        for order, node_class in enumerate(_targets(self.problem, packing, demand, origin)):
            for node in packing.nodes.get(node_class.id, ()):
                victims = self.victims(demand, node_class, node, chain)
                if victims is not None:
                    choices.append(((self.loss(victims), sum(victims.values()), 0, order, node.name),
                                    node_class, node, victims))
            if self.may_open(node_class, packing):  # a new node: after every open node that evicts none
                name = next(_unused_names(node_class, packing.nodes.get(node_class.id, [])), None)
                empty = None if name is None else NodeState(name, dict(node_class.capacity_of(name)))
                if empty is not None and self.victims(demand, node_class, empty, False) == {}:
                    choices.append(((self.loss({}), 0, 1, order, empty.name), node_class, empty, {}))
        best = min(choices, key=lambda choice: choice[0], default=None)
        if (best is None or best[3]) and chain and self.moved_aside(packing, demand, origin):
            return True
        if best is None or best[0][0] >= self.loss({demand.name: self._short_loss(packing, demand)}):
            return False
        self.place(packing, demand, origin, best[1], best[2], best[3])
        return True

    def _short_loss(self, packing: Packing, demand: Demand) -> int:
        """The replicas of `demand` left out if it stays as short as it is (a gang's: all)."""
        short = sum(a for (name, _), a in packing.short_by_workload.items() if name == demand.name)
        return short + sum(excess(self.problem, packing, demand).values())

    def place(self, packing: Packing, demand: Demand, origin: NodeClass, node_class: NodeClass,
              node: NodeState, victims: dict[str, int]) -> None:
        """A short replica of `demand` (sent to `origin`) onto `node`; `victims` made short
        there, a workload that goes whole everywhere (it is left out whole)."""
        opened = packing.nodes.setdefault(node_class.id, [])
        if all(other is not node for other in opened):
            opened.append(node)
        for name, amount in sorted(victims.items()):
            if goes_whole(self.problem.demand(name)):
                _taken_off_everywhere(self.problem, packing, name)
            else:
                move_replicas(self.problem, node, name, -amount)
                packing.add_short(name, node_class.id, amount)
        move_replicas(self.problem, node, demand.name, 1)
        take_short(packing, demand.name, origin.id)

    def moved_aside(self, packing: Packing, demand: Demand, origin: NodeClass) -> bool:
        """A short replica of `demand` placed where one replica of another workload that goes
        whole makes room by moving to free room elsewhere, its rules' counts kept (a spread
        rounded up in a small zone moves to a zone where it has one fewer). In place, with
        `packing` changed only where it worked; whether it did."""
        problem = self.problem
        for node_class in _targets(problem, packing, demand, origin):
            for node in packing.nodes.get(node_class.id, ()):
                if self.past():
                    return False
                for name in sorted(node.hosted.keys() & self.movable - {demand.name}):
                    move_replicas(problem, node, name, -1)
                    packing.add_short(name, node_class.id, 1)
                    if self.victims(demand, node_class, node, False) == {}:
                        self.place(packing, demand, origin, node_class, node, {})
                        if self.placed_one(packing, problem.demand(name), node_class, chain=False):
                            packing._room.clear()
                            return True
                        move_replicas(problem, node, demand.name, -1)  # (undone: nothing else changed)
                        packing.add_short(demand.name, origin.id, 1)
                    move_replicas(problem, node, name, 1)
                    take_short(packing, name, node_class.id)
        return False

    def victims(self, demand: Demand, node_class: NodeClass, node: NodeState,
                evict: bool) -> dict[str, int] | None:
        """What to take off `node` for one replica of `demand` to join it, leaving out least
        (workload -> its replicas there): loose replicas of no higher priority, the lowest
        first, and at most one workload that goes whole (all of its replicas); without
        `evict`, nothing ({} where it fits as it is). None where nothing lets it."""
        problem = self.problem
        if node.hosted.get(demand.name, 0) + 1 > node_limit(demand, node_class):
            return None
        apart, exclusive = problem.apart_on_nodes
        hosted = {name: amount for name, amount in node.hosted.items() if amount}
        if demand.name in exclusive or hosted.keys() & exclusive or not _together(demand) <= hosted.keys():
            return None  # (an exclusive one's node hosts nothing else)
        lower = {name for name in hosted if name != demand.name
                 and problem.demand(name).priority <= demand.priority} if evict else set()
        forced = {name: hosted[name] for name in apart.get(demand.name, set()) & hosted.keys()}
        found = []
        for whole in [None, *sorted(lower & self.droppable)]:
            victims = dict(forced)
            if whole is not None:
                victims[whole] = hosted[whole]
            if not victims.keys() <= (lower & self.loose) | {whole}:
                continue
            taken = self._freed_enough(demand, node_class, node, hosted, victims, lower & self.loose)
            if taken is not None:
                found.append(((self.loss(taken), sum(taken.values()), sorted(taken)), taken))
        return min(found, key=lambda item: item[0], default=(None, None))[1]

    def _freed_enough(self, demand: Demand, node_class: NodeClass, node: NodeState, hosted: dict[str, int],
                      victims: dict[str, int], loose: set[str]) -> dict[str, int] | None:
        """`victims` and as few loose replicas more as free the room `demand` asks; None where
        even all of them do not."""
        requests_of = self.problem.demand
        need = {r: demand.requests[r] - node.free[r]
                - sum(requests_of(n).requests[r] * a for n, a in victims.items()) for r in RESOURCES}
        victims = dict(victims)
        for name in _by_priority_then_size(self.problem, node_class, loose - victims.keys()):
            requests = requests_of(name).requests
            while hosted[name] > victims.get(name, 0) and any(
                    need[r] > 0 and requests[r] > 0 for r in RESOURCES):
                victims[name] = victims.get(name, 0) + 1
                for r in RESOURCES:
                    need[r] -= requests[r]
        return victims if all(v <= 0 for v in need.values()) else None


def _by_priority_then_size(problem: Problem, node_class: NodeClass, names: set[str]) -> list[str]:
    """The lowest priority first, then the largest replicas for the node (fewer taken off)."""
    def share(name: str) -> float:
        requests = problem.demand(name).requests
        return sum(requests[r] / node_class.capacity[r] for r in RESOURCES if node_class.capacity[r])

    return sorted(names, key=lambda name: (problem.demand(name).priority, -share(name), name))


def _taken_off_everywhere(problem: Problem, packing: Packing, name: str) -> None:
    """Every replica of `name` off its nodes, short against their classes."""
    for class_id, nodes in packing.nodes.items():
        for node in nodes:
            amount = node.hosted.get(name, 0)
            if amount:
                move_replicas(problem, node, name, -amount)
                packing.add_short(name, class_id, amount)


def _targets(problem: Problem, packing: Packing, demand: Demand, origin: NodeClass) -> list[NodeClass]:
    """The classes a replica sent to `origin` may go to instead: those alike in every domain a
    rule counts (`equivalents`), and, for a spread, classes in another of its domains where
    the spread's counts, with every short replica in the domain it was sent to, keep the
    skew once this one moves there (the model rounds a spread's counts up in small domains:
    inventory 300 seed 11's one-node zone got one replica too many of each of five spreads)."""
    same = equivalents(problem, demand, origin)
    spreads = [s for s in demand.spreads if s.topology != "node"]
    if not spreads:
        return same
    kept = key_but_spreads(problem, demand)
    seen = {c.id for c in same}
    counted = replicas_per_domain(problem, packing, demand)
    others = [c for c in map(problem.node_class, demand.eligible) if c.id not in seen
              and kept(c) == kept(origin) and _keeps_skew(counted, origin, c)]
    return same + sorted(others, key=lambda c: (c.price, c.id))


def key_but_spreads(problem: Problem, demand: Demand):
    """What every rule but `spread` counts of a class (`pack.domains_key` without it)."""
    keys = [rule.packing.same(problem, demand) for rule in rules.RULES
            if rule.name != "spread" and rule.packing is not None and rule.packing.same is not None]
    return lambda node_class: [key(node_class) for key in keys if key is not None]


def replicas_per_domain(problem: Problem, packing: Packing, demand: Demand) -> list[tuple[SpreadRule, dict]]:
    """Per spread of `demand` (but `node`), its replicas per domain as `verify` counts them,
    over the domains of the eligible classes with nodes, with the short replicas where they
    were sent."""
    counts = {class_id: sum(node.hosted.get(demand.name, 0) for node in nodes)
              for class_id, nodes in packing.nodes.items()}
    for (name, class_id), amount in packing.short_by_workload.items():
        if name == demand.name:
            counts[class_id] = counts.get(class_id, 0) + amount
    with_nodes = [c for c in map(problem.node_class, demand.eligible)
                  if (c.count and not c.provisioned) or packing.opened(c.id)]
    counted = []
    for spread in demand.spreads:
        if spread.topology != "node":
            per_domain = dict.fromkeys((c.topology_value(spread.topology) for c in with_nodes), 0)
            for node_class in with_nodes:
                per_domain[node_class.topology_value(spread.topology)] += counts.get(node_class.id, 0)
            counted.append((spread, per_domain))
    return counted


def _keeps_skew(counted: list[tuple[SpreadRule, dict]], origin: NodeClass, target: NodeClass) -> bool:
    """Does every spread keep its skew with a replica moved from `origin`'s domain to
    `target`'s (`counted`: `replicas_per_domain`)?"""
    for spread, counts in counted:
        moved_from, moved_to = origin.topology_value(spread.topology), target.topology_value(spread.topology)
        if moved_to not in counts or moved_from not in counts:
            return False
        per_domain = {domain: amount for domain, amount in counts.items() if domain is not None}
        per_domain[moved_from] -= 1
        per_domain[moved_to] += 1
        if max(per_domain.values()) - min(per_domain.values()) > spread.max_skew:
            return False
    return True


def move_replicas(problem: Problem, node: NodeState, name: str, amount: int) -> None:
    """`amount` replicas of `name` onto the node (negative: off it)."""
    requests = problem.demand(name).requests
    for resource in RESOURCES:
        node.free[resource] -= requests[resource] * amount
    node.hosted[name] = node.hosted.get(name, 0) + amount
    if not node.hosted[name]:
        del node.hosted[name]


def take_short(packing: Packing, workload: str, class_id: str) -> None:
    key = (workload, class_id)
    packing.short_by_workload[key] -= 1
    if not packing.short_by_workload[key]:
        del packing.short_by_workload[key]
    packing.short[class_id] -= 1
    if not packing.short[class_id]:
        del packing.short[class_id]

