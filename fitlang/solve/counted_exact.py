"""The exact per-node model over the nodes the relaxed aggregate model counted, and the
same-price classes beside them, where `pack` falls short of its counts.

The relaxed model counts each class as its largest node and lets replicas split, so its
whole node counts may pack short however well they are packed (inventory 300, h32d: seeds 25
and 28 short of 32 / 53 replicas, `repair` then opened dearer nodes: +17.5% and +18.5% over
the proven optima). Its node counts are nearly always an optimum's counts, or a same-price
swap away from them (seed 25: p0008 3 -> 2 nodes, p0018 1 -> 2, both 0.50 USD/h). So here
the per-node model (`one_class_per_node`, every node its own class: every rule holds node by
node) is solved with every node closed but those the model counted, a few hundred columns;
where no placement is found on them under the cutoff, once more with one node more of each
class that has a short replica's origin price and may host it. HiGHS looks only for
placements under `CUTOFF_GAP` over the relaxed model's value (`HighsBackend.cutoff`): the
model is a relaxation, so the optimum is over it, and a placement much dearer is `repair`'s
work. The solve runs in a child process (`Minimising`) while this one completes the packing
as before; the caller keeps the cheaper of the two.

Measured (load 8, CPU seconds, h33a): seed 25 15.335 (the optimum) in 1.0-1.5 s on the
counted nodes, seed 28 25.484 (+0.19% over 25.436) in 1.0 s, where `repair` gave 23.443 /
26.244. Only fleets whose per-node model has at most `MAX_COLUMNS` columns: the model is
built over every node (the closed ones kept, so that a spread's domains are those of the
fleet); HiGHS is handed it without the closed nodes' columns (`FixedOut`, session 34: seed 25's
step 0.7 CPU s where the whole model took 2.1-2.5 s and, at load 11, ran out of its limit).
The child is stopped by its own CPU time and HiGHS's node count (`EXACT_CPU_SECONDS`,
`EXACT_NODES`), not the wall, so that a loaded machine finds what a quiet one does, unless
the deadline's share is less.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from fractions import Fraction

from fitlang.model.problem import RESOURCES, Problem, one_class_per_node
from fitlang.solve import work
from fitlang.solve.backends import HighsBackend, Minimising
from fitlang.solve.clock import LEAST_CPU_SHARE
from fitlang.solve.encode import Encoding, encode
from fitlang.solve.linear import Status
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.placement_result import _packed_value

# the per-node model is built only where it has at most this many (workload, node) columns
# (inventory 300: 5,200-7,000 on the seeds measured; 10,000 nodes far over: not started)
MAX_COLUMNS = 12_000
# placements over the relaxed model's value by more than this are cut off (inventory 300:
# the optima were 0 / 2.8% / 3.9% over it on seeds 25 / 28 / 23)
CUTOFF_GAP = Fraction(5, 100)
# the child's caps on its work where the deadline leaves it time, which end it at the same
# place on any machine at any load: a cap of 3 s on the wall did not (inventory 300 seeds 25 /
# 28 at load ~20: 0.24-0.32 CPU s by then, nothing found, 16.004 / 28.474 where the child's
# 0.55 CPU s find the optimum 15.335). Its own CPU time (the same at any load), twice what
# seed 25 took at load 8 (h33a: 1.0-1.5 s), and HiGHS's nodes (every solve measured ended at
# its root: seeds 3, 23, 25; a node of models this size ~6 ms, `fitted_counts.FIT_NODES`)
EXACT_CPU_SECONDS = 3.0
EXACT_NODES = 500
EXACT_SHARE = 0.6  # of what is left before the deadline: where that is less, the deadline decides
LEAST_SECONDS = 0.2  # with less left, not started
BESIDE_NODES = 1  # a class beside the counted ones may open this many nodes more
RELATIVE_GAP = 1e-4

# node name -> {workload: replicas} (the nodes the child's placement opens)
Assignment = dict[str, dict[str, int]]


class CountedExact:
    """The child solving the per-node model over the counted nodes (see the module)."""

    def __init__(self, problem: Problem, nodes: dict[str, int], short: Iterable[tuple[str, str]],
                 relaxed: Fraction, deadline: float) -> None:
        self.problem = problem
        # (on the solve's clock, stopping nothing before the CPU net at any share a wall limit allows for)
        limit = min(EXACT_CPU_SECONDS / LEAST_CPU_SHARE, EXACT_SHARE * (deadline - time.monotonic()))
        if work.counted():  # (its node count alone, as `fitted_counts._solved`'s child)
            limit = max(limit, work.backstop() - time.monotonic())
        counted = {class_id: amount for class_id, amount in nodes.items() if amount}
        beside = _beside(problem, counted, short)
        cutoff = float(relaxed * (1 + CUTOFF_GAP))
        self._child = Minimising.running(lambda seconds: _solved(problem, (counted, beside), cutoff, seconds),
                                         limit)

    def found(self) -> Packing | None:
        """The child's placement of every replica (waiting for it until its limit), or None."""
        assignment = self._child.result()
        return None if assignment is None else _packing(self.problem, assignment)

    def cheaper(self, packing: Packing, objective: str) -> Packing:
        """The child's placement where it places every replica and `packing` does not, or
        places them for less; else `packing`."""
        exact = self.found()
        if exact is None:
            return packing
        if not packing.complete:
            return exact
        value = _packed_value(self.problem, exact, objective)
        theirs = _packed_value(self.problem, packing, objective)
        return exact if value is not None and theirs is not None and value < theirs else packing


def counted_exact(problem: Problem, objectives: list[str], nodes: dict[str, int],
                  short: Iterable[tuple[str, str]], relaxed: Fraction | None,
                  deadline: float | None) -> CountedExact | None:
    """The child started, where it may run: one objective, cost; a deadline with time left;
    a per-node model small enough."""
    if objectives != ["cost"] or relaxed is None or deadline is None:
        return None
    if EXACT_SHARE * (deadline - time.monotonic()) < LEAST_SECONDS or _columns(problem) > MAX_COLUMNS:
        return None
    return CountedExact(problem, nodes, short, relaxed, deadline)


def _columns(problem: Problem) -> int:
    counts = {c.id: c.count for c in problem.classes}
    return sum(counts.get(class_id, 0) for demand in problem.demands for class_id in demand.eligible)


def _beside(problem: Problem, counted: dict[str, int], short: Iterable[tuple[str, str]]) -> dict[str, int]:
    """The counted nodes, and `BESIDE_NODES` more of each class a short replica may use at
    the price of the class it was short on."""
    beside = dict(counted)
    for workload, origin in short:
        price = problem.node_class(origin).price
        for class_id in problem.demand(workload).eligible:
            node_class = problem.node_class(class_id)
            if node_class.price == price:
                more = min(node_class.count, counted.get(class_id, 0) + BESIDE_NODES)
                beside[class_id] = max(beside.get(class_id, 0), more)
    return beside


def _solved(problem: Problem, steps: tuple[dict[str, int], ...], cutoff: float,
            seconds: float) -> Assignment | None:
    """In the child: the per-node model with the nodes of each step open (the first ones of
    each class: the symmetry rows order a class's nodes), in turn, until one has a placement
    under `cutoff`; None where none has in `seconds`, or in `EXACT_CPU_SECONDS` of this
    process's CPU time, or in `EXACT_NODES` of a step's branch and bound."""
    # (no user limit: the node count alone, `seconds` behind it; the CPU cap would end it at
    # another node on a slower machine: work.py)
    cpu_deadline = math.inf if work.counted() else time.process_time() + EXACT_CPU_SECONDS
    deadline = time.monotonic() + seconds
    single = one_class_per_node(problem)
    encoding = encode(single, must_place=True)
    backend = HighsBackend(RELATIVE_GAP, cutoff=cutoff, fixed_out=True, most_nodes=EXACT_NODES)
    replica_bounds = _replica_bounds(encoding)
    tried: list[dict[str, int]] = []
    for step in steps:
        if step in tried:
            continue
        tried.append(step)
        _open_only(problem, encoding, step, replica_bounds)
        left, cpu_left = deadline - time.monotonic(), cpu_deadline - time.process_time()
        if left <= 0 or cpu_left <= 0:
            return None
        outcome = backend.minimise(encoding.model, encoding.objective("cost"), left,
                                   cpu_seconds=None if math.isinf(cpu_left) else cpu_left)
        if outcome.solution is not None and outcome.objective is not None and outcome.objective <= cutoff:
            return _assignment(encoding, outcome.solution)
        if outcome.solution is None and outcome.status is not Status.INFEASIBLE:
            return None  # out of time
        # none under the cutoff (HiGHS may still answer with one over it, found before its search)
    return None


def _open_only(problem: Problem, encoding: Encoding, nodes: dict[str, int],
               replica_bounds: dict[int, tuple[int, int]]) -> None:
    """Only the first `nodes` of each class may open. The replica columns of the others are
    fixed at none too, so that `FixedOut` takes them out (their rows alone would keep them in
    HiGHS's model); an open node's have their bounds as encoded (`replica_bounds`)."""
    model = encoding.model
    closed = set()
    for node_class in problem.classes:
        for position, name in enumerate(node_class.node_names[: node_class.count]):
            is_open = position < nodes.get(node_class.id, 0)
            model.set_bounds(encoding.u[name], 0, int(is_open))
            if not is_open:
                closed.add(name)
    for (_, name), column in encoding.y.items():
        model.set_bounds(column, *((0, 0) if name in closed else replica_bounds[column]))


def _replica_bounds(encoding: Encoding) -> dict[int, tuple[int, int]]:
    lower, upper, _ = encoding.model.bounds()
    return {column: (lower[column], upper[column]) for column in encoding.y.values()}


def _assignment(encoding: Encoding, solution: list) -> Assignment:
    opened: Assignment = {name: {} for name, column in encoding.u.items() if round(solution[column])}
    for (workload, name), amount in encoding.whole_counts(solution).items():
        if amount:
            opened.setdefault(name, {})[workload] = amount
    return opened


def _packing(problem: Problem, assignment: Assignment) -> Packing:
    packing = Packing()
    for node_class in problem.classes:
        for name in node_class.node_names[: node_class.count]:
            hosted = assignment.get(name)
            if hosted is None:
                continue
            capacity = node_class.capacity_of(name)
            free = {r: capacity[r] - sum(problem.demand(w).requests[r] * n for w, n in hosted.items())
                    for r in RESOURCES}
            packing.nodes.setdefault(node_class.id, []).append(NodeState(name, free, dict(hosted)))
            packing.exact.add(node_class.id)
    return packing
