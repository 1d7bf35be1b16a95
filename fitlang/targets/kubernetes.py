"""Kubernetes manifests: per workload and pool a Deployment (service) or Job (job), with the
replica counts of the placement, plus PriorityClasses, the namespace and a kustomization.

Objects are built as data and written with PyYAML (fitlang/targets/yaml_out.py),
never by string templates, so every user string is escaped by the YAML emitter.
"""

from __future__ import annotations

import re

from fitlang.model.problem import NodeClass
from fitlang.targets.base import CompileContext, Need, Split, Target, dns_name
from fitlang.targets.yaml_out import dump, dump_all

MANAGED_BY = {"app.kubernetes.io/managed-by": "fitc"}
POOL_LABEL = "fitlang.dev/pool"
OPTION_LABEL = "fitlang.dev/option"  # the accelerator option a workload's pods run with
DEDICATED_TAINT = "fitlang.dev/dedicated"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"  # the coscheduling plugin's gang label
TOPOLOGY_KEYS = {"node": "kubernetes.io/hostname", "zone": "topology.kubernetes.io/zone",
                 "region": "topology.kubernetes.io/region"}


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.match(name)) and (not prefix or bool(_DNS_SUBDOMAIN.match(prefix)))


def topology_key(topology: str) -> str:
    return TOPOLOGY_KEYS.get(topology, topology)


def quantity_cpu(millicores: int) -> str:
    return f"{millicores // 1000}" if millicores % 1000 == 0 else f"{millicores}m"


def quantity_bytes(amount: int) -> str:
    for suffix, size in (("Gi", 2 ** 30), ("Mi", 2 ** 20), ("Ki", 2 ** 10)):
        if amount and amount % size == 0:
            return f"{amount // size}{suffix}"
    return str(amount)


def _split_labels(split: Split) -> dict[str, str]:
    """What selects one split's pods: the workload, the pool, and the option if it has one
    (two options could share an inventory's pool name)."""
    labels = {"app.kubernetes.io/name": dns_name(split.workload.name),
              POOL_LABEL: dns_name(split.node_class.pool)}
    option = split.workload.option
    if option is not None:
        labels[OPTION_LABEL] = option if _LABEL_VALUE.match(option) else dns_name(option)
    return labels


class Kubernetes(Target):
    name = "kubernetes"

    # workload kind -> how its pods are run
    TRANSFORMS = {"service": "_deployment", "job": "_job"}

    def problems(self, context: CompileContext) -> list[str]:
        problems = [Need(f"workload `{w.name}` has no `image`; the kubernetes target needs one",
                         w.origin) for w in context.placed_workloads() if not w.image]
        policy = context.program.policy
        namespace = policy.namespace
        if not _DNS_LABEL.match(namespace):
            problems.append(Need(f"namespace {namespace!r} is not a DNS-1123 label "
                                 "(lowercase letters, digits and `-`, at most 63)", policy.origin))
        for workload in context.placed_workloads():
            for split in context.splits(workload):
                for key, value in split.node_class.labels.items():
                    if not _label_key_ok(key) or not _LABEL_VALUE.match(value):
                        problems.append(Need(f"node label {key!r}: {value!r} of pool "
                                             f"`{split.node_class.pool}` is not a valid Kubernetes "
                                             "label", split.node_class.origin))
            for name in workload.env:
                if not _ENV_NAME.match(name):
                    problems.append(Need(f"environment variable name {name!r} of `{workload.name}` "
                                         "is not valid in Kubernetes", workload.spans.get("env")))
        return sorted(set(problems))

    def render(self, context: CompileContext) -> dict[str, str]:
        namespace = context.program.policy.namespace
        files: dict[str, str] = {}
        if namespace != "default":
            files["namespace.yaml"] = dump({"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": namespace, "labels": MANAGED_BY}})
        priorities = sorted({w.priority for w in context.placed_workloads() if w.priority})
        if priorities:
            files["priorityclasses.yaml"] = dump_all([self._priority_class(p) for p in priorities])
        per_file: dict[str, list[dict]] = {}
        for workload in context.placed_workloads():  # options of a workload share its file
            documents = per_file.setdefault(f"{dns_name(workload.name)}.yaml", [])
            if workload.gang:
                documents.append(self._pod_group(workload, namespace))
            for split in context.splits(workload):
                builder = getattr(self, self.TRANSFORMS[workload.kind])
                documents.append(builder(split, namespace, context))
        files.update({name: dump_all(documents) for name, documents in per_file.items()})
        files["kustomization.yaml"] = dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": sorted(files)})
        return files

    # ---- objects ---------------------------------------------------------

    def _metadata(self, name: str, namespace: str, workload: str, extra: dict | None = None) -> dict:
        labels = {"app.kubernetes.io/name": dns_name(workload), **MANAGED_BY, **(extra or {})}
        return {"name": name, "namespace": namespace, "labels": labels,
                "annotations": {"fitlang.dev/workload": workload}}

    def _deployment(self, split: Split, namespace: str, context: CompileContext) -> dict:
        name = dns_name(f"{split.workload.name}-{split.node_class.id}")
        selector = _split_labels(split)
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": self._metadata(name, namespace, split.workload.name, _split_labels(split)),
            "spec": {"replicas": split.replicas, "selector": {"matchLabels": selector},
                     "template": self._pod_template(split, selector, context)},
        }

    def _job(self, split: Split, namespace: str, context: CompileContext) -> dict:
        name = dns_name(f"{split.workload.name}-{split.node_class.id}")
        labels = _split_labels(split)
        spec = {"completions": split.replicas, "parallelism": split.replicas,
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
        if workload.command:
            # Kubernetes expands $(VAR) in commands; `$$(` keeps the words exactly as written
            container["command"] = [arg.replace("$(", "$$(") for arg in workload.command]
        if workload.env:
            container["env"] = [{"name": k, "value": v} for k, v in sorted(workload.env.items())]
        spec: dict = {"containers": [container],
                      "affinity": {"nodeAffinity": self._node_affinity(split, context)}}
        pod_affinity = self._pod_affinities(workload)
        spec["affinity"].update(pod_affinity)
        if workload.priority:
            spec["priorityClassName"] = f"fitc-priority-{workload.priority}".replace("--", "-minus-")
        if node_class.dedicated is not None:
            spec["tolerations"] = [{"key": DEDICATED_TAINT, "operator": "Equal",
                                    "value": node_class.dedicated, "effect": "NoSchedule"}]
        tolerations = self._taint_tolerations(workload, node_class)
        if tolerations:
            spec.setdefault("tolerations", []).extend(tolerations)
        spreads = [{"maxSkew": s.max_skew, "topologyKey": topology_key(s.topology),
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": dns_name(workload.name)}}}
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
        node_class = split.node_class
        expressions = [{"key": key, "operator": "In", "values": [value]}
                       for key, value in sorted(node_class.labels.items())]
        known = {"topology.kubernetes.io/zone": node_class.zone,
                 "topology.kubernetes.io/region": node_class.region,
                 "kubernetes.io/arch": node_class.arch}
        for key, value in known.items():
            if value is not None and key not in node_class.labels:
                expressions.append({"key": key, "operator": "In", "values": [value]})
        if node_class.provisioned:
            expressions.append({"key": POOL_LABEL, "operator": "In",
                                "values": [dns_name(node_class.pool)]})
            # set by every cloud's kubelet: keeps the pods off other shapes the pool label
            # might also be on (a hand-made node group, say)
            expressions.append({"key": "node.kubernetes.io/instance-type", "operator": "In",
                                "values": [node_class.instance_type]})
        elif node_class.instance_type or context.program.policy.pin_nodes:
            # nodes read from an inventory are real: pin the chosen ones by name
            expressions.append({"key": "kubernetes.io/hostname", "operator": "In",
                                "values": sorted(split.nodes)})
        return {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": expressions}]}}

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

    def _taint_tolerations(self, workload, node_class: NodeClass) -> list[dict]:
        tolerations = []
        for taint in node_class.taints:
            key_value, _, effect = taint.rpartition(":")
            key, _, value = key_value.partition("=")
            tolerations.append({"key": key, "operator": "Equal", "value": value, "effect": effect})
        return tolerations
