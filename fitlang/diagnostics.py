"""Diagnostics shared by every stage, the CLI and the language server.

Each kind of problem is one `Message` subclass with a code, a one-line
summary for the registry (docs/errors.md, SARIF rules) and a message
template. Stages report with `MessageClass.at(path, span, **fields)`; tests
compare codes, never prose.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from fitlang.span import Span


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Fix:
    """A replacement the editor can apply: put `text` where `span` is."""

    title: str
    span: Span
    text: str


@dataclass(frozen=True)
class Related:
    path: str
    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    path: str
    span: Span
    related: tuple[Related, ...] = ()
    fixes: tuple[Fix, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        return (self.path, self.span.line, self.span.column, self.code, self.message)

    def as_record(self) -> dict[str, Any]:
        """The wire form, the one `fitc --format json` prints (docs/formats.md) and the
        language server's worker answers with: `from_record` reads it back."""
        span = self.span
        return {"path": self.path, "line": span.line, "column": span.column,
                "end_line": span.end_line, "end_column": span.end_column,
                "severity": self.severity.value, "code": self.code, "message": self.message}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Diagnostic:
        """A diagnostic from its wire form (`as_record`); the span has no offsets (the
        form has none: positions are lines and columns)."""
        span = Span(int(record["line"]), int(record["column"]), int(record["end_line"]),
                    int(record["end_column"]))
        return cls(str(record["code"]), Severity(record["severity"]), str(record["message"]),
                   str(record["path"]), span)


REGISTRY: dict[str, type[Message]] = {}


class Message:
    """One kind of diagnostic. Subclasses register themselves by code."""

    code: ClassVar[str]
    summary: ClassVar[str]
    template: ClassVar[str]
    fix: ClassVar[str] = ""
    severity: ClassVar[Severity] = Severity.ERROR

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code in REGISTRY:
            raise ValueError(f"duplicate diagnostic code {cls.code}")
        REGISTRY[cls.code] = cls

    @classmethod
    def at(cls, path: str, span: Span, *, related: Iterable[Related] = (),
           fixes: Iterable[Fix] = (), **fields: object) -> Diagnostic:
        return Diagnostic(cls.code, cls.severity, cls.template.format(**fields), path, span,
                          tuple(related), tuple(fixes))


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt `name`, if any is close enough."""
    pool = sorted(set(candidates))
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {candidate.lower(): candidate for candidate in pool}
        matches = [lowered[name.lower()]] if name.lower() in lowered else []
    return matches[0] if matches else None


def hint(suggestion: str | None) -> str:
    return f"; did you mean `{suggestion}`?" if suggestion else ""


def unique_sorted(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Each diagnostic once (a module imported twice reports once), in file and line order."""
    seen: dict[tuple, Diagnostic] = {}
    for diagnostic in diagnostics:
        seen.setdefault((diagnostic.sort_key(), diagnostic.severity), diagnostic)
    return [seen[key] for key in sorted(seen, key=lambda k: k[0])]
