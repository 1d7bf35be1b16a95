"""GPUs a kubectl node hands out in parts: MIG slices and shared (time-sliced, MPS) replicas.

NVIDIA's device plugin can advertise a node's GPUs as more `nvidia.com/gpu` than it has, and
GPU feature discovery (GFD) says so in the node's labels
(github.com/NVIDIA/k8s-device-plugin, docs/gpu-feature-discovery/README.md, internal/lm/resource.go):
- MIG, `single` strategy: each GPU cut into equal slices, every slice one `nvidia.com/gpu`;
  `nvidia.com/gpu.product` = the GPU's name + `-MIG-<g>g.<m>gb` (`A100-SXM4-40GB-MIG-1g.5gb`),
  `nvidia.com/gpu.memory` the slice's memory, `nvidia.com/gpu.slices.gi` its compute slices.
- (Slurm) a MIG slice's GRES type names its GPU and profile: `Gres=gpu:a100_1g.5gb:7`.
- (GKE, which runs no GFD) `cloud.google.com/gke-gpu-partition-size`, and
  `cloud.google.com/gke-gpu-sharing-strategy` with `gke-max-shared-clients-per-gpu`.
- sharing (`sharing.timeSlicing` or `sharing.mps` with `replicas: N`, not renamed): each GPU
  advertised N times; `nvidia.com/gpu.replicas` = N, `nvidia.com/gpu.product` + `-SHARED`,
  `nvidia.com/gpu.memory` the whole GPU's.

Taken as whole GPUs, a MIG node of 8 A100-40GB reads as 56 A100s of 40 GB: fitc placed 40
replicas that need 20 GB of GPU memory on 1g.5gb slices of 4.75 GiB (each would run out of
memory). So each part is an accelerator of its own, named by its product label (as GFD means
it: a pod selecting `A100-SXM4-40GB` by label does not land on a slice), with its share of the
GPU's memory, compute and power, and no interconnect; one part to a pod (`rules/gpu.py`): CUDA
sees one MIG device per process, and two replicas of a shared GPU may be the same GPU.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from fractions import Fraction

from fitlang.check.program import Accelerator

# GFD's `A100-SXM4-40GB-MIG-1g.5gb`; Slurm's GRES type of a slice, `a100_1g.5gb` (gres.html,
# "MIG Management": AutoDetect=nvml names a slice's type by its GPU's and its profile)
_MIG_PROFILE = re.compile(r"(?:-MIG-|_)(\d+)g\.(\d+)gb$", re.IGNORECASE)
_SHARED_SUFFIX = "-SHARED"


@dataclass(frozen=True)
class GpuPartition:
    """What one advertised `nvidia.com/gpu` of a node is: a part of a physical GPU."""

    kind: str  # "mig" (a slice with its own memory) or "shared" (a replica of a whole GPU)
    share: Fraction  # of the GPU's compute and power
    memory: int | None  # bytes the part holds, where the labels say; None: its share of the GPU's
    whole_product: str  # the GPU's own name, the part's suffix taken off
    name: str = ""  # the part's own name ("" : the product label, which names it)


def read_partition(labels: dict[str, str], product: str | None,
                   memory: int | None) -> GpuPartition | None:
    """The partition a node's GFD labels state, or None for whole GPUs. `memory`: the node's
    `nvidia.com/gpu.memory` in bytes (a MIG slice's own; a shared GPU's whole). A MIG slice
    may itself be shared (`...-MIG-1g.5gb-SHARED`). Raises ValueError on a label that is not a
    whole number where one must be."""
    product = product or ""
    if labels.get(GKE_PARTITION_SIZE) or labels.get(GKE_SHARING_STRATEGY):
        return _gke_partition(labels, product, memory)
    shared = product.upper().endswith(_SHARED_SUFFIX)
    unshared = product[:-len(_SHARED_SUFFIX)] if shared else product
    replicas = _label_count(labels, "nvidia.com/gpu.replicas")
    part = _mig_slice(labels, unshared, memory) or GpuPartition("shared", Fraction(1), memory, unshared)
    if not shared and (replicas or 0) <= 1:
        return part if part.kind == "mig" else None
    if not replicas:  # shared, with no count: no memory to count on
        return GpuPartition("shared", part.share, 0, part.whole_product)
    return GpuPartition("shared", part.share / replicas,
                        None if part.memory is None else part.memory // replicas, part.whole_product)


# GKE's own labels on the GPU nodes it cuts or shares (it runs no GFD): "Running multi-instance
# GPUs" and "Share GPUs with multiple workloads" in GKE's documentation
GKE_PARTITION_SIZE = "cloud.google.com/gke-gpu-partition-size"  # `1g.5gb`
GKE_SHARING_STRATEGY = "cloud.google.com/gke-gpu-sharing-strategy"  # `time-sharing`, `mps`
GKE_SHARED_CLIENTS = "cloud.google.com/gke-max-shared-clients-per-gpu"  # `2`


def _gke_partition(labels: dict[str, str], product: str, memory: int | None) -> GpuPartition | None:
    """A GKE node's parts: MIG slices of `gke-gpu-partition-size`, shared by
    `gke-max-shared-clients-per-gpu` clients where a sharing strategy is set."""
    size = labels.get(GKE_PARTITION_SIZE) or ""
    profile = re.fullmatch(r"(\d+)g\.(\d+)gb", size)
    part = GpuPartition("shared", Fraction(1), memory, product, product)
    if profile is not None:
        slices = int(profile[1])
        part = GpuPartition("mig", Fraction(slices, _most_slices(product)),
                            memory if memory is not None else int(profile[2]) * 10 ** 9, product,
                            f"{product}-mig-{size}")
    elif size:
        raise ValueError(f"label {GKE_PARTITION_SIZE}={size!r} is no MIG profile (`1g.5gb`)")
    clients = _label_count(labels, GKE_SHARED_CLIENTS) if labels.get(GKE_SHARING_STRATEGY) else None
    if not clients or clients <= 1:
        return part if part.kind == "mig" else None
    return GpuPartition("shared", part.share / clients,
                        None if part.memory is None else part.memory // clients, product,
                        f"{part.name}-shared-{clients}")


def _mig_slice(labels: dict[str, str], product: str, memory: int | None) -> GpuPartition | None:
    profile = _MIG_PROFILE.search(product)
    if profile is None and not (labels.get("nvidia.com/mig.strategy") == "single" and "-MIG-" in product):
        return None
    slices = _label_count(labels, "nvidia.com/gpu.slices.gi") or (int(profile[1]) if profile else 1)
    slice_memory = memory if memory is not None else (int(profile[2]) * 10 ** 9 if profile else None)
    whole = product[:profile.start()] if profile else product.split("-MIG-")[0]
    return GpuPartition("mig", Fraction(slices, _most_slices(whole)), slice_memory, whole)


def _label_count(labels: dict[str, str], key: str) -> int | None:
    text = labels.get(key)
    if text is None:
        return None
    if not text.strip().isdigit():
        raise ValueError(f"label {key}={text!r} is not a whole number")
    return int(text)


def _most_slices(product: str) -> int:
    """Compute slices per GPU: 4 on an A30, 7 on the A100, H100, H200 and B200 families
    (NVIDIA MIG user guide, "Supported GPUs")."""
    return 4 if re.search(r"(^|[^0-9A-Z])A30([^0-9]|$)", product.upper()) else 7


def partitioned(whole: Accelerator, partition: GpuPartition, product: str) -> Accelerator:
    """The accelerator one part of `whole` is: its product label's name, its share of memory,
    compute and power, no interconnect."""
    def part(value: Fraction | None) -> Fraction | None:
        return None if value is None else value * partition.share

    memory = partition.memory if partition.memory is not None else int(whole.memory * partition.share)
    return dataclasses.replace(whole, name=partition.name or product, memory=memory,
                               bf16_tflops=part(whole.bf16_tflops), tdp_watts=part(whole.tdp_watts),
                               interconnect=None, partition=partition.kind)


# NVIDIA's device plugin advertises parts under names of their own where set up so: MIG's
# `mixed` strategy, one resource per profile (`nvidia.com/mig-1g.5gb`, GFD labelling each
# `nvidia.com/mig-1g.5gb.count`, `.memory` (MiB), `.product`, `.slices.gi`, `.replicas`), and
# sharing with `renameByDefault: true` (`nvidia.com/gpu.shared`, `nvidia.com/mig-1g.5gb.shared`);
# pods request them by those names (docs/gpu-feature-discovery/README.md, "MIG 'mixed' strategy")
SHARED_GPU_RESOURCE = "nvidia.com/gpu.shared"
_MIG_RESOURCE = re.compile(r"nvidia\.com/mig-(?P<profile>[0-9a-z.+]+?)(?P<shared>\.shared)?")


def is_part_resource(resource: str) -> bool:
    """Whether a node's extended resource is parts of NVIDIA GPUs under a name of their own."""
    return resource == SHARED_GPU_RESOURCE or _MIG_RESOURCE.fullmatch(resource) is not None


@dataclass(frozen=True)
class AdvertisedParts:
    """One kind of part a node advertises under its own resource name, as fitc uses it."""

    resource: str
    count: int
    product: str
    memory: int | None  # bytes a part holds, where the labels say
    partition: GpuPartition


def advertised_parts(resource: str, count: int, labels: dict[str, str]) -> AdvertisedParts:
    """The parts `count` of `resource` (`is_part_resource`) are, by GFD's labels. Raises
    ValueError on a label that is not a whole number where one must be."""
    whole = labels.get("nvidia.com/gpu.product") or "unknown-gpu"
    if resource == SHARED_GPU_RESOURCE:
        memory = _mebibytes(labels, "nvidia.com/gpu.memory")
        product = whole if whole.upper().endswith(_SHARED_SUFFIX) else whole + _SHARED_SUFFIX
        part = read_partition(labels, product, memory) or GpuPartition("shared", Fraction(1), 0, whole)
        return AdvertisedParts(resource, count, product, memory, part)
    found = _MIG_RESOURCE.fullmatch(resource)
    assert found is not None
    prefix = f"nvidia.com/mig-{found['profile']}"
    product = labels.get(f"{prefix}.product") or f"{whole}-MIG-{found['profile']}"
    shared = found["shared"] is not None
    if shared and not product.upper().endswith(_SHARED_SUFFIX):
        product += _SHARED_SUFFIX
    memory = _mebibytes(labels, f"{prefix}.memory")
    # the slice's labels as the `single` strategy writes them, for `read_partition`
    own = {"nvidia.com/mig.strategy": "single",
           **{f"nvidia.com/gpu.{key}": labels[f"{prefix}.{key}"] for key in ("slices.gi", "replicas")
              if f"{prefix}.{key}" in labels}}
    slice_part = read_partition(own, product, memory)
    assert slice_part is not None  # a `-MIG-` product under the `single` strategy is a slice
    return AdvertisedParts(resource, count, product, memory, slice_part)


def _mebibytes(labels: dict[str, str], key: str) -> int | None:
    count = _label_count(labels, key)
    return None if count is None else count * 2 ** 20
