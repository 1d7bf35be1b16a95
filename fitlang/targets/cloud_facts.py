"""Facts about the clouds that the renderers and their fidelity checks rely on.

The taints a cloud puts on the nodes of a pool fitc buys itself, which a pod fitc places there
must tolerate or stay Pending (`cloud_taints`):
- AKS, every node of a Spot pool: `kubernetes.azure.com/scalesetpriority=spot:NoSchedule`
  (learn.microsoft.com, "Add an Azure Spot node pool");
- GKE, a GPU node pool in a cluster that has a pool without GPUs (every cluster fitc adds a pool
  to: its default pool): `nvidia.com/gpu=present:NoSchedule` ("About GPUs in GKE"; GKE's
  ExtendedResourceToleration admits only pods that request GPUs), and a TPU pool's
  `google.com/tpu=present:NoSchedule`;
- GKE, an Arm node pool: `kubernetes.io/arch=arm64:NoSchedule` (the node pool's
  `TaintConfig.ArchitectureTaintBehavior`, unspecified: ARM, "taints all the nodes in the node
  pool with the default ARM taint").
EKS managed node groups put none.

Where each Cloud TPU machine type is sold. GKE TPU node pools must be
created in a zone that offers the TPU ("TPU regions and zones", cloud.google.com/tpu/docs/
regions-zones, read 2026); a regional pool without `node_locations` would try every zone of
the cluster. Per machine-type prefix (ct5lp: v5e, ct5p: v5p, ct6e: v6e), region -> the zone
fitc writes (the first one Google lists as generally available there).
"""

from __future__ import annotations

from fitlang.model.problem import NodeClass

GKE_TPU_ZONES: dict[str, dict[str, str]] = {
    "ct5lp-": {"us-central1": "us-central1-a", "us-south1": "us-south1-a",
               "us-west1": "us-west1-c", "us-west4": "us-west4-a",
               "europe-west4": "europe-west4-b"},
    "ct5p-": {"us-central1": "us-central1-a", "us-east5": "us-east5-a"},
    "ct6e-": {"us-central1": "us-central1-b", "us-east1": "us-east1-d", "us-east5": "us-east5-a",
              "europe-west4": "europe-west4-a"},
}


# the taints above: (key, value, effect)
AKS_SPOT = ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")
GKE_ACCELERATOR_TAINT_KEYS = ("nvidia.com/gpu", "google.com/tpu")
GKE_ARM = ("kubernetes.io/arch", "arm64", "NoSchedule")


def cloud_taints(node_class: NodeClass) -> list[tuple[str, str, str]]:
    """The taints a bought class's nodes get from their cloud (none for nodes not bought:
    an inventory's come from its file)."""
    if node_class.offer is None:
        return []
    if node_class.provider == "azure":
        return [AKS_SPOT] if node_class.spot else []
    if node_class.provider != "gcp":
        return []
    taints = []
    device = node_class.accelerator.resource if node_class.accelerator is not None else None
    if device in GKE_ACCELERATOR_TAINT_KEYS and node_class.capacity.get("gpu"):
        taints.append((device, "present", "NoSchedule"))
    if node_class.arch == "arm64":
        taints.append(GKE_ARM)
    return taints


def tpu_zone(machine_type: str, region: str) -> str | None:
    """The zone of `region` that sells TPU `machine_type`; None when none is known to."""
    for prefix, zones in GKE_TPU_ZONES.items():
        if machine_type.startswith(prefix):
            return zones.get(region)
    return None
