"""`exclusive = true` on a workload: a node that hosts one of its replicas hosts nothing else."""

from __future__ import annotations

from collections.abc import Iterator

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rule


def check(placed: Placed) -> Iterator[Diagnostic]:
    demands = placed.demands
    for node, counts in sorted(placed.hosted.items()):
        names = sorted(name for name, amount in counts.items() if amount)
        for name in names:
            if demands[name].exclusive and len(names) > 1:
                others = ", ".join(f"`{n}`" for n in names if n != name)
                yield placed.violation(f"`{name}` is exclusive but shares node `{node}` with {others}",
                                       demands[name].spans.get("exclusive", demands[name].origin))


RULE = Rule("exclusive", check=check)
