"""fitc as a library, for programs that generate policies or embed fitc:

    from fitlang import api

    for diagnostic in api.check("policy.fit"):      # what `fitc check --format json` prints
        print(diagnostic.code, diagnostic.message)
    placement = api.solve("policy.fit")               # what `fitc solve --format json` prints
    print(placement.status, placement.objective.value)
    api.compile("policy.fit", "kubernetes", "deploy/")  # what `fitc compile` writes

Each function returns the pydantic model of the JSON contract the command line prints
(fitlang/documents.py; docs/formats.md; the schemas in docs/schemas/), goes through the same
driver as the command line and the language server, and raises `PolicyError` (with the
diagnostics) where the command would exit 1 before solving. Paths in diagnostics are relative
to `project_root` (default: the working directory), as the command line names them.

(`fitlang.check` and `fitlang.solve` are the packages of those stages: the library is
`fitlang.api`.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic, unique_sorted
from fitlang.documents import DiagnosticRecord, ExplanationDocument, OutputManifest, PlacementDocument

if TYPE_CHECKING:
    from fitlang.driver import Compilation

DEFAULT_TIME_LIMIT = 60.0  # seconds, as `fitc solve`


class CompileError(Exception):
    """No files were written: no placement (infeasible, or undecided in the time allowed), or a
    target needs a setting the policy does not give; `diagnostics` say which."""

    def __init__(self, diagnostics: list[DiagnosticRecord]) -> None:
        self.diagnostics = diagnostics
        shown = "; ".join(f"{d.code} {d.message.splitlines()[0]}" for d in diagnostics[:2])
        super().__init__(shown or "nothing to compile")


class PolicyError(Exception):
    """The policy has errors (syntax, types, references, inventory files): nothing to solve."""

    def __init__(self, diagnostics: list[DiagnosticRecord]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0] if diagnostics else None
        shown = f"{first.path}:{first.line}:{first.column}: {first.message}" if first else "errors"
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        super().__init__(f"{shown}{more}")


def check(path: str | Path, *, project_root: str | Path | None = None) -> list[DiagnosticRecord]:
    """Every diagnostic `fitc check` reports for the policy (errors, and without errors the
    rules no node can satisfy), in file and line order."""
    compilation = _compilation(path, project_root)
    result = compilation.check()
    found = list(result.diagnostics)
    if not result.has_errors:
        found.extend(compilation.rule_warnings())
    return _records(unique_sorted(found))


def solve(path: str | Path, *, time_limit: float | None = DEFAULT_TIME_LIMIT, backend: str = "auto",
          all_nodes: bool = False, project_root: str | Path | None = None) -> PlacementDocument:
    """The placement, as `fitc solve --format json` prints it: its `status` says whether every
    replica is placed (`optimal`, `feasible`), none can be (`infeasible`, with the conflict in
    `diagnostics`), or the time limit came first (`unknown`)."""
    from fitlang.solve.report import as_json

    compilation = _compilation(path, project_root)
    problem = _problem(compilation)
    placement = compilation.solve(backend, time_limit)
    diagnostics = compilation.diagnostics() + compilation.verdict(placement, time_limit).diagnostics
    return PlacementDocument.model_validate_json(as_json(problem, placement, diagnostics, all_nodes))


def explain(path: str | Path, *, time_limit: float | None = 30.0, repair_budget: float | None = None,
            project_root: str | Path | None = None) -> ExplanationDocument:
    """Why no placement exists, and the repairs that were checked to work, as `fitc explain
    --format json` prints it."""
    from fitlang.solve.explain import explanation_diagnostics, explanation_json

    compilation = _compilation(path, project_root)
    problem = _problem(compilation)
    explanation = compilation.explain(time_limit, repair_budget)
    explained = compilation.explained_in_time(time_limit, repair_budget)
    if explained is not None:  # with a horizon: the conflict in time, as `fitc explain` says it
        from fitlang.solve.explain_time import explanation_document

        document = explanation_document(explained, repair_budget)
        document["diagnostics"] = [r.model_dump() for r in
                                   _records(compilation.diagnostics() + [explained.diagnostic])]
        return ExplanationDocument.model_validate_json(json.dumps(document))
    found = explanation_diagnostics(problem, compilation.root_path, explanation=explanation,
                                    for_solve=False)
    document = explanation_json(explanation)
    document["diagnostics"] = [r.model_dump() for r in _records(compilation.diagnostics() + found)]
    return ExplanationDocument.model_validate_json(json.dumps(document))


def compile(path: str | Path, target: str | list[str], out: str | Path, *,
            time_limit: float | None = DEFAULT_TIME_LIMIT, force: bool = False,
            project_root: str | Path | None = None) -> OutputManifest:
    """Solve and write what runs the placement into `out`, as `fitc compile --target ... --out`
    does (atomically; only files fitc wrote are ever replaced: `force` as `--force`). Returns
    the manifest of the files written (`out/.fitc-output`)."""
    from fitlang.outputs import write_tree

    compilation = _compilation(path, project_root)
    _problem(compilation)
    targets = [target] if isinstance(target, str) else list(target)
    compiled = compilation.compile(targets, time_limit)
    if not compiled.ok:
        raise CompileError(_records([d for d in compiled.diagnostics or compiled.verdict.diagnostics
                                     if d.is_error]))
    if compiled.files:
        write_tree(out, compiled.files, force=force)
    return OutputManifest(files=sorted(compiled.files))


def _compilation(path: str | Path, project_root: str | Path | None) -> Compilation:
    from fitlang.driver import Compilation

    root = Path(path)
    if not root.is_file():
        raise FileNotFoundError(f"{root}: no such policy file")
    return Compilation(root, project_root=Path(project_root) if project_root is not None else None)


def _problem(compilation: Compilation):
    problem = compilation.problem
    if problem is None:
        raise PolicyError(_records([d for d in compilation.diagnostics() if d.is_error]))
    return problem


def _records(diagnostics: list[Diagnostic]) -> list[DiagnosticRecord]:
    return [DiagnosticRecord.model_validate(d.as_record()) for d in diagnostics]


__all__ = ["DEFAULT_TIME_LIMIT", "CompileError", "PolicyError", "check", "compile", "explain", "solve"]
