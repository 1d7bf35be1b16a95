"""`latency <location> < N ms for K replicas` on a workload: at least K of its replicas (its
options' counted together) run on nodes within N ms of the location."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rule


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem = placed.problem
    for members in problem.latency_demands():
        for rule in members[0].latency:
            count = within = 0
            for demand in members:
                for node, here in placed.placed_on.get(demand.name, Counter()).items():
                    count += here
                    if problem.within_reach(rule, placed.owner[node]):
                        within += here
            if count and within < rule.replicas:
                yield placed.violation(
                    f"`{members[0].workload}` has {within} replica{'s' if within != 1 else ''} "
                    f"within {float(rule.limit_ms):g} ms of {rule.location}; its latency rule "
                    f"needs {rule.replicas}", rule.origin)


RULE = Rule("latency", check=check)
