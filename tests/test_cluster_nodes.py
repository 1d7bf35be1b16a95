"""Nodes the cloud named, read from the cluster (`kubectl get pods,nodes -A -o json`), counted as
the nodes fitc bought (fitlang/model/cluster_nodes.py), and `release-nodes.sh` releasing them by
those names, run again after it stopped halfway (fitlang/targets/terraform_release.py).

The node group's name is read from the Terraform files a plan wrote, the script run against
stand-ins of kubectl and the cloud tools that log their words (test_plan_targets.py's), and
the plan checked by `fitc verify --current`: none of it through the writer's code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plan_targets import (
    CHANGES,
    CLOUDS,
    SHRINK,
    _cloud_of,
    _group_name,
    _release_folder,
    _run_release,
    _shrunk,
    codes,
    fitc,
    planned,
)

# how each cloud names a group's nodes (the providers' own patterns)
CLOUD_NAMES = {"aws": ["ip-10-0-1-5.ec2.internal", "ip-10-0-2-9.ec2.internal", "ip-10-0-3-17.ec2.internal"],
               "gcp": [f"gke-prod-fitc-new-1a2b3c4d-{k}" for k in ("x1z2", "k9q3", "p0w7")],
               "azure": [f"aks-fitc12ab34cd-31245-vmss00000{k}" for k in range(3)]}
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


def cluster_state(provider: str | None, cloud: dict, on: list[str]) -> dict:
    """`kubectl get pods,nodes -A -o json` of the cluster: a `web` pod on each node of `on`,
    and every node of `cloud` with its labels (and the provider's region and instance type:
    None, only those `cloud` gives)."""
    instance_type, region = CLOUDS[provider] if provider is not None else (None, None)
    stated = {REGION_LABEL: region, INSTANCE_TYPE_LABEL: instance_type} if provider is not None else {}
    pods = [{"kind": "Pod", "metadata": {"name": f"web-7d9f8b6c5-{index}", "namespace": "shop",
                                         "labels": {"app.kubernetes.io/name": "web"}},
             "spec": {"nodeName": node}, "status": {"phase": "Running"}} for index, node in enumerate(on)]
    nodes = [{"kind": "Node", "metadata": {"name": node, "labels": {
        **shown["labels"], **stated}},
        "spec": {"providerID": shown["providerID"]}} for node, shown in cloud.items()]
    return {"apiVersion": "v1", "kind": "List", "items": pods + nodes}


def fitcs_group(tmp_path: Path, provider: str) -> str:
    """The node group fitc's Terraform target writes for the offer, as its files name it."""
    document, files, _, _ = _shrunk(tmp_path, provider)
    return _group_name(files, _release_folder(document))


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
def test_a_clusters_own_names_are_the_bought_nodes_the_plan_moves_off_and_releases(tmp_path, provider):
    group = fitcs_group(tmp_path, provider)
    names = CLOUD_NAMES[provider][:2]
    cloud = _cloud_of(provider, group, names)
    (tmp_path / "cluster.json").write_text(json.dumps(cluster_state(provider, cloud, names)))
    document, files, stderr = planned(tmp_path, tmp_path / "s.fit", tmp_path / "cluster.json", "terraform",
                                      out="cluster-out")
    # both nodes were bought (priced before the plan), one is released by its own name: no node
    # the policy lacks (W0802), none named as fitc names it (W0827), none left to the cloud (W0820)
    assert codes(stderr) == []
    assert document["cost_before"] == 1.0 and document["buy"] == []
    [gone] = document["release"]
    [kept] = [node for node in names if node != gone]
    assert [m["source"] for wave in document["waves"] for m in wave["moves"]] == [gone]
    (tmp_path / "plan.json").write_text(json.dumps(document))
    verified = fitc("verify", "s.fit", "plan.json", "--current", "cluster.json", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    result, logged = _run_release(tmp_path, files, cloud, f"{_release_folder(document)}/run.sh")
    assert result.returncode == 0, result.stderr
    assert ["kubectl", "drain", gone, "--ignore-daemonsets", "--delete-emptydir-data"] in logged
    assert not any(kept in words for words in logged if _changes(words))
    assert list(json.loads((tmp_path / "cloud.json").read_text())) == [kept]  # the cloud deleted it


def test_pods_of_no_workload_on_a_node_the_cloud_named_take_its_room(tmp_path):
    """A logging agent asks 6 of a cloud-named bought node's 8 CPUs: the plan that packs the
    two `web` replicas (2 CPUs each) onto one node never packs them beside it, whichever node
    it runs on (the room is taken off the node known by the cloud's name, as off fitc's)."""
    group = fitcs_group(tmp_path, "aws")
    names = CLOUD_NAMES["aws"][:2]
    cloud = _cloud_of("aws", group, names)
    for busy in names:
        state = cluster_state("aws", cloud, names)
        state["items"].append({"kind": "Pod", "metadata": {"name": "logger-x1", "namespace": "ops"},
                               "spec": {"nodeName": busy, "containers": [
                                   {"name": "agent", "resources": {"requests": {"cpu": "6"}}}]},
                               "status": {"phase": "Running"}})
        (tmp_path / "cluster.json").write_text(json.dumps(state))
        document, _, _ = planned(tmp_path, tmp_path / "s.fit", tmp_path / "cluster.json", "terraform",
                                 out=f"out-{busy}")
        targets = {m["target"] for wave in document["waves"] for m in wave["moves"]}
        assert busy not in targets, (busy, targets)
        (tmp_path / "plan.json").write_text(json.dumps(document))
        verified = fitc("verify", "s.fit", "plan.json", "--current", "cluster.json", cwd=tmp_path)
        assert verified.returncode == 0, verified.stdout + verified.stderr


def _changes(words: list[str]) -> bool:
    return words[0] == "terraform" or tuple(words[:2]) in CHANGES or tuple(words[:3]) in CHANGES


@pytest.mark.parametrize(("provider", "named_by"), [("aws", "cloud"), ("gcp", "cloud"), ("aws", "fitc")])
def test_a_release_run_again_after_it_stopped_halfway_skips_only_the_nodes_it_deleted(
        tmp_path, provider, named_by, monkeypatch):
    group = fitcs_group(tmp_path, provider)
    instance_type, region = CLOUDS[provider]
    # three nodes, a replica on each; the plan packs the three onto one and releases two.
    # Named by the cloud: the state as the cluster lists it; by fitc: fitc's placement JSON,
    # and a cluster whose nodes have those names
    names = CLOUD_NAMES[provider] if named_by == "cloud" else [f"new-{region}-{k}" for k in range(3)]
    (tmp_path / "s.fit").write_text(SHRINK.format(provider=provider, instance_type=instance_type,
                                                  region=region).replace("replicas = 2", "replicas = 3"))
    cloud = _cloud_of(provider, group, names)
    state = cluster_state(provider, cloud, names) if named_by == "cloud" else {
        "assignments": [{"workload": "web", "replica": r, "node": node} for r, node in enumerate(names)],
        "nodes": [{"name": node, "provisioned": True} for node in names]}
    (tmp_path / "cluster.json").write_text(json.dumps(state))
    document, files, stderr = planned(tmp_path, tmp_path / "s.fit", tmp_path / "cluster.json", "terraform",
                                      out="cluster-out")
    assert codes(stderr) == ([] if named_by == "cloud" else ["W0827"])
    first, second = document["release"]
    [kept] = [node for node in names if node not in (first, second)]
    script = f"{_release_folder(document)}/run.sh"
    instance = {node: shown["providerID"].rsplit("/", 1)[-1] for node, shown in cloud.items()}
    monkeypatch.setenv("FITC_TEST_FAILS", instance[second])  # the cloud fails the second delete
    result, _ = _run_release(tmp_path, files, cloud, script)
    assert result.returncode != 0
    assert sorted(json.loads((tmp_path / "cloud.json").read_text())) == sorted([second, kept])
    monkeypatch.delenv("FITC_TEST_FAILS")
    (tmp_path / "log").unlink()
    # run again, on the cloud as the first run left it (the stand-in kept it in cloud.json)
    left = json.loads((tmp_path / "cloud.json").read_text())
    result, logged = _run_release(tmp_path, files, left, script)
    assert result.returncode == 0, result.stderr
    assert f"node {first} is gone already" in result.stderr
    deleted = [words for words in logged if words[0] in ("aws", "gcloud") and _changes(words)
               and words[:2] != ["aws", "eks"]]
    assert len(deleted) == 1 and instance[second] in deleted[0]  # never the first again, never another
    assert not any(kept in words for words in logged if _changes(words))
    assert list(json.loads((tmp_path / "cloud.json").read_text())) == [kept]
    if provider == "aws":  # the floor lowered with the group's size as found: 2, not the plan's 3
        assert [w[-1] for w in logged if w[:3] == ["aws", "eks", "update-nodegroup-config"]] == [
            "minSize=1,maxSize=2,desiredSize=2"]


MATCHED = """\
offer new {
  provider = aws
  instance_type = "m5.2xlarge"
  regions = ["us-east-1", "us-west-2"]
  cpu = 8
  memory = 32GiB
  price = 0.50 USD/h
}

buy {
  offers = [new]
}

workload web {
  image = "registry.example.com/web:1"
  replicas = 8
  cpu = 1
  memory = 1GiB
}
"""


def test_a_node_is_bought_by_fitcs_group_or_else_its_type_and_region_and_never_by_a_guess(tmp_path):
    from fitlang.driver import Compilation

    group, other = "eks.amazonaws.com/nodegroup", {INSTANCE_TYPE_LABEL: "m5.2xlarge"}
    hostile = "ip-1'$(touch pwned)`touch pwned`\n.ec2.internal"
    labels = {
        "in-fitcs-group": {group: "fitc-new", REGION_LABEL: "us-east-1", **other},
        hostile: {group: "fitc-new", REGION_LABEL: "us-west-2", **other},
        "in-no-region": {group: "fitc-new", **other},  # either region's group: W0806
        "in-another-group": {group: "default-pool", REGION_LABEL: "us-east-1", **other},
        "of-no-group": {REGION_LABEL: "us-west-2", **other},  # self-managed: type and region
        "of-no-group-or-region": {**other},  # W0806
        "karpenters": {"karpenter.sh/nodepool": "default", REGION_LABEL: "us-east-1", **other},
        "of-another-type": {REGION_LABEL: "us-east-1", INSTANCE_TYPE_LABEL: "m5.large"},
    }
    cloud = {node: {"labels": shown, "providerID": f"aws:///us-east-1a/i-{index}"}
             for index, (node, shown) in enumerate(labels.items())}
    state = cluster_state(None, cloud, list(labels))
    (tmp_path / "p.fit").write_text(MATCHED)
    (tmp_path / "cluster.json").write_text(json.dumps(state))
    compilation = Compilation(tmp_path / "p.fit", current=str(tmp_path / "cluster.json"))
    read = compilation.current_state()
    assert read is not None
    assert dict(read.cluster_bought) == {"in-fitcs-group": "new@us-east-1", hostile: "new@us-west-2",
                                         "of-no-group": "new@us-west-2"}
    assert sorted(read.bought) == sorted(dict(read.cluster_bought))
    found = {d.code: d.message for d in compilation.current_diagnostics()}
    assert sorted(found) == ["W0802", "W0806"]
    assert "2 nodes" in found["W0806"] and "in-no-region" in found["W0806"]
    assert "5 running replicas on 5 nodes" in found["W0802"]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("closed", ["cordoned", "not Ready"])
def test_a_node_the_cluster_cordoned_or_lost_takes_no_work_and_is_the_one_released(tmp_path, closed):
    """Two cloud-named bought nodes run a `web` replica each; one node holds both. Whichever
    node the cluster cordons (or lists not Ready) is the one emptied and released, and the
    plan says so (W0807): the scheduler would start no pod there."""
    group = fitcs_group(tmp_path, "aws")
    names = CLOUD_NAMES["aws"][:2]
    cloud = _cloud_of("aws", group, names)
    for shut in names:
        state = cluster_state("aws", cloud, names)
        [node] = [item for item in state["items"]
                  if item["kind"] == "Node" and item["metadata"]["name"] == shut]
        if closed == "cordoned":
            node["spec"]["unschedulable"] = True
        else:
            node["status"] = {"conditions": [{"type": "Ready", "status": "Unknown"}]}
        (tmp_path / "cluster.json").write_text(json.dumps(state))
        document, _, stderr = planned(tmp_path, tmp_path / "s.fit", tmp_path / "cluster.json", "terraform",
                                      out=f"out-{shut}")
        assert codes(stderr) == ["W0807"]
        assert document["release"] == [shut]
        assert [m["source"] for wave in document["waves"] for m in wave["moves"]] == [shut]
        (tmp_path / "plan.json").write_text(json.dumps(document))
        verified = fitc("verify", "s.fit", "plan.json", "--current", "cluster.json", cwd=tmp_path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
