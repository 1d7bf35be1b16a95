"""The aggregate model's counts packed exactly, one domain group at a time, where `pack`
falls short of them.

The model counts a class as its largest node and relaxes what a node holds, so its counts
may not pack greedily (`pack`'s order misses an exact fit) or not at all on the class's own
nodes (four replicas over half a node sent to three nodes). Within a *domain group* (the
classes alike in every domain a rule counts: repack.py) a replica may move from one class to
another with every spread, affinity, gang and latency count kept, so the group's counts can
be packed anew on any of the group's nodes: the replicas the model sent to the group, per
workload, placed node by node by repack's integer program (each node its own capacity, the
per-node limits, workloads kept apart and exclusive ones alone), the nodes it opens costing
their price. Its answer is checked again in whole numbers, and kept only where it places
every replica of the group within the buy limits, the budget and the power caps.

Inventory 300 seed 3 (h22a, the lead): the first model's counts are worth the exact optimum
(20.701), `pack` leaves 14 replicas of them out on 4 of the 12 groups, and `repair` then
opens dearer nodes; the groups are 5-30 nodes, 5-22 workloads: programs of a few hundred
columns, solved in tenths of a second.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import time

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve import work
from fitlang.solve.clock import answered, on_the_wall, wall_seconds
from fitlang.solve.improve import unmovable
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.repack import _Program, _Repacker, _Slot, _used

# a group's program is built only where it has at most this many (workload, node) columns
# (inventory 300: at most ~700; a 10,000-node fleet's groups are far over it and keep `pack`)
MAX_COLUMNS = 6_000
GROUP_SECONDS = 1.0  # the most one group's program may take
LEAST_SECONDS = 0.05  # a group with less time left is not started
KILL_GRACE = 0.2  # what the parent waits past a group's limit before it stops the child
# with no user limit, the CPU a group's child may use, in times its seconds: its program stops
# at their node count (work.py), which ends it first where HiGHS's nodes are as fast as counted
COUNTED_CPU_TIMES = 4.0


def packed_by_group(problem: Problem, packing: Packing, counts: dict[tuple[str, str], int],
                    objective: str, deadline: float) -> int:
    """Repack in place, exactly, each domain group of `packing` that is short of `counts`;
    how many replicas it placed beyond what `pack` did. A group is kept as `pack` left it
    where the program finds nothing better in time, is too large, or has a workload tied to
    another's nodes."""
    if objective not in ("cost", "nodes") or packing.complete:
        return 0
    search = _Repacker(problem, packing, objective, random.Random(0))
    search.apart = _with_exclusive(search.apart, search.exclusive, problem)
    tied = unmovable(problem)
    placed = 0
    for group in sorted({search.group_of[class_id] for class_id in packing.short}):
        if deadline - time.monotonic() <= LEAST_SECONDS:
            break
        wanted = _group_counts(search, counts, group)
        if wanted.keys() & tied:
            continue  # node affinities and node spreads: `pack`'s own rules, not the program's
        placed += _repacked_group(search, group, wanted, min(deadline, time.monotonic() + GROUP_SECONDS))
    return placed


def _with_exclusive(apart: dict[str, set[str]], exclusive: set[str],
                    problem: Problem) -> dict[str, set[str]]:
    """Workloads kept apart on a node, with an exclusive workload apart from every other (its
    node hosts nothing else): the program's apart rows then keep it alone."""
    if not exclusive:
        return apart
    names = [d.name for d in problem.demands]
    widened = {name: set(others) for name, others in apart.items()}
    for name in exclusive:
        for other in names:
            if other != name:
                widened.setdefault(name, set()).add(other)
                widened.setdefault(other, set()).add(name)
    return widened


def _group_counts(search: _Repacker, counts: dict[tuple[str, str], int], group: int) -> dict[str, int]:
    """Per workload, the replicas the model sent to the group's classes."""
    wanted: dict[str, int] = {}
    for (workload, class_id), amount in counts.items():
        if amount and search.group_of.get(class_id) == group:
            wanted[workload] = wanted.get(workload, 0) + amount
    return wanted


class _GroupProgram(_Program):
    """Repack's program over every node of a group, all empty, started from `pack`'s
    placement of the group (with what it left out as left out)."""

    def __init__(self, search: _Repacker, slots: list[_Slot], wanted: dict[str, int],
                 unplaced_cost: float, start: dict[tuple[str, int], int]) -> None:
        super().__init__(search, slots, wanted, unplaced_cost, most_columns=MAX_COLUMNS)
        self.where = start

    def _start(self, highs, columns: int):
        import highspy

        values = np.zeros(highs.getNumCol())
        placed: dict[str, int] = {}
        for column, key in enumerate(self.x):
            values[column] = self.where.get(key, 0)
            placed[key[0]] = placed.get(key[0], 0) + int(values[column])
        used = {index for (_, index), amount in self.where.items() if amount}
        for index in used:
            values[columns + index] = 1.0
        for name, column in self.unplaced.items():
            values[column] = self.freed[name] - placed.get(name, 0)
        for (name, index), column in self.flags.items():
            values[column] = 1.0 if self.where.get((name, index), 0) else 0.0
        solution = highspy.HighsSolution()
        solution.col_value = list(values)
        solution.value_valid = True
        return solution


def _repacked_group(search: _Repacker, group: int, wanted: dict[str, int], deadline: float) -> int:
    """The group's replicas placed anew by the program on every node of its classes; applied
    where it leaves fewer out than `pack` did, or as many at a lower cost, within the limits.
    How many more replicas it placed."""
    problem, packing = search.problem, search.packing
    demands = [problem.demand(name) for name in sorted(wanted)]
    group_classes = [c for c in problem.classes if search.group_of[c.id] == group]
    classes = [c for c in group_classes if any(search.may_use(d, c) for d in demands)]
    slots = [_Slot(c, name, None, _capacity(c, name)) for c in classes for name in c.node_names]
    index_of = {(slot.node_class.id, slot.name): i for i, slot in enumerate(slots)}
    start = {(name, index_of[c.id, node.name]): amount for c in classes
             for node in packing.nodes.get(c.id, ()) for name, amount in node.hosted.items()}
    unplaced_cost = 1.0 + sum(search.price(slot.node_class) for slot in slots)
    program = _GroupProgram(search, slots, wanted, unplaced_cost, start)
    if not program.x or program.too_large:
        return 0
    assignment = _solved_apart(program, deadline)
    if assignment is None:
        return 0
    placed: dict[str, int] = {}
    for hosted in assignment.values():
        for name, amount in hosted.items():
            placed[name] = placed.get(name, 0) + amount
    if any(amount > wanted.get(name, 0) for name, amount in placed.items()) \
            or not search._holds(slots, placed, assignment):
        return 0
    ids = {c.id for c in group_classes}
    short_before = sum(packing.short.get(class_id, 0) for class_id in ids)
    short_after = sum(wanted.values()) - sum(placed.values())
    cost_before = sum(search.price(c) * packing.opened(c.id) for c in group_classes)
    used = _used(slots, assignment)
    cost_after = sum(search.price(slots[i].node_class) for i in used)
    if (short_after, cost_after) >= (short_before, cost_before):
        return 0
    return _applied(search, slots, assignment, ids, wanted, placed, short_before - short_after)


def _solved_apart(program: _GroupProgram, deadline: float) -> dict[int, dict[str, int]] | None:
    """The program's answer, solved in a child process that is stopped KILL_GRACE past the
    deadline (None then): HiGHS's MIP can run far past its time limit (backends.minimise_within;
    inventory 300 seed 10: a group's program of 425 columns still running after 20 s of a
    1 s limit). Where processes cannot fork, here."""
    seconds = deadline - time.monotonic()
    if "fork" not in multiprocessing.get_all_start_methods():
        return program.solve(deadline)
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    # (off the wall: of the child's own CPU, as its deadline; with no user limit its program
    # stops by its node count, work.py, which the CPU it is allowed must not cut first: there
    # the default limit's end alone stops it. ai 1,000 seed 35: a group's program of 1 s, 4
    # CPU s allowed, ended by its count on one clock and was stopped on one 2.1 times as slow)
    allowed = max(0.0, seconds) if not work.counted() else \
        max(seconds * COUNTED_CPU_TIMES, work.backstop() - time.monotonic())
    child = context.Process(target=_solve_in_child, args=(writer, program, seconds, allowed), daemon=True)
    child.start()
    writer.close()
    waited = allowed + KILL_GRACE
    assert child.pid is not None
    try:
        return reader.recv() if answered(reader, child.pid, waited, waited) else None
    except EOFError:  # the child died without an answer
        return None
    finally:
        child.kill()
        child.join()
        reader.close()


def _solve_in_child(writer, program: _GroupProgram, seconds: float, allowed: float) -> None:
    import highspy

    # ended by the kernel past its limit even where the parent died without stopping it (the
    # kernel's timer on the wall, or off it on this process's CPU, as its deadline and the
    # parent's wait, `clock.answered`, count: at any load the same point of its work)
    if on_the_wall():
        signal.setitimer(signal.ITIMER_REAL, wall_seconds(max(0.0, seconds)) + 2 * KILL_GRACE)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    else:
        signal.setitimer(signal.ITIMER_PROF, allowed + 2 * KILL_GRACE)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
    # a fork has none of the parent's worker threads: HiGHS's scheduler would wait on them
    highspy.Highs.resetGlobalScheduler(True)
    # (the deadline on this process's own clock: under `--cpu-clock` benchmarks that is its CPU)
    writer.send(program.solve(time.monotonic() + seconds))
    writer.close()


def _applied(search: _Repacker, slots: list[_Slot], assignment: dict[int, dict[str, int]],
             ids: set[str], wanted: dict[str, int], placed: dict[str, int], gained: int) -> int:
    """The group's nodes replaced by the program's (where the limits hold with them), what
    it left out short against the classes `pack` was short on for that workload first."""
    packing = search.packing
    # (by name, not in the set's order: a class new to `packing.nodes` takes its place in the
    # dict here, and every later stage walks the classes in that order)
    in_order = sorted(ids)
    before = {class_id: packing.nodes.get(class_id, []) for class_id in in_order}
    earlier_short = {key: amount for key, amount in packing.short_by_workload.items() if key[1] in ids}
    for class_id in in_order:
        packing.nodes[class_id] = []
    if not search._within_limits(slots, _used(slots, assignment)):
        packing.nodes.update(before)
        return 0
    for index, hosted in sorted(assignment.items()):
        slot = slots[index]
        if hosted:
            capacity = slot.node_class.capacity_of(slot.name)
            free = {r: capacity[r] - sum(int(search.requests[n][k]) * a for n, a in hosted.items())
                    for k, r in enumerate(RESOURCES)}
            packing.nodes[slot.node_class.id].append(NodeState(slot.name, free, dict(hosted)))
    for class_id in in_order:
        if not packing.nodes[class_id]:
            del packing.nodes[class_id]
        packing.short.pop(class_id, None)
    packing.exact |= ids
    for key in earlier_short:
        del packing.short_by_workload[key]
    for name in sorted(wanted):
        left = wanted[name] - placed.get(name, 0)
        origins = sorted(class_id for (workload, class_id) in earlier_short if workload == name) \
            or sorted(class_id for class_id in ids if class_id in search.problem.demand(name).eligible)
        if left and origins:
            packing.add_short(name, origins[0], left)
    packing._room.clear()
    return gained


def _capacity(node_class: NodeClass, name: str) -> np.ndarray:
    capacity = node_class.capacity_of(name)
    return np.array([capacity[r] for r in RESOURCES], dtype=np.int64)
