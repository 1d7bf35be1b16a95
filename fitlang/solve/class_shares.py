"""The most a new node of each class could be worth to a ruin, for every class at once.

Ruin and recreate (`improve._Search._open_cheaper`) opens, one at a time, the new node that
costs least for what it takes of the replicas left without room: price over the share of
their totals it holds (summed over the resources they ask). Weighing a class means filling
an empty node of it (`_fill_new`), a loop over the replicas left: at inventory 10,000 a
third of the ruin's time, for 16 classes a node. But no node of a class can hold more of a
resource than its capacity or than the replicas left ask, so

    price / sum over resources r of min(capacity_r, left_r) / total_r

is a lower bound on its score, computed here in numpy for every class allowed at once. The
classes weighed in order of that bound, a class whose bound is above the best score found
needs no fill: the same node is chosen (the fill, not the bound, decides), for less time.
And so the classes the price alone never reached can be weighed by what they could hold
(inventory 10,000 seed 10, eu-west-1a: the 16 cheapest were 3.9-7.9-core nodes at 0.048-0.056
USD/h a core, never the 15.9-core nodes at 0.047 a core the pair LP fills; session 40, h40b)
for a few array operations, not a fill each.
"""

from __future__ import annotations

import weakref

import numpy as np

from fitlang.model.problem import RESOURCES, Problem

# a class is not weighed where its bound is above the best score by more than rounding
# (the bound and the score sum the same shares in different orders)
ROUNDING = 1e-9


class ClassShares:
    """Every class's price and largest capacity (of any of its nodes) as arrays, in the order
    of (price, id): the order the ruin's candidates by price are taken in."""

    def __init__(self, problem: Problem) -> None:
        classes = sorted(problem.classes, key=lambda c: (float(c.price), c.id))
        self.ids = [c.id for c in classes]
        self.rank = {class_id: i for i, class_id in enumerate(self.ids)}
        self.price = np.array([float(c.price) for c in classes], dtype=float)
        self.capacity = np.array(
            [[max(capacity[r] for capacity in (c.capacity, *c.node_capacity.values())) for r in RESOURCES]
             for c in classes], dtype=float).reshape(len(classes), len(RESOURCES))

    def weighed(self, allowed: set[str], left: list[float], asked: list[tuple[int, float]],
                cheapest: int, by_room: int) -> list[tuple[float, str]]:
        """The classes to weigh for the next new node, each with its bound, the least bound
        first (then by price): the `cheapest` of `allowed` by price, and the `by_room` of the
        rest whose bound is least. `left` is what the replicas without room still ask, per
        resource; `asked` the (resource, total) pairs the scores divide by."""
        if not by_room:  # (the bound prunes few of the cheapest: 13% of their fills, seed 10)
            return [(0.0, self.ids[rank]) for rank in sorted(self.rank[c] for c in allowed)[:cheapest]]
        ranks = np.sort(np.fromiter((self.rank[c] for c in allowed), dtype=np.int64, count=len(allowed)))
        bounds = self.bounds(ranks, left, asked)
        chosen = np.arange(min(cheapest, len(ranks)))
        if by_room and len(ranks) > cheapest:
            others = cheapest + np.argsort(bounds[cheapest:], kind="stable")[:by_room]
            chosen = np.concatenate([chosen, others])
        chosen = chosen[np.lexsort((ranks[chosen], bounds[chosen]))]
        return [(bound, self.ids[rank]) for bound, rank in zip(bounds[chosen].tolist(), ranks[chosen].tolist())]

    def bounds(self, ranks: np.ndarray, left: list[float], asked: list[tuple[int, float]]) -> np.ndarray:
        """For the classes at `ranks`: price over the most share of the `asked` totals a node
        of the class could hold (inf where it could hold none)."""
        share = np.zeros(len(ranks), dtype=float)
        for r, most in asked:
            share += np.minimum(self.capacity[ranks, r], left[r]) / most
        with np.errstate(divide="ignore"):
            return np.where(share > 0, self.price[ranks] / np.where(share > 0, share, 1.0), np.inf)


def beyond(bound: float, best: float) -> bool:
    """Whether a class with this bound cannot beat the `best` score found."""
    return bound > best * (1 + ROUNDING)


_SHARES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def class_shares(problem: Problem) -> ClassShares:
    """The problem's `ClassShares`, built on the first ask (a `Problem` is immutable)."""
    shares = _SHARES.get(problem)
    if shares is None:
        shares = _SHARES[problem] = ClassShares(problem)
    return shares
