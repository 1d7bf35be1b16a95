"""The driver's contract (`fitlang.driver.Compilation`): each stage computed once, unsaved
buffers over the disk, paths relative to the project root from any working directory, and
the command line and the language server reporting the same diagnostics for one file."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from fitlang.cli import main
from fitlang.driver import Compilation, Outcome

from conftest import ROOT

# two 10 USD/h nodes of 8 CPU; `web` needs 2 x 6 CPU: it fits, one replica per node
FITS = ("pool small {\n  count = 2\n  cpu = 8\n  memory = 32GiB\n  price = 10 USD/h\n}\n\n"
        "workload web {\n  replicas = 2\n  cpu = 6\n  memory = 8GiB\n}\n")


def _counting(monkeypatch, module, name: str) -> list:
    """Replace `module.name` by a wrapper that records each call, and return the record."""
    calls: list = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_each_stage_runs_once(tmp_path, monkeypatch):
    import fitlang.check.checker as checker
    import fitlang.model.build as build
    import fitlang.solve.explain as explain
    import fitlang.solve.placement as placement

    path = tmp_path / "p.fit"
    path.write_text(FITS.replace("replicas = 2", "replicas = 3"))  # 3 x 6 CPU on 2 x 8: none
    checks = _counting(monkeypatch, checker, "check_loaded")
    builds = _counting(monkeypatch, build, "build_problem")
    solves = _counting(monkeypatch, placement, "solve")
    explains = _counting(monkeypatch, explain, "explain")
    compilation = Compilation(path)
    for _ in range(2):
        assert not compilation.check().has_errors
        assert compilation.build() is compilation.build()
        placement_found = compilation.solve("auto", 10.0)
        verdict = compilation.verdict(placement_found, 10.0)
    assert compilation.solve("auto", 10.0) is placement_found
    assert verdict.outcome is Outcome.INFEASIBLE
    assert verdict.diagnostics[0].code == "E0501"
    assert compilation.explain() is verdict.explanation
    assert (len(checks), len(builds), len(solves), len(explains)) == (1, 1, 1, 1)
    compilation.solve("auto", 5.0)  # another time limit is another solve
    assert len(solves) == 2


def test_a_conflict_proven_after_the_commands_limit_is_stated_without_an_explanation(tmp_path, monkeypatch):
    """`fitc solve`, `compile` and `plan` give the explanation what is left of --time-limit:
    past it, E0501 states the solver's proof and names no conflict (no explanation runs)."""
    import time

    import fitlang.solve.explain as explain

    path = tmp_path / "p.fit"
    path.write_text(FITS.replace("replicas = 2", "replicas = 3"))  # 3 x 6 CPU on 2 x 8: none
    explains = _counting(monkeypatch, explain, "explain")
    compilation = Compilation(path)
    verdict = compilation.verdict(compilation.solve("auto", 10.0), 10.0, explain_ends=time.monotonic())
    assert verdict.outcome is Outcome.INFEASIBLE and verdict.explanation is None
    assert [d.code for d in verdict.diagnostics] == ["E0501"] and not verdict.diagnostics[0].related
    assert explains == []
    within = compilation.verdict(compilation.solve("auto", 10.0), 10.0,
                                 explain_ends=time.monotonic() + 60.0)
    assert within.explanation is not None and within.diagnostics[0].related  # the conflict named
    assert len(explains) == 1


def test_a_solve_that_gives_up_early_is_decided_by_explain_within_the_commands_limit(tmp_path, cpu_clock):
    """50 nodes of 4 CPU; `f1` and `f2` (2 CPU each) must both join the one node of `leader`
    (1 CPU): 5 CPU on a node of 4. The packers leave one out and prove nothing (the model by
    pool sees each follower beside the leader, not both) in a second or two; with the
    command's limit ahead, explain decides it: E0501 with the conflict named. Without a limit
    to spend (an editor's verdict), undecided as before."""
    import time

    path = tmp_path / "p.fit"
    followers = "".join(f"workload {name} {{\n  replicas = 1\n  cpu = 2\n  memory = 1Gi\n"
                        "  affinity leader on node\n}\n" for name in ("f1", "f2"))
    path.write_text("pool a {\n  count = 50\n  cpu = 4\n  memory = 16Gi\n  price = 1 USD/h\n}\n"
                    "workload leader {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n" + followers)
    compilation = Compilation(path)
    undecided = compilation.verdict(compilation.solve("auto", 20.0), 20.0)
    assert undecided.outcome is Outcome.UNDECIDED
    assert [d.code for d in undecided.diagnostics] == ["E0506"]
    # the solver gave up in a second or two of 20 (on the CPU clock: at load 40 a second of
    # work is 20 of the wall): the message does not ask for more time
    assert undecided.placement.seconds < 10.0
    assert "raise --time-limit" not in undecided.diagnostics[0].message
    decided = Compilation(path)
    placement = decided.solve("auto", 20.0)
    verdict = decided.verdict(placement, 20.0, explain_ends=time.monotonic() + 20.0)
    assert verdict.outcome is Outcome.INFEASIBLE and placement.proven_infeasible
    assert verdict.diagnostics[0].code == "E0501" and verdict.diagnostics[0].related


def test_unsaved_buffers_win_over_the_disk(tmp_path):
    """The root and an imported file as the editor has them: the disk's texts (an error in
    each) are not read."""
    root, lib = tmp_path / "root.fit", tmp_path / "lib.fit"
    root.write_text('import "./lib.fit"\n\nworkload web {\n  replicas = two\n}\n')
    lib.write_text("const CPU = 4 apples\n")
    on_disk = Compilation(root)
    assert sorted({d.code for d in on_disk.check().diagnostics}) != []
    edited = Compilation(root, {root: 'import "./lib.fit"\n\n' + FITS.replace("cpu = 6", "cpu = CPU"),
                                lib: "const CPU = 6\n"})
    assert edited.check().diagnostics == []
    assert edited.problem is not None
    assert [d.requests["cpu"] for d in edited.problem.demands] == [6000]
    assert not edited.solve().unplaced


def test_paths_are_relative_to_the_project_root_from_any_directory(tmp_path, monkeypatch):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (project / "sub" / "a.fit").write_text('import "./b.fit"\n')
    (project / "sub" / "b.fit").write_text('import "./a.fit"\n')
    (project / "sub" / "c.fit").write_text("const X = nothing\n")
    (project / "root.fit").write_text('import "./sub/a.fit"\nimport "./sub/c.fit"\n')
    monkeypatch.chdir(elsewhere)
    found = Compilation(project / "root.fit", project_root=project).check().diagnostics
    assert sorted((d.path, d.code, d.span.line, d.span.column) for d in found) == [
        ("sub/b.fit", "E0102", 1, 8), ("sub/c.fit", "E0201", 1, 11)]
    cycle = next(d for d in found if d.code == "E0102")
    assert "sub/a.fit -> sub/b.fit -> sub/a.fit" in cycle.message
    # the project root, not the working directory: from `elsewhere`, the CLI names them in full
    shown = {d.path for d in Compilation(project / "root.fit").check().diagnostics}
    assert shown == {str((project / "sub" / "b.fit").resolve()),
                     str((project / "sub" / "c.fit").resolve())}


def test_a_diagnostic_reads_back_from_its_wire_form(tmp_path):
    """`fitc check --format json` prints `Diagnostic.as_record`; the worker's answers are read
    back with `from_record`: the same diagnostic but for the offsets, which the form lacks."""
    path = tmp_path / "p.fit"
    path.write_text("workload web {\n  replicas = two\n}\n")
    found = Compilation(path, project_root=tmp_path).check().diagnostics
    assert found
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        assert main(["check", "--format", "json", str(path)]) == 1
    records = json.loads(stdout.getvalue())
    assert [r["code"] for r in records] == [d.code for d in found]
    for diagnostic, record in zip(found, records):
        back = type(diagnostic).from_record(diagnostic.as_record())
        assert (back.code, back.severity, back.message, back.path) == \
            (diagnostic.code, diagnostic.severity, diagnostic.message, diagnostic.path)
        assert (back.span.line, back.span.column, back.span.end_line, back.span.end_column) == \
            (diagnostic.span.line, diagnostic.span.column, diagnostic.span.end_line,
             diagnostic.span.end_column)
        assert {k: v for k, v in record.items() if k != "path"} == \
            {k: v for k, v in diagnostic.as_record().items() if k != "path"}


# ---- the command line and the language server, on the same files ------------------------


lsp = pytest.mark.asyncio(loop_scope="module")
PROJECT = ROOT / "tests" / "fixtures" / "driver"  # the server's project root, not its cwd


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(
    server_command=[sys.executable, "-m", "fitlang.cli", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=PROJECT.as_uri(),
        initialization_options={"solveTimeLimit": 20}))
    yield
    await lsp_client.shutdown_session()


def _cli_json(arguments: list[str], cwd: Path) -> list[dict]:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "fitlang.cli", *arguments], capture_output=True,
                          text=True, cwd=cwd, timeout=120)
    document = json.loads(done.stdout)
    return document["diagnostics"] if isinstance(document, dict) else document


def _positions(records: list[dict]) -> list[tuple]:
    """(code, start line, start character, end line, end character), 0-based like LSP."""
    return sorted((r["code"], r["line"] - 1, r["column"] - 1, r["end_line"] - 1,
                   r["end_column"] - 1) for r in records)


def _shown(found: list[types.Diagnostic]) -> list[tuple]:
    return sorted((d.code, d.range.start.line, d.range.start.character, d.range.end.line,
                   d.range.end.character) for d in found)


async def _published(client: LanguageClient, uri: str, until) -> list[types.Diagnostic]:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30.0
    while not until(client.diagnostics.get(uri)):
        assert loop.time() < deadline, client.diagnostics.get(uri)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS),
                deadline - loop.time())
    return list(client.diagnostics[uri])


@lsp
async def test_the_command_line_and_the_editor_report_the_same_diagnostics(
        client: LanguageClient):
    """A broken file and the file it imports: `fitc check --format json` run in the project
    and the server (whose working directory is elsewhere) give the same codes and ranges in
    each file; the messages name files relative to the project in both."""
    root, lib = PROJECT / "broken.fit", PROJECT / "lib" / "units.fit"
    expected = _cli_json(["check", "--format", "json", "broken.fit"], PROJECT)
    assert {r["path"] for r in expected} == {"broken.fit", "lib/units.fit"}
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(root.as_uri(), "fit", 1, root.read_text())))
    for path, shown in ((root, "broken.fit"), (lib, "lib/units.fit")):
        wanted = [r for r in expected if r["path"] == shown]
        count = len(wanted)
        found = await _published(client, path.as_uri(),
                                 lambda ds: ds is not None and len(ds) == count)  # noqa: B023
        assert _shown(found) == _positions(wanted), shown
        assert sorted(d.message for d in found) == sorted(r["message"] for r in wanted)
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        types.TextDocumentIdentifier(root.as_uri())))


@lsp
async def test_the_conflict_after_a_save_is_the_one_fitc_solve_reports(client: LanguageClient):
    """The solver worker decides through the same `Compilation.verdict` as `fitc solve`: the
    same conflict (E0501) and its other rules (E0504), at the same places."""
    path = PROJECT / "conflict.fit"
    expected = [r for r in _cli_json(["solve", "--format", "json", "conflict.fit"], PROJECT)
                if r["code"].startswith("E")]
    assert sorted({r["code"] for r in expected}) == ["E0501", "E0504"]
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri, "fit", 1, path.read_text())))
    await _published(client, uri, lambda ds: ds is not None)
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        types.TextDocumentIdentifier(uri)))
    found = await _published(client, uri,
                             lambda ds: ds is not None and any(d.code == "E0501" for d in ds))
    assert [entry for entry in _shown(found) if entry[0].startswith("E")] == _positions(expected)
    conflict = next(d for d in found if d.code == "E0501")
    assert conflict.message == next(r["message"] for r in expected if r["code"] == "E0501")
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        types.TextDocumentIdentifier(uri)))


def _both_on_one_node(monkeypatch):
    """The solver answers `web`'s two 6-CPU replicas on one 8-CPU node: a bug that breaks
    the node's capacity, which only the re-check by `verify` can tell."""
    from fitlang.solve import placement as placement_module

    real = placement_module.solve

    def broken(*args, **kwargs):
        answer = real(*args, **kwargs)
        first = answer.assignments[0].node
        for assignment in answer.assignments:
            assignment.node = first
        return answer

    monkeypatch.setattr(placement_module, "solve", broken)


def test_a_solver_answer_that_breaks_a_rule_is_e0507_and_exit_1(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.fit").write_text(FITS)
    assert main(["solve", str(tmp_path / "p.fit"), "--format", "json"]) == 0  # the real answer
    capsys.readouterr()
    _both_on_one_node(monkeypatch)
    code = main(["solve", str(tmp_path / "p.fit"), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert (code, document["status"]) == (1, "unknown")
    assert [d["code"] for d in document["diagnostics"]] == ["E0507"]


def test_compile_writes_nothing_of_a_solver_answer_that_breaks_a_rule(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.fit").write_text(FITS)
    _both_on_one_node(monkeypatch)
    code = main(["compile", str(tmp_path / "p.fit"), "--target", "kubernetes", "--out",
                 str(tmp_path / "out")])
    assert code == 1 and "error[E0507]" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    verdict = Compilation(tmp_path / "p.fit").verdict(Compilation(tmp_path / "p.fit").solve(), None)
    assert verdict.outcome == Outcome.UNDECIDED


# a third replica where two fit, left out as the policy allows: a warning per workload to print
PARTIAL = FITS.replace("replicas = 2", "replicas = 3") + "\npolicy {\n  allow_unplaced = true\n}\n"


@pytest.mark.parametrize("policy", [FITS, PARTIAL], ids=["placed", "partial"])
def test_solve_json_prints_the_document_the_self_check_read_dumped_once(tmp_path, monkeypatch, capsys,
                                                                        policy):
    """`fitc solve --format json` dumps the placement once: the self-check reads the document
    and the command prints it with the verdict's diagnostics (1.2 CPU s at 50,000 nodes)."""
    from fitlang.solve import report

    (tmp_path / "p.fit").write_text(policy)
    dumped = _counting(monkeypatch, report, "placement_json")
    assert main(["solve", str(tmp_path / "p.fit"), "--format", "json"]) == 0
    printed = capsys.readouterr().out
    assert len(dumped) == 1
    compilation = Compilation(tmp_path / "p.fit")
    placement = compilation.solve()
    verdict = compilation.verdict(placement, None)
    assert verdict.checked is not None
    diagnostics = compilation.diagnostics() + verdict.diagnostics
    assert printed == report.as_json(compilation.problem, placement, diagnostics)
    assert json.loads(printed)["diagnostics"] == [d.as_record() for d in diagnostics]


def test_replicas_allowed_out_but_not_proven_unplaceable_still_give_the_placement(tmp_path, monkeypatch,
                                                                                  capsys):
    """The search ends before it proves the replicas left out cannot be placed (a Slurm cluster
    of 300 nodes with more jobs than room, at 30 s): the policy allows them out, so the
    placement found is the answer, `feasible`, exit 0, files written, with W0502 beside W0501."""
    from fitlang.solve import placement as placement_module
    from fitlang.solve.linear import Status

    real = placement_module.solve

    def unproven(*args, **kwargs):
        answer = real(*args, **kwargs)
        answer.status, answer.bound = Status.UNKNOWN, None
        return answer

    monkeypatch.setattr(placement_module, "solve", unproven)
    (tmp_path / "p.fit").write_text(PARTIAL.replace("cpu = 6", 'cpu = 6\n  image = "web:1"'))
    assert main(["solve", str(tmp_path / "p.fit"), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "feasible" and len(document["assignments"]) == 2
    assert [d["code"] for d in document["diagnostics"]] == ["W0501", "W0502"]
    out = str(tmp_path / "out")
    assert main(["compile", str(tmp_path / "p.fit"), "--target", "kubernetes", "--out", out]) == 0
    assert list((tmp_path / "out").iterdir())
    (tmp_path / "p.fit").write_text(PARTIAL.replace("allow_unplaced = true", "allow_unplaced = false"))
    capsys.readouterr()
    assert main(["solve", str(tmp_path / "p.fit"), "--format", "json"]) == 1  # not allowed: undecided


def test_all_nodes_prints_every_node_not_the_checked_document(tmp_path, capsys):
    """The self-check reads the nodes in use; `--all-nodes` prints every node, dumped apart."""
    (tmp_path / "p.fit").write_text(FITS.replace("count = 2", "count = 5"))
    assert main(["solve", str(tmp_path / "p.fit"), "--format", "json", "--all-nodes"]) == 0
    assert len(json.loads(capsys.readouterr().out)["nodes"]) == 5


def test_an_undecided_verdict_names_the_users_limit_not_what_reading_left_of_it(tmp_path):
    """`fitc plan --time-limit 3` on a loaded machine: reading took all but 0.17 s, and the
    solve ran out of those. E0506 names the 3 s the user gave (the message said "0.166591 s"),
    and, the solve having used what it had, does not claim it gave up early."""
    import dataclasses
    import time

    from fitlang.solve.linear import Status

    path = tmp_path / "p.fit"
    path.write_text("pool a {\n  count = 2\n  cpu = 4\n  memory = 16Gi\n  price = 1 USD/h\n}\n"
                    "workload w {\n  replicas = 2\n  cpu = 1\n  memory = 1Gi\n}\n")
    compilation = Compilation(path)
    solved = compilation.solve("auto", 10.0)
    ran_out = dataclasses.replace(solved, status=Status.UNKNOWN, assignments=[], seconds=0.16)
    verdict = compilation.verdict(ran_out, 0.166591, explain_ends=time.monotonic(), stated_limit=3.0)
    assert [d.code for d in verdict.diagnostics] == ["E0506"]
    message = verdict.diagnostics[0].message
    assert "(3 s); raise --time-limit" in message and "0.16" not in message


def test_a_targets_findings_come_in_the_order_the_policy_reads(tmp_path):
    """E0601 per workload without an `image`, named here in reverse alphabetical order: the
    target finds them by name, the user reads them top to bottom (as `fitc check` reports)."""
    workloads = "".join(f"workload {name} {{\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n}}\n"
                        for name in ("zeta", "mid", "alpha"))
    path = tmp_path / "p.fit"
    path.write_text("pool p {\n  count = 3\n  cpu = 8\n  memory = 8GiB\n}\n" + workloads)
    compiled = Compilation(path).compile(["kubernetes"], None)
    lines = [d.span.line for d in compiled.diagnostics if d.code == "E0601"]
    assert len(lines) == 3 and lines == sorted(lines)
