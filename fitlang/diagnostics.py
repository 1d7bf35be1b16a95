"""Diagnostics shared by every stage, the CLI and the language server.

Each kind of problem is one `Message` subclass with a code, a one-line
summary for the registry (docs/errors.md, SARIF rules), a message template
and the typed fields the template shows: a frozen dataclass, as pyflakes's
messages are classes with their arguments. Stages report with
`MessageClass(field=...).diagnostic(path, span)` (mypy checks the fields) or
`MessageClass.at(path, span, field=...)` (checked when the message is made);
tests compare codes, never prose.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import os
import string
import typing
from collections.abc import Iterable
from typing import Any, ClassVar

from fitlang.frozen import Frozen, declared_fields
from fitlang.span import Span


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Fix(Frozen):
    """A replacement the editor can apply: put `text` where `span` is."""

    title: str
    span: Span
    text: str


class Related(Frozen):
    path: str
    span: Span
    message: str


class Diagnostic(Frozen):
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
        record: dict[str, Any] = {"path": self.path, **_span_record(self.span),
                                  "severity": self.severity.value, "code": self.code,
                                  "message": self.message}
        if self.related:  # left out where there are none, as in the published schema
            record["related"] = [{"path": r.path, **_span_record(r.span), "message": r.message}
                                 for r in self.related]
        if self.fixes:
            record["fixes"] = [{"title": f.title, **_span_record(f.span), "text": f.text}
                               for f in self.fixes]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Diagnostic:
        """A diagnostic from its wire form (`as_record`); the spans have no offsets (the
        form has none: positions are lines and columns)."""
        related = tuple(Related(str(r["path"]), _span_of(r), str(r["message"]))
                        for r in record.get("related", ()))
        fixes = tuple(Fix(str(f["title"]), _span_of(f), str(f["text"]))
                      for f in record.get("fixes", ()))
        return cls(str(record["code"]), Severity(record["severity"]), str(record["message"]),
                   str(record["path"]), _span_of(record), related, fixes)


def _span_record(span: Span) -> dict[str, int]:
    return {"line": span.line, "column": span.column, "end_line": span.end_line,
            "end_column": span.end_column}


def _span_of(record: dict[str, Any]) -> Span:
    return Span(int(record["line"]), int(record["column"]), int(record["end_line"]),
                int(record["end_column"]))


REGISTRY: dict[str, type[Message]] = {}


class Message(Frozen):
    """One kind of diagnostic: a frozen dataclass of the fields its template shows (made so
    when its first message is made: `fitlang/frozen.py`). Each subclass is registered by its
    code when it is defined; a template that shows a field the class does not declare, or a
    field it never shows, is an error then, not when the message is first reported."""

    code: ClassVar[str]
    summary: ClassVar[str]
    template: ClassVar[str]
    fix: ClassVar[str] = ""
    severity: ClassVar[Severity] = Severity.ERROR
    # the message's text lists its related locations already (a conflict's rules, each with
    # where it stands): the human renderer prints no note line for them; JSON, SARIF and the
    # language server still carry them
    related_in_text: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code in REGISTRY:
            raise ValueError(f"duplicate diagnostic code {cls.code}")
        shown = template_fields(cls.template)
        declared = set(declared_fields(cls))  # messages derive from Message alone
        if shown != declared:
            raise TypeError(f"{cls.__name__} ({cls.code}): its template shows {sorted(shown)}, "
                            f"its fields are {sorted(declared)}")
        REGISTRY[cls.code] = cls


    def __post_init__(self) -> None:
        if _CHECK_FIELD_TYPES:
            _check_field_types(self)

    def diagnostic(self, path: str, span: Span, *, related: Iterable[Related] = (),
              fixes: Iterable[Fix] = ()) -> Diagnostic:
        """This message as a diagnostic at `span` of `path`."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return Diagnostic(self.code, self.severity, self.template.format(**values), path, span,
                          tuple(related), tuple(fixes))

    @classmethod
    def at(cls, path: str, span: Span, *, related: Iterable[Related] = (),
           fixes: Iterable[Fix] = (), **fields: Any) -> Diagnostic:
        """`cls(**fields).diagnostic(...)`: a field missing or unknown is a TypeError."""
        return cls(**fields).diagnostic(path, span, related=related, fixes=fixes)


def template_fields(template: str) -> set[str]:
    """The names a format template shows (`{name}`, `{name!r}`, `{name:g}`)."""
    return {name.split(".")[0].split("[")[0]
            for _, name, _, _ in string.Formatter().parse(template) if name}


# the tests set FITC_CHECK_MESSAGE_TYPES=1: every message made is checked against its fields'
# declared types (a run-time check of what mypy cannot see through `at(**fields)`); users never
# pay for it, nor see a TypeError for a message that would have read fine
_CHECK_FIELD_TYPES = os.environ.get("FITC_CHECK_MESSAGE_TYPES") == "1"


def _check_field_types(message: Message) -> None:
    hints = typing.get_type_hints(type(message))
    for field in dataclasses.fields(message):
        expected = hints[field.name]
        allowed = typing.get_args(expected) or (expected,)
        value = getattr(message, field.name)
        if not isinstance(value, tuple(t for t in allowed if isinstance(t, type))):
            raise TypeError(f"{type(message).__name__}.{field.name} is {type(value).__name__} "
                            f"{value!r}, declared {expected}")


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt `name`, if any is close enough."""
    pool = sorted(set(candidates))
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {candidate.lower(): candidate for candidate in pool}
        matches = [lowered[name.lower()]] if name.lower() in lowered else []
    return matches[0] if matches else None


def first_named(names: typing.Sequence[str], most: int = 3) -> str:
    """The first `most` names, each in backticks, and how many more (a message about many
    nodes or replicas names a few)."""
    shown = ", ".join(f"`{name}`" for name in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def hint(suggestion: str | None) -> str:
    return f"; did you mean `{suggestion}`?" if suggestion else ""


def unique_sorted(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Each diagnostic once (a module imported twice reports once), in file and line order."""
    seen: dict[tuple, Diagnostic] = {}
    for diagnostic in diagnostics:
        seen.setdefault((diagnostic.sort_key(), diagnostic.severity), diagnostic)
    return [seen[key] for key in sorted(seen, key=lambda k: k[0])]
