"""`fitc diff`: what a change to a policy does to its placement. The outcomes are worked out by
hand from the policies written here (one replica a node; prices x nodes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import SHOP_POLICY as POLICY


def test_a_change_that_moves_work_exits_2_and_says_what_moves(tmp_path, fitc):
    (tmp_path / "old.fit").write_text(POLICY)
    (tmp_path / "new.fit").write_text(POLICY.replace("replicas = 2", "replicas = 3"))
    result = fitc("diff", "old.fit", "new.fit", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    # 2 x small_a (2.00) -> 2 x small_a + 1 x big_b (5.00)
    assert result.stdout.splitlines() == [
        "cost: 2.00 USD/h -> 5.00 USD/h (+3.00)",
        "~ workload web: replicas placed 2 -> 3; pools [small_a] -> [big_b, small_a]; "
        "zones [zone-a] -> [zone-a, zone-b]",
        "~ pool big_b: 0 -> 1 node in use"]
    document = json.loads(fitc("diff", "old.fit", "new.fit", "--format", "json", cwd=tmp_path).stdout)
    assert document["changed"] is True
    assert (document["before"]["cost_usd_h"], document["after"]["cost_usd_h"]) == (2.0, 5.0)
    assert document["workloads"] == [{"workload": "web", "pools": {"before": ["small_a"],
                                                                   "after": ["big_b", "small_a"]},
                                      "zones": {"before": ["zone-a"], "after": ["zone-a", "zone-b"]},
                                      "instance_types": {"before": [], "after": []},
                                      "arch": {"before": ["amd64"], "after": ["amd64"]},
                                      "capacity": {"before": [], "after": []},
                                      "placed": {"before": 2, "after": 3}}]
    assert document["in_use"] == [{"pool": "big_b", "before": 0, "after": 1}]


def test_the_same_placement_exits_0(tmp_path, fitc):
    (tmp_path / "old.fit").write_text(POLICY)
    # a comment and a higher price on a pool not used change nothing placed
    (tmp_path / "new.fit").write_text("# reviewed\n" + POLICY.replace("3.00 USD/h", "4.00 USD/h"))
    result = fitc("diff", "old.fit", "new.fit", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "no change: the placement is the same\n")


def test_a_policy_with_errors_exits_1_with_its_diagnostics(tmp_path, fitc):
    (tmp_path / "old.fit").write_text(POLICY)
    (tmp_path / "new.fit").write_text(POLICY.replace("replicas = 2", "replicas = two"))
    result = fitc("diff", "old.fit", "new.fit", cwd=tmp_path)
    assert result.returncode == 1 and "new.fit:" in result.stderr and "error[E0201]" in result.stderr


def test_an_infeasible_change_shows_the_outcome(tmp_path, fitc):
    (tmp_path / "old.fit").write_text(POLICY)
    # 5 replicas, one a node, on 4 nodes: no placement
    (tmp_path / "new.fit").write_text(POLICY.replace("replicas = 2", "replicas = 5"))
    result = fitc("diff", "old.fit", "new.fit", "--format", "json", cwd=tmp_path)
    document = json.loads(result.stdout)
    assert result.returncode == 2
    assert (document["before"]["outcome"], document["after"]["outcome"]) == ("placed", "infeasible")


def _eks_node(name: str, instance_type: str, arch: str, capacity: str = "on-demand") -> dict:
    """A node as `kubectl get nodes -o json` lists it on EKS with Karpenter (one zone: a move
    between its nodes changes no zone)."""
    return {"kind": "Node", "metadata": {"name": name, "labels": {
        "kubernetes.io/arch": arch, "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": "us-east-1a", "karpenter.sh/nodepool": "default",
        "karpenter.sh/capacity-type": capacity}},
        "status": {"allocatable": {"cpu": "7910m", "memory": "31Gi", "pods": "58"}}}


ONE_CLUSTER = """\
inventory eks {
  format = kubectl
  file = "nodes.json"
  instance_prices = { "m7i.2xlarge": 0.4032 USD/h, "m7g.2xlarge": 0.3264 USD/h }
}

workload api {
  replicas = 2
  cpu = 2
  memory = 4GiB
}
"""


def test_a_move_onto_graviton_nodes_of_one_inventory_says_their_instance_types_and_arch(tmp_path, fitc):
    # one cluster's nodes are one inventory, one pool: an image made multi-arch moves `api` from
    # the x86 node to the cheaper Graviton one in the same zone, which only the types and the
    # architecture say (the start tree named the cost alone)
    nodes = [_eks_node("ip-10-0-0-1.ec2.internal", "m7i.2xlarge", "amd64"),
             _eks_node("ip-10-0-0-2.ec2.internal", "m7g.2xlarge", "arm64")]
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": nodes}))
    (tmp_path / "old.fit").write_text(ONE_CLUSTER)
    multi_arch = ONE_CLUSTER.replace("memory = 4GiB", "memory = 4GiB\n  arch = [amd64, arm64]")
    (tmp_path / "new.fit").write_text(multi_arch)
    result = fitc("diff", "old.fit", "new.fit", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout.splitlines() == [
        "cost: 0.40 USD/h -> 0.33 USD/h (-0.08)",
        "~ workload api: instance types [m7i.2xlarge] -> [m7g.2xlarge]; arch [amd64] -> [arm64]"]
    document = json.loads(fitc("diff", "old.fit", "new.fit", "--format", "json", cwd=tmp_path).stdout)
    assert document["workloads"] == [{
        "workload": "api", "pools": {"before": ["eks"], "after": ["eks"]},
        "zones": {"before": ["us-east-1a"], "after": ["us-east-1a"]},
        "instance_types": {"before": ["m7i.2xlarge"], "after": ["m7g.2xlarge"]},
        "arch": {"before": ["amd64"], "after": ["arm64"]},
        "capacity": {"before": ["on-demand"], "after": ["on-demand"]}, "placed": {"before": 2, "after": 2}}]


def test_a_move_onto_other_nodes_of_one_inventory_at_the_same_cost_is_a_change(tmp_path, fitc):
    # one price for the inventory: `api` kept to arm64 moves off the x86 node at the same cost,
    # which the start tree called "no change: the placement is the same", exit 0
    nodes = [_eks_node("x86-node", "m7i.2xlarge", "amd64"), _eks_node("arm-node", "m7g.2xlarge", "arm64")]
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": nodes}))
    by_type = 'instance_prices = { "m7i.2xlarge": 0.4032 USD/h, "m7g.2xlarge": 0.3264 USD/h }'
    one_price = ONE_CLUSTER.replace(by_type, "price = 0.4 USD/h")
    (tmp_path / "old.fit").write_text(one_price)
    (tmp_path / "new.fit").write_text(one_price.replace("memory = 4GiB", "memory = 4GiB\n  arch = [arm64]"))
    result = fitc("diff", "old.fit", "new.fit", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (
        2, "~ workload api: instance types [m7i.2xlarge] -> [m7g.2xlarge]; arch [amd64] -> [arm64]\n")


SPOT_PRICED = '  spot_prices = { "m7i.2xlarge": 0.1612 USD/h }\n'
ON_DEMAND_ONLY = '  require labels["karpenter.sh/capacity-type"] == "on-demand"\n'


@pytest.mark.parametrize("old, new, said", [
    # found as a user (session 59): `api` let onto spot nodes of the same type and zone showed
    # as the cost alone; the classes split by the label the rule reads
    (ONE_CLUSTER.replace("memory = 4GiB\n", "memory = 4GiB\n" + ON_DEMAND_ONLY),
     ONE_CLUSTER.replace("m7g.2xlarge\": 0.3264 USD/h }\n", "m7g.2xlarge\": 0.3264 USD/h }\n" + SPOT_PRICED),
     ("cost: 0.40 USD/h -> 0.16 USD/h (-0.24)", "~ workload api: capacity [on-demand] -> [spot]")),
    # one class of both (no rule reads the label, no spot price): each node's own labels
    (ONE_CLUSTER.replace("cpu = 2", "cpu = 5"),
     ONE_CLUSTER.replace("cpu = 2", "cpu = 5").replace("replicas = 2", "replicas = 1").replace(
         "m7g.2xlarge\": 0.3264 USD/h }\n", "m7g.2xlarge\": 0.3264 USD/h }\n" + SPOT_PRICED),
     ("cost: 0.81 USD/h -> 0.16 USD/h (-0.65)",
      "~ workload api: replicas placed 2 -> 1; capacity [on-demand, spot] -> [spot]",
      "~ pool eks: 2 -> 1 node in use", "- no longer binding: pool `eks` full (2/2 nodes)")),
])
def test_a_move_onto_spot_nodes_of_the_same_types_says_the_capacity_type(tmp_path, fitc, old, new, said):
    nodes = [_eks_node("od-node", "m7i.2xlarge", "amd64"),
             _eks_node("spot-node", "m7i.2xlarge", "amd64", "spot")]
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": nodes}))
    (tmp_path / "old.fit").write_text(old)
    (tmp_path / "new.fit").write_text(new)
    result = fitc("diff", "old.fit", "new.fit", cwd=tmp_path)
    assert (result.returncode, tuple(result.stdout.splitlines())) == (2, said), result.stderr
    document = json.loads(fitc("diff", "old.fit", "new.fit", "--format", "json", cwd=tmp_path).stdout)
    [moved] = document["workloads"]
    assert moved["capacity"]["after"] == ["spot"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


def test_rev_compares_with_the_policy_and_its_imports_at_a_revision(tmp_path, fitc):
    # the workload lives in an imported file: at HEAD it has 2 replicas; in the working tree 3
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    pools, workload = POLICY.split("workload web")
    (repo / "policies" / "fleet.fit").write_text(pools)
    (repo / "policies" / "shop.fit").write_text('import "./fleet.fit"\n\nworkload web' + workload)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    (repo / "policies" / "shop.fit").write_text(
        'import "./fleet.fit"\n\nworkload web' + workload.replace("replicas = 2", "replicas = 3"))
    changed = fitc("diff", "--rev", "HEAD", "policies/shop.fit", "--format", "json", cwd=repo)
    assert changed.returncode == 2, changed.stderr
    assert json.loads(changed.stdout)["workloads"][0]["placed"] == {"before": 2, "after": 3}
    three_small = pools.replace("count = 2\n  cpu = 2", "count = 3\n  cpu = 2")
    (repo / "policies" / "fleet.fit").write_text(three_small)
    # now 3 small nodes: the third replica no longer needs big_b (before 2.00, after 3.00)
    cheaper = json.loads(fitc("diff", "--rev", "HEAD", "policies/shop.fit", "--format", "json",
                              cwd=repo).stdout)
    assert (cheaper["before"]["cost_usd_h"], cheaper["after"]["cost_usd_h"]) == (2.0, 3.0)
    assert cheaper["in_use"] == [{"pool": "small_a", "before": 2, "after": 3}]


@pytest.mark.parametrize("args", [("only.fit",), ("a.fit", "b.fit", "c.fit"),
                                  ("--rev", "HEAD", "a.fit", "b.fit"), ("--rev", "no-such-rev", "a.fit"),
                                  ("a.fit", "missing.fit")])
def test_errors_exit_1_never_2_which_means_changes(tmp_path, fitc, args):
    for name in ("only.fit", "a.fit", "b.fit", "c.fit"):
        (tmp_path / name).write_text(POLICY)
    git(tmp_path, "init", "-q")
    result = fitc("diff", *args, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("fitc: error:"), result.stderr
    assert fitc("diff", "a.fit", "b.fit", "--frobnicate", cwd=tmp_path).returncode == 2  # bad flags
