"""What the commands print: the explanation as text, as JSON, and as diagnostics."""

from __future__ import annotations

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Problem
from fitlang.rules.base import Stated
from fitlang.rules.explaining import money, where
from fitlang.solve.explain.conflict import explain
from fitlang.solve.explain.results import ExplainOutcome, Explanation, Repair
from fitlang.syntax.nodes import Span


def conflict_text(explanation: Explanation) -> str:
    lines = ["no placement meets every hard rule; these rules conflict:"]
    lines += [f"  - {r.text}{where(r.origin)}" for r in explanation.reasons]
    if not explanation.minimal:
        lines.append("  (not narrowed down to a minimal set before --time-limit ran out: some of these "
                     "may not be needed)")
    return "\n".join(lines)


def _cost(repair: Repair) -> str:
    """A repair's cost: the least found, or (where the time did not allow minimising) what a
    placement that works costs, which the least does not exceed."""
    if repair.cost is None:
        return ""
    return f" (cost {'' if repair.least else 'at most '}{money(repair.cost)} USD/h)"


def repairs_text(explanation: Explanation, for_solve: bool = False) -> str:
    """The repairs as text; where their budget ran out, how to give them more: `fitc explain
    --repair-budget`, which `solve`, `compile` and `plan` (`for_solve`) do not have."""
    lines = []
    if explanation.repairs:
        lines.append("repairs, each checked by solving the repaired policy:")
        lines += [f"  - {r.text}{_cost(r)}" for r in explanation.repairs]
    elif explanation.no_single_repair:
        lines.append("no single change repairs the policy" +
                     (("; this pair does, checked by solving:\n" +
                       "\n".join(f"  - {r.text}" for r in explanation.pair))
                      if explanation.pair else ", and no pair was found within the repair budget"))
    if explanation.repairs_cut_short:
        more = "`fitc explain --repair-budget` tries more" if for_solve else "raise --repair-budget"
        lines.append(f"(the repair budget of {explanation.repair_budget:g} s ran out: other repairs "
                     f"were not tried; {more})")
    return "\n".join(lines)


def explanation_text(explanation: Explanation) -> str:
    """What `fitc explain` prints on stdout."""
    if explanation.outcome is ExplainOutcome.FEASIBLE:
        return "every replica can be placed (a placement was found): no conflict to explain\n"
    if explanation.outcome is ExplainOutcome.UNDECIDED:
        return f"undecided: {explanation.tried}\n"
    text = conflict_text(explanation)
    repairs = repairs_text(explanation)
    return text + ("\n" + repairs if repairs else "") + "\n"


def explanation_json(explanation: Explanation) -> dict:
    return {
        "outcome": explanation.outcome.value,
        "conflict": [{"rule": r.part.kind if r.part else None,
                      "subject": (r.part.subject or None) if r.part else None,
                      "text": r.text, "path": r.origin.path if r.origin else None,
                      "line": r.origin.span.line if r.origin else None,
                      "column": r.origin.span.column if r.origin else None}
                     for r in explanation.reasons],
        "minimal": explanation.minimal,
        "repairs": [r.as_json() for r in explanation.repairs],
        "no_single_repair": explanation.no_single_repair,
        "pair": [r.as_json() for r in explanation.pair],
        "repairs_cut_short": explanation.repairs_cut_short,
        "repair_budget": explanation.repair_budget,
        "tried": explanation.tried or None,
    }


def explanation_diagnostics(problem: Problem, root_path: str, time_limit: float | None = 30.0,
                            explanation: Explanation | None = None,
                            for_solve: bool = True) -> list[Diagnostic]:
    """The explanation as diagnostics. For `fitc solve` (and the language server) the conflict
    is E0501 with the repairs in its message; for `fitc explain` it is E0510 (the repairs go
    to stdout). The other rules of the conflict are E0504 where they stand; an undecided
    explanation is E0511, a placement found W0505 (a note)."""
    if explanation is None:
        explanation = explain(problem, time_limit)
    root = Span(1, 1, 1, 2)
    if explanation.outcome is ExplainOutcome.UNDECIDED:
        return [msg.ExplainUndecided(detail=f"undecided: {explanation.tried}").diagnostic(root_path, root)]
    if explanation.outcome is ExplainOutcome.FEASIBLE:
        if for_solve:
            return [
                msg.NoPlacement(
                    detail="not every replica was placed, though `fitc explain` finds a placement of every "
                    "replica: raise --time-limit"
                ).diagnostic(root_path, root)
            ]
        return [
            msg.PlacementExists(
                detail="every replica can be placed (a placement was found): no conflict to explain"
            ).diagnostic(root_path, root)
        ]
    first = explanation.reasons[0] if explanation.reasons else None
    where = first.origin if first and first.origin else None
    detail = conflict_text(explanation)
    if for_solve:
        repairs = repairs_text(explanation, for_solve=True)
        detail += "\n" + repairs if repairs else ""
    kind = msg.NoPlacement if for_solve else msg.ExplainedConflict
    path = where.path if where else root_path
    # the repairs that are literal edits of this file, as fixes (a `Fix` is an edit of the
    # diagnostic's own file)
    fixes = [r.fix for r in explanation.repairs
             if r.fix is not None and r.origin is not None and r.origin.path == path]
    # each rule of the conflict where it stands, as a related location (the editor links
    # them; the text above lists them too, so the human renderer prints no notes)
    related = [r for r in map(Stated.related, explanation.reasons) if r is not None]
    diagnostics = [kind.at(path, where.span if where else root, related=related, fixes=fixes,
                           detail=detail)]
    for reason in explanation.reasons[1:]:
        if reason.origin is not None:
            diagnostics.append(
                msg.ConflictPart(detail=reason.text).diagnostic(reason.origin.path, reason.origin.span)
            )
    return diagnostics
