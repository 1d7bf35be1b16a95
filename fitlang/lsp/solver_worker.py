"""The language server's slow jobs, in a process of their own.

The server starts `python -m fitlang.lsp.solver_worker`, writes one JSON object to its stdin
(`root`, `overlay` of unsaved buffers, `job`, `time_limit`) and reads one JSON object from
its stdout: the diagnostics found, each with the file it belongs to. Two jobs:

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
from fractions import Fraction
from pathlib import Path

from fitlang.check.program import Origin
from fitlang.diagnostics import Diagnostic, Fix
from fitlang.messages import NoPlacement


def conflict_diagnostics(root: Path, overlay: dict[Path, str], time_limit: float,
                         placed: dict | None = None, repairs: list | None = None
                         ) -> tuple[list[Diagnostic], dict[str, str]]:
    """The conflict diagnostics for `root` (none when it has errors, places everything, or
    leaves replicas out by `allow_unplaced`), and display path -> resolved path. When every
    replica can be placed, `placed` gets where `fitc solve` puts each workload; when not,
    `repairs` gets the edits of the repairs `explain` checked (`repair_edits`)."""
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.solve.explain import feasible

    started = time.monotonic()
    workspace = Workspace(overlay=overlay)
    result = check_file(root, workspace)
    files = {m.path: str(m.resolved) for m in workspace.modules.values()}
    if result.has_errors or result.program.policy.allow_unplaced:
        return [], files
    built = build_problem(result.program)
    if any(d.is_error for d in built.diagnostics) or not built.problem.demands:
        return [], files
    remaining = max(time_limit - (time.monotonic() - started), 1.0)
    if feasible(built.problem, remaining):
        if placed is not None:
            from fitlang.solve.placement import solve

            remaining = max(time_limit - (time.monotonic() - started), 1.0)
            placed.update(placement_summary(built.problem, solve(built.problem, "auto", remaining)))
        return [], files
    from fitlang.solve.explain import (  # what `fitc solve` prints
        ExplainOutcome,
        explain,
        explanation_diagnostics,
    )

    explanation = explain(built.problem, remaining)
    # undecided (or a placement found after all) is no error in the editor
    if explanation.outcome is not ExplainOutcome.CONFLICT:
        return [], files
    if repairs is not None:
        texts = {m.path: m.text for m in workspace.modules.values()}
        budget = result.program.policy.spans.get("budget")
        repairs.extend(repair_edits(explanation.repairs, texts, files, budget))
    return explanation_diagnostics(built.problem, result.program.path,
                                   explanation=explanation), files


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


def warning_diagnostics(root: Path, overlay: dict[Path, str]
                        ) -> tuple[list[Diagnostic], dict[str, str]]:
    """The rule warnings of `root` (none when it has errors), and display path -> resolved."""
    from fitlang.lsp.analysis import analyze, rule_warnings_by_file

    analysis = analyze(root, overlay, warnings=False)
    files = {m.path: str(m.resolved) for m in analysis.workspace.modules.values()}
    return [d for found in rule_warnings_by_file(analysis).values() for d in found], files


def main() -> int:
    request = json.loads(sys.stdin.read())
    overlay = {Path(path): text for path, text in request.get("overlay", {}).items()}
    # stdout carries the answer: whatever a solver's native code prints goes to stderr
    sys.stdout.flush()
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    root = Path(request["root"])
    placed: dict = {}
    repairs: list[dict] = []
    if request.get("job") == "warnings":
        diagnostics, files = warning_diagnostics(root, overlay)
    else:
        diagnostics, files = conflict_diagnostics(
            root, overlay, float(request.get("time_limit", 10.0)), placed, repairs)
    output = [{"code": d.code, "severity": d.severity.value, "message": d.message,
               "file": files.get(d.path, d.path),
               "span": [d.span.line, d.span.column, d.span.end_line, d.span.end_column,
                        d.span.start, d.span.end]} for d in diagnostics]
    for item in output:
        if item["code"] == NoPlacement.code:  # the conflict, with the repairs in its message
            item["repairs"] = repairs
    answer.write(json.dumps({"diagnostics": output, "placed": placed}))
    answer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
