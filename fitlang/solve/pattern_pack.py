"""The aggregate model's counts for one class packed by node patterns, where `pack` fell short.

The model counts a class's capacity as a sum, so two resources can each fit while no node
packing of the replicas does as well: `pack` fills node by node (FFD-DotProduct), and on
tight fleets of replicas of a few CPU- and memory-heavy shapes it strands room. Held-out
`pools` 3,000 seed 108 (docs/performance.md, session 33): the first round's counts left 906
replicas out of `pack`, and a cutting-stock program over each class's node patterns (how many
replicas of each shape one node holds) needs at most the nodes the model counted on 10 of the
12 classes. `repair` then opened dearer nodes for what was out, and on a fleet with 0-5% slack
some replicas had nowhere to go: the answer fell back to the greedy floor, 35% dearer.

So, per class `pack` left short: where its replicas have no node-level rules (none kept apart
or together on a node, no node spread, none exclusive, nodes of one size) and come in at most
MAX_SHAPES request shapes, the integer program: how many nodes of each maximal pattern, at most
the nodes the model counted, fewest replicas short first, then fewest nodes. Its nodes replace
`pack`'s where they leave fewer replicas short. What it leaves short is taken from the
workloads that may go elsewhere first, for `repair` to place there as before.
"""

from __future__ import annotations

import time

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.solve import work
from fitlang.solve.clock import highs_limited
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.pack import NodeState, Packing, _unused_names, sent_to_classes
from fitlang.solve.repack import _native_stdout_silenced

MAX_SHAPES = 8  # distinct request shapes in a class: the patterns grow as their product
MAX_PATTERNS = 5_000  # a class with more maximal patterns keeps `pack`'s nodes
# the most partial patterns the enumeration looks at (a 32 CPU / 64 GiB node and the seven
# `pools` shapes: 23,926 for 1,806 patterns, 0.04 s); past it, as past MAX_PATTERNS
MAX_VISITS = 100_000
CLASS_SECONDS = 0.5  # the most one class's program may take (3,000 nodes: 0.01-0.5 s)
LEAST_SECONDS = 0.05  # a class with less time left is not started

Shape = tuple[int, ...]


def pattern_packed(problem: Problem, packing: Packing, counts: dict[tuple[str, str], int],
                   planned: dict[str, int], deadline: float) -> int:
    """Repack in place, by node patterns, each class `packing` is short on; how many replicas
    that placed beyond `pack`."""
    sent = sent_to_classes(problem.demands, counts)
    placed = 0
    for class_id in sorted(set(packing.short) - packing.patterned):
        if deadline - time.monotonic() <= LEAST_SECONDS:
            break
        node_class, items = problem.node_class(class_id), sent.get(class_id, [])
        if not _plain(problem, node_class, items):
            continue
        nodes = planned.get(class_id, 0)
        found = _program(node_class, items, nodes, min(deadline, time.monotonic() + CLASS_SECONDS))
        if found is None:
            continue
        opened, short = _realised(node_class, items, found)
        before = packing.short[class_id]
        if sum(short.values()) < before:
            _replace(packing, class_id, opened, short)
            placed += before - sum(short.values())
    return placed


def _plain(problem: Problem, node_class: NodeClass, items: list[tuple[Demand, int]]) -> bool:
    """Replicas that any node of the class with room may take, whatever else it hosts."""
    if node_class.node_capacity or not items:
        return False
    apart, exclusive = problem.apart_on_nodes
    if any(node_ruled(demand, apart, exclusive) for demand, _ in items):
        return False
    return len({_shape(demand) for demand, _ in items}) <= MAX_SHAPES


def node_ruled(demand: Demand, apart: dict[str, set[str]], exclusive: set[str]) -> bool:
    """Whether a rule says which node a replica of `demand` may share (`problem.apart_on_nodes`
    gives `apart` and `exclusive`)."""
    return demand.name in apart or demand.name in exclusive or demand.one_per_node \
        or any(not rule.anti for rule in demand.affinities) \
        or any(spread.topology == "node" for spread in demand.spreads)


def _shape(demand: Demand) -> Shape:
    return tuple(demand.requests[resource] for resource in RESOURCES)


def _patterns(capacity: Shape, shapes: list[Shape], need: list[int]) -> list[tuple[int, ...]] | None:
    """The maximal patterns: replicas per shape one node holds (each at most its need), to
    which no replica of a shape still needed could be added; None past MAX_PATTERNS or
    MAX_VISITS (small shapes on a large node: the partial patterns grow as a power)."""
    found: list[tuple[int, ...]] = []
    visits = [0]

    def fits(room: Shape, shape: Shape) -> bool:
        return all(have >= want for have, want in zip(room, shape))

    def extend(index: int, room: Shape, taken: list[int]) -> bool:
        visits[0] += 1
        if visits[0] > MAX_VISITS:
            return False
        if index == len(shapes):
            if not any(taken[i] < need[i] and fits(room, shape) for i, shape in enumerate(shapes)):
                found.append(tuple(taken))
            return len(found) <= MAX_PATTERNS
        shape = shapes[index]
        most = min([have // want for have, want in zip(room, shape) if want] + [need[index]])
        for count in range(most, -1, -1):
            rest = tuple(have - count * want for have, want in zip(room, shape))
            if not extend(index + 1, rest, [*taken, count]):
                return False
        return True

    return found if extend(0, capacity, []) else None


def _program(node_class: NodeClass, items: list[tuple[Demand, int]], nodes: int,
             deadline: float) -> dict[Shape, list[int]] | None:
    """Per shape, the replicas each node holds (one entry a node): the program's relaxation
    (at most `nodes` nodes, fewest replicas short first, then fewest nodes), its pattern
    counts rounded down, then for what that leaves out the pattern that takes most of it, a
    node at a time (`_topped_up`). The relaxation rather than the integer program: at 3,000
    nodes the latter found no answer in 0.15 s on the classes the counts overfill, and took
    0.5-0.8 s where it did; the rounding leaves out at most about a node per shape. None: too
    many patterns, or no answer in time."""
    import highspy

    need_by_shape: dict[Shape, int] = {}
    for demand, amount in items:
        need_by_shape[_shape(demand)] = need_by_shape.get(_shape(demand), 0) + amount
    shapes = sorted(need_by_shape)
    need = np.array([need_by_shape[shape] for shape in shapes], dtype=np.int64)
    capacity = tuple(node_class.capacity[resource] for resource in RESOURCES)
    found = _patterns(capacity, shapes, [int(amount) for amount in need])
    if not found or not nodes:
        return None
    patterns = np.array(found, dtype=np.int64)
    with _native_stdout_silenced():  # HiGHS's banner, printed by the first one made
        highs = quiet_highs()
    highs_limited(highs, deadline)
    inf = highspy.kHighsInf
    count = len(patterns)
    for _ in range(count):
        highs.addVar(0, nodes)
    for amount in need:
        highs.addVar(0, float(amount))
    short_weight = float(nodes + 1)  # one more replica placed is worth every node
    columns = count + len(shapes)
    highs.changeColsCost(columns, np.arange(columns), np.array([1.0] * count + [short_weight] * len(shapes)))
    for index, amount in enumerate(need):
        used = np.flatnonzero(patterns[:, index])
        highs.addRow(float(amount), inf, len(used) + 1, np.append(used, count + index),
                     np.append(patterns[used, index].astype(float), 1.0))
    highs.addRow(-inf, nodes, count, np.arange(count), np.ones(count))
    highs.run()
    solution = highs.getSolution()
    # (no user limit: HiGHS had the default limit's end, `highs_limited`, and its answer stands
    # however long it took on this machine; on the clock, a program past `deadline` was dropped)
    if not solution.value_valid or (time.monotonic() >= deadline and not work.counted()):
        return None
    chosen = np.floor(np.array(solution.col_value[:count]) + 1e-9).astype(np.int64)
    chosen = _topped_up(patterns, chosen, need, nodes, capacity, shapes)
    per_node: dict[Shape, list[int]] = {shape: [] for shape in shapes}
    for pattern, times in zip(found, chosen):
        for _ in range(int(times)):
            for index, shape in enumerate(shapes):
                per_node[shape].append(pattern[index])
    return per_node


def _topped_up(patterns: np.ndarray, chosen: np.ndarray, need: np.ndarray, nodes: int,
               capacity: Shape, shapes: list[Shape]) -> np.ndarray:
    """`chosen` with a node more of the pattern that holds the most of what it leaves out
    (by the largest share of the node each replica takes), while some is out and nodes are
    left."""
    size = np.array([max((want / have for want, have in zip(shape, capacity) if have), default=0.0)
                     for shape in shapes])
    chosen = chosen.copy()
    while int(chosen.sum()) < nodes:
        left = np.maximum(need - chosen @ patterns, 0)
        if not left.any():
            break
        taken = np.minimum(patterns, left) @ size
        best = int(np.argmax(taken))
        if taken[best] <= 0:
            break
        chosen[best] += 1
    return chosen


def _realised(node_class: NodeClass, items: list[tuple[Demand, int]],
              per_node: dict[Shape, list[int]]) -> tuple[list[NodeState], dict[str, int]]:
    """The class's nodes with each shape's slots filled by its workloads, those with the fewest
    eligible classes first (what is left short, `repair` places on the others), then the
    highest priority; a node no replica fills is not opened. Also what is left short, per
    workload."""
    nodes = max((len(slots) for slots in per_node.values()), default=0)
    hosted: list[dict[str, int]] = [{} for _ in range(nodes)]
    short: dict[str, int] = {}
    by_shape: dict[Shape, list[list]] = {}
    order = sorted(items, key=lambda item: (len(item[0].eligible), -item[0].priority, item[0].name))
    for demand, amount in order:
        by_shape.setdefault(_shape(demand), []).append([demand.name, amount])
    for shape, queue in by_shape.items():
        for node, slots in enumerate(per_node.get(shape, [])):
            while slots and queue:
                name, amount = queue[0]
                taken = min(slots, amount)
                hosted[node][name] = hosted[node].get(name, 0) + taken
                slots -= taken
                queue[0][1] -= taken
                if not queue[0][1]:
                    queue.pop(0)
        for name, amount in queue:
            short[name] = amount
    requests = {demand.name: _shape(demand) for demand, _ in items}
    opened: list[NodeState] = []
    names = _unused_names(node_class, [])
    for on_node in hosted:
        if not on_node:
            continue
        free = dict(node_class.capacity)
        for name, amount in on_node.items():
            for resource, want in zip(RESOURCES, requests[name]):
                free[resource] -= want * amount
        opened.append(NodeState(next(names), free, on_node))
    return opened, short


def _replace(packing: Packing, class_id: str, opened: list[NodeState], short: dict[str, int]) -> None:
    packing.nodes[class_id] = opened
    packing._room.pop(class_id, None)
    del packing.short[class_id]
    for key in [key for key in packing.short_by_workload if key[1] == class_id]:
        del packing.short_by_workload[key]
    for name, amount in short.items():
        if amount:
            packing.add_short(name, class_id, amount)
