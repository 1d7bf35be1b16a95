"""The language server's slow jobs, in a process of their own.

The server starts `python -m fitlang.lsp.solver_worker`, writes one JSON object to its stdin
(`root`, `overlay` of unsaved buffers, `project_root`, `job`, `time_limit`) and reads one
JSON object from its stdout (`WorkerAnswer`): the diagnostics found, in the form `fitc check
--format json` prints (files named relative to the project root). Both run the stages of a
`fitlang.driver.Compilation`, as the command line does. Two jobs:

- `conflicts` (after a save): the E0501/E0504 diagnostics `fitc solve` would report;
- `warnings` (after a check without errors): the solver-free rule warnings W0101-W0103,
  which need the placement problem built (a second or so for a 5,000-line policy).

A process (not a thread) so that neither competes with typing for the interpreter lock,
and so that the server can stop it when the text changes or the time budget runs out.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from fitlang.check.program import Origin
from fitlang.diagnostics import Diagnostic, Fix
from fitlang.driver import Compilation, Outcome


@dataclass
class WorkerAnswer:
    """What the worker writes on stdout: the diagnostics in their wire form (as `fitc
    --format json` prints them, `Diagnostic.as_record`), the edits of the repairs of a
    conflict (`repair_edits`), and where each workload goes (`placement_summary`)."""

    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    placed: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"diagnostics": self.diagnostics, "repairs": self.repairs,
                           "placed": self.placed})

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkerAnswer:
        """Raises ValueError when `text` is not an answer."""
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("not a worker's answer")
        try:
            answer = cls(list(document["diagnostics"]), list(document.get("repairs", [])),
                         dict(document.get("placed", {})))
            for record in answer.diagnostics:
                Diagnostic.from_record(record)
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a worker's answer: {error}") from None
        return answer


def conflict_diagnostics(root: Path, overlay: dict[Path, str], time_limit: float,
                         placed: dict | None = None, repairs: list | None = None,
                         project_root: Path | None = None) -> list[Diagnostic]:
    """The conflict diagnostics `fitc solve` reports for `root` (none when it has errors,
    places everything, leaves replicas out by `allow_unplaced`, or is undecided: in the
    editor that is no error). When every replica can be placed, `placed` gets where each
    workload goes; when not, `repairs` gets the edits of the repairs `explain` checked
    (`repair_edits`)."""
    started = time.monotonic()
    compilation = Compilation(root, overlay, project_root)
    problem = compilation.problem
    if problem is None or problem.allow_unplaced or not problem.demands:
        return []
    placement = compilation.solve("auto", time_limit)
    remaining = max(time_limit - (time.monotonic() - started), 1.0)
    verdict = compilation.verdict(placement, time_limit, explain_time_limit=remaining)
    if verdict.outcome is Outcome.PLACED:
        if placed is not None:
            placed.update(placement_summary(problem, placement))
        return []
    if verdict.outcome is not Outcome.INFEASIBLE:
        return []
    if repairs is not None and verdict.explanation is not None:
        modules = compilation.workspace.modules.values()
        texts = {m.path: m.text for m in modules}
        files = {m.path: str(m.resolved) for m in modules}
        budget = compilation.check().program.policy.spans.get("budget")
        repairs.extend(repair_edits(verdict.explanation.repairs, texts, files, budget))
    return verdict.diagnostics


def repair_edits(repairs: list, texts: dict[str, str], files: dict[str, str],
                 budget: Origin | None = None) -> list[dict]:
    """Each repair that is one edit of the text, as that edit: its title, file (resolved),
    offsets and replacement, and the hourly cost of the placement `explain` found with it.
    The edit is the repair's own `fix` when it has one (a number: replicas, a pool's count);
    a higher budget goes where the policy states it (`budget`, the value's origin); else,
    for a repair that changes the text `from` of its rule `to` another (a relaxed
    `require`), that text where it stands, when it stands there once."""
    edits = []
    for repair in repairs:
        origin, fix = repair.origin, repair.fix
        if repair.as_json()["rule"] == "budget" and fix is None and repair.after and budget:
            origin, fix = budget, Fix(repair.text, budget.span, repair.after)
        if origin is None or origin.path not in texts:
            continue
        if fix is not None:
            start, end, text = fix.span.start, fix.span.end, fix.text
        elif repair.before and repair.after:
            rule = texts[origin.path][origin.span.start:origin.span.end]
            if rule.count(repair.before) != 1:
                continue
            start = origin.span.start + rule.index(repair.before)
            end, text = start + len(repair.before), repair.after
        else:
            continue
        edits.append({"title": repair.text, "file": files.get(origin.path, origin.path),
                      "start": start, "end": end, "text": text,
                      "cost": None if repair.cost is None else float(repair.cost)})
    return edits


def placement_summary(problem, placement) -> dict[str, dict]:
    """Workload -> the pools its replicas are on (replicas per pool) and its cost: each node
    in use costs its price, shared among the replicas on it by the CPU they request (equally
    when none requests CPU); `share` is that cost over the cost of every node in use."""
    from fitlang.solve.report import listed_nodes

    demands = {d.name: d for d in problem.demands}
    classes = dict(listed_nodes(problem, placement))
    on_node: dict[str, list] = {}
    for assignment in placement.assignments:
        on_node.setdefault(assignment.node, []).append(demands[assignment.workload])
    summary: dict[str, dict] = {}
    total = Fraction(0)
    for node, replicas in on_node.items():
        node_class = classes[node]
        price = Fraction(node_class.price or 0)
        total += price
        cpu = [Fraction(d.requests.get("cpu", 0)) for d in replicas]
        weights = cpu if sum(cpu) else [Fraction(1)] * len(replicas)
        for demand, weight in zip(replicas, weights):
            name = demand.workload if demand.option is not None else demand.name
            entry = summary.setdefault(name, {"pools": {}, "cost": Fraction(0)})
            entry["pools"][node_class.pool] = entry["pools"].get(node_class.pool, 0) + 1
            entry["cost"] += price * weight / sum(weights)
    return {name: {"pools": dict(sorted(entry["pools"].items())), "cost": float(entry["cost"]),
                   "share": float(entry["cost"] / total) if total else 0.0}
            for name, entry in summary.items()}


def warning_diagnostics(root: Path, overlay: dict[Path, str], project_root: Path | None = None
                        ) -> list[Diagnostic]:
    """The rule warnings of `root` (none when it has errors)."""
    from fitlang.lsp.analysis import analyze, rule_warnings_by_file

    analysis = analyze(root, overlay, warnings=False, project_root=project_root)
    return [d for found in rule_warnings_by_file(analysis).values() for d in found]


def main() -> int:
    request = json.loads(sys.stdin.read())
    overlay = {Path(path): text for path, text in request.get("overlay", {}).items()}
    project_root = Path(request["project_root"]) if request.get("project_root") else None
    # stdout carries the answer: whatever a solver's native code prints goes to stderr
    sys.stdout.flush()
    output = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    root = Path(request["root"])
    answer = WorkerAnswer()
    if request.get("job") == "warnings":
        diagnostics = warning_diagnostics(root, overlay, project_root)
    else:
        diagnostics = conflict_diagnostics(root, overlay, float(request.get("time_limit", 10.0)),
                                           answer.placed, answer.repairs, project_root)
    answer.diagnostics = [d.as_record() for d in diagnostics]
    output.write(answer.to_json())
    output.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
