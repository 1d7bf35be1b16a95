"""The launch template of an EKS node group: what each of its nodes' kubelet admits, set to what
fitc packed the node to (docs/targets.md, Terraform).

A managed node group without one runs its AMI's defaults: nodeadm sets `maxPods` to the
instance type's ENI limit (or EKS's own cap), reserves memory by that number, and the kubelet
counts ephemeral storage on the 20 GiB root volume whatever instance store the node has. fitc
packed each bought node to `NodeClass.kubelet_max_pods` pods, to capacity less
`NodeClass.reserved`, and to the ephemeral storage `model/node_disks.py` works out; the
launch template says so to nodeadm, in a NodeConfig in the user data's MIME multipart (the
form EKS merges with its own for Amazon Linux 2023 managed node groups, as eksctl writes it,
pkg/nodebootstrap/al2023.go):
- `kubelet.config.maxPods` and `kubeReserved` (cpu, memory: what the model reserved;
  ephemeral-storage 1Gi, nodeadm's own);
- `instance.localStorage.strategy: RAID0` where a node of the group carries more `disk` than
  its root disk admits: nodeadm puts /var/lib/kubelet on one RAID0 array of the instance store;
- the root volume, 20 GiB gp3 on /dev/xvda (the AL2023 AMIs' root device): the size the model
  counts, stated rather than left to the AMI.
The template names no user string (Terraform names it), so no policy text reaches the user data.
"""

from __future__ import annotations

from collections import Counter

from fitlang.model.node_disks import ROOT_DISK_GIB, needs_local_storage
from fitlang.model.problem import NodeClass
from fitlang.model.reservations import EVICTION_HARD_MEMORY, MIB
from fitlang.targets.base import CompileContext

ROOT_DEVICE = "/dev/xvda"
BOUNDARY = "//"


def packed_disk(context: CompileContext, node_class_key: tuple[str, str, bool]) -> int:
    """The most `disk` a bought node of (pool, region, spot) carries: the sum over the replicas
    placed there (with a horizon, over all its runs, the safe side)."""
    owners = context.problem.owners()
    per_node: Counter[str] = Counter()
    for assignment in context.placement.assignments:
        node_class = owners[assignment.node]
        if node_class.provisioned and (node_class.pool, node_class.region or "", node_class.spot) \
                == node_class_key:
            per_node[assignment.node] += context.problem.demand(assignment.workload).requests.get("disk", 0)
    return max(per_node.values(), default=0)


def launch_template(context: CompileContext, node_class: NodeClass, key: tuple[str, str, bool]) -> dict:
    """The template's parts: its root volume and its user data."""
    local = needs_local_storage("aws", packed_disk(context, key))
    return {"root": [("volume_size", str(ROOT_DISK_GIB["aws"])), ("volume_type", '"gp3"')],
            "device": f'"{ROOT_DEVICE}"', "user_data": user_data(node_class, local).splitlines()}


def user_data(node_class: NodeClass, local_storage: bool) -> str:
    """The MIME multipart user data whose one part is the NodeConfig."""
    memory = node_class.reserved.get("memory", 0) - EVICTION_HARD_MEMORY  # kubeReserved: less eviction
    lines = ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"', "",
             f"--{BOUNDARY}", "Content-Type: application/node.eks.aws", "",
             "apiVersion: node.eks.aws/v1alpha1", "kind: NodeConfig", "spec:"]
    if local_storage:
        lines += ["  instance:", "    localStorage:", "      strategy: RAID0"]
    lines += ["  kubelet:", "    config:", f"      maxPods: {node_class.kubelet_max_pods}",
              "      kubeReserved:", f"        cpu: {node_class.reserved.get('cpu', 0)}m",
              "        ephemeral-storage: 1Gi", f"        memory: {_quantity(max(0, memory))}",
              f"--{BOUNDARY}--"]
    return "\n".join(lines) + "\n"


def _quantity(amount: int) -> str:
    return f"{amount // MIB}Mi" if amount % MIB == 0 else str(amount)
