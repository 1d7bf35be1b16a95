"""The small aggregate model made exact by node patterns, where its counts did not pack.

The aggregate model sums a class's capacity: on `bench/cloud_buy.py --small` seed 208 its
optimum (3.1316) put replicas of 6, 3, 4 and 2 CPUs, 15 CPUs, on two 7.91-CPU nodes, which no
packing holds (the 6-CPU one leaves 1.91). Packed, those counts cost 3.53; the search reached
3.44 and stopped (a swap of three nodes across two regions that two spreads count), where the
optimum is 3.273. The capacity rounding (`capacity.fillable`) and the fragment rows do not see
such a gap: it is bin packing, what each node can hold together.

So here, where the model's counts packed dearer than the model or short of replicas, the same
model is solved again with each class's nodes split by *pattern*: z[c,p] nodes of class c hold
pattern p, whole replica counts a[w,p] of the workloads that may use c which fit in ONE node
together (its capacity, each workload's replicas a node, `max_pods`, the workloads kept
apart, an exclusive workload alone), maximal (no further replica of them fits). Rows:
    u[c] = sum_p z[c,p]            y[w,c] <= sum_p a[w,p] z[c,p]
Every placement meets them (each node holds a sub-pattern of a maximal pattern), so the model
stays a relaxation, and every solution of it packs on its nodes as counted (each node filled by
its pattern, the replicas over y taken off again: every node-level rule of the fleets this
runs on holds on a subset of a node's replicas). Its optimum is then the policy's, and it is a
bound where every class's patterns were all listed (a class with more than `MAX_PATTERNS`, or
past `MAX_VISITS`, makes the stage not run).

Only on small models (whole replica counts, `aggregate._small`), for fleets whose node-level
rules are all of that kind: no workload that must join another on a node, no spread over
nodes, every node of a class alike (no inventory nodes with their own capacity or replicas
running), no horizon and no moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fitlang import rules
from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.solve.backends import HighsBackend
from fitlang.solve.encode import Encoding, encode
from fitlang.solve.linear import Outcome, Status
from fitlang.solve.pack import NodeState, Packing, _unused_names
from fitlang.solve.placement_result import FEASIBLE, OPTIMALITY_TOLERANCE, _from_packing, _packed_value

MAX_PATTERNS = 20_000  # over all classes (a class's are listed once per distinct shape of it)
MAX_VISITS = 200_000  # partial patterns looked at, over all classes
RELATIVE_GAP = 1e-6  # the model is small: solved to its optimum
# the share of the time left to the search's deadline the model may take (seed 208: 1.1 CPU s
# of HiGHS, 59 branch-and-bound nodes, where the search had converged at 0.8 s of its 10)
SHARE = 0.5
# with no user limit (work.py), the seconds its branch and bound's node count stands for
COUNTED_SECONDS = 4.0
# and at most this many nodes of it in any case (seed 208: 59; a node of these models is a few
# ms): the same end on any machine where no deadline comes first
MOST_NODES = 2_000

Pattern = tuple[int, ...]  # replicas per demand of the class (`Encoding.here` order)


@dataclass
class PatternModel:
    """What the patterned model gave: its packing (every replica of its counts, on nodes), the
    model's value, and its proven bound where HiGHS proved one and every pattern was listed."""

    packing: Packing
    value: Fraction
    bound: Fraction | None


def applies(problem: Problem) -> bool:
    """Do the fleet's node-level rules all hold on any subset of a node's replicas, and are a
    class's nodes alike? (The module's docstring.)"""
    if problem.timeline is not None or problem.running or problem.running_elsewhere:
        return False
    if any(c.node_capacity or c.node_taken or c.node_pods for c in problem.classes):
        return False
    for demand in problem.demands:
        if any(s.topology == "node" for s in demand.spreads):
            return False
        for rule in rules.RULES:
            together = rule.packing.together if rule.packing is not None else None
            if together is not None and any(True for _ in together(demand)):
                return False
    return True


def cheaper_by_patterns(problem: Problem, packing: Packing, objective: str, model: Fraction | None,
                        deadline: float | None) -> tuple[Packing, Fraction | None]:
    """`packing`, or the patterned model's where the model's counts (its value `model`) packed
    short or dearer than the model and the patterned one's packing places every replica for
    less; with the patterned model's proven bound (None: none, or not run)."""
    if model is None:
        return packing, None
    value = _packed_value(problem, packing, objective)
    if packing.complete and value is not None and value <= model * (1 + Fraction(OPTIMALITY_TOLERANCE)):
        return packing, None
    found = patterned(problem, objective,
                      None if deadline is None else time.monotonic() + SHARE * (deadline - time.monotonic()))
    if found is None:
        return packing, None
    theirs = _packed_value(problem, found.packing, objective)
    if theirs is not None and (not packing.complete or value is None or theirs < value) \
            and not _breaks_a_rule(problem, found.packing, objective):
        return found.packing, found.bound
    return packing, found.bound


def _breaks_a_rule(problem: Problem, packing: Packing, objective: str) -> bool:
    """A net under the gate of `applies`: the packing as `fitc verify` reads it (a few ms on
    the small fleets this runs on), so that a rule the patterns did not state is never the
    answer's to break (the self-check would then call it a bug, E0507)."""
    from fitlang.solve.self_check import broken_rules

    return bool(broken_rules(problem, _from_packing(problem, packing, objective, FEASIBLE, None)))


def patterned(problem: Problem, objective: str, deadline: float | None) -> PatternModel | None:
    """The patterned model solved by `deadline` (None: by `MOST_NODES` alone) and packed; None
    where it does not apply, has too many patterns, or HiGHS found nothing in time."""
    if not applies(problem):
        return None
    encoding = encode(problem, must_place=True)
    listed = _listed_patterns(problem, encoding)
    if listed is None:
        return None
    columns = _pattern_rows(encoding, listed)
    backend = HighsBackend(RELATIVE_GAP, most_nodes=MOST_NODES, checked_seconds=COUNTED_SECONDS)
    limit = None if deadline is None else max(0.05, deadline - time.monotonic())
    outcome = backend.minimise(encoding.model, encoding.objective(objective), limit,
                               counted_seconds=COUNTED_SECONDS)
    if outcome.solution is None or outcome.objective is None:
        return None
    packing = _realised(problem, encoding, listed, columns, outcome)
    bound = outcome.bound if outcome.status is Status.OPTIMAL else None
    return PatternModel(packing, outcome.objective, bound)


def _listed_patterns(problem: Problem, encoding: Encoding) -> dict[str, list[Pattern]] | None:
    """Per class with nodes and workloads, its maximal patterns; None past the limits."""
    apart, alone = problem.apart_on_nodes
    listed: dict[str, list[Pattern]] = {}
    known: dict[tuple, list[Pattern]] = {}
    visits = [0]
    total = 0
    for node_class in problem.classes:
        here = encoding.here[node_class.id]
        if not node_class.count or not here:
            continue
        limit = [int(encoding.fit[d.name, node_class.id]) for d in here]
        charge = encoding.charge_rows[node_class.id]
        key = (tuple(d.name for d in here), tuple(limit), charge.tobytes(),
               tuple(node_class.capacity[r] for r in RESOURCES), node_class.max_pods)
        if key not in known:
            found = _maximal(node_class, here, limit, charge, apart, alone, visits)
            if found is None:
                return None
            known[key] = found
        listed[node_class.id] = known[key]
        total += len(known[key])
        if total > MAX_PATTERNS:
            return None
    return listed


def _maximal(node_class: NodeClass, here: list[Demand], limit: list[int], charge: np.ndarray,
             apart: dict[str, set[str]], alone: set[str], visits: list[int]) -> list[Pattern] | None:
    """The maximal patterns of one node of the class (the module's docstring): an exclusive
    workload's alone, the others' by depth-first search; None past `MAX_VISITS`."""
    capacity = np.array([node_class.capacity[r] for r in RESOURCES], dtype=np.int64)
    pods = node_class.max_pods
    size = len(here)
    conflicts = [{j for j, other in enumerate(here) if other.name in apart.get(d.name, ())} for d in here]
    found: list[Pattern] = []
    for index, demand in enumerate(here):
        if demand.name in alone and limit[index]:
            most = limit[index] if pods is None else min(limit[index], pods)
            found.append(tuple(most if j == index else 0 for j in range(size)))
    shared = [i for i in range(size) if here[i].name not in alone and limit[i] > 0]

    def addable(i: int, room: np.ndarray, taken: list[int], count: int) -> bool:
        return taken[i] < limit[i] and bool((charge[i] <= room).all()) \
            and (pods is None or count < pods) and not any(taken[j] for j in conflicts[i])

    def extend(position: int, room: np.ndarray, taken: list[int], count: int) -> bool:
        visits[0] += 1
        if visits[0] > MAX_VISITS:
            return False
        if position == len(shared):
            if count and not any(addable(i, room, taken, count) for i in shared):
                found.append(tuple(taken))
            return True
        i = shared[position]
        most = limit[i] if not any(taken[j] for j in conflicts[i]) else 0
        for need, have in zip(charge[i].tolist(), room.tolist()):
            if need:
                most = min(most, have // need)
        if pods is not None:
            most = min(most, pods - count)
        for amount in range(max(most, 0), -1, -1):
            taken[i] = amount
            if not extend(position + 1, room - amount * charge[i], taken, count + amount):
                return False
        taken[i] = 0
        return True

    if shared and not extend(0, capacity, [0] * size, 0):
        return None
    return found


def _pattern_rows(encoding: Encoding, listed: dict[str, list[Pattern]]) -> dict[str, list[int]]:
    """The columns z[c,p] and the rows of the module's docstring; per class, its columns."""
    model = encoding.model
    columns: dict[str, list[int]] = {}
    for class_id, patterns in listed.items():
        node_class = encoding.class_of[class_id]
        first = model.vars(_namer(class_id), np.zeros(len(patterns), dtype=np.int64),
                           np.full(len(patterns), node_class.count, dtype=np.int64))
        mine = list(range(first, first + len(patterns)))
        columns[class_id] = mine
        model.add({encoding.u[class_id]: 1, **{z: -1 for z in mine}}, lower=0, upper=0)
        for index, demand in enumerate(encoding.here[class_id]):
            terms = {z: -pattern[index] for z, pattern in zip(mine, patterns) if pattern[index]}
            model.add({encoding.y[demand.name, class_id]: 1, **terms}, upper=0)
    return columns


def _namer(class_id: str) -> Callable[[int], str]:
    return lambda k: f"z[{class_id},{k}]"


def _realised(problem: Problem, encoding: Encoding, listed: dict[str, list[Pattern]],
              columns: dict[str, list[int]], outcome: Outcome) -> Packing:
    """Each class's nodes filled by their patterns, the replicas over the model's counts taken
    off the last nodes first; a node left with nothing is not opened."""
    solution = outcome.solution
    assert solution is not None
    counts = encoding.whole_counts(solution)
    packing = Packing()
    for class_id, patterns in listed.items():
        node_class = encoding.class_of[class_id]
        here = encoding.here[class_id]
        hosted: list[list[int]] = []
        for z, pattern in zip(columns[class_id], patterns):
            hosted += [list(pattern) for _ in range(round(solution[z]))]
        for index, demand in enumerate(here):
            excess = sum(node[index] for node in hosted) - counts.get((demand.name, class_id), 0)
            for node in reversed(hosted):
                taken = min(excess, node[index])
                node[index] -= taken
                excess -= taken
        opened = [node for node in hosted if any(node)]
        if not opened:
            continue
        names = _unused_names(node_class, [])
        states = []
        for node in opened:
            free = dict(node_class.capacity)
            on_node = {}
            for index, amount in enumerate(node):
                if amount:
                    on_node[here[index].name] = amount
                    for resource in RESOURCES:
                        free[resource] -= here[index].requests[resource] * amount
            states.append(NodeState(next(names), free, on_node))
        packing.nodes[class_id] = states
    return packing
