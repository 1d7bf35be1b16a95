"""`max_count` on a `buy` block: at most that many nodes bought through it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.rules.base import CheckReads, GroupKey, PartKind, Placed, Rows, Rule, Stated
from fitlang.rules.explaining import plural

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.linear import Number


def check(placed: Placed) -> Iterator[Diagnostic]:
    owner = placed.owner
    per_group: Counter = Counter(owner[n].buy_group for n in placed.bought if n in owner)
    for group, limit in placed.problem.buy_limits.items():
        if per_group[group] > limit:
            yield placed.violation(f"{per_group[group]} nodes bought, over max_count = {limit}", None)


class BuyGroup(GroupKey, Frozen):
    """A `buy` block's max_count; `buy` is the block's index (`NodeClass.buy_group`)."""

    buy: int


def buy_limit_rows(encoding: Encoding) -> None:
    """Per `buy` block with a max_count: the nodes bought of its classes <= max_count."""
    problem = encoding.problem
    for group, limit in sorted(problem.buy_limits.items()):
        terms: dict[int, Number] = {encoding.u[c.id]: 1 for c in problem.classes if c.buy_group == group}
        if terms:
            encoding.model.add(terms, upper=limit, group=BuyGroup(group))


def _named(problem: Problem, group: int) -> str:
    origin = problem.buy_origins.get(group)
    return f" at line {origin.span.line}" if origin else ""


def reason(problem: Problem, part: Part) -> Stated:
    buy = part.position
    return Stated(f"the `buy` block{_named(problem, buy)} allows at most "
                  f"{plural(problem.buy_limits[buy], 'node')}", problem.buy_origins.get(buy))


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """A higher max_count: the least that works."""
    from fitlang.solve.explain import search

    group = part.position
    limit = problem.buy_limits[group]
    enough = sum(d.replicas for d in problem.demands)

    def works(extra: int) -> search.Check:
        trial = search.with_buy_limit(problem, group, limit + extra, min(limit + extra, enough))
        return search.works(trial, deadline, True)

    found = search.smallest(works, 1, max(1, enough), deadline)
    if found is None:
        return None
    most = limit + found[0]
    text = f"raise max_count of the `buy` block{_named(problem, group)} from {limit} to {most}"
    return search.Repair(part, text, problem.buy_origins.get(group), str(limit), str(most),
                         found[1].cost, step=found[0], value=Fraction(most),
                         checked=found[1])


RULE = Rule("buy_limits", check=check, rows=Rows(limits=buy_limit_rows, rank=-1),
            check_reads=CheckReads.FLEET,
            part_kind=PartKind.BUY, reason=reason, repairs=repairs)
