"""The floor of every solve: a greedy per-node placement in well under a second a thousand nodes.

`fitc solve` first places greedily, then asks the optimiser to do better in the time left; when
the optimiser has nothing by the deadline (or something worse), the greedy placement is what
the user gets, never nothing.

Each workload, highest priority first, is sent whole to the class where a replica costs least,
within the domains its rules allow: a spread is dealt round-robin over the domains of its
topology, `anti_affinity` towards a workload on a zone or region keeps out of the domains the
other took, `affinity` follows its target's class, latency rules pick a class within reach of
every location. `pack.repair` then fills free room and opens nodes (cheapest per replica
first, same domain and reach as the class it was sent to), within the buy limits, the budget
and the power caps. What a rule needs whole (a gang, a spread, an option group) and did not fit
is left out whole by the caller, as after any packing.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, replicas_per_node
from fitlang.solve.pack import ClassPacker, MayOpen, Packing


class _Limits:
    """Buy limits, budget and power caps, kept as running sums: `may_open` is asked once per
    node opened, and the class it last allowed is the only one whose count may have moved."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.known: dict[str, int] = {}
        self.cost = Fraction(0)
        self.bought: dict[int, int] = {}
        self.watts = [Fraction(0)] * len(problem.power_caps)
        self.scopes = [set(cap.classes) for cap in problem.power_caps]
        self.last: NodeClass | None = None

    def _sync(self, packing: Packing) -> None:
        node_class = self.last
        if node_class is None:
            return
        opened = packing.opened(node_class.id)
        delta = opened - self.known.get(node_class.id, 0)
        if delta:
            self._count(node_class, delta)
            self.known[node_class.id] = opened

    def _count(self, node_class: NodeClass, delta: int) -> None:
        self.cost += node_class.price * delta
        if node_class.buy_group is not None:
            self.bought[node_class.buy_group] = self.bought.get(node_class.buy_group, 0) + delta
        for index, scope in enumerate(self.scopes):
            if node_class.id in scope:
                self.watts[index] += node_class.power_watts * delta

    def may_open(self, node_class: NodeClass, packing: Packing) -> bool:
        self._sync(packing)
        self.last = node_class
        if packing.opened(node_class.id) >= node_class.count:
            return False
        problem = self.problem
        if problem.budget is not None and self.cost + node_class.price > problem.budget:
            return False
        group = node_class.buy_group
        if group is not None and group in problem.buy_limits and \
                self.bought.get(group, 0) + 1 > problem.buy_limits[group]:
            return False
        return all(node_class.id not in scope or self.watts[index] + node_class.power_watts
                   <= self.problem.power_caps[index].cap_watts
                   for index, scope in enumerate(self.scopes))


def greedy_packing(problem: Problem, apart_first: bool = False) -> Packing:
    """Each workload in turn, highest priority first (targets of `affinity` before their
    followers): first the free room of nodes already open, then new nodes, in the classes it
    may use cheapest per replica first. What fits nowhere is `short`.

    With `apart_first`, workloads kept apart from another by zone or region go before the
    others of their priority: a target spread over every zone first leaves them none."""
    packing = Packing()
    limits = _Limits(problem)
    followed = {r.target for d in problem.demands for r in d.affinities if not r.anti}
    apart = {d.name for d in problem.demands for r in d.affinities
             if apart_first and r.anti and r.target != "self" and r.topology != "node"}
    order = sorted(problem.demands, key=lambda d: (-d.priority, d.name not in followed,
                                                   d.name not in apart, d.name))
    chosen_options = _chosen_options(problem)
    shapes = _ClassShapes(problem)
    apart_rules = {name for name in _kept_apart_by(problem)} | {
        d.name for d in problem.demands for r in d.affinities
        if r.anti and r.target != "self" and r.topology != "node"}
    taken: dict[tuple[str, str], set[str]] = {}  # (workload, topology) -> domains it uses
    for demand in order:
        if demand.group is not None and chosen_options.get(demand.group) != demand.name:
            continue
        candidates = [problem.node_class(c) for c in demand.eligible]
        candidates = [c for c in candidates if all(problem.within_reach(rule, c) for rule in demand.latency)]
        candidates = _keep_apart(problem, demand, candidates, taken)
        candidates = _follow(problem, demand, candidates, packing)
        prices = dict(zip((c.id for c in candidates), shapes.prices(demand, candidates)))
        candidates.sort(key=lambda c: (prices[c.id], c.id))
        for classes, amount in _deal(problem, demand, candidates):
            amount = _place(problem, demand, classes, amount, packing, limits)
            if amount:
                origin = classes[0].id if classes else demand.eligible[0] if demand.eligible else ""
                packing.add_short(demand.name, origin, amount)
        if demand.name not in apart_rules:
            continue  # no zone or region anti-affinity reads where it went
        for node_class in candidates:
            if any(demand.name in node.hosted for node in packing.nodes.get(node_class.id, ())):
                for topology in ("zone", "region"):
                    value = node_class.topology_value(topology)
                    if value is not None:
                        taken.setdefault((demand.name, topology), set()).add(value)
    return packing


def _place(problem: Problem, demand: Demand, classes: list[NodeClass], amount: int,
           packing: Packing, limits: _Limits) -> int:
    """Up to `amount` replicas on these classes, in order: free room first, then new nodes.
    Returns how many did not fit."""
    never: MayOpen = lambda node_class, packing: False  # noqa: E731
    need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
    for may_open in (never, limits.may_open):
        for node_class in classes:
            if not amount:
                return 0
            # a packer only where a replica may go: free room that fits one, or a node to open
            # (measured at 10,000 inventory nodes: 70,000 packers made, most for nothing)
            if may_open is never and not (packing.opened(node_class.id)
                                          and (packing.room(node_class.id) >= need).all(axis=1).any()):
                continue
            if may_open is not never and not may_open(node_class, packing):
                continue
            packer = ClassPacker(problem, node_class, [(demand, amount)])
            packer.run(packing, may_open, refill=True)
            amount = sum(left for _, left in packer.leftovers())
    return amount


class _ClassShapes:
    """Every class's capacity and price as arrays, so that a workload's price per replica is
    worked out over all its classes at once (per class in Python it took 7 s of the greedy
    pass's 19 at 10,000 inventory nodes: 374,000 calls). The same numbers as
    `_price_per_replica`, which the test suite holds it to."""

    def __init__(self, problem: Problem) -> None:
        self.row = {c.id: i for i, c in enumerate(problem.classes)}
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in problem.classes],
                                 dtype=np.int64).reshape(len(problem.classes), len(RESOURCES))
        self.price = np.array([float(c.price) for c in problem.classes])

    def prices(self, demand: Demand, candidates: list[NodeClass]) -> list[float]:
        if not candidates:
            return []
        rows = np.array([self.row[c.id] for c in candidates])
        capacity = self.capacity[rows].astype(np.float64)
        need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
        asked = need > 0
        counted = (capacity > 0) & asked  # resources both have
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(counted, need / np.where(capacity > 0, capacity, 1.0), -np.inf)
        share = ratios.max(axis=1)
        share = np.where(counted.any(axis=1), share, 1.0)
        if asked.any():
            fit = (self.capacity[rows][:, asked] // need[asked]).min(axis=1)
            fit = np.minimum(fit, demand.replicas)
        else:
            fit = np.full(len(rows), demand.replicas)
        if demand.one_per_node:
            fit = np.minimum(fit, 1)
        share = np.maximum(share, 1.0 / np.maximum(1, fit))
        return (self.price[rows] * share).tolist()


def _price_per_replica(demand: Demand, node_class: NodeClass) -> float:
    share = max((demand.requests[r] / node_class.capacity[r] for r in RESOURCES
                 if node_class.capacity[r] and demand.requests[r]), default=1.0)
    share = max(share, 1 / max(1, replicas_per_node(demand, node_class)))
    return float(node_class.price) * share


def _domain_rules(demand: Demand) -> list[tuple[str, int]]:
    """(topology, most replicas per domain) of rules that deal replicas over domains."""
    rules = [(s.topology, s.max_skew) for s in demand.spreads if s.topology != "node"]
    rules += [(r.topology, 1) for r in demand.affinities
              if r.target == "self" and r.anti and r.topology != "node"]
    return rules


def _deal(problem: Problem, demand: Demand,
          candidates: list[NodeClass]) -> list[tuple[list[NodeClass], int]]:
    """(classes to try in order, replicas) parts: every replica over all candidates; a spread
    dealt over every domain its eligible nodes are in (within one replica of each other), each
    share over that domain's candidates. A spread with a domain it may not use here: over the
    others when each gets no more than the skew allows beside an empty one; else one part with
    no classes (left out)."""
    rules = _domain_rules(demand)
    if not demand.replicas:
        return []
    if not rules:
        return [(candidates, demand.replicas)]
    topology = rules[0][0]
    domains = sorted({v for c in demand.eligible
                      if (v := problem.node_class(c).topology_value(topology)) is not None})
    within: dict[str, list[NodeClass]] = {}
    for node_class in candidates:
        value = node_class.topology_value(topology)
        if value is not None:
            within.setdefault(value, []).append(node_class)
    one_each = any(r.target == "self" and r.anti and r.topology == topology for r in demand.affinities)
    if any(t != topology for t, _ in rules) or not domains or (one_each and demand.replicas > len(domains)):
        return [([], demand.replicas)]
    if set(domains) - set(within):
        # a domain it may not use here holds none: the others within the skew of that zero
        usable = sorted(within)
        most = -(-demand.replicas // len(usable)) if usable else None
        if most is None or any(most > skew for _, skew in rules):
            return [([], demand.replicas)]
        domains = usable
    shares = [demand.replicas // len(domains) + (i < demand.replicas % len(domains))
              for i in range(len(domains))]
    return [(within[domain], share) for domain, share in zip(domains, shares) if share]


def _kept_apart_by(problem: Problem) -> dict[str, list[tuple[str, str]]]:
    """Workload -> (workload, topology) of the zone or region anti-affinities towards it,
    worked out once per problem (per workload it was a scan of every workload's rules)."""
    key = (id(problem.demands), len(problem.demands))
    cached = getattr(problem, "_kept_apart_by", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    towards: dict[str, list[tuple[str, str]]] = {}
    for other in problem.demands:
        for rule in other.affinities:
            if rule.anti and rule.target != "self" and rule.topology != "node":
                towards.setdefault(rule.target, []).append((other.name, rule.topology))
    problem._kept_apart_by = (key, towards)
    return towards


def _keep_apart(problem: Problem, demand: Demand, candidates: list[NodeClass],
                taken: dict[tuple[str, str], set[str]]) -> list[NodeClass]:
    """Leave out domains that a workload this one must keep apart from (either way) uses."""
    banned: dict[str, set[str | None]] = {}
    for rule in demand.affinities:
        if rule.anti and rule.target != "self" and rule.topology != "node":
            banned.setdefault(rule.topology, set()).update(taken.get((rule.target, rule.topology), ()))
    for other, topology in _kept_apart_by(problem).get(demand.name, ()):
        banned.setdefault(topology, set()).update(taken.get((other, topology), ()))
    # a node without the topology's label is in no domain: `verify` cannot tell it apart
    return [c for c in candidates if all(c.topology_value(t) is not None and c.topology_value(t)
                                         not in values for t, values in banned.items())]


def _follow(problem: Problem, demand: Demand, candidates: list[NodeClass],
            packing: Packing) -> list[NodeClass]:
    """`affinity` towards another workload: only classes where its target runs (on a node:
    the packer puts it beside the target there), or in the same domain."""
    for rule in demand.affinities:
        if rule.anti or rule.target == "self":
            continue
        hosting = [c for c in problem.classes
                   if any(rule.target in node.hosted for node in packing.nodes.get(c.id, ()))]
        if rule.topology == "node":
            ids = {c.id for c in hosting}
            candidates = [c for c in candidates if c.id in ids]
        else:
            domains = {c.topology_value(rule.topology) for c in hosting} - {None}
            candidates = [c for c in candidates if c.topology_value(rule.topology) in domains]
    return candidates


def _chosen_options(problem: Problem) -> dict[str, str]:
    """Per option group: the option whose replicas cost least in all, on their cheapest class."""
    chosen = {}
    for group in problem.option_groups:
        best = None
        for name in group.demands:
            demand = problem.demand(name)
            room = sum(problem.node_class(c).count * replicas_per_node(demand, problem.node_class(c))
                       for c in demand.eligible)
            if room < demand.replicas:  # not even on an empty fleet
                continue
            price = min(_price_per_replica(demand, problem.node_class(c)) for c in demand.eligible)
            key = (price * demand.replicas, name)
            best = key if best is None or key < best else best
        if best is not None:
            chosen[group.workload] = best[1]
    return chosen
