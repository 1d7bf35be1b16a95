"""Test results for people (one line per failure, with the expectation's line, as pytest
shows them) and for machines: JSON, JUnit XML (what CI systems read), GitHub annotations."""

from __future__ import annotations

import json
from collections.abc import Callable
from xml.etree import ElementTree

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.render import github, human, junit_classname
from fitlang.testing.runner import Result
from fitlang.testing.suite import Run


def result_diagnostics(result: Result) -> list[Diagnostic]:
    """What went wrong in a case: why it could not run, or each expectation that failed (E0710
    at the expectation)."""
    case = result.case
    return result.errors + [msg.TestFailed(test=case.name, detail=failure.message)
                            .diagnostic(case.path, failure.expected.span) for failure in result.failures]


def render(run: Run, fmt: str, sources: Callable[[str], str | None], verbose: bool = False) -> str:
    return {"human": _human, "json": _json, "junit": _junit, "github": _github}[fmt](run, sources, verbose)


def summary(run: Run) -> str:
    passed = sum(r.passed for r in run.results)
    failed = len(run.results) - passed
    seconds = sum(r.seconds for r in run.results)
    parts = [f"{passed} passed"] + ([f"{failed} failed"] if failed else [])
    if run.diagnostics:
        parts.append(f"{sum(d.is_error for d in run.diagnostics)} errors in test files")
    return f"{', '.join(parts)} in {seconds:.2f} s"


def _human(run: Run, sources: Callable[[str], str | None], verbose: bool) -> str:
    lines: list[str] = []
    for result in run.results:
        if verbose or not result.passed:
            state = "PASS" if result.passed else "FAIL"
            lines.append(f"{state} {result.case.path}::{result.case.name} ({result.seconds:.2f} s)")
    shown = human(run.diagnostics + [d for r in run.results for d in result_diagnostics(r)], sources)
    return "\n".join(lines) + ("\n" if lines else "") + shown + summary(run) + "\n"


def _github(run: Run, sources: Callable[[str], str | None], verbose: bool) -> str:
    return github(run.diagnostics + [d for r in run.results for d in result_diagnostics(r)], sources)


def _json(run: Run, sources: Callable[[str], str | None], verbose: bool) -> str:
    tests = []
    for result in run.results:
        observed = result.observed
        tests.append({
            "name": result.case.name, "file": result.case.path, "line": result.case.span.line,
            "passed": result.passed, "seconds": round(result.seconds, 3),
            "outcome": observed.outcome if observed else None,
            "cost_usd_h": float(observed.cost) if observed and observed.cost is not None else None,
            "failures": [d.as_record() for d in result_diagnostics(result)]})
    document = {"passed": sum(r.passed for r in run.results),
                "failed": sum(not r.passed for r in run.results),
                "errors": [d.as_record() for d in run.diagnostics], "tests": tests}
    return json.dumps(document, indent=2) + "\n"


def _junit(run: Run, sources: Callable[[str], str | None], verbose: bool) -> str:
    """JUnit XML as CI systems read it (GitLab, Jenkins, GitHub test reporters): a suite per
    test file, a testcase per test, a <failure> per failed expectation, an <error> per case
    that could not run or test file that does not read."""
    root = ElementTree.Element("testsuites", name="fitc test")
    suites: dict[str, ElementTree.Element] = {}

    def suite_of(path: str) -> ElementTree.Element:
        if path not in suites:
            suites[path] = ElementTree.SubElement(root, "testsuite", name=path)
        return suites[path]

    for result in run.results:
        path = result.case.path
        case = ElementTree.SubElement(suite_of(path), "testcase", name=result.case.name,
                                      classname=junit_classname(path),
                                      time=f"{result.seconds:.3f}", file=path,
                                      line=str(result.case.span.line))
        for diagnostic in result_diagnostics(result):
            _junit_item(case, "failure" if diagnostic.code == msg.TestFailed.code else "error", diagnostic)
    for diagnostic in run.diagnostics:
        case = ElementTree.SubElement(suite_of(diagnostic.path), "testcase", name="(reading the test file)",
                                      classname=junit_classname(diagnostic.path))
        _junit_item(case, "error", diagnostic)
    for suite in suites.values():
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _junit_item(case: ElementTree.Element, tag: str, diagnostic: Diagnostic) -> None:
    item = ElementTree.SubElement(case, tag, type=diagnostic.code, message=diagnostic.message)
    span = diagnostic.span
    item.text = f"{diagnostic.path}:{span.line}:{span.column}: {diagnostic.message}"
