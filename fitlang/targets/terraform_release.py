"""Releasing chosen nodes from a node group that stays (`fitc plan --target terraform`, issue 18).

A node group's size is a count: shrunk by `terraform apply`, the cloud chooses which of its
nodes go (EKS: the Auto Scaling group's termination policy; GKE: the managed instance group's;
AKS: the scale set's), and may take a node the moves filled and keep one they emptied. So
where the plan releases some nodes of a group and keeps others, the release stage's
`release-nodes.sh` (run by its `run.sh` before the apply) removes exactly those nodes, the way
the providers' own tools remove chosen nodes (and cluster-autoscaler does on scale-down):

- every node first found as a Kubernetes node by its name and checked to be in its group (the
  label the cloud puts on the group's nodes: EKS `eks.amazonaws.com/nodegroup`, GKE
  `cloud.google.com/gke-nodepool`, AKS `kubernetes.azure.com/agentpool`, each the group's
  name as the Terraform target writes it), and nothing changed unless every one is; then all
  cordoned, and each drained (`kubectl drain`: PodDisruptionBudgets hold it) and deleted;
- a node's instance is its Kubernetes node's `spec.providerID` (`aws:///ZONE/INSTANCE`,
  `gce://PROJECT/ZONE/INSTANCE`; AKS deletes machines by node name);
- EKS: the node group's floor lowered to what it keeps (`aws eks update-nodegroup-config`: an
  Auto Scaling group refuses to terminate an instance without a replacement below its min
  size), then `aws autoscaling terminate-instance-in-auto-scaling-group
  --should-decrement-desired-capacity`; GKE: `gcloud compute instance-groups managed
  delete-instances` on the instance's group (its `created-by` metadata), which lowers the
  group's target size; AKS: `az aks nodepool delete-machines`, which lowers the pool's count.

The apply then finds each group at the size it sets (the google provider reads `node_count`
from the instance groups' target sizes) and removes no node by count: groups the plan empties
it deletes whole. A node whose name is no Kubernetes node name cannot be found by it: its group
is left to shrink by count, W0820. `terraform_plan_fidelity` reads the script back.

The nodes are named as the state names them: as the cloud does where the state lists the
cluster's nodes (`model/cluster_nodes.py`), else as fitc did when it bought them (W0827: the
script then stops at its check). Run again after it stopped halfway, the script skips the
nodes gone from the cluster that it began to delete before (each listed, before the cloud is
asked to delete it, in `released-nodes.txt` beside it; any other node it cannot find stops
it, as on the first run), releases the rest, and leaves an EKS group's size as it finds it
when it lowers the floor: it never takes another node for one gone.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.model.cluster_nodes import cluster_named
from fitlang.span import FIRST_CHARACTER
from fitlang.targets.base import CompileContext
from fitlang.targets.kubernetes import is_node_name
from fitlang.targets.terraform import Purchase, group_name, purchases, resource_name
from fitlang.targets.waves import PlanStages

SCRIPT = "release-nodes.sh"

FUNCTIONS = r"""set -eu

fail() {
  printf 'release-nodes.sh: %s\n' "$*" >&2
  exit 1
}

# PROVIDER: the label the cloud puts on each node of a node group, naming the group (a kubectl
# JSONPath key)
group_label() {
  case $1 in
    aws) printf '%s' 'eks\.amazonaws\.com/nodegroup' ;;
    gcp) printf '%s' 'cloud\.google\.com/gke-nodepool' ;;
    azure) printf '%s' 'kubernetes\.azure\.com/agentpool' ;;
    *) fail "no node group label for provider $1" ;;
  esac
}

# the nodes this script has begun to delete, one a line, beside it: run again after it stopped
# halfway, it skips a node gone from the cluster only when it is listed here (the earlier run
# deleted it); a node it cannot find otherwise is no node of the cluster, and stops it
released=$(dirname "$0")/released-nodes.txt

# NODE: whether the cluster has the node
present() {
  found=$(kubectl get node "$1" --ignore-not-found -o name) || fail "cannot look up node $1"
  [ -n "$found" ]
}

# NODE: whether an earlier run of this script began to delete the node
released_before() {
  [ -f "$released" ] && grep -Fqx -e "$1" "$released"
}

# NODE...: listed as deleted before the cloud is asked to delete them
record_released() {
  printf '%s\n' "$@" >>"$released"
}

# PROVIDER GROUP NODE: the node's instance (its spec.providerID), once the node is found in GROUP
instance_of() {
  label=$(group_label "$1")
  in_group=$(kubectl get node "$3" -o "jsonpath={.metadata.labels.$label}") ||
    fail "no Kubernetes node $3"
  [ "$in_group" = "$2" ] || fail "node $3 is in node group '$in_group', not $2"
  id=$(kubectl get node "$3" -o 'jsonpath={.spec.providerID}')
  [ -n "$id" ] || fail "node $3 has no spec.providerID"
  printf '%s\n' "$id"
}

# PROVIDER GROUP NODE...: every node found in its group, or deleted by an earlier run (said)
check_nodes() {
  provider=$1 group=$2
  shift 2
  for node in "$@"; do
    if present "$node"; then
      instance_of "$provider" "$group" "$node" >/dev/null
    elif released_before "$node"; then
      printf 'release-nodes.sh: node %s is gone already: skipped\n' "$node" >&2
    else
      fail "no Kubernetes node $node"
    fi
  done
}

# NODE...: the nodes the cluster has cordoned, so that none takes the pods drained off another
cordon_nodes() {
  for node in "$@"; do
    if present "$node"; then
      kubectl cordon "$node"
    fi
  done
}

# PROVIDER REGION GROUP FROM TO NODE...: GROUP runs FROM nodes and keeps TO; each NODE the
# cluster has is drained and its instance deleted from the group, which shrinks by one
release_nodes() {
  provider=$1 region=$2 group=$3 from=$4 to=$5
  shift 5
  for node in "$@"; do
    shift
    if present "$node"; then
      set -- "$@" "$node"
    fi
  done
  if [ $# -eq 0 ]; then
    printf 'release-nodes.sh: every node released from %s is gone already\n' "$group" >&2
    return 0
  fi
  case $provider in
    aws) release_eks "$@" ;;
    gcp) release_gke "$@" ;;
    azure) release_aks "$@" ;;
    *) fail "cannot release nodes of provider $provider" ;;
  esac
}

# EKS: an Auto Scaling group refuses to terminate an instance without a replacement below its
# min size: the node group's floor comes down to what it keeps first, its size left as it is
# now (FROM less the nodes a run stopped halfway terminated; never raised, which would start
# nodes, nor lowered, which would let AWS choose which go)
release_eks() {
  id=$(instance_of aws "$group" "$1")
  cluster=$(aws ec2 describe-tags --region "$region" --output text --query 'Tags[0].Value' \
    --filters "Name=resource-id,Values=${id##*/}" 'Name=key,Values=eks:cluster-name')
  size=$(aws eks describe-nodegroup --region "$region" --cluster-name "$cluster" \
    --nodegroup-name "$group" --output text --query 'nodegroup.scalingConfig.desiredSize')
  case $size in
    '' | *[!0-9]*) fail "node group $group has no size ('$size')" ;;
  esac
  [ "$size" -le "$from" ] && [ "$((size - $#))" -ge "$to" ] ||
    fail "node group $group runs $size nodes: releasing $# of the $from would not leave $to"
  aws eks update-nodegroup-config --region "$region" --cluster-name "$cluster" \
    --nodegroup-name "$group" --scaling-config "minSize=$to,maxSize=$size,desiredSize=$size"
  aws eks wait nodegroup-active --region "$region" --cluster-name "$cluster" --nodegroup-name "$group"
  for node in "$@"; do
    id=$(instance_of aws "$group" "$node")
    kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data
    record_released "$node"
    aws autoscaling terminate-instance-in-auto-scaling-group --region "$region" \
      --instance-id "${id##*/}" --should-decrement-desired-capacity
  done
}

# GKE: the instance's managed instance group (its created-by metadata) deletes it and lowers
# the group's target size by one
release_gke() {
  for node in "$@"; do
    id=$(instance_of gcp "$group" "$node")
    path=${id#gce://}
    project=${path%%/*}
    path=${path#*/}
    zone=${path%%/*}
    instance=${path#*/}
    manager=$(gcloud compute instances describe "$instance" --project "$project" --zone "$zone" \
      --format 'value(metadata.items.created-by)')
    [ -n "$manager" ] || fail "instance $instance of node $node is in no managed instance group"
    kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data
    record_released "$node"
    gcloud compute instance-groups managed delete-instances "${manager##*/}" \
      --instances "$instance" --project "$project" --zone "$zone"
  done
}

# AKS: the node pool deletes the machines named (a machine is named as its node) and lowers
# its count by as many; the cluster is the one whose node resource group the node's label names
release_aks() {
  nodes_group=$(kubectl get node "$1" -o 'jsonpath={.metadata.labels.kubernetes\.azure\.com/cluster}')
  case $nodes_group in
    '' | *[!A-Za-z0-9._-]*) fail "node $1 names no AKS node resource group" ;;
  esac
  resource_group=$(az aks list --output tsv \
    --query "[?nodeResourceGroup=='$nodes_group'] | [0].resourceGroup")
  cluster=$(az aks list --output tsv --query "[?nodeResourceGroup=='$nodes_group'] | [0].name")
  [ -n "$cluster" ] || fail "no AKS cluster has node resource group $nodes_group"
  for node in "$@"; do
    kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data
  done
  record_released "$@"
  az aks nodepool delete-machines --resource-group "$resource_group" --cluster-name "$cluster" \
    --name "$group" --machine-names "$@"
}
"""


@dataclasses.dataclass(frozen=True)
class Shrink:
    """A node group the release keeps with fewer nodes: the nodes it releases, by name."""

    purchase: Purchase  # the group as it runs until the release
    keeps: int
    released: tuple[str, ...]

    @property
    def provider(self) -> str:
        return self.purchase.node_class.provider or "aws"


def shrinking(context: CompileContext, planned: PlanStages) -> list[Shrink]:
    """The node groups the release keeps but shrinks, in the Terraform target's order."""
    owners = context.problem.owners()

    def key(node: str) -> tuple[str, str, bool]:
        node_class = owners[node]
        return node_class.pool, node_class.region or "", node_class.spot

    leaving: dict[tuple[str, str, bool], list[str]] = {}
    for node in sorted(planned.bought_during - planned.bought_after,
                       key=lambda n: (owners.position(n), n)):
        leaving.setdefault(key(node), []).append(node)
    kept = {key(node) for node in planned.bought_after}
    found = []
    for purchase in purchases(holding(context, planned.bought_during)):
        group = (purchase.node_class.pool, purchase.region, purchase.spot)
        if group in leaving and group in kept:
            released = tuple(leaving[group])
            found.append(Shrink(purchase, purchase.count - len(released), released))
    return found


def holding(context: CompileContext, nodes: Iterable[str]) -> CompileContext:
    """`context` with a placement that buys exactly `nodes`."""
    owners = context.problem.owners()
    bought: dict[str, list[str]] = {}
    for node in sorted(nodes, key=lambda n: (owners.position(n), n)):
        bought.setdefault(owners[node].id, []).append(node)
    placement = dataclasses.replace(context.placement, bought=bought)
    return CompileContext(context.program, context.problem, placement)


def release_script(context: CompileContext, planned: PlanStages, folder: str
                   ) -> tuple[str | None, list[Diagnostic]]:
    """`release-nodes.sh` of the release stage in `folder` (None where no group that stays
    shrinks by a node it can name), and W0820 for the groups left to shrink by count."""
    groups = shrinking(context, planned)
    named = [g for g in groups if all(is_node_name(node) for node in g.released)]
    unnamed = [g for g in groups if g not in named]
    found = [_shrunk_by_count(context, unnamed)] if unnamed else []
    if not named:
        return None, found
    as_fitc_named = [g for g in named if not all(_cluster_named(context, node) for node in g.released)]
    if as_fitc_named:
        found.append(_named_as_bought(context, as_fitc_named))
    lines = ["#!/bin/sh",
             f"# fitc plan, {folder}: release, each by name, the bought nodes the plan empties in "
             "node groups that keep others",
             "# (shrunk by `terraform apply`, a group loses the nodes the cloud chooses). Run by "
             "run.sh before its apply,",
             "# which then finds each group at its new size. Nothing changes unless every node "
             "is found in its group.",
             "# Safe to run again after it stopped halfway: it skips only the nodes it deleted "
             "before (released-nodes.txt).",
             FUNCTIONS,
             "# every node found in its group (or deleted by an earlier run) before anything changes"]
    lines += [_command("check_nodes", g.provider, group_name(g.purchase), *g.released) for g in named]
    lines += ["# none of them takes the pods drained off the others",
              _command("cordon_nodes", *(node for g in named for node in g.released))]
    for group in named:
        lines.append(f"# {resource_name(group.purchase)}: {group.purchase.count} -> {group.keeps} nodes")
        lines.append(_command("release_nodes", group.provider, group.purchase.region,
                              group_name(group.purchase), str(group.purchase.count),
                              str(group.keeps), *group.released))
    return "\n".join(lines) + "\n", found


def _cluster_named(context: CompileContext, node: str) -> bool:
    """Whether the state named the node as the cluster does (a node the cloud named, read from
    `kubectl get nodes`: `model/cluster_nodes.py`), not as fitc did when it bought it."""
    found = context.problem.owners().find(node)
    return found is not None and cluster_named(*found)


def _command(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


def _named_as_bought(context: CompileContext, groups: list[Shrink]) -> Diagnostic:
    """W0827: the nodes released are named as the state names them, and this state names
    bought nodes as fitc did when it bought them (`OFFER-REGION-K`: a placement JSON, or a
    cluster's pods without its nodes, whose cloud names are then nodes fitc did not buy,
    W0802). A cloud names its nodes itself, so the script's check finds none of these unless
    the user gives it the cluster's names: said now, not only when the script stops. Nodes a
    state with the cluster's nodes names as the cloud does (`model/cluster_nodes.py`) are not
    said."""
    first = groups[0]
    return msg.ReleaseNamesFitcsNodes.at(context.program.path, FIRST_CHARACTER, target="terraform", detail=(
        f"release-nodes.sh releases {sum(len(g.released) for g in groups)} node(s) from "
        f"{len(groups)} node group(s) that stay by the names fitc gave them when it bought them "
        f"(the first: `{first.released[0]}` of `{group_name(first.purchase)}`); the cloud names its "
        "nodes itself, so unless the cluster's nodes have these names the script stops before "
        "changing anything"))


def _shrunk_by_count(context: CompileContext, groups: list[Shrink]) -> Diagnostic:
    """W0820: a group whose released nodes have names no Kubernetes node can have shrinks by
    count; the cloud chooses which nodes go and may take one the moves filled."""
    first = groups[0]
    unnamed = next(node for node in first.released if not is_node_name(node))
    return msg.PlanNotRun.at(context.program.path, FIRST_CHARACTER, target="terraform", detail=(
        f"{len(groups)} node group(s) shrink by count (the first: `{group_name(first.purchase)}`, "
        f"{first.purchase.count} -> {first.keeps} nodes): the plan releases nodes whose names "
        f"no Kubernetes node can have (`{unnamed}`), so release-nodes.sh cannot find them and "
        "the cloud chooses which nodes go; remove the nodes the plan releases from their group "
        "by hand before the release stage's apply"))
