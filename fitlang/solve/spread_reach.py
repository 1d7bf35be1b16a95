"""A workload with a spread and latency rules, placed by the greedy pass over every domain of
its spread, the domains within each rule's reach first.

The greedy pass sends a workload with latency rules to the classes within reach of every
location they name, as if each replica had to be. A rule asks for `replicas` of them within
reach (rules/latency.py), and a spread counts every domain its eligible nodes are in (a domain
of owned nodes always, one of offers where nodes are bought): kept to the domains in reach,
the others (an owned site out of reach) hold none, so each domain in reach holds at most the
skew. On `bench/cloud_buy.py --small` seed 4 a service of 7 replicas, `spread region
max_skew 1`, within 10 ms of Seattle and of Chicago (no region reaches both) placed none, and
`fitc solve` ended `unknown` with nothing placed where 4 on the owned Chicago node and 3 on a
node bought in Oregon hold every rule. So such a workload goes over every domain of its
spread as one without the latency rules, the domains each rule reaches first in the deal's
order; kept where it places every replica and meets every rule, else given back and placed as
before (latency_parts.py does the same for a workload without a spread, in parts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fitlang.model.problem import Demand


def spread_over_reach(demand: Demand) -> bool:
    """Is the workload placed over its spread's domains with its latency rules met after?
    Not a gang nor an option group (their own placing counts their replicas together)."""
    return bool(demand.latency) and bool(demand.spreads) and not demand.gang and demand.group is None


def reach_first(domains: Sequence[np.ndarray], reach: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The domains (each its classes' rows) in their order, but for each rule (a mask over
    class rows) the first domain with a class in its reach moved to the front."""
    ordered = list(domains)
    front: list[np.ndarray] = []
    for mask in reach:
        if any(bool(mask[rows].any()) for rows in front):
            continue
        found = next((rows for rows in ordered if mask[rows].any()), None)
        if found is not None:
            ordered = [rows for rows in ordered if rows is not found]
            front.append(found)
    return front + ordered


def within_reach(hosted: Sequence[tuple[int, int]], reach: Sequence[np.ndarray],
                 wanted: Sequence[int]) -> bool:
    """Do the replicas placed, (class row, replicas) per node, meet each rule: at least its
    `wanted` replicas on classes within its reach?"""
    return all(sum(amount for row, amount in hosted if mask[row]) >= need
               for mask, need in zip(reach, wanted))
