"""The relaxed aggregate model's replica counts made whole on the nodes it counted.

`Encoding.relax_replicas` lets replica counts be fractional, so that HiGHS branches on node
counts alone, and `Encoding.whole_counts` rounds them afterwards, keeping each workload's
total and a spread's skew, but blind to capacity: a class the model filled (its capacity row
tight, a replica's fractions spread over several classes) is sent the replica rounded up, and
`pack` cannot place it on the nodes counted. Inventory 300 (session 26): of the 15-45
replicas `pack` left out of the first model's counts on seeds 3, 4, 5, 7, 13, 14 and 17,
50-100% were in classes whose counts ask more than their counted nodes have, and `repair`
then opened dearer nodes (+1.5% to +7% over an optimal model).

Here the same model is solved again with the replica counts whole and the node counts held
at the relaxed solution's: every capacity, spread, gang and affinity row then holds in whole
numbers on exactly the nodes the model paid for, so the cost is the model's. With the node
counts fixed HiGHS branches on replica counts only (0.1-0.3 s at 300 nodes). Where the
counted nodes cannot hold whole counts (inventory 300 seeds 1 and 7), and the model has one
objective, the node counts may grow instead, each class by at most `GROW_NODES` (session 27:
in that box HiGHS proves the cheapest growth in 0.1-0.3 s on seeds 1, 6, 7 and 9, where with
no upper bound it held incumbents 2-20 times the model's), kept where that costs at most
`GROW_GAP` more than the model (HiGHS is told so: it cuts off the rest). Each solve runs in a
child process (`minimise_within`; with no deadline, in this one) stopped by a count of its
branch and bound's nodes and its own CPU time, so that the same input gives the same counts on
a loaded machine as on a quiet one, or by a share of what is left of the deadline where that
is less; where neither finds anything by then, the rounding stands.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

from fitlang.model.problem import RESOURCES
from fitlang.solve import work
from fitlang.solve.backends import HighsBackend, minimise_within
from fitlang.solve.clock import LEAST_CPU_SHARE
from fitlang.solve.encode import Encoding
from fitlang.solve.linear import Number, Outcome, Status, Value
from fitlang.solve.pack import pack

# the whole-count solve's caps on its work where the deadline leaves it time, which end it at
# the same place on any machine at any load: caps of 0.5 s (grown 1.5 s) on the wall did not
# (fleet.py 600 seed 4's solve needs 0.55 CPU s: a loaded machine answered 447.92 `feasible`,
# a fast one 444.32 `optimal`). Every solve measured ended at its root node (fleet.py 600 seeds
# 1-4 and 1,000 seed 1, inventory 300 seeds 1, 3, 7 and 14: 0.10-0.60 CPU s, grown 0.23-0.57);
# past it a node took ~6 ms (fleet.py 600 seed 4's model, its costs perturbed to branch: 200
# nodes in 1.3 CPU s), so the seconds allowed ~80 (grown ~250) of them
FIT_NODES = 100  # of HiGHS's branch and bound
GROW_MIP_NODES = 300
# and a net in the child's own CPU time (the same at any load), four times the dearest root
# measured: a root that runs longer is stopped there, where its CPU time decides
FIT_CPU_SECONDS = 2.0
GROW_CPU_SECONDS = 4.0
FIT_SHARE = 0.2  # of what is left before the deadline: where that is less, the deadline decides
# grown, the solve is harder (inventory 300 seed 14: 1.1 s wall at load 3 to its optimum)
GROW_SHARE = 0.4
LEAST_SECONDS = 0.05  # with less left, the rounding stands
# grown, each class may take at most this many nodes more than the relaxed model counted: the
# box is small enough for HiGHS to prove its optimum in time (inventory 300 seeds 1, 6, 7, 9:
# 0.1-0.3 s), where with no upper bound it held dear incumbents at its limit (seed 1: 177.77
# where the model was 32.687; seed 14: 21.19 where it was 7.289)
GROW_NODES = 1
# and the grown counts are kept only within this share over the relaxed model's value: the
# relaxed model may be far under the optimum (seed 14: 7.289, the optimum 8.106; grown 7.916,
# packed 8.353 against the rounding's 8.596), but not where growing buys a dear node
GROW_GAP = 0.1
# what the cutoff HiGHS is given lies over the dearest grown counts kept (its tolerances: a
# solution right at the gap is not cut off)
CUTOFF_SLACK = 1e-6
# the dual-feasible rows (`_packable_row`) for k = 1 up to this (inventory 300: k = 7 was
# the largest any short class needed on seeds 3 and 4)
PACKABLE_K = 8
# solved again with the rows the last counts broke, at most this many times
PACKABLE_ROUNDS = 3


@dataclass(frozen=True)
class Fitted:
    counts: dict[tuple[str, str], int]  # replicas per (workload, class), whole
    nodes: dict[str, int]  # nodes per class they are counted on (at least the relaxed model's)


def fitted_counts(encoding: Encoding, solution: list[Value], objective: dict[int, Number],
                  deadline: float | None, may_grow: bool = False) -> Fitted | None:
    """Whole replica counts on the node counts of `solution` (a solution of the relaxed
    `encoding`), as good for `objective` as HiGHS finds in time; with `may_grow`, on more
    nodes where those cannot hold them whole. None where it finds nothing. Where those
    counts break a row of `_packable_row`, solved again with those rows: kept where that
    finds anything in time, and, where it grew the nodes, packs short of fewer replicas."""
    if not encoding.relaxed_columns:
        return None
    whole = _fitted(encoding, solution, objective, deadline, may_grow, [])
    if whole is None:
        return None
    kept = _Counts(encoding, whole)
    rows: list[dict[int, Number]] = []
    for _ in range(PACKABLE_ROUNDS):
        broken = _broken_rows(encoding, whole)
        if not broken:
            break
        rows += broken
        again = _fitted(encoding, solution, objective, deadline, may_grow, rows)
        if again is None:
            break
        whole = again
        counts = _Counts(encoding, again)
        if not counts.grown(encoding, solution) or counts.short() < kept.short():
            kept = counts
    return Fitted(kept.counts, kept.nodes)


class _Counts:
    """One round's whole counts, with what `pack` leaves of them short (packed once asked)."""

    def __init__(self, encoding: Encoding, whole: list[Value]) -> None:
        self.problem = encoding.problem
        self.counts = encoding.whole_counts(whole)
        self.nodes = {class_id: int(whole[column]) for class_id, column in encoding.u.items()}
        self._short: int | None = None

    def grown(self, encoding: Encoding, solution: list[Value]) -> bool:
        """On more nodes than the relaxed `solution` counted: the rows then cost nodes, and
        their counts are kept only where they pack better (inventory 300 seed 14, grown: the
        first counts 7.916 packed short 1, the rows' 8.163 short 1 too, and repaired dearer:
        8.479 against 8.353)."""
        return any(self.nodes[class_id] > int(solution[column]) for class_id, column in encoding.u.items())

    def short(self) -> int:
        if self._short is None:
            self._short = sum(pack(self.problem, self.counts, self.nodes).short.values())
        return self._short


def _fitted(encoding: Encoding, solution: list[Value], objective: dict[int, Number],
            deadline: float | None, may_grow: bool, rows: list[dict[int, Number]]) -> list[Value] | None:
    """A solution with whole counts (see `fitted_counts`) that meets `rows`, or None."""
    outcome = _solved(encoding, solution, objective, deadline, 0, rows)
    if outcome is not None and outcome.status is Status.INFEASIBLE and may_grow:
        relaxed = encoding.model.value(objective, solution)
        outcome = _solved(encoding, solution, objective, deadline, GROW_NODES, rows)
        if outcome is not None and outcome.status is not Status.OPTIMAL and not _near(outcome, relaxed):
            # stopped at its limit with nothing it keeps: again, with what it would not keep
            # cut off (inventory 300 seed 14: 9.019 at the limit under load; cut off, HiGHS
            # proves 7.916 in half the CPU, 1.14-1.24 -> 0.53-0.67 s). Not at first: the cutoff
            # moves HiGHS to another optimum among equals (seed 1: 33.067 on 78 nodes where it
            # found 81, whose counts pack short 2 where those pack short 5 and repair dearer)
            outcome = _solved(encoding, solution, objective, deadline, GROW_NODES, rows,
                              float(_dearest_kept(relaxed)) + CUTOFF_SLACK)
        if outcome is not None and not _near(outcome, relaxed):
            return None
    return None if outcome is None else outcome.solution


def _near(outcome: Outcome, relaxed: Fraction) -> bool:
    return outcome.objective is not None and outcome.objective <= _dearest_kept(relaxed)


def _dearest_kept(relaxed: Fraction) -> Fraction:
    """The most grown counts may cost and be kept: `GROW_GAP` over the relaxed model's value."""
    return relaxed * (1 + Fraction(GROW_GAP))


def _solved(encoding: Encoding, solution: list[Value], objective: dict[int, Number],
            deadline: float | None, grow: int, rows: list[dict[int, Number]],
            cutoff: float | None = None) -> Outcome | None:
    """`cutoff`: HiGHS looks for solutions under it only (`HighsBackend.cutoff`)."""
    nodes, cpu, share = (GROW_MIP_NODES, GROW_CPU_SECONDS, GROW_SHARE) if grow else \
        (FIT_NODES, FIT_CPU_SECONDS, FIT_SHARE)
    # with no deadline, in this process and on no clock; else on the solve's clock, stopping
    # nothing before the CPU net at any share of a core a wall limit allows for (clock.py)
    limit = None if deadline is None else min(cpu / LEAST_CPU_SHARE, share * (deadline - time.monotonic()))
    if limit is not None and limit < LEAST_SECONDS:
        return None
    if limit is not None and work.counted():
        # (no user limit: the default limit's end, not a share of the time left, which the
        # parent would stop the child at on its CPU: inventory 1,000 seed 34's child answered on
        # one clock and was stopped on one 2.1 times as slow, the same value on other nodes)
        limit = max(limit, work.backstop() - time.monotonic())
    with _whole_on_nodes(encoding, solution, grow):
        for row in rows:
            encoding.model.add(row, upper=0)
        # (no user limit: its node count and the count of its checks that stands for the CPU
        # cap, the limit behind them; the CPU cap itself would end it at another node on a
        # slower machine, and the node count alone does not stop its root: inventory 1,000 seed
        # 42's roots ran 6-13 CPU s each, 3 rounds of 2 solves, and a machine 1.5 times as
        # slow stopped one at the default limit where a faster one answered: work.py)
        backend = HighsBackend(cutoff=cutoff, most_nodes=nodes, checked_seconds=cpu)
        return minimise_within(backend, encoding.model, objective, limit,
                               cpu_seconds=None if work.counted() else cpu)


def _broken_rows(encoding: Encoding, solution: list[Value]) -> list[dict[int, Number]]:
    """The rows of `_packable_row` whole counts (`solution`, its columns whole within
    HiGHS's tolerance) break. Read on the replicas the counts send to each class in use
    (a few per class: every row of every class was 1-2 CPU s at 10,000 nodes)."""
    broken = []
    for class_id, column in encoding.u.items():
        nodes = round(solution[column])
        if not nodes:
            continue
        charges, columns, _ = encoding.capacity_terms(class_id)
        counts = [round(solution[index]) for index in columns.tolist()]
        used = [position for position, count in enumerate(counts) if count]
        capacity = encoding.problem.node_class(class_id).capacity
        for position, resource in enumerate(RESOURCES):
            size = capacity[resource]
            if not size:
                continue
            asked = [(counts[i], int(charges[i, position])) for i in used if charges[i, position] > 0]
            broken += [_packable_row(encoding, class_id, position, k) for k in range(1, PACKABLE_K + 1)
                       if sum(count * _dual_feasible(charge, size, k) for count, charge in asked) > nodes]
    return broken


@contextmanager
def _whole_on_nodes(encoding: Encoding, solution: list[Value], grow: int) -> Iterator[None]:
    """The model with the relaxed replica columns whole and each class's node count held at
    `solution`'s (with `grow`: at least that and at most `grow` more), for the block; as it
    was after (the rows added in it gone)."""
    model = encoding.model
    with model.trial():
        upper = model.bounds()[1]
        for column in encoding.u.values():
            nodes = int(solution[column])
            model.set_bounds(column, nodes, min(upper[column], nodes + grow))
        model.set_integer(encoding.relaxed_columns)
        yield


def _packable_row(encoding: Encoding, class_id: str, position: int, k: int) -> dict[int, Number]:
    """A row that whole replicas on the class's nodes meet where each node holds its own, and
    its capacity rows (the sums over all its nodes) need not: for its resource at `position`
    in RESOURCES, of capacity C, each replica's request s counts u_k(s) = s/C where (k+1)s/C
    is whole, else floor((k+1)s/C)/k (the dual-feasible function of Fekete and Schepers,
    "New classes of fast lower bounds for bin packing problems", 2001): what one node holds
    sums to at most 1, so the class's sum is at most its node count. k = 1 counts a replica
    over half a node as a whole node (inventory 300 seed 3: four 4-CPU replicas on three
    7.9-CPU nodes, which the CPU sum allowed); larger k the mixes of sizes (seed 4: two
    8-CPU and seven 2-CPU replicas on two 15.9-CPU nodes, k = 7). The class's capacity is its
    largest member's: a smaller node's sum is under it too."""
    charges, columns, nodes = encoding.capacity_terms(class_id)
    size = encoding.problem.node_class(class_id).capacity[RESOURCES[position]]
    row: dict[int, Number] = {nodes: -1}
    for column, charge in zip(columns.tolist(), charges[:, position].tolist()):
        if charge > 0 and (share := _dual_feasible(charge, size, k)):
            row[column] = share
    return row


def _dual_feasible(request: int, capacity: int, k: int) -> Fraction:
    """u_k of a request on a node of `capacity`, as a share of the node (see `_packable_row`)."""
    steps, rest = divmod((k + 1) * request, capacity)
    return Fraction(request, capacity) if not rest else Fraction(min(steps, k + 1), k)
