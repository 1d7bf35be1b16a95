"""Reading test files and running their cases (`fitc test`, `fitc check` of a test file, the
editor): apart from the package's `__init__`, which `fitc`'s command line imports on every
run, because this imports the driver and the solver."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fitlang.check.loader import display_path
from fitlang.diagnostics import Diagnostic
from fitlang.syntax.parser import parse_source
from fitlang.testing.cases import Case, CaseFile, read_cases
from fitlang.testing.runner import Result, run_case


def read_test_file(path: Path, project_root: Path | None = None, text: str | None = None) -> CaseFile:
    """A test file's cases, with its syntax errors and what is wrong with its `test` blocks
    (`text`: the editor's unsaved text of it)."""
    shown = display_path(path, project_root)
    data = path.read_bytes() if text is None else text
    parsed = parse_source(data, shown)
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    found = read_cases(parsed.module, text, path)
    found.diagnostics[:0] = parsed.diagnostics
    return found


def check_test_file(path: Path, project_root: Path | None = None,
                    text: str | None = None) -> list[Diagnostic]:
    """What `fitc check` (and the editor) report of a test file without running it: its own
    errors, then, per test, a policy file that cannot be read (E0103) and a change to a block
    the policy does not declare (E0702)."""
    found = read_test_file(path, project_root, text)
    diagnostics = list(found.diagnostics)
    for case in found.cases:
        diagnostics.extend(_case_problems(case))
    return diagnostics


def _case_problems(case: Case) -> list[Diagnostic]:
    from fitlang import messages as msg
    from fitlang.testing.overrides import apply_overrides

    try:
        policy_text = case.policy.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        return [msg.FileUnreadable(file=str(case.policy), reason=error.strerror or "unreadable")
                .diagnostic(case.path, case.policy_span)]
    parsed = parse_source(policy_text, str(case.policy))
    if parsed.diagnostics or not case.overrides:
        return []  # a policy that does not parse is reported where it is checked
    return apply_overrides(parsed.module, policy_text, [o.block for o in case.overrides],
                           case.path, case.text)[1]


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # of test files that do not read

    @property
    def passed(self) -> bool:
        return not self.diagnostics and all(r.passed for r in self.results)


def run_tests(files: Iterable[Path], pattern: str | None = None,
              project_root: Path | None = None) -> Run:
    """Every case of `files` whose name matches `pattern` (a regular expression, searched
    for as `opa test --run` does), in file order. A file with errors runs none of its cases."""
    run = Run()
    selected = re.compile(pattern) if pattern else None
    for path in files:
        read = read_test_file(path, project_root)
        if any(d.is_error for d in read.diagnostics):
            run.diagnostics.extend(read.diagnostics)
            continue
        run.diagnostics.extend(read.diagnostics)  # warnings
        for case in read.cases:
            if selected is None or selected.search(case.name):
                run.results.append(run_case(case, project_root))
    return run
