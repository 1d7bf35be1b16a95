"""Facts about the clouds that both the Terraform renderer and its fidelity check rely on.

Data only, no logic: where each Cloud TPU machine type is sold. GKE TPU node pools must be
created in a zone that offers the TPU ("TPU regions and zones", cloud.google.com/tpu/docs/
regions-zones, read 2026); a regional pool without `node_locations` would try every zone of
the cluster. Per machine-type prefix (ct5lp: v5e, ct5p: v5p, ct6e: v6e), region -> the zone
fitc writes (the first one Google lists as generally available there).
"""

from __future__ import annotations

GKE_TPU_ZONES: dict[str, dict[str, str]] = {
    "ct5lp-": {"us-central1": "us-central1-a", "us-south1": "us-south1-a",
               "us-west1": "us-west1-c", "us-west4": "us-west4-a",
               "europe-west4": "europe-west4-b"},
    "ct5p-": {"us-central1": "us-central1-a", "us-east5": "us-east5-a"},
    "ct6e-": {"us-central1": "us-central1-b", "us-east1": "us-east1-d", "us-east5": "us-east5-a",
              "europe-west4": "europe-west4-a"},
}


def tpu_zone(machine_type: str, region: str) -> str | None:
    """The zone of `region` that sells TPU `machine_type`; None when none is known to."""
    for prefix, zones in GKE_TPU_ZONES.items():
        if machine_type.startswith(prefix):
            return zones.get(region)
    return None
