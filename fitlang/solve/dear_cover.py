"""Whole nodes past the cheap classes: a cover row over a cover's dearer classes (`fitc plan`'s
bound, issue 18).

`bound._cover_rows` says that R replicas that must run on a set of classes take at least
ceil(R / f) of their nodes (f: the most one node holds). The LP meets that row with the cheap
classes' nodes and may still put a few replicas on a dear class, paying the share of a node
they fill. Inventory 1,000 seed 24: `svc76` (29 replicas, `spread zone max_skew 1` over three
zones) must have 9 in eu-west-1b, whose cheap gold class (6 nodes of 7.9 cores, 0.42 USD/h)
holds one a node; the other 3 go onto a 52.8 USD/h class, of which the LP paid 6% of a node
(the charged bound 96.54 USD/h, the move model with whole node counts 140.92 within 3.2 CPU s,
the plan 147.78 at 60 s).

Here, per cover row, its classes sorted by node price (cheapest first): take the most of the
cheapest classes that together hold fewer than R replicas of it; the rest of the R run on the
other classes, so those have at least ceil((R - held) / f') nodes in use, f' their largest fit:

    sum over the other classes C of u_C >= ceil((R - held) / f')

Why it holds: a class C holds at most min(R, fit_C x its nodes) replicas of the demand (the
pair's bound in the relaxation, `bound.relaxation`), so in any placement at least R - held of
them run on the other classes; each node there holds at most f' of them, and a count of nodes
is whole. The row reads the node counts alone (no pair or stay column), so it holds in the
charged relaxation as in the plain one. Lazy, a row each (most never bind).
"""

from __future__ import annotations

import numpy as np

from fitlang.solve.bound import INFINITY, Relaxation


def dear_cover_rows(relaxed: Relaxation, columns) -> None:
    """One row per cover of `relaxed` whose cheapest classes cannot hold its replicas (module
    docstring), into `columns` (`move_bound._NewColumns`)."""
    width = relaxed.first_pair
    price = relaxed.cost[:width]
    for pairs, replicas in relaxed.covers:
        found = _dear_part(relaxed, price, pairs, replicas)
        if found is not None:
            classes, nodes = found
            columns.row(dict.fromkeys(classes, 1.0), float(nodes), INFINITY, lazy=True)


def _dear_part(relaxed: Relaxation, price: np.ndarray, pairs: np.ndarray,
               replicas: int) -> tuple[list[int], int] | None:
    """The classes past the most cheapest ones that hold fewer than `replicas` of the cover's
    pairs (one pair a class: a cover is one demand's), and the nodes of them in use at least;
    None where there are none such (the cheapest class alone holds them all)."""
    if len(pairs) < 2:
        return None
    classes = relaxed.pair_class[pairs]
    held = relaxed.upper[relaxed.first_pair + pairs]  # min(R, fit x nodes) per pair
    order = np.lexsort((-held, price[classes]))  # cheapest first; of one price, the largest
    within = np.cumsum(held[order]) < replicas  # the first k hold fewer than R together
    cheap = int(np.argmin(within)) if not within.all() else len(order) - 1
    if cheap == 0:
        return None
    rest = order[cheap:]
    left = replicas - float(held[order[:cheap]].sum())
    most = int(relaxed.pair_fit[pairs][rest].max())
    nodes = -(-int(np.ceil(left - 1e-9)) // max(most, 1))
    return [int(c) for c in classes[rest]], nodes
