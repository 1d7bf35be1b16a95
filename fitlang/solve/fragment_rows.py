"""Which fragmentation rows (`rules/capacity._fragment_rows`) the fleet-scale aggregate model
gets: Fekete and Schepers' dual feasible functions u(k), per class and resource.

The aggregate model sums a class's capacity, so it packs replicas as a fluid: on the inventory
shape at 1,000 nodes / 100 workloads (issue 15's first example size) the zone spreads send
replicas of 4 CPUs to 7.9-CPU nodes, one a node at most, and the model counts two a node. Seed
3's paid zones need 9 such replicas in eu-west-1b: 9 nodes whatever else they host, where the
model counted 5. So its bound was loose (session 47, h47a: model 36.90 against the pattern bound's
39.70, not converged, and the exact per-node model's dual bound 39.16 after 98 CPU s), and its
counts packed dear (44.69 from a model of 37.62). Each zone's packing was already optimal for
the replicas the model sent there (every zone's paid nodes repacked by one exact program kept
nothing): what was loose was where the replicas went, and the bound.

The u(1) row says replicas over half a node take a node each. It holds for every placement (the
model stays a relaxation: its bound is proven), and at this size the model with it still solves
in the limit. Session 5 measured them keeping
HiGHS from improving on its start in 30 s at inventory 1,000 (185.11 against 95.49), on the
model of that time, so they stay off where they were not measured again: past MOST_NODES.
"""

from __future__ import annotations

from fitlang.model.problem import Problem

# the k of u(k) the model gets (k = 1: replicas over half a node). Measured at 5 s (CPU clock,
# load 35-40, one run each): seed 3 42.49 / 39.41 with (1,), 41.75 / 39.41 with (1, 2); seed 6
# 45.04 / 44.33 against 45.79 / 44.15; seed 4's bound 30.77 against 30.12 (the model's branch and
# bound got less far with more rows)
KS: tuple[int, ...] = (1,)
# fleets with more nodes keep the rule's default (none): measured at 1,000 nodes, not 10,000
MOST_NODES = 2_000


def fragment_ks(problem: Problem) -> tuple[int, ...] | None:
    """The u(k) of the fleet-scale model of `problem`; None: the capacity rule's default."""
    nodes = sum(node_class.count for node_class in problem.classes)
    return KS if nodes <= MOST_NODES else None
