"""Several small open nodes merged onto one new node of a larger class (issue 15, the inventory
shape at 10,000 nodes).

The guided passes open nodes one replica at a time, each on the class that costs least for that
replica, so a zone's last replicas end on 4- and 8-CPU nodes at 0.19-0.44 USD/h while a 16- or
48-CPU class of the zone (or, for services no spread or affinity ties to one, of another zone)
has nodes left. The ruin (dear_nodes.py, improve.py) takes one or two nodes at a time and weighs
the cheapest classes by price for what they leave: one small node never pays for a larger one,
and several together are never tried. Here, per class with nodes left (the cheapest node first),
the open nodes whose every replica may move to it (`_Search.movable`: eligible, the same domain
for every topology a spread or affinity counts in, the same latency reach, a gang in its
cluster) are taken, dearest for the share of it they take first, while all of them fit one node
of it together (its capacity, each workload's per-node limit, the workloads kept apart); the
move is kept only where the new node costs exactly less than the nodes it closes. Nodes closed
only lower the counts the buy limits, the budget and the power caps read; the new node is
checked against them (`_Search._may_open`). At inventory 10,000 most merges are within a zone:
nearly every small node there holds a replica of a zone spread.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem, node_limit
from fitlang.solve.dear_nodes import ACCELERATOR
from fitlang.solve.improve import _past, _Search
from fitlang.solve.pack import NodeState

# not started with less time left: listing the nodes each class could take costs ~0.05 CPU s
# at inventory 10,000 (the time-budget test halves the CPU)
LEAST_SECONDS = 0.05


def small_nodes_merged(problem: Problem, packing, objective: str, deadline: float | None) -> int:
    """Merge open nodes onto new nodes of larger classes (the module's docstring) until the
    `deadline`; say how many new nodes were opened. Deterministic: the order depends on the
    packing only, the deadline only cuts it short."""
    if objective != "cost" or not packing.complete or \
            (deadline is not None and deadline - time.monotonic() < LEAST_SECONDS):
        return 0
    search = _Search(problem, packing, objective)
    merges = _Merges(problem, search, deadline)
    made = 0
    for target in merges.targets():
        while not _past(deadline) and merges.merged_onto(target):
            made += 1
        if _past(deadline):
            break
    search.finish()
    return made


class _Merges:
    """The open nodes that may be merged (their requests summed, their prices), and for each
    class with nodes left those whose every replica may move to it."""

    def __init__(self, problem: Problem, search: _Search, deadline: float | None) -> None:
        self.problem = problem
        self.search = search
        accelerated = {d.name for d in problem.demands if d.requests.get(ACCELERATOR, 0)}
        self.nodes: list[tuple[NodeState, NodeClass]] = [
            (node, node_class) for _, node, node_class in search.ranked()
            if node.hosted and not accelerated & node.hosted.keys()]
        requests = search.requests
        used = [sum(requests[w] * n for w, n in node.hosted.items()) for node, _ in self.nodes]
        self.used = np.array(used, dtype=np.int64).reshape(len(self.nodes), len(RESOURCES))
        self.price = np.array([float(node_class.price) for _, node_class in self.nodes])
        self.alive = np.ones(len(self.nodes), dtype=bool)
        self._movable: dict[tuple[str, str], frozenset[str]] = {}
        into: dict[str, list[int]] = {}
        for index, (node, node_class) in enumerate(self.nodes):
            if _past(deadline):  # (a node's workloads each ask their classes: at 10,000 workloads
                break  # on 1,500 one-node pools, 64 nodes between two checks took 1-5 CPU s)
            for class_id in self._allowed(node, node_class):
                into.setdefault(class_id, []).append(index)
        self.into = {class_id: np.array(indices) for class_id, indices in into.items()}

    def _allowed(self, node: NodeState, origin: NodeClass) -> frozenset[str]:
        """The classes but its own every replica on `node` may move to."""
        allowed: frozenset[str] | None = None
        for name in node.hosted:
            key = (name, origin.id)
            if key not in self._movable:
                self._movable[key] = self.search.movable_ids(self.problem.demand(name), origin)
            allowed = self._movable[key] if allowed is None else allowed & self._movable[key]
            if not allowed:
                return frozenset()
        return (allowed or frozenset()) - {origin.id}

    def targets(self) -> list[NodeClass]:
        """The classes without accelerators that two or more open nodes may move to, with
        nodes left, the cheapest node first (then for its CPU): a cheap node is paid for by
        fewer small ones, and the larger classes are left for what they alone hold (in process
        on the packings after the ruin, inventory 10,000 seeds 31 / 7: 628.84 -> 627.39 /
        578.15 -> 577.75 against 627.67 / 577.84 cheapest a CPU first; seeds 10 / 24 alike)."""
        found = []
        for class_id, indices in self.into.items():
            node_class = self.problem.node_class(class_id)
            if node_class.capacity.get(ACCELERATOR, 0) or len(indices) < 2 or \
                    len(self.search.packing.nodes.get(class_id, ())) >= node_class.count:
                continue
            unit = float(node_class.price) / max(node_class.capacity.get("cpu", 0), 1)
            found.append((node_class.price, unit, class_id, node_class))
        found.sort(key=lambda item: item[:3])
        return [node_class for *_, node_class in found]

    def merged_onto(self, target: NodeClass) -> bool:
        """Open one node of `target` for the open nodes that fit it together, where it costs
        less than they do; or change nothing."""
        search = self.search
        name = search._unused_name(target, [])
        if name is None:
            return False
        capacity = np.array([target.capacity_of(name)[r] for r in RESOURCES], dtype=np.int64)
        chosen = self._chosen(target, capacity)
        if sum((self.nodes[i][1].price for i in chosen), Fraction(0)) <= target.price:
            return False
        search.totals = None
        try:
            if not search._may_open(target):
                return False
        finally:
            search.totals = None
        hosted: dict[str, int] = {}
        for i in chosen:
            node, _ = self.nodes[i]
            for workload, amount in node.hosted.items():
                hosted[workload] = hosted.get(workload, 0) + amount
            class_id, index = search.position[node.name]
            search.open[class_id][index] = False
            node.hosted = {}
            self.alive[i] = False
        search._open(target, name, capacity - self.used[chosen].sum(axis=0), hosted)
        return True

    def _chosen(self, target: NodeClass, capacity: np.ndarray) -> list[int]:
        """The open nodes (indices into `nodes`) that may move to `target`, the dearest for
        the share of it they take first, each while all taken so far fit one node of it."""
        indices = self.into[target.id]
        indices = indices[self.alive[indices]]
        shares = (self.used[indices] / np.maximum(capacity, 1)).max(axis=1)
        indices, shares = indices[shares <= 1], shares[shares <= 1]
        if float(self.price[indices].sum()) <= float(target.price):
            return []  # all of them together would not pay for it
        order = indices[np.lexsort((indices, -self.price[indices] / np.maximum(shares, 1e-9)))]
        taken: list[int] = []
        hosted: dict[str, int] = {}
        free = capacity.copy()
        least = self.used[indices].min(axis=0)
        for i in order.tolist():
            used = self.used[i]
            if (used > free).any() or not self._fits_beside(self.nodes[i][0].hosted, hosted, target):
                continue
            free -= used
            for workload, amount in self.nodes[i][0].hosted.items():
                hosted[workload] = hosted.get(workload, 0) + amount
            taken.append(i)
            if (least > free).any():
                break  # no other node fits
        return taken

    def _fits_beside(self, adding: dict[str, int], hosted: dict[str, int], target: NodeClass) -> bool:
        """Whether `adding` may share a node of `target` with `hosted`: each workload within its
        per-node limit, none beside one it is kept apart from, nothing beside an exclusive one."""
        apart, exclusive = self.search.apart, self.search.exclusive
        for workload, amount in adding.items():
            if hosted.get(workload, 0) + amount > node_limit(self.problem.demand(workload), target):
                return False
            if apart.get(workload, set()) & hosted.keys() or (hosted and workload in exclusive):
                return False
        return not (exclusive & hosted.keys())
