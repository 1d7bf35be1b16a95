"""What `explain` finds: its outcome, the conflict's reasons and the checked repairs."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.check.program import Origin
from fitlang.diagnostics import Fix
from fitlang.rules.base import Stated
from fitlang.solve.explain.parts import Part

if TYPE_CHECKING:
    from fitlang.solve.explain.checks import Check

REPAIR_SECONDS = 10.0  # the default budget for the repairs, after the conflict is found


@dataclass(frozen=True)
class Repair:
    """One checked change to the policy. `fix` is the literal edit where the change is one
    (a language server can offer it as a code action); `cost` is the hourly cost of the
    placement that was found with the change (`least`: the cheapest found)."""

    part: Part
    text: str
    origin: Origin | None = None
    before: str | None = None
    after: str | None = None
    cost: Fraction | None = None
    fix: Fix | None = None
    step: int | None = field(default=None, compare=False)  # the amount a search settled on
    # the new number `after` shows (a replica or node count, a limit, a budget), for `_applied`
    value: Fraction | None = field(default=None, compare=False)
    # the policy with the change, as it was checked: where that check only asked for a
    # placement that works (a search at fleet scale), it is solved again for the cost
    checked: Check | None = field(default=None, compare=False, repr=False)
    # `cost` is the cheapest placement's that the check found by minimising (else one that
    # works: the policy with the change costs at most `cost`)
    least: bool = field(default=True, compare=False)
    # the change is its part dropped and no more (a workload tolerating a `dedicated` value or
    # a taint): a pair makes it as written, not as "drop this rule"
    drops_part: bool = field(default=False, compare=False)
    # the workload's whole `tolerate` with the change (one toleration added to those it has):
    # what `_applied` gives it, so that a pair's second change keeps the first
    tolerate: tuple[str, ...] | None = field(default=None, compare=False)
    # a replica's requests with the change (a request lowered to what a node has,
    # `rules/replicas.py`): what `_applied` gives the workload
    requests: dict[str, int] | None = field(default=None, compare=False)

    def as_json(self) -> dict:
        where = self.origin
        return {"rule": self.part.kind, "subject": self.part.subject or None,
                "text": self.text, "path": where.path if where else None,
                "line": where.span.line if where else None,
                "column": where.span.column if where else None,
                "from": self.before, "to": self.after,
                "checked_cost": None if self.cost is None else float(self.cost),
                "checked_cost_least": self.least,
                "fix": None if self.fix is None else {
                    "title": self.fix.title, "line": self.fix.span.line,
                    "column": self.fix.span.column, "end_line": self.fix.span.end_line,
                    "end_column": self.fix.span.end_column, "text": self.fix.text}}


class ExplainOutcome(enum.StrEnum):
    """What `explain` showed; the values are what the JSON output says."""

    CONFLICT = "conflict"  # no placement exists, and these rules conflict
    FEASIBLE = "feasible"  # a placement of every replica was found
    UNDECIDED = "undecided"  # neither, in the time allowed


@dataclass
class Explanation:
    outcome: ExplainOutcome
    reasons: list[Stated] = field(default_factory=list)  # the conflict, a part each
    repairs: list[Repair] = field(default_factory=list)
    pair: list[Repair] = field(default_factory=list)  # when no single repair is enough
    no_single_repair: bool = False
    repairs_cut_short: bool = False  # the repair budget ran out before every repair was tried
    minimal: bool = True  # every part was shown to be needed (False: time ran out)
    tried: str = ""  # for `undecided`: what was tried
    conflict_seconds: float = 0.0
    repair_seconds: float = 0.0
    repair_budget: float = REPAIR_SECONDS

    @property
    def feasible(self) -> bool:
        return self.outcome is ExplainOutcome.FEASIBLE
