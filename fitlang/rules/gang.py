"""`gang = true` on a workload: all its replicas are placed or none, in one cluster."""

from __future__ import annotations

from collections.abc import Iterator

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rule


def check(placed: Placed) -> Iterator[Diagnostic]:
    for demand in placed.problem.demands:
        if not demand.gang:
            continue
        where = demand.spans.get("gang", demand.origin)
        count = placed.placed[demand.name]
        if count not in (0, demand.replicas):
            yield placed.violation(f"gang `{demand.name}` has {count} of {demand.replicas} replicas "
                                   "placed: all or none", where)
        clusters = sorted({placed.owner[node].cluster
                           for node in placed.placed_on.get(demand.name, ())})
        if len(clusters) > 1:
            yield placed.violation(f"gang `{demand.name}` runs in clusters {', '.join(clusters)}: a gang "
                                   "runs in one cluster", where)


RULE = Rule("gang", check=check)
