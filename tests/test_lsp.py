"""`fitc lsp`, end to end: a real server process driven by pytest-lsp's client.

One server serves the whole module (starting one takes about a second); every test opens
files of its own, so tests do not see each other's documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import FIXTURES, ROOT, STDLIB, policies

lsp = pytest.mark.asyncio(loop_scope="module")  # every test talks to the one server

WAIT = 20.0  # seconds; a check takes milliseconds, a solve after a save about two seconds


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(
    server_command=[sys.executable, "-m", "fitlang.cli", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=ROOT.as_uri(),
        initialization_options={"solveTimeLimit": 20}))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("project")


# ---- helpers ---------------------------------------------------------------------


class Doc:
    def __init__(self, client: LanguageClient, path: Path, text: str) -> None:
        self.client, self.path, self.text, self.version = client, path, text, 1
        self.uri = path.as_uri()

    @property
    def id(self) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(self.uri)

    def at(self, needle: str, offset: int = 0, nth: int = 0) -> types.Position:
        """The position of the `nth` occurrence of `needle`, plus `offset` characters."""
        index = -1
        for _ in range(nth + 1):
            index = self.text.index(needle, index + 1)
        index += offset
        line = self.text.count("\n", 0, index)
        return types.Position(line, index - (self.text.rfind("\n", 0, index) + 1))

    def after(self, needle: str, nth: int = 0) -> types.Position:
        return self.at(needle, len(needle), nth)

    async def change(self, text: str, until=lambda found: True) -> list[types.Diagnostic]:
        self.client.diagnostics.pop(self.uri, None)
        self.text, self.version = text, self.version + 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri),
            [types.TextDocumentContentChangeWholeDocument(text)]))
        return await diagnostics(self.client, self.uri, until)

    async def hover(self, position: types.Position) -> str | None:
        found = await self.client.text_document_hover_async(types.HoverParams(self.id, position))
        return found.contents.value if found is not None else None

    async def complete(self, position: types.Position) -> dict[str, types.CompletionItem]:
        found = await self.client.text_document_completion_async(
            types.CompletionParams(self.id, position))
        items = found.items if isinstance(found, types.CompletionList) else found
        return {item.label: item for item in items or []}


async def diagnostics(client: LanguageClient, uri: str, until=lambda found: True,
                      timeout: float = WAIT) -> list[types.Diagnostic]:
    """The diagnostics of `uri` once they are published (and `until` holds for them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while uri not in client.diagnostics or not until(client.diagnostics[uri]):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no such diagnostics for {uri}: {client.diagnostics.get(uri)}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), remaining)
    return list(client.diagnostics[uri])


def warned(count: int):
    """Until `count` diagnostics are shown: the rule warnings follow the check's diagnostics."""
    return lambda found: len(found) == count


async def open_doc(client: LanguageClient, path: Path, text: str, write: bool = True,
                   until=lambda found: True) -> Doc:
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    doc = Doc(client, path, text)
    client.diagnostics.pop(doc.uri, None)
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(doc.uri, "fit", 1, text)))
    await diagnostics(client, doc.uri, until)
    return doc


def close_doc(doc: Doc) -> None:
    doc.client.text_document_did_close(types.DidCloseTextDocumentParams(doc.id))


def summary(found: list[types.Diagnostic]) -> list[tuple]:
    """(code, start line, start character, end line, end character), 0-based like LSP."""
    return sorted((d.code, d.range.start.line, d.range.start.character, d.range.end.line,
                   d.range.end.character) for d in found)


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    def offset(position: types.Position) -> int:
        lines = text.split("\n")
        return sum(len(line) + 1 for line in lines[:position.line]) + position.character

    ordered = sorted(((offset(e.range.start), i, offset(e.range.end), e.new_text)
                      for i, e in enumerate(edits)), reverse=True)
    for start, _, end, new_text in ordered:
        text = text[:start] + new_text + text[end:]
    return text


CLUSTER = '''import "std/accelerators"

const BUDGET = 250 USD/h
const BIG = 2 * 512GiB

pool h100 {
  count = 2
  cpu = 192
  memory = 2TiB
  gpu {
    model = H100
    count = 8
  }
  zone = "us-east-1a"
  price = 40 USD/h
}

pool small {
  count = 6
  cpu = 32
  memory = 256GiB
  zone = "us-east-1b"
  price = 2 USD/h
}

profile gpu_big {
  cpu = 32
  memory = 256GiB
  gpu {
    count = 8
    require memory >= 80GB and interconnect == nvlink
  }
}

workload trainer {
  kind = job
  replicas = 2
  use gpu_big
}

workload web {
  replicas = 3
  cpu = 4
  memory = 8GiB
  anti_affinity self on node
  affinity trainer on zone
}

policy {
  budget = BUDGET
}
'''


# ---- 1. diagnostics ------------------------------------------------------------------


@lsp
async def test_diagnostics_are_those_of_fitc_check(client: LanguageClient):
    """Every error fixture: the same codes, ranges and messages as `fitc check --format json`.

    All of them stay open, so a file shows what the check of any open file finds in it: the
    files of the import cycle are each checked alone by the CLI too, and the results joined."""
    files = sorted(p for p in (FIXTURES / "errors").rglob("*.fit") if p.name != "E0007.fit")
    cyclic = [p for p in files if "cycle" in p.parts or p.name == "E0102.fit"]
    runs = [[p for p in files if p not in cyclic]] + [[p] for p in cyclic]
    expected: dict[str, set] = {}
    for run in runs:
        done = subprocess.run([sys.executable, "-m", "fitlang.cli", "check", "--format", "json",
                               *[str(p.relative_to(ROOT)) for p in run]],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        for record in json.loads(done.stdout):
            expected.setdefault((ROOT / record["path"]).resolve().as_uri(), set()).add((
                record["code"], record["line"] - 1, record["column"] - 1,
                record["end_line"] - 1, record["end_column"] - 1, record["message"]))
    docs = [await open_doc(client, path, path.read_text(encoding="utf-8"), write=False)
            for path in files]
    await docs[-1].hover(types.Position(0, 0))  # answered after every notification sent before
    assert len(expected) > 35
    for doc in docs:
        found = {(d.code, d.range.start.line, d.range.start.character, d.range.end.line,
                  d.range.end.character, d.message) for d in client.diagnostics[doc.uri]}
        assert all(d.source == "fitc" for d in client.diagnostics[doc.uri])
        assert found == expected.get(doc.uri, set()), doc.path.name
        close_doc(doc)


@lsp
async def test_diagnostics_follow_edits_and_clear_when_fixed(client: LanguageClient, project):
    doc = await open_doc(client, project / "edit.fit", CLUSTER)
    assert list(client.diagnostics[doc.uri]) == []
    broken = CLUSTER.replace("  memory = 256GiB\n  zone", "  memroy = 256GiB\n  zone")
    found = await doc.change(broken)
    line = broken.count("\n", 0, broken.index("memroy"))
    pool = doc.at("pool small").line
    assert summary(found) == [("E0205", line, 2, line, 8), ("E0206", pool, 0, pool, 4)]
    assert found[0].message.endswith("did you mean `memory`?") or \
        found[1].message.endswith("did you mean `memory`?")
    assert {d.severity for d in found} == {types.DiagnosticSeverity.Error}
    assert await doc.change(CLUSTER) == []
    # a burst of edits: what is shown in the end is the check of the last text
    texts = [CLUSTER.replace("replicas = 3", f"replicas = {i}x") for i in range(4)] + [CLUSTER]
    for text in texts:
        doc.text, doc.version = text, doc.version + 1
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=doc.version, uri=doc.uri),
            [types.TextDocumentContentChangeWholeDocument(text)]))
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # the debounce is 0.15 s
    await doc.hover(types.Position(0, 0))  # answered after every notification sent before
    assert list(client.diagnostics[doc.uri]) == []
    close_doc(doc)


@lsp
async def test_positions_are_in_utf16_code_units(client: LanguageClient, project):
    """The client counts columns in UTF-16 (the default); fitlang in code points."""
    text = 'const B = 2\nconst C = ["\U0001F680 \u00fc", B + "x"]\n'
    doc = await open_doc(client, project / "utf16.fit", text)
    [found] = client.diagnostics[doc.uri]
    line = text.split("\n")[1]
    plus = len(line[:line.index("+")].encode("utf-16-le")) // 2
    assert (found.code, found.range.start.line, found.range.start.character,
            found.range.end.character) == ("E0307", 1, plus, plus + 1)
    b = len(line[:line.index("B")].encode("utf-16-le")) // 2
    shown = await doc.hover(types.Position(1, b))
    assert shown.startswith("**const** `B`")
    close_doc(doc)


@lsp
async def test_a_test_file_is_read_as_fitc_test_reads_it(client: LanguageClient, project):
    # `test` blocks are not policy declarations (no E0204): what they hold is checked as `fitc
    # check` checks a test file, and the errors follow edits
    (project / "tested.fit").write_text("pool p {\n  count = 1\n  cpu = 1\n  memory = 1Gi\n}\n")
    doc = await open_doc(client, project / "tested_test.fit",
                         "test t {\n  policy = \"tested.fit\"\n  expect {\n    outcom = placed\n  }\n}\n",
                         until=lambda found: len(found) > 0)
    assert summary(client.diagnostics[doc.uri]) == [("E0205", 3, 4, 3, 10)]
    fixed = await doc.change(doc.text.replace("outcom", "outcome"), lambda found: list(found) == [])
    assert fixed == []
    close_doc(doc)


@lsp
async def test_diagnostics_of_imported_files_go_to_their_uri(client: LanguageClient, project):
    shared = project / "imports" / "shared.fit"
    shared.parent.mkdir(parents=True, exist_ok=True)
    shared.write_text("profile small {\n  cpu = 1\n  memory = 1Gi\n  replicas = 1\n  gang = 3\n}\n")
    main = await open_doc(client, project / "imports" / "main.fit",
                          'import "./shared.fit"\n\nworkload w {\n  use small\n  use big\n}\n')
    imported = await diagnostics(client, shared.as_uri())
    assert summary(imported) == [("E0301", 4, 9, 4, 10)]
    assert summary(client.diagnostics[main.uri]) == [("E0201", 4, 6, 4, 9)]
    # the editor's unsaved text of the imported file is what counts
    editing = await open_doc(client, shared, "profile small {\n  cpu = 1\n  memory = 1Gi\n}\n\n"
                             "profile big {\n  replicas = 1\n}\n", write=False)
    assert (shared.read_text()).endswith("gang = 3\n}\n")
    assert list(client.diagnostics[editing.uri]) == []
    assert await diagnostics(client, main.uri, lambda found: list(found) == []) == []
    close_doc(editing)
    close_doc(main)


@lsp
async def test_rule_warnings_without_the_solver(client: LanguageClient, project):
    text = CLUSTER.replace("  kind = job\n", '  kind = job\n  prefer zone == "us-east-1a" weight 5\n')
    text += ('\nworkload ghost {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n'
             '  require zone == "eu-west-1a"\n}\n'
             '\npool spare {\n  count = 1\n  cpu = 2\n  memory = 4GiB\n  dedicated = "batch"\n}\n')
    doc = await open_doc(client, project / "warnings.fit", text, until=warned(3))
    found = client.diagnostics[doc.uri]
    require = doc.at('require zone == "eu-west-1a"')
    prefer = doc.at('prefer zone == "us-east-1a" weight 5')
    spare = doc.at("spare")
    assert summary(found) == [
        ("W0101", require.line, require.character, require.line, require.character + 28),
        ("W0102", prefer.line, prefer.character, prefer.line, prefer.character + 36),
        ("W0103", spare.line, spare.character, spare.line, spare.character + 5)]
    messages = {d.code: d.message for d in found}
    assert messages == {
        "W0101": 'no node satisfies `zone == "eu-west-1a"`',
        "W0102": 'every node `trainer` may run on meets `zone == "us-east-1a"`; '
                 "the preference changes nothing",
        "W0103": 'no workload can run on pool `spare` (`trainer`: dedicated = "batch"; '
                 '`web`: dedicated = "batch"; `ghost`: dedicated = "batch")'}
    assert {d.severity for d in found} == {types.DiagnosticSeverity.Warning}
    # a warning is no error: fixing the rule clears it
    found = await doc.change(text.replace("eu-west-1a", "us-east-1b"), until=warned(2))
    assert [d.code for d in found] == ["W0102", "W0103"]
    close_doc(doc)


@lsp
async def test_a_residency_no_node_meets_is_a_warning(client: LanguageClient, project):
    text = ('pool us {\n  count = 2\n  cpu = 8\n  memory = 32GiB\n  jurisdiction = US\n}\n'
            '\nworkload web {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  residency = [EU]\n}\n')
    doc = await open_doc(client, project / "residency.fit", text, until=warned(2))
    found = client.diagnostics[doc.uri]
    assert sorted((d.code, d.message) for d in found) == [
        ("W0101", "no node satisfies `residency = [EU]`; the nodes are in US"),
        ("W0103", "no workload can run on pool `us` (`web`: residency = [EU])")]
    found = await doc.change(text.replace("[EU]", "[EU, US]"))
    assert found == []
    close_doc(doc)


@lsp
async def test_a_target_setting_compile_would_refuse_is_shown_where_check_reports_it(
        client: LanguageClient, project):
    """The editor shows what `fitc check` reports of the targets the policy names: a Slurm
    account `#SBATCH` cannot take, at its value (compile's E0601, the same place)."""
    text = ('pool p {\n  count = 1\n  cpu = 4\n  memory = 8GiB\n}\n'
            '\nworkload w {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  command = ["run"]\n}\n'
            '\npolicy {\n  slurm {\n    account = "ml-$(team)"\n  }\n}\n')
    doc = await open_doc(client, project / "slurm-account.fit", text, until=warned(1))
    [found] = client.diagnostics[doc.uri]
    value = doc.at('"ml-$(team)"')
    assert summary([found]) == [("E0601", value.line, value.character, value.line, value.character + 12)]
    assert found.severity == types.DiagnosticSeverity.Error
    found = await doc.change(text.replace("ml-$(team)", "ml-team"), until=warned(0))
    assert found == []
    close_doc(doc)


@lsp
async def test_infeasible_policy_gets_the_conflict_after_save(client: LanguageClient, project):
    text = (ROOT / "examples" / "infeasible.fit").read_text()
    doc = await open_doc(client, project / "infeasible.fit", text, until=warned(2))
    # before the save: only the solver-free warnings (two pools whose GPUs are too small)
    assert [d.code for d in client.diagnostics[doc.uri]] == ["W0103", "W0103"]
    client.text_document_did_save(types.DidSaveTextDocumentParams(doc.id))
    found = await diagnostics(client, doc.uri, lambda ds: any(d.code == "E0501" for d in ds))
    count, require = doc.at("2\n  cpu = 112"), doc.at("require memory >= 80GB\n  }")
    replicas = doc.at("replicas = 4\n  gang")
    assert [entry for entry in summary(found) if entry[0].startswith("E")] == [
        ("E0501", count.line, count.character, count.line, count.character + 1),
        ("E0504", replicas.line, replicas.character + 11, replicas.line, replicas.character + 12),
        ("E0504", require.line, require.character, require.line, require.character + 22)]
    first = next(d for d in found if d.code == "E0501")
    assert first.message.startswith("no placement meets every hard rule; these rules conflict:")
    # each rule of the conflict is a related location, where it stands (as the E0504s are)
    assert [(r.location.uri, r.location.range.start.line, r.location.range.start.character,
             r.location.range.end.character) for r in first.related_information] == [
        (doc.uri, count.line, count.character, count.character + 1),
        (doc.uri, require.line, require.character, require.character + 22),
        (doc.uri, replicas.line, replicas.character + 11, replicas.character + 12)]
    assert all(r.message for r in first.related_information)
    assert "add 2 nodes to pool `h100` (count = 4)" in first.message
    # an edit makes the conflict stale: it is dropped until the next save
    found = await doc.change(text.replace("count = 2\n  cpu = 112", "count = 4\n  cpu = 112"),
                             until=warned(2))
    assert [d.code for d in found] == ["W0103", "W0103"]
    close_doc(doc)


@lsp
async def test_repairs_of_a_conflict_are_code_actions_that_solve(client: LanguageClient, project):
    """After a save, the conflict (E0501) carries the repairs `explain` checked: each is a
    code action, never preferred, whose edit writes exactly the value explain checked, and
    the policy so edited places every replica (the real solver, its placement verified).
    Once the text changes, the stale conflict offers none."""
    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem

    from solving import solved

    text = (ROOT / "examples" / "infeasible.fit").read_text()
    doc = await open_doc(client, project / "repairs.fit", text, until=warned(2))
    client.text_document_did_save(types.DidSaveTextDocumentParams(doc.id))
    found = await diagnostics(client, doc.uri, lambda ds: any(d.code == "E0501" for d in ds))
    conflict = next(d for d in found if d.code == "E0501")

    async def actions_for(diagnostic: types.Diagnostic) -> list[types.CodeAction]:
        return await client.text_document_code_action_async(types.CodeActionParams(
            text_document=doc.id, range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic])))

    actions = await actions_for(conflict)
    assert [a.kind for a in actions] == [types.CodeActionKind.QuickFix] * 3
    assert not any(a.is_preferred for a in actions)
    edited = [apply_edits(text, a.edit.changes[doc.uri]) for a in actions]
    # the three repairs of examples/infeasible.fit (`fitc explain` lists them): two more
    # H100 nodes, the memory rule relaxed to the A100s' 40 GB, or half the gang
    changes = [(text.replace("count = 2\n  cpu = 112", "count = 4\n  cpu = 112"), "160.00"),
               (text.replace("    require memory >= 80GB\n", "    require memory >= 40GB\n"),
                "80.00"),
               (text.replace("replicas = 4\n  gang", "replicas = 2\n  gang"), "80.00")]
    assert all(changed != text for changed, _ in changes)
    assert sorted(edited) == sorted(changed for changed, _ in changes)
    for action, after in zip(actions, edited):
        cost = next(cost for changed, cost in changes if changed == after)
        assert action.title.endswith(f"(checked: a placement at {cost} USD/h)")
        path = project / "repaired.fit"
        path.write_text(after)
        result = check_file(path)
        assert not result.has_errors
        placement = solved(build_problem(result.program).problem)
        assert not placement.unplaced and placement.assignments
    await doc.change(text + "\n")
    assert list(await actions_for(conflict)) == []
    close_doc(doc)


def test_what_the_server_survives_is_logged_with_its_traceback(tmp_path, monkeypatch, caplog):
    """A failure the server swallows to keep serving (here: building the placement problem
    for the rule warnings) is logged, with its traceback, and the check's answer stands."""
    import logging

    from fitlang.driver import Compilation
    from fitlang.lsp.analysis import analyze, rule_warnings_by_file

    path = tmp_path / "p.fit"
    path.write_text("pool small {\n  count = 1\n  cpu = 8\n  memory = 32GiB\n}\n")
    analysis = analyze(path, {}, warnings=False)

    def vanished(self):
        raise OSError("the inventory went away")

    monkeypatch.setattr(Compilation, "rule_warnings", vanished)
    with caplog.at_level(logging.ERROR, logger="fitlang.lsp.analysis"):
        assert rule_warnings_by_file(analysis) == {}
    [record] = [r for r in caplog.records if r.name == "fitlang.lsp.analysis"]
    assert record.exc_info is not None and record.exc_info[0] is OSError
    assert str(path) in record.getMessage()


def test_a_higher_budget_is_written_where_the_policy_states_it(tmp_path):
    """Two 10 USD/h nodes under a 15 USD/h budget: the repairs are a budget of 20.00 USD/h
    (written after `budget =`, over the constant's name) and one replica fewer (the edits
    the server turns into code actions); each edited policy then solves."""
    from fitlang.check.checker import check_file
    from fitlang.lsp.solver_worker import conflict_diagnostics
    from fitlang.model.build import build_problem

    from solving import solved

    text = ("const LIMIT = 15 USD/h\n\npool small {\n  count = 4\n  cpu = 8\n  memory = 32GiB\n"
            "  price = 10 USD/h\n}\n\nworkload web {\n  replicas = 2\n  cpu = 6\n"
            "  memory = 8GiB\n}\n\npolicy {\n  budget = LIMIT\n}\n")
    path = tmp_path / "budget.fit"
    path.write_text(text)
    repairs: list[dict] = []
    found = conflict_diagnostics(path, {}, 10.0, {}, repairs)
    assert [d.code for d in found] == ["E0501", "E0504"]
    edited = [text[:r["start"]] + r["text"] + text[r["end"]:] for r in repairs]
    assert edited == [text.replace("budget = LIMIT", "budget = 20.00 USD/h"),
                      text.replace("replicas = 2", "replicas = 1")]
    assert [r["cost"] for r in repairs] == [20.0, 10.0]
    for after in edited:
        path.write_text(after)
        result = check_file(path)
        assert not result.has_errors
        assert not solved(build_problem(result.program).problem).unplaced


def test_a_toleration_is_inserted_where_the_workload_states_none(tmp_path):
    """A pool dedicated to "batch" and a workload with no `tolerate`: the repair's edit (the
    server's code action) inserts `tolerate = ["batch"]` as a line of the workload's block;
    the edited policy checks and places it."""
    from fitlang.check.checker import check_file
    from fitlang.lsp.solver_worker import conflict_diagnostics
    from fitlang.model.build import build_problem

    from solving import solved

    text = ('pool batch {\n  count = 1\n  cpu = 8\n  memory = 32GiB\n  price = 10 USD/h\n'
            '  dedicated = "batch"\n}\n\nworkload web {\n  replicas = 1\n  cpu = 6\n  memory = 8GiB\n}\n')
    path = tmp_path / "tolerate.fit"
    path.write_text(text)
    repairs: list[dict] = []
    assert conflict_diagnostics(path, {}, 10.0, {}, repairs)
    [edited] = [text[:r["start"]] + r["text"] + text[r["end"]:] for r in repairs]
    assert edited == text.replace("  memory = 8GiB\n", '  memory = 8GiB\n  tolerate = ["batch"]\n')
    path.write_text(edited)
    result = check_file(path)
    assert not result.has_errors
    assert not solved(build_problem(result.program).problem).unplaced


@lsp
async def test_a_solve_is_dropped_when_the_text_changes(client: LanguageClient, project):
    text = (ROOT / "examples" / "infeasible.fit").read_text()
    doc = await open_doc(client, project / "stale.fit", text)
    client.text_document_did_save(types.DidSaveTextDocumentParams(doc.id))
    await doc.change(text + "\n")
    await asyncio.sleep(3)
    assert not any(d.code == "E0501" for d in client.diagnostics[doc.uri])
    close_doc(doc)


# ---- 3. hover ------------------------------------------------------------------------


@lsp
async def test_hover(client: LanguageClient, project):
    doc = await open_doc(client, project / "hover.fit", CLUSTER)
    const = await doc.hover(doc.at("BIG ="))
    assert "a size in bytes" in const and "**1 TiB**" in const
    assert "250 USD/h" in await doc.hover(doc.at("BUDGET", nth=1))
    h100 = await doc.hover(doc.at("H100"))
    assert "**accelerator** `H100`" in h100 and "stdlib/accelerators.fit" in h100
    assert "- memory: 80 GB" in h100 and "- interconnect: nvlink" in h100
    assert "- tdp: 700 W" in h100
    trainer = await doc.hover(doc.at("trainer {"))
    assert "2 replicas (job)" in trainer
    assert "each replica needs 32 CPU, 256 GiB memory, 8 GPUs " \
           "(memory >= 80GB and interconnect == nvlink and family == gpu)" in trainer  # (the default stated)
    assert "one replica fits on 2 nodes of pool `h100` (1 per node)" in trainer
    web = await doc.hover(doc.at("trainer on zone"))  # a reference, not the declaration
    assert "one replica fits on 2 nodes of pool `h100`" in web
    assert "(1 per node)" in (await doc.hover(doc.at("web {")))
    attribute = await doc.hover(doc.at("replicas = 3"))
    assert attribute.startswith("`workload.replicas`: how many replicas")
    assert "required" in attribute
    subject = await doc.hover(doc.at("interconnect == nvlink"))
    assert "interconnect" in subject and "nvlink" in subject
    assert await doc.hover(doc.at("{")) is None
    close_doc(doc)


@lsp
async def test_hover_on_stdlib_offer(client: LanguageClient, project):
    text = 'import "std/aws"\n\nbuy {\n  offers = [aws_p5_48xlarge]\n}\n'
    doc = await open_doc(client, project / "offer.fit", text)
    shown = await doc.hover(doc.at("aws_p5_48xlarge"))
    assert "**offer** `aws_p5_48xlarge`" in shown and "stdlib/aws.fit" in shown
    assert "- instance_type: p5.48xlarge" in shown and "- price: 55.04 USD/h" in shown
    assert "- gpu: 8 x H100 (80 GB each)" in shown
    close_doc(doc)


# ---- 5. completion -------------------------------------------------------------------


@lsp
async def test_completion_of_keywords_and_attributes(client: LanguageClient, project):
    text = CLUSTER + "\npool fresh {\n  count = 1\n  \n}\n\nworkload w2 {\n  \n}\n\n"
    doc = await open_doc(client, project / "complete.fit", text)
    top = await doc.complete(types.Position(text.count("\n"), 0))
    assert {"pool", "workload", "accelerator", "offer", "buy", "profile", "policy", "import",
            "const", "inventory"} <= set(top)
    assert "cpu" not in top
    in_pool = await doc.complete(doc.at("  \n}", 2))
    assert {"cpu", "memory", "gpu", "zone", "price", "dedicated"} <= set(in_pool)
    assert "count" not in in_pool  # already set
    assert "replicas" not in in_pool and "require" not in in_pool
    assert in_pool["cpu"].text_edit.new_text == "cpu = "
    in_workload = await doc.complete(doc.at("  \n}", 2, nth=1))
    assert {"replicas", "require", "prefer", "use", "affinity", "anti_affinity", "spread",
            "gpu", "tolerate"} <= set(in_workload)
    assert "count" not in in_workload
    close_doc(doc)


@lsp
async def test_completion_of_names_subjects_units_and_values(client: LanguageClient, project):
    doc = await open_doc(client, project / "names.fit", CLUSTER)

    async def items_after(edit_from: str, edit_to: str) -> dict[str, types.CompletionItem]:
        text = CLUSTER.replace(edit_from, edit_to, 1)
        await doc.change(text)
        return await doc.complete(doc.after(edit_to.rstrip("|")) if "|" not in edit_to else
                                  doc.at("|"))

    used = await items_after("  use gpu_big\n", "  use |\n")
    assert "gpu_big" in used and "trainer" not in used and "h100" not in used
    affine = await items_after("affinity trainer on zone", "affinity | on zone")
    assert {"trainer", "web"} <= set(affine) and "gpu_big" not in affine
    topology = await items_after("affinity trainer on zone", "affinity trainer on |")
    assert {"node", "zone", "region"} <= set(topology)
    node = await items_after("  anti_affinity self on node\n", "  require |\n")
    assert {"zone", "region", "labels", "gpu", "cpu", "memory", "arch", "pool"} <= set(node)
    assert "interconnect" not in node and "BUDGET" in node
    accelerator = await items_after("require memory >= 80GB and", "require | and")
    assert {"memory", "interconnect", "vendor", "model", "bf16_tflops"} <= set(accelerator)
    assert "zone" not in accelerator
    member = await items_after("  anti_affinity self on node\n", "  require gpu.|\n")
    assert {"memory", "interconnect", "model", "count"} <= set(member) and "zone" not in member
    choices = await items_after("interconnect == nvlink", "interconnect == |")
    assert {"nvlink", "pcie", "xgmi"} <= set(choices) and "BUDGET" not in choices
    models = await items_after("model = H100", "model = |")
    assert {"H100", "H200", "A100_40GB", "L40S"} <= set(models)
    assert models["H100"].kind == types.CompletionItemKind.Class
    units = await items_after("memory = 8GiB", "memory = 8|")
    assert {"GiB", "Gi", "GB", "MiB", "TiB"} <= set(units)
    assert "USD/h" not in units and "h" not in units
    assert units["GiB"].text_edit.new_text == "GiB"
    price_units = await items_after("price = 2 USD/h", "price = 2 U|")
    assert "USD/h" in price_units and "GiB" not in price_units
    start = price_units["USD/h"].text_edit.range.start
    assert (start.line, start.character) == (doc.at("U|").line, doc.at("U|").character)
    kinds = await items_after("kind = job", "kind = |")
    assert set(kinds) >= {"job", "service"}
    close_doc(doc)


@lsp
async def test_completion_offers_stdlib_names_with_their_import(client: LanguageClient, project):
    text = "pool p {\n  count = 1\n  cpu = 8\n  memory = 64GiB\n  gpu {\n    model = \n" \
           "    count = 1\n  }\n}\n"
    doc = await open_doc(client, project / "noimport.fit", text)
    items = await doc.complete(doc.after("model = "))
    assert "H100" in items
    edit = items["H100"].additional_text_edits[0]
    assert edit.new_text == 'import "std/accelerators"\n'
    assert (edit.range.start.line, edit.range.start.character) == (0, 0)
    modules = await doc.complete(types.Position(0, 0))
    assert "import" in modules
    await doc.change('import "\n' + text)
    paths = await doc.complete(types.Position(0, 8))
    assert {"std/accelerators", "std/aws", "std/gcp", "std/azure"} <= set(paths)
    close_doc(doc)


# ---- 6. navigation -------------------------------------------------------------------


@lsp
async def test_definition_across_imports_and_into_the_stdlib(client: LanguageClient, project):
    common = project / "nav" / "common.fit"
    common.parent.mkdir(parents=True, exist_ok=True)
    common.write_text("# shared settings\nprofile base {\n  cpu = 1\n  memory = 1Gi\n}\n")
    text = ('import "std/accelerators"\nimport "./common.fit"\nimport "./common.fit" as c\n\n'
            "workload a {\n  replicas = 1\n  use base\n}\n\n"
            "workload b {\n  replicas = 1\n  use c.base\n  affinity a on node\n"
            "  gpu {\n    count = 1\n    model = H100\n  }\n}\n")
    doc = await open_doc(client, project / "nav" / "main.fit", text)

    async def where(position: types.Position) -> list[tuple]:
        found = await client.text_document_definition_async(
            types.DefinitionParams(doc.id, position))
        return [(Path(types_uri_path(at.uri)).name, at.range.start.line, at.range.start.character,
                 at.range.end.character) for at in found or []]

    assert await where(doc.at("base\n}")) == [("common.fit", 1, 8, 12)]
    assert await where(doc.at("base", offset=2, nth=1)) == [("common.fit", 1, 8, 12)]
    assert await where(doc.at("a on node")) == [("main.fit", 4, 9, 10)]
    [(name, line, start, end)] = await where(doc.at("H100"))
    assert name == "accelerators.fit" and (STDLIB / name).read_text().split("\n")[line][start:end] == "H100"
    assert await where(doc.at("./common.fit")) == [("common.fit", 0, 0, 0)]
    assert await where(doc.at("replicas")) == []

    found = await client.text_document_references_async(types.ReferenceParams(
        text_document=doc.id, position=doc.at("base\n}"),
        context=types.ReferenceContext(include_declaration=True)))
    assert sorted((Path(types_uri_path(at.uri)).name, at.range.start.line, at.range.start.character)
                  for at in found) == [("common.fit", 1, 8), ("main.fit", 6, 6), ("main.fit", 11, 8)]
    found = await client.text_document_references_async(types.ReferenceParams(
        text_document=doc.id, position=doc.at("a {"),
        context=types.ReferenceContext(include_declaration=False)))
    assert [(at.range.start.line, at.range.start.character) for at in found] == [(12, 11)]
    close_doc(doc)


def types_uri_path(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri)


@lsp
async def test_document_symbols(client: LanguageClient, project):
    doc = await open_doc(client, project / "symbols.fit", CLUSTER)
    found = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(doc.id))
    assert [(s.name, s.detail, s.kind) for s in found] == [
        ("std/accelerators", "import", types.SymbolKind.Module),
        ("BUDGET", "const = 250 USD/h", types.SymbolKind.Constant),
        ("BIG", "const = 2 * 512GiB", types.SymbolKind.Constant),
        ("h100", "pool", types.SymbolKind.Struct), ("small", "pool", types.SymbolKind.Struct),
        ("gpu_big", "profile", types.SymbolKind.Interface),
        ("trainer", "workload", types.SymbolKind.Function),
        ("web", "workload", types.SymbolKind.Function),
        ("policy", "policy", types.SymbolKind.Namespace)]
    h100 = found[3]
    assert (h100.selection_range.start.line, h100.selection_range.start.character) == (5, 5)
    assert (h100.range.start.line, h100.range.end.line) == (5, 15)
    assert [c.name for c in h100.children] == ["count", "cpu", "memory", "gpu", "zone", "price"]
    close_doc(doc)


@pytest.mark.parametrize("size", [20_000, 2_000_000])
@pytest.mark.parametrize("where", ["const", "same block", "name run"])
def test_completion_reads_a_bounded_window(size, where):
    """A long string (or run of name characters) earlier in the file costs nothing: the
    completion reads the declaration around the cursor only. Before, 20,000 characters took
    7.4 s (two end-anchored searches over the whole prefix) and 2 MB never returned.
    The bound is 50 times the measured time on this shared machine: a regression to reading
    the prefix is seconds, not milliseconds."""
    import time

    from fitlang.lsp.completion import Completer

    filler = "a" * size
    text = {"const": f'const S = "{filler}"\npool p {{\n  count = 1\n  me\n}}\n',
            "same block": f'pool p {{\n  labels = {{x: "{filler}"}}\n  count = 1\n  me\n}}\n',
            "name run": f"const S = {filler}\npool p {{\n  count = 1\n  me\n}}\n"}[where]
    offset = text.index("  me\n") + 4
    started = time.perf_counter()
    completer = Completer(None, None, text, offset)
    labels = {item.label for item in completer.items()}
    assert completer.replace_from() == offset - 2
    assert time.perf_counter() - started < 1.0
    if size < 64_000 or where != "same block":
        assert {"cpu", "memory"} <= labels and "count" not in labels and "pool" not in labels
    else:  # a declaration longer than the window: nothing rather than a guess
        assert labels == set()


def test_completion_at_the_start_of_an_empty_line():
    """The word before the cursor ends at the cursor: `$` also matched before the newline
    that ends the line above, which took `GiB` of `memory = 64GiB` for the word being typed
    (found by the Neovim test: its cursor was on an empty line)."""
    from fitlang.lsp.completion import Completer

    text = "workload w {\n  memory = 64GiB\n\n}\n"
    offset = text.index("\n\n}") + 1
    completer = Completer(None, None, text, offset)
    labels = {item.label for item in completer.items()}
    assert {"replicas", "cpu", "require"} <= labels and not {"GiB", "memory"} & labels
    assert completer.replace_from() == offset


@lsp
async def test_a_2mb_string_does_not_stall_the_server(client: LanguageClient, project):
    text = CLUSTER.replace("const BIG", 'const NOTE = "' + "x" * 2_000_000 + '"\nconst BIG')
    text = text.replace("  zone = \"us-east-1b\"\n", "  zone = \"us-east-1b\"\n  dis\n")
    doc = await open_doc(client, project / "huge.fit", text, write=False)
    items = await asyncio.wait_for(doc.complete(doc.after("  dis")), 10)
    assert "disk" in items and "count" not in items
    assert "250 USD/h" in await asyncio.wait_for(doc.hover(doc.at("BUDGET", nth=1)), 10)
    close_doc(doc)


# ---- 7. formatting and quick fixes ----------------------------------------------------


@lsp
async def test_formatting(client: LanguageClient, project):
    from fitlang.syntax.formatter import format_source

    messy = 'const  X=4 # four\npool p { count = X; cpu = 8\n memory = 64GiB\n    price=1 USD/h }\n' \
            'workload w {replicas=1\ncpu=1; memory=1Gi}\n'
    doc = await open_doc(client, project / "fmt.fit", messy)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc.id, options=types.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert apply_edits(messy, edits) == format_source(messy, "fmt.fit").text
    formatted = format_source(messy, "fmt.fit").text
    await doc.change(formatted)
    assert list(await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc.id, options=types.FormattingOptions(tab_size=2, insert_spaces=True)))) == []
    await doc.change(formatted + "pool q {\n")
    assert await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc.id, options=types.FormattingOptions(tab_size=2, insert_spaces=True))) is None
    close_doc(doc)


@lsp
async def test_quick_fixes_for_did_you_mean(client: LanguageClient, project):
    text = ('import "std/acelerators"\n\npool p {\n  count = 1\n  cpu = 8\n  memry = 64GiB\n}\n\n'
            "workload w {\n  replicas = 2\n  cpu = 1\n  memory = 1Gi\n  affinity self on node\n"
            "  require arch == amd46\n}\n")
    doc = await open_doc(client, project / "fixes.fit", text)
    found = client.diagnostics[doc.uri]
    assert {d.code for d in found} >= {"E0101", "E0205", "E0402", "E0305"}
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=doc.id, range=types.Range(types.Position(0, 0), types.Position(20, 0)),
        context=types.CodeActionContext(diagnostics=found)))
    fixed = {a.title: apply_edits(text, a.edit.changes[doc.uri]) for a in actions}
    assert all(a.kind == types.CodeActionKind.QuickFix for a in actions)
    assert set(fixed) == {"Change to `std/accelerators`", "Change to `memory`",
                          "Change to `anti_affinity self`", "Change to `amd64`"}
    assert fixed["Change to `std/accelerators`"].startswith('import "std/accelerators"\n')
    assert "\n  memory = 64GiB\n" in fixed["Change to `memory`"]
    assert "\n  anti_affinity self on node\n" in fixed["Change to `anti_affinity self`"]
    assert "arch == amd64\n" in fixed["Change to `amd64`"]
    everything = text
    for action in actions:
        everything = apply_edits(everything, action.edit.changes[doc.uri])
    assert await doc.change(everything) == []
    close_doc(doc)


@lsp
async def test_a_quoted_block_name_has_a_quick_fix_that_makes_it_an_identifier(
        client: LanguageClient, project):
    text = ('import "std/gcp"\n\nbuy "eu-cloud" {\n  providers = [gcp]\n}\n\n'
            "workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n")
    doc = await open_doc(client, project / "quoted.fit", text)
    [found] = client.diagnostics[doc.uri]
    assert found.code == "E0011" and found.range.start == types.Position(2, 4)
    [action] = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=doc.id, range=found.range, context=types.CodeActionContext(diagnostics=[found])))
    assert action.title == "Write the name as an identifier: `buy eu_cloud`" and action.is_preferred
    mended = apply_edits(text, action.edit.changes[doc.uri])
    assert "\nbuy eu_cloud {\n" in mended
    assert await doc.change(mended) == []
    close_doc(doc)


@lsp
async def test_quick_fixes_never_swap_hardware(client: LanguageClient, project):
    """A misspelt GPU model gets the close models of its own family, ranked, none preferred
    (one keystroke must not change the GPU); a fix that changes a number is not preferred
    either; a plain misspelling stays the preferred fix. Before: `H100_80GB` offered
    `A100_80GB` and `A100` offered `A10`, each preferred."""
    def pool(model: str) -> str:
        return (f'import "std/accelerators"\n\npool p {{\n  count = 1\n  cpu = 8\n'
                f'  memry = 64GiB\n  gpu {{\n    model = {model}\n    count = 8\n  }}\n}}\n'
                f'\nworkload w {{\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n'
                f'  require arch == amd46\n}}\n')

    async def fixes(model: str) -> dict[str, list[tuple[str, bool]]]:
        doc = await open_doc(client, project / f"hw_{model}.fit", pool(model))
        found = client.diagnostics[doc.uri]
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=doc.id, range=types.Range(types.Position(0, 0), types.Position(20, 0)),
            context=types.CodeActionContext(diagnostics=found)))
        close_doc(doc)
        by_code: dict[str, list[tuple[str, bool]]] = {}
        for action in actions:
            [diagnostic] = action.diagnostics
            [edit] = action.edit.changes[doc.uri]
            by_code.setdefault(diagnostic.code, []).append(
                (edit.new_text, bool(action.is_preferred)))
        return by_code

    h100 = await fixes("H100_80GB")
    assert h100["E0203"] == [("H100", False), ("H100_PCIE", False)]
    assert h100["E0205"] == [("memory", True)]
    assert h100["E0305"] == [("amd64", False)]
    a100 = await fixes("A100")
    assert a100["E0203"] == [("A100_40GB", False), ("A100_80GB", False), ("A100_80GB_PCIE", False)]


def test_hardware_candidates_by_family():
    from fitlang.lsp.actions import family, hardware_candidates

    assert [family(n) for n in ("H100_80GB", "A10G", "MI300X", "TPU_V5E", "l4")] == \
        ["H100", "A10", "MI300", "TPU", "L4"]
    names = ["H100", "H200", "A100_80GB", "A10", "L4", "L40S"]
    assert hardware_candidates("H100_80GB", names) == ["H100"]
    assert hardware_candidates("A100", names) == ["A100_80GB"]
    # no model of H300's family: the close ones, none preferred (the server's part)
    assert hardware_candidates("H300", names) == ["H100", "H200"]
    assert hardware_candidates("L40", names) == ["L40S"]


# ---- 8. unsaved, half-typed documents ----------------------------------------------


@lsp
async def test_half_typed_document_still_answers(client: LanguageClient, project):
    text = CLUSTER.replace("workload web {", "workload half {\n  memory = \n  cp\n\nworkload web {")
    doc = await open_doc(client, project / "half.fit", text, write=False)
    found = client.diagnostics[doc.uri]
    assert [d.code for d in found] == ["E0004"]  # `{` of `half` never closed
    assert "250 USD/h" in await doc.hover(doc.at("BUDGET", nth=1))
    assert "one replica fits" in await doc.hover(doc.at("trainer {"))
    items = await doc.complete(doc.at("  cp\n\n", 4))
    assert {"cpu", "replicas", "require", "gpu"} <= set(items)
    assert "memory" not in items  # written already, if without its value
    assert items["cpu"].text_edit.range.start.character == 2
    values = await doc.complete(doc.after("memory = ", nth=3))
    assert "BIG" in values and "BUDGET" not in values  # constants of the right unit
    close_doc(doc)


@lsp
async def test_semantic_tokens_colour_the_file(client: LanguageClient, project):
    """Editors without the TextMate grammar colour a file from these (full document)."""
    text = ('import "std/accelerators"\n/* two\n lines */ const X = 80GB # note\n'
            'pool h100 {\n  cpu = 4\n  gpu {\n    model = H100\n  }\n}\n'
            'workload w {\n  require zone == "\U0001F680" and gpu.memory >= 80GB\n}\n')
    doc = await open_doc(client, project / "colours.fit", text, write=False)
    found = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(doc.id))
    names = ["keyword", "type", "property", "variable", "number", "string", "comment", "operator"]
    lines = text.split("\n")
    decoded, line, column = [], 0, 0
    data = list(found.data)
    for at in range(0, len(data), 5):
        delta_line, delta_start, length, kind, modifiers = data[at:at + 5]
        line += delta_line
        column = column + delta_start if delta_line == 0 else delta_start
        utf16 = lines[line].encode("utf-16-le")
        word = utf16[column * 2:(column + length) * 2].decode("utf-16-le")
        decoded.append((line, word, names[kind], modifiers))
    assert decoded == [
        (0, "import", "keyword", 0), (0, '"std/accelerators"', "string", 0),
        (1, "/* two", "comment", 0), (2, " lines */", "comment", 0),
        (2, "const", "keyword", 0), (2, "X", "variable", 1), (2, "=", "operator", 0),
        (2, "80GB", "number", 0), (2, "# note", "comment", 0),
        (3, "pool", "keyword", 0), (3, "h100", "type", 1),
        (4, "cpu", "property", 0), (4, "=", "operator", 0), (4, "4", "number", 0),
        (5, "gpu", "keyword", 0),
        (6, "model", "property", 0), (6, "=", "operator", 0), (6, "H100", "variable", 0),
        (9, "workload", "keyword", 0), (9, "w", "type", 1),
        (10, "require", "keyword", 0), (10, "zone", "variable", 0), (10, "==", "operator", 0),
        (10, '"\U0001F680"', "string", 0), (10, "and", "keyword", 0), (10, "gpu", "variable", 0),
        (10, "memory", "variable", 0), (10, ">=", "operator", 0), (10, "80GB", "number", 0)]
    close_doc(doc)


@lsp
async def test_inlay_hints_show_where_the_last_solve_placed_each_workload(client, project):
    """Two nodes of 16 CPU at 4 USD/h; `web` (12 CPU) and `batch` (4 CPU), 2 replicas each:
    each node runs one of each (16 CPU), so by CPU `web` pays 12/16 of 4 USD/h per node,
    6 USD/h of the 8 (75%), and `batch` 2 USD/h (25%). Computed by hand."""
    text = ('pool big {\n  count = 2\n  cpu = 16\n  memory = 64GiB\n  price = 4 USD/h\n}\n\n'
            'workload web {\n  replicas = 2\n  cpu = 12\n  memory = 8GiB\n}\n\n'
            'workload batch {\n  replicas = 2\n  cpu = 4\n  memory = 8GiB\n}\n')
    doc = await open_doc(client, project / "hints.fit", text)
    everything = types.Range(types.Position(0, 0), types.Position(30, 0))

    async def hints():
        found = await client.text_document_inlay_hint_async(types.InlayHintParams(doc.id, everything))
        return [(h.position.line, h.position.character, h.label) for h in found or []]

    assert await hints() == []  # nothing solved before a save
    client.text_document_did_save(types.DidSaveTextDocumentParams(doc.id))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not (found := await hints()) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    web, batch = doc.at("replicas = 2"), doc.at("replicas = 2", nth=1)
    assert found == [
        (web.line, web.character + 12, "on big \u00d72 \u00b7 6.00 USD/h (75% of cost)"),
        (batch.line, batch.character + 12, "on big \u00d72 \u00b7 2.00 USD/h (25% of cost)")]
    await doc.change(text.replace("cpu = 4\n", "cpu = 2\n"))
    assert await hints() == []  # the text solved is no more
    close_doc(doc)


# ---- robustness: every request answered, every malformed message survived ----------------


@lsp
async def test_requests_on_a_file_never_opened(client: LanguageClient, project):
    """Answered with an empty result, not a -32603 traceback (also for a file not on disk)."""
    for path in (project / "never-opened.fit", project / "not-there.fit"):
        if path.name == "never-opened.fit":
            path.write_text(CLUSTER)
        ident = types.TextDocumentIdentifier(path.as_uri())
        position = types.Position(1, 2)
        completion = await client.text_document_completion_async(
            types.CompletionParams(ident, position))
        assert list(completion.items) == []
        options = types.FormattingOptions(tab_size=2, insert_spaces=True)
        assert await client.text_document_formatting_async(
            types.DocumentFormattingParams(ident, options)) is None
        assert await client.text_document_hover_async(types.HoverParams(ident, position)) is None
        assert await client.text_document_definition_async(
            types.DefinitionParams(ident, position)) == []
        assert await client.text_document_document_symbol_async(
            types.DocumentSymbolParams(ident)) == []


@lsp
async def test_did_change_configuration_is_accepted(client: LanguageClient, project):
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"fitc": {"solveTimeLimit": 20}}))
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    doc = await open_doc(client, project / "configured.fit", CLUSTER)
    assert "250 USD/h" in await doc.hover(doc.at("BUDGET", nth=1))
    close_doc(doc)
    assert not [m for m in client.messages if m.type == types.MessageType.Error]


def _frame(message: dict, length: int | None = None) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


class _RawServer:
    """`fitc lsp` spoken to in bytes: for what a well-behaved client cannot send."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "fitlang.cli", "lsp"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, cwd=ROOT)
        self.messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_messages, daemon=True).start()
        self.send(_frame({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                          "params": {"capabilities": {}, "processId": None}}))
        assert self.response(0)["result"]["serverInfo"]["name"] == "fitc"
        self.send(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))

    def send(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def _read_messages(self) -> None:
        """The server's messages into the queue (headers parsed here, in the test only)."""
        length = None
        while line := self.process.stdout.readline():
            if line.startswith(b"Content-Length:"):
                length = int(line.split(b":")[1])
            elif line == b"\r\n" and length is not None:
                self.messages.put(json.loads(self.process.stdout.read(length)))
                length = None

    def message(self) -> dict:
        try:
            return self.messages.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"no answer from the server in {WAIT} s") from None

    def response(self, request_id) -> dict:
        while True:
            found = self.message()
            if "method" not in found and found.get("id") == request_id:
                return found

    def hover(self, request_id: int, length_delta: int = 0) -> bytes:
        message = {"jsonrpc": "2.0", "id": request_id, "method": "textDocument/hover",
                   "params": {"textDocument": {"uri": "file:///nowhere.fit"},
                              "position": {"line": 0, "character": 0}}}
        return _frame(message, len(json.dumps(message)) + length_delta)

    def finish(self, shutdown: bool = True) -> int:
        if shutdown:
            self.send(_frame({"jsonrpc": "2.0", "id": 99, "method": "shutdown"}))
            assert self.response(99)["result"] is None
        self.send(_frame({"jsonrpc": "2.0", "method": "exit"}))
        self.process.stdin.close()
        return self.process.wait(timeout=WAIT)


@pytest.fixture
def raw_server():
    server = _RawServer()
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def test_a_length_too_short_does_not_leave_the_server_deaf(raw_server):
    raw_server.send(raw_server.hover(1, length_delta=-5) + raw_server.hover(2))
    assert raw_server.response(None)["error"]["code"] == -32700  # the cut body: ParseError
    assert raw_server.response(2) == {"jsonrpc": "2.0", "id": 2, "result": None}
    assert raw_server.finish() == 0


def test_a_length_too_long_does_not_leave_the_server_deaf(raw_server):
    raw_server.send(raw_server.hover(1, length_delta=+40))
    assert raw_server.response(1) == {"jsonrpc": "2.0", "id": 1, "result": None}
    raw_server.send(raw_server.hover(2, length_delta=+400) + raw_server.hover(3))
    assert raw_server.response(2)["result"] is None
    assert raw_server.response(3)["result"] is None
    assert raw_server.finish() == 0


def test_a_bad_header_and_a_body_that_is_no_json(raw_server):
    raw_server.send(b"Content-Length: many\r\n\r\n{}" + raw_server.hover(1))
    assert raw_server.response(1)["result"] is None
    raw_server.send(b"Content-Length: 5\r\n\r\n{{{{{" + raw_server.hover(2))
    assert raw_server.response(None)["error"]["code"] == -32700
    assert raw_server.response(2)["result"] is None
    assert raw_server.finish() == 0


def test_a_request_with_invalid_params_gets_an_error(raw_server):
    raw_server.send(_frame({"jsonrpc": "2.0", "id": 3, "method": "textDocument/hover",
                            "params": {"textDocument": {"uri": "file:///x.fit"},
                                       "position": "nope"}}))
    assert raw_server.response(3)["error"]["code"] == -32602  # InvalidParams
    raw_server.send(raw_server.hover(4))
    assert raw_server.response(4)["result"] is None
    assert raw_server.finish() == 0


def test_exit_without_shutdown_exits_1(raw_server):
    assert raw_server.finish(shutdown=False) == 1


# ---- the incremental parse ------------------------------------------------------------


def _spans(node, out: list) -> list:
    from fitlang.syntax import nodes as n

    if isinstance(node, list):
        for item in node:
            _spans(item, out)
    elif isinstance(node, n._Node):
        for key, value in node.__dict__.items():
            if isinstance(value, n.Span):
                out.append((type(node).__name__, key, value))
            else:
                _spans(value, out)
    return out


def test_incremental_parse_equals_a_whole_parse():
    """After random edits (valid or not), the piecewise parse gives the same AST, spans,
    comments and syntax diagnostics as parsing the whole file."""
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_policy import generate

    from fitlang.lsp.incremental import ParseCache
    from fitlang.syntax.parser import parse_source

    texts = [generate(120)] + [p.read_text() for p in policies(ROOT / "examples")][:4]
    texts.append("const a = b\nor x {}\nimport \"x\"\nas y {}\nconst c = d\nnot in [1]\n")
    texts.append("pool a {\ncount = 1\n}\n/* a\nfoo bar\n*/\npool b {\n}\npool b {\n}\n")
    cache = ParseCache()
    rng = random.Random(7)
    for text in texts:
        for step in range(25):
            if step:
                position = rng.randrange(len(text) + 1)
                insert = rng.choice(["\n", "x", "1", " ", "\n# note\n", "{", "}", "pool q {}\n",
                                     "\nworkload z {\n", '"', "/*", "*/", "and ", "\nor "])
                if rng.random() < 0.5:
                    text = text[:position] + insert + text[position:]
                else:
                    text = text[:position] + text[position + rng.randint(1, 4):]
            piecewise, whole = cache.parse(text, "x.fit"), parse_source(text, "x.fit")
            assert piecewise.module.decls == whole.module.decls
            assert _spans(piecewise.module.decls, []) == _spans(whole.module.decls, [])
            assert [(c.start_pos, c.end_pos, c.line, c.end_line, str(c))
                    for c in piecewise.module.comments] == \
                [(c.start_pos, c.end_pos, c.line, c.end_line, str(c)) for c in whole.module.comments]
            assert [(d.code, d.span, d.message) for d in piecewise.diagnostics] == \
                [(d.code, d.span, d.message) for d in whole.diagnostics]


def _tokens_lexed(monkeypatch) -> list[int]:
    """A counter of the tokens the parser's lexer produces (the work a parse does)."""
    from fitlang.syntax.lexer import FastLexer

    count = [0]
    make = FastLexer._token

    def counted(*arguments):
        count[0] += 1
        return make(*arguments)

    monkeypatch.setattr(FastLexer, "_token", staticmethod(counted))
    return count


def test_a_syntax_error_reparses_only_around_it(monkeypatch):
    """An edit that breaks the syntax in the middle of a 1,000-line policy: the recovery
    reads the declarations around the error, not the file (before: the whole file, twice,
    which made such edits 150-200 ms at 5,000 lines). The errors are those of a whole parse
    (test_incremental_parse_equals_a_whole_parse)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_policy import generate

    from fitlang.lsp.incremental import ParseCache
    from fitlang.syntax.parser import parse_source

    text = generate(1000)
    cache = ParseCache()
    cache.parse(text, "big.fit")
    count = _tokens_lexed(monkeypatch)
    parse_source(text, "big.fit")
    whole = count[0]
    anchor = text.index("replicas = ", len(text) // 2) + len("replicas = ")
    count[0] = 0
    broken = cache.parse(text[:anchor] + "{" + text[anchor:], "big.fit")
    assert [d.code for d in broken.diagnostics] == ["E0002"]
    assert count[0] < whole / 10


def test_formatting_reparses_only_what_changed(monkeypatch):
    """Formatting reads the text through the editor's parse cache and checks the result
    through one of its own: after the first time, only the declarations that changed are
    parsed (before: the whole file, twice)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_policy import generate

    from fitlang.lsp.incremental import ParseCache
    from fitlang.syntax.formatter import format_source

    text = generate(1000)
    edited, formatted_cache = ParseCache(), ParseCache()
    messy = text.replace("  cpu = ", "  cpu  = ", 1)
    edited.parse(messy, "big.fit")
    assert format_source(messy, "big.fit", edited.parse, formatted_cache.parse).text == text
    count = _tokens_lexed(monkeypatch)
    again = text.replace("replicas = ", "replicas  =  ", 1)
    edited.parse(again, "big.fit")  # the check of the edit, before formatting is asked for
    count[0] = 0
    assert format_source(again, "big.fit", edited.parse, formatted_cache.parse).text == text
    assert count[0] < 200  # one declaration's tokens, not the file's (tens of thousands)


# ---- editors: the TextMate grammar ----------------------------------------------------


GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "fit.tmLanguage.json"


def _tokenize(line: str, grammar: dict) -> list[tuple[str, str]]:
    """A small TextMate interpreter for one line: at each position the pattern that matches
    earliest wins (the first listed on a tie); `begin`/`end` rules run to their end or the
    end of the line; captures give scopes to groups."""
    def flatten(patterns: list) -> list:
        out = []
        for pattern in patterns:
            if "include" in pattern:
                out += flatten(grammar["repository"][pattern["include"].lstrip("#")]["patterns"]
                               if "patterns" in grammar["repository"][pattern["include"].lstrip("#")]
                               else [grammar["repository"][pattern["include"].lstrip("#")]])
            else:
                out.append(pattern)
        return out

    patterns = flatten(grammar["patterns"])
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(line):
        best = None
        for pattern in patterns:
            regex = pattern.get("match") or pattern.get("begin")
            found = re.compile(regex).search(line, position)
            if found and (best is None or found.start() < best[1].start()):
                best = (pattern, found)
        if best is None:
            break
        pattern, found = best
        if "begin" in pattern:
            end = re.compile(pattern["end"]).search(line, found.end())
            stop = end.end() if end else len(line)
            tokens.append((line[found.start():stop], pattern["name"]))
            position = max(stop, position + 1)
            continue
        if "captures" in pattern:
            for group, scope in sorted(pattern["captures"].items(), key=lambda kv: int(kv[0])):
                if found.group(int(group)):
                    tokens.append((found.group(int(group)), scope["name"]))
        else:
            tokens.append((found.group(), pattern["name"]))
        position = max(found.end(), position + 1)
    return tokens


def test_textmate_grammar_tokenizes_the_language_reference():
    grammar = json.loads(GRAMMAR.read_text())
    assert grammar["scopeName"] == "source.fit"
    reference = (ROOT / "docs" / "language.md").read_text()
    samples = {
        'import "std/accelerators"          # a stdlib module: stdlib/accelerators.fit': [
            ("import", "keyword.control.import.fit"), ('"std/accelerators"', "string.quoted.double.fit"),
            ("# a stdlib module: stdlib/accelerators.fit", "comment.line.number-sign.fit")],
        "const BUDGET = 250 USD/h": [
            ("const", "storage.type.const.fit"), ("BUDGET", "variable.other.constant.fit"),
            ("=", "keyword.operator.assignment.fit"), ("250", "constant.numeric.fit"),
            ("USD/h", "keyword.other.unit.fit")],
        "  memory = 2TiB": [
            ("memory", "variable.other.property.fit"), ("=", "keyword.operator.assignment.fit"),
            ("2", "constant.numeric.fit"), ("TiB", "keyword.other.unit.fit")],
        "pool h100 {": [("pool", "storage.type.block.fit"), ("h100", "entity.name.type.fit"),
                        ("{", "punctuation.section.block.begin.fit")],
        'prefer zone == "us-east-1a" weight 10                   # soft: earns 10 when met': [
            ("prefer", "keyword.control.rule.fit"), ("zone", "variable.other.fit"),
            ("==", "keyword.operator.comparison.fit"), ('"us-east-1a"', "string.quoted.double.fit"),
            ("weight", "keyword.control.rule.fit"), ("10", "constant.numeric.fit"),
            ("# soft: earns 10 when met", "comment.line.number-sign.fit")],
        "anti_affinity self on node        # at most one replica per node": [
            ("anti_affinity", "keyword.control.rule.fit"), ("self", "variable.language.self.fit"),
            ("on", "keyword.control.rule.fit"), ("node", "variable.other.fit"),
            ("# at most one replica per node", "comment.line.number-sign.fit")],
        "    require memory >= 80GB and interconnect == nvlink": [
            ("require", "keyword.control.rule.fit"), ("memory", "variable.other.fit"),
            (">=", "keyword.operator.comparison.fit"), ("80", "constant.numeric.fit"),
            ("GB", "keyword.other.unit.fit"), ("and", "keyword.operator.logical.fit"),
            ("interconnect", "variable.other.fit"), ("==", "keyword.operator.comparison.fit"),
            ("nvlink", "variable.other.fit")],
        "  gang = true  // all or none /* not a block */": [
            ("gang", "variable.other.property.fit"), ("=", "keyword.operator.assignment.fit"),
            ("true", "constant.language.boolean.fit"),
            ("// all or none /* not a block */", "comment.line.double-slash.fit")],
        "  cpu = 500m /* half */ + 0.5": [
            ("cpu", "variable.other.property.fit"), ("=", "keyword.operator.assignment.fit"),
            ("500", "constant.numeric.fit"), ("m", "keyword.other.unit.fit"),
            ("/* half */", "comment.block.fit"), ("+", "keyword.operator.arithmetic.fit"),
            ("0.5", "constant.numeric.fit")],
        '  labels = { "nvidia.com/gpu.product": "H100", tier: "gold" }': [
            ("labels", "variable.other.property.fit"), ("=", "keyword.operator.assignment.fit"),
            ("{", "punctuation.section.block.begin.fit"),
            ('"nvidia.com/gpu.product"', "string.quoted.double.fit"), (":", "punctuation.separator.fit"),
            ('"H100"', "string.quoted.double.fit"), (",", "punctuation.separator.fit"),
            ("tier", "variable.other.fit"), (":", "punctuation.separator.fit"),
            ('"gold"', "string.quoted.double.fit"), ("}", "punctuation.section.block.end.fit")],
        '  image = "nvcr.io/nvidia/pytorch:24.05-py3"': [
            ("image", "variable.other.property.fit"), ("=", "keyword.operator.assignment.fit"),
            ('"nvcr.io/nvidia/pytorch:24.05-py3"', "string.quoted.double.fit")],
        "  time_limit = 24h": [
            ("time_limit", "variable.other.property.fit"), ("=", "keyword.operator.assignment.fit"),
            ("24", "constant.numeric.fit"), ("h", "keyword.other.unit.fit")],
        "  tdp = 700W": [("tdp", "variable.other.property.fit"),
                         ("=", "keyword.operator.assignment.fit"), ("700", "constant.numeric.fit"),
                         ("W", "keyword.other.unit.fit")],
    }
    for line, expected in samples.items():
        assert line.strip().split("//")[0].split("/*")[0].strip() in reference \
            or line.startswith("  gang") or line.startswith("  cpu = 500m"), line
        assert _tokenize(line, grammar) == expected, line


def test_vscode_extension_declares_the_language():
    package = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text())
    language = package["contributes"]["languages"][0]
    assert (language["id"], language["extensions"]) == ("fit", [".fit"])
    assert package["contributes"]["grammars"][0]["path"] == "./syntaxes/fit.tmLanguage.json"
    configuration = json.loads((ROOT / "editors" / "vscode" / "language-configuration.json").read_text())
    assert configuration["comments"] == {"lineComment": "#", "blockComment": ["/*", "*/"]}
    assert ["{", "}"] in configuration["brackets"]
    script = (ROOT / "editors" / "vscode" / "extension.js").read_text()
    assert "vscode-languageclient" in script and '"lsp"' in script


def test_vscode_extension_contributes_its_commands():
    """Every command extension.js registers is in the Command Palette (contributes.commands),
    and the other way round."""
    package = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text())
    script = (ROOT / "editors" / "vscode" / "extension.js").read_text()
    registered = set(re.findall(r'registerCommand\("([^"]+)"', script))
    contributed = {c["command"]: f'{c["category"]}: {c["title"]}'
                   for c in package["contributes"]["commands"]}
    assert contributed == {"fitlang.restartServer": "fitlang: Restart Server"}
    assert registered == set(contributed)


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_vscode_extension_packages_without_prompts(tmp_path):
    """`npx @vscode/vsce package` with stdin closed: a prompt would fail it. The npm cache
    is in the worktree's build/ directory (ignored by git), so a second run is quicker."""
    import zipfile

    extension = tmp_path / "vscode"
    shutil.copytree(ROOT / "editors" / "vscode", extension,
                    ignore=shutil.ignore_patterns("node_modules", "*.vsix"))
    env = {**os.environ, "npm_config_cache": str(ROOT / "build" / "npm-cache"),
           "npm_config_update_notifier": "false", "npm_config_fund": "false",
           "npm_config_audit": "false"}
    install = subprocess.run(["npm", "install", "--ignore-scripts", "--prefer-offline"],
                             cwd=extension, env=env, capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=600)
    if install.returncode != 0:
        pytest.skip(f"npm install failed (no registry?): {install.stderr[-400:]}")
    packaged = subprocess.run(["npx", "--no-install", "vsce", "package", "--out", "fitlang.vsix"],
                              cwd=extension, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    with zipfile.ZipFile(extension / "fitlang.vsix") as vsix:
        names = set(vsix.namelist())
        manifest = json.loads(vsix.read("extension/package.json"))
    assert {"extension/LICENSE.txt", "extension/extension.js",  # vsce renames LICENSE
            "extension/syntaxes/fit.tmLanguage.json"} <= names
    assert "extension/node_modules/vscode-languageclient/package.json" in names
    assert manifest["contributes"]["commands"][0]["command"] == "fitlang.restartServer"
    assert manifest["repository"]["directory"] == "editors/vscode"
