"""`replicas = N` on a workload: every replica is placed once, or listed as unplaced where the
policy allows it (`allow_unplaced = true`). Option workloads are counted by throughput
(`options.py`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rule


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem, unplaced = placed.problem, placed.unplaced
    known = {d.name for d in problem.demands}
    for name in sorted(set(unplaced) - known):
        yield placed.violation(f"the placement lists unknown workload `{name}` as unplaced", None)
    placed_replicas: dict[str, set[int]] = {}
    for workload, replica in placed.seen:
        placed_replicas.setdefault(workload, set()).add(replica)
    for demand in problem.demands:
        listed = unplaced.get(demand.name, [])
        if demand.group is None:
            here = placed_replicas.get(demand.name, set())
            counted = Counter(listed)
            missing = [r for r in range(demand.replicas) if r not in here and r not in counted]
            twice = sorted({r for r in counted if r in here or counted[r] > 1
                            or not (isinstance(r, int) and 0 <= r < demand.replicas)}, key=str)
            where = demand.spans.get("replicas", demand.origin)
            if missing:
                yield placed.violation(
                    f"`{demand.name}` has {len(missing)} of {demand.replicas} replicas neither "
                    f"placed nor listed as unplaced (replica {', '.join(map(str, missing[:5]))}"
                    f"{', ...' if len(missing) > 5 else ''})", where)
            if twice:
                yield placed.violation(
                    f"`{demand.name}` replica {', '.join(map(str, twice[:5]))} is listed as "
                    "unplaced but placed, listed twice, or does not exist", where)
        if listed and not problem.allow_unplaced:
            yield placed.violation(
                f"`{demand.workload}` has {len(listed)} replica{'s' if len(listed) != 1 else ''} "
                "unplaced, and the policy does not set `allow_unplaced = true`", demand.origin)


RULE = Rule("replicas", check=check)
