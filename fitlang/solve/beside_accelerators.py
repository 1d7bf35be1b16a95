"""The pair LP's rows for what does not fit beside a replica that fills a node's accelerators
(issue 15, the inventory shape at 10,000 nodes).

The capacity rows (bound.py) let the pairs share a class's nodes as one pool: on a class of
1-GPU nodes (us-west-2a's L4, 7.94 CPUs and 31.6 GiB each) whose every node holds an inference
replica (6 CPUs, 28 GiB), the converged LP put 4-CPU service replicas into what the inference
replicas leave (1.94 CPUs a node, summed over 157 nodes): no node can hold one (inventory
10,000 seed 31: 30 nodes' worth of such shares on that class alone, where the answer puts
those services on paid CPU nodes). Here, per class whose nodes have accelerators:

- a replica asking for more than half of a node's GPUs (`_fills`) is one a node: n_G of its
  nodes in use host one each, n_G = the sum of those pairs;
- a replica that fits beside none of them (some resource over the node's capacity with any of
  them, `_apart`) is on the other nodes in use, at most x - n_G of them;

so per resource, n_G + the apart pairs' shares (the capacity rows' shares, rounded down) <= x,
the class's node count. Implied by every placement, so the LP stays a relaxation: the shares
are those of the capacity rows (a whole-node or `exclusive` pair's share counts its node
alone), and the capacity is the class's largest node's (`usable_capacity`), so what fits on
none of its nodes beside them does not fit there either.
"""

from __future__ import annotations

import numpy as np

from fitlang.model.problem import RESOURCES

GPU = RESOURCES.index("gpu")


def beside_accelerator_rows(rows, pair_demand: np.ndarray, pair_class: np.ndarray, share: np.ndarray,
                            requests: np.ndarray, capacity: np.ndarray, y: np.ndarray) -> int:
    """Add the module docstring's rows to `rows` (bound.py's `_Rows`); say how many.
    `pair_demand`, `pair_class`: each pair's demand and class; `share`: per pair and resource
    its capacity row's coefficient; `requests`, `capacity`: per demand / class and resource;
    `y`: each pair's column."""
    fills = _fills(pair_demand, pair_class, requests, capacity)
    if not fills.any():
        return 0
    added = 0
    order = np.argsort(pair_class, kind="stable")
    cuts = np.searchsorted(pair_class[order], np.unique(pair_class[fills]))
    for k, start in zip(np.unique(pair_class[fills]).tolist(), cuts.tolist()):
        end = int(np.searchsorted(pair_class[order], k, side="right"))
        mine = order[start:end]
        filling = mine[fills[mine]]
        apart = mine[~fills[mine]]
        apart = apart[_apart(requests[pair_demand[apart]], requests[np.unique(pair_demand[filling])],
                             capacity[k])]
        if not len(apart):
            continue
        for r in range(len(RESOURCES)):
            taking = apart[share[apart, r] > 0]
            if not len(taking):
                continue
            row = rows.new(-np.inf, 0.0)
            rows.add(np.full(len(filling) + len(taking) + 1, row),
                     np.r_[y[filling], y[taking], k],
                     np.r_[np.ones(len(filling)), share[taking, r], -1.0])
            added += 1
    return added


def _fills(pair_demand: np.ndarray, pair_class: np.ndarray, requests: np.ndarray,
           capacity: np.ndarray) -> np.ndarray:
    """Per pair, whether its replica asks for more than half of its class's GPUs: two never
    share a node."""
    gpus = capacity[pair_class, GPU]
    return (gpus > 0) & (2 * requests[pair_demand, GPU] > gpus)


def _apart(candidates: np.ndarray, filling: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Per candidate request, whether it fits beside none of the `filling` requests on a node
    of `capacity` (some resource over it with each)."""
    together = candidates[:, None, :] + filling[None, :, :]
    return (together > capacity[None, None, :]).any(axis=2).all(axis=1)
