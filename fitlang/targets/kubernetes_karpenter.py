"""Karpenter NodePools for the capacity a placement buys: `kubernetes { karpenter_node_class = "NAME" }`.

The Kubernetes target selects a bought node by the `fitlang.dev/pool` label of its offer (and its
instance type, CPU architecture and region), a label only fitc's Terraform node groups put on
their nodes (EKS managed node groups). A cluster that runs Karpenter launches nodes for Pending
pods from its NodePools instead, and launches nothing for a label no NodePool sets: session 59's
outside user (EKS with Karpenter) had its nightly Job Pending on `fitlang.dev/pool:
aws-c7g-4xlarge`. With the setting, each cluster folder also has `nodepools.yaml`: a NodePool
(`karpenter.sh/v1`) per offer and pricing bought in the cluster, named as its Terraform node
group would be (`fitc-aws-c7g-4xlarge-spot`), whose nodes are those the workloads select:

- `requirements`: the offer's `node.kubernetes.io/instance-type`, `karpenter.sh/capacity-type`
  (`spot` or `on-demand`, as the `buy` priced it), `kubernetes.io/arch`, `kubernetes.io/os`,
  and `topology.kubernetes.io/zone` where the class has one;
- the pool label in `template.metadata.labels` (Karpenter puts those on each node it launches);
- `template.spec.nodeClassRef`: the cluster's `EC2NodeClass` the setting names (its subnets,
  AMIs and IAM role are the cluster's, not the policy's);
- `limits.cpu`: the nodes bought times the instance's vCPUs, so Karpenter launches no more of
  them than the placement bought (a node's CPU capacity is its vCPUs; its memory is less than
  the type states, so memory would allow one node more);
- `disruption.consolidationPolicy: WhenEmpty`: Karpenter removes a node once fitc's pods leave
  it, and does not move them onto fewer nodes (the placement packed them).

Only AWS capacity: Karpenter's AWS provider reads `EC2NodeClass`; bought capacity of another
provider is left to the Terraform target, with W0108 naming it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fitlang import messages as msg
from fitlang.target_names import dns_name
from fitlang.targets.base import CompileContext, Findings

if TYPE_CHECKING:
    from fitlang.diagnostics import Diagnostic
    from fitlang.targets.terraform import Purchase

NODE_POOL_API = "karpenter.sh/v1"
EC2_NODE_CLASS = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass"}
NODE_POOLS_FILE = "nodepools.yaml"


def node_pools(context: CompileContext, cluster: str, node_class: str, pool_label: str,
               managed_by: dict[str, str]) -> list[dict]:
    """The NodePools of the AWS capacity bought in `cluster`, by name."""
    found = [_node_pool(p, node_class, pool_label, managed_by)
             for p in _bought(context) if p.node_class.cluster == cluster and _on_aws(p)]
    return sorted(found, key=lambda pool: pool["metadata"]["name"])


def unwritten(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """W0108 per offer bought of a provider Karpenter has no NodePool for here."""
    return [need(f"`{p.node_class.pool}` ({p.node_class.provider}) is bought in {p.region}, but "
                 "Karpenter's NodePools are written for AWS capacity only: its nodes come from the "
                 "Terraform target's node group", p.node_class.origin, msg.KarpenterNotForProvider)
            for p in _bought(context) if not _on_aws(p)]


def _bought(context: CompileContext) -> list[Purchase]:
    from fitlang.targets.terraform import purchases  # (it imports this target's pool label)

    return purchases(context)


def _on_aws(purchase: Purchase) -> bool:
    return (purchase.node_class.provider or "aws") == "aws"


def _node_pool(purchase: Purchase, node_class: str, pool_label: str, managed_by: dict[str, str]) -> dict:
    from fitlang.targets.terraform import group_name

    bought = purchase.node_class
    assert bought.instance_type is not None, "a bought class is an offer's, which names it"
    requirements = [
        _in("node.kubernetes.io/instance-type", bought.instance_type),
        _in("karpenter.sh/capacity-type", "spot" if purchase.spot else "on-demand"),
        _in("kubernetes.io/arch", bought.arch),
        _in("kubernetes.io/os", "linux"),
    ]
    if bought.zone is not None:
        requirements.append(_in("topology.kubernetes.io/zone", bought.zone))
    vcpus = bought.machine["cpu"] * purchase.count // 1000
    return {
        "apiVersion": NODE_POOL_API, "kind": "NodePool",
        "metadata": {"name": group_name(purchase), "labels": dict(managed_by),
                     "annotations": {"fitlang.dev/offer": bought.pool, "fitlang.dev/region": purchase.region,
                                     "fitlang.dev/nodes": str(purchase.count)}},
        "spec": {
            "template": {
                "metadata": {"labels": {pool_label: dns_name(bought.pool)}},
                "spec": {"nodeClassRef": {**EC2_NODE_CLASS, "name": node_class},
                         "requirements": requirements}},
            "limits": {"cpu": str(vcpus)},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"}}}


def _in(key: str, value: str) -> dict:
    return {"key": key, "operator": "In", "values": [value]}
