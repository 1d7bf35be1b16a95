"""The pair LP's mixes on the classes without accelerators, as nodes to fill first (`Guide.nodes`).

The greedy pass places one workload at a time, each replica on the class cheapest for it
alone: a memory-heavy batch job (32 CPU / 256 GiB) takes the 8 GiB-a-CPU m128 nodes, a
CPU-heavy one the 4 GiB-a-CPU c64 nodes, and each kind fills its nodes by one resource and
strands the other. The LP puts both kinds on the same c64 nodes, which they fill by both
(`bench/ai_fleet.py` 10,000 seed 4 at 5 s: fra1's c64 nodes 99% full by CPU and 71% by
memory, 433 of them in use where the LP has 702; what did not fit went to 230 m128 nodes in
nyc1 where the LP has 29). The pattern floor gives such mixes, but its bound needs ~3 CPU s
there and never runs at 5 s.

So, from the pair LP's last solution: per merged class without accelerators, the replicas it
gives each workload the greedy pass may place before the others (`greedy._fillable`: no
rule counts them across nodes), rounded down, dealt over as many nodes as their load needs
by its largest resource (the LP's own count for them), node by node, each node's replicas
the shapes furthest behind their even share, so that each node holds about the LP's mix
(`_dealt`); what fits no node is left to the pass."""

from __future__ import annotations

import math

import numpy as np

from fitlang.model.problem import RESOURCES, Problem
from fitlang.solve.aggregate import remaining
from fitlang.solve.bound import Bound
from fitlang.solve.greedy import Guide, _fillable
from fitlang.solve.short_order import ShortFirst

RESERVE = 1
# the mixes are used where their nodes are at least this share of the fleet's: on the inventory
# shape at 10,000 they are 2-30 nodes (seeds 12 / 7; the passes the same on seed 7), on the
# accelerator-heavy one 2,200-3,100; with them the first guided pass changes (guides.py) and
# takes the options moves' turn (`mixed_first`), which nothing measured there justifies
MIXED_LEAST_SHARE = 0.05
Node = tuple[tuple[str, ...], dict[tuple[str, ...], int]]


def lp_mixed_nodes(problem: Problem, relaxed: Bound) -> list[Node]:
    """Nodes for `Guide.nodes`: per merged class without accelerators, its member classes and
    per node the replicas of each merged demand it holds; none where they would be fewer than
    MIXED_LEAST_SHARE of the fleet's nodes."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return []
    fillable = _fillable(problem)
    members: dict[int, list[str]] = {}
    for class_id, index in sorted(relaxation.class_index.items()):
        members.setdefault(index, []).append(class_id)
    classes = {c.id: c for c in problem.classes}
    by_class: dict[int, list[tuple[tuple[str, ...], int, np.ndarray]]] = {}
    others = np.zeros((len(members), len(RESOURCES)))  # what the LP puts there of the rest
    for pair in np.flatnonzero(values > 1e-6).tolist():
        demand, index = int(relaxation.pair_demand[pair]), int(relaxation.pair_class[pair])
        names = tuple(relaxed.members[demand] if relaxed.members else [used.demands[demand].name])
        need = np.array([used.demands[demand].requests[r] for r in RESOURCES], dtype=np.int64)
        if not all(name in fillable for name in names):
            if index < len(others):
                others[index] += float(values[pair]) * need
            continue
        if values[pair] >= 1 - 1e-6:
            by_class.setdefault(index, []).append((names, math.floor(float(values[pair]) + 1e-6), need))
    nodes: list[Node] = []
    for index, items in sorted(by_class.items()):
        ids = [class_id for class_id in members.get(index, []) if class_id in classes]
        if not ids or any(classes[class_id].capacity.get("gpu", 0) for class_id in ids) \
                or any(classes[class_id].node_capacity for class_id in ids):
            continue
        capacity = np.array([classes[ids[0]].capacity[r] for r in RESOURCES], dtype=np.int64)
        has = [min(classes[class_id].count, len(classes[class_id].node_names)) for class_id in ids]
        mixes = _dealt(items, capacity, sum(has) - _kept(others[index], capacity))
        nodes += [(_rotated(ids, owner), hosted) for owner, hosted in zip(_shared(has, len(mixes)), mixes)]
    return nodes if len(nodes) >= MIXED_LEAST_SHARE * sum(c.count for c in problem.classes) else []


def _kept(load: np.ndarray, capacity: np.ndarray) -> int:
    """Whole nodes left to what else the LP puts on the class, and one more: the services
    whose spreads need room in each zone (seed 4: with none kept, 8-26 replicas short)."""
    return math.ceil(_nodes(load, capacity) - 1e-9) + RESERVE


def _nodes(load: np.ndarray, capacity: np.ndarray) -> float:
    """The nodes `load` fills by its largest resource."""
    sized = capacity > 0
    return float((load[sized] / capacity[sized]).max(initial=0.0))


def _shared(has: list[int], count: int) -> list[int]:
    """`count` nodes' member classes, each class's share by its nodes, interleaved: the
    merged class's members are its zones too, and nodes taken from the first members alone
    left a zone no node for the spread services of one region (seed 4: 8-26 replicas short)."""
    total = sum(has)
    if not total:
        return [0] * count
    owners: list[int] = []
    given = [0] * len(has)
    for k in range(count):
        # the member furthest behind its share of the nodes dealt so far
        owner = max(range(len(has)), key=lambda m: ((k + 1) * has[m] / total - given[m], -m)
                    if given[m] < has[m] else (-math.inf, -m))
        given[owner] += 1
        owners.append(owner)
    return owners


def _rotated(ids: list[str], owner: int) -> tuple[str, ...]:
    """The member `owner` first, then the others in order (where it has no node left)."""
    return (ids[owner], *ids[:owner], *ids[owner + 1:])


def _dealt(items: list[tuple[tuple[str, ...], int, np.ndarray]], capacity: np.ndarray,
           available: int) -> list[dict[tuple[str, ...], int]]:
    """The replicas dealt over as few nodes as their load needs by its largest resource (at
    most `available`), node by node: each filled one replica at a time with the shape furthest
    behind its even share of the nodes dealt so far, of those that still fit; every shape at
    its share, the largest that fits; until none fits. Dealt shape by shape instead (each as
    evenly as the room allowed, largest first), the last shapes found the room in pieces:
    `bench/ai_fleet.py` 10,000 seed 7, 20,227 of the 25,427 replicas the LP puts on these
    classes dealt, 89% of their load; so, 24,066 (the first guided pass, consolidated, 105 USD/h
    cheaper, docs/performance.md, session 37)."""
    load = np.sum([need * amount for _, amount, need in items], axis=0)
    count = min(available, math.ceil(_nodes(load, capacity) - 1e-9))
    needs = [tuple(int(x) for x in need) for _, _, need in items]
    amounts = [amount for _, amount, _ in items]
    left, placed = list(amounts), [0] * len(items)
    scale = [int(c) if c > 0 else 1 for c in capacity]
    largest_first = sorted(range(len(items)), key=lambda i: -max(n / c for n, c in zip(needs[i], scale)))
    hosted: list[dict[tuple[str, ...], int]] = []
    for node in range(max(0, count)):
        share = [(node + 1) * amount / count for amount in amounts]
        free = [int(c) for c in capacity]
        mix: dict[tuple[str, ...], int] = {}
        while (shape := _next_shape(needs, left, free, [s - p for s, p in zip(share, placed)],
                                    largest_first)) is not None:
            free = [f - n for f, n in zip(free, needs[shape])]
            left[shape] -= 1
            placed[shape] += 1
            mix[items[shape][0]] = mix.get(items[shape][0], 0) + 1
        if not mix:
            break
        hosted.append(mix)
    return hosted


def _next_shape(needs: list[tuple[int, ...]], left: list[int], free: list[int], behind: list[float],
                largest_first: list[int]) -> int | None:
    """Of the shapes with replicas left that fit `free`, the one furthest `behind` its share
    (the first of those), or where none is behind, the largest; None where none fits."""
    fitting = [i for i, need in enumerate(needs) if left[i] and all(n <= f for n, f in zip(need, free))]
    if not fitting:
        return None
    furthest = max(fitting, key=lambda i: behind[i])
    if behind[furthest] > 0:
        return furthest
    fits = set(fitting)
    return next(i for i in largest_first if i in fits)


def mixed_first(guide: Guide, deadline: float | None, whole_pass: float | None,
                learned: ShortFirst | None) -> bool:
    """Whether the guided passes start with a whole pass with the LP's mixes (`guide.nodes`),
    not the options as moves on the floor (`placement._options_moved`, ~0.3 CPU s): where
    such a pass is expected to fit in the time left: `whole_pass` (the floor's pass and its
    polish), or where the floor learned an order, the pass in that order (`guided_pass.guided_pass`,
    `ShortFirst.floor_took`; seed 3 at 5 s: 1.1 CPU s left, the floor's 1.2 s against a
    learned pass of 0.5 s and its polish 0.2 s)."""
    left = remaining(deadline)
    expected = learned.expected if learned is not None and learned.names and learned.expected else whole_pass
    return bool(guide.nodes) and (expected is None or left is None or left >= expected)

