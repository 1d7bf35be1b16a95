"""The ephemeral storage a bought node's kubelet admits: what a workload's `disk` is packed
against on the nodes fitc buys.

A kubelet counts its pods' ephemeral storage (writable layers, logs, `emptyDir`) on the
filesystem of its root directory, /var/lib/kubelet: on a node group that is the node's root
disk, whatever local NVMe the instance has, unless the group sets the NVMe up for it. The
Terraform target writes each group's root disk at its provider's default size, and the model
packs `disk` against it:
- EKS: a 20 GiB gp3 root volume (EKS's default `disk_size`), in the launch template fitc writes
  for every group. On an offer with local NVMe (its `disk`, the instance store), nodeadm's
  NodeConfig `instance.localStorage.strategy: RAID0` puts /var/lib/kubelet on one RAID0 array
  of all of it; fitc writes that for a group whose nodes carry more `disk` than the root disk
  admits, so such a node admits the larger of the two. nodeadm's kubelet keeps
  `kubeReserved` ephemeral-storage 1Gi and evicts below `nodefs.available` 10%
  (github.com/awslabs/amazon-eks-ami, nodeadm/internal/kubelet/config.go).
- GKE: a 100 GB boot disk (`disk_size_gb`, GKE's default). GKE documents a node of that disk
  at 47060071478 bytes of allocatable ephemeral storage (cloud.google.com/kubernetes-engine/
  docs/concepts/plan-node-sizes: capacity 98831908Ki, 94.25% of the disk, less 6 GiB + 35% of
  the disk for the system and 10% for eviction): fitc packs to that figure. An offer's `disk`
  on GCP is its bundled Local SSD, 375 GiB a disk: the pool's `ephemeral_storage_local_ssd_config
  { local_ssd_count }` puts the kubelet's ephemeral storage on one RAID0 of them, written for
  a pool whose nodes carry more `disk` than the boot disk admits. What GKE reserves there is
  not confirmed here: fitc counts the boot disk's reservation on the array (94.25%, less
  6 GiB + 35% and 10%), the most GKE is known to keep of a disk.
- AKS: a 128 GiB managed OS disk (`os_disk_size_gb`, AKS's default size); the kubelet evicts
  below `nodefs.available` 10%. `kubelet_disk_type = "Temporary"` puts the kubelet on the VM's
  temp (resource) disk instead: written for a pool whose nodes need more than the OS disk,
  on the sizes whose `disk` is that temp disk (`AKS_TEMP_DISK_SIZES`). The other Azure offers'
  `disk` is local NVMe (ND-series), which AKS does not give the kubelet: there `disk` is
  packed against the OS disk.
The filesystem on a disk is smaller than the disk (partitions, the filesystem's metadata: an
AKS node's 128 GiB OS disk shows 123.87 GiB of capacity): fitc counts 95% of a disk, the safe
side of what it knows.

Bought capacity always runs as these node groups (the Terraform target), so the model holds
whatever the target the policy compiles to.
"""

from __future__ import annotations

from fractions import Fraction

GIB = 2 ** 30
ROOT_DISK_GIB = {"aws": 20, "gcp": 100, "azure": 128}  # what the Terraform target writes
GKE_BOOT_DISK_ALLOCATABLE = 47060071478  # GKE's documented node of a 100 GB boot disk
FILESYSTEM_SHARE = Fraction(95, 100)
EVICTION_SHARE = Fraction(10, 100)  # nodefs.available<10%: nodeadm, GKE, AKS alike
EKS_KUBE_RESERVED_STORAGE = GIB  # nodeadm's kubeReserved ephemeral-storage
GKE_LOCAL_SSD = 375 * GIB  # one Local SSD disk (Compute Engine; the offers' `disk` is n of them)
GKE_FILESYSTEM_SHARE = Fraction(9425, 10000)  # a 100 GB boot disk's 98831908Ki of capacity
GKE_SYSTEM_RESERVED = (6 * GIB, Fraction(35, 100))  # GKE's ephemeral storage reservation: 6 GiB + 35%
# Azure sizes whose offer `disk` (stdlib/azure.fit) is the temp (resource) disk AKS's
# `kubelet_disk_type = "Temporary"` uses, as Azure's size tables state it
AKS_TEMP_DISK_SIZES = frozenset({"Standard_NC24ads_A100_v4", "Standard_NV36ads_A10_v5",
                                 "Standard_NC4as_T4_v3", "Standard_F8s_v2"})


def root_disk_bytes(provider: str) -> int:
    """The root disk the Terraform target writes for a node of `provider`."""
    return ROOT_DISK_GIB.get(provider, ROOT_DISK_GIB["aws"]) * GIB


def root_allocatable(provider: str) -> int:
    """The ephemeral storage a node of `provider` admits on its root disk."""
    return disk_allocatable(provider, root_disk_bytes(provider))


def local_allocatable(provider: str, local_disk: int, instance_type: str | None = None) -> int:
    """The ephemeral storage a node admits on its local disk set up for the kubelet (EKS's
    RAID0 of the instance store, GKE's Local SSD, AKS's temp disk); 0 where fitc sets none up."""
    if local_disk <= 0:
        return 0
    if provider == "gcp":
        return gke_local_ssd_allocatable(local_disk // GKE_LOCAL_SSD) \
            if local_disk % GKE_LOCAL_SSD == 0 else 0
    if provider == "azure" and instance_type not in AKS_TEMP_DISK_SIZES:
        return 0
    return disk_allocatable(provider, local_disk)


def gke_local_ssd_allocatable(count: int) -> int:
    """What a GKE node admits on `count` Local SSDs set up as its ephemeral storage."""
    disk = count * GKE_LOCAL_SSD
    reserved = GKE_SYSTEM_RESERVED[0] + disk * GKE_SYSTEM_RESERVED[1]
    return max(0, int(disk * GKE_FILESYSTEM_SHARE * (1 - EVICTION_SHARE) - reserved))


def ephemeral_storage(provider: str, local_disk: int, instance_type: str | None = None) -> int:
    """What a bought node admits: its root disk's, or its local disk's where fitc sets that up
    and it is the larger."""
    return max(root_allocatable(provider), local_allocatable(provider, local_disk, instance_type))


def needs_local_storage(provider: str, packed: int) -> bool:
    """Whether a node packed with `packed` bytes of `disk` needs its local NVMe set up."""
    return packed > root_allocatable(provider)


def disk_allocatable(provider: str, disk: int) -> int:
    """The ephemeral storage a node of `provider` admits on a disk of `disk` bytes (GKE: only
    its 100 GB boot disk is known; any other size counts as nothing)."""
    if provider == "gcp":
        return GKE_BOOT_DISK_ALLOCATABLE if disk == root_disk_bytes("gcp") else 0
    filesystem = disk * FILESYSTEM_SHARE
    reserved = EKS_KUBE_RESERVED_STORAGE if provider == "aws" else 0
    return max(0, int(filesystem * (1 - EVICTION_SHARE)) - reserved)
