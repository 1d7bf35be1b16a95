"""Why no placement exists, in source terms, and the smallest repairs that work.

Three outcomes, never more than what was proven:
- `feasible`: a placement of every replica was found (not merely "no conflict was found");
- `conflict`: no placement exists, and these rules conflict;
- `undecided`: neither was shown in the time allowed (what was tried is said).

A conflict is a set of `Part`s of the policy: a rule (an affinity, a spread, a `require`, a
`dedicated` pool left untolerated, a budget, a buy limit, ...) or a need (a workload's
replicas, a pool's node count). It is checked at the level of the policy, by solving
restricted copies of the problem: with only the named parts enforced (every other rule
dropped, every other workload optional, every other pool unbounded) no placement exists, and
with any one of them dropped as well, one does. The conflict is narrowed by deletion, which
keeps both properties by construction; a Z3 unsat core (small fleets, node by node) or the
dual support of the elastic LP relaxation (fleet scale) only picks the order of the trials.

Repairs change one part of the full policy by the least amount that works, and each is
checked by finding a placement of the repaired policy.

Explain names no rule: a part's sentence and repair are its rule's (`Rule.reason`,
`Rule.repairs` in `fitlang/rules/<rule>.py`), found through the registry (`parts.rule_of`);
an exclusion (`Exclusion.source`, `.fact`, `.index`) is a part by its typed fields.

The modules, in the order they build on each other: `parts` (the policy's parts, restricted
copies of the problem), `checks` (deciding a copy), `results` (what is found), `search`
(what the rules' hooks use: the least change that works, bounds, the pools a rule rules
out), `reasons` (the conflict in words), `repairs`, `conflict` (narrowing it; `explain`),
`render` (text, JSON, diagnostics).
"""

from fitlang.solve.explain.checks import PER_NODE_MAX_NODES, Check, decide, feasible
from fitlang.solve.explain.conflict import explain
from fitlang.solve.explain.parts import Part, PartKind, Trial, parts, with_parts
from fitlang.solve.explain.render import (
    conflict_text,
    explanation_diagnostics,
    explanation_json,
    explanation_text,
    repairs_text,
)
from fitlang.solve.explain.results import (
    REPAIR_SECONDS,
    ExplainOutcome,
    Explanation,
    Repair,
)
from fitlang.solve.explain.search import MAX_EXTRA_NODES

__all__ = [
    "MAX_EXTRA_NODES",
    "PER_NODE_MAX_NODES",
    "REPAIR_SECONDS",
    "Check",
    "ExplainOutcome",
    "Explanation",
    "Part",
    "PartKind",
    "Repair",
    "Trial",
    "conflict_text",
    "decide",
    "explain",
    "explanation_diagnostics",
    "explanation_json",
    "explanation_text",
    "feasible",
    "parts",
    "repairs_text",
    "with_parts",
]
