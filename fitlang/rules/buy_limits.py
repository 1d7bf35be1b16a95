"""`max_count` on a `buy` block: at most that many nodes bought through it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rule


def check(placed: Placed) -> Iterator[Diagnostic]:
    owner = placed.owner
    per_group: Counter = Counter(owner[n].buy_group for n in placed.bought if n in owner)
    for group, limit in placed.problem.buy_limits.items():
        if per_group[group] > limit:
            yield placed.violation(f"{per_group[group]} nodes bought, over max_count = {limit}", None)


RULE = Rule("buy_limits", check=check)
