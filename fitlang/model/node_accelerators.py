"""The accelerator an inventory node's GPUs, TPUs or Neuron devices are.

A node says what it has in several ways, and the first that names a known accelerator wins:
- a product label (`InventoryNode.gpu_product`: GPU feature discovery's, AMD's labeller's, the
  cloud's own: GKE's `cloud.google.com/gke-accelerator`, Karpenter's instance GPU name; a
  Slurm node's GRES type), matched to the stdlib's or the policy's accelerators by name;
- its instance type (`node.kubernetes.io/instance-type`), where an offer the policy knows (std/aws,
  std/gcp, std/azure) sells that type with accelerators: an EKS node without GFD has no product
  label, but a `p4d.24xlarge` is 8 A100-40GB.
A name is matched only among accelerators requested as the resource the node advertises: a TPU
node (its pods request `google.com/tpu`) is never an NVIDIA GPU, nor an `amd.com/gpu` node an
H100. Where nothing matches, the node's devices are an accelerator of their own, of the vendor
their resource names, holding the memory the labels say (none where they say nothing: no
memory rule holds there).
"""

from __future__ import annotations

import dataclasses
import re

from fitlang.check.program import Accelerator, Program
from fitlang.model.gpu_partitions import is_part_resource, partitioned
from fitlang.model.inventory import InventoryNode

# the device kind a node's extended resource is, and who makes it
_VENDORS = {"nvidia.com/gpu": "nvidia", "amd.com/gpu": "amd", "google.com/tpu": "google",
            "aws.amazon.com/neuron": "aws"}
_FAMILIES = {"google.com/tpu": "tpu", "aws.amazon.com/neuron": "neuron"}
_GPU_RESOURCES = frozenset({"nvidia.com/gpu", "amd.com/gpu"})


def node_accelerator(node: InventoryNode, stated: Accelerator | None, program: Program) -> Accelerator:
    """The accelerator a node's devices are: the inventory's `gpu_model` (`stated`), else the one
    the node names; a part of it where the node hands its GPUs out as MIG slices or shared
    replicas (`gpu_partitions.py`)."""
    partition = node.gpu_partition
    if partition is None:
        return _stated_for(node, stated, program) or _matched(node, program)
    # the whole GPU by its own name (a MIG slice's memory would mislead the match), and as the
    # resource whole GPUs are (parts may be advertised under names of their own)
    own_name = node.gpu_resource is not None and is_part_resource(node.gpu_resource)
    whole_node = dataclasses.replace(node, gpu_product=partition.whole_product, gpu_memory=None,
                                     gpu_resource="nvidia.com/gpu" if own_name else node.gpu_resource)
    whole = _stated_for(whole_node, stated, program) or _matched(whole_node, program)
    part = partitioned(whole, partition, node.gpu_product or whole.name)
    return dataclasses.replace(part, resource=node.gpu_resource or part.resource) if own_name else part


def _stated_for(node: InventoryNode, stated: Accelerator | None, program: Program) -> Accelerator | None:
    """The inventory's `gpu_model` where it is this node's: where the file's name for the
    node's devices fits it (`a100`: A100_40GB or A100_80GB, which the name cannot tell apart) or
    fits no accelerator at all. A node whose name fits others only keeps what its name says: an
    HPC centre's one `scontrol show node` file holds `gpu:a100` and `gpu:h100` nodes, and the
    `gpu_model = A100_80GB` that W0523 asks for made its H100 nodes A100s in silence (their
    memory, their power under a cap, every `model ==` rule)."""
    if stated is None or stated_kept_out(node, stated, program) is None:
        return stated
    return None


def stated_kept_out(node: InventoryNode, stated: Accelerator, program: Program) -> str | None:
    """The accelerator the node's own name gives it where that name fits others and not the
    `gpu_model` stated (so the node keeps its own), else None."""
    scored = _scored(node, program) if node.gpu_product else []
    if not scored or any(a.name == stated.name for _, a in scored):
        return None
    return max(scored, key=lambda pair: pair[0])[1].name


def _matched(node: InventoryNode, program: Program) -> Accelerator:
    found = _by_name(node, program) if node.gpu_product else None
    found = found or _by_instance_type(node, program)
    if found is not None:
        return found
    resource = node.gpu_resource or "nvidia.com/gpu"
    return Accelerator(name=node.gpu_product or "unknown-gpu", vendor=_VENDORS.get(resource, "nvidia"),
                       family=_FAMILIES.get(resource, "gpu"), memory=node.gpu_memory or 0,
                       resource=resource)


def _same_kind(node: InventoryNode, accelerator: Accelerator) -> bool:
    """Whether the node's devices may be this accelerator: a kubectl node's only those its
    pods request as the resource it advertises (an `amd.com/gpu` node is no H100, whatever a
    label says: a pod requesting `nvidia.com/gpu` there stays Pending); a Slurm node's any GPU
    (a GRES `gpu` names no vendor)."""
    if node.gpu_resource is None:
        return accelerator.resource in _GPU_RESOURCES
    return accelerator.resource == node.gpu_resource


def _normal(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _by_name(node: InventoryNode, program: Program) -> Accelerator | None:
    """The stdlib or policy accelerator the node's product label names, by the longest match
    (of those that match as well, the first declared)."""
    scored = _scored(node, program)
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def matched_alike(node: InventoryNode, program: Program,
                  taken: Accelerator | None = None) -> list[Accelerator]:
    """The accelerators of other memory that the node's product name matches as well as the
    one `_by_name` takes: a Slurm GRES type `a100` (Slurm states no GPU memory) names
    A100_40GB and A100_80GB alike, and the first is taken; empty where the name decides, or
    where the accelerator `taken` for the node is not the name's (decided otherwise: a GKE
    MIG partition's label, an instance type)."""
    scored = _scored(node, program) if node.gpu_product else []
    if not scored:
        return []
    best_score, best = max(scored, key=lambda pair: pair[0])
    if taken is not None and taken.name != best.name:
        return []
    return [a for score, a in scored if score == best_score and a.memory != best.memory]


def _scored(node: InventoryNode, program: Program) -> list[tuple[int, Accelerator]]:
    """Each accelerator the product name may be, with how well it matches."""
    product = _normal(node.gpu_product or "")
    scored = []
    for accelerator in program.accelerators.values():
        parts = [_normal(p) for p in accelerator.name.split("_")]
        if not parts[0] or parts[0] not in product or not _same_kind(node, accelerator):
            continue
        if accelerator.family != "gpu" and not all(p in product for p in parts):
            continue  # `TPU` names no TPU: a TPU's generation must match (v4 is no v5e)
        score = len(parts[0]) * 10 + sum(5 for p in parts[1:] if p and p in product)
        score -= sum(3 for p in parts[1:] if p and p not in product)
        if node.gpu_memory and abs(accelerator.memory - node.gpu_memory) < 0.15 * accelerator.memory:
            score += 4
        scored.append((score, accelerator))
    return scored


def _by_instance_type(node: InventoryNode, program: Program) -> Accelerator | None:
    """The accelerator an offer of the node's instance type has (the same number of them)."""
    if not node.instance_type:
        return None
    for offer in program.offers.values():
        gpu = offer.shape.gpu
        if offer.instance_type == node.instance_type and gpu is not None and \
                gpu.count == node.gpu_count and _same_kind(node, gpu.model):
            return gpu.model
    return None
