"""What runs now (issue 18, "Current state in"): the readers of fitc's placement JSON, `kubectl
get pods,pdb -A -o json`, `squeue --json` and `squeue -o` text, the `current` block and
`--current`, through `Compilation.current_state()` and `current_diagnostics()`.

Expected states are worked out by hand from the files (the comments say how), or read from
the files with the json module alone (no code of the readers)."""

from __future__ import annotations

import json

import pytest

from fitlang.driver import Compilation
from fitlang.model.current import DisruptionBudget

from conftest import ROOT

EXAMPLES = ROOT / "examples"
STATE = EXAMPLES / "state"
LLM = EXAMPLES / "llm-inference.fit"


def _codes(compilation: Compilation) -> list[str]:
    return [d.code for d in compilation.current_diagnostics()]


# ---- the driver's interface ------------------------------------------------------------


def test_no_current_state_when_nothing_names_one():
    compilation = Compilation(LLM)
    assert compilation.current_state() is None
    assert compilation.current_diagnostics() == []


def test_override_reads_a_placement_as_solve_wrote_it(tmp_path, capsys):
    from fitlang.cli import main

    assert main(["solve", str(LLM), "--format", "json"]) == 0
    written = capsys.readouterr().out
    (tmp_path / "placement.json").write_text(written)
    document = json.loads(written)
    compilation = Compilation(LLM, current=str(tmp_path / "placement.json"))
    state = compilation.current_state()
    assert state is not None
    assert compilation.current_diagnostics() == []
    assert [(r.workload, r.node, r.option, r.handle) for r in state.running] == \
        [(a["workload"], a["node"], a.get("option"), None) for a in document["assignments"]]
    assert state.bought == ()  # the pools are owned: nothing bought
    assert len(state.running) == 4  # the example's 4 replicas of `chat`


def test_override_that_cannot_be_read_is_E0103_at_the_file(tmp_path):
    missing = str(tmp_path / "gone.json")
    compilation = Compilation(LLM, current=missing)
    [found] = compilation.current_diagnostics()
    assert (found.code, found.path, found.span.line) == ("E0103", missing, 1)
    assert compilation.current_state() is not None and compilation.current_state().running == ()


# ---- kubectl -------------------------------------------------------------------------------


def test_kubectl_pods_and_pdbs_of_the_llm_example():
    """llm-inference-pods.json: 10 pods and 2 PDBs. Running replicas of `chat` (label
    app.kubernetes.io/name=chat, as the Kubernetes target writes it): x2k9p (h100_1a-0),
    q7w2e (l40s_1b-0), m4n8z (Pending but bound: l40s_1b-1), r5t6y (l40s_1c-0), p0o9i (on a
    node the policy lacks). Not running: old01 (terminating), new02 (not bound), warmup
    (Succeeded). Not the policy's: coredns and aws-node (W0801, 2 pods). PDB inference/chat
    (maxUnavailable 1) selects chat's 5 pods; kube-system/coredns selects none of the policy's
    (W0804)."""
    compilation = Compilation(LLM, current=str(STATE / "llm-inference-pods.json"))
    state = compilation.current_state()
    assert state is not None
    assert [(r.node, r.handle) for r in state.running] == [
        ("h100_1a-0", "inference/chat-h100-1a-8ceef7-7d9f8b6c5-x2k9p"),
        ("l40s_1b-0", "inference/chat-l40s-1b-6f1a2c-5b8d7c9f4-q7w2e"),
        ("l40s_1b-1", "inference/chat-l40s-1b-6f1a2c-5b8d7c9f4-m4n8z"),
        ("l40s_1c-0", "inference/chat-l40s-1c-9a0b1c-6c7d8e9f0-r5t6y"),
        ("ip-10-0-3-44.ec2.internal", "inference/chat-l4-1a-2d3e4f-8a9b0c1d2-p0o9i"),
    ]
    assert {r.workload for r in state.running} == {"chat"}
    assert state.budgets == (DisruptionBudget("chat", count=1, source=(
        "inference/chat in " + str(STATE / "llm-inference-pods.json"))),)
    assert sorted(_codes(compilation)) == ["W0801", "W0802", "W0804"]
    by_code = {d.code: d.message for d in compilation.current_diagnostics()}
    assert "2 running pods" in by_code["W0801"]
    assert "1 running replica on 1 node" in by_code["W0802"]


@pytest.mark.parametrize(("text", "expected"), [
    ('{"assignments": []}', "placement"),
    ('{"kind": "List", "items": []}', "kubectl"),
    ('{"kind": "PodList", "items": []}', "kubectl"),
    ('{"items": [{"kind": "Pod"}]}', "kubectl"),
    ('{"kind": "PodDisruptionBudgetList", "items": []}', "kubectl"),
    ('{"meta": {}, "errors": [], "jobs": []}', "squeue"),
    ("17|train|RUNNING|node[01-02]\n", "squeue"),
    ('{"something": "else"}', None),
    ("[1, 2]", None),
])
def test_format_told_from_the_content(text, expected):
    from fitlang.model.current_read import detect_format

    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    assert detect_format(text, document) == expected


# ---- the `current` block -------------------------------------------------------------------

POLICY = ("pool small {\n  count = 2\n  cpu = 8\n  memory = 32GiB\n  price = 10 USD/h\n}\n\n"
          "workload web {\n  replicas = 2\n  cpu = 6\n  memory = 8GiB\n}\n")
PLACED = {"assignments": [{"workload": "web", "replica": 0, "node": "small-0"},
                          {"workload": "web", "replica": 1, "node": "small-1"}]}
SQUEUE_TEXT = "41|web|RUNNING|small-[0-1]\n42|web|PENDING|\n"


def _policy(tmp_path, blocks: str, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "p.fit"
    path.write_text(POLICY + blocks)
    return path


def test_current_blocks_are_read_relative_to_the_policy_and_merged(tmp_path, monkeypatch):
    """Two blocks, one named and one not: the placement's 2 replicas, then squeue's job 41 on
    small-0 and small-1 (job 42 is pending): 4 replicas in block order."""
    path = _policy(tmp_path, '\ncurrent {\n  file = "state/placement.json"\n}\n'
                   'current slurm {\n  file = "state/jobs.txt"\n  format = squeue\n}\n',
                   {"state/placement.json": json.dumps(PLACED), "state/jobs.txt": SQUEUE_TEXT})
    monkeypatch.chdir(ROOT)  # not the policy's folder: the paths are the policy's
    compilation = Compilation(path)
    assert not compilation.check().has_errors
    state = compilation.current_state()
    assert state is not None
    assert [(r.node, r.handle) for r in state.running] == [
        ("small-0", None), ("small-1", None), ("small-0", "41"), ("small-1", "41")]
    assert state.sources == ("state/placement.json", "state/jobs.txt")
    assert compilation.current_diagnostics() == []


def test_override_replaces_the_policys_current_blocks(tmp_path):
    path = _policy(tmp_path, '\ncurrent {\n  file = "placement.json"\n}\n',
                   {"placement.json": json.dumps(PLACED), "jobs.txt": "7|web|RUNNING|small-1\n"})
    state = Compilation(path, current=str(tmp_path / "jobs.txt")).current_state()
    assert state is not None
    assert [(r.node, r.handle) for r in state.running] == [("small-1", "7")]


@pytest.mark.parametrize(("block", "code", "line", "column"), [
    ('current {\n  file = "gone.json"\n}\n', "E0103", 2, 10),  # missing: at the path
    ('current {\n  file = "."\n}\n', "E0103", 2, 10),  # a directory
    ('current {\n  format = kubectl\n}\n', "E0206", 1, 1),  # no file
    ('current {\n  file = "p.fit"\n  format = pods\n}\n', "E0305", 3, 12),  # no such format
])
def test_current_block_errors(tmp_path, block, code, line, column):
    path = _policy(tmp_path, "\n" + block, {})
    found = [d for d in Compilation(path).check().diagnostics if d.is_error]
    offset = POLICY.count("\n") + 1
    assert [(d.code, d.span.line - offset, d.span.column) for d in found] == [(code, line, column)]


def test_an_imported_files_current_blocks_are_not_read(tmp_path):
    (tmp_path / "placement.json").write_text(json.dumps(PLACED))
    (tmp_path / "shared.fit").write_text('current {\n  file = "placement.json"\n}\n')
    path = tmp_path / "p.fit"
    path.write_text('import "shared.fit"\n' + POLICY)
    compilation = Compilation(path)
    assert not compilation.check().has_errors
    assert compilation.current_state() is None
