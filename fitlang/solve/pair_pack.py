"""The pair LP's answer (bound.py) as a placement: its replicas per merged workload and class
rounded to whole ones, given back to the workloads and classes each merged one stands for,
and packed node by node as the aggregate model's counts are (`pack`, then `repair`).

Where the classes are few the LP is nearly whole: bench 10,000 (20 merged classes, 11 in use,
4 fractionally) packs to 9,608.91 against its bound 9,602.28 (0.07%) in ~1 CPU s, where the
greedy floor is 9,715.72 and the aggregate model's packing 9,626.58 after ~3 CPU s. Where they
are many (the inventory shape: 613) the rounding breaks the spreads and the rules between
workloads and `pack` leaves hundreds of replicas to repair, so it is not tried there. Every
answer is checked by `verify` before it is returned: a rounding that breaks a rule is dropped,
never repaired into the answer.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve.bound import Bound, merged_classes
from fitlang.solve.pack import Packing, pack, repair

# the most merged classes a pair LP may have for its answer to be packed (bench 10,000: 20)
MAX_MERGED_CLASSES = 32


def pair_packed(problem: Problem, bound: Bound, objective: str) -> Packing | None:
    """The converged pair LP's answer packed onto nodes, every replica placed and every rule
    kept (`verify`), or None."""
    from fitlang.solve.aggregate import opener  # placement runs this module

    if objective not in ("cost", "nodes") or not _packable(bound):  # (the objectives it bounds)
        return None
    found = _whole_counts(problem, bound)
    if found is None:
        return None
    counts, planned = found
    packing = pack(problem, counts, planned)
    if not packing.complete:
        repair(problem, packing, opener(problem, planned))
    if not packing.complete or not verified(problem, packing):
        return None
    return packing


def few_merged_classes(problem: Problem) -> bool:
    """Whether the pair LP of `problem` has few enough merged classes for its answer to be
    packed (the classes as the relaxation merges them; cheap beside the LP itself)."""
    return len(merged_classes(problem)[0]) <= MAX_MERGED_CLASSES


def _packable(bound: Bound) -> bool:
    relaxation = bound.relaxation
    return bound.converged and bound.pair_values is not None and relaxation is not None \
        and bound.problem is not None and len(set(relaxation.class_index.values())) <= MAX_MERGED_CLASSES


def _whole_counts(problem: Problem, bound: Bound) -> tuple[dict[tuple[str, str], int], dict[str, int]] | None:
    """Replicas per (workload, class), and nodes per class: each merged workload's pairs
    rounded to whole replicas (largest remainder, to its replicas exactly); each merged
    class's nodes (what its whole replicas fill by their largest resource, rounded up) taken
    from its member classes in turn; each merged workload's replicas shared out to the
    workloads it stands for in turn, and to the member classes with nodes by their nodes."""
    assert bound.relaxation is not None and bound.pair_values is not None and bound.problem is not None
    relaxation, values, merged = bound.relaxation, bound.pair_values, bound.problem
    whole: dict[int, list[tuple[int, int]]] = {}  # merged demand -> (merged class, replicas)
    for index, demand in enumerate(merged.demands):
        pairs = np.flatnonzero(relaxation.pair_demand == index)
        amounts = _largest_remainder(values[pairs], demand.replicas)
        if amounts is None:
            return None
        whole[index] = [(int(relaxation.pair_class[p]), a) for p, a in zip(pairs.tolist(), amounts) if a]
    by_merged_class = _by_merged_class(problem, bound)
    planned = _planned_nodes(bound, by_merged_class)
    members = _member_classes(by_merged_class, planned)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for index, demand in enumerate(merged.demands):
        names = bound.members[index] if bound.members else [demand.name]
        wanted = {name: problem.demand(name).replicas for name in names}
        for merged_class, amount in whole[index]:
            for name in names:
                take = min(amount, wanted[name])
                classes = members[merged_class]
                if take and not _to_member_classes(problem, name, take, classes, planned, counts):
                    return None
                wanted[name] -= take
                amount -= take
    return dict(counts), planned


def _planned_nodes(bound: Bound, by_merged_class: dict[int, list[NodeClass]]) -> dict[str, int]:
    """Per class, its nodes in use: per merged class what the LP's replicas fill by their
    largest resource at the largest member's capacity (as the LP counts them), rounded up,
    taken from its member classes in the problem's order. From the LP's own shares, not the
    rounded ones: a replica rounded up into a full class is left to `repair`, not given a
    node of its own (bench 10,000: a tenth GPU node for one service replica, +98 USD/h)."""
    assert bound.relaxation is not None and bound.problem is not None and bound.pair_values is not None
    relaxation = bound.relaxation
    requests = np.array([[d.requests[r] for r in RESOURCES] for d in bound.problem.demands],
                        dtype=float).reshape(-1, len(RESOURCES))  # (no demands: still 2-d)
    merged_classes = len(set(relaxation.class_index.values()))
    load = np.zeros((merged_classes, len(RESOURCES)))
    np.add.at(load, relaxation.pair_class, bound.pair_values[:, None] * requests[relaxation.pair_demand])
    planned: dict[str, int] = {}
    for merged_class, classes in by_merged_class.items():
        capacity = np.max([[c.capacity[r] for r in RESOURCES] for c in classes], axis=0).astype(float)
        used = load[merged_class][capacity > 0] / capacity[capacity > 0]
        nodes = math.ceil(float(used.max(initial=0.0)) - 1e-6)
        for node_class in classes:
            planned[node_class.id] = min(nodes, node_class.count)
            nodes -= planned[node_class.id]
    return planned


def _by_merged_class(problem: Problem, bound: Bound) -> dict[int, list[NodeClass]]:
    assert bound.relaxation is not None
    found: dict[int, list[NodeClass]] = defaultdict(list)
    for node_class in problem.classes:
        if node_class.id in bound.relaxation.class_index:
            found[bound.relaxation.class_index[node_class.id]].append(node_class)
    return found


def _member_classes(by_merged_class: dict[int, list[NodeClass]],
                    planned: dict[str, int]) -> dict[int, list[NodeClass]]:
    """Per merged class, its member classes with nodes planned (all of them where none is)."""
    return {k: [c for c in classes if planned.get(c.id)] or classes
            for k, classes in by_merged_class.items()}


def _largest_remainder(values: np.ndarray, total: int) -> list[int] | None:
    """Whole numbers summing to `total`, each the value rounded down and the rest to the
    largest remainders; None where the values do not sum to about `total` (the LP used an
    artificial column: no placement of every replica)."""
    if abs(float(values.sum()) - total) > 0.5:
        return None
    whole = np.floor(values + 1e-9).astype(np.int64)
    short = total - int(whole.sum())
    if short > 0:
        whole[np.argsort(-(values - whole), kind="stable")[:short]] += 1
    elif short < 0:
        return None
    return whole.tolist()


def _to_member_classes(problem: Problem, name: str, amount: int, classes: list[NodeClass],
                       planned: dict[str, int], counts: dict[tuple[str, str], int]) -> bool:
    """`amount` replicas of `name` shared among the member classes it may use, by their
    planned nodes (a class with none planned takes a share as if it had one)."""
    eligible = set(problem.demand(name).eligible)
    usable = [c for c in classes if c.id in eligible]
    if not usable:
        return False
    weights = [max(planned.get(c.id, 0), 1) for c in usable]
    given = 0
    for position, (node_class, weight) in enumerate(zip(usable, weights)):
        share = amount - given if position == len(usable) - 1 else amount * weight // sum(weights)
        if share:
            counts[name, node_class.id] += share
            given += share
    return True


def verified(problem: Problem, packing: Packing) -> bool:
    """`verify` of the packing as an end state: every replica placed, every rule kept (read
    per node, not through a placement file: at 10,000 nodes half the time of the check)."""
    from fitlang.solve.verify import verify_state

    state = {node.name: node.hosted for nodes in packing.nodes.values() for node in nodes if node.hosted}
    bought = {node.name for c in problem.classes if c.provisioned for node in packing.nodes.get(c.id, ())
              if node.hosted}
    return not verify_state(problem, state, bought, counted=False)
