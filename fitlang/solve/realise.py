"""A placement from the coarse problem's whole-node patterns (issue 15, the *breaker* shape):
the classes merged as the coarse problem merges them (coarse.py: labels, zone, rack forgotten),
every pattern of replica shapes one node of each merged class holds, the cheapest whole number
of nodes per pattern that holds every replica (a small integer program), each pattern's nodes
dealt in turn over the member classes of its merged class, and every workload's replicas put
into the room the patterns keep for its shape, the most constrained workloads first.

Why: on *breaker* (racks, workloads pinned to three racks, rack spreads, anti-affinities
between workloads) the coarse bound, which forgets the racks and the rules between workloads,
was 7.4% under the best placement at 10,000 nodes (1977 / 1830.10), and nobody knew which
side the gap was on. An independent construction (the same steps, written apart from fitc:
docs/performance.md, session 18) placed 223 at 1,000 nodes and 1831 at 10,000, verified: the
coarse bound rounded up (whole nodes at 1 USD/h plus the tiny pool's 1 or 10 USD/h), so those
are the optima, and the gap was the placement's. The greedy pass with the coarse LP's nodes
filled first (`greedy.Guide.nodes`) did not come near (1979-2012, consolidated): it leaves
the rack-spread workloads to the pass, which does not fill the patterns' room.

What it keeps (`supported`): eligibility; one spread over a domain (dealt evenly over the
domains the workload may use: a skew of at most 1); spreads and anti-affinity on a node (a
per-node limit); anti-affinity on a node towards another workload (both ways); a cost or nodes
objective. Anything else (buy limits, a budget, power caps, gangs, options, exclusive nodes,
affinity, latency, a horizon, running work): None, and the floor stands. Replicas the
patterns' room does not take go to the free room of open nodes, then to new nodes (cheapest
per replica); none left: None. Patterns are built on the smallest member node of each merged
class, so each fits every node it is dealt to.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, replicas_per_node
from fitlang.solve.aggregate import past
from fitlang.solve.backends import HighsBackend
from fitlang.solve.linear import LinearModel, Status
from fitlang.solve.pack import NodeState, Packing

# HiGHS's time limit for the integer program over the patterns (breaker 10,000: ~560
# patterns over 6 shapes, solved to optimality in well under a second)
ROUNDING_SECONDS = 1.0
ROUNDING_GAP = 1e-4
# patterns enumerated at most (over every merged class); more: not tried (None)
MAX_PATTERNS = 20_000
# steps of the depth-first walk over count vectors, at most (over every merged class); more:
# not tried (None). The walk visits every vector that fits, not only the maximal ones: breaker
# 10,000 takes 11,465 steps for its 507 patterns, but 3,000 workloads of 48 shapes on nodes of
# 15 sizes took 1.4 million steps (10 CPU s, past a 10 s limit) to reach MAX_PATTERNS.
MAX_WALK_STEPS = 200_000
# the grain of `_fitting_at_least`'s count: each shape's share of a node rounded up to this
SHARE_GRAIN = 1024

Shape = tuple[int, ...]
NO_LIMIT = 1 << 40


def supported(problem: Problem) -> bool:
    """Can `realised` keep every rule of the problem (the module docstring's list)?"""
    if problem.buy_limits or problem.budget is not None or problem.power_caps \
            or problem.option_groups or problem.timeline is not None or problem.running \
            or problem.running_elsewhere or problem.objective[:1] not in (["cost"], ["nodes"]):
        return False
    return all(_demand_supported(d) for d in problem.demands)


def _demand_supported(demand: Demand) -> bool:
    domain_spreads = [s for s in demand.spreads if s.topology != "node"]
    return not (demand.gang or demand.exclusive or demand.group is not None or demand.latency
                or demand.preferences or demand.window is not None or demand.runs
                or len(domain_spreads) > 1 or any(s.max_skew < 1 for s in domain_spreads)
                or any(not (r.anti and r.topology == "node") for r in demand.affinities))


def realised(problem: Problem, groups: list[list[NodeClass]],
             deadline: float | None = None) -> Packing | None:
    """The placement of the module docstring, as a packing; None where the problem has a rule
    it does not handle, the patterns are too many, a replica finds no node, or the `deadline`
    (time.monotonic()) passes. `groups`: the classes as the coarse problem merges them
    (`coarse.class_groups`)."""
    if not supported(problem):
        return None
    patterns = _patterns(problem, groups, deadline)
    if patterns is None:
        return None
    counts = _whole_patterns(problem, groups, patterns, deadline)
    if counts is None:
        return None
    nodes = _Nodes(problem)
    nodes.open_patterns(groups, patterns, counts)
    for demand in sorted(problem.demands, key=lambda d: _constrained(problem, d)):
        if deadline is not None and time.monotonic() > deadline:
            return None
        if demand.replicas > 0 and not nodes.place(demand):
            return None
    return nodes.packing()


def _shape(demand: Demand) -> Shape:
    return tuple(demand.requests[r] for r in RESOURCES)


def _constrained(problem: Problem, demand: Demand) -> tuple:
    """Most constrained first: pinned to part of the fleet, then spread over a domain, then
    kept apart from others on a node, then the rest; the larger first within each."""
    pinned = len(demand.eligible) < len(problem.classes) - 1
    spread = any(s.topology != "node" for s in demand.spreads)
    apart = any(r.target != "self" for r in demand.affinities)
    return (not pinned, not spread, not apart, len(demand.eligible), -demand.replicas, demand.name)


def _patterns(problem: Problem, groups: list[list[NodeClass]],
              deadline: float | None = None) -> list[tuple[int, dict[Shape, int]]] | None:
    """(merged class: its index in `groups`, replicas per shape) for every maximal pattern one
    node of the smallest member of each merged class holds, of the shapes every workload of
    which may use some member; None past MAX_PATTERNS, MAX_WALK_STEPS or the `deadline`."""
    shapes: dict[Shape, list[Demand]] = defaultdict(list)
    for demand in problem.demands:
        if demand.replicas > 0:
            shapes[_shape(demand)].append(demand)
    found: list[tuple[int, dict[Shape, int]]] = []
    reach: dict[tuple[int, int], bool] = {}
    steps = [MAX_WALK_STEPS]  # what is left of the walks' steps, shared by every merged class
    for index, members in enumerate(groups):
        ids = {c.id for c in members}
        room = _smallest(members)
        usable = sorted(s for s, demands in shapes.items() if all(room >= np.array(s))
                        and all(_reaches(d.eligible, ids, index, reach) for d in demands))
        limits = [min(min(_per_node(d, members[0]) for d in shapes[s]), _fit(room, s)) for s in usable]
        if _fitting_at_least(room, usable, limits) > steps[0]:
            return None  # (the walk would run out of steps: given up at once, not after them)
        for counts in _maximal(room, [np.array(s, dtype=np.int64) for s in usable], limits, steps,
                               deadline):
            if counts is None or len(found) == MAX_PATTERNS:
                return None
            found.append((index, {s: k for s, k in zip(usable, counts) if k}))
    return found


def _reaches(eligible: list[str], ids: set[str], group: int, known: dict[tuple[int, int], bool]) -> bool:
    """Does the eligibility list hold one of `ids` (the classes of merged class `group`)?
    Demands share lists (alive while the problem is): each list is asked once a group."""
    key = (id(eligible), group)
    if key not in known:
        known[key] = not ids.isdisjoint(eligible)
    return known[key]


def _smallest(members: list[NodeClass]) -> np.ndarray:
    """Per resource, the least any node of the members has."""
    least = None
    for node_class in members:
        for capacity in list(node_class.node_capacity.values()) or [node_class.capacity]:
            have = np.array([capacity[r] for r in RESOURCES], dtype=np.int64)
            least = have if least is None else np.minimum(least, have)
    return least if least is not None else np.zeros(len(RESOURCES), dtype=np.int64)


def _fit(room: np.ndarray, shape: Shape) -> int:
    need = np.array(shape, dtype=np.int64)
    positive = need > 0
    return int((room[positive] // need[positive]).min()) if positive.any() else 0


def _fitting_at_least(room: np.ndarray, shapes: list[Shape], limits: list[int]) -> int:
    """At least how many count vectors of the shapes (within `limits`) fit `room`, each of
    which `_maximal`'s walk visits: those whose shares of the node, summed over the resources
    and rounded up to 1/SHARE_GRAIN, sum to at most a node (a sufficient test: the largest
    share is at most the sum), counted by a knapsack over those grains. 48 shapes on a 96-CPU
    node: millions, where the walk stops at MAX_WALK_STEPS (1.4 CPU s for nothing on
    many_workloads 10,000 / 1,500, session 56)."""
    ways = np.zeros(SHARE_GRAIN + 1, dtype=np.float64)  # by grains used (floats: counts overflow)
    ways[0] = 1.0
    asked = room > 0
    for shape, limit in zip(shapes, limits):
        need = np.array(shape, dtype=np.int64)
        if not need.any() or (need[~asked] > 0).any():
            continue  # (the walk takes none of it: asks nothing, or fits nowhere)
        share = float((need[asked] / room[asked]).sum())
        grains = max(1, math.ceil(share * SHARE_GRAIN - 1e-9))
        ways = _bounded_sum(ways, grains, limit)
    return int(min(ways.sum(), float(1 << 62)))


def _bounded_sum(ways: np.ndarray, grains: int, limit: int) -> np.ndarray:
    """Per grains used, the ways of `ways` with 0..`limit` more of a shape of `grains` each:
    the entries `grains` apart, summed over a window of `limit` + 1 (running sums, per
    remainder of the grains)."""
    rows = -(-len(ways) // grains)
    flat = np.zeros(rows * grains)
    flat[:len(ways)] = ways
    table = flat.reshape(rows, grains)  # row j, column r: grains used j * grains + r
    running = np.vstack([np.zeros((1, grains)), np.cumsum(table, axis=0)])
    window = np.maximum(0, np.arange(rows) - limit)
    return (running[1:] - running[window]).reshape(-1)[:len(ways)]


def _maximal(room: np.ndarray, needs: list[np.ndarray], limits: list[int], steps: list[int],
             deadline: float | None = None):
    """Every count vector of the shapes that fits `room` within `limits` and to which no
    further replica of any shape fits (depth first); None, and no more, once the walk has
    taken the `steps` left (`steps[0]`, counted down) or the `deadline` has passed."""
    counts = [0] * len(needs)

    def walk(i: int, free: np.ndarray):
        steps[0] -= 1
        if steps[0] < 0 or (steps[0] % 4096 == 0 and past(deadline)):
            yield None
            return
        if i == len(needs):
            if not any(counts[j] < limits[j] and all(free >= needs[j]) for j in range(len(needs))):
                yield list(counts)
            return
        most = min(limits[i], _fit(free, tuple(needs[i].tolist())) if needs[i].any() else 0)
        for k in range(most, -1, -1):
            counts[i] = k
            yield from walk(i + 1, free - needs[i] * k)
        counts[i] = 0

    yield from walk(0, room)


def _whole_patterns(problem: Problem, groups: list[list[NodeClass]],
                    patterns: list[tuple[int, dict[Shape, int]]], deadline: float | None) -> list[int] | None:
    """Nodes per pattern, whole: the cheapest that hold every shape's replicas within each
    merged class's nodes (HiGHS, within ROUNDING_SECONDS and the `deadline`); None if it
    finds none."""
    if not patterns:
        return None
    wanted: dict[Shape, int] = defaultdict(int)
    for demand in problem.demands:
        wanted[_shape(demand)] += max(demand.replicas, 0)
    available = [sum(min(c.count, len(c.node_names)) for c in members) for members in groups]
    model = LinearModel()
    columns = [model.var(f"pattern[{k}]", 0, available[group]) for k, (group, _) in enumerate(patterns)]
    for shape, amount in wanted.items():
        if amount:
            model.add({column: held[shape] for column, (_, held) in zip(columns, patterns) if shape in held},
                      lower=amount)
    for group, most in enumerate(available):
        model.add({column: 1 for column, (g, _) in zip(columns, patterns) if g == group}, upper=most)
    cost = {column: groups[group][0].price if problem.objective[0] == "cost" else 1
            for column, (group, _) in zip(columns, patterns)}
    limit = ROUNDING_SECONDS if deadline is None else min(ROUNDING_SECONDS, deadline - time.monotonic())
    if limit <= 0:
        return None
    outcome = HighsBackend(ROUNDING_GAP).minimise(model, cost, limit)
    if outcome.solution is None or outcome.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return None
    return [int(outcome.solution[column]) for column in columns]


class _Nodes:
    """The nodes opened: each one's class, free room, what it hosts, and the replicas per
    shape its pattern still keeps room for."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.by_id = {c.id: c for c in problem.classes}
        self.used: dict[str, int] = defaultdict(int)  # class id -> its nodes opened
        self.names: list[str] = []
        self.owner: list[NodeClass] = []
        self.free: list[list[int]] = []  # (lists: a replica at a time, numpy's overhead dominated)
        self.hosted: list[dict[str, int]] = []
        self.kept: list[dict[Shape, int]] = []
        # (class id, shape) -> its nodes with room kept for the shape (emptied ones dropped lazily)
        self.keeping: dict[tuple[str, Shape], list[int]] = defaultdict(list)
        # per shape, the classes with such nodes, in the order they opened (emptied ones dropped)
        self.keeping_classes: dict[Shape, dict[str, None]] = defaultdict(dict)
        self.sets: dict[int, set[str]] = {}  # per list of class ids (by identity), as a set
        self.of_class: dict[str, list[int]] = defaultdict(list)
        # the domains a spread deals over, per (eligibility list, topology), and the room kept
        # per (topology, domain, shape), for the order they take their share in
        self.topologies = sorted({s.topology for d in problem.demands for s in d.spreads
                                  if s.topology != "node"})
        self.domains: dict[tuple[int, str], dict[str, list[str]]] = {}
        self.kept_at: dict[tuple[str, str | None, Shape], int] = defaultdict(int)
        self.apart: dict[str, set[str]] = defaultdict(set)
        for demand in problem.demands:
            for rule in demand.affinities:
                if rule.target != "self":
                    self.apart[demand.name].add(rule.target)
                    self.apart[rule.target].add(demand.name)

    def open_patterns(self, groups: list[list[NodeClass]], patterns: list[tuple[int, dict[Shape, int]]],
                      counts: list[int]) -> None:
        """Each pattern's nodes, dealt over its merged class's members in turn (one turn per
        merged class across its patterns), so that every rack and zone has its share of each."""
        turn: dict[int, int] = defaultdict(int)
        for (group, kept), count in zip(patterns, counts):
            members = groups[group]
            for _ in range(count):
                for _ in range(len(members)):
                    node_class = members[turn[group] % len(members)]
                    turn[group] += 1
                    if self._left(node_class):
                        self._open(node_class, dict(kept))
                        break

    def _left(self, node_class: NodeClass) -> bool:
        return self.used[node_class.id] < min(node_class.count, len(node_class.node_names))

    def _open(self, node_class: NodeClass, kept: dict[Shape, int]) -> int:
        name = node_class.node_names[self.used[node_class.id]]
        self.used[node_class.id] += 1
        capacity = node_class.capacity_of(name)
        k = len(self.names)
        self.names.append(name)
        self.owner.append(node_class)
        self.free.append([capacity[r] for r in RESOURCES])
        self.hosted.append({})
        self.kept.append(kept)
        self.of_class[node_class.id].append(k)
        for shape, amount in kept.items():
            self.keeping[node_class.id, shape].append(k)
            self.keeping_classes[shape][node_class.id] = None
            for topology in self.topologies:
                self.kept_at[topology, node_class.topology_value(topology), shape] += amount
        return k

    def place(self, demand: Demand) -> bool:
        """Every replica of `demand`: dealt evenly over its spread's domains where it has one
        (the domains with most room kept for its shape take one more)."""
        spread = next((s for s in demand.spreads if s.topology != "node"), None)
        if spread is None:
            return self._place_in(demand, demand.eligible, demand.replicas)
        domains = self._domains(demand.eligible, spread.topology)
        if not domains:
            return False
        base, extra = divmod(demand.replicas, len(domains))
        shape = _shape(demand)
        order = sorted(domains, key=lambda d: (-self.kept_at.get((spread.topology, d, shape), 0), d))
        shares = [(d, base + (k < extra)) for k, d in enumerate(order)]
        return all(self._place_in(demand, domains[d], share) for d, share in shares if share > 0)

    def _domains(self, eligible: list[str], topology: str) -> dict[str, list[str]]:
        """The domains of `topology` the eligible classes with nodes span (as verify counts
        them), each with its classes. Demands share eligibility lists: each is read once."""
        key = (id(eligible), topology)
        if key not in self.domains:
            domains: dict[str, list[str]] = defaultdict(list)
            for class_id in eligible:
                node_class = self.by_id.get(class_id)
                if node_class is not None and min(node_class.count, len(node_class.node_names)) > 0:
                    value = node_class.topology_value(topology)
                    if value is not None:
                        domains[value].append(class_id)
            self.domains[key] = dict(domains)
        return self.domains[key]

    def _place_in(self, demand: Demand, classes: list[str], amount: int) -> bool:
        """`amount` replicas on nodes of `classes`: the room patterns keep for its shape first,
        then any free room, then new nodes."""
        shape = need = _shape(demand)
        keeping = self.keeping_classes[shape]
        if len(classes) <= len(keeping):  # (pinned work: its few classes)
            reached = (c for c in classes if c in keeping)
        else:  # (work that may go anywhere: the classes with room kept, until it is placed)
            allowed = self._set(classes)
            reached = (c for c in keeping if c in allowed)
        emptied = []
        for class_id in reached:
            if amount <= 0:
                break
            nodes = self.keeping[class_id, shape]
            amount = self._fill(demand, nodes, need, amount, shape)
            nodes[:] = [k for k in nodes if self.kept[k].get(shape, 0) > 0]
            if not nodes:
                emptied.append(class_id)
        for class_id in emptied:
            del keeping[class_id]
        for class_id in classes:
            if amount <= 0:
                break
            amount = self._fill(demand, self.of_class.get(class_id, []), need, amount, None)
        while amount > 0:
            node = self._new_node(demand, classes)
            if node is None:
                return False
            before = amount
            amount = self._fill(demand, [node], need, amount, None)
            if amount == before:
                return False
        return True

    def _set(self, classes: list[str]) -> set[str]:
        """The list as a set (eligibility lists are shared by demands and alive meanwhile)."""
        if id(classes) not in self.sets:
            self.sets[id(classes)] = set(classes)
        return self.sets[id(classes)]

    def _fill(self, demand: Demand, nodes: list[int], need: Shape, amount: int,
              shape: Shape | None) -> int:
        for k in nodes:
            if amount <= 0:
                break
            take = min(amount, self._fits(demand, k, need))
            if shape is not None:
                take = min(take, self.kept[k].get(shape, 0))
            if take > 0:
                self._put(demand, k, need, take, shape)
                amount -= take
        return amount

    def _fits(self, demand: Demand, k: int, need: Shape) -> int:
        """How many more replicas of `demand` node k takes: its free room, its per-node limit,
        and no workload kept apart from it there."""
        hosted = self.hosted[k]
        apart = self.apart.get(demand.name)
        if apart and not apart.isdisjoint(hosted):
            return 0
        room = min((have // wanted for have, wanted in zip(self.free[k], need) if wanted > 0),
                   default=demand.replicas)
        return max(0, min(room, _per_node(demand, self.owner[k]) - hosted.get(demand.name, 0)))

    def _put(self, demand: Demand, k: int, need: Shape, take: int, shape: Shape | None) -> None:
        self.free[k] = [have - wanted * take for have, wanted in zip(self.free[k], need)]
        self.hosted[k][demand.name] = self.hosted[k].get(demand.name, 0) + take
        if shape is not None:
            self.kept[k][shape] -= take
            for topology in self.topologies:
                self.kept_at[topology, self.owner[k].topology_value(topology), shape] -= take

    def _new_node(self, demand: Demand, classes: list[str]) -> int | None:
        """A new node of the eligible class cheapest per replica with a node left."""
        best, best_price = None, None
        for class_id in classes:
            node_class = self.by_id.get(class_id)
            if node_class is None or not self._left(node_class):
                continue
            fit = min(replicas_per_node(demand, node_class), _per_node(demand, node_class))
            if fit <= 0:
                continue
            price = Fraction(node_class.price if self.problem.objective[0] == "cost" else 1) / fit
            if best is None or (price, node_class.id) < (best_price, best.id):
                best, best_price = node_class, price
        return None if best is None else self._open(best, {})

    def packing(self) -> Packing:
        """The nodes that host a replica (a pattern's node its shapes' workloads did not need
        is not used)."""
        packing = Packing()
        for k, name in enumerate(self.names):
            if self.hosted[k]:
                free = dict(zip(RESOURCES, self.free[k]))
                packing.nodes.setdefault(self.owner[k].id, []).append(NodeState(name, free, self.hosted[k]))
        return packing


def _per_node(demand: Demand, node_class: NodeClass) -> int:
    """The most replicas of `demand` on one node its rules allow (one for anti-affinity with
    itself on a node, K for `spread node max_skew K`: 0..K per node keeps any skew within K;
    else NO_LIMIT)."""
    most = NO_LIMIT
    for rule in demand.affinities:
        if rule.target == "self" and rule.anti and rule.topology == "node":
            most = min(most, 1)
    for spread in demand.spreads:
        if spread.topology == "node":
            most = min(most, spread.max_skew)
    return max(most, 0)
