"""The documents that cross fitc's boundary (fitlang/documents.py): the models describe exactly
what the writers write (every example's output reads back through them, nothing lost), the
published JSON Schemas are current and accept what fitc writes (checked by `jsonschema`, which
shares no code with pydantic), and bad input is named by its JSON path."""

from __future__ import annotations

import importlib.util
import json
import sys
import typing
from pathlib import Path
from typing import NotRequired

import jsonschema
import pytest
from pydantic import ValidationError

from fitlang.documents import WRITTEN_AS, ExplanationDocument, OutputManifest, PlacementDocument
from fitlang.solve.verify import verify

from conftest import EXAMPLES, FIXTURES, ROOT, policies
from solving import problem_from

EVERY_EXAMPLE = policies(EXAMPLES)
SCHEMAS = ROOT / "docs" / "schemas"


def _schema(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _run(capsys, *argv: str) -> tuple[int, dict]:
    from fitlang.cli import main

    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def _read_back(model, document: dict) -> dict:
    """The document through the model and out again, as the writer gave it."""
    return model.model_validate(document).model_dump(mode="json", by_alias=True, exclude_unset=True)


def test_published_schemas_are_current():
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "tools" / "gen_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render_schemas()
    on_disk = {path.name: path.read_text() for path in SCHEMAS.glob("*.schema.json")}
    assert on_disk == rendered, "docs/schemas/ is stale: run .venv/bin/python tools/gen_schemas.py"


@pytest.mark.parametrize("path", EVERY_EXAMPLE, ids=lambda p: p.name)
def test_every_example_placement_reads_back_through_its_model_and_schema(path, capsys):
    code, document = _run(capsys, "solve", str(path), "--format", "json", "--all-nodes")
    assert code == (1 if path.name == "infeasible.fit" else 0)
    assert _read_back(PlacementDocument, document) == document
    # key for key in the model's order too: the writer makes typed dicts (`WRITTEN_AS`)
    assert json.dumps(_read_back(PlacementDocument, document)) == json.dumps(document)
    _schema("placement").validate(document)
    _schema("placement-input").validate(document)  # what solve writes, verify reads
    # the lists were read item by item: each example places all (infeasible.fit: nothing;
    # weekly-queue.fit, a queue longer than its week: some, the rest left out)
    placed = path.name != "infeasible.fit"
    short = path.name in ("infeasible.fit", "weekly-queue.fit")
    assert (bool(document["assignments"]), bool(document["unplaced"])) == (placed, short)


@pytest.mark.parametrize("path", EVERY_EXAMPLE, ids=lambda p: p.name)
def test_every_example_explanation_reads_back_through_its_model_and_schema(path, capsys):
    code, document = _run(capsys, "explain", str(path), "--format", "json")
    # (weekly-queue.fit leaves jobs out as it allows: explain says why, as without a horizon)
    expected = "conflict" if path.name in ("infeasible.fit", "weekly-queue.fit") else "feasible"
    assert (code, document["outcome"]) == ((1, expected) if expected == "conflict" else (0, expected))
    assert _read_back(ExplanationDocument, document) == document
    _schema("explanation").validate(document)
    if path.name == "infeasible.fit":  # repairs with and without a literal edit: both shapes checked
        assert {r["fix"] is None for r in document["repairs"]} == {False, True}


def test_the_written_models_refuse_a_field_they_do_not_name_or_lack_one_they_do(capsys):
    _, document = _run(capsys, "solve", str(EXAMPLES / "onprem-burst.fit"), "--format", "json")
    document["nodes"][0]["rack"] = "r1"  # a writer that adds a field fails the round trip test
    with pytest.raises(ValidationError) as added:
        PlacementDocument.model_validate(document)
    assert [e["loc"] for e in added.value.errors()] == [("nodes", 0, "rack")]
    del document["nodes"][0]["rack"], document["assignments"][1]["node"]
    with pytest.raises(ValidationError) as lost:
        PlacementDocument.model_validate(document)
    assert [(e["loc"], e["type"]) for e in lost.value.errors()] == [(("assignments", 1, "node"), "missing")]
    with pytest.raises(jsonschema.ValidationError):
        _schema("placement").validate(document)


def test_the_compile_manifest_matches_its_model_and_schema(tmp_path, fitc):
    out = tmp_path / "out"
    result = fitc("compile", str(EXAMPLES / "slurm-cluster.fit"), "--target", "slurm", "--out", str(out))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / ".fitc-output").read_text())
    assert _read_back(OutputManifest, manifest) == manifest
    _schema("compile-manifest").validate(manifest)
    assert manifest["files"] == sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                                       if p.is_file() and p.name != ".fitc-output")


@pytest.mark.parametrize("path", [FIXTURES / "inventory" / "nodes.json",
                                  EXAMPLES / "inventory" / "onprem-nodes.json"], ids=lambda p: p.name)
def test_kubectl_files_fit_the_published_schema(path):
    _schema("kubectl-node-list").validate(json.loads(path.read_text()))


POLICY = ('pool p {\n  count = 2\n  cpu = 4\n  memory = 16Gi\n  price = 1 USD/h\n}\n'
          'workload w {\n  replicas = 3\n  cpu = 1\n  memory = 1Gi\n}\n')


def _placed() -> dict:
    return {"assignments": [{"workload": "w", "replica": r, "node": f"p-{r % 2}"} for r in range(3)]}


def test_verify_names_the_json_path_of_each_bad_value(tmp_path):
    problem = problem_from(tmp_path, POLICY)
    assert verify(problem, _placed()) == ([], [])  # the good one, then each value spoilt
    document = _placed()
    document["assignments"][1]["replica"] = "1"
    document["assignments"][2]["replica"] = True  # a bool is no replica number
    del document["assignments"][0]["node"]
    document["nodes"] = [{"name": "p-0", "provisioned": "yes"}]
    document["unplaced"] = [{"workload": 7, "replica": 0}]
    violations, problems = verify(problem, document)
    assert violations == []
    assert [p.text.split(": ")[0] for p in problems] == [
        "nodes[0].provisioned", "assignments[0].node", "assignments[1].replica",
        "assignments[2].replica", "unplaced[0].workload"]
    assert [p.at for p in problems] == [  # where a diagnostic points in the file
        ("nodes", 0, "provisioned"), ("assignments", 0, "node"), ("assignments", 1, "replica"),
        ("assignments", 2, "replica"), ("unplaced", 0, "workload")]
    assert [p.text for p in verify(problem, {"assignments": {}})[1]] == [
        "expected the JSON of `fitc solve --format json`: an object with `assignments`"]


def test_a_file_wrong_in_every_record_is_named_ten_times_then_counted(tmp_path):
    problem = problem_from(tmp_path, POLICY)
    document = {"assignments": [{"workload": "w", "replica": -1.5, "node": "p-0"}] * 25}
    _, problems = verify(problem, document)
    assert [p.text.split(": ")[0] for p in problems[:10]] == [f"assignments[{i}].replica" for i in range(10)]
    assert [p.text for p in problems[10:]] == ["and 15 more wrong values"]


def test_verify_on_the_command_line_names_the_json_path(tmp_path, fitc):
    (tmp_path / "p.fit").write_text(POLICY)
    document = _placed()
    document["assignments"][2]["node"] = ["p-0"]
    text = json.dumps(document, indent=2)
    (tmp_path / "bad.json").write_text(text)
    result = fitc("verify", "p.fit", "bad.json", cwd=tmp_path)
    assert result.returncode == 1
    # the caret under the wrong value: the third assignment's node, where the list starts
    line = text[:text.index('"node": [')].count("\n") + 1
    column = text.split("\n")[line - 1].index("[") + 1
    assert f"bad.json:{line}:{column}: error[E0505]: " in result.stderr, result.stderr
    assert "assignments[2].node: " in result.stderr
    assert "Traceback" not in result.stderr


def test_the_documents_module_is_not_loaded_to_start_fitc():
    """pydantic takes a third of a second to import: `fitc check` and the language server do
    without it (the models load where a document is read or written)."""
    import subprocess

    code = ("import sys, fitlang.cli, fitlang.model.build, fitlang.solve.verify, fitlang.outputs; "
            "print('pydantic' in sys.modules, 'fitlang.documents' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                           check=True).stdout.split()
    assert shown == ["False", "False"]


def test_models_and_writers_name_the_same_contract_as_the_docs():
    """docs/formats.md names each top-level field of the placement: the model has exactly those."""
    text = (ROOT / "docs" / "formats.md").read_text()
    section = text[text.index("## `fitc solve --format json`"):text.index("## `fitc compile --out DIR`")]
    named = {line.split("`")[1].rstrip("[]") for line in section.splitlines() if line.startswith("- `")}
    assert named == set(PlacementDocument.model_fields)


def test_schema_files_are_plain_json_with_a_dialect():
    for path in sorted(Path(SCHEMAS).glob("*.schema.json")):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", path.name


def test_the_writers_assignment_rows_are_the_models_fields():
    """The placement writer makes assignments as typed dicts (`PlacedReplicaFields`, for
    speed); the model (`PlacedReplica`, what the schema and `fitlang.api` give) is their one
    definition: the same fields, the same required ones."""
    import typing
    from typing import NotRequired

    from fitlang.documents import PlacedReplica, PlacedReplicaFields

    fields = PlacedReplica.model_fields
    hints = typing.get_type_hints(PlacedReplicaFields, include_extras=True)
    assert list(hints) == list(fields)
    required = {name for name, hint in hints.items() if typing.get_origin(hint) is not NotRequired}
    assert required == {name for name, field in fields.items() if field.is_required()}


@pytest.mark.parametrize("model", list(WRITTEN_AS), ids=lambda m: m.__name__)
def test_each_typed_dict_the_placement_writer_makes_names_its_models_fields(model):
    """The placement writer makes typed dicts (`documents.WRITTEN_AS`: no pydantic loaded to
    write a placement); each model is their one definition: the same fields in the same
    order, the same required, and a nested document typed by the nested model's typed dict."""
    fields = model.model_fields
    hints = typing.get_type_hints(WRITTEN_AS[model], include_extras=True)
    assert list(hints) == list(fields)
    required = {name for name, hint in hints.items() if typing.get_origin(hint) is not NotRequired}
    assert required == {name for name, field in fields.items() if field.is_required()}
    for name, field in fields.items():
        nested = [m for m in WRITTEN_AS if m in _types_in(field.annotation)]
        assert [WRITTEN_AS[m] for m in nested] == \
            [t for t in _types_in(hints[name]) if t in WRITTEN_AS.values()], name


def _types_in(hint: object) -> list[object]:
    """The classes a type hint names (`list[X] | None` -> [X, NoneType])."""
    arguments = typing.get_args(hint)
    return [hint] if not arguments else [t for a in arguments for t in _types_in(a)]


@pytest.mark.parametrize("name", ["eu-inference.fit", "onprem-burst.fit", "slurm-cluster.fit"])
def test_solve_reads_its_inventories_and_writes_its_placement_without_loading_pydantic(name):
    """What the typed dicts and the core schemas are for: a policy, its kubectl or Slurm
    inventory files (onprem-burst, slurm-cluster), solved and written without loading pydantic
    (0.1-0.2 s CPU of a 0.3-0.7 s run: docs/performance.md, Session 14)."""
    import subprocess

    code = ("import contextlib, io, sys\nfrom fitlang.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    code = main(['solve', {str(EXAMPLES / name)!r}, '--format', 'json'])\n"
            "print(code, 'pydantic' in sys.modules, len(out.getvalue()) > 0)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                           check=True).stdout.split()
    assert shown == ["0", "False", "True"]


def test_the_core_schemas_are_current():
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "tools" / "gen_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    on_disk = (ROOT / "fitlang" / "core_schemas.py").read_text()
    assert on_disk == module.render_core_schemas(), \
        "fitlang/core_schemas.py is stale: run .venv/bin/python tools/gen_schemas.py"


KUBECTL_FILES = [FIXTURES / "inventory" / "nodes.json", EXAMPLES / "inventory" / "onprem-nodes.json"]


def _spoilt(path: Path) -> str:
    """A kubectl file wrong in a label, the taints and a quantity of three nodes."""
    document = json.loads(path.read_text())
    document["items"][0]["metadata"]["labels"] = {"rack": [1]}
    document["items"][1]["spec"] = {"taints": "none"}
    document["items"][-1]["status"] = {"capacity": {"cpu": None}}
    return json.dumps(document)


def _outcome(validate, text: str):
    """What a validator gives: the records, or the errors (type, JSON path, input)."""
    from pydantic_core import ValidationError as CoreError

    try:
        return "read", validate(text)
    except CoreError as error:
        return "errors", [(e["type"], e["loc"], e["input"]) for e in error.errors()]


@pytest.mark.parametrize("text", [p.read_text() for p in KUBECTL_FILES] + [_spoilt(KUBECTL_FILES[0])],
                         ids=["fixture", "example", "spoilt"])
def test_the_kubectl_core_schema_reads_as_the_typed_dicts_adapter(text):
    """The generated core schema (what `fitc` reads inventories with) and pydantic's adapter
    of the TypedDicts (their definition): the same records, keys in the same order, or the
    same errors."""
    from fitlang.core_schemas import validator
    from fitlang.documents_read import kubectl_node_list

    core = _outcome(validator("kubectl-node-list").validate_json, text)
    adapter = _outcome(kubectl_node_list().validate_json, text)
    assert core == adapter and json.dumps(core) == json.dumps(adapter)
    assert core[0] == ("errors" if "none" in text else "read")


def test_the_slurm_core_schema_reads_as_the_typed_dicts_adapter():
    from fitlang.core_schemas import validator
    from fitlang.documents_read import slurm_node_records
    from fitlang.model.inventory import _slurm_fields

    lines = (EXAMPLES / "inventory" / "slurm-nodes.txt").read_text().splitlines()
    records = [_slurm_fields(line) for line in lines if line.strip()]
    records.append({"NodeName": 7, "State": ["IDLE"]})  # wrong types: the same errors
    for given in (records[:-1], records):
        core = _outcome(validator("slurm-node-records").validate_python, given)
        adapter = _outcome(slurm_node_records().validate_python, given)
        assert core == adapter and json.dumps(core) == json.dumps(adapter)
    assert [outcome[0] for outcome in (core, _outcome(validator("slurm-node-records").validate_python,
                                                      records[:-1]))] == ["errors", "read"]


def test_the_placement_core_schema_reads_as_the_typed_dicts_adapter():
    """`fitc verify` checks a placement's shape through the generated core schema: strict as
    `PlacementRead` (a replica number "1" or true is wrong), the same errors, the same order."""
    from fitlang.core_schemas import validator
    from fitlang.documents_read import placement_read

    good = _placed()
    good["nodes"] = [{"name": "p-0", "provisioned": False}]
    bad = json.loads(json.dumps(good))
    bad["assignments"][1]["replica"] = "1"
    bad["assignments"][2]["replica"] = True
    bad["nodes"][0]["provisioned"] = "yes"
    bad["unplaced"] = [{"workload": 7, "replica": 0}]
    outcomes = []
    for document in (good, bad):
        core = _outcome(validator("placement-input").validate_python, document)
        adapter = _outcome(placement_read().validate_python, document)
        assert core == adapter and json.dumps(core) == json.dumps(adapter)
        outcomes.append(core[0])
    assert outcomes == ["read", "errors"]
