"""The solver's own answer re-checked by `verify` before any front end reports it.

`verify` shares no code with the solver's stages: it reads the placement as the JSON file
`fitc solve --format json` prints and checks every hard rule from the policy. A fleet-scale
stage once answered a placement that put a latency-bound service out of its users' reach,
with status `feasible` and exit 0 (session 34, `bench/ai_fleet.py`); run here, such an answer
becomes E0507 and no target writes it. It is linear in nodes and replicas (0.2 CPU s at
10,000 nodes and 17,000 replicas)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fitlang.solve.report import PlacementJson, placement_json
from fitlang.solve.verify import verify

if TYPE_CHECKING:
    from fitlang.diagnostics import Diagnostic
    from fitlang.model.problem import Problem
    from fitlang.solve.placement import Placement


def broken_rules(problem: Problem, placement: Placement, root: str = "",
                 dumped: PlacementJson | None = None) -> list[Diagnostic]:
    """The rules `placement` breaks (E0503 diagnostics), as `fitc verify` reads its file:
    empty where every rule holds (replicas left out are a broken rule only where the policy
    does not allow them; the verdict asks only of complete or allowed partial placements).
    `dumped`: the placement's document, where the caller prints it too (`placement_json`)."""
    dumped = placement_json(problem, placement) if dumped is None else dumped
    document = json.loads(dumped.text([]))
    violations, problems = verify(problem, document, root)
    if problems:  # the file fitc writes always has the shape verify reads: a bug here too
        raise AssertionError("fitc's own placement file is malformed: " + "; ".join(p.text for p in problems))
    return violations

