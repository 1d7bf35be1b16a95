"""`max_count` on a `buy` block: at most that many nodes bought through it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.rules.base import Placed, Rows, Rule

if TYPE_CHECKING:
    from fitlang.solve.encode import Encoding
    from fitlang.solve.linear import Number


def check(placed: Placed) -> Iterator[Diagnostic]:
    owner = placed.owner
    per_group: Counter = Counter(owner[n].buy_group for n in placed.bought if n in owner)
    for group, limit in placed.problem.buy_limits.items():
        if per_group[group] > limit:
            yield placed.violation(f"{per_group[group]} nodes bought, over max_count = {limit}", None)


@dataclass(frozen=True)
class BuyGroup:
    """A `buy` block's max_count; `buy` is the block's index (`NodeClass.buy_group`)."""

    buy: int


def buy_limit_rows(encoding: Encoding) -> None:
    """Per `buy` block with a max_count: the nodes bought of its classes <= max_count."""
    problem = encoding.problem
    for group, limit in sorted(problem.buy_limits.items()):
        terms: dict[int, Number] = {encoding.u[c.id]: 1 for c in problem.classes if c.buy_group == group}
        if terms:
            encoding.model.add(terms, upper=limit, group=BuyGroup(group))


RULE = Rule("buy_limits", check=check, rows=Rows(limits=buy_limit_rows, rank=-1))
