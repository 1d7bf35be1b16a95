"""Pools available only in windows (issue 19): maintenance (`unavailable`) and reserved
capacity (`available`). Build turns a pool's windows into the steps its class runs nothing
(`NodeClass.off_steps`); the time model holds the class's nodes in use at those steps at 0;
`verify` rejects a run on one of its nodes that covers such a step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.rules.base import GroupKey

if TYPE_CHECKING:  # solve comes after the rules
    from fitlang.rules.base import Placed
    from fitlang.rules.timing import Run
    from fitlang.solve.timeline import TimeEncoding


class PoolOffGroup(GroupKey, Frozen):
    """A class's nodes in use at a step its pool's windows leave out."""

    class_id: str
    step: int


def off_rows(encoding: TimeEncoding) -> None:
    """u[c,t] <= 0 at each step t the class's pool is unavailable."""
    for node_class in encoding.problem.classes:
        for step in sorted(node_class.off_steps):
            encoding.model.add({encoding.u[node_class.id, step]: 1}, upper=0,
                               group=PoolOffGroup(node_class.id, step))


def check(placed: Placed, run: Run) -> Iterator[Diagnostic]:
    node_class = placed.owner[run.node]
    during = [step for step in range(run.start, run.end) if step in node_class.off_steps]
    if during:
        yield placed.violation(f"`{run.demand}` replica {run.replica} runs on `{run.node}` at "
                               f"{placed.step(during[0])}, when its pool `{node_class.pool}` is not "
                               "available", node_class.origin)
