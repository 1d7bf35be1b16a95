"""Shared helpers for target tests: check, build, solve (verified), compile in memory."""

from __future__ import annotations

from pathlib import Path

from fitlang.diagnostics import Severity
from fitlang.targets import TARGETS, CompileContext

from solving import solved
from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.model.build import build_problem


def context_for(path: Path) -> CompileContext:
    result = check_file(path, Workspace())
    assert not result.has_errors, [d.message for d in result.diagnostics]
    built = build_problem(result.program)
    assert not built.diagnostics
    placement = solved(built.problem)
    assert not placement.unplaced
    return CompileContext(result.program, built.problem, placement)


def errors(needs: list) -> list:
    """The needs that stop a compile (warnings such as W0620 do not)."""
    return [n for n in needs if n.kind is None or n.kind.severity is Severity.ERROR]


def render(path: Path, target: str) -> tuple[CompileContext, dict[str, str]]:
    context = context_for(path)
    instance = TARGETS[target]()
    assert errors(instance.problems(context)) == []
    return context, instance.render(context)
