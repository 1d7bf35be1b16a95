"""One check of one open file (with what it imports), and what the editor asks of it.

`analyze` runs `check_file` exactly as `fitc check` does, over a workspace that sees the
editor's unsaved buffers, then adds the solver-free rule warnings (W01xx) when the file has
no errors. Name tables, constant values and the placement problem are computed only when a
request needs them, and kept for the next request on the same text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fitlang.check.checker import Checker, CheckResult, ModuleScope
from fitlang.check.evaluate import Symbol
from fitlang.check.incremental import IncrementalCheck
from fitlang.check.loader import SourceModule
from fitlang.diagnostics import Diagnostic
from fitlang.driver import Compilation
from fitlang.lsp.incremental import EditorWorkspace, ParseCache
from fitlang.lsp.locate import NameUse, declared_name
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span
from fitlang.testing import is_test_file

log = logging.getLogger(__name__)


@dataclass
class Analysis:
    path: Path  # resolved path of the root file
    text: str
    compilation: Compilation
    diagnostics: dict[Path, list[Diagnostic]] = field(default_factory=dict)

    @property
    def result(self) -> CheckResult:
        return self.compilation.check()

    @property
    def workspace(self) -> EditorWorkspace:
        return self.result.workspace  # type: ignore[return-value]

    @property
    def root(self) -> SourceModule:
        return self.result.root

    @property
    def has_errors(self) -> bool:
        return self.result.has_errors

    def module(self, resolved: Path) -> SourceModule | None:
        return self.workspace.modules.get(resolved)

    def reachable(self) -> list[SourceModule]:
        return self.workspace.reachable(self.root)

    # ---- names ------------------------------------------------------------

    @cached_property
    def checker(self) -> Checker:
        """A checker of its own over the same modules: its reports are not diagnostics."""
        return Checker(self.workspace)

    def scope(self, module: SourceModule) -> ModuleScope:
        return self.checker.scope(module)

    def resolve(self, module: SourceModule, use: NameUse) -> Symbol | None:
        scope: ModuleScope | None = self.scope(module)
        for qualifier in use.qualifiers:
            scope = scope.alias(qualifier) if scope is not None else None
        if scope is None:
            return None
        name = use.ident.name
        if not use.qualifiers and use.subjects is not None and name in use.subjects:
            return None  # `zone`, `memory`, ...: the candidate node's, not a declaration
        return scope.lookup(name)

    def entity(self, symbol: Symbol) -> Any:
        return self.checker.entity(symbol)

    # ---- the placement problem --------------------------------------------

    @cached_property
    def built(self):
        """The placement problem of what checks (with errors, of the declarations without)."""
        try:
            return self.compilation.build_any()
        except Exception:  # an unreadable inventory mid-edit must not break the editor
            log.exception("building the placement problem of %s failed", self.path)
            return None


def analyze(root: Path, overlay: dict[Path, str], cache: ParseCache | None = None,
            warnings: bool = True, incremental: IncrementalCheck | None = None,
            project_root: Path | None = None) -> Analysis:
    """The check of `root` as `fitc check` does it, files named relative to `project_root`
    (the working directory by default); with `incremental` (the root's last checks), only
    what changed is checked again, with the same result."""
    resolved = root.resolve()

    def editor_workspace(_root: Path, shown_from: Path | None, buffers: dict) -> EditorWorkspace:
        return EditorWorkspace(overlay=buffers, project_root=shown_from, cache=cache)

    compilation = Compilation(resolved, overlay, project_root, parse=editor_workspace,
                              incremental=incremental)
    if is_test_file(resolved):
        return _test_file_analysis(resolved, overlay, compilation)
    result = compilation.check()
    text = overlay.get(resolved)
    if text is None:
        text = result.root.text
    analysis = Analysis(resolved, text, compilation)
    analysis.diagnostics = by_file(analysis, result.diagnostics)
    if warnings:
        for path, found in rule_warnings_by_file(analysis).items():
            analysis.diagnostics.setdefault(path, []).extend(found)
    return analysis


def _test_file_analysis(resolved: Path, overlay: dict[Path, str], compilation: Compilation) -> Analysis:
    """A test file (`*_test.fit`) is read as `fitc check` reads it, not checked as a policy:
    its syntax, what its `test` blocks hold, and the blocks its tests change."""
    from fitlang.testing.suite import check_test_file

    text = overlay.get(resolved)
    if text is None:
        text = resolved.read_bytes().decode("utf-8", errors="replace")
    analysis = Analysis(resolved, text, compilation)
    analysis.diagnostics = {resolved: check_test_file(resolved, compilation.project_root, text)}
    return analysis


def by_file(analysis: Analysis, diagnostics: list[Diagnostic]) -> dict[Path, list[Diagnostic]]:
    """Diagnostics by the resolved path of the file they are in."""
    by_display = {m.path: m.resolved for m in analysis.workspace.modules.values()}
    found: dict[Path, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        found.setdefault(by_display.get(diagnostic.path, analysis.path), []).append(diagnostic)
    return found


def rule_warnings_by_file(analysis: Analysis) -> dict[Path, list[Diagnostic]]:
    """What `fitc check` adds to a check without errors (the inventories read, the
    solver-free rule warnings W01xx), by file. They need the placement problem built, which
    costs more than the check itself: the server shows the check's diagnostics first and
    these right after."""
    if analysis.has_errors:
        return {}
    return by_file(analysis, _rule_warnings(analysis))


def _rule_warnings(analysis: Analysis) -> list[Diagnostic]:
    try:
        return analysis.compilation.rule_warnings()
    except Exception:  # an inventory changing on disk mid-edit must not break the editor
        log.exception("building the placement problem of %s failed", analysis.path)
        return []


def symbol_key(symbol: Symbol) -> tuple[Path, int]:
    """Where a declaration is: the same across analyses that parsed the same text."""
    ident = declared_name(symbol.decl)
    return symbol.module.resolved, ident.span.start if ident is not None else symbol.decl.span.start


def name_span(decl: Any) -> Span:
    ident = declared_name(decl)
    if ident is not None:
        return ident.span
    if isinstance(decl, n.Block):
        return decl.kind.span
    return decl.span
