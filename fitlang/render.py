"""Diagnostics as text for people and as JSON, SARIF, JUnit XML and GitHub annotations for
machines.

The formats are contracts (docs/formats.md): keep them stable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable

from fitlang import __version__
from fitlang.diagnostics import REGISTRY, Diagnostic

FORMATS = ("human", "json", "sarif", "github", "junit", "gitlab")
MAX_SHOWN_LINE = 200


def render(diagnostics: list[Diagnostic], fmt: str, sources: Callable[[str], str | None],
           color: bool = False) -> str:
    if fmt == "human":
        return human(diagnostics, sources, color)
    machine = {"json": as_json, "sarif": sarif, "github": github, "junit": junit, "gitlab": gitlab}
    return machine[fmt](diagnostics, sources)


# ANSI SGR: bold red errors, bold yellow warnings, cyan notes; only when the caller asks
_SEVERITY_COLOR = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m"}
_RESET = "\x1b[0m"


def human(diagnostics: list[Diagnostic], sources: Callable[[str], str | None],
          color: bool = False) -> str:
    out: list[str] = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        label = f"{diagnostic.severity.value}[{diagnostic.code}]"
        if color:
            label = f"{_SEVERITY_COLOR[diagnostic.severity.value]}{label}{_RESET}"
        out.append(f"{diagnostic.path}:{span.line}:{span.column}: {label}: {diagnostic.message}")
        out.extend(_excerpt(sources(diagnostic.path), diagnostic))
        kind = REGISTRY.get(diagnostic.code)
        for related in () if kind is not None and kind.related_in_text else diagnostic.related:
            out.append(f"  note: {related.path}:{related.span.line}:{related.span.column}: "
                       f"{related.message}")
    return "\n".join(out) + ("\n" if out else "")


def _excerpt(text: str | None, diagnostic: Diagnostic) -> list[str]:
    if text is None:
        return []
    lines = text.split("\n")
    span = diagnostic.span
    if not 1 <= span.line <= len(lines):
        return []
    line = lines[span.line - 1].rstrip("\r").replace("\t", " ")
    column = span.column
    if len(line) > MAX_SHOWN_LINE:  # show a window around the column of a very long line
        start = max(0, column - 1 - MAX_SHOWN_LINE // 2)
        line = line[start:start + MAX_SHOWN_LINE]
        column -= start
    line = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in line)
    width = (span.end_column - span.column) if span.end_line == span.line else len(line) - column + 1
    width = max(1, min(width, len(line) - column + 1))
    number = str(span.line)
    gutter = " " * len(number)
    return [f"{' ' * 3}{number} | {line}", f"{' ' * 3}{gutter} | {' ' * (column - 1)}{'^' * width}"]


def as_json(diagnostics: list[Diagnostic], sources: Callable[[str], str | None]) -> str:
    return json.dumps([d.as_record() for d in diagnostics], indent=2) + "\n"


def github(diagnostics: list[Diagnostic], sources: Callable[[str], str | None]) -> str:
    out = []
    for d in diagnostics:
        kind = "error" if d.is_error else "warning"
        s = d.span
        # columns only on one line: the runner drops `col` of a span over several lines
        # (`ValidateLinesAndColumns`), as the annotations API allows columns only there
        columns = f"col={s.column}," if s.end_line == s.line else ""
        end_column = f"endColumn={s.end_column}," if s.end_line == s.line else ""
        props = (f"file={_gh_property(d.path)},line={s.line},{columns}"
                 f"endLine={s.end_line},{end_column}title={d.code}")
        out.append(f"::{kind} {props}::{_gh_data(d.message)}")
    return "\n".join(out) + ("\n" if out else "")


def junit_classname(path: str) -> str:
    """A test case's `classname` for a policy file: its path's directories and its name without
    `.fit`, joined by dots, each with its own dots as `_` (`policies/platform_test.fit` ->
    `policies.platform_test`). Jenkins' JUnit plugin splits a classname at its last dot into
    package and class (`CaseResult.getPackageName`, `getSimpleName`): the path as it is showed
    as package `policies/platform_test`, class `fit`. GitLab shows the classname as it is as
    the test's suite, and the path in `file`."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if parts and parts[-1].endswith(".fit") and len(parts[-1]) > len(".fit"):
        parts[-1] = parts[-1][:-len(".fit")]
    return ".".join(p.replace(".", "_") for p in parts) or "fitc"


def junit(diagnostics: list[Diagnostic], sources: Callable[[str], str | None]) -> str:
    """JUnit XML, as CI test reports read it (GitLab, Jenkins, GitHub test reporters; what
    Regal's and conftest's `--format junit` give): a <testsuite> per file, a <testcase> per
    diagnostic named by its code and line, with a <failure> for an error; a warning is a
    passing case whose <system-out> says it. Nothing to report is one passing case, so that a
    clean run shows as passed rather than as no tests."""
    from xml.etree import ElementTree  # only for --format junit

    root = ElementTree.Element("testsuites", name="fitc")
    by_path: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        by_path.setdefault(diagnostic.path, []).append(diagnostic)
    if not by_path:
        suite = ElementTree.SubElement(root, "testsuite", name="fitc", tests="1", failures="0", errors="0")
        ElementTree.SubElement(suite, "testcase", name="no diagnostics", classname="fitc")
    for path, found in by_path.items():
        failures = sum(d.is_error for d in found)
        suite = ElementTree.SubElement(root, "testsuite", name=path, tests=str(len(found)),
                                       failures=str(failures), errors="0")
        for diagnostic in found:
            span = diagnostic.span
            case = ElementTree.SubElement(suite, "testcase", classname=junit_classname(path), file=path,
                                          line=str(span.line),
                                          name=f"{diagnostic.code} at {span.line}:{span.column}")
            text = f"{path}:{span.line}:{span.column}: {diagnostic.severity.value}[{diagnostic.code}]: " \
                   f"{diagnostic.message}"
            if diagnostic.is_error:
                failure = ElementTree.SubElement(case, "failure", type=diagnostic.code,
                                                 message=diagnostic.message)
                failure.text = text
            else:
                ElementTree.SubElement(case, "system-out").text = text
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


_GITLAB_SEVERITY = {"error": "major", "warning": "minor", "note": "info"}


def gitlab(diagnostics: list[Diagnostic], sources: Callable[[str], str | None]) -> str:
    """A GitLab Code Quality report (`artifacts: reports: codequality:`): the subset of the Code
    Climate format GitLab reads, with the fingerprint SARIF's results carry."""
    issues = [{"description": f"{d.code}: {d.message}", "check_name": d.code,
               "fingerprint": _fingerprint(d),
               "severity": _GITLAB_SEVERITY[d.severity.value],
               "location": {"path": d.path.replace("\\", "/"),
                            "lines": {"begin": d.span.line, "end": d.span.end_line}}}
              for d in diagnostics]
    return json.dumps(issues, indent=2) + "\n"


def _fingerprint(diagnostic: Diagnostic) -> str:
    """Stable across runs and line moves: the code, the file and the message."""
    key = f"{diagnostic.code}\0{diagnostic.path}\0{diagnostic.message}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _gh_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(value: str) -> str:
    return _gh_data(value).replace(":", "%3A").replace(",", "%2C")


def sarif(diagnostics: list[Diagnostic], sources: Callable[[str], str | None]) -> str:
    codes = sorted({d.code for d in diagnostics})
    rules = [_rule(code) for code in codes]
    results = [_result(d, codes.index(d.code)) for d in diagnostics]
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "fitc", "version": __version__,
                                "informationUri": "https://github.com/fitlang/fitlang",
                                "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"


def _rule(code: str) -> dict:
    message = REGISTRY[code]
    return {
        "id": code,
        "name": message.__name__,
        "shortDescription": {"text": message.summary},
        "fullDescription": {"text": f"{message.summary} ({message.severity.value})"},
        "help": {"text": f"See docs/errors.md#{code.lower()} for what {code} means and how to fix it."},
        "defaultConfiguration": {"level": "error" if message.severity.value == "error" else "warning"},
    }


def _result(diagnostic: Diagnostic, rule_index: int) -> dict:
    s = diagnostic.span
    fingerprint = _fingerprint(diagnostic)
    return {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index,
        "level": "error" if diagnostic.is_error else "warning",
        "message": {"text": diagnostic.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": diagnostic.path.replace("\\", "/")},
            "region": {"startLine": s.line, "startColumn": s.column, "endLine": s.end_line,
                       "endColumn": s.end_column},
        }}],
        "partialFingerprints": {"fitcDiagnostic/v1": fingerprint},
    }


def exit_code(diagnostics: Iterable[Diagnostic], fail_level: str = "error") -> int:
    items = list(diagnostics)
    if any(d.is_error for d in items):
        return 1
    if fail_level == "warning" and items:
        return 1
    return 0
