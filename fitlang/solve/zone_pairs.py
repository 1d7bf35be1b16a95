"""Two zones' nodes placed again exactly, everything else held (issue 15, inventory 1,000 nodes).

On the inventory shape at 1,000 nodes the search ends with each zone packed exactly (session
57, h57a: every zone's own per-node MIP proves its packing), yet 6-15% over the bound: what is
left is which zone a spread's extra replicas go to (`spread zone max_skew 1`: 30 replicas over
9 zones leave 3 to place in any zone), and the search's moves send one replica at a time
(`crossing_room`). The exact per-node model of the whole fleet (`one_class_per_node`, 71,750
columns on seed 3) finds nothing below the 5 s answer in 60 CPU s (its root LP alone takes
~12); over the answer's open nodes and one more node per run of alike nodes, nothing in 20.
Two zones at a time, the other zones' columns held where they are (so that every rule's count
over them is a constant), the same model is a few hundred columns and HiGHS proves the pair's
optimum in 0.1-0.9 CPU s (the model built once, ~0.35 s); a pair moves a spread's extra replicas
between the two zones as a block and repacks both (session 59, h59d: from seed 3's 5 s answer,
44.09, the pair us-east-1a / us-west-2b 43.41; seed 22's 49.34, us-east-1c / us-west-2b 47.91).

The model is fitc's own per-node encoding, so every rule holds as the exact path holds it: the
pair's nodes are the zones' open ones, their free ones (price 0) and, per run of alike nodes
(`Problem.symmetric`), `SPARE` more after its last open one; every other node's columns are
fixed (`HighsBackend.fixed_out` takes them out) at the packing's values, which HiGHS is handed
as its start. Pairs are tried in the order of the room their paid nodes leave unused, priced
(the most first), each for at most `PAIR_SECONDS` and half of what the stage has left (so
that a first pair that gains nothing leaves the next its time), until the deadline; a pair's placement is
kept where it costs less. Only where the per-node model is small (`MOST_COLUMNS`): at 10,000
nodes it is not built.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem, one_class_per_node
from fitlang.solve.backends import _highs_with, _native_stdout_silenced, watch
from fitlang.solve.clock import highs_limited
from fitlang.solve.counted_exact import _columns
from fitlang.solve.encode import Encoding, encode
from fitlang.solve.linear import FixedOut, MatrixForm, matrix_form
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.placement_result import _packed_value

# the per-node model is built only where it has at most this many (workload, node) columns
# (inventory 1,000 / 100: 50,000-72,000 on the seeds measured, ~0.4 CPU s to build; 10,000 nodes
# are far over it)
MOST_COLUMNS = 120_000
# building the model takes about this much CPU per column (inventory 1,000 seed 3: ~0.4 s for
# 71,750); the stage starts only where the time left holds that and `LEAST_PAIR_SECONDS`
SET_UP_CPU_PER_COLUMN = 8e-6
LEAST_PAIR_SECONDS = 0.3
# the most one pair's MIP takes (seed 3: 0.15-3.6 CPU s a pair, most proven optimal under 3)
PAIR_SECONDS = 3.0
# a pair takes at most this share of what the stage has left, so that a pair that gains nothing
# leaves room for the next (inventory 1,000 seed 3 at 5 s: the first-ranked pair gains nothing
# in 0.65-0.8 CPU s, the second -2.64 in 0.43; the pairs have ~1.2 s after the build); where
# that share would be less than `LAST_PAIR_SECONDS`, the pair takes all that is left
PAIR_SHARE = 0.5
LAST_PAIR_SECONDS = 0.5
# empty nodes offered per run of alike nodes past its last open one
SPARE = 1
RELATIVE_GAP = 1e-4


def zone_pairs_placed(problem: Problem, packing: Packing, objective: str, deadline: float | None) -> int:
    """Place two zones' replicas again exactly, pair after pair as the module says, in place,
    until the deadline; how many pairs were kept."""
    if objective != "cost" or deadline is None or not packing.complete:
        return 0
    columns = _columns(problem)
    if columns > MOST_COLUMNS or deadline - time.monotonic() < columns * SET_UP_CPU_PER_COLUMN \
            + LEAST_PAIR_SECONDS:
        return 0
    pairs = _ranked_pairs(problem, packing)
    if not pairs:
        return 0
    exact = _Exact(problem, packing)
    if not exact.ready:
        return 0
    kept = 0
    for pair in pairs:
        left = deadline - time.monotonic()
        if left < LEAST_PAIR_SECONDS:
            break
        if exact.placed_again(set(pair), packing, _pair_seconds(left)):
            kept += 1
    return kept


def _pair_seconds(left: float) -> float:
    """The most the next pair takes of the `left` seconds: `PAIR_SHARE` of them, or all of them
    where that share falls under `LAST_PAIR_SECONDS` (no pair after it would have enough)."""
    share = PAIR_SHARE * left
    return min(PAIR_SECONDS, left if share < LAST_PAIR_SECONDS else share)


def _ranked_pairs(problem: Problem, packing: Packing) -> list[tuple[str, str]]:
    """Pairs of zones with paid open nodes, the most room unused on them (priced) first."""
    unused: dict[str, float] = {}
    for node_class in problem.classes:
        if node_class.zone is None or not node_class.price:
            continue
        for node in packing.nodes.get(node_class.id, []):
            if any(node.hosted.values()):
                unused[node_class.zone] = unused.get(node_class.zone, 0.0) + \
                    float(node_class.price) * _unused_share(node_class, node)
    zones = sorted(unused)
    pairs = list(itertools.combinations(zones, 2))
    return sorted(pairs, key=lambda pair: -(unused[pair[0]] + unused[pair[1]]))


def _unused_share(node_class: NodeClass, node: NodeState) -> float:
    """The share of the node that its fullest resource leaves unused."""
    capacity = node_class.capacity_of(node.name)
    shares = [1 - node.free[r] / capacity[r] for r in ("cpu", "memory") if capacity.get(r)]
    return 1 - max(shares, default=1.0)


class _Exact:
    """The per-node model of the fleet, built once as HiGHS's arrays; per pair of zones, the
    columns of every node outside it fixed and taken out (`FixedOut`), the rest solved."""

    def __init__(self, problem: Problem, packing: Packing) -> None:
        self.problem = problem
        # (without the reasons a class is ruled out, which only explain reads: read, they
        # are worked out, 0.3-0.5 CPU s at 1,000 nodes)
        single = one_class_per_node(dataclasses.replace(problem, demands=[
            dataclasses.replace(demand, excluded={}, failing={}) for demand in problem.demands]))
        names = [c.id for c in single.classes]
        # a node the packing names that the per-node model does not have: not placed here
        self.ready = set(_per_node(packing).nodes) <= set(names)
        self.encoding: Encoding = encode(single, must_place=True)
        self.form = matrix_form(self.encoding.model, self.encoding.objective("cost"))
        self.zone = {c.id: c.zone for c in single.classes}
        self.price = {c.id: c.price for c in single.classes}
        self.owner = {name: c for c in problem.classes for name in c.node_names[: c.count]}
        self.run_of = {name: run for run in single.symmetric for name in run}
        position = {name: index for index, name in enumerate(names)}
        keyed = [(column, name) for name, column in self.encoding.u.items()]
        keyed += [(column, name) for (_, name), column in self.encoding.y.items()]
        keyed += [(column, name) for (_, name), column in self.encoding.hosting.items()]
        self.names = names
        self.columns = np.array([column for column, _ in keyed], dtype=np.int64)
        self.node_of = np.array([position[name] for _, name in keyed], dtype=np.int64)
        matrix = self.form.matrix.scipy()
        # (by columns, to cut a pair's few out at once; `FixedOut.of` slices the whole)
        self.by_column, self.size_rows = matrix.tocsc(), abs(matrix)
        self.matrix = matrix
        self.start: np.ndarray | None = None  # the packing's values, until a pair changes it

    def placed_again(self, zones: set[str], packing: Packing, seconds: float) -> bool:
        """The pair's replicas placed again on its nodes, the rest held; kept where cheaper."""
        began = time.monotonic()
        if self.start is None:
            start = self.encoding.start_values(_per_node(packing))
            self.start = np.zeros(len(self.form.c))
            self.start[np.fromiter(start.keys(), dtype=np.int64)] = np.fromiter(start.values(), dtype=float)
        values = self.start
        used = {name for name, column in self.encoding.u.items() if values[column] > 0.5}
        free = self._free_nodes(zones, used)
        if not free & used:
            return False
        solution = self._solved(free, values, seconds - (time.monotonic() - began))
        if solution is None:
            return False
        hosted: dict[str, dict[str, int]] = {}
        for (workload, name), column in self.encoding.y.items():
            amount = round(float(solution[column]))
            if amount:
                hosted.setdefault(name, {})[workload] = amount
        placed = self._packing(hosted, packing)
        value = _packed_value(self.problem, placed, "cost")
        before = _packed_value(self.problem, packing, "cost")
        if value is None or before is None or value >= before:
            return False
        packing.nodes.clear()
        packing.nodes.update(placed.nodes)
        packing._room.clear()
        self.start = None
        return True

    def _free_nodes(self, zones: set[str], used: set[str]) -> set[str]:
        """The pair's nodes the MIP may use: open ones, free ones, `SPARE` more per alike run."""
        free = set()
        for name in self.names:
            if self.zone[name] not in zones:
                continue
            run = self.run_of.get(name)
            if name in used or self.price[name] == 0 or run is None:
                free.add(name)
            else:
                last = max((i for i, other in enumerate(run) if other in used), default=-1)
                if run.index(name) <= last + SPARE:
                    free.add(name)
        return free

    def _solved(self, free: set[str], start: np.ndarray, seconds: float) -> np.ndarray | None:
        """The model with every column of a node outside `free` fixed at `start`, solved from
        `start` for at most `seconds`: its solution (every column), or None."""
        import highspy

        if seconds <= 0:
            return None
        is_free = np.array([name in free for name in self.names])
        held = self.columns[~is_free[self.node_of]]
        lower, upper = self.form.lower.copy(), self.form.upper.copy()
        lower[held] = upper[held] = start[held]
        cut = self._cut(dataclasses.replace(self.form, lower=lower, upper=upper))
        deadline = time.monotonic() + seconds
        with _native_stdout_silenced():
            highs = _highs_with(cut.form)
            # with presolve: only the solution is read, and kept only where it costs less
            # (`backends.MIP_PRESOLVE`'s fault is a wrong "optimal" and bound); from the stage's
            # entry on inventory 1,000 seeds 3 / 22 the 90 pairs take 1.5-1.7 times less CPU, the
            # best pairs 2-4 times less (us-east-1c / us-west-2b 0.43 / 0.62 -> 0.25 / 0.17 s)
            highs.setOptionValue("presolve", "on")
            highs.setOptionValue("mip_rel_gap", RELATIVE_GAP)
            highs_limited(highs, deadline, branching=False)
            indices, given = cut.start(np.arange(len(start), dtype=np.int64), start)
            highs.setSolution(len(indices), indices, given)
            watch(highs, deadline, None, time.process_time() + seconds)
            highs.run()
            if highs.getInfo().primal_solution_status != 2 or \
                    highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
                return None
            return cut.full(highs.getSolution().col_value)

    def _cut(self, form: MatrixForm) -> FixedOut:
        """`FixedOut.of(form)`, from the whole matrix's columns and rows kept at hand: the
        pair's few columns sliced out, the fixed ones' share of each row one product."""
        fixed = form.lower == form.upper
        kept = np.flatnonzero(~fixed)
        fixed_values = np.where(fixed, form.lower, 0.0)
        return FixedOut.shifted(form, kept, self.by_column[:, kept], self.matrix @ fixed_values,
                                self.size_rows @ np.abs(fixed_values), float(form.c @ fixed_values))

    def _packing(self, hosted: dict[str, dict[str, int]], packing: Packing) -> Packing:
        """A packing of the original classes with these nodes' replicas."""
        placed = Packing(exact=set(packing.exact), patterned=set(packing.patterned))
        for name, mine in sorted(hosted.items()):
            node_class = self.owner[name]
            capacity = node_class.capacity_of(name)
            row = {demand.name: index for index, demand in enumerate(self.encoding.here[name])}
            charges = self.encoding.charge_rows[name]
            taken = sum((charges[row[w]] * n for w, n in mine.items()),
                        np.zeros(len(RESOURCES), dtype=np.int64))
            left = {r: capacity.get(r, 0) - int(taken[i]) for i, r in enumerate(RESOURCES)}
            placed.nodes.setdefault(node_class.id, []).append(NodeState(name, left, dict(mine)))
        return placed


def _per_node(packing: Packing) -> Packing:
    """The packing with each node its own class (the per-node model's ids)."""
    single = Packing()
    for nodes in packing.nodes.values():
        for node in nodes:
            if any(node.hosted.values()):
                single.nodes[node.name] = [NodeState(node.name, dict(node.free), dict(node.hosted))]
    return single
