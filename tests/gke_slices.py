"""GKE TPU nodes as `kubectl get nodes -o json` prints them (GKE's TPU labels and taint, the node
pool label that names a slice), for the tests of multi-host TPU slices and their differential
(bench/differential_slices.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

V5E = ("tpu-v5-lite-podslice", "ct5lp-hightpu-4t")


def tpu_host(name: str, pool: str, topology: str, chips: int = 4, cpu: str = "111650m",
             memory: str = "183Gi") -> dict:
    """One host of a v5e node pool of `topology` (a multi-host slice where it holds more
    chips than `chips`: `2x4` on 4-chip hosts is 2 hosts)."""
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "node.kubernetes.io/instance-type": V5E[1], "cloud.google.com/gke-nodepool": pool,
              "topology.kubernetes.io/region": "europe-west4",
              "topology.kubernetes.io/zone": "europe-west4-b",
              "cloud.google.com/gke-tpu-accelerator": V5E[0], "cloud.google.com/gke-tpu-topology": topology}
    resources = {"cpu": cpu, "memory": memory, "pods": "110", "google.com/tpu": str(chips)}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {"taints": [{"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}]},
            "status": {"allocatable": resources, "capacity": resources,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def cpu_node(name: str, cpu: str = "15890m", memory: str = "57Gi") -> dict:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "node.kubernetes.io/instance-type": "n2-standard-16",
              "cloud.google.com/gke-nodepool": "default", "topology.kubernetes.io/region": "europe-west4",
              "topology.kubernetes.io/zone": "europe-west4-c"}
    resources = {"cpu": cpu, "memory": memory, "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {}, "status": {"allocatable": resources, "capacity": resources,
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


def slice_hosts(pool: str, topology: str, chips: int = 4) -> list[dict]:
    """Every host of one node pool of `topology` (`<pool>-0`, `<pool>-1`, ...)."""
    hosts = max(1, math.prod(int(side) for side in topology.split("x")) // chips)
    return [tpu_host(f"{pool}-{h}", pool, topology, chips) for h in range(hosts)]


def write_nodes(path: Path, nodes: list[dict]) -> None:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}, indent=1))


def tpu_workload(name: str, replicas: int, chips: int = 4, gang: bool = False, cpu: int = 8,
                 memory_gib: int = 16) -> str:
    """A job asking `chips` v5e chips a replica, as a policy writes it."""
    return (f"workload {name} {{\n  kind = job\n  replicas = {replicas}\n"
            + ("  gang = true\n" if gang else "")
            + f"  cpu = {cpu}\n  memory = {memory_gib}GiB\n  gpu {{\n    count = {chips}\n"
            "    require model == TPU_V5E\n  }\n  image = \"jax:1\"\n}\n")


def inventory(file: str = "nodes.json", price: str = "4 USD/h") -> str:
    return f'import "std/accelerators"\n\ninventory gke {{\n  format = kubectl\n  file = "{file}"\n' \
           f'  price = {price}\n}}\n'
