"""A tie-break among schedules of equal value: `prefer` rules with a horizon (issue 19).

Without a horizon the weights of the `prefer` rules met break the ties the objectives leave
(docs/language.md). The time model does not count them, so with a horizon a job went to the
first nodes of the cheapest price, met or not, and the report said "meeting it would cost
+0.00". So after the solve each replica of a workload with preferences, on a node that earns
less than another would, moves to a node of a class that earns more where that node is in
use at every step the replica runs and has room for it at each of them. A node in use is
priced, draws its power and emits whatever runs on it, so the move adds nothing to any
objective, budget or power cap; the node it leaves may fall idle, which only lowers them. The
moves are kept only where every objective is at most what it was (recounted over the horizon,
as fractions) and `verify`, the independent check, finds nothing.

Only workloads no rule ties to other replicas move: no spread, affinity, gang, latency,
`exclusive`, options, recurring runs (whose nodes a CronJob reads) or segments, and none that
another workload's affinity names. Nodes Slurm allocates are not moved onto: a replica added
to a job there is counted in whole cores per job, which the room checked here is not.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.solve.held_room import is_held
from fitlang.solve.linear import Status
from fitlang.solve.placement_result import OPTIMALITY_TOLERANCE
from fitlang.solve.timeline_align import verified

if TYPE_CHECKING:  # timeline.py imports this module
    from fitlang.solve.timeline import TimedAssignment, TimedPlacement

# what the `verify` of a schedule takes per assignment (timeline_align's measure, rounded up)
VERIFY_SECONDS_PER_ASSIGNMENT = 2e-4


def preferred(problem: Problem, placement: TimedPlacement, objectives: list[str],
              deadline: float | None = None) -> TimedPlacement:
    """`placement` with replicas moved onto the nodes their preferences earn more on, where
    that is a tie; nothing is tried where the check would end past `deadline`."""
    movable = [d for d in problem.demands if d.preference and _free_to_move(problem, d)]
    if problem.timeline is None or placement.unplaced or not movable:
        return placement
    if deadline is not None and \
            time.monotonic() + VERIFY_SECONDS_PER_ASSIGNMENT * len(placement.assignments) > deadline:
        return placement
    ledger = _Ledger(problem, placement.assignments)
    names = {d.name for d in movable}
    # the exchanges stop where what is left would not hold the check at the end
    stop = None if deadline is None else \
        deadline - VERIFY_SECONDS_PER_ASSIGNMENT * len(placement.assignments)
    swapped = ledger.swapped(placement.assignments, names, stop)
    moved = [ledger.best_spot(a, problem.demand(a.workload)) if a.workload in names else a
             for a in swapped]
    if moved == placement.assignments:
        return placement
    trial = dataclasses.replace(placement, assignments=moved)
    if not _no_worse(problem, placement, trial, objectives) or not verified(problem, trial):
        return placement
    from fitlang.solve.timeline import bought_in_time, horizon_value

    value = horizon_value(problem, moved, placement.objective)
    status = placement.status
    if placement.bound is not None and value - placement.bound <= OPTIMALITY_TOLERANCE * abs(value):
        status = Status.OPTIMAL  # (the value can only have fallen: the nodes left may be idle)
    return dataclasses.replace(trial, value=value, status=status, bought=bought_in_time(problem, moved))


def _free_to_move(problem: Problem, demand: Demand) -> bool:
    """Whether moving a replica of `demand` to another node can break no rule but room."""
    if demand.gang or demand.exclusive or demand.affinities or demand.spreads or demand.latency \
            or demand.group is not None or demand.runs or demand.min_segment is not None \
            or is_held(demand.name):
        return False
    return not any(rule.target in (demand.name, demand.workload)
                   for other in problem.demands for rule in other.affinities)


class _Ledger:
    """What runs on each node at each step, kept as replicas move."""

    def __init__(self, problem: Problem, assignments: list[TimedAssignment]) -> None:
        self.problem, self.owners = problem, problem.owners()
        self._load(assignments)

    def _load(self, assignments: list[TimedAssignment]) -> None:
        self.used: dict[tuple[str, int], Counter[str]] = {}
        self.exclusive: set[tuple[str, int]] = set()  # (node, step) an `exclusive` job holds
        self.used_nodes = {a.node for a in assignments}
        for a in assignments:
            self._add(a, self.problem.demand(a.workload), 1)

    def _add(self, a: TimedAssignment, demand: Demand, sign: int) -> None:
        for step in range(a.start, a.end):
            here = self.used.setdefault((a.node, step), Counter())
            here.update({r: sign * demand.requests[r] for r in RESOURCES})
            here["pods"] += sign
            if demand.exclusive:
                self.exclusive.add((a.node, step))

    def swapped(self, assignments: list[TimedAssignment], names: set[str],
                stop: float | None = None) -> list[TimedAssignment]:
        """`assignments` with the work of pairs of nodes exchanged, where the two are priced,
        draw and emit alike at every step, each holds the other's work at every step, all of
        it may move (`names`), and the preferences met gain (the most gain first per node; a
        node swapped once is not swapped again)."""
        on: dict[str, list[TimedAssignment]] = {}
        for a in assignments:
            on.setdefault(a.node, []).append(a)
        on = {node: work for node, work in on.items() if all(a.workload in names for a in work)}
        done: set[str] = set()
        renamed: dict[str, str] = {}
        for node in sorted(on):
            if stop is not None and time.monotonic() > stop:
                break
            if node in done:
                continue
            other = self._partner(node, on, names, done)
            if other is not None:
                done |= {node, other}
                renamed[node], renamed[other] = other, node
        if not renamed:
            return assignments
        exchanged = [dataclasses.replace(a, node=renamed.get(a.node, a.node)) for a in assignments]
        self._load(exchanged)
        return exchanged

    def _partner(self, node: str, on: dict[str, list[TimedAssignment]], names: set[str],
                 done: set[str]) -> str | None:
        """The node whose work `node`'s exchanges with for the most preference gained."""
        here = self.owners[node]
        candidates = {c for a in on[node] for c in self.problem.demand(a.workload).preference}
        best, gained = None, Fraction(0)
        for class_id in sorted(candidates):
            node_class = self.problem.node_class(class_id)
            if node_class is here or not _alike(here, node_class):
                continue
            for other in node_class.node_names[: node_class.count]:
                if other in done or other == node or (other in self.used_nodes and other not in on):
                    continue
                gain = self._gain(on[node], node_class) + self._gain(on.get(other, []), here)
                if gain > gained and self._holds(other, node_class, on[node]) and \
                        self._holds(node, here, on.get(other, [])):
                    best, gained = other, gain
        return best

    def _gain(self, work: list[TimedAssignment], there: NodeClass) -> Fraction:
        """What the preferences of `work` earn more on a node of `there` than where they are."""
        total = Fraction(0)
        for a in work:
            demand = self.problem.demand(a.workload)
            if there.id not in demand.eligible:
                return Fraction(-1)  # (it may not run there at all)
            total += demand.preference.get(there.id, Fraction(0)) - \
                demand.preference.get(self.owners[a.node].id, Fraction(0))
        return total

    def _holds(self, node: str, node_class: NodeClass, work: list[TimedAssignment]) -> bool:
        """Whether a node of the class holds `work` (alone) at every step."""
        if node_class.slurm_allocated:
            return not work
        capacity, pods = node_class.capacity_of(node), node_class.pods_of(node)
        used: dict[int, Counter[str]] = {}
        for a in work:
            requests = self.problem.demand(a.workload).requests
            for step in range(a.start, a.end):
                used.setdefault(step, Counter()).update({r: requests[r] for r in RESOURCES} | {"pods": 1})
        return all(all(there[r] <= capacity[r] for r in RESOURCES) and
                   (pods is None or there["pods"] <= pods) for there in used.values())

    def best_spot(self, a: TimedAssignment, demand: Demand) -> TimedAssignment:
        """`a` on the node that earns its preferences the most, in use and with room at every
        step it runs (`a` where none earns more)."""
        earned = demand.preference.get(self.owners[a.node].id, Fraction(0))
        for class_id, weight in sorted(demand.preference.items(), key=lambda item: (-item[1], item[0])):
            node_class = self.problem.node_class(class_id)
            if weight <= earned or class_id not in demand.eligible or node_class.slurm_allocated:
                continue
            for node in node_class.node_names[: node_class.count]:
                if node != a.node and self._takes(node, node_class, a, demand):
                    self._add(a, demand, -1)
                    moved = dataclasses.replace(a, node=node)
                    self._add(moved, demand, 1)
                    return moved
        return a

    def _takes(self, node: str, node_class: NodeClass, a: TimedAssignment, demand: Demand) -> bool:
        capacity, pods = node_class.capacity_of(node), node_class.pods_of(node)
        for step in range(a.start, a.end):
            here = self.used.get((node, step))
            if not here or here["pods"] <= 0 or (node, step) in self.exclusive:
                return False  # idle then (waking it would cost), or another job keeps it whole
            if any(here[r] + demand.requests[r] > capacity[r] for r in RESOURCES) or \
                    (pods is not None and here["pods"] + 1 > pods):
                return False
        return True


def _no_worse(problem: Problem, placement: TimedPlacement, trial: TimedPlacement,
              objectives: list[str]) -> bool:
    from fitlang.solve.timeline import horizon_value

    return all(horizon_value(problem, trial.assignments, name)
               <= horizon_value(problem, placement.assignments, name) for name in objectives)


def _alike(one: NodeClass, other: NodeClass) -> bool:
    """Whether a node of each costs, draws and emits the same at every step, and is no
    different a thing to buy (neither is bought: a bought node's count is its own)."""
    return not one.provisioned and not other.provisioned and one.price == other.price and \
        one.step_price == other.step_price and one.power_watts == other.power_watts and \
        one.energy_cost == other.energy_cost and one.step_energy_cost == other.step_energy_cost and \
        one.step_carbon == other.step_carbon and one.off_steps == other.off_steps
