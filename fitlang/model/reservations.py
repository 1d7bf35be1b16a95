"""What the kubelet of a bought cloud node keeps for itself: the gap between an instance's
capacity and the allocatable that pods are scheduled against.

Each managed Kubernetes service sets `kube-reserved` (and the hard eviction threshold for
`memory.available`) from the machine's shape by a documented formula; the model packs bought
nodes against capacity minus that reservation, as inventory nodes are packed against the
`allocatable` that `kubectl get nodes` reports. The stdlib offer files cite the same sources.

- EKS (AL2023 EKS-optimized AMI, `nodeadm`, github.com/awslabs/amazon-eks-ami,
  nodeadm/internal/kubelet/config.go): CPU 6% of the first core, 1% of the second, 0.5% of the
  third and fourth, 0.25% of every core above four (each range rounded down to a millicore);
  memory 11 MiB x maxPods + 255 MiB; `evictionHard` memory.available 100Mi. maxPods is the
  instance type's ENI limit (ENIs x (IPv4 addresses per ENI - 1) + 2, nodeadm's
  instance-info.jsonl; the former eni-max-pods.txt lists the same numbers), or nodeadm's
  fallback of 110 for a type it does not know.
- GKE (cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes, "Memory and CPU
  reservations"): CPU as EKS; memory 25% of the first 4 GiB, 20% of the next 4 GiB, 10% of the
  next 8 GiB, 6% of the next 112 GiB, 2% above 128 GiB (255 MiB on machines under 1 GiB); plus
  the 100 MiB eviction threshold.
- AKS 1.29 and later (learn.microsoft.com/azure/aks/node-resource-reservations): CPU from the
  documented table (1 core 60m, 2: 100m, 4: 140m, 8: 180m, 16: 260m, 32: 420m, 64: 740m; from 4
  cores on every entry is 100m + 10m per core, which fitc applies to core counts between and
  beyond the entries); memory the lesser of 20 MB x maxPods + 50 MB (taken as MiB, the kubelet's
  unit, which reserves slightly more) and 25% of the memory; plus the 100 Mi eviction threshold.
  maxPods defaults to 250, AKS's default for Azure CNI Overlay, its recommended network plugin.
"""

from __future__ import annotations

from fitlang.frozen import Frozen

MIB = 2 ** 20
GIB = 2 ** 30
EVICTION_HARD_MEMORY = 100 * MIB  # memory.available<100Mi: EKS, GKE and AKS >= 1.29 alike

# max pods per node where the offer states none: nodeadm's fallback (the kubelet's default),
# GKE Standard's default, AKS's default with Azure CNI Overlay
DEFAULT_MAX_PODS = {"aws": 110, "gcp": 110, "azure": 250}

# (millicores up to which, basis points reserved of them) as nodeadm and GKE reserve CPU
_CPU_TIERS = ((1000, 600), (2000, 100), (4000, 50), (None, 25))
# (GiB up to which, share) as GKE reserves memory
_GKE_MEMORY_TIERS = ((4, 25), (8, 20), (16, 10), (128, 6), (None, 2))
_AKS_CPU_TABLE = {1: 60, 2: 100}  # from 4 cores on: 100m + 10m per core


class Reservation(Frozen):
    """Kept back from pods on one node: CPU in millicores, memory in bytes (kube-reserved and
    the hard eviction threshold together)."""

    cpu_milli: int = 0
    memory: int = 0


def kubelet_reservation(provider: str, cpu_milli: int, memory: int,
                        max_pods: int | None) -> Reservation:
    """The reservation of a `provider` node with this shape; none for a provider fitc knows no
    formula for."""
    pods = max_pods if max_pods is not None else DEFAULT_MAX_PODS.get(provider, 110)
    if provider == "aws":
        return Reservation(_tiered_cpu(cpu_milli), (11 * pods + 255) * MIB + EVICTION_HARD_MEMORY)
    if provider == "gcp":
        return Reservation(_tiered_cpu(cpu_milli), _gke_memory(memory) + EVICTION_HARD_MEMORY)
    if provider == "azure":
        kube_reserved = min((20 * pods + 50) * MIB, memory // 4)
        return Reservation(_aks_cpu(cpu_milli), kube_reserved + EVICTION_HARD_MEMORY)
    return Reservation()


def _tiered_cpu(cpu_milli: int) -> int:
    """nodeadm's getCPUMillicoresToReserve: per range, its millicores x basis points / 10000,
    rounded down to a millicore."""
    reserved, start = 0, 0
    for upper, basis_points in _CPU_TIERS:
        end = cpu_milli if upper is None else min(cpu_milli, upper)
        if end > start:
            reserved += (end - start) * basis_points // 10000
        if upper is None or cpu_milli <= upper:
            break
        start = upper
    return reserved


def _gke_memory(memory: int) -> int:
    """The tiers summed exactly, rounded up to a byte (pods get the byte less)."""
    if memory < GIB:
        return 255 * MIB
    reserved, start = 0, 0
    for upper_gib, percent in _GKE_MEMORY_TIERS:
        end = memory if upper_gib is None else min(memory, upper_gib * GIB)
        reserved += max(0, end - start) * percent
        if upper_gib is None or memory <= upper_gib * GIB:
            break
        start = upper_gib * GIB
    return -(-reserved // 100)


def _aks_cpu(cpu_milli: int) -> int:
    cores = max(1, cpu_milli // 1000)
    if cores in _AKS_CPU_TABLE:
        return _AKS_CPU_TABLE[cores]
    return 100 + 10 * cores  # 3 cores: 130m, between the 2- and 4-core entries
