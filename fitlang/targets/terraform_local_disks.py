"""The local disks of GKE and AKS node pools: set up as the kubelet's ephemeral storage where a
node of the pool carries more `disk` than its root disk admits (docs/targets.md, Terraform), as
`model/node_disks.py` counts them; EKS does the same in its launch template (`terraform_eks.py`).

- GKE: `node_config { ephemeral_storage_local_ssd_config { local_ssd_count = N } }`, N the
  offer's Local SSDs (its `disk` / 375 GiB): GKE puts /var/lib/kubelet and the container
  runtime on one RAID0 of them instead of the boot disk. On machine types that bundle their
  Local SSDs (a3-highgpu-8g's 16, a2-ultragpu-8g's 8) N must be the bundled count, which the
  offer's `disk` is.
- AKS: `kubelet_disk_type = "Temporary"`: the kubelet's data on the VM's temp disk, on the
  sizes whose offer `disk` is that disk; `"OS"` otherwise (the OS disk the model counts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fitlang.model.node_disks import GKE_LOCAL_SSD, local_allocatable, needs_local_storage
from fitlang.targets.terraform_eks import packed_disk

if TYPE_CHECKING:
    from fitlang.targets.base import CompileContext
    from fitlang.targets.terraform import Purchase


def _needs_local_disk(context: CompileContext, purchase: Purchase) -> bool:
    node_class = purchase.node_class
    provider = node_class.provider or "aws"
    key = (node_class.pool, purchase.region, purchase.spot)
    return local_allocatable(provider, node_class.local_disk, node_class.instance_type) > 0 \
        and needs_local_storage(provider, packed_disk(context, key))


def gke_local_ssds(context: CompileContext, purchase: Purchase) -> int:
    """The Local SSDs a GKE pool sets up as ephemeral storage (0: none, the boot disk)."""
    return purchase.node_class.local_disk // GKE_LOCAL_SSD if _needs_local_disk(context, purchase) else 0


def aks_kubelet_disk(context: CompileContext, purchase: Purchase) -> str:
    """The disk an AKS pool's kubelets keep their data on."""
    return "Temporary" if _needs_local_disk(context, purchase) else "OS"
