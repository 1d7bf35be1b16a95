"""Nodes the cloud named, told to be nodes fitc bought (issue 18): `current` states read from a
cluster name a bought node as the cloud does (`ip-10-0-3-17.ec2.internal`, `gke-...`,
`aks-...`), not as fitc does (`OFFER-REGION-K`). Where the state lists the cluster's nodes
(`kubectl get nodes -o json`), each node no pool or inventory has is matched to the bought
class it is, by its labels:

1. the node group label the cloud puts on a group's nodes (EKS `eks.amazonaws.com/nodegroup`,
   GKE `cloud.google.com/gke-nodepool`, AKS `kubernetes.azure.com/agentpool`): a node of the
   group fitc's Terraform target writes for an offer, region and pricing (the driver names
   them, `BoughtGroups`), in the region its `topology.kubernetes.io/region` label says. A
   node of another group is none of fitc's, whatever its instance type;
2. else, a node of no node group and not launched by Karpenter (`karpenter.sh/nodepool`: its
   own nodes, no group of fitc's can release them), by its instance type
   (`node.kubernetes.io/instance-type`), region and, where a label says it, spot or on demand.

A node that fits the groups of two offers, regions or pricings is ambiguous: it is left
unmatched (a node the policy lacks, W0802) and said (W0806), never guessed. The classes of
one offer, region and pricing (two `buy` blocks) are one node group: the first of them counts
the node, as the Terraform target buys the group under its first class. A matched node joins
its class under its own name (`with_cluster_nodes`): the plan, its files and the release
script (`targets/terraform_release.py`) name it as the cluster does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fitlang.model.current import ClusterNode
from fitlang.model.inventory import capacity_spot
from fitlang.model.problem import NodeClass, NodeNames, Problem

# the label each cloud puts on a node group's nodes, naming the group
GROUP_LABELS = {"aws": "eks.amazonaws.com/nodegroup", "gcp": "cloud.google.com/gke-nodepool",
                "azure": "kubernetes.azure.com/agentpool"}
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
KARPENTER_LABEL = "karpenter.sh/nodepool"


@dataclass(frozen=True)
class BoughtGroups:
    """Class id -> the name of the node group fitc's Terraform target writes for it (the
    driver makes it: the model does not import the targets)."""

    names: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Matched:
    """Cluster nodes told to be bought nodes: node -> class id, in the listing's order; and
    the nodes that fit several groups, each with them ("aws us-east-1 m5 (spot)")."""

    bought: dict[str, str] = field(default_factory=dict)
    ambiguous: list[tuple[str, list[str]]] = field(default_factory=list)


def match_cluster_nodes(nodes: Iterable[ClusterNode], problem: Problem, groups: BoughtGroups) -> Matched:
    """Each listed node that no class of the problem names, matched to a bought class."""
    owners = problem.owners()
    bought = [c for c in problem.classes if c.provisioned]
    matched = Matched()
    for node in nodes:
        if node.name in owners or node.name in matched.bought:
            continue
        fits = _first_per_group(_candidates(node, bought, groups))
        if len(fits) == 1:
            matched.bought[node.name] = fits[0].id
        elif fits:
            matched.ambiguous.append((node.name, [_group_shown(c) for c in fits]))
    return matched


def _candidates(node: ClusterNode, bought: list[NodeClass], groups: BoughtGroups) -> list[NodeClass]:
    labels = node.labels
    in_group = [(provider, labels[key]) for provider, key in GROUP_LABELS.items() if key in labels]
    if in_group:
        found = [c for c in bought if (c.provider or "aws", groups.names.get(c.id)) in in_group]
    elif KARPENTER_LABEL in labels or INSTANCE_TYPE_LABEL not in labels:
        return []
    else:
        found = [c for c in bought if c.instance_type == labels[INSTANCE_TYPE_LABEL]]
        spot = capacity_spot(dict(labels))  # (a Karpenter node is none of fitc's: above)
        found = [c for c in found if spot is None or c.spot == spot]
    region = labels.get(REGION_LABEL)
    return [c for c in found if region is None or c.region == region]


def _first_per_group(classes: list[NodeClass]) -> list[NodeClass]:
    """One class per offer, region and pricing: the first, as the Terraform target buys it."""
    first: dict[tuple[str, str | None, bool], NodeClass] = {}
    for node_class in classes:
        first.setdefault((node_class.pool, node_class.region, node_class.spot), node_class)
    return list(first.values())


def _group_shown(node_class: NodeClass) -> str:
    return (f"{node_class.provider or 'aws'} {node_class.region} {node_class.pool}"
            + (" (spot)" if node_class.spot else ""))


def with_cluster_nodes(problem: Problem, bought: Iterable[tuple[str, str]]) -> Problem:
    """The problem whose bought classes name the cluster's nodes of theirs by the cluster's
    names, first, then fitc's own names for the nodes it may still buy (as many as the class
    may buy, or the nodes the cluster has where that is more)."""
    by_class: dict[str, list[str]] = {}
    for node, class_id in bought:
        by_class.setdefault(class_id, []).append(node)
    if not by_class:
        return problem
    classes = [_named(c, by_class[c.id]) if c.id in by_class else c for c in problem.classes]
    return dataclasses.replace(problem, classes=classes)


def _named(node_class: NodeClass, cluster: list[str]) -> NodeClass:
    made = node_class.node_names
    assert isinstance(made, NodeNames)  # a bought class's names are made up (`build._offer_class`)
    count = max(node_class.count, len(cluster))
    names = tuple(cluster) + tuple(made[: count - len(cluster)])
    return dataclasses.replace(node_class, count=count, node_names=names, cluster_nodes=len(cluster))


def cluster_named(node_class: NodeClass, position: int) -> bool:
    """Whether the class's node at `position` is named as the cluster names it."""
    return position < node_class.cluster_nodes
