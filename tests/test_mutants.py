"""The shipped examples with a few random token edits (a token dropped, repeated, swapped with
another, or replaced by a hostile one): every command and every editor feature answers with
diagnostics in the standard form, never a traceback.

The generated-program fuzz in test_differential.py edits numbers and lines of programs the
reference writes; these mutants are edits of hand-written policies, with their includes,
inventories and state files, so they reach the paths that generator never writes."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlang.cli import main
from fitlang.lsp import navigation
from fitlang.lsp.analysis import analyze
from fitlang.lsp.completion import Completer
from fitlang.lsp.hover import hover
from fitlang.lsp.semantic import semantic_tokens

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
POLICIES = sorted(p.name for p in EXAMPLES.glob("*.fit") if not p.name.endswith("_test.fit"))
TOKEN = re.compile(r"\s+|[A-Za-z_][\w.-]*|\d+(?:\.\d+)?[A-Za-z]*|\"[^\"\n]*\"|.", re.S)
HOSTILE = ["0", "-1", "1e9", '""', "{", "}", "[", "]", "=", ",", ".", "#", "\n", '"', "x",
           "999999999999999999999", "0.0001", "nan", "inf", "gpu", "zone", '"$(rm -rf /)"',
           '"${x}"', "é", "\U0001F600"]
ERROR_LINE = re.compile(r"^\S+:\d+:\d+: error\[E\d{4}\]: \S", re.M)
CARET = re.compile(r"^\s+\|\s*\^+", re.M)
# CI runs the same 25 mutants every time; a sweep of fresh ones:
#   FITC_MUTANTS=400 .venv/bin/python -m pytest -n 0 tests/test_mutants.py --hypothesis-seed 7
SWEEP = int(os.environ.get("FITC_MUTANTS", "0"))
MUTANT_SETTINGS = settings(max_examples=SWEEP or 25, deadline=None, derandomize=not SWEEP,
                           suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])


@st.composite
def mutants(draw) -> tuple[str, str]:
    """An example's name and its text with one to three token edits."""
    name = draw(st.sampled_from(POLICIES))
    tokens = TOKEN.findall((EXAMPLES / name).read_text())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(tokens) - 1))
        edit = draw(st.sampled_from(["drop", "repeat", "swap", "replace"]))
        if edit == "drop":
            del tokens[at]
        elif edit == "repeat":
            tokens.insert(at, tokens[draw(st.integers(0, len(tokens) - 1))])
        elif edit == "swap":
            other = draw(st.integers(0, len(tokens) - 1))
            tokens[at], tokens[other] = tokens[other], tokens[at]
        else:
            tokens[at] = draw(st.sampled_from(HOSTILE))
    return name, "".join(tokens)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of examples/ (with the inventories, states and includes the policies name)."""
    root = tmp_path_factory.mktemp("mutants") / "examples"
    shutil.copytree(EXAMPLES, root)
    return root


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()


def _written(project: Path, name: str, text: str) -> Path:
    path = project / f"mutant-{name}"
    path.write_text(text)
    return path


def _assert_answered(code: int, output: str) -> None:
    assert "Traceback" not in output, output
    assert code in (0, 1), (code, output)
    if code == 1 and "error[E05" not in output:  # no placement is not a source error
        assert ERROR_LINE.search(output), output
        assert CARET.search(output), output


@MUTANT_SETTINGS
@given(mutants())
def test_check_answers_a_mutated_example_with_diagnostics(project, mutant):
    name, text = mutant
    _assert_answered(*_run(["check", str(_written(project, name, text))]))


@settings(MUTANT_SETTINGS, max_examples=SWEEP // 3 or 8)  # each solves for up to 1 s
@given(mutants(), st.sampled_from(["kubernetes", "slurm", "terraform"]))
def test_compile_answers_a_mutated_example_with_diagnostics_or_files(project, mutant, target):
    name, text = mutant
    out = project / f"out-{target}"
    code, output = _run(["compile", str(_written(project, name, text)), "--target", target,
                         "--out", str(out), "--force", "--time-limit", "1"])
    _assert_answered(code, output)
    if code == 0 and "wrote no files" not in output:
        assert any(p.is_file() for p in out.rglob("*") if p.name != ".fitc-output")
    shutil.rmtree(out, ignore_errors=True)


@MUTANT_SETTINGS
@given(mutants(), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 120)), min_size=5,
                           max_size=5))
def test_the_editor_features_answer_anywhere_in_a_mutated_example(project, mutant, positions):
    name, text = mutant
    path = (project / name).resolve()
    analysis = analyze(path, {path: text})
    module = analysis.module(path)
    lines = text.split("\n")
    for diagnostic in analysis.diagnostics.get(path, []):
        assert 1 <= diagnostic.span.line <= len(lines) + 1, diagnostic
    assert len(semantic_tokens(text, "utf-16")) % 5 == 0
    for line, column in positions:
        line %= len(lines)
        column = min(column, len(lines[line]) + 1)
        if module is not None:
            hover(analysis, module, line + 1, column + 1)
            navigation.definition(analysis, module, line + 1, column + 1)
            symbol = navigation.symbol_at(analysis, module, line + 1, column + 1)
            if symbol is not None:
                assert navigation.references([analysis], symbol, True)
        offset = sum(len(earlier) + 1 for earlier in lines[:line]) + min(column, len(lines[line]))
        completer = Completer(analysis, module, text, offset, None)
        completer.items()
        assert 0 <= completer.replace_from() <= offset
