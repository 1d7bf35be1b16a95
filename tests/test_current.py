"""What runs now (issue 18, "Current state in"): the readers of fitc's placement JSON, `kubectl
get pods,pdb -A -o json`, `squeue --json` and `squeue -o` text, the `current` block and
`--current`, through `Compilation.current_state()` and `current_diagnostics()`.

Expected states are worked out by hand from the files (the comments say how), or read from
the files with the json module alone (no code of the readers)."""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from fitlang.driver import Compilation
from fitlang.model.current import DisruptionBudget, ReplicaName

from conftest import ROOT
from slurm_cluster import real_slurm

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


def test_override_problems_point_at_the_wrong_value_in_the_file(tmp_path, capsys):
    """`--current FILE`: each E0801 at the value it names (a JSON path), or at a syntax error's
    line and column; not at the file's first character."""
    from fitlang.cli import main

    assert main(["solve", str(LLM), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    document["assignments"][2]["replica"] = "two"
    text = json.dumps(document, indent=2)
    (tmp_path / "wrong.json").write_text(text)
    [found] = Compilation(LLM, current=str(tmp_path / "wrong.json")).current_diagnostics()
    line = text.split("\n").index('      "replica": "two",') + 1
    assert (found.code, found.path, found.span.line, found.span.column) == \
        ("E0801", str(tmp_path / "wrong.json"), line, 18)
    (tmp_path / "broken.json").write_text('{\n  "assignments": [\n    {"workload": "chat",, }\n  ]\n}\n')
    [found] = Compilation(LLM, current=str(tmp_path / "broken.json")).current_diagnostics()
    assert (found.code, found.span.line, found.span.column) == ("E0801", 3, 25)  # the second comma


def test_a_replica_listed_twice_is_E0801_at_the_second_and_plan_refuses_it(tmp_path):
    # `web` replica 0 on std-0 and again on std-1: `fitc verify` refuses such an answer
    # (E0503); as a current state it was read as two replicas and planned from
    from fitlang.cli import main

    text = json.dumps({"assignments": [
        {"workload": "web", "replica": 0, "node": "std-0"},
        {"workload": "web", "replica": 1, "node": "std-1"},
        {"workload": "web", "replica": 0, "node": "std-1"}]}, indent=2)
    (tmp_path / "now.json").write_text(text)
    compilation = Compilation(EXAMPLES / "consolidate.fit", current=str(tmp_path / "now.json"))
    [found] = [d for d in compilation.current_diagnostics() if d.is_error]
    line = text.split("\n").index('      "replica": 0,', text.split("\n").index('      "replica": 1,')) + 1
    assert (found.code, found.span.line) == ("E0801", line)
    assert [r.node for r in compilation.current_state().running if r.workload == "web"] == ["std-0", "std-1"]
    consolidate = str(EXAMPLES / "consolidate.fit")
    assert main(["plan", consolidate, "--current", str(tmp_path / "now.json")]) == 1
    (tmp_path / "once.json").write_text(json.dumps({"assignments": [  # each replica once: no error
        {"workload": "web", "replica": r, "node": "std-1"} for r in range(3)]}))
    assert [d.code for d in Compilation(EXAMPLES / "consolidate.fit", current=str(tmp_path / "once.json"))
            .current_diagnostics() if d.is_error] == []


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
        ("h100_1a-0", ReplicaName("chat-h100-1a-8ceef7-7d9f8b6c5-x2k9p", "inference")),
        ("l40s_1b-0", ReplicaName("chat-l40s-1b-6f1a2c-5b8d7c9f4-q7w2e", "inference")),
        ("l40s_1b-1", ReplicaName("chat-l40s-1b-6f1a2c-5b8d7c9f4-m4n8z", "inference")),
        ("l40s_1c-0", ReplicaName("chat-l40s-1c-9a0b1c-6c7d8e9f0-r5t6y", "inference")),
        ("ip-10-0-3-44.ec2.internal", ReplicaName("chat-l4-1a-2d3e4f-8a9b0c1d2-p0o9i", "inference")),
    ]
    assert {r.workload for r in state.running} == {"chat"}
    # (counted as the disruption controller counts it: 4 healthy (m4n8z, Pending, is not),
    # 3 of them must stay)
    assert state.budgets == (DisruptionBudget("chat", count=1, source=(
        "inference/chat in " + str(STATE / "llm-inference-pods.json")), above=1, must_stay=3),)
    assert [r.ready for r in state.running] == [True, True, False, True, True]
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
        ("small-0", None), ("small-1", None),
        ("small-0", ReplicaName("41")), ("small-1", ReplicaName("41"))]
    assert state.sources == ("state/placement.json", "state/jobs.txt")
    assert compilation.current_diagnostics() == []


def test_override_replaces_the_policys_current_blocks(tmp_path):
    path = _policy(tmp_path, '\ncurrent {\n  file = "placement.json"\n}\n',
                   {"placement.json": json.dumps(PLACED), "jobs.txt": "7|web|RUNNING|small-1\n"})
    state = Compilation(path, current=str(tmp_path / "jobs.txt")).current_state()
    assert state is not None
    assert [(r.node, r.handle) for r in state.running] == [("small-1", ReplicaName("7"))]


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


def test_a_malformed_file_of_a_current_block_stops_every_command_that_reads_it(tmp_path, capsys):
    """Every command reads the policy's `current` files (work of no workload there takes
    room), so each says what is wrong with them: check, solve and compile exited 0 past E0801
    and solved as if the malformed file's jobs took no room (h57g)."""
    from fitlang.cli import main

    path = _policy(tmp_path, '\ncurrent slurm {\n  file = "jobs.json"\n}\n',
                   {"jobs.json": json.dumps({"jobs": [{"job_id": "x", "name": 5}]})})
    where = POLICY.count("\n") + 3  # the block's `file`
    out = str(tmp_path / "out")
    for command in (["check"], ["solve"], ["compile", "--target", "kubernetes", "--out", out]):
        assert main([command[0], str(path), *command[1:]]) == 1, command
        printed = "".join(capsys.readouterr())
        assert f"p.fit:{where}:10: error[E0801]" in printed, command
        assert "replicas placed" not in printed, command
    assert not (tmp_path / "out").exists()
    assert [d.code for d in Compilation(path).diagnostics() if d.is_error] == ["E0801"] * 3

def test_an_imported_files_current_blocks_are_not_read(tmp_path):
    (tmp_path / "placement.json").write_text(json.dumps(PLACED))
    (tmp_path / "shared.fit").write_text('current {\n  file = "placement.json"\n}\n')
    path = tmp_path / "p.fit"
    path.write_text('import "shared.fit"\n' + POLICY)
    compilation = Compilation(path)
    assert not compilation.check().has_errors
    assert compilation.current_state() is None


# ---- kubectl: pods, owners, options, budgets, bad files ---------------------------------------

KUBE_POLICY = POLICY + ("\nworkload db {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n}\n"
                        "\nworkload api_gateway {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n}\n")


def _pod(name: str, node: str | None = "small-0", labels: dict | None = None, namespace="prod",
         phase="Running", owner: tuple[str, str] | None = None, **metadata) -> dict:
    meta = {"name": name, "namespace": namespace, "labels": labels or {}, **metadata}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": "u", "controller": True}]
    spec = {"containers": [{"name": "c", "image": "i"}]}
    if node is not None:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": phase}}


def _pdb(name: str, selector: dict, namespace="prod", **spec) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, **spec}}


def _listing(*items) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items),
                       "metadata": {"resourceVersion": ""}})


def _kube(tmp_path, *texts: str, policy: str = KUBE_POLICY) -> Compilation:
    (tmp_path / "p.fit").write_text(policy + "".join(
        f'\ncurrent {{\n  file = "s{i}.json"\n}}\n' for i in range(len(texts))))
    for i, text in enumerate(texts):
        (tmp_path / f"s{i}.json").write_text(text)
    compilation = Compilation(tmp_path / "p.fit")
    assert not compilation.check().has_errors
    return compilation


def test_a_pods_workload_by_annotation_label_name_or_owner(tmp_path):
    """The annotation wins over the name label; `api_gateway`'s pods carry its DNS form
    (the Kubernetes target's `dns_name`, checked below against a compiled manifest)."""
    compilation = _kube(tmp_path, _listing(
        _pod("a", labels={"app.kubernetes.io/name": "db"}, annotations={"fitlang.dev/workload": "web"}),
        _pod("b", labels={"fitlang.dev/workload": "db"}),
        _pod("c", labels={"app.kubernetes.io/name": "web"}),
        _pod("d", owner=("ReplicaSet", "web-5d78c9869d")),
        _pod("e", owner=("StatefulSet", "db")),
        _pod("f", labels={"app.kubernetes.io/name": "nginx"}, owner=("ReplicaSet", "nginx-6b9d6c7f8")),
    ))
    state = compilation.current_state()
    assert [(r.handle, r.workload) for r in state.running] == [
        (ReplicaName(pod, "prod"), workload) for pod, workload in
        [("a", "web"), ("b", "db"), ("c", "web"), ("d", "web"), ("e", "db")]]
    [ignored] = compilation.current_diagnostics()
    assert ignored.code == "W0801" and "`prod/f`" in ignored.message and " 1 running pod " in ignored.message


def test_a_pods_owner_named_as_its_workload_with_hyphens_for_underscores(tmp_path):
    """`api_gateway` runs, before fitc, as the Deployment `api-gateway` (a Kubernetes name
    has no `_`): its pods (ReplicaSet `api-gateway-7c9d5b8f6`) and the StatefulSet's are
    `api_gateway`'s, not another team's. Two workloads of one hyphenated form claim none."""
    compilation = _kube(tmp_path, _listing(
        _pod("g", owner=("ReplicaSet", "api-gateway-7c9d5b8f6")),
        _pod("h", labels={"app.kubernetes.io/name": "api-gateway"})))
    assert [(r.handle.name, r.workload) for r in compilation.current_state().running] == [
        ("g", "api_gateway"), ("h", "api_gateway")]
    assert compilation.current_diagnostics() == []
    both = KUBE_POLICY + "\nworkload API_gateway {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n}\n"
    compilation = _kube(tmp_path, _listing(_pod("g", owner=("ReplicaSet", "api-gateway-7c9d5b8f6"))),
                        policy=both)
    assert compilation.current_state().running == ()
    [ignored] = compilation.current_diagnostics()
    assert ignored.code == "W0801"


def _sized(pod: dict, *containers: dict[str, str]) -> dict:
    pod["spec"]["containers"] = [{"name": f"c{i}", "image": "i", "resources": {"requests": requests}}
                                 for i, requests in enumerate(containers)]
    return pod


def test_pods_that_request_other_than_their_workload_are_W0808(tmp_path):
    # `web` states 6 CPU and 8 GiB; a service mesh injected a proxy into its pods (0.1 CPU,
    # 128 MiB more): fitc packs by the policy's and says so. `db`'s pods request what it states,
    # and a pod whose file lists no container's resources (trimmed by hand) is not compared
    web = {"app.kubernetes.io/name": "web"}
    compilation = _kube(tmp_path, _listing(
        _sized(_pod("w1", labels=web), {"cpu": "6", "memory": "8Gi"}, {"cpu": "100m", "memory": "128Mi"}),
        _sized(_pod("d1", labels={"app.kubernetes.io/name": "db"}), {"cpu": "1", "memory": "1Gi"}),
        _pod("w2", labels=web)))
    [warning] = compilation.current_diagnostics()
    assert warning.code == "W0808" and "`web`" in warning.message and "`db`" not in warning.message
    (tmp_path / "exact").mkdir()
    exact = _kube(tmp_path / "exact",
                  _listing(_sized(_pod("w1", labels=web), {"cpu": "6000m", "memory": "8192Mi"})))
    assert exact.current_diagnostics() == []


def test_only_bound_live_pods_run(tmp_path):
    compilation = _kube(tmp_path, _listing(
        _pod("running", labels={"app.kubernetes.io/name": "web"}),
        _pod("bound", labels={"app.kubernetes.io/name": "web"}, phase="Pending"),
        _pod("unbound", node=None, labels={"app.kubernetes.io/name": "web"}, phase="Pending"),
        _pod("done", labels={"app.kubernetes.io/name": "web"}, phase="Succeeded"),
        _pod("failed", labels={"app.kubernetes.io/name": "web"}, phase="Failed"),
        _pod("going", labels={"app.kubernetes.io/name": "web"}, deletionTimestamp="2026-11-30T10:00:00Z"),
    ))
    assert [r.handle for r in compilation.current_state().running] == [
        ReplicaName("running", "prod"), ReplicaName("bound", "prod")]
    assert compilation.current_diagnostics() == []  # the policy's pods, none of them counted apart


def test_pods_of_fitcs_own_manifests_map_back_to_their_workload_and_option(tmp_path, capsys):
    """A pod per replica of each Deployment and Job `fitc compile --target kubernetes` writes
    for power-capped-burst.fit (chat's options: H100 or TRAINIUM2), with the template's labels: the
    (workload, option) of each is the placement's, replica for replica."""
    import yaml

    from fitlang.cli import main

    policy = EXAMPLES / "power-capped-burst.fit"
    assert main(["solve", str(policy), "--format", "json"]) == 0
    placement = json.loads(capsys.readouterr().out)
    assert main(["compile", str(policy), "--target", "kubernetes", "--out", str(tmp_path / "k8s")]) == 0
    pods = []
    for manifest in sorted((tmp_path / "k8s").rglob("*.yaml")):
        for document in yaml.safe_load_all(manifest.read_text()):
            if not document or document["kind"] not in ("Deployment", "Job"):
                continue
            spec = document["spec"]
            count = spec.get("replicas", spec.get("completions"))
            labels = spec["template"]["metadata"]["labels"]
            pods += [_pod(f"{document['metadata']['name']}-{i}", node="h100_onprem-0", labels=labels,
                          namespace=document["metadata"]["namespace"]) for i in range(count)]
    (tmp_path / "pods.json").write_text(_listing(*pods))
    compilation = Compilation(policy, current=str(tmp_path / "pods.json"))
    found = sorted((r.workload, r.option or "") for r in compilation.current_state().running)
    assert found == sorted((a["workload"], a.get("option") or "") for a in placement["assignments"])
    assert "TRAINIUM2" in {option for _, option in found}  # chat runs with an option
    assert compilation.current_diagnostics() == []  # h100_onprem-0 is a node of the policy


def test_workloads_and_options_the_policy_lacks_are_left_out_with_W0803(tmp_path):
    compilation = _kube(tmp_path, _listing(
        _pod("old", labels={"fitlang.dev/workload": "retired"}),
        _pod("opt", labels={"app.kubernetes.io/name": "web", "fitlang.dev/option": "H100"}),
        _pod("ok", labels={"app.kubernetes.io/name": "web"}),
    ))
    assert [r.handle for r in compilation.current_state().running] == [ReplicaName("ok", "prod")]
    [warning] = compilation.current_diagnostics()
    assert warning.code == "W0803" and "2 running replicas" in warning.message


def test_budgets_from_max_and_min_available(tmp_path):
    """7 running pods of `web`. maxUnavailable 20% stays a share (1/5); minAvailable 50% keeps
    ceil(3.5) = 4 (Kubernetes rounds up): 3 may go; minAvailable 5: 2 may go; minAvailable 10:
    none may go. The PDB in another namespace selects nothing (W0804); so does one whose
    matchExpressions exclude web."""
    web = {"app.kubernetes.io/name": "web", "tier": "front"}
    pods = [_pod(f"web-{i}", labels=web) for i in range(7)]
    budgets = _listing(
        _pdb("share", {"matchLabels": {"app.kubernetes.io/name": "web"}}, maxUnavailable="20%"),
        _pdb("half", {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]},
             minAvailable="50%"),
        _pdb("five", {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, minAvailable=5),
        _pdb("all", {}, minAvailable=10),  # an empty selector: every pod of the namespace
        _pdb("elsewhere", {"matchLabels": {"app.kubernetes.io/name": "web"}}, namespace="dev",
             maxUnavailable=1),
        _pdb("not-front", {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]},
                                                {"key": "x", "operator": "DoesNotExist"}]},
             maxUnavailable=1),
    )
    compilation = _kube(tmp_path, _listing(*pods), budgets)  # pods and PDBs in two files
    state = compilation.current_state()
    assert [(b.workload, b.count, b.share, b.source) for b in state.budgets] == [
        ("web", None, Fraction(1, 5), "prod/share in s1.json"),
        ("web", 3, None, "prod/half in s1.json"),
        ("web", 2, None, "prod/five in s1.json"),
        ("web", 0, None, "prod/all in s1.json"),
    ]
    [warning] = compilation.current_diagnostics()
    assert warning.code == "W0804" and "(2)" in warning.message


def test_a_pdb_over_two_workloads_bounds_each(tmp_path):
    """2 pods of web and 1 of db, one PDB over both, minAvailable 2: 3 - 2 = 1 may go, for
    each workload."""
    both = {"team": "shop"}
    compilation = _kube(tmp_path, _listing(
        _pod("w1", labels={**both, "app.kubernetes.io/name": "web"}),
        _pod("w2", labels={**both, "app.kubernetes.io/name": "web"}),
        _pod("d1", labels={**both, "app.kubernetes.io/name": "db"}),
        _pdb("shop", {"matchLabels": both}, minAvailable=2)))
    assert [(b.workload, b.count) for b in compilation.current_state().budgets] == [("db", 1), ("web", 1)]


@pytest.mark.parametrize(("text", "problems"), [
    ("{not json",
     ["s0.json: not JSON (line 1, column 2: Expecting property name enclosed in double quotes)"]),
    ('{"kind": "List"}',
     ["s0.json: expected a List of pods (`items`), as `kubectl get pods -A -o json` prints"]),
    (_listing({"kind": "Pod", "metadata": {"namespace": "a"}}, 5),
     ["s0.json: items[1] is not an object", "s0.json: items[0].metadata.name: missing"]),
    (_listing(_pod("p", labels={"app.kubernetes.io/name": ["web"]})),
     ['s0.json: items[0].metadata.labels["app.kubernetes.io/name"]: input should be a valid string '
      "(found a list)"]),
    (_listing(_pod("ok", labels={"app.kubernetes.io/name": "web"}), _pod("p", node=7)),
     ["s0.json: items[1].spec.nodeName: input should be a valid string (found 7)"]),
    (_listing(_pdb("b", {}, maxUnavailable="x%")),
     ['s0.json: items[0].spec.maxUnavailable: expected a whole number of pods or a percentage such as "20%" '
      '(found "x%")']),
    (_listing(_pdb("b", {}, maxUnavailable=True)),
     ['s0.json: items[0].spec.maxUnavailable: expected a whole number of pods or a percentage such as "20%" '
      "(found true)"]),
    (_listing(_pdb("b", {}, maxUnavailable=1, minAvailable=1)),
     ["s0.json: items[0].spec: give exactly one of maxUnavailable and minAvailable"]),
    (_listing(_pdb("b", {"matchExpressions": [{"key": "a", "operator": "Maybe"}]}, minAvailable=1)),
     ["s0.json: items[0].spec.selector.matchExpressions[0].operator: input should be 'In', 'NotIn', "
      "'Exists' or 'DoesNotExist' (found \"Maybe\")"]),
    (_listing(_pod("twice", labels={"app.kubernetes.io/name": "web"}),
              _pod("twice", labels={"app.kubernetes.io/name": "web"})),
     ["s0.json: prod/twice: the pod is listed more than once"]),
])
def test_malformed_kubectl_files_are_E0801_named_by_json_path(tmp_path, text, problems):
    compilation = _kube(tmp_path, text)
    found = compilation.current_diagnostics()
    assert [d.code for d in found] == ["E0801"] * len(problems)
    assert [d.message for d in found] == problems
    where = (tmp_path / "p.fit").read_text().splitlines().index('  file = "s0.json"') + 1
    assert {(d.path, d.span.line, d.span.column) for d in found} == {(str(tmp_path / "p.fit"), where, 10)}


def test_hostile_names_survive_as_data(tmp_path):
    """Quotes, newlines and `$(...)` in names are text, from the file to the messages."""
    from fitlang.render import render

    hostile = 'x"; $(rm -rf /)\n`id`'
    compilation = _kube(tmp_path, _listing(
        _pod(hostile, labels={"app.kubernetes.io/name": "web"}, namespace="n$(id)"),
        _pod("other", labels={"app.kubernetes.io/name": hostile}),
        _pod("on-odd-node", node=hostile, labels={"app.kubernetes.io/name": "web"}),
    ))
    state = compilation.current_state()
    assert [(r.handle, r.node) for r in state.running] == [
        (ReplicaName(hostile, "n$(id)"), "small-0"), (ReplicaName("on-odd-node", "prod"), hostile)]
    found = compilation.current_diagnostics()
    assert [d.code for d in found] == ["W0801", "W0802"]
    assert hostile in found[1].message
    shown = render(found, "human", compilation.sources())
    assert "W0802" in shown and "$(rm -rf /)" in shown
    assert json.loads(render(found, "json", compilation.sources()))[1]["message"] == found[1].message


# ---- Slurm: squeue from a real cluster ------------------------------------------------------

SQUEUE_TEXT_FORMAT = "%i|%j|%T|%N"


def submit_sleeping(cluster, files: dict[str, str], directory: Path) -> list[str]:
    """Submit every sbatch script of `files` with its command replaced by a long sleep (the
    srun options stay), and wait until every job runs; their ids."""
    import shlex
    import subprocess
    import time

    ids = []
    for name, text in sorted(files.items()):
        if not name.endswith(".sbatch"):
            continue
        lines = text.rstrip("\n").splitlines()
        words = shlex.split(lines[-1])
        options = [w for w in words[1:] if w.startswith("--het-group=")]
        script = directory / f"sleeping-{name}"
        script.write_text("\n".join(lines[:-1] + [" ".join(["srun", *options, "sleep", "600"])]) + "\n")
        result = subprocess.run(["sbatch", "--parsable", f"--output={directory}/{name}.out", str(script)],
                                capture_output=True, text=True, env=cluster.env, timeout=30)
        assert result.returncode == 0, (name, result.stderr)
        ids.append(result.stdout.strip().split(";")[0])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = subprocess.run(["squeue", "-h", "-o", "%T"], capture_output=True, text=True,
                                env=cluster.env, timeout=30).stdout.split()
        if states and all(state == "RUNNING" for state in states):
            return ids
        time.sleep(0.5)
    raise AssertionError(f"the jobs did not all start: {states}")


def squeue_outputs(cluster) -> tuple[str, str]:
    """`squeue --json` and `squeue -h -o "%i|%j|%T|%N"`, as the cluster prints them."""
    import subprocess

    printed = [subprocess.run(["squeue", *arguments], capture_output=True, text=True, env=cluster.env,
                              timeout=30, check=True).stdout
               for arguments in (["--json"], ["-h", "-o", SQUEUE_TEXT_FORMAT])]
    return printed[0], printed[1]


ONPREM = EXAMPLES / "onprem-burst.fit"


def test_squeue_json_captured_from_a_real_slurm():
    """onprem-burst-squeue.json (tools/capture_squeue.py, Slurm 22.05): job 1 is
    heterogeneous, batch-scoring-6ef636 (the Slurm target's name for batch_scoring): component
    1+0 runs 8 tasks on aws_p4d_24xlarge-us-east-1-0, 1+1 two tasks on aws_g5_xlarge-us-east-1-[0-1];
    chat (3) 4 tasks on gpu-l40s-01; dataprep (4) 4 tasks on cpu-[01-02], 2 a node; finetune
    (5) 2 tasks on dgx-a100-[01-02]: 20 replicas, the policy's 10 + 4 + 4 + 2."""
    compilation = Compilation(ONPREM, current=str(STATE / "onprem-burst-squeue.json"))
    state = compilation.current_state()
    assert Counter((r.workload, r.node, r.handle) for r in state.running) == Counter({
        ("batch_scoring", "aws_p4d_24xlarge-us-east-1-0", ReplicaName("1+0")): 8,
        ("batch_scoring", "aws_g5_xlarge-us-east-1-0", ReplicaName("1+1")): 1,
        ("batch_scoring", "aws_g5_xlarge-us-east-1-1", ReplicaName("1+1")): 1,
        ("chat", "gpu-l40s-01", ReplicaName("3")): 4,
        ("dataprep", "cpu-01", ReplicaName("4")): 2, ("dataprep", "cpu-02", ReplicaName("4")): 2,
        ("finetune", "dgx-a100-01", ReplicaName("5")): 1,
        ("finetune", "dgx-a100-02", ReplicaName("5")): 1})
    # the offers' nodes that run something were bought
    assert state.bought == ("aws_g5_xlarge-us-east-1-0", "aws_g5_xlarge-us-east-1-1",
                            "aws_p4d_24xlarge-us-east-1-0")
    assert compilation.current_diagnostics() == []


def test_squeue_text_captured_from_a_real_slurm_is_one_replica_per_node():
    compilation = Compilation(ONPREM, current=str(STATE / "onprem-burst-squeue.txt"))
    assert [(r.workload, r.node, r.handle) for r in compilation.current_state().running] == [
        ("batch_scoring", "aws_p4d_24xlarge-us-east-1-0", ReplicaName("1+0")),
        ("batch_scoring", "aws_g5_xlarge-us-east-1-0", ReplicaName("1+1")),
        ("batch_scoring", "aws_g5_xlarge-us-east-1-1", ReplicaName("1+1")),
        ("chat", "gpu-l40s-01", ReplicaName("3")),
        ("dataprep", "cpu-01", ReplicaName("4")), ("dataprep", "cpu-02", ReplicaName("4")),
        ("finetune", "dgx-a100-01", ReplicaName("5")), ("finetune", "dgx-a100-02", ReplicaName("5"))]
    assert compilation.current_diagnostics() == []


@real_slurm
def test_what_runs_on_a_real_slurm_is_the_placement_its_scripts_ran(tmp_path):
    """fitc's own scripts for onprem-burst.fit, submitted to a real Slurm (their commands a
    sleep): `squeue --json` read back is the placement, replica for replica."""
    from compiling import render
    from slurm_cluster import start_cluster

    context, files = render(ONPREM, "slurm")
    cluster = start_cluster(context.problem, tmp_path, [], files)
    try:
        submit_sleeping(cluster, files, tmp_path)
        as_json, as_text = squeue_outputs(cluster)
    finally:
        cluster.shutdown()
    (tmp_path / "squeue.json").write_text(as_json)
    (tmp_path / "squeue.txt").write_text(as_text)
    placed = Counter((a.workload, a.node) for a in context.placement.assignments)
    compilation = Compilation(ONPREM, current=str(tmp_path / "squeue.json"))
    assert Counter((r.workload, r.node) for r in compilation.current_state().running) == placed
    assert compilation.current_diagnostics() == []
    compilation = Compilation(ONPREM, current=str(tmp_path / "squeue.txt"))
    assert {(r.workload, r.node) for r in compilation.current_state().running} == set(placed)


@pytest.mark.parametrize("expression", [
    "node01", "node[01-03,07]", "a[1-2]-b[08-10]", "x,y[1-2],z", "gpu-[0-3],cpu[9-11]",
    "n[098-101]", "rack[1-2]-n[1,3]", "dgx-a100-[01-02]",
])
def test_hostlists_expand_as_scontrol_show_hostnames_does(expression, tmp_path):
    from fitlang.model.current_slurm import expand_hostlist

    from slurm_cluster import hostnames, require_slurm

    require_slurm()
    assert expand_hostlist(expression) == hostnames(expression, tmp_path)


@pytest.mark.parametrize("expression", ["n[1-", "n]1[", "n[a-b]", "n[3-1]", "n[[1]]", "n[0-70000]"])
def test_bad_hostlists_are_refused(expression):
    from fitlang.model.current_slurm import HostlistError, expand_hostlist

    with pytest.raises(HostlistError):
        expand_hostlist(expression)


SLURM_POLICY = POLICY.replace("pool small", "pool gpu") + (
    "\nworkload train_job {\n  replicas = 4\n  cpu = 1\n  memory = 1GiB\n}\n")


@pytest.mark.parametrize(("text", "problems", "running"), [
    # train_job's job as the Slurm target names it; 5 tasks on 2 nodes: 3 on the first, 2 on
    # the second (Slurm's block distribution)
    ('{"jobs": [{"job_id": 9, "name": "train-job-07f540", "job_state": "RUNNING", '
     '"nodes": "gpu-[0-1]", "node_count": 2, "tasks": 5}]}', [],
     ["gpu-0", "gpu-0", "gpu-0", "gpu-1", "gpu-1"]),
    # 23.02 and later: states as lists, counts as {"set", "number"}
    ('{"jobs": [{"job_id": 9, "name": "web", "job_state": ["RUNNING"], "nodes": "gpu-1", '
     '"tasks": {"set": true, "infinite": false, "number": 2}}]}', [], ["gpu-1", "gpu-1"]),
    ('{"jobs": [{"job_id": 9, "name": "web", "job_state": "PENDING", "nodes": ""}]}', [], []),
    ('{"jobs": [{"job_id": "x", "name": "web", "job_state": "RUNNING"}]}',
     ['s0.json: jobs[0].job_id: input should be a valid integer, unable to parse string as an integer '
      '(found "x")'], []),
    ('{"jobs": [{"job_id": 3, "name": "web", "job_state": "RUNNING", "nodes": "gpu-[1-"}]}',
     ["s0.json: jobs[0].nodes: `[` without `]` in `gpu-[1-`"], []),
    ("1|web|RUNNING|gpu-0\nnot a job line\n2|web|RUNNING|gpu-[0\n",
     ['s0.json:2: expected `JOBID|NAME|STATE|NODELIST`, as `squeue -h -o "%i|%j|%T|%N"` prints',
      "s0.json:3: `[` without `]` in `gpu-[0`"], ["gpu-0"]),
])
def test_squeue_files(tmp_path, text, problems, running):
    compilation = _kube(tmp_path, text, policy=SLURM_POLICY)
    found = compilation.current_diagnostics()
    assert [d.message for d in found if d.code == "E0801"] == problems
    assert [r.node for r in compilation.current_state().running] == running


def test_jobs_of_no_workload_are_counted_and_hostile_job_names_are_data(tmp_path):
    hostile = 'a|b"$(id)`x`'
    compilation = _kube(tmp_path, f"1|{hostile}|RUNNING|gpu-0\n2|web|RUNNING|gpu-1\n3|web|RUNNING|gone-7\n",
                        policy=SLURM_POLICY)
    assert [(r.handle, r.node) for r in compilation.current_state().running] == [
        (ReplicaName("2"), "gpu-1"), (ReplicaName("3"), "gone-7")]
    found = compilation.current_diagnostics()
    assert [d.code for d in found] == ["W0801", "W0802"]
    assert f"`1 ({hostile})`" in found[0].message and "1 running job " in found[0].message
    assert "`gone-7`" in found[1].message


def test_a_pod_without_its_option_label_runs_with_its_nodes_accelerator(tmp_path):
    """power-capped-burst.fit: `chat` has options H100 and TRAINIUM2. A chat pod without the
    option label on a Trainium2 node runs TRAINIUM2, on an H100 node H100; `etl` has no
    options; a node the policy lacks says nothing (None)."""
    (tmp_path / "pods.json").write_text(_listing(
        _pod("a", node="aws_trn2_48xlarge-us-east-2-0", labels={"app.kubernetes.io/name": "chat"}),
        _pod("b", node="h100_onprem-0", labels={"app.kubernetes.io/name": "chat"}),
        _pod("c", node="cpu_onprem-0", labels={"app.kubernetes.io/name": "etl"}),
        _pod("d", node="elsewhere-1", labels={"app.kubernetes.io/name": "chat"}),
        _pod("e", node="h100_onprem-1", labels={"app.kubernetes.io/name": "chat",
                                               "fitlang.dev/option": "TRAINIUM2"}),
    ))
    compilation = Compilation(EXAMPLES / "power-capped-burst.fit", current=str(tmp_path / "pods.json"))
    assert [(r.workload, r.option) for r in compilation.current_state().running] == [
        ("chat", "TRAINIUM2"), ("chat", "H100"), ("etl", None), ("chat", None), ("chat", "TRAINIUM2")]


def test_budgets_with_the_pdb_status_count_as_the_disruption_controller_does(tmp_path):
    """7 pods of `web` run; the PDBs' status says the controller's scale is 10 (3 pods not
    made yet) and, for one, that only 6 are healthy. Kubernetes takes a percentage of the
    scale, not of the pods running, and lets go the healthy pods less those that must stay:
    maxUnavailable 20% -> 10 - 2 = 8 must stay, 7 healthy: none may go (a share of 7 would let
    2 go); maxUnavailable 4 -> 6 must stay: 1 may go; minAvailable 50% -> 5 must stay: 2 may
    go; minAvailable 4 with 6 healthy: 2 may go; maxUnavailable 50% (5 must stay) with 6
    healthy: 1 may go."""
    web = {"app.kubernetes.io/name": "web"}
    pods = [_pod(f"web-{i}", labels=web) for i in range(7)]
    scale = {"expectedPods": 10}
    budgets = [
        {**_pdb("share", {"matchLabels": web}, maxUnavailable="20%"), "status": scale},
        {**_pdb("four", {"matchLabels": web}, maxUnavailable=4), "status": scale},
        {**_pdb("half", {"matchLabels": web}, minAvailable="50%"), "status": scale},
        {**_pdb("least", {"matchLabels": web}, minAvailable=4),
         "status": {"expectedPods": 7, "currentHealthy": 6}},
        {**_pdb("starting", {"matchLabels": web}, maxUnavailable="50%"),
         "status": {**scale, "currentHealthy": 6}},
    ]
    state = _kube(tmp_path, _listing(*pods, *budgets)).current_state()
    assert [(b.source.split()[0], b.count, b.share) for b in state.budgets] == [
        ("prod/share", 0, None), ("prod/four", 1, None), ("prod/half", 2, None),
        ("prod/least", 2, None), ("prod/starting", 1, None)]


def test_a_pdb_status_with_a_negative_count_is_a_file_problem(tmp_path):
    pdb = {**_pdb("b", {}, maxUnavailable=1), "status": {"expectedPods": -3}}
    (tmp_path / "p.fit").write_text(KUBE_POLICY + '\ncurrent {\n  file = "s0.json"\n}\n')
    (tmp_path / "s0.json").write_text(_listing(_pod("w", labels={"app.kubernetes.io/name": "web"}), pdb))
    compilation = Compilation(tmp_path / "p.fit")
    compilation.check()
    messages = [d.message for d in compilation.current_diagnostics()]
    assert any("items[1].status.expectedPods: expected a whole number of pods" in m for m in messages)


def _ready(pod: dict, status: str = "True") -> dict:
    """The pod with its `Ready` condition, as kubectl prints a running pod's."""
    pod["status"]["conditions"] = [{"type": "Initialized", "status": "True"},
                                   {"type": "Ready", "status": status},
                                   {"type": "ContainersReady", "status": status}]
    return pod


def test_a_pod_not_ready_is_not_healthy_and_a_pdb_counts_healthy_pods_only(tmp_path):
    """6 pods of `web`: 4 Ready, web-4 on a node gone NotReady (the node controller marked it
    `Ready` False), web-5 Pending (bound, starting). The API server's eviction reads a pod's
    `Ready` condition; the disruption controller counts healthy pods only. Without a status:
    maxUnavailable 1 of 6 -> 5 must stay, 4 healthy: none may go (the budget is 1 below none),
    its pods not Ready evicted only under `AlwaysAllow`; minAvailable 3 -> 1 may go. With the
    status (currentHealthy 5, expectedPods 6; the default policy): none may go, as many
    healthy as must stay. A pod that lists no conditions (written by hand) stays healthy."""
    web = {"app.kubernetes.io/name": "web"}
    pods = [_ready(_pod(f"web-{i}", labels=web)) for i in range(4)]
    pods += [_ready(_pod("web-4", labels=web), "False"), _pod("web-5", labels=web, phase="Pending")]
    budgets = [
        _pdb("most", {"matchLabels": web}, maxUnavailable=1, unhealthyPodEvictionPolicy="AlwaysAllow"),
        _pdb("least", {"matchLabels": web}, minAvailable=3),
        {**_pdb("live", {"matchLabels": web}, maxUnavailable=1,
                unhealthyPodEvictionPolicy="IfHealthyBudget"),
         "status": {"currentHealthy": 5, "desiredHealthy": 5, "disruptionsAllowed": 0, "expectedPods": 6}},
    ]
    state = _kube(tmp_path, _listing(*pods, *budgets)).current_state()
    assert [r.ready for r in state.running] == [True] * 4 + [False, False]
    assert [(b.source.split()[0], b.count, b.above, b.must_stay, b.always_evict_unhealthy)
            for b in state.budgets] == [
        ("prod/most", 0, -1, 5, True), ("prod/least", 1, 1, 3, False), ("prod/live", 0, 0, 5, False)]
    hand = _kube(tmp_path, _listing(_pod("w", labels=web), _pdb("b", {"matchLabels": web}, maxUnavailable=1)))
    assert [r.ready for r in hand.current_state().running] == [True]
    assert hand.current_state().budgets[0].above is None  # (every pod healthy: as before)
