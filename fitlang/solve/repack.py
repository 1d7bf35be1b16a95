"""Exact repacking a few nodes at a time: the replicas on a group of open nodes, with empty
nodes beside them, placed again node by node by a small integer program, so that what the
greedy pass and the local search leave unused between nodes is recovered exactly.

A step works inside one *domain group*: the classes alike in every domain a rule counts
(zones, regions and the labels a spread or affinity names, the reach of every latency rule,
the Kubernetes cluster), so a replica that moves between them keeps every spread, affinity,
gang and latency count. Of the group's open nodes it takes a few, frees the replicas of the
workloads that may move (not those `improve.unmovable` names, nor exclusive ones: what stays
is fixed load, and its node stays open), and offers beside them empty nodes of the group's
classes, cheapest for their capacity first. The program: each freed replica on one node of
a class it is eligible for, within each node's room per resource and the per-node limit,
workloads kept apart on a node never together; the nodes it uses cost their price (for the
`nodes` objective, one each). HiGHS solves it from the current placement, so it is never
worse; the answer is checked again in whole numbers and kept when it costs less and keeps
the buy limits, the budget and the power caps.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, node_limit
from fitlang.solve.backends import _native_stdout_silenced
from fitlang.solve.clock import highs_limited
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.improve import unmovable
from fitlang.solve.pack import NodeState, Packing, _apart_on_nodes, _unused_names

GROUP_NODES = 12  # open nodes a step frees
SPARE_CLASSES = 4  # classes of the group that offer empty nodes
SPARE_PER_CLASS = 3  # empty nodes each of them offers
STEP_SECONDS = 1.0  # the most one step's program may take
LEAST_STEP_SECONDS = 0.2  # a step with less time left is not started
# steps in a row that keep nothing before repacking gives up. Measured for 25 s from the
# floor at 10,000 nodes (quiet machine): inventory 35 steps, 12 kept, at most 7 idle in a
# row (585.27 -> 581.05); bench 134 steps of ~0.2 s, 15 kept, up to 27 idle in a row, for
# 0.06% (9715.72 -> 9709.67). Without a limit, repacking after bench's model took its whole
# share: 16-17 s of a 30 s limit at 1,000 and 10,000 nodes, against 1.3 and 4.9 s before
PATIENCE = 12


@dataclass
class _Slot:
    """A node of a step: open (`node` set) or empty (a name not in use yet)."""

    node_class: NodeClass
    name: str
    node: NodeState | None
    room: np.ndarray  # its capacity less what stays on it
    stays: dict[str, int] = field(default_factory=dict)

    @property
    def pinned(self) -> bool:  # what stays keeps it open whatever the step does
        return bool(self.stays)


def repack(problem: Problem, packing: Packing, objective: str, deadline: float,
           seed: int = 0) -> int:
    """Repack node groups of `packing` in place until the deadline (or PATIENCE steps in a
    row keep nothing); how many steps it kept."""
    if not packing.complete or objective not in ("cost", "nodes"):
        return 0
    search = _Repacker(problem, packing, objective, random.Random(seed))
    kept = idle = 0
    while deadline - time.monotonic() > LEAST_STEP_SECONDS and idle < PATIENCE:
        slots = search.choose()
        if slots is None:
            break
        if search.step(slots, min(deadline, time.monotonic() + STEP_SECONDS)):
            kept, idle = kept + 1, 0
        else:
            idle += 1
    return kept


def place_short(problem: Problem, packing: Packing, objective: str, deadline: float) -> int:
    """Place what packing left short, one short workload and class at a time: the open nodes
    of the class's domain group that the workload may use (the emptiest first), with empty
    nodes beside them, solved again with the short replicas among the freed ones, every
    replica placed; kept whatever it costs (a placement short of nothing beats one short of
    a replica). How many replicas it placed.

    Where the aggregate model's counts do not pack (a workload's share of a class more than
    its nodes take once the others are on them: inventory 300, seed 3, a service of 4 CPUs
    sent 3 replicas to a class of three 7.9-CPU nodes that also host four other services),
    the model is solved again with more nodes required, and each round packs dearer: 20.70
    (the optimum) -> 22.42 -> ... -> 30.85, then 25.96 after the polish. One replica short
    is usually a few moves on the class's nodes."""
    if objective not in ("cost", "nodes"):
        return 0
    search = _Repacker(problem, packing, objective, random.Random(0))
    placed = 0
    for (workload, class_id), short in sorted(packing.short_by_workload.items()):
        if deadline - time.monotonic() <= LEAST_STEP_SECONDS:
            break
        if workload in search.stay:
            # the program knows no node affinity nor exclusivity: it put a replica that must
            # join another workload's node on a node of its own (then called optimal)
            continue
        if short and search.complete_step(workload, class_id, short, deadline):
            placed += short
    return placed


class _Repacker:
    def __init__(self, problem: Problem, packing: Packing, objective: str, rng: random.Random) -> None:
        self.problem, self.packing, self.objective, self.rng = problem, packing, objective, rng
        self.apart, self.exclusive = _apart_on_nodes(problem)
        self.stay = unmovable(problem) | self.exclusive
        self.requests = {d.name: np.array([d.requests[r] for r in RESOURCES], dtype=np.int64)
                         for d in problem.demands}
        self.eligible: dict[int, frozenset[str]] = {}  # by the eligible list's identity
        self.group_of = _domain_groups(problem)
        self.limited = bool(problem.buy_limits or problem.budget is not None or problem.power_caps)

    def price(self, node_class: NodeClass) -> float:
        return 1.0 if self.objective == "nodes" else float(node_class.price)

    def may_use(self, demand: Demand, node_class: NodeClass) -> bool:
        found = self.eligible.get(id(demand.eligible))
        if found is None:
            found = self.eligible[id(demand.eligible)] = frozenset(demand.eligible)
        return node_class.id in found

    # ---- choosing a step -------------------------------------------------------------

    def choose(self) -> list[_Slot] | None:
        """The slots of one step: open nodes of a group chosen by what its nodes cost, and
        empty nodes of its classes; None when no group has a node worth freeing."""
        groups: dict[int, list[tuple[NodeClass, NodeState]]] = {}
        for node_class in self.problem.classes:
            if self.price(node_class) <= 0:
                continue
            for node in self.packing.nodes.get(node_class.id, ()):
                # a node with something to free and no exclusive workload (nothing joins it)
                if node.hosted.keys() - self.stay and not node.hosted.keys() & self.exclusive:
                    groups.setdefault(self.group_of[node_class.id], []).append((node_class, node))
        if not groups:
            return None
        keys = sorted(groups)
        spend = [sum(self.price(c) for c, _ in groups[k]) for k in keys]
        group = self.rng.choices(keys, weights=spend)[0]
        members = groups[group]
        if len(members) > GROUP_NODES:
            members = self._some(members)
        slots = [self._open_slot(c, n) for c, n in members]
        freed = {name for (_, node), slot in zip(members, slots) for name in node.hosted
                 if name not in slot.stays}
        return slots + self._spare_slots(group, freed)

    def _some(self, members: list[tuple[NodeClass, NodeState]]) -> list[tuple[NodeClass, NodeState]]:
        """GROUP_NODES of a group's open nodes: drawn at random, the emptier the likelier
        (an empty share of 0.5 is drawn ten times as readily as one of 0.05)."""
        keys = []
        for node_class, node in members:
            capacity = node_class.capacity_of(node.name)
            empty = max((node.free[r] / capacity[r] for r in RESOURCES if capacity[r]), default=0.0)
            keys.append(self.rng.random() ** (1.0 / max(empty, 0.01)))
        order = sorted(range(len(members)), key=lambda i: -keys[i])
        return [members[i] for i in order[:GROUP_NODES]]

    def _open_slot(self, node_class: NodeClass, node: NodeState) -> _Slot:
        capacity = node_class.capacity_of(node.name)
        room = np.array([capacity[r] for r in RESOURCES], dtype=np.int64)
        stays = {name: amount for name, amount in node.hosted.items() if name in self.stay and amount}
        for name, amount in stays.items():
            room -= self.requests[name] * amount
        return _Slot(node_class, node.name, node, room, stays)

    def _spare_slots(self, group: int, freed: set[str]) -> list[_Slot]:
        demands = [self.problem.demand(name) for name in sorted(freed)]
        classes = [c for c in self.problem.classes if self.group_of[c.id] == group
                   and any(self.may_use(d, c) for d in demands)]
        classes.sort(key=lambda c: (self.price(c) / max(c.capacity["cpu"], 1), c.id))
        slots = []
        for node_class in classes[:SPARE_CLASSES]:
            names = _unused_names(node_class, self.packing.nodes.get(node_class.id, []))
            for name in itertools.islice(names, SPARE_PER_CLASS):
                capacity = node_class.capacity_of(name)
                slots.append(_Slot(node_class, name, None,
                                   np.array([capacity[r] for r in RESOURCES], dtype=np.int64)))
        return slots

    # ---- completing a packing short of replicas ----------------------------------------

    def complete_step(self, workload: str, class_id: str, short: int, deadline: float) -> bool:
        """The `short` replicas of `workload` that packing left out of `class_id`, placed in
        the class's domain group with the movable replicas of its open nodes freed beside
        them; applied (and the packing's short counts lowered) where every one is placed."""
        demand = self.problem.demand(workload)
        group = self.group_of[class_id]
        members = [(c, n) for c in self.problem.classes
                   if self.group_of[c.id] == group and self.may_use(demand, c)
                   for n in self.packing.nodes.get(c.id, ())
                   if not n.hosted.keys() & self.exclusive]
        members.sort(key=lambda member: -sum(member[1].free.values()))
        slots = [self._open_slot(c, n) for c, n in members[:GROUP_NODES]]
        freed = {name for slot in slots if slot.node is not None for name in slot.node.hosted
                 if name not in slot.stays} | {workload}
        slots += self._spare_slots(group, freed)
        moved = _freed(slots)
        moved[workload] = moved.get(workload, 0) + short
        assignment = _Program(self, slots, moved).solve(min(deadline, time.monotonic() + STEP_SECONDS))
        if assignment is None or not self._holds(slots, moved, assignment):
            return False
        if not self._within_limits(slots, _used(slots, assignment)):
            return False
        self._apply(slots, assignment)
        self._no_longer_short(workload, class_id, short)
        return True

    def _no_longer_short(self, workload: str, class_id: str, placed: int) -> None:
        packing = self.packing
        packing.short_by_workload[workload, class_id] -= placed
        if not packing.short_by_workload[workload, class_id]:
            del packing.short_by_workload[workload, class_id]
        packing.short[class_id] -= placed
        if not packing.short[class_id]:
            del packing.short[class_id]

    # ---- one step --------------------------------------------------------------------

    def step(self, slots: list[_Slot], deadline: float) -> bool:
        """Solve the step's program; apply its answer when it is cheaper. Whether it was."""
        freed = _freed(slots)
        if not freed:
            return False
        program = _Program(self, slots, freed)
        assignment = program.solve(deadline)
        if assignment is None or not self._holds(slots, freed, assignment):
            return False
        before = sum(self.price(s.node_class) for s in slots if s.node is not None)
        used = _used(slots, assignment)
        after = sum(self.price(slots[i].node_class) for i in used)
        if after >= before - 1e-9 or not self._within_limits(slots, used):
            return False
        self._apply(slots, assignment)
        return True

    def _holds(self, slots: list[_Slot], freed: dict[str, int],
               assignment: dict[int, dict[str, int]]) -> bool:
        """The answer checked in whole numbers: every freed replica placed, each node within
        its room and limits, workloads kept apart on a node apart."""
        placed: dict[str, int] = {}
        for index, hosted in assignment.items():
            slot = slots[index]
            load = np.zeros(len(RESOURCES), dtype=np.int64)
            for name, amount in hosted.items():
                demand = self.problem.demand(name)
                if amount > node_limit(demand, slot.node_class) or not self.may_use(demand, slot.node_class):
                    return False
                if self.apart.get(name, set()) & (hosted.keys() | slot.stays.keys()):
                    return False
                load += self.requests[name] * amount
                placed[name] = placed.get(name, 0) + amount
            if (load > slot.room).any():
                return False
        return placed == freed

    def _within_limits(self, slots: list[_Slot], used: set[int]) -> bool:
        if not self.limited:
            return True
        from fitlang.solve.aggregate import within_limits  # aggregate runs this module

        counts = {c.id: len(self.packing.nodes.get(c.id, ())) for c in self.problem.classes}
        for index, slot in enumerate(slots):
            counts[slot.node_class.id] += (index in used) - (slot.node is not None)
        return within_limits(self.problem, counts)

    def _apply(self, slots: list[_Slot], assignment: dict[int, dict[str, int]]) -> None:
        touched = set()
        for index, slot in enumerate(slots):
            hosted = dict(slot.stays)
            for name, amount in assignment.get(index, {}).items():
                hosted[name] = hosted.get(name, 0) + amount
            if slot.node is None and not hosted:
                continue
            free = slot.node_class.capacity_of(slot.name)
            free = {r: free[r] - sum(int(self.requests[n][k]) * a for n, a in hosted.items())
                    for k, r in enumerate(RESOURCES)}
            if slot.node is None:
                opened = NodeState(slot.name, free, hosted)
                self.packing.nodes.setdefault(slot.node_class.id, []).append(opened)
            else:
                slot.node.hosted, slot.node.free = hosted, free
            touched.add(slot.node_class.id)
        for class_id in touched:
            self.packing.nodes[class_id] = [n for n in self.packing.nodes[class_id] if n.hosted]
        self.packing._room.clear()


def _freed(slots: list[_Slot]) -> dict[str, int]:
    """The replicas a step frees: what its open slots host, less what stays there."""
    freed: dict[str, int] = {}
    for slot in slots:
        if slot.node is not None:
            for name, amount in slot.node.hosted.items():
                if name not in slot.stays and amount:
                    freed[name] = freed.get(name, 0) + amount
    return freed


def _used(slots: list[_Slot], assignment: dict[int, dict[str, int]]) -> set[int]:
    """The slots a step's answer keeps open: those it puts replicas on, and the pinned."""
    return {i for i, hosted in assignment.items() if hosted} | {i for i, s in enumerate(slots) if s.pinned}


class _Program:
    """The step's integer program in HiGHS: x (replicas of a freed workload on a slot),
    open (a slot in use), apart (a workload kept apart from another is on a slot)."""

    def __init__(self, search: _Repacker, slots: list[_Slot], freed: dict[str, int],
                 unplaced_cost: float | None = None, most_columns: int | None = None) -> None:
        """`unplaced_cost`: where set, a replica may be left out at this cost (a column per
        workload, `unplaced`), so that counts that do not pack place as many as they can.
        `most_columns`: where set, the columns stop being listed past it (`too_large`), for a
        caller that would not solve so large a program: listing them is a test per (workload,
        node), 0.7 CPU s for a group of bench 4,000 that was then not solved."""
        self.search, self.slots, self.freed = search, slots, freed
        self.too_large = False
        self.unplaced_cost = unplaced_cost
        self.unplaced: dict[str, int] = {}  # workload -> its column of replicas left out
        self.x: list[tuple[str, int]] = []  # (workload, slot) per x column
        for name in sorted(freed):
            demand = search.problem.demand(name)
            apart = search.apart.get(name, set())
            for index, slot in enumerate(slots):
                if search.may_use(demand, slot.node_class) and not apart & slot.stays.keys() \
                        and node_limit(demand, slot.node_class) > 0 \
                        and (search.requests[name] <= slot.room).all():
                    self.x.append((name, index))
                    if most_columns is not None and len(self.x) > most_columns:
                        self.too_large = True
                        return

    def solve(self, deadline: float) -> dict[int, dict[str, int]] | None:
        import highspy

        left = deadline - time.monotonic()
        if left <= 0 or not self.x:
            return None
        with _native_stdout_silenced():  # HiGHS's banner, printed by the first one made
            highs = quiet_highs()
        highs_limited(highs, deadline)
        highs.setOptionValue("mip_rel_gap", 1e-6)
        search, slots = self.search, self.slots
        columns = len(self.x)
        lower = np.zeros(columns + len(slots))
        upper = np.array([min(self.freed[name], node_limit(search.problem.demand(name), slots[i].node_class))
                          for name, i in self.x] + [1.0] * len(slots), dtype=float)
        lower[columns:] = [1.0 if s.pinned else 0.0 for s in slots]
        cost = np.concatenate([np.zeros(columns),
                               [0.0 if s.pinned else search.price(s.node_class) for s in slots]])
        highs.addVars(len(cost), lower, upper)
        highs.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), cost)
        highs.changeColsIntegrality(len(cost), np.arange(len(cost), dtype=np.int32),
                                    np.full(len(cost), highspy.HighsVarType.kInteger))
        if self.unplaced_cost is not None:
            self._unplaced_columns(highs)
        self.flags: dict[tuple[str, int], int] = {}  # (workload, slot) -> its apart flag
        self._rows(highs, columns)
        highs.setSolution(self._start(highs, columns))
        with _native_stdout_silenced():
            highs.run()
        values = highs.getSolution().col_value
        if highs.getInfo().primal_solution_status != 2 or not len(values):  # 2: feasible
            return None
        assignment: dict[int, dict[str, int]] = {}
        for column, (name, index) in enumerate(self.x):
            amount = round(float(values[column]))
            if amount:
                assignment.setdefault(index, {})[name] = amount
        return assignment

    def _rows(self, highs, columns: int) -> None:
        inf = highspy_inf()
        by_name: dict[str, list[int]] = {}
        by_slot: dict[int, list[int]] = {}
        for column, (name, index) in enumerate(self.x):
            by_name.setdefault(name, []).append(column)
            by_slot.setdefault(index, []).append(column)
        for name in sorted(self.freed):  # every freed replica placed (or left out, at its cost)
            amount = float(self.freed[name])
            cols = by_name.get(name, []) + ([self.unplaced[name]] if name in self.unplaced else [])
            if not cols:
                continue  # nowhere to go: `_holds` finds it missing
            highs.addRow(amount, amount, len(cols), np.array(cols, dtype=np.int32), np.ones(len(cols)))
        requests = self.search.requests
        for index, cols in by_slot.items():
            slot = self.slots[index]
            open_column = columns + index
            for r in range(len(RESOURCES)):
                need = np.array([requests[self.x[c][0]][r] for c in cols], dtype=float)
                if not need.any():
                    continue
                scale = float(max(slot.room[r], 1))
                highs.addRow(-inf, 0.0, len(cols) + 1, np.array(cols + [open_column], dtype=np.int32),
                             np.concatenate([need / scale, [-float(slot.room[r]) / scale]]))
            self._apart_rows(highs, index, cols)
            if not slot.pinned:  # nothing on a slot that is not open
                for c in cols:
                    highs.addRow(-inf, 0.0, 2, np.array([c, open_column], dtype=np.int32),
                                 np.array([1.0, -float(self.freed[self.x[c][0]])]))

    def _unplaced_columns(self, highs) -> None:
        import highspy

        for name in sorted(self.freed):
            highs.addVar(0.0, float(self.freed[name]))
            column = self.unplaced[name] = highs.getNumCol() - 1
            highs.changeColsCost(1, np.array([column], dtype=np.int32), np.array([self.unplaced_cost]))
            highs.changeColsIntegrality(1, np.array([column], dtype=np.int32),
                                        np.array([highspy.HighsVarType.kInteger]))

    def _apart_rows(self, highs, index: int, cols: list[int]) -> None:
        """Workloads kept apart on a node: a binary per such workload on the slot, at most
        one of each pair."""
        import highspy

        apart = self.search.apart
        on: dict[str, int] = {}
        for c in cols:
            name = self.x[c][0]
            if apart.get(name, set()) & {self.x[o][0] for o in cols}:
                highs.addVar(0.0, 1.0)
                flag = highs.getNumCol() - 1
                highs.changeColsIntegrality(1, np.array([flag], dtype=np.int32),
                                            np.array([highspy.HighsVarType.kInteger]))
                highs.addRow(-highspy_inf(), 0.0, 2, np.array([c, flag], dtype=np.int32),
                             np.array([1.0, -float(self.freed[name])]))
                on[name] = self.flags[name, index] = flag
        for name, flag in on.items():
            # (by name: a row order taken from the set's would be another in each process, and
            # HiGHS then answers another of the programs' equally cheap packings)
            for other in sorted(apart.get(name, ())):
                if other in on and name < other:
                    highs.addRow(-highspy_inf(), 1.0, 2, np.array([flag, on[other]], dtype=np.int32),
                                 np.array([1.0, 1.0]))

    def _start(self, highs, columns: int):
        """The current placement as the program's start."""
        import highspy

        where = {(name, i): amount for i, slot in enumerate(self.slots) if slot.node is not None
                 for name, amount in slot.node.hosted.items() if name not in slot.stays}
        values = np.zeros(highs.getNumCol())
        for column, key in enumerate(self.x):
            values[column] = where.get(key, 0)
        for i, slot in enumerate(self.slots):
            values[columns + i] = 1.0 if slot.node is not None else 0.0
        for key, column in self.flags.items():
            values[column] = 1.0 if where.get(key, 0) else 0.0
        solution = highspy.HighsSolution()
        solution.col_value = list(values)
        solution.value_valid = True
        return solution


def highspy_inf() -> float:
    import highspy

    return highspy.kHighsInf


def _domain_groups(problem: Problem) -> dict[str, int]:
    """Class id -> its domain group: classes alike in every domain some rule counts in."""
    topologies = sorted({s.topology for d in problem.demands for s in d.spreads}
                        | {r.topology for d in problem.demands for r in d.affinities} - {"node"})
    rules = sorted({(r.location, r.limit_ms) for d in problem.demands for r in d.latency}, key=str)
    by_rule = {rule: next(r for d in problem.demands for r in d.latency if (r.location, r.limit_ms) == rule)
               for rule in rules}
    numbers: dict[tuple, int] = {}
    group = {}
    for node_class in problem.classes:
        key = (tuple(node_class.topology_value(t) for t in topologies),
               tuple(problem.within_reach(by_rule[rule], node_class) for rule in rules),
               node_class.cluster)
        group[node_class.id] = numbers.setdefault(key, len(numbers))
    return group
