"""The cluster's DaemonSets on the nodes fitc buys (`model/daemon_sets.py`): a DaemonSet starts a
pod on every node its selector picks, a node bought later too, so a bought node keeps what they
request and the pods they are; a `buy` block's `reserved_*` states it instead; a bought node the
state shows running keeps what its own pods request (never both)."""

from __future__ import annotations

import json
from collections import Counter

from fitlang.cli import main
from fitlang.driver import Compilation, Outcome
from fitlang.solve.self_check import broken_rules

# EKS's kube-reserved CPU of an 8-core node, worked from nodeadm's tiers (6% of the first core,
# 1% of the second, 0.5% of the third and fourth, 0.25% of the other four), written apart from
# fitlang/model/reservations.py: 60 + 10 + 5 + 5 + 4 x 2.5 = 90m
M7I_2XLARGE_ALLOCATABLE_MILLI = 8000 - 90
POLICY = '''import "std/aws"

buy cloud {
  offers = [aws_m7i_2xlarge]
  regions = ["us-east-1"]RESERVED
}

workload web {
  image = "registry.example.com/web:1"
  replicas = REPLICAS
  cpu = CPU
  memory = 256MiB
}
'''
STATE = '\ncurrent {\n  file = "pods.json"\n}\n'


def _pod(name: str, node: str, cpu: str, owner: tuple[str, str] | None, selector=None,
         labels=None) -> dict:
    metadata: dict = {"name": name, "namespace": "kube-system" if owner else "default",
                      "labels": labels or {}}
    if owner:
        metadata["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    spec: dict = {"nodeName": node, "containers": [
        {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": "0"}}}]}
    if selector:
        spec["nodeSelector"] = selector
    return {"kind": "Pod", "metadata": metadata, "spec": spec, "status": {"phase": "Running"}}


def _daemons(node: str) -> list[dict]:
    """kube-proxy (100m) and aws-node (25m) on `node`, as on every EKS node."""
    return [_pod(f"kube-proxy-{node}", node, "100m", ("DaemonSet", "kube-proxy")),
            _pod(f"aws-node-{node}", node, "25m", ("DaemonSet", "aws-node"))]


def _policy(tmp_path, replicas: int, cpu: str, pods: list[dict] | None, reserved: str = "") -> Compilation:
    text = POLICY.replace("REPLICAS", str(replicas)).replace("CPU", cpu).replace("RESERVED", reserved)
    if pods is not None:
        (tmp_path / "pods.json").write_text(json.dumps({"kind": "List", "items": pods}))
        text += STATE
    (tmp_path / "p.fit").write_text(text)
    return Compilation(tmp_path / "p.fit")


def _bought_load(compilation: Compilation) -> Counter:
    placement = compilation.solve("auto", 30.0)
    assert compilation.verdict(placement, 30.0).outcome is Outcome.PLACED
    assert broken_rules(compilation.problem, placement) == []
    return Counter(a.node for a in placement.assignments)


def test_a_bought_node_keeps_room_for_the_daemon_sets_the_state_shows(tmp_path):
    # 60 replicas of 260m: 30 fill an m7i.2xlarge's 7.91 CPU allocatable (7.80), but kube-proxy
    # and aws-node (seen on a node of the state) start there too: 7.925 > 7.91 leaves one Pending
    pods = _daemons("other-node")
    compilation = _policy(tmp_path, 60, "260m", pods)
    load = _bought_load(compilation)
    assert sum(load.values()) == 60
    for node, replicas in load.items():
        assert replicas * 260 + 125 <= M7I_2XLARGE_ALLOCATABLE_MILLI, (node, replicas)
    # with no state the same policy packs 30 a node: the state is what tells them
    bare = tmp_path / "bare"
    bare.mkdir()
    assert max(_bought_load(_policy(bare, 60, "260m", None)).values()) == 30


def test_a_daemon_set_whose_selector_rules_the_node_out_keeps_nothing_there(tmp_path):
    # an arm64-only agent, a Windows one and a GPU node's one (a label fitc does not know of
    # the node: taken to pick it) beside kube-proxy: the amd64 Linux node keeps kube-proxy's
    # 100m and the GPU agent's 50m, 2 pods
    pods = [_pod("kube-proxy-a", "n", "100m", ("DaemonSet", "kube-proxy")),
            _pod("arm-agent-a", "n", "300m", ("DaemonSet", "arm-agent"), {"kubernetes.io/arch": "arm64"}),
            _pod("win-agent-a", "n", "300m", ("DaemonSet", "win-agent"), {"kubernetes.io/os": "windows"}),
            _pod("gpu-agent-a", "n", "50m", ("DaemonSet", "gpu-agent"), {"example.com/gpu": "true"}),
            _pod("web-like-a", "n", "300m", ("ReplicaSet", "other-team"))]  # not a DaemonSet's
    problem = _policy(tmp_path, 4, "1", pods).problem
    assert problem is not None
    bought = next(c for c in problem.classes if c.offer == "aws_m7i_2xlarge")
    assert (bought.daemons.cpu_milli, bought.daemons.pods) == (150, 2)
    assert bought.capacity["cpu"] == M7I_2XLARGE_ALLOCATABLE_MILLI - 150
    assert bought.kubelet_max_pods == 58 and bought.max_pods == 56


def test_a_buy_block_states_what_its_nodes_keep(tmp_path):
    # no state: `reserved_cpu = 410m` and `reserved_pods = 50` of 58: 29 replicas of 250m would
    # fit 7.91 CPU, but 7.5 CPU is left and 8 pods: 8 replicas a node
    compilation = _policy(tmp_path, 16, "250m", None,
                          "\n  reserved_cpu = 410m\n  reserved_memory = 1GiB\n  reserved_pods = 50")
    load = _bought_load(compilation)
    assert sorted(load.values()) == [8, 8]


def test_a_bought_node_the_state_shows_running_keeps_its_own_pods_not_both(tmp_path, capsys):
    # a node bought earlier (fitc's name) runs 31 web replicas of 250m beside kube-proxy and
    # aws-node: 7.875 of 7.91 CPU. Counting the DaemonSets twice (their pods there, and the
    # room kept for them) would see it over its room and move work: the plan has nothing to do
    node = "aws_m7i_2xlarge-us-east-1-0"
    pods = _daemons(node) + [_pod(f"web-{i}", node, "250m", None, labels={"app.kubernetes.io/name": "web"})
                             for i in range(31)]
    compilation = _policy(tmp_path, 31, "250m", pods)
    assert compilation.problem is not None
    code = main(["plan", str(compilation.root_path), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document


def test_an_inventory_s_reserved_pods_come_off_what_each_node_admits(tmp_path):
    # two nodes whose kubelets admit 10 pods, 4 of them DaemonSets' (`reserved_pods = 4`): 12
    # small replicas fit one node's CPU but take 6 + 6
    nodes = [{"metadata": {"name": name}, "status": {"allocatable": {"cpu": "8", "memory": "16Gi",
                                                                     "pods": "10"}}}
             for name in ("n1", "n2")]
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": nodes}))
    (tmp_path / "p.fit").write_text(
        'inventory onprem {\n  format = kubectl\n  file = "nodes.json"\n  price = 1 USD/h\n'
        '  reserved_pods = 4\n}\n'
        'workload web {\n  image = "web:1"\n  replicas = 12\n  cpu = 100m\n  memory = 128Mi\n}\n')
    load = _bought_load(Compilation(tmp_path / "p.fit"))
    assert sorted(load.values()) == [6, 6]


def test_a_replica_no_node_holds_names_what_the_daemon_sets_keep(tmp_path, capsys):
    # 7.8 CPU fits an m7i.2xlarge's 7.91 allocatable, not its 7.785 beside kube-proxy and
    # aws-node: E0501, and the conflict says what they keep (else "the most a node has: 7.785
    # CPU" reads as a wrong allocatable)
    _policy(tmp_path, 1, "7800m", _daemons("other-node"))
    assert main(["solve", str(tmp_path / "p.fit")]) == 1
    err = capsys.readouterr().err
    assert "error[E0501]" in err and "DaemonSets' 0.125 CPU" in err
