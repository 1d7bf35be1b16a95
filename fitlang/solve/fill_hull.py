"""What one node can hold of CPU and memory together: rows for the pair relaxation (bound.py).

The pair relaxation's capacity rows bound each resource of a class on its own: the CPU
its replicas take at most the nodes in use times the node's CPU, the memory likewise. But
what a node hosts is a sum of whole requests, and such sums reach only some points of the
(CPU, memory) box: inventory nodes of 15,940m hold at most 15,750m of replicas asking in
steps of 250m, and a node full of CPU-heavy replicas has memory left that no mix of the
class's requests fills at the same time. Here, per merged class, the set of (CPU, memory)
sums of requests of the demands that may use it that fit in one node (`reachable`, any
number of each, in units of the class's greatest common divisor of those requests, as
bound.usable_capacity) and the facets of its convex hull seen from the box's far corner
(`facets`: a x + b y <= c with a, b >= 0). Every node's (CPU, memory) in use is a point of
that set, so the nodes in use together satisfy
    sum over pairs of replicas x (a cpu + b memory) <= c x nodes in use
for every facet, which is the row `hull_rows` gives. The facets on the axes are the most
CPU and the most memory a node can fill (`most`: what bound.usable_capacity rounds to,
never less tight than the common divisor); the others are new.

Rows are over whole requests (never the whole-node charge bound.py gives a replica that
leaves no room for another), so they hold for every placement, whatever the charges.
A class whose box has more than MAX_CELLS points gets no rows (its divisor is small and
the box large: no sum is then far from any point of the box, and the rows would add little).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# the largest box (units of CPU + 1) x (units of memory + 1) worked out per class: inventory
# classes are 64 x 61 points (250m and 512 MiB steps); a box of 2^16 points is ~0.1 ms a shape
MAX_CELLS = 1 << 16
CPU, MEMORY = 0, 1


@dataclass
class ClassHull:
    """One class's units (the divisors), the most CPU and memory a node can fill (in
    millicores and bytes as the requests are) and the facets (a, b, c), in units."""

    divisor: tuple[int, int]
    most: tuple[int, int]
    facets: list[tuple[int, int, int]]


def reachable(box: tuple[int, int], shapes: np.ndarray) -> np.ndarray:
    """Which (x, y) with x <= box[0], y <= box[1] are sums of `shapes` (rows (a, b) of
    whole units, each used any number of times): a boolean array of the box."""
    found = np.zeros((box[0] + 1, box[1] + 1), dtype=bool)
    found[0, 0] = True
    for a, b in shapes.tolist():
        if a == 0 and b == 0:
            continue
        # every multiple of the shape added, by doubling: after k steps, 0 .. 2^k - 1 copies
        step_a, step_b = a, b
        while step_a <= box[0] and step_b <= box[1]:
            shifted = found[:found.shape[0] - step_a, :found.shape[1] - step_b]
            found[step_a:, step_b:] |= shifted
            step_a, step_b = 2 * step_a, 2 * step_b
    return found


def facets(found: np.ndarray) -> list[tuple[int, int, int]]:
    """The facets a x + b y <= c (a, b >= 0, whole numbers, not both 0) of the convex hull
    of the points of `found` and everything below and left of them: the upper right hull
    of its staircase, from (0, most y) to (most x, 0)."""
    columns = found.any(axis=1)
    if not columns.any():
        return []
    xs = np.flatnonzero(columns)
    # per x, the most y reached there; then kept only where no larger x reaches as much
    top = found.shape[1] - 1 - np.argmax(found[xs, ::-1], axis=1)
    most_y_after = np.maximum.accumulate(top[::-1])[::-1]
    kept = top >= np.r_[most_y_after[1:], -1] + 1
    points = [(0, int(top.max()))] + [(int(x), int(y)) for x, y in zip(xs[kept], top[kept])] \
        + [(int(xs.max()), 0)]
    hull: list[tuple[int, int]] = []
    for point in points:  # monotone chain: the upper hull, x increasing
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) >= 0:
            hull.pop()
        if not hull or hull[-1] != point:
            hull.append(point)
    found_facets = []
    for (x1, y1), (x2, y2) in zip(hull, hull[1:]):
        a, b = y1 - y2, x2 - x1
        divisor = math.gcd(a, b)
        a, b = a // divisor, b // divisor
        found_facets.append((a, b, a * x1 + b * y1))
    return found_facets


def _cross(o: tuple[int, int], p: tuple[int, int], q: tuple[int, int]) -> int:
    return (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])


def class_hulls(capacity: np.ndarray, requests: np.ndarray, pair_demand: np.ndarray,
                pair_class: np.ndarray) -> dict[int, ClassHull]:
    """Per class (row of `capacity`, [classes, resources]) with users and a small enough box,
    its hull; `pair_demand`, `pair_class`: every eligible pair (rows of `requests`)."""
    hulls: dict[int, ClassHull] = {}
    if not len(pair_class):
        return hulls
    order = np.argsort(pair_class, kind="stable")
    classes, starts = np.unique(pair_class[order], return_index=True)
    for k, users in zip(classes.tolist(), np.split(pair_demand[order], starts[1:])):
        hull = _class_hull(capacity[k, [CPU, MEMORY]], requests[np.unique(users)][:, [CPU, MEMORY]])
        if hull is not None:
            hulls[k] = hull
    return hulls


def _class_hull(capacity: np.ndarray, wanted: np.ndarray) -> ClassHull | None:
    """One class's hull: `capacity` (CPU, memory) of its largest node, `wanted` the requests
    (CPU, memory) of the demands that may use it."""
    divisor = np.gcd.reduce(wanted, axis=0)
    if (divisor <= 0).any() or (capacity <= 0).any():
        return None  # a resource nobody asks for, or a class without it: the rows say enough
    box = capacity // divisor
    if (box[0] + 1) * (box[1] + 1) > MAX_CELLS:
        return None
    units = wanted // divisor
    fitting = np.unique(units[(units <= box).all(axis=1)], axis=0)
    found = reachable((int(box[0]), int(box[1])), fitting)
    xs, ys = np.nonzero(found)
    most = (int(xs.max()) * int(divisor[0]), int(ys.max()) * int(divisor[1]))
    return ClassHull((int(divisor[0]), int(divisor[1])), most, facets(found))
