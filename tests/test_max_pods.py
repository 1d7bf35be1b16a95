"""The pods a node's kubelet admits (`allocatable.pods`, a pool's or offer's `max_pods`): the
model counts them (per class, `rules/capacity.py`); a packing is repaired to them (`solve/whole_cores.py`),
`fitc verify` checks them (`rules/capacity.py`), and the Kubernetes read-back counts them
(`targets/kubernetes_fidelity.py`), or the scheduler would leave the extra pods Pending."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from fractions import Fraction

from fitlang.cli import main
from fitlang.driver import Compilation, Outcome
from fitlang.solve.linear import Status
from fitlang.solve.placement_result import Assignment, Placement
from fitlang.solve.self_check import broken_rules
from fitlang.targets import TARGETS, CompileContext

from compiling import details, errors

WEB = 'workload web {\n  image = "web:1"\n  replicas = REPLICAS\n  cpu = 100m\n  memory = 128Mi\n}\n'


def _inventory(tmp_path, replicas: int, pods: int = 3) -> Compilation:
    """Two 4-core nodes whose kubelets admit `pods` pods each, and `replicas` small replicas."""
    nodes = [{"metadata": {"name": name}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi",
                                                                     "pods": str(pods)}}}
             for name in ("n1", "n2")]
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": nodes}))
    (tmp_path / "p.fit").write_text('inventory onprem {\n  format = kubectl\n  file = "nodes.json"\n'
                                    '  price = 1 USD/h\n}\n' + WEB.replace("REPLICAS", str(replicas)))
    return Compilation(tmp_path / "p.fit")


def test_a_node_takes_no_more_replicas_than_its_kubelet_admits(tmp_path):
    # five replicas fit one node's CPU and memory, but its kubelet admits 3 pods: 3 + 2
    compilation = _inventory(tmp_path, 5)
    placement = compilation.solve("auto", 20.0)
    verdict = compilation.verdict(placement, 20.0)
    assert verdict.outcome is Outcome.PLACED
    assert sorted(Counter(a.node for a in placement.assignments).values()) == [2, 3]
    assert placement.value == 2 and broken_rules(compilation.problem, placement) == []


def test_verify_rejects_a_node_over_its_pods(tmp_path, capsys):
    compilation = _inventory(tmp_path, 4)
    document = {"status": "feasible", "assignments": [
        {"workload": "web", "replica": replica, "node": "n1"} for replica in range(4)]}
    (tmp_path / "a.json").write_text(json.dumps(document))
    assert main(["verify", str(compilation.root_path), str(tmp_path / "a.json")]) == 1
    assert "node `n1` is over its pods: 4 placed, its kubelet admits 3" in capsys.readouterr().err


def test_more_replicas_than_every_node_admits_is_no_placement(tmp_path, capsys):
    # 7 replicas, 2 nodes of 3 pods: the model counts the pods, so no placement (E0501 with the
    # replicas' line); the partial answer shown keeps the pods (6 placed, 1 left out)
    _inventory(tmp_path, 7)
    assert main(["solve", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [d["code"] for d in document["diagnostics"]] == ["E0501", "E0504"]
    assert sorted(Counter(a["node"] for a in document["assignments"]).values()) == [3, 3]
    assert len(document["unplaced"]) == 1


def test_the_model_counts_pods_so_the_bound_is_proven(tmp_path):
    # 4 nodes of 8 CPUs and 3 pods, 7 one-CPU replicas: one node's CPUs hold them all, its
    # pods 3: three nodes, proven (the bound was one node: `feasible` with a gap of 67%)
    pool = 'pool std {\n  count = 4\n  cpu = 8\n  memory = 32GiB\n  price = 0.40 USD/h\n  max_pods = 3\n}\n'
    (tmp_path / "p.fit").write_text(pool + WEB.replace("REPLICAS", "7").replace("100m", "1"))
    compilation = Compilation(tmp_path / "p.fit")
    placement = compilation.solve("auto", 20.0)
    assert compilation.verdict(placement, 20.0).outcome is Outcome.PLACED
    assert placement.status is Status.OPTIMAL and placement.value == Fraction("1.2")
    assert placement.bound == Fraction("1.2")


def test_a_packing_no_move_repairs_is_e0512_not_a_placement(tmp_path, monkeypatch, capsys):
    # the solver's answer (as a class count that does not see nodes could give it) puts 4 on n1,
    # which admits 3, and n2 is full (3): no move repairs it
    from fitlang.solve import placement as placement_module

    _inventory(tmp_path, 7)
    crowded = [Assignment("web", replica, "n1" if replica < 4 else "n2") for replica in range(7)]
    monkeypatch.setattr(placement_module, "_solved", lambda *arguments, **keywords:
                        Placement(Status.FEASIBLE, "cost", Fraction(2), Fraction(2), assignments=crowded))
    assert main(["solve", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    assert [d["code"] for d in json.loads(capsys.readouterr().out)["diagnostics"]] == ["E0512"]


def test_a_pool_states_the_pods_its_kubelet_admits(tmp_path):
    pool = 'pool small {\n  count = 3\n  cpu = 8\n  memory = 32GiB\n  price = 1 USD/h\n  max_pods = 2\n}\n'
    (tmp_path / "p.fit").write_text(pool + WEB.replace("REPLICAS", "5"))
    compilation = Compilation(tmp_path / "p.fit")
    placement = compilation.solve("auto", 20.0)
    assert compilation.verdict(placement, 20.0).outcome is Outcome.PLACED
    assert sorted(Counter(a.node for a in placement.assignments).values()) == [1, 2, 2]


def test_the_kubernetes_read_back_counts_pods_against_the_kubelets_limit(tmp_path):
    compilation = _inventory(tmp_path, 4)
    placement = compilation.solve("auto", 20.0)
    crowded = dataclasses.replace(placement, assignments=[Assignment("web", r, "n1") for r in range(4)])
    program = compilation.check().program
    assert compilation.problem is not None and program is not None
    context = CompileContext(program, compilation.problem, crowded)
    target = TARGETS["kubernetes"]()
    assert errors(target.problems(context)) == []
    found = details(target.fidelity(context, target.render(context)), "kubernetes")
    assert found == ["node `n1`: the pods placed on it request more pods than it can allocate"]


def test_a_pool_without_max_pods_is_warned_about_past_a_kubelets_default(tmp_path, capsys):
    # 120 small replicas fit one 64-core node; a kubelet admits 110 unless configured: W0621
    # (the files are still written); with `max_pods = 110` stated, two nodes and no warning
    pool = 'pool small {\n  count = 2\n  cpu = 64\n  memory = 256GiB\n  price = 1 USD/h\n}\n'
    (tmp_path / "p.fit").write_text(pool + WEB.replace("REPLICAS", "120"))
    out = str(tmp_path / "out")
    assert main(["compile", str(tmp_path / "p.fit"), "--target", "kubernetes", "--out", out]) == 0
    assert "warning[W0621]" in capsys.readouterr().err
    (tmp_path / "p.fit").write_text(pool.replace("}", "  max_pods = 110\n}") + WEB.replace("REPLICAS", "120"))
    assert main(["compile", str(tmp_path / "p.fit"), "--target", "kubernetes", "--out", out + "2"]) == 0
    assert "W0621" not in capsys.readouterr().err
    placement = Compilation(tmp_path / "p.fit").solve("auto", 20.0)
    assert sorted(Counter(a.node for a in placement.assignments).values()) == [10, 110]


def test_nodes_bought_hold_the_pods_their_offer_admits(tmp_path):
    # 40 tiny replicas: one `small` (0.10 USD/h, 10 pods) holds their CPUs and memory but 10 of
    # them; `big` (0.25, 50 pods) holds all 40. Four small cost 0.40: one big, 0.25, is the
    # least (the start tree bought one small, its 40 pods past the 10 its kubelet admits)
    offers = "".join(f'offer {name} {{\n  provider = aws\n  instance_type = "{name}.x"\n'
                     f'  regions = ["us-east-1"]\n  cpu = {cpu}\n'
                     f'  memory = 16GiB\n  max_pods = {pods}\n  price = {price} USD/h\n}}\n'
                     for name, cpu, pods, price in (("small", 4, 10, "0.10"), ("big", 8, 50, "0.25")))
    buy = "buy {\n  offers = [small, big]\n  max_count = 10\n}\n"
    (tmp_path / "p.fit").write_text(offers + buy + WEB.replace("REPLICAS", "40").replace("100m", "10m"))
    compilation = Compilation(tmp_path / "p.fit")
    placement = compilation.solve("auto", 20.0)
    assert compilation.verdict(placement, 20.0).outcome is Outcome.PLACED
    assert placement.status is Status.OPTIMAL and placement.value == Fraction("0.25")
    assert broken_rules(compilation.problem, placement) == []


# ---- with a horizon: the pods running at each step --------------------------------------

TIMED = """pool p {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 1 USD/h
  max_pods = 2
}
workload svc {
  image = "s:1"
  replicas = 2
  cpu = 100m
  memory = 128Mi
}
""" + "".join(f"""workload {name} {{
  kind = job
  image = "j:1"
  replicas = 2
  cpu = 100m
  memory = 128Mi
  duration = 2h
  deadline = 4h
}}
""" for name in ("a", "b")) + """policy {
  objective = cost
  horizon = 6h
  step = 1h
  start = "2026-12-01T00:00Z"
}
"""


def test_with_a_horizon_no_node_runs_more_pods_at_a_step_than_it_admits(tmp_path):
    # two pods a node: svc's two hold one node all 6 h; a and b (two each, 2 h, done by 4 h)
    # take turns on the other: 6 + 4 = 10 node-hours (all six on one node broke the kubelet's 2)
    (tmp_path / "p.fit").write_text(TIMED)
    compilation = Compilation(tmp_path / "p.fit")
    placement = compilation.solve("auto", 20.0)
    assert compilation.verdict(placement, 20.0).outcome is Outcome.PLACED
    assert broken_rules(compilation.problem, placement) == [] and placement.value == 10
    for step in range(6):
        running = Counter(a.node for a in placement.assignments if a.start <= step < a.end)
        assert max(running.values()) <= 2


def test_verify_counts_pods_at_each_step(tmp_path, capsys):
    (tmp_path / "p.fit").write_text(TIMED)
    runs = [("svc", r, 0, 6) for r in range(2)] + [(w, r, 0, 2) for w in ("a", "b") for r in range(2)]
    document = {"status": "feasible", "assignments": [
        {"workload": w, "replica": r, "node": "p-0", "start": f"2026-12-01T{start:02d}:00:00Z",
         "end": f"2026-12-01T{end:02d}:00:00Z"} for w, r, start, end in runs]}
    (tmp_path / "a.json").write_text(json.dumps(document))
    assert main(["verify", str(tmp_path / "p.fit"), str(tmp_path / "a.json")]) == 1
    assert "at step 0 (2026-12-01T00:00Z) node `p-0` is over its pods: 6 placed, its kubelet admits 2" \
        in capsys.readouterr().err


def test_with_a_horizon_the_schedule_counts_pods_so_its_bound_stands(tmp_path):
    # the schedule made node by node holds each node to its 2 pods at each step, so it needs no
    # repair after: its value 10 is proven (it put all six on one node and, repaired, dropped
    # its bound: `feasible`, gap unknown)
    (tmp_path / "p.fit").write_text(TIMED)
    compilation = Compilation(tmp_path / "p.fit")
    placement = compilation.solve("auto", 20.0)
    assert placement.status is Status.OPTIMAL and placement.value == 10
    assert placement.gap is not None and placement.gap <= placement.tolerance
    assert compilation.verdict(placement, 20.0).outcome is Outcome.PLACED
    assert broken_rules(compilation.problem, placement) == []


def test_the_time_ledger_takes_no_replica_on_a_node_at_its_pods(tmp_path):
    from fitlang.solve.timeline_pack import Ledger, need_of

    (tmp_path / "p.fit").write_text(TIMED)
    problem = Compilation(tmp_path / "p.fit").problem
    ledger, (pool,) = Ledger(problem), problem.classes
    need = need_of(problem.demand("a"))
    for _ in range(2):
        ledger.take(pool.id, 0, need, 0, 2)
    assert ledger.nodes(pool.id, need, 1, 3)[0].tolist() == [False, True]  # p-0 runs 2 at step 1
    assert ledger.nodes(pool.id, need, 2, 4)[0].tolist() == [True, True]  # and none from step 2


def test_with_a_horizon_the_kubernetes_read_back_counts_pods_at_each_step(tmp_path):
    # the solved schedule crowded onto p-0: svc's two beside a's or b's two at every step of
    # theirs, four pods on a node whose kubelet admits two
    (tmp_path / "p.fit").write_text(TIMED)
    compilation = Compilation(tmp_path / "p.fit")
    placement = compilation.solve("auto", 20.0)
    crowded = dataclasses.replace(placement, assignments=[
        dataclasses.replace(a, node="p-0") for a in placement.assignments])
    program = compilation.check().program
    assert compilation.problem is not None and program is not None
    context = CompileContext(program, compilation.problem, crowded)
    target = TARGETS["kubernetes"]()
    assert any("`p-0`" in d and "at step" in d and "pods" in d
               for d in details(target.fidelity(context, target.render(context)), "kubernetes"))
    solved = CompileContext(program, compilation.problem, placement)
    assert not any("pods" in d for d in details(target.fidelity(solved, target.render(solved)), "kubernetes"))
