"""A plan from a state that already breaks a rule on a node (issue 18): what runs now may be
over a node's capacity, or hold replicas a rule keeps apart, where the policy changed under an
old placement (a pool shrunk, a GPU count lowered, a rule added). The plan repairs it first:

- the replicas beyond the policy's count stop on such nodes first (`moves_between`'s `first`),
  and the moves off such nodes come first in the waves' order, so the first wave empties
  them as far as the budgets (`max_disrupted`, `max_drained`) allow;
- no wave starts a replica on a node over its capacity when the wave begins, so no wave makes
  it worse (the waves' checks allow what the wave's start breaks by rule, on any node);
- where the budgets leave such a node broken past the first wave, W0814 names the node, the
  rule and the wave after which the node keeps it (the end state keeps every rule).

`fitc verify --current` and the targets' read-backs check the same: a wave may leave a node
over its capacity no more than when the wave began (`verify_plan.py`,
`kubernetes_plan_fidelity.py`, `slurm_plan_fidelity.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic

if TYPE_CHECKING:
    from fitlang.model.problem import Problem
    from fitlang.solve.moving import Move, State


class Repairs:
    """The nodes what runs now breaks a rule on (`broken`: node -> the first violation there),
    those over their capacity (`over`: node -> what their replicas take), and the wave after
    which each of the latter fits again (0: once the replicas beyond the policy's stop)."""

    def __init__(self, problem: Problem, start: State, broken: dict[str, Diagnostic], root: str) -> None:
        from fitlang.rules.capacity import over_capacity

        self.problem, self.broken, self.root = problem, broken, root
        self.over = over_capacity(problem, start)
        self.repaired: dict[str, int] = {}

    def rank(self, node: str) -> int:
        """Which replicas go first: those on nodes over their capacity (what the state
        says runs there cannot all run), then on nodes that break another rule."""
        return 0 if node in self.over else 1 if node in self.broken else 2

    def first(self, moves: list[Move]) -> list[Move]:
        """The moves, those off broken nodes first (`rank`; each in its order)."""
        if not self.broken and not self.over:
            return moves
        return sorted(moves, key=lambda move: self.rank(move.source))

    def moved_on(self, state: State, wave: int) -> None:
        """`state` is the one after wave number `wave`: the nodes over their capacity that
        fit in it are repaired by then."""
        from fitlang.rules.capacity import over_capacity

        left = self.over.keys() - self.repaired.keys()
        if not left:
            return
        still = over_capacity(self.problem, state, left)
        for node in left - still.keys():
            self.repaired[node] = wave

    def late(self, waves: int) -> list[Diagnostic]:
        """W0814 for each node over its capacity that the first wave (and the stops before it)
        did not repair. (A node whose replicas another rule rules out, as in a drained pool,
        runs them all the same: its waves are the plan's usual, not warned of.)"""
        from fitlang import messages as msg
        from fitlang.rules.capacity import readable
        from fitlang.span import FIRST_CHARACTER

        found = []
        owners = self.problem.owners()
        for node, used in self.over.items():
            repaired = self.repaired.get(node)
            if repaired is not None and repaired <= 1:
                continue
            node_class = owners[node]
            has = node_class.capacity_of(node)
            detail = ", ".join(f"over its {r}: {readable(r, used[r])} requested, "
                               f"{readable(r, has[r], unit=False)} available"
                               for r in has if used.get(r, 0) > has[r])
            when = f"after wave {repaired} of {waves}" if repaired is not None else "by none of its waves"
            origin = node_class.origin
            found.append(msg.BrokenRepairedLate(node=node, detail=detail, when=when)
                         .diagnostic(origin.path if origin else self.root,
                                     origin.span if origin else FIRST_CHARACTER))
        return found
