"""The language server's solver job, in a process of its own: why no placement exists.

The server starts `python -m fitlang.lsp.solver_worker` after a save, writes one JSON object
to its stdin (`root`, `overlay` of unsaved buffers, `time_limit`) and reads one JSON object
from its stdout: the E0501/E0504 diagnostics `fitc solve` would report, each with the file
it belongs to. A process (not a thread) so that the solver never competes with typing for
the interpreter lock, and so that the server can stop it when the text changes or the time
budget runs out.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from fitlang.diagnostics import Diagnostic


def conflict_diagnostics(root: Path, overlay: dict[Path, str], time_limit: float
                         ) -> tuple[list[Diagnostic], dict[str, str]]:
    """The conflict diagnostics for `root` (none when it has errors, places everything, or
    leaves replicas out by `allow_unplaced`), and display path -> resolved path."""
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
        return [], files
    from fitlang.solve.explain import explain, explanation_diagnostics  # what `fitc solve` prints

    explanation = explain(built.problem, remaining)
    # undecided (or a placement found after all) is no error in the editor
    if explanation.outcome != "conflict":
        return [], files
    return explanation_diagnostics(built.problem, result.program.path,
                                   explanation=explanation), files


def main() -> int:
    request = json.loads(sys.stdin.read())
    overlay = {Path(path): text for path, text in request.get("overlay", {}).items()}
    # stdout carries the answer: whatever a solver's native code prints goes to stderr
    sys.stdout.flush()
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    diagnostics, files = conflict_diagnostics(Path(request["root"]), overlay,
                                              float(request.get("time_limit", 10.0)))
    output = [{"code": d.code, "severity": d.severity.value, "message": d.message,
               "file": files.get(d.path, d.path),
               "span": [d.span.line, d.span.column, d.span.end_line, d.span.end_column,
                        d.span.start, d.span.end]} for d in diagnostics]
    answer.write(json.dumps({"diagnostics": output}))
    answer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
