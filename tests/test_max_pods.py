"""The pods a node's kubelet admits (`allocatable.pods`, a pool's or offer's `max_pods`): the
class model does not count them; the answer is repaired to them (`solve/whole_cores.py`),
`fitc verify` checks them (`rules/capacity.py`), and the Kubernetes read-back counts them
(`targets/kubernetes_fidelity.py`), or the scheduler would leave the extra pods Pending."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

from fitlang.cli import main
from fitlang.driver import Compilation, Outcome
from fitlang.solve.placement_result import Assignment
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


def test_more_replicas_than_every_node_admits_is_e0512_not_a_placement(tmp_path, capsys):
    _inventory(tmp_path, 7)
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
