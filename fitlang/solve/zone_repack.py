"""Each domain group's CPU nodes packed again from empty, most constrained workloads first.

The search's moves change a node or a dozen at a time; on the inventory shape the answer keeps
a zone's cheapest classes a core half used and opens dearer ones beside them (session 45, h45b:
a per-node MIP per zone, 60 s a zone offline, takes seeds 11 / 22 from 1.38 / 1.13% to 0.77%).
This stage repacks a whole domain group (`repack._domain_groups`: the classes alike in every
domain a rule counts, so spreads, affinities and latency counts hold) at once, greedily:

- the replicas of the group's paid nodes without accelerators, where every workload on the node
  may move (not `improve.unmovable`, not exclusive: such nodes and what they host stay);
- its workloads in order of the nodes they need at least (replicas over the per-node limit),
  most first, then the largest: a workload held to a few replicas a node is spread before the
  room it needs is taken (first-fit by size alone packed seed 11's us-west-2a at 41.48 USD/h
  against the answer's 29.92: the last workloads, at 3 a node, opened nodes used at 20%);
- each replica on the first node of the pool where it fits (every resource, eligibility, the
  per-node limit, workloads kept apart on a node), the pool being every node of the group's
  classes (of a class's unused ones, twice what the replicas that may use it need at most:
  `_Pool._wanted`), the cheapest a core first (per GiB or per the zone's mix of the two packed seed 11's
  zones 1-60% dearer: not tried); or, in a best fit, on the node already opened that it leaves
  the least room on (CPU and memory as shares of the node's), the first in the pool where none;
- then, on a copy, each opened node whose replicas all fit in the other opened nodes emptied
  into them, the least full first (`_Pool.emptied`: a first-fit leaves room on many nodes that
  together hold a whole node's replicas);
- then each node either packing opened moved whole onto the cheapest unused node that holds it.

Per group the candidates are the group's own packing (emptied, moved whole), then per try a
first-fit and a best-fit; tries in rounds over every group (the first with the sizes as they
are, the others with sizes drawn), so a short deadline still tries every group once. The
cheapest replaces the group's nodes where it costs less than they do and the buy limits, the
budget and the power caps still hold. What it bought: session 46 (h46b), the first-fit alone:
inventory 10,000 at 5 s, 19 of 23 seeds within 1% of the bound where the start tree had 13
(seed 11 1.38 -> 0.62%); session 47 (h47b), the own packing, the best fits and the emptying
(offline, at the stage's entry, 0.5 CPU s: seeds 83 / 10 / 64 0.33 / 0.32 / 0.09 -> 1.26 / 0.58
/ 1.16 USD/h saved): docs/performance.md, session 47.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Iterator

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve.improve import unmovable
from fitlang.solve.limits import fleet_limits
from fitlang.solve.pack import NodeState, Packing, _unused_names
from fitlang.solve.repack import _domain_groups

# a group's try in one pool order takes 0.01-0.09 CPU s at inventory 10,000 (131 workloads, 377
# replicas, 5 classes of up to 38 nodes: seed 11's us-west-2a); none is started with less left
LEAST_TRY_SECONDS = 0.02
# tries a group (each a first-fit and a best-fit), and how far each workload's size is drawn
# from its own in the tries after the first (seed 11 at the search's repack, every zone's paid
# CPU nodes, first-fits alone: 281.37 USD/h with the sizes as they are, 280.96 with the best of 8
# tries at 0.3; 0.01-0.09 CPU s a try)
TRIES = 4
SIZE_SPREAD = 0.3
# a group is tried only where its replicas times the nodes of its classes are at most this: a
# first-fit looks at every node for each replica (inventory 10,000: 1.6 million at most, seed
# 11's us-east-1b, 987 replicas over 1,632 nodes; a fleet of one group of 10,000 nodes and
# 24,000 replicas would take seconds a try)
MOST_WORK = 4_000_000
# what making a group's search takes before its first try (its per-node limits, its pool, its
# own packing emptied), per workload and class of the group: 0.35 CPU s for 4,541 workloads over
# 500 one-node classes (many_workloads 10,000 / 1,500); a group is made only where the time
# left holds that and a try
SET_UP_CPU = 2e-7
# the resources a best fit weighs (their shares of the node's room left)
FIT = [RESOURCES.index("cpu"), RESOURCES.index("memory")]
CPU, MEMORY = FIT
# the unused nodes a class offers the pool, as a multiple of what the group's replicas need
# of them at most (`_Pool._wanted`)
UNUSED_SPARE = 2


class _Group:
    """One domain group's movable nodes and what they host."""

    def __init__(self, problem: Problem, classes: list[NodeClass],
                 members: list[tuple[NodeClass, NodeState]]) -> None:
        self.classes, self.members = classes, members
        self.counts: dict[str, int] = {}
        for _, node in members:
            for name, amount in node.hosted.items():
                self.counts[name] = self.counts.get(name, 0) + amount
        self.position = {c.id: i for i, c in enumerate(classes)}
        # workload -> by position in `classes`: the most a node holds (0: not there)
        self.limits: dict[str, np.ndarray] = {}
        shapes = _Shapes(classes)
        allowed: dict[int, np.ndarray] = {}  # per eligibility list (demands share them)
        for name in self.counts:
            demand = problem.demand(name)
            if id(demand.eligible) not in allowed:
                mask = np.zeros(len(classes), dtype=bool)
                mask[[self.position[c] for c in demand.eligible if c in self.position]] = True
                allowed[id(demand.eligible)] = mask
            self.limits[name] = np.where(allowed[id(demand.eligible)], _node_limits(demand, shapes), 0)


class _Shapes:
    """A group's classes as arrays, made once for all its workloads (`_node_limits`): their
    capacities a row each, the pods a node admits (-1: no limit), which have several nodes.
    Made per workload, the lists over 500 one-node classes of a zone were 0.5 CPU s past the
    search's deadline on many_workloads 10,000 / 1,500 (13,400 workloads; session 56)."""

    def __init__(self, classes: list[NodeClass]) -> None:
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in classes], dtype=np.int64)
        self.pods = np.array([-1 if c.max_pods is None else c.max_pods for c in classes], dtype=np.int64)
        self.any_pods = bool((self.pods >= 0).any())
        self.several = np.array([c.count > 1 for c in classes], dtype=bool)


def _node_limits(demand, shapes: _Shapes) -> np.ndarray:
    """`node_limit(demand, c)` for every class at once: called one class at a time it was a
    tenth of the stage's time."""
    fit = np.full(len(shapes.pods), demand.replicas, dtype=np.int64)
    for index, resource in enumerate(RESOURCES):
        need = demand.requests[resource]
        if need:
            fit = np.minimum(fit, shapes.capacity[:, index] // need)
    if shapes.any_pods:
        fit = np.minimum(fit, np.where(shapes.pods >= 0, shapes.pods, demand.replicas))
    if demand.one_per_node:
        fit = np.minimum(fit, 1)
    skews = [s.max_skew for s in demand.spreads if s.topology == "node"]
    if skews:
        fit = np.where(shapes.several, np.minimum(fit, min(skews)), fit)
    return np.maximum(fit, 0)


def zones_repacked(problem: Problem, packing: Packing, objective: str, deadline: float | None) -> int:
    """Repack each domain group of `packing` in place where cheaper (module docstring), the
    groups with the most paid nodes first, until the deadline; how many groups were kept."""
    if objective not in ("cost", "nodes") or not packing.complete or deadline is None:
        return 0
    price: Callable[[NodeClass], float] = \
        (lambda c: 1.0) if objective == "nodes" else (lambda c: float(c.price))
    searches = []
    for group in _groups(problem, packing, deadline):
        if sum(group.counts.values()) * sum(c.count for c in group.classes) <= MOST_WORK:
            searches.append(_Search(problem, packing, group, price, deadline))
    for attempt in range(TRIES):  # a round over every group before the next
        for search in searches:
            if deadline - time.monotonic() < LEAST_TRY_SECONDS:
                break
            search.tried(attempt, deadline)
    kept = 0
    for search in searches:
        best, group = search.best, search.group
        if best[0] < search.before - 1e-9 and _within_limits(problem, packing, group, best[1]):
            _apply(packing, group, best[1])
            kept += 1
    return kept


def _groups(problem: Problem, packing: Packing, deadline: float) -> Iterator[_Group]:
    """The domain groups with movable paid nodes, those whose nodes cost most first, each made
    only while a try still fits before the `deadline` (made at once, a fleet's groups took 0.5
    CPU s past it: `_Shapes`)."""
    stay = unmovable(problem) | problem.apart_on_nodes[1]
    group_of = _domain_groups(problem)
    classes: dict[int, list[NodeClass]] = {}
    members: dict[int, list[tuple[NodeClass, NodeState]]] = {}
    for node_class in problem.classes:
        if node_class.price <= 0 or node_class.capacity.get("gpu"):
            continue
        group = group_of[node_class.id]
        classes.setdefault(group, []).append(node_class)
        for node in packing.nodes.get(node_class.id, ()):
            if node.hosted and not node.hosted.keys() & stay:
                members.setdefault(group, []).append((node_class, node))
    for group in sorted(members, key=lambda g: (-sum(float(c.price) for c, _ in members[g]), g)):
        workloads = len({name for _, node in members[group] for name in node.hosted})
        if deadline - time.monotonic() < LEAST_TRY_SECONDS + SET_UP_CPU * workloads * len(classes[group]):
            return
        yield _Group(problem, classes[group], members[group])


class _Search:
    """The cheapest packing of one group found so far: its own with the nodes it can empty
    closed, then per try a first-fit and a best-fit, each with the nodes it can empty closed; the
    first try with the workloads' sizes as they are, the others with each size drawn within
    SIZE_SPREAD of it (the same draws every run: the group's own generator)."""

    def __init__(self, problem: Problem, packing: Packing, group: _Group, price, deadline: float) -> None:
        self.group = group
        self.before = sum(price(c) for c, _ in group.members)
        self.pool = _Pool(problem, packing, group, price)
        self.best: tuple[float, list[tuple[NodeClass, NodeState]]] = (math.inf, [])
        self._kept_if_cheaper(self.pool.own(), deadline)
        self.draws = random.Random(0)

    def tried(self, attempt: int, deadline: float) -> None:
        spread = {name: self.draws.uniform(1 - SIZE_SPREAD, 1 + SIZE_SPREAD) if attempt else 1.0
                  for name in sorted(self.group.counts)}
        for best_fit in (False, True):
            if deadline - time.monotonic() < LEAST_TRY_SECONDS:
                return
            placed = self.pool.first_fit(spread, best_fit, deadline)
            if placed is not None:
                self._kept_if_cheaper(placed, deadline)

    def _kept_if_cheaper(self, placed, deadline: float) -> None:
        """The packing and the same with the nodes it can empty closed (after moving nodes whole,
        either may be the cheaper: inventory 10,000 seed 8, the emptied alone 0.41 USD/h dearer).
        Past the `deadline` no more nodes are emptied or moved: each step leaves a packing."""
        emptied = self.pool.emptied(placed, deadline)
        for candidate in (placed, emptied):
            opened = self.pool.moved_whole(candidate, deadline)  # (in place)
            cost = float(self.pool.price[opened].sum())
            if cost < self.best[0] - 1e-9:  # its nodes made only where it is the best so far
                self.best = cost, self.pool.states(opened, candidate)


class _Pool:
    """Every node of the group's classes a replica may go on (its movable open nodes and the
    unused ones), the cheapest for the room first; a class's open nodes before its unused."""

    def __init__(self, problem: Problem, packing: Packing, group: _Group, price) -> None:
        self.problem, self.group = problem, group
        self.classes = sorted(group.classes, key=lambda c: (float(c.price) / max(c.capacity["cpu"], 1), c.id))
        self.requests = {name: np.array([problem.demand(name).requests[r] for r in RESOURCES], dtype=np.int64)
                         for name in group.counts}
        mine: dict[str, list[str]] = {}
        for node_class, node in group.members:
            mine.setdefault(node_class.id, []).append(node.name)
        self.nodes: list[tuple[int, str]] = []  # (position in self.classes, name)
        wanted = self._wanted()
        for position, node_class in enumerate(self.classes):
            unused = _unused_names(node_class, packing.nodes.get(node_class.id, []))
            self.nodes += [(position, name) for name in mine.get(node_class.id, ())]
            self.nodes += [(position, name) for name in
                           itertools.islice(unused, int(wanted[group.position[node_class.id]]))]
        self.of_class = np.array([position for position, _ in self.nodes], dtype=np.int64)
        self.price = np.array([price(c) for c in self.classes])[self.of_class]
        rooms = [[self.classes[p].capacity_of(name)[r] for r in RESOURCES] for p, name in self.nodes]
        self.room = np.array(rooms, dtype=np.int64).reshape(len(self.nodes), len(RESOURCES))
        self.room_by_resource = self.room.T.copy()
        # per workload, by class position: may it run there, and how many a node
        order = np.array([group.position[c.id] for c in self.classes], dtype=np.int64)
        self.limit = {name: limits[order] for name, limits in group.limits.items()}

    def _wanted(self) -> np.ndarray:
        """Per class (by its position in the group), how many unused nodes of it the pool
        offers: UNUSED_SPARE times what the group's replicas that may use it need of its nodes
        at most (their CPU, their memory, their per-node limits), and a few. A class of hundreds
        of nodes offered whole made every fit test read them all (seed 94: a zone's pool 2,561
        nodes for 429 replicas). Every class at once: class by class over every workload, 500
        one-node classes took 20 of the stage's 42 CPU s (many_workloads 10,000 / 1,500)."""
        names = list(self.group.counts)
        counts = np.array([self.group.counts[name] for name in names], dtype=np.int64)
        limits = np.array([self.group.limits[name] for name in names], dtype=np.int64)  # workload x class
        may = limits > 0
        need = np.where(may, -(-counts[:, None] // np.maximum(limits, 1)), 1).max(axis=0, initial=1)
        asked = np.array([self.requests[name][[CPU, MEMORY]] for name in names], dtype=np.int64)
        asked = asked.reshape(len(names), 2) * counts[:, None]
        capacity = np.array([[c.capacity["cpu"], c.capacity["memory"]] for c in self.group.classes],
                            dtype=np.int64)
        for column in range(2):  # (CPU, memory: the nodes their sums fill)
            total = np.where(may, asked[:, column][:, None], 0).sum(axis=0)
            need = np.maximum(need, -(-total // np.maximum(capacity[:, column], 1)))
        return UNUSED_SPARE * need + 2

    def own(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The group's packing as it is: the free room per node, and per workload its replicas
        per node."""
        position = {(self.classes[p].id, name): index for index, (p, name) in enumerate(self.nodes)}
        free = self.room.copy()
        on = {name: np.zeros(len(self.nodes), dtype=np.int64) for name in self.group.counts}
        for node_class, node in self.group.members:
            index = position[(node_class.id, node.name)]
            for name, amount in node.hosted.items():
                on[name][index] += amount
                free[index] -= self.requests[name] * amount
        return free, on

    def first_fit(self, spread: dict[str, float], best_fit: bool = False,
                  deadline: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        """Each replica on the first node it fits (workloads most constrained first, then the
        largest, each size times its `spread`), or with `best_fit` on the node already opened it
        leaves the least room on (`_tightest`) where one holds it: the free room per node, and
        per workload its replicas per node; None where one fits nowhere, or the `deadline`
        passes before the last replica (a group of 4,500 workloads over 1,000 nodes: 0.1-0.2 CPU
        s a pass)."""
        counts, apart = self.group.counts, self.problem.apart_on_nodes[0]
        free = self.room.T.copy()  # a row a resource: the fit test reads only the rows asked for
        opened = np.zeros(len(self.nodes), dtype=bool)
        on: dict[str, np.ndarray] = {}

        def needed(name: str) -> tuple:
            most = int(self.limit[name].max())
            request = self.requests[name]
            size = (float(request[0]) / 1000 + float(request[1]) / 2 ** 30) * spread[name]  # cores and GiB
            return -math.ceil(counts[name] / max(most, 1)), -size, name

        for name in sorted(counts, key=needed):
            limit, request = self.limit[name][self.of_class], self.requests[name]
            here = on[name] = np.zeros(len(self.nodes), dtype=np.int64)
            allowed = limit > 0
            for other in apart.get(name, set()) & on.keys():
                allowed &= on[other] == 0
            for _ in range(counts[name]):
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                fits = _fitting(allowed & (here < limit), free, request)
                if best_fit and (fits & opened).any():
                    index = _tightest(fits & opened, free, request, self.room_by_resource)
                else:
                    index = int(np.argmax(fits))
                    if not fits[index]:
                        return None
                opened[index] = True
                here[index] += 1
                free[:, index] -= request
        return free.T.copy(), on

    def emptied(self, placed, deadline: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The packing with each opened node whose replicas all fit in the other opened nodes
        closed, the least full first, each replica onto the node it leaves the least room on;
        none tried past the `deadline`."""
        free, on = placed
        opened = np.flatnonzero(np.any([here > 0 for here in on.values()], axis=0))
        room, left = self.room_by_resource[:, opened], free[opened].T.copy()
        hosted = {name: here[opened].copy() for name, here in on.items() if here[opened].any()}
        limits = {name: self.limit[name][self.of_class[opened]] for name in hosted}
        names = list(hosted)
        row = {name: index for index, name in enumerate(names)}
        # workload x opened node: which workloads a node hosts, without reading every workload
        # for each node (4,500 workloads x 1,000 nodes: 9 of the stage's 42 CPU s)
        matrix = np.array([hosted[name] for name in names], dtype=np.int64).reshape(len(names), len(opened))
        still = np.ones(len(opened), dtype=bool)
        fill = ((room - left)[FIT] / np.maximum(room[FIT], 1)).sum(axis=0)
        for node in np.argsort(fill, kind="stable"):
            if deadline is not None and time.monotonic() >= deadline:
                break
            here = [names[index] for index in np.flatnonzero(matrix[:, node]).tolist()]
            moved = self._moved_off(node, still, room, left, hosted, limits, here)
            if moved is not None:
                left, changed = moved
                hosted.update(changed)
                for name, placed_now in changed.items():
                    matrix[row[name]] = placed_now
                still[node] = False
        free, on = free.copy(), {name: here.copy() for name, here in on.items()}
        free[opened] = left.T
        for name, here in hosted.items():
            on[name][opened] = here
        return free, on

    def _moved_off(self, node: int, still: np.ndarray, room: np.ndarray, left: np.ndarray,
                   hosted: dict[str, np.ndarray], limits: dict[str, np.ndarray], here_now: list[str]):
        """(free room, replicas per node of the workloads moved) with `node`'s replicas (of
        the workloads `here_now`, in `hosted`'s order) moved onto the other nodes still open, or
        None where one fits on none of them (room and free room a row a resource)."""
        apart = self.problem.apart_on_nodes[0]
        left = left.copy()
        changed = {name: hosted[name].copy() for name in here_now}
        for name, here in changed.items():
            request, amount = self.requests[name], int(here[node])
            allowed = still & (limits[name] > 0)
            allowed[node] = False
            for other in apart.get(name, set()) & hosted.keys():
                allowed &= changed.get(other, hosted[other]) == 0
            for _ in range(amount):
                fits = _fitting(allowed & (here < limits[name]), left, request)
                if not fits.any():
                    return None
                target = _tightest(fits, left, request, room)
                here[target] += 1
                left[:, target] -= request
            here[node] = 0
        left[:, node] = room[:, node]
        return left, changed

    def moved_whole(self, placed, deadline: float | None = None) -> np.ndarray:
        """The nodes the packing opened, each moved onto the cheapest unused node that holds all
        it hosts (a last node a tenth full moves to a smaller one), none past the `deadline`:
        their positions."""
        free, on = placed
        names = list(on)
        hosting = np.array([on[name] for name in names]) > 0  # workload x node
        used = hosting.sum(axis=0) > 0
        for index in sorted(np.flatnonzero(used), key=lambda i: -self.price[i]):
            if deadline is not None and time.monotonic() >= deadline:
                break
            load = self.room[index] - free[index]
            here = [names[row] for row in np.flatnonzero(hosting[:, index])]
            targets = _fitting(~used & (self.price < self.price[index]), self.room_by_resource, load)
            for name in here:
                targets &= self.limit[name][self.of_class] >= on[name][index]
            if not targets.any():
                continue
            other = int(np.flatnonzero(targets)[np.argmin(self.price[targets])])
            used[index], used[other] = False, True
            free[other] = self.room[other] - load
            for name in here:
                on[name][other], on[name][index] = on[name][index], 0
        return np.flatnonzero(used)

    def states(self, opened: np.ndarray, placed) -> list[tuple[NodeClass, NodeState]]:
        free, on = placed
        names = list(on)
        matrix = np.array([on[name] for name in names], dtype=np.int64).reshape(len(names), len(self.nodes))
        found = []
        for index in opened:
            position, name = self.nodes[index]
            hosted = {names[w]: int(matrix[w, index]) for w in np.flatnonzero(matrix[:, index]).tolist()}
            room = dict(zip(RESOURCES, map(int, free[index])))
            found.append((self.classes[position], NodeState(name, room, hosted)))
        return found


def _fitting(candidates: np.ndarray, free: np.ndarray, request: np.ndarray) -> np.ndarray:
    """The candidate nodes with room for the request (free room a row a resource; the rows it
    asks nothing of are not read: a third of a first-fit's time at inventory 10,000)."""
    fits = candidates.copy()
    for resource, amount in enumerate(request.tolist()):
        if amount:
            fits &= free[resource] >= amount
    return fits


def _tightest(candidates: np.ndarray, free: np.ndarray, request: np.ndarray, room: np.ndarray) -> int:
    """The candidate node a replica leaves the least room on, CPU and memory as shares of the
    node's own (free room and room a row a resource)."""
    among = np.flatnonzero(candidates)
    cpu, memory = FIT
    after = (free[cpu, among] - request[cpu]) / np.maximum(room[cpu, among], 1) \
        + (free[memory, among] - request[memory]) / np.maximum(room[memory, among], 1)
    return int(among[np.argmin(after)])


def _within_limits(problem: Problem, packing: Packing, group: _Group, opened) -> bool:
    limits = fleet_limits(problem)
    counts = {c.id: len(packing.nodes.get(c.id, ())) for c in problem.classes}
    for node_class, _ in group.members:
        counts[node_class.id] -= 1
    for node_class, _ in opened:
        counts[node_class.id] += 1
    return limits.hold(counts)


def _apply(packing: Packing, group: _Group, opened) -> None:
    gone = {id(node) for _, node in group.members}
    for node_class in group.classes:
        if node_class.id in packing.nodes:
            packing.nodes[node_class.id] = [n for n in packing.nodes[node_class.id] if id(n) not in gone]
    for node_class, node in opened:
        packing.nodes.setdefault(node_class.id, []).append(node)
    for class_id in [c for c in packing.nodes if not packing.nodes[c]]:
        del packing.nodes[class_id]
    packing._room.clear()
