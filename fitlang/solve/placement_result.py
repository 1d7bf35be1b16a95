"""What `solve` returns, a `Placement`, and how a per-node packing becomes one: its
assignments, what is left out and why, and the value of what was packed."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve.linear import Status
from fitlang.solve.make_room import dropped_whole
from fitlang.solve.pack import Packing

UNITS = {"cost": "USD/h", "nodes": "nodes", "preferences": "points"}
# a placement is `optimal` when its objective is within this share of the proven lower bound;
# otherwise it is `feasible`, with its gap (both are stated in the text and JSON reports)
OPTIMALITY_TOLERANCE = 1e-3


@dataclass
class Assignment:
    workload: str
    replica: int
    node: str


@dataclass
class Unplaced:
    workload: str
    replica: int
    reason: str


@dataclass(frozen=True)
class PlacementStatus:
    """What a model's solve says of the placement made from it: its status, and `partial`
    when the model showed that not every replica can be placed (then leaving some out is no
    shortfall of the search)."""

    status: Status
    partial: bool = False


FEASIBLE = PlacementStatus(Status.FEASIBLE)
# a greedy floor's: not every replica may fit, and what is left out is said why
FEASIBLE_PARTIAL = PlacementStatus(Status.FEASIBLE, partial=True)


@dataclass
class Placement:
    status: Status
    objective: str
    value: Fraction | None
    bound: Fraction | None
    assignments: list[Assignment] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    bought: dict[str, list[str]] = field(default_factory=dict)  # class id -> node names bought
    backend: str = ""
    seconds: float = 0.0
    # the solver proved that no placement meets every hard rule (not merely found none in time)
    proven_infeasible: bool = False
    tolerance: float = OPTIMALITY_TOLERANCE
    # nodes read from Slurm that the answer overfills in whole cores per job, where moving
    # replicas off them could not repair it (`whole_cores.py`): the driver says so, in Slurm's terms
    overfull: list[str] = field(default_factory=list)
    over_pods: bool = False  # ... some of them over the pods their kubelet admits
    repair_cut: bool = False  # ... the time limit ended the moves off them before they were all tried
    # a bound still being proven beside the move, past its end (`model_bound_beside`): the
    # plan collects it after its waves (`raised_by_later_bound`)
    later_bound: Any = None
    # a move's value and bound count every replica moved, as the plan states them; else (a
    # model's) they leave out the constant `rules/moves.py` drops (`moving.dropped_constant`)
    moves_counted: bool = False

    @property
    def unit(self) -> str:
        return UNITS.get(self.objective, "")

    @property
    def gap(self) -> float | None:
        """(value - bound) / |value|: how far the proven lower bound may be below the value."""
        if self.value is None or self.bound is None:
            return None
        # (a value of 0 under a bound rounded down below it, -1e-9: the gap in its own units,
        # not a division by 0; a plan past 48 nodes whose end costs nothing crashed so)
        return 0.0 if self.value == self.bound else float((self.value - self.bound) / (abs(self.value) or 1))


def _from_packing(problem: Problem, packing: Packing, objective: str, model_status: PlacementStatus,
                  bound: Fraction | None) -> Placement:
    """The per-node placement a packing makes; the status is `partial` when not every
    replica can be placed (then leaving some out is no shortfall of the search)."""
    everything_fits = not model_status.partial
    placement = Placement(model_status.status, objective, None, bound)
    next_replica: dict[str, int] = {d.name: 0 for d in problem.demands}
    broken_gangs = dropped_whole(problem, packing)
    order = {d.name: i for i, d in enumerate(problem.demands)}
    for node_class in problem.classes:
        for node in packing.nodes.get(node_class.id, []):
            for name in sorted(node.hosted, key=order.__getitem__):
                if name in broken_gangs:
                    continue  # all replicas or none
                for _ in range(node.hosted[name]):
                    placement.assignments.append(Assignment(name, next_replica[name], node.name))
                    next_replica[name] += 1
        if node_class.provisioned and packing.nodes.get(node_class.id):
            placement.bought[node_class.id] = [n.name for n in packing.nodes[node_class.id]]
    short = {workload for workload, _ in packing.short_by_workload} | broken_gangs
    placement.value = _packed_value(problem, packing, objective, broken_gangs)
    took_room, capped = _took_room(problem, packing, placement.value), _capped(problem, packing)
    room: _Room | None = None  # made at the first demand left out: most answers have none
    for demand in problem.demands:
        if demand.group is not None or next_replica[demand.name] >= demand.replicas:
            continue
        full = capped(demand)
        reason = _why_unplaced(problem, demand, took_room(demand), full)
        room = room or _Room(problem, packing)
        if not demand.gang and room.for_one(demand, opening=not full) \
                and not _over_budget(problem, placement.value, demand):
            reason = ("not for want of room: nodes it may use have room for one, but none found "
                      "beside what is placed meets every rule it states (`fitc explain` says which)")
        if everything_fits and demand.name in short:
            reason = ("not packed onto nodes: the class-level model fits every replica, but packing "
                      "them node by node fell short (neither placement nor conflict proven)")
        for replica in range(next_replica[demand.name], demand.replicas):
            placement.unplaced.append(Unplaced(demand.name, replica, reason))
    placement.unplaced += unmet_options(problem, next_replica)
    if placement.unplaced and everything_fits:
        placement.status = Status.UNKNOWN  # the best found so far, short of what is possible
    elif not packing.complete:
        placement.status = Status.FEASIBLE
    return placement


class _Room:
    """The free room of every open node, one row a node, and its class's index: made once for
    the replicas left out (`hpc_queue.py` leaves thousands of jobs out on 10,000 nodes)."""

    def __init__(self, problem: Problem, packing: Packing) -> None:
        self.problem, self.packing = problem, packing
        self.index = {c.id: i for i, c in enumerate(problem.classes)}
        nodes = [(self.index[c], n) for c, opened in packing.nodes.items() for n in opened]
        self.free = np.array([[n.free.get(r, 0) for r in RESOURCES] for _, n in nodes],
                             dtype=np.int64).reshape(len(nodes), len(RESOURCES))
        self.of_class = np.array([i for i, _ in nodes], dtype=np.int64)

    def for_one(self, demand, opening: bool) -> bool:
        """Whether one replica of `demand` fits a node it may use beside what is packed: free
        room on an open node, or (`opening`: no power cap is full) a node of its classes not
        opened yet. Where one does, what keeps it out is a rule (a latency, spread or affinity
        rule no node with room meets), not capacity: "capacity is taken by higher-priority
        work" sent a user after capacity where a service's latency rule could not be met
        (session 50, h50c's held-out cloud_buy 100 seed 102)."""
        need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
        for class_id in demand.eligible:
            node_class = self.problem.node_class(class_id)
            if opening and self.packing.opened(class_id) < node_class.count \
                    and all(need[i] <= node_class.capacity[r] for i, r in enumerate(RESOURCES)):
                return True
        if not len(self.free):
            return False
        eligible = np.isin(self.of_class, [self.index[c] for c in demand.eligible])
        return bool((self.free[eligible] >= need).all(axis=1).any())


def _over_budget(problem: Problem, value: Fraction | None, demand) -> bool:
    """Whether a budget would be broken by one more of the cheapest node `demand` may use."""
    if problem.budget is None:
        return False
    cheapest = min((problem.node_class(c).price for c in demand.eligible), default=Fraction(0))
    return value is None or problem.objective[0] != "cost" or value + cheapest > problem.budget


def _packed_value(problem: Problem, packing: Packing, objective: str,
                  dropped: AbstractSet[str] = frozenset()) -> Fraction | None:
    """Cost or nodes of what was packed; None for an objective the nodes alone do not give.
    Nodes in use as `verify` counts them: a bought node, or one hosting a replica of a
    workload not left out whole (`dropped`); a node the completion stages emptied is not
    (random fleet seed 82: 189 emptied nodes stated 454.75 USD/h where the nodes give 241.25)."""
    def in_use(node_class: NodeClass) -> int:
        nodes = packing.nodes.get(node_class.id, [])
        if node_class.provisioned:
            return len(nodes)  # every node of a bought class is listed as bought
        return sum(1 for node in nodes if any(amount for name, amount in node.hosted.items()
                                              if name not in dropped))

    if objective == "cost":
        return sum((c.price * in_use(c) for c in problem.classes), Fraction(0))
    if objective == "nodes":
        return Fraction(sum(in_use(c) for c in problem.classes))
    return None


def unmet_options(problem: Problem, placed: dict[str, int]) -> list[Unplaced]:
    """An option group short of its throughput places nothing (the solver and the packer see
    to it); it is reported as the replicas of its first option, with every option named."""
    unplaced = []
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        delivered = sum((d.throughput * placed.get(d.name, 0) for d in members), Fraction(0))
        if delivered >= group.required:
            continue
        options = "; ".join(f"{d.option} x{d.replicas}: {_why_unplaced(problem, d)}"
                            for d in members)
        reason = f"none of its options could be placed whole ({options})"
        unplaced += [Unplaced(members[0].name, replica, reason)
                     for replica in range(members[0].replicas)]
    return unplaced


def _higher_priority(problem: Problem, priority: int) -> list[str]:
    """The names of the workloads above `priority`, sorted; worked out once per problem (per
    workload left out it was a scan of every workload: 1.5 s for a floor the time limit cut
    short at 10,000 inventory nodes)."""
    cached = _HIGHER_PRIORITY.get(problem)
    if cached is None:
        levels = sorted({d.priority for d in problem.demands})
        cached = {level: sorted({d.name for d in problem.demands if d.priority > level}) for level in levels}
        _HIGHER_PRIORITY[problem] = cached
    return cached.get(priority, [])


def _competing(problem: Problem, demand) -> list[str]:
    """Where no placement says who took the room: the workloads above `demand` that may use a
    node class it may use (or one under a power cap over such a class), or any where a budget
    is shared by all."""
    above = _higher_priority(problem, demand.priority)
    if problem.budget is not None or problem.carbon_budget is not None:
        return above
    cached = _COMPETING.setdefault(problem, {})
    key = (demand.priority, id(demand.eligible))  # demands of one eligibility share the list
    if key not in cached:
        reach, names = _reach(problem, demand), set(above)
        sharing = {d.name for d in problem.demands if d.name in names and not reach.isdisjoint(d.eligible)}
        cached[key] = [name for name in above if name in sharing]
    return cached[key]


def _reach(problem: Problem, demand) -> set[str]:
    """The classes whose nodes' use can leave `demand` without room: those it may use, and
    those under a power cap over one of them."""
    reach = set(demand.eligible)
    reach.update(*(cap.classes for cap in problem.power_caps if not reach.isdisjoint(cap.classes)))
    return reach


def _took_room(problem: Problem, packing: Packing, value: Fraction | None) -> Callable[[object], set[str]]:
    """Per demand left out, the workloads the packing placed where they took its room: on the
    classes of its reach, or anywhere when a budget binds (what is placed and the cheapest
    node it may use cost more than the budget). A workload above it on nodes it may not use
    took nothing from it (a residency rule kept `chat` off the pool `batch` filled: naming
    `batch` sent the user the wrong way)."""
    hosted: dict[str, set[str]] = {}  # made at the first demand left out: most answers have none
    found: dict[int, set[str]] = {}  # by the eligible list's identity: demands share it

    def took(demand) -> set[str]:
        if not hosted:
            hosted.update({class_id: {name for node in nodes for name, n in node.hosted.items() if n}
                           for class_id, nodes in packing.nodes.items()})
        key = id(demand.eligible)
        if key not in found:
            if _over_budget(problem, value, demand):
                found[key] = set().union(*hosted.values())
            else:
                found[key] = set().union(*(hosted.get(c, set()) for c in _reach(problem, demand)))
        return found[key]
    return took


def _capped(problem: Problem, packing: Packing) -> Callable[[object], list[str]]:
    """Per demand left out, the power caps over classes it may use that have no room for one
    more node of those classes: what keeps it out where the nodes themselves have room."""
    powers = {c.id: c.power_watts for c in problem.classes}
    drawn: dict[str, Fraction] = {}  # made at the first demand left out

    def capped(demand) -> list[str]:
        if not problem.power_caps:  # (else counted 10,000 nodes per demand left out: hpc_queue.py)
            return []
        if not drawn:
            in_use = {c: sum(1 for node in nodes if node.hosted) for c, nodes in packing.nodes.items()}
            drawn.update({cap.name: sum((powers[c] * in_use.get(c, 0) for c in cap.classes), Fraction(0))
                          for cap in problem.power_caps})
        eligible = set(demand.eligible)
        return [cap.name for cap in problem.power_caps
                if not eligible.isdisjoint(cap.classes)
                and drawn[cap.name] + min(powers[c] for c in eligible.intersection(cap.classes))
                > cap.cap_watts]
    return capped


# per problem (a frozen Problem is hashed as itself), for as long as the problem lives
_HIGHER_PRIORITY: weakref.WeakKeyDictionary[Problem, dict[int, list[str]]] = \
    weakref.WeakKeyDictionary()
_COMPETING: weakref.WeakKeyDictionary[Problem, dict[tuple[int, int], list[str]]] = weakref.WeakKeyDictionary()


def _why_unplaced(problem: Problem, demand, took: set[str] | None = None, capped: Sequence[str] = ()) -> str:
    """Why `demand`'s replicas are left out; where the placement is known, `took` the workloads
    placed where they took its room (only those are named) and `capped` the power caps full."""
    if not demand.eligible:
        return "no node meets its rules"
    if took is None:
        higher = _competing(problem, demand)
    else:
        higher = [name for name in _higher_priority(problem, demand.priority) if name in took]
    shown = ", ".join(higher[:5]) + (f" and {len(higher) - 5} more" if len(higher) > 5 else "")
    if demand.gang:
        return "its gang does not fit whole" + (f" beside higher-priority {shown}" if higher else "")
    if higher:
        return f"capacity is taken by higher-priority work ({shown})"
    if capped:
        caps = ", ".join(f"`{name}`" for name in capped)
        return f"the power cap {caps} has no room for another node it may use"
    return "not enough capacity on the nodes it may use"
