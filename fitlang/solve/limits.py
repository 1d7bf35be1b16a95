"""The buy limits, the budget and the power caps as integer rows over node counts per class,
built once per problem (`placement.within_limits` asks them).

Each limit is a sum over classes of a rational weight times the class's node count, at most
a rational bound: a buy group's classes weigh 1 against its max_count, each class its price
against the budget, its watts against a power cap. Summed as `Fraction`s over every class
each time, they were most of the consolidation's time on the inventory shape, which has a
budget: at 10,000 nodes 257 asks took 7.5 of its 11.2 profiled seconds (the budget's sum of
~2,000 Fraction products each time). Here each row is scaled once by the least common
multiple of its denominators, so the same test is an exact integer dot product: no limit is
relaxed or rounded.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fitlang.model.problem import Problem

# an int64 dot product is exact while |weights| summed times the largest count stays below this
_EXACT_INT64 = 2 ** 62


@dataclass(frozen=True)
class _Row:
    """sum(weights[i] * counts[columns[i]]) <= bound, in integers."""

    columns: np.ndarray  # int64 positions in `FleetLimits.ids`
    weights: np.ndarray | list[int]  # int64 where the product cannot overflow, else Python ints
    bound: int

    def holds(self, counts: np.ndarray) -> bool:
        return self.total(counts) <= self.bound

    def total(self, counts: np.ndarray) -> int:
        if isinstance(self.weights, np.ndarray):
            return int(self.weights @ counts[self.columns])
        taken = counts[self.columns].tolist()
        return sum(w * n for w, n in zip(self.weights, taken))


class FleetLimits:
    """The problem's buy limits, budget and power caps, each an integer row over its classes'
    node counts (in the order of `problem.classes`)."""

    def __init__(self, problem: Problem):
        classes = problem.classes
        self.ids = [c.id for c in classes]
        self.position = position = {class_id: i for i, class_id in enumerate(self.ids)}
        largest = max((c.count for c in classes), default=0)
        rows = [
            _row({position[c.id]: Fraction(1) for c in classes if c.buy_group == group},
                 Fraction(limit), largest)
            for group, limit in problem.buy_limits.items()]
        if problem.budget is not None:
            rows.append(_row({position[c.id]: c.price for c in classes}, problem.budget, largest))
        watts = {c.id: c.power_watts for c in classes}
        for cap in problem.power_caps:
            weights: dict[int, Fraction] = {}
            for class_id in cap.classes:  # (a class listed twice counts twice, as summed before)
                weights[position[class_id]] = weights.get(position[class_id], Fraction(0)) + watts[class_id]
            rows.append(_row(weights, cap.cap_watts, largest))
        self.rows = rows
        # per class (its position in `ids`): the rows it is in, with its weight there
        self.in_rows: list[list[tuple[int, int]]] = [[] for _ in self.ids]
        for j, row in enumerate(rows):
            for column, weight in zip(row.columns.tolist(), list(row.weights)):
                self.in_rows[column].append((j, int(weight)))

    def hold(self, counts: dict[str, int]) -> bool:
        """Do these node counts per class (every class of the problem) keep every limit?"""
        if not self.rows:
            return True
        vector = np.fromiter((counts[class_id] for class_id in self.ids), dtype=np.int64, count=len(self.ids))
        return self.hold_vector(vector)

    def hold_vector(self, vector: np.ndarray) -> bool:
        """`hold` for the counts as an int64 array in the order of `ids` (a caller that keeps
        them up to date skips the dictionary: dear_nodes.py asks thousands of times)."""
        return all(row.holds(vector) for row in self.rows)


class Totals:
    """Each limit's sum over node counts per class, kept up to date as nodes open one at a time
    (improve.py weighs opening a node of each of up to 16 classes for each node it opens): one
    more node of a class is checked against the rows that class is in, an integer addition per
    row, not a dot product over every class (the budget's: every class of the problem). Exact:
    the same answer as `FleetLimits.hold_vector` on the counts with the node added."""

    def __init__(self, limits: FleetLimits, counts: np.ndarray) -> None:
        self.limits = limits
        self.sums = [row.total(counts) for row in limits.rows]
        self.held = self._every_row_held()

    def one_more_holds(self, position: int) -> bool:
        """Whether one more node of the class at `position` keeps every limit."""
        rows, sums = self.limits.rows, self.sums
        return self.held and all(sums[j] + weight <= rows[j].bound
                                 for j, weight in self.limits.in_rows[position])

    def opened(self, position: int) -> None:
        """One more node of the class at `position` counted."""
        for j, weight in self.limits.in_rows[position]:
            self.sums[j] += weight
        self.held = self._every_row_held()

    def _every_row_held(self) -> bool:
        return all(total <= row.bound for total, row in zip(self.sums, self.limits.rows))


def _row(weights: dict[int, Fraction], bound: Fraction, largest: int) -> _Row:
    """The row scaled by the least common multiple of its denominators (exact)."""
    scale = math.lcm(bound.denominator, *(Fraction(w).denominator for w in weights.values()))
    columns = np.fromiter(weights, dtype=np.int64, count=len(weights))
    scaled = [int(Fraction(w) * scale) for w in weights.values()]
    bound_scaled = math.floor(bound * scale)  # (an integer already: scale holds its denominator)
    fits = sum(abs(w) for w in scaled) * 2 * (largest + 1) < _EXACT_INT64  # (a count may be one over)
    return _Row(columns, np.array(scaled, dtype=np.int64) if fits else scaled, bound_scaled)


_LIMITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fleet_limits(problem: Problem) -> FleetLimits:
    """The problem's limits, built on the first ask (a `Problem` is immutable and hashed as
    itself)."""
    limits = _LIMITS.get(problem)
    if limits is None:
        limits = _LIMITS[problem] = FleetLimits(problem)
    return limits
