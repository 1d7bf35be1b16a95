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
objective, the node counts may grow instead, the cheapest way HiGHS finds in what is left of
the time, kept where that costs at most `GROW_GAP` more than the model. Each solve runs in a
child process stopped at its limit (`minimise_within`); where neither finds anything in time,
the rounding stands.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

from fitlang.solve.backends import HighsBackend, minimise_within
from fitlang.solve.encode import Encoding
from fitlang.solve.linear import Number, Outcome, Status, Value

FIT_SECONDS = 0.5  # the most each whole-count solve may take
FIT_SHARE = 0.2  # of what is left before the deadline
LEAST_SECONDS = 0.05  # with less left, the rounding stands
# grown node counts are kept only within this share over the relaxed model's value: HiGHS cut
# at its limit may hold a dear incumbent (inventory 300 seed 14: 12.08 where the model was
# 7.67 and the rounding, repaired, 9.35)
GROW_GAP = 0.01


@dataclass(frozen=True)
class Fitted:
    counts: dict[tuple[str, str], int]  # replicas per (workload, class), whole
    nodes: dict[str, int]  # nodes per class they are counted on (at least the relaxed model's)


def fitted_counts(encoding: Encoding, solution: list[Value], objective: dict[int, Number],
                  deadline: float | None, may_grow: bool = False) -> Fitted | None:
    """Whole replica counts on the node counts of `solution` (a solution of the relaxed
    `encoding`), as good for `objective` as HiGHS finds in time; with `may_grow`, on more
    nodes where those cannot hold them whole. None where it finds nothing."""
    if not encoding.relaxed_columns:
        return None
    outcome = _solved(encoding, solution, objective, deadline, grow=False)
    if outcome is not None and outcome.status is Status.INFEASIBLE and may_grow:
        outcome = _solved(encoding, solution, objective, deadline, grow=True)
        if outcome is not None and not _near(outcome, encoding.model.value(objective, solution)):
            return None
    if outcome is None or outcome.solution is None:
        return None
    return Fitted(encoding.whole_counts(outcome.solution),
                  {class_id: int(outcome.solution[column]) for class_id, column in encoding.u.items()})


def _near(outcome: Outcome, relaxed: Fraction) -> bool:
    return outcome.objective is not None and outcome.objective <= relaxed * (1 + Fraction(GROW_GAP))


def _solved(encoding: Encoding, solution: list[Value], objective: dict[int, Number],
            deadline: float | None, grow: bool) -> Outcome | None:
    limit = FIT_SECONDS if deadline is None else min(FIT_SECONDS, FIT_SHARE * (deadline - time.monotonic()))
    if limit < LEAST_SECONDS:
        return None
    with _whole_on_nodes(encoding, solution, grow):
        return minimise_within(HighsBackend(), encoding.model, objective, limit)


@contextmanager
def _whole_on_nodes(encoding: Encoding, solution: list[Value], grow: bool) -> Iterator[None]:
    """The model with the relaxed replica columns whole and each class's node count held at
    `solution`'s (with `grow`: at least that), for the block; as it was after."""
    model = encoding.model
    with model.trial():
        upper = model.bounds()[1]
        for column in encoding.u.values():
            nodes = int(solution[column])
            model.set_bounds(column, nodes, upper[column] if grow else nodes)
        model.set_integer(encoding.relaxed_columns)
        yield
