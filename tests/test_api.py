"""`fitlang.api`: fitc as a library gives what the command line prints, as the models of the
JSON contracts (fitlang/documents.py)."""

from __future__ import annotations

import json

import pytest

from fitlang import api
from fitlang.documents import DiagnosticRecord, ExplanationDocument, PlacementDocument

from conftest import EXAMPLES, FIXTURES, ROOT


def test_check_gives_what_fitc_check_prints_as_json(fitc):
    path = "tests/fixtures/errors/E0203.fit"
    found = api.check(ROOT / path, project_root=ROOT)
    printed = json.loads(fitc("check", "--format", "json", path).stdout)
    assert all(isinstance(d, DiagnosticRecord) for d in found)
    assert [d.model_dump() for d in found] == printed
    assert [d.code for d in found] == ["E0203"]


def test_solve_gives_the_placement_fitc_solve_prints(fitc):
    placement = api.solve(EXAMPLES / "llm-inference.fit", project_root=ROOT)
    printed = json.loads(fitc("solve", "examples/llm-inference.fit", "--format", "json").stdout)
    assert isinstance(placement, PlacementDocument)
    # the hand-worked outcome in the example's comments: 10.00 USD/h, 4 replicas
    assert (placement.status, placement.objective.value, len(placement.assignments)) == ("optimal", 10.0, 4)
    assert [a.model_dump(exclude_none=True) for a in placement.assignments] == printed["assignments"]
    assert [n.model_dump(exclude_none=True) for n in placement.nodes] == printed["nodes"]


def test_an_infeasible_policy_is_a_placement_with_its_conflict_and_explain_names_it():
    placement = api.solve(EXAMPLES / "infeasible.fit", time_limit=30, project_root=ROOT)
    assert placement.status == "infeasible" and placement.assignments == []
    assert [d.code for d in placement.diagnostics][:1] == ["E0501"]
    explanation = api.explain(EXAMPLES / "infeasible.fit", project_root=ROOT)
    assert isinstance(explanation, ExplanationDocument)
    # the example's comments name the three rules of the conflict
    assert explanation.outcome == "conflict" and len(explanation.conflict) == 3


def test_a_policy_with_errors_raises_policy_error_with_its_diagnostics():
    with pytest.raises(api.PolicyError) as raised:
        api.solve(FIXTURES / "errors" / "E0203.fit", project_root=ROOT)
    assert [d.code for d in raised.value.diagnostics] == ["E0203"]
    assert str(raised.value).startswith("tests/fixtures/errors/E0203.fit:12:13: unknown GPU model")
    with pytest.raises(FileNotFoundError):
        api.check(ROOT / "no-such.fit")


def test_compile_writes_what_fitc_compile_writes(tmp_path, fitc):
    manifest = api.compile(EXAMPLES / "llm-inference.fit", "kubernetes", tmp_path / "lib", project_root=ROOT)
    assert fitc("compile", "examples/llm-inference.fit", "--target", "kubernetes", "--out",
                str(tmp_path / "cli")).returncode == 0
    written = sorted(p.name for p in (tmp_path / "cli").iterdir() if p.name != ".fitc-output")
    assert manifest.files == written
    assert all((tmp_path / "lib" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
               for name in written)
    assert json.loads((tmp_path / "lib" / ".fitc-output").read_text())["files"] == manifest.files
    with pytest.raises(api.CompileError) as raised:  # no placement: nothing written
        api.compile(EXAMPLES / "infeasible.fit", "kubernetes", tmp_path / "none", time_limit=30,
                    project_root=ROOT)
    assert "E0501" in [d.code for d in raised.value.diagnostics] and not (tmp_path / "none").exists()
