"""Kubernetes manifests: per workload and pool a Deployment (service) or Job (job), with the
replica counts of the placement (per workload and node on pinned nodes: `written_per_node`),
plus PriorityClasses, the namespace and a kustomization.

Objects are built as data and written with PyYAML (fitlang/targets/yaml_out.py),
never by string templates, so every user string is escaped by the YAML emitter.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from fitlang.check import types as t
from fitlang.check.program import Origin, Program, TargetSettings
from fitlang.check.schema import Attr, BlockSchema
from fitlang.check.settings import register
from fitlang.diagnostics import Diagnostic
from fitlang.messages import (
    CronJobPastHorizon,
    InvalidLabelValue,
    JobsResumedAtTheirStart,
    MinDomainsUnwritten,
    NotEnforceable,
    PodsPastKubeletDefault,
    PoolsIndistinct,
    RunsNotOneCronJob,
    SegmentsNeedCheckpoint,
)
from fitlang.model.inventory import GKE_TPU_SELECTORS
from fitlang.model.problem import NodeClass
from fitlang.rules.base import domain_of
from fitlang.targets import kubernetes_karpenter, kubernetes_time
from fitlang.targets.base import (
    CompileContext,
    Findings,
    Split,
    Target,
    by_message,
    demand_key,
    dns_name,
)
from fitlang.targets.cloud_facts import GKE_ACCELERATOR_TAINT_KEYS, cloud_taints
from fitlang.targets.yaml_out import dump, dump_all

MANAGED_BY = {"app.kubernetes.io/managed-by": "fitc"}
POOL_LABEL = "fitlang.dev/pool"
OPTION_LABEL = "fitlang.dev/option"  # the accelerator option a workload's pods run with
DEDICATED_TAINT = "fitlang.dev/dedicated"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"  # the coscheduling plugin's gang label
TOPOLOGY_KEYS = {"node": "kubernetes.io/hostname", "zone": "topology.kubernetes.io/zone",
                 "region": "topology.kubernetes.io/region"}




@dataclass(frozen=True, kw_only=True)
class KubernetesSettings(TargetSettings):
    """The policy's `kubernetes { }` block."""

    namespace: str = "default"
    pin_nodes: bool = False
    # the label every node of a declared pool carries, the pool's name its value
    pool_label: str = POOL_LABEL
    # the scheduler that runs gangs together (the coscheduling plugin's)
    scheduler_name: str = "scheduler-plugins-scheduler"
    # the cluster's Karpenter `EC2NodeClass`: where set, a NodePool per offer bought
    # (`kubernetes_karpenter.py`) launches the nodes the workloads select
    karpenter_node_class: str | None = None


register(BlockSchema("kubernetes", "none", {
    "namespace": Attr(t.STRING, doc="namespace of every object"),
    "pin_nodes": Attr(t.BOOL, doc="select the placement's nodes by hostname"),
    "pool_label": Attr(t.STRING, doc="label the nodes of each declared pool carry, the "
                                     "pool's name its value (default fitlang.dev/pool)"),
    "scheduler_name": Attr(t.STRING, doc="scheduler of gang pods (default "
                                         "scheduler-plugins-scheduler, the coscheduling one)"),
    "karpenter_node_class": Attr(t.STRING, doc="the cluster's Karpenter EC2NodeClass: a NodePool "
                                               "per offer bought launches its nodes"),
}), KubernetesSettings)



def settings(context: CompileContext) -> KubernetesSettings:
    """The policy's `kubernetes` block, or its defaults."""
    return context.program.policy.settings_of(KubernetesSettings)


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _min_domains_hold(spread, split: Split, context: CompileContext) -> bool:
    """Whether the scheduler holds a spread's `min_domains` (`minDomains`) on the object of
    `split` as fitc placed it. The scheduler counts the domains of the nodes the pod's node
    affinity selects (`nodeAffinityPolicy: Honor`, the default): one object's, the domain of
    its pool (each node, for `node`), fewer than `min_domains`, so it takes the emptiest as 0
    and lets each domain hold at most `max_skew` replicas. Written where every domain of the
    object holds no more (then the scheduler keeps it so); else left out, as the solver holds
    it across the pools, regions and clusters (`min_domains_unwritten` says so)."""
    if spread.min_domains <= 1:
        return False
    return max(_replicas_by_domain(split, spread.topology, context).values(), default=0) <= spread.max_skew


def _replicas_by_domain(split: Split, topology: str, context: CompileContext) -> dict[str, int]:
    """Per domain of `topology` that `split`'s nodes are in: the workload's replicas there,
    every option's."""
    mine = {domain_of(node, split.node_class, topology) for node in split.nodes}
    counts = dict.fromkeys((d for d in mine if d is not None), 0)
    for view in context.placed_workloads():
        if view.name != split.workload.name:
            continue
        for other in context.splits(view):
            for node, count in other.per_node.items():
                domain = domain_of(node, other.node_class, topology)
                if domain in counts:
                    counts[domain] += count
    return counts


def min_domains_unwritten(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """W0625: a spread's `min_domains` left out of an object whose domain holds more than
    `max_skew` (`_min_domains_hold`): fitc placed the spread over the domains it asks for, but
    the scheduler, counting one pool's domain, would leave such pods Pending."""
    found = []
    for workload in context.placed_workloads():
        for spread in workload.spreads:
            left = [split for split in context.splits(workload)
                    if spread.min_domains > 1 and not _min_domains_hold(spread, split, context)]
            if left:
                found.append(need(
                    f"`min_domains {spread.min_domains}` of `{workload.name}`'s spread over "
                    f"{spread.topology} is not written on {len(left)} object(s): each selects one "
                    f"pool's nodes, the scheduler counts only their {spread.topology} (fewer "
                    f"domains than {spread.min_domains}, so each may hold at most max_skew "
                    f"{spread.max_skew}), and fitc runs more there; fitc holds it across the pools",
                    spread.origin, MinDomainsUnwritten))
    return found


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.match(name)) and (not prefix or bool(_DNS_SUBDOMAIN.match(prefix)))


def is_node_name(name: str) -> bool:
    """Whether a Kubernetes Node may have this name (a DNS subdomain: the API server refuses others)."""
    return bool(_DNS_SUBDOMAIN.match(name))


def topology_key(topology: str) -> str:
    return TOPOLOGY_KEYS.get(topology, topology)


def quantity_cpu(millicores: int) -> str:
    return f"{millicores // 1000}" if millicores % 1000 == 0 else f"{millicores}m"


def quantity_bytes(amount: int) -> str:
    for suffix, size in (("Gi", 2 ** 30), ("Mi", 2 ** 20), ("Ki", 2 ** 10)):
        if amount and amount % size == 0:
            return f"{amount // size}{suffix}"
    return str(amount)


def _literal(text: str) -> str:
    """`text` as Kubernetes' `$(VAR)` expansion will leave it."""
    return text.replace("$", "$$")


def _workload_labels(workload) -> dict[str, str]:
    """What selects a workload's pods: its name, and its option if it has one."""
    labels = {"app.kubernetes.io/name": dns_name(workload.name)}
    option = workload.option
    if option is not None:
        labels[OPTION_LABEL] = option if _LABEL_VALUE.match(option) else dns_name(option)
    return labels


def _split_labels(split: Split) -> dict[str, str]:
    """What selects one split's pods: the workload, the pool, and the option if it has one
    (two options could share an inventory's pool name)."""
    labels = {"app.kubernetes.io/name": dns_name(split.workload.name),
              POOL_LABEL: dns_name(split.node_class.pool)}
    return {**labels, **_workload_labels(split.workload)}


def _pool_value(pool: str) -> str:
    """The pool label's value on a declared pool's nodes: its name, or, when that is not a
    valid label value, its DNS form."""
    return pool if len(pool) <= 63 and _LABEL_VALUE.match(pool) else dns_name(pool)


def _inventory(node_class: NodeClass, context: CompileContext) -> bool:
    return node_class.pool in context.program.inventories


def _pinned(node_class: NodeClass, context: CompileContext) -> bool:
    """Selected by the chosen nodes' hostnames: real (inventory) nodes, or `pin_nodes`."""
    return _inventory(node_class, context) or (settings(context).pin_nodes
                                               and not node_class.provisioned)


def written_per_node(split: Split, context: CompileContext) -> bool:
    """Whether the split's replicas are written one object per node, each pinned to its node
    by hostname: the nodes are pinned (`_pinned`), and it is not a gang's Job (one Indexed Job,
    whose workers find each other as `WORKLOAD-INDEX`) nor a Job placed in time. An object
    over the set of hostnames chosen would leave the scheduler to choose within the set, and
    it may spread what the solver packed and strand a pod for good (W0620, kubernetes_packing);
    one object per node runs exactly the packing. Always, not only where the packing test
    warns: the objects are then the very ones `fitc plan` writes and scales."""
    workload = split.workload
    if workload.kind == "job" and (workload.gang or context.problem.timeline is not None):
        return False
    return _pinned(split.node_class, context)


def _by_pool_label(node_class: NodeClass, context: CompileContext) -> bool:
    """A declared pool selected by the pool label its nodes carry."""
    return not (node_class.provisioned or _pinned(node_class, context))


def _pool_selector(split: Split, context: CompileContext) -> list[dict]:
    """What selects the nodes of one split, and no other pool's.

    Inventory nodes are real machines: the chosen ones by hostname (never by the labels a
    driver or kubelet upgrade changes), and a GKE TPU node also by the TPU labels it carries
    (`GKE_TPU_SELECTORS`), which GKE requires of a pod that uses its TPUs. Declared pools:
    the pool label the policy says their nodes carry (`label-nodes.sh` sets it), with the
    pool's stated labels, zone and arch.
    Bought capacity: the pool label fitc's Terraform puts on the node group, and the instance
    type every cloud's kubelet sets."""
    node_class = split.node_class
    if _pinned(node_class, context):
        tpu = [{"key": key, "operator": "In", "values": [node_class.labels[key]]}
               for key in GKE_TPU_SELECTORS if key in node_class.labels] \
            if split.workload.gpu_count else []
        return [{"key": "kubernetes.io/hostname", "operator": "In",
                 "values": sorted(node_class.hostname(n) for n in split.nodes)}, *tpu]
    expressions = [{"key": key, "operator": "In", "values": [value]}
                   for key, value in sorted(node_class.labels.items())]
    known = {"topology.kubernetes.io/zone": node_class.zone,
             "topology.kubernetes.io/region": node_class.region,
             "kubernetes.io/arch": node_class.arch}
    for key, value in known.items():
        if value is not None and key not in node_class.labels:
            expressions.append({"key": key, "operator": "In", "values": [value]})
    if node_class.provisioned:
        assert node_class.instance_type is not None, "a bought class is an offer's, which names it"
        expressions.append({"key": POOL_LABEL, "operator": "In",
                            "values": [dns_name(node_class.pool)]})
        expressions.append({"key": "node.kubernetes.io/instance-type", "operator": "In",
                            "values": [node_class.instance_type]})
    else:
        expressions.append({"key": settings(context).pool_label, "operator": "In",
                            "values": [_pool_value(node_class.pool)]})
    return expressions


def _clusters(context: CompileContext) -> list[str]:
    return sorted({split.node_class.cluster for split in _placed_splits(context)})


def _label_nodes_script(context: CompileContext, splits: list[Split]) -> str | None:
    """The `kubectl label` commands that give each declared pool's nodes the pool label the
    manifests select them by; None when no declared pool is selected that way."""
    pools: dict[str, int] = {}
    for split in splits:
        if _by_pool_label(split.node_class, context):
            pools[split.node_class.pool] = split.node_class.count
    if not pools:
        return None
    key = settings(context).pool_label
    lines = ["#!/bin/sh",
             f"# The manifests select the nodes of each pool by the label {key}=POOL.",
             "# Label each pool's nodes once, naming them:  sh label-nodes.sh POOL NODE...",
             *(f"#   {pool}: {count} nodes" for pool, count in sorted(pools.items())),
             "set -eu",
             'if [ $# -lt 2 ]; then echo "usage: sh label-nodes.sh POOL NODE..." >&2; exit 2; fi',
             'pool="$1"', "shift", 'case "$pool" in']
    lines += [f"  {shlex.quote(pool)}) value={shlex.quote(_pool_value(pool))} ;;"
              for pool in sorted(pools)]
    lines += ['  *) echo "label-nodes.sh: no pool $pool" >&2; exit 2 ;;', "esac",
              f'kubectl label nodes --overwrite "$@" {shlex.quote(key + "=")}"$value"', ""]
    return "\n".join(lines)


def _placed_splits(context: CompileContext) -> list[Split]:
    return [split for workload in context.placed_workloads() for split in context.splits(workload)]


def _invalid_selected_values(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """Values put into required node affinity and tolerations must be label values, or the API
    server rejects the object."""
    needs = []
    for split in _placed_splits(context):
        node_class = split.node_class
        values = [(e["key"], v) for e in _pool_selector(split, context) for v in e["values"]]
        values += [(t["key"], t["value"]) for t in _tolerations(node_class) if "value" in t]
        for key, value in values:
            if not (len(value) <= 63 and _LABEL_VALUE.match(value)):
                needs.append(need(f"`{split.workload.name}` would select {key}={value!r} on pool "
                                  f"`{node_class.pool}`, which is not a valid Kubernetes label "
                                  "value", _stated_at(context, node_class, key), InvalidLabelValue))
    return needs


# the attribute of a pool or inventory that states the value a selector or toleration key gets
_STATED_BY = {"topology.kubernetes.io/zone": "zone", "topology.kubernetes.io/region": "region",
              "kubernetes.io/arch": "arch", DEDICATED_TAINT: "dedicated"}


def _stated_at(context: CompileContext, node_class: NodeClass, key: str):
    """Where the policy states the value put under `key`: the attribute, else the block."""
    program = context.program
    block = program.pools.get(node_class.pool) or program.inventories.get(node_class.pool)
    spans = block.spans if block is not None else {}
    return spans.get(_STATED_BY.get(key, "labels"), node_class.origin)


def _indistinct_pools(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """Two node classes that one selector would both select: never a silent superset."""
    selectors: dict[tuple, NodeClass] = {}
    needs = []
    for split in _placed_splits(context):
        if _pinned(split.node_class, context):
            continue  # selected by the chosen nodes' names: no other pool's
        key = tuple((e["key"], tuple(e["values"])) for e in _pool_selector(split, context))
        other = selectors.setdefault(key, split.node_class)
        if other.id != split.node_class.id:
            needs.append(need(f"pools `{other.id}` and `{split.node_class.id}` cannot be told apart: "
                              "the same node selector matches both", split.node_class.origin,
                              PoolsIndistinct, related=[
                                  (_declared_at(context, other), f"pool `{other.id}`"),
                                  (_declared_at(context, split.node_class),
                                   f"pool `{split.node_class.id}`")]))
    return needs


def _declared_at(context: CompileContext, node_class: NodeClass) -> Origin | None:
    """Where the policy makes the class: its `buy` block for capacity bought (two blocks may
    buy one offer), else its pool, inventory or offer."""
    if node_class.buy_group is not None:
        return context.problem.buy_origins.get(node_class.buy_group, node_class.origin)
    return node_class.origin


def _unenforceable(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """Rules that hold only if pods land on the very nodes chosen, where the manifests can only
    select a pool: the scheduler may use idle nodes of the pool that the solver left off."""
    problem, policy = context.problem, context.program.policy
    used: dict[str, set[str]] = {}
    for split in _placed_splits(context):
        if _by_pool_label(split.node_class, context):
            used.setdefault(split.node_class.id, set()).update(split.nodes)
    loose = [problem.node_class(c) for c, names in sorted(used.items())
             if len(names) < problem.node_class(c).count]
    needs = []
    for node_class in loose:
        if "nodes" in policy.objective:
            needs.append(need(f"objective `nodes`: the pods may spread over all {node_class.count} "
                              f"nodes of pool `{node_class.pool}`, not only the "
                              f"{len(used[node_class.id])} the solver counted",
                              policy.spans.get("objective", policy.origin), NotEnforceable))
        for cap in problem.power_caps:
            if node_class.id in cap.classes:
                needs.append(need(f"power cap `{cap.name}`: the pods may use more nodes of pool "
                                  f"`{node_class.pool}` than the {len(used[node_class.id])} the "
                                  "solver counted", cap.origin, NotEnforceable))
    return needs


KUBELET_DEFAULT_MAX_PODS = 110  # the kubelet's `maxPods` where nothing configures it


def _pods_past_default(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """W0621, one per pool that states no `max_pods` (so fitc holds its nodes to none) where the
    placement puts more pods on a node than a kubelet admits by default."""
    per_node = Counter(a.node for a in context.placement.assignments)
    owners, found = context.problem.owners(), {}
    for node, pods in sorted(per_node.items()):
        owner = owners.find(node) if pods > KUBELET_DEFAULT_MAX_PODS else None
        if owner is not None and owner[0].max_pods is None and owner[0].pool in context.program.pools \
                and owner[0].pool not in found:
            found[owner[0].pool] = need(
                f"pool `{owner[0].pool}` states no `max_pods`, and node `{node}` runs {pods} pods, more "
                f"than the {KUBELET_DEFAULT_MAX_PODS} a kubelet admits by default", owner[0].origin,
                PodsPastKubeletDefault)
    return list(found.values())


def _packing_at_risk(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """W0620, one per pool, where the scheduler, choosing nodes within what an object selects,
    can leave one of its pods without a node (kubernetes_packing.py); each workload so placed
    is a related location."""
    from fitlang.targets import kubernetes_packing

    by_pool: dict[str, list[Split]] = {}
    for split, pool in kubernetes_packing.at_risk(context, lambda c: _pinned(c, context),
                                                  lambda s: written_per_node(s, context)):
        by_pool.setdefault(pool, []).append(split)
    found = []
    for pool, splits in by_pool.items():
        names = list(dict.fromkeys(s.workload.name for s in splits))
        listed = [f"`{n}`" for n in names[:3]] + ([f"{len(names) - 3} more"] if len(names) > 3 else [])
        shown = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]
        node_class = splits[0].node_class
        fix = ("" if _pinned(node_class, context) or node_class.provisioned
               else "; `pin_nodes = true` selects each replica's node")
        found.append(need(f"pool `{pool}`: the scheduler chooses each pod's node itself, and "
                          f"some order of its choices leaves a pod of {shown} without a node with "
                          f"room where the solver packed them all{fix}",
                          _declared_at(context, node_class), NotEnforceable,
                          related=[(context.program.workloads[n].origin, f"`{n}`") for n in names]))
    return found


def _schedules(context: CompileContext) -> list[tuple[Split, str | kubernetes_time.NoCronJob]]:
    """Each split of a recurring job (not a gang) with its CronJob schedule, or why none."""
    found = []
    for workload in context.placed_workloads():
        if workload.kind != "job" or workload.gang:
            continue
        for split in context.splits(workload):
            if len(context.problem.demand(demand_key(split.workload)).runs) > 1:
                runs = kubernetes_time.timed_runs(context, split)
                found.append((split, kubernetes_time.cron_schedule(context, split, runs)))
    return found


def _recurring_warnings(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """W0952 for a preemptible job run in segments, W0953 for a recurring job no CronJob runs
    exactly, W0954 for each CronJob written."""
    timeline = context.problem.timeline
    if timeline is None:
        return []
    from fitlang.solve.timeline import iso

    found = []
    for workload in context.placed_workloads():
        if workload.min_segment_seconds is None:
            continue
        names = {demand_key(split.workload) for split in context.splits(workload)}
        starts = {getattr(a, "start", 0) for a in context.placement.assignments if a.workload in names}
        if len(starts) > 1:
            found.append(need(
                f"`{workload.name}` runs in segments, a suspended Job each, which Kubernetes stops "
                "at its activeDeadlineSeconds (the segment's length): the job must checkpoint and "
                "resume", workload.spans.get("preemptible", workload.origin), SegmentsNeedCheckpoint))
    for split, schedule in _schedules(context):
        where = split.workload.spans.get("every", split.workload.origin)
        if isinstance(schedule, kubernetes_time.NoCronJob):
            found.append(need(f"the runs of `{split.workload.name}` on `{split.node_class.pool}` are "
                              f"suspended Jobs, not a CronJob: {schedule.why}",
                              where, RunsNotOneCronJob))
            continue
        found.append(need(
            f"the runs of `{split.workload.name}` are a CronJob (`{schedule}`, UTC), which starts "
            f"a run at every firing from when it is applied: apply it at the horizon's start "
            f"({iso(timeline.start)}); after the horizon's end "
            f"({iso(kubernetes_time.moment(context, timeline.steps))}) it keeps starting runs no "
            "solve planned, unless you delete it or compile the next horizon", where,
            CronJobPastHorizon))
    return found


def _resumed_by_hand(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """W0950: with a horizon, the Jobs wait suspended for whoever resumes them at their start."""
    if context.problem.timeline is None or \
            not any(w.kind == "job" for w in context.placed_workloads()):
        return []
    cron = {id(split) for split, schedule in _schedules(context) if isinstance(schedule, str)}
    if all(id(split) in cron for w in context.placed_workloads() if w.kind == "job"
           for split in context.splits(w)):
        return []  # every job is a CronJob, which the cluster starts itself
    return [need(f"the Jobs are written suspended, each with its start in the annotation "
                 f"`{kubernetes_time.START_ANNOTATION}`; nothing in the cluster resumes them: run "
                 f"`{kubernetes_time.START_SCRIPT}` at every step (cron), or resume them yourself",
                 None, JobsResumedAtTheirStart)]


def _device(node_class: NodeClass) -> str | None:
    return node_class.accelerator.resource if node_class.accelerator is not None else None


def _tolerations(node_class: NodeClass) -> list[dict]:
    """What lets pods onto the class's nodes: its `dedicated` taint and its nodes' taints."""
    tolerations = []
    if node_class.dedicated is not None:
        tolerations.append({"key": DEDICATED_TAINT, "operator": "Equal",
                            "value": node_class.dedicated, "effect": "NoSchedule"})
    for taint in node_class.taints:
        tolerations.append({"key": taint.key, "operator": "Equal", "value": taint.value,
                            "effect": taint.effect})
    for key, value, effect in cloud_taints(node_class):  # (AKS Spot, GKE GPU, TPU and Arm pools)
        if key in GKE_ACCELERATOR_TAINT_KEYS:  # (whatever value GKE gives it)
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
        else:
            tolerations.append({"key": key, "operator": "Equal", "value": value, "effect": effect})
    return tolerations


class Kubernetes(Target):
    name = "kubernetes"
    needed = "image"
    enforces_timing = True  # Jobs suspended until their start (kubernetes_time); W0950

    # workload kind -> how its pods are run
    TRANSFORMS: ClassVar[dict[str, str]] = {"service": "_deployment", "job": "_job"}

    def runs(self, workload) -> bool:
        return bool(workload.image)

    def owns(self, context: CompileContext, node_class: NodeClass) -> bool:
        inventory = context.program.inventories.get(node_class.pool)
        return inventory is not None and inventory.format == "kubectl"

    def settings_problems(self, program: Program) -> list[Diagnostic]:
        """The `kubernetes` block's names, as the API server validates them (the namespace a
        DNS label, the pool label a label key, the scheduler a DNS subdomain), and the
        environment of the workloads it writes."""
        need = self.needs_of(program)
        problems = super().settings_problems(program)
        stated = program.policy.settings_of(KubernetesSettings)

        def where(attribute: str) -> Origin | None:
            return stated.spans.get(attribute, stated.origin or program.policy.origin)

        if not _DNS_LABEL.match(stated.namespace):
            problems.append(need(f"namespace {stated.namespace!r} is not a DNS-1123 label "
                                 "(lowercase letters, digits and `-`, at most 63)", where("namespace")))
        if not _label_key_ok(stated.pool_label):
            problems.append(need(f"pool_label {stated.pool_label!r} is not a valid Kubernetes label key",
                                 where("pool_label"), InvalidLabelValue))
        node_class = stated.karpenter_node_class
        if node_class is not None and not _DNS_SUBDOMAIN.match(node_class):
            problems.append(need(f"karpenter_node_class {node_class!r} is not a DNS-1123 subdomain "
                                 "(lowercase letters, digits, `-` and `.`, at most 253), as an "
                                 "EC2NodeClass's name must be", where("karpenter_node_class")))
        if not _DNS_SUBDOMAIN.match(stated.scheduler_name):
            problems.append(need(f"scheduler_name {stated.scheduler_name!r} is not a DNS-1123 "
                                 "subdomain (lowercase letters, digits, `-` and `.`, at most 253), "
                                 "as a pod's `schedulerName` must be", where("scheduler_name")))
        for workload in program.workloads.values():
            problems += [need(f"environment variable name {name!r} of `{workload.name}` is not valid "
                              "in Kubernetes", workload.spans.get("env"))
                         for name in workload.env if self.runs(workload) and not _ENV_NAME.match(name)]
        return problems

    def problems(self, context: CompileContext) -> list[Diagnostic]:
        need = self.needs(context)
        problems = self.unwritten(context, need) + self.settings_problems(context.program)
        context = self.written(context)  # the rest: of the workloads written
        for workload in context.placed_workloads():
            for split in context.splits(workload):
                for key, value in split.node_class.labels.items():
                    if not _label_key_ok(key) or not _LABEL_VALUE.match(value):
                        problems.append(need(f"node label {key!r}: {value!r} of pool "
                                             f"`{split.node_class.pool}` is not a valid Kubernetes "
                                             "label", split.node_class.origin))
        for workload in context.placed_workloads():
            devices = {_device(s.node_class) for s in context.splits(workload)}
            if workload.gang and workload.kind == "job" and workload.gpu_count and len(devices) > 1:
                problems.append(need(f"gang `{workload.name}` runs on pools with different devices; "
                                     "one Job's pods request one kind", workload.origin))
        problems += _invalid_selected_values(context, need) + _indistinct_pools(context, need)
        problems += _unenforceable(context, need) + _resumed_by_hand(context, need)
        problems += _pods_past_default(context, need)
        problems += min_domains_unwritten(context, need)
        problems += _packing_at_risk(context, need)
        problems += _recurring_warnings(context, need)
        if settings(context).karpenter_node_class is not None:
            problems += kubernetes_karpenter.unwritten(context, need)
        return by_message(problems)

    def fidelity(self, context: CompileContext, files: dict[str, str]) -> list[Diagnostic]:
        from fitlang.targets import kubernetes_fidelity  # reads the files; shares no code here

        return kubernetes_fidelity.check(context, files, self.mismatches(context))

    def render_plan(self, context: CompileContext, stages) -> tuple[dict[str, str], list[Diagnostic]]:
        from fitlang.targets import kubernetes_plan  # per-node Deployments, per wave

        return kubernetes_plan.render_plan(self, context, stages)

    def plan_fidelity(self, context: CompileContext, stages, files: dict[str, str]) -> list[Diagnostic]:
        from fitlang.targets import kubernetes_plan_fidelity  # reads the files; shares no code

        return kubernetes_plan_fidelity.check_plan(context, stages, files, self.mismatches(context))

    def render_reached(self, context: CompileContext, stages) -> tuple[dict[str, str], list[Diagnostic]]:
        from fitlang.targets import kubernetes_plan  # the plan's per-node Deployments, at its end

        return kubernetes_plan.render_reached(self, context, stages)

    def render(self, context: CompileContext) -> dict[str, str]:
        """One folder per cluster the placement uses, each applicable alone with `kubectl apply
        -k`; the files at the top when it uses one."""
        clusters = _clusters(context)
        if len(clusters) == 1:
            return self._render_cluster(context, clusters[0])
        return {f"{dns_name(cluster)}/{name}": text for cluster in clusters
                for name, text in self._render_cluster(context, cluster).items()}

    def _render_cluster(self, context: CompileContext, cluster: str) -> dict[str, str]:
        namespace = settings(context).namespace
        placed = [(w, [s for s in context.splits(w) if s.node_class.cluster == cluster])
                  for w in context.placed_workloads()]
        placed = [(w, splits) for w, splits in placed if splits]
        files: dict[str, str] = {}
        if namespace != "default":
            files["namespace.yaml"] = dump({"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": namespace, "labels": MANAGED_BY}})
        priorities = sorted({w.priority for w, _ in placed if w.priority})
        if priorities:
            files["priorityclasses.yaml"] = dump_all([self._priority_class(p) for p in priorities])
        per_file: dict[str, list[dict]] = {}
        timed: list[tuple[datetime, str]] = []  # with a horizon: each Job's start
        for workload, splits in placed:  # options of a workload share its file
            documents = per_file.setdefault(f"{dns_name(workload.name)}.yaml", [])
            if workload.gang and workload.kind == "job":
                documents += self._gang(workload, splits, namespace, context, timed)
                continue
            if workload.gang:
                documents.append(self._pod_group(workload, namespace))
            for split in splits:
                builder = getattr(self, self.TRANSFORMS[workload.kind])
                if workload.kind == "job" and context.problem.timeline is not None:
                    documents += self._jobs_in_time(split, namespace, context, timed)
                elif written_per_node(split, context):
                    documents += [self._on_node(split, node, namespace, context)
                                  for node in sorted(split.nodes)]
                else:
                    documents.append(builder(split, namespace, context))
        files.update({name: dump_all(documents) for name, documents in per_file.items()})
        node_class = settings(context).karpenter_node_class
        pools = [] if node_class is None else \
            kubernetes_karpenter.node_pools(context, cluster, node_class, POOL_LABEL, MANAGED_BY)
        if pools:
            files[kubernetes_karpenter.NODE_POOLS_FILE] = dump_all(pools)
        files["kustomization.yaml"] = dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": sorted(files)})
        script = _label_nodes_script(context, [s for _, splits in placed for s in splits])
        if script is not None:
            files["label-nodes.sh"] = script
        if timed:
            files[kubernetes_time.START_SCRIPT] = kubernetes_time.start_script(namespace, timed)
        return files

    def _jobs_in_time(self, split: Split, namespace: str, context: CompileContext,
                      timed: list[tuple[datetime, str]]) -> list[dict]:
        """One suspended Job per start of the split's replicas (`kubernetes_time`)."""
        jobs = []
        runs = kubernetes_time.timed_runs(context, split)
        schedule = self._recurring_schedule(split, context, runs)
        if schedule is not None:
            job = self._job(split, namespace, context)
            return [kubernetes_time.cron_job(job, split, context, runs, schedule)]
        starts = Counter(run.start for run in runs)
        for run in runs:
            job = kubernetes_time.suspend(self._job(split, namespace, context), context, run)
            start = kubernetes_time.moment(context, run.start)
            end = kubernetes_time.moment(context, run.end) if starts[run.start] > 1 else None
            job["metadata"]["name"] = kubernetes_time.job_name(split, start, end)
            timed.append((start, job["metadata"]["name"]))
            jobs.append(job)
        return jobs

    def _recurring_schedule(self, split: Split, context: CompileContext,
                            runs: list[kubernetes_time.TimedRun]) -> str | None:
        """The CronJob schedule of a recurring job's runs, if one runs them exactly."""
        demand = context.problem.demand(demand_key(split.workload))
        if len(demand.runs) < 2 or split.workload.gang:
            return None
        schedule = kubernetes_time.cron_schedule(context, split, runs)
        return schedule if isinstance(schedule, str) else None

    # ---- objects ---------------------------------------------------------

    def _metadata(self, name: str, namespace: str, workload: str, extra: dict | None = None) -> dict:
        labels = {"app.kubernetes.io/name": dns_name(workload), **MANAGED_BY, **(extra or {})}
        return {"name": name, "namespace": namespace, "labels": labels,
                "annotations": {"fitlang.dev/workload": workload}}

    def _deployment(self, split: Split, namespace: str, context: CompileContext) -> dict:
        name = dns_name(f"{split.workload.name}-{split.node_class.id}")
        selector = _split_labels(split)
        template = self._pod_template(split, selector, context)
        if split.workload.gang:  # a gang service: only the coscheduling scheduler reads its PodGroup
            template["spec"]["schedulerName"] = settings(context).scheduler_name
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": self._metadata(name, namespace, split.workload.name, _split_labels(split)),
            "spec": {"replicas": split.replicas, "selector": {"matchLabels": selector},
                     "template": template},
        }

    def _job(self, split: Split, namespace: str, context: CompileContext) -> dict:
        name = dns_name(f"{split.workload.name}-{split.node_class.id}")
        labels = _split_labels(split)
        spec: dict[str, Any] = {"completions": split.replicas, "parallelism": split.replicas,
                "backoffLimit": 0 if split.workload.gang else 6,
                "template": self._pod_template(split, labels, context)}
        spec["template"]["spec"]["restartPolicy"] = "Never"
        if split.workload.gang:
            spec["completionMode"] = "Indexed"
        if split.workload.time_limit_seconds:
            spec["activeDeadlineSeconds"] = split.workload.time_limit_seconds
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": self._metadata(name, namespace, split.workload.name, _split_labels(split)),
                "spec": spec}

    def _on_node(self, split: Split, node: str, namespace: str, context: CompileContext) -> dict:
        """The object that runs the split's replicas on `node` and nowhere else (see
        `written_per_node`): a service's is the very Deployment `fitc plan` writes for the
        workload and node (its name, labels and pod template), so a plan scales what compile
        started and rolls nothing; a job's is its Job on that node alone, named alike."""
        from fitlang.targets import kubernetes_plan  # imports this module

        demand = demand_key(split.workload)
        if split.workload.kind == "service":
            made = kubernetes_plan.node_deployment(self, context, demand, node,
                                                   split.per_node[node], namespace)
            if split.workload.gang:  # only the coscheduling scheduler reads its PodGroup
                made["spec"]["template"]["spec"]["schedulerName"] = settings(context).scheduler_name
            return made
        made = self._job(Split(split.workload, split.node_class, [node], {node: split.per_node[node]}),
                         namespace, context)
        made["metadata"]["name"] = kubernetes_plan.deployment_name(demand, node)
        for labels in (made["metadata"]["labels"], made["spec"]["template"]["metadata"]["labels"]):
            labels[kubernetes_plan.NODE_LABEL] = kubernetes_plan.node_label(node)
        return made

    def _gang(self, workload, splits: list[Split], namespace: str, context: CompileContext,
              timed: list[tuple[datetime, str]]) -> list[dict]:
        """A gang: one PodGroup, one Indexed Job over every pool it runs on (the solver keeps
        it in one cluster), its pods on the coscheduling scheduler, and a headless Service
        whose DNS names (`JOB-INDEX.SERVICE`) let the workers find each other. With a horizon
        the Job is created suspended and resumed at the step the solver starts all its
        replicas (`kubernetes_time`); a recurring gang is such a Job per run."""
        name = dns_name(workload.name)
        labels = _workload_labels(workload)
        template = self._pod_template(splits[0], labels, context)
        pod = template["spec"]
        pod["affinity"]["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": _pool_selector(s, context)} for s in splits]}}
        tolerations = []
        for split in splits:
            tolerations += [t for t in _tolerations(split.node_class) if t not in tolerations]
        pod.pop("tolerations", None)
        if tolerations:
            pod["tolerations"] = tolerations
        pod["schedulerName"] = settings(context).scheduler_name
        pod["subdomain"] = name
        pod["restartPolicy"] = "Never"
        replicas = sum(s.replicas for s in splits)
        spec = {"completions": replicas, "parallelism": replicas, "completionMode": "Indexed",
                "backoffLimit": 0, "template": template}
        if workload.time_limit_seconds:
            spec["activeDeadlineSeconds"] = workload.time_limit_seconds
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": self._metadata(name, namespace, workload.name, labels), "spec": spec}
        jobs = [job] if context.problem.timeline is None else \
            self._gang_runs(job, workload, splits, context, timed)
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": self._metadata(name, namespace, workload.name, labels),
                   "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                            "selector": {**labels, POD_GROUP_LABEL: name}}}
        return [self._pod_group(workload, namespace), service, *jobs]

    def _gang_runs(self, job: dict, workload, splits: list[Split], context: CompileContext,
                   timed: list[tuple[datetime, str]]) -> list[dict]:
        """A gang's Job per run in time: suspended, named and annotated by its start (all the
        run's replicas start then: the solver holds a gang so), listed for `start-jobs.sh`."""
        runs: dict[tuple[int, int], int] = {}
        for split in splits:
            for run in kubernetes_time.timed_runs(context, split):
                runs[run.start, run.end] = runs.get((run.start, run.end), 0) + run.replicas
        demand = context.problem.demand(demand_key(workload))
        jobs = []
        for (start, end), replicas in sorted(runs.items()):
            run = kubernetes_time.TimedRun(start, end, replicas, kubernetes_time.window_end(demand, start))
            made = kubernetes_time.suspend(copy.deepcopy(job), context, run)
            moment = kubernetes_time.moment(context, start)
            made["metadata"]["name"] = dns_name(f"{workload.name}-{moment:%Y%m%d-%H%M}")
            timed.append((moment, made["metadata"]["name"]))
            jobs.append(made)
        return jobs

    def _pod_group(self, workload, namespace: str) -> dict:
        return {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
                "metadata": self._metadata(dns_name(workload.name), namespace, workload.name),
                "spec": {"minMember": workload.replicas}}

    def _priority_class(self, value: int) -> dict:
        return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": f"fitc-priority-{value}".replace("--", "-minus-"),
                             "labels": dict(MANAGED_BY)},
                "value": value, "globalDefault": False,
                "description": f"fitc priority {value}"}

    # ---- the pod ---------------------------------------------------------

    def _pod_template(self, split: Split, labels: dict, context: CompileContext) -> dict:
        workload, node_class = split.workload, split.node_class
        pod_labels = dict(labels)
        if workload.gang:
            pod_labels[POD_GROUP_LABEL] = dns_name(workload.name)
        container = {"name": dns_name(workload.name), "image": workload.image or "",
                     "resources": self._resources(workload, node_class)}
        # Kubernetes expands `$(VAR)` and turns `$$` into `$` in command, args and env values:
        # every `$` doubled keeps the words exactly as written
        if workload.command:
            container["command"] = [_literal(arg) for arg in workload.command]
        if workload.env:
            container["env"] = [{"name": k, "value": _literal(v)}
                                for k, v in sorted(workload.env.items())]
        spec: dict = {"containers": [container],
                      "affinity": {"nodeAffinity": self._node_affinity(split, context)}}
        pod_affinity = self._pod_affinities(workload)
        spec["affinity"].update(pod_affinity)
        if workload.priority:
            spec["priorityClassName"] = f"fitc-priority-{workload.priority}".replace("--", "-minus-")
        tolerations = _tolerations(node_class)
        if tolerations:
            spec["tolerations"] = tolerations
        spreads = [{"maxSkew": s.max_skew, "topologyKey": topology_key(s.topology),
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": dns_name(workload.name)}},
                    **({"minDomains": s.min_domains} if _min_domains_hold(s, split, context) else {})}
                   for s in workload.spreads]
        if spreads:
            spec["topologySpreadConstraints"] = spreads
        return {"metadata": {"labels": pod_labels}, "spec": spec}

    def _resources(self, workload, node_class: NodeClass) -> dict:
        requests = {"cpu": quantity_cpu(workload.cpu_milli), "memory": quantity_bytes(workload.memory)}
        if workload.disk:
            requests["ephemeral-storage"] = quantity_bytes(workload.disk)
        limits = {"memory": requests["memory"]}
        if workload.gpu_count and node_class.accelerator is not None:
            resource = node_class.accelerator.resource
            requests[resource] = str(workload.gpu_count)
            limits[resource] = str(workload.gpu_count)  # extended resources: limits == requests
        return {"requests": requests, "limits": limits}

    def _node_affinity(self, split: Split, context: CompileContext) -> dict:
        return {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": _pool_selector(split, context)}]}}

    def _pod_affinities(self, workload) -> dict:
        sections: dict[str, list] = {}
        for rule in workload.affinities:
            target = workload.name if rule.target == "self" else rule.target
            term = {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": dns_name(target)}},
                    "topologyKey": topology_key(rule.topology)}
            section = "podAntiAffinity" if rule.anti else "podAffinity"
            sections.setdefault(section, []).append(term)
        return {section: {"requiredDuringSchedulingIgnoredDuringExecution": terms}
                for section, terms in sections.items()}
