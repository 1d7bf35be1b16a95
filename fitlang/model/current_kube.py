"""What runs on a Kubernetes cluster: `kubectl get pods -A -o json`, with the cluster's
PodDisruptionBudgets (`kubectl get pods,pdb -A -o json`, or a file of `kubectl get pdb -A -o
json`) and its nodes (`kubectl get pods,pdb,nodes -A -o json`, or a file of `kubectl get nodes
-o json`): each node's name and labels, by which a node the cloud named is told to be one fitc
bought (`cluster_nodes.py`).

A pod is a replica of the policy's workload named by its `fitlang.dev/workload` annotation or
label, else by its `app.kubernetes.io/name` label as fitc's Kubernetes target writes it, else
by its owner (a ReplicaSet's Deployment, a StatefulSet, a Job) named as the workload (`_` as
`-` too: the driver's `StateNames.pod_names`). It runs
when it is bound to a node (`spec.nodeName`), Running or Pending, and not terminating
(`metadata.deletionTimestamp`). A running pod of no workload of the policy (a DaemonSet's,
another team's) is not a replica: what it requests takes room on its node (`Foreign`), as the
scheduler counts it (`_requests`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from fitlang.file_problems import FileProblem, JsonPath
from fitlang.model.current import (
    ClusterNode,
    CurrentState,
    DisruptionBudget,
    Foreign,
    ReplicaName,
    Running,
    StateRead,
)
from fitlang.model.gpu_partitions import is_part_resource
from fitlang.model.inventory import GPU_RESOURCES

if TYPE_CHECKING:
    from fitlang.documents_read import (
        KubectlContainer,
        KubectlNode,
        KubectlOwner,
        KubectlPdb,
        KubectlPod,
        KubectlPodStatus,
        KubectlSelector,
    )
    from fitlang.model.current_read import StateNames

WORKLOAD_KEY = "fitlang.dev/workload"  # the annotation (and label) naming a pod's workload
OPTION_KEY = "fitlang.dev/option"  # the label naming its accelerator option
NAME_LABEL = "app.kubernetes.io/name"
_RUNNING_PHASES = frozenset({"Running", "Pending"})  # Pending with a node: bound, starting
_POD_KINDS = frozenset({"Pod"})
_PDB_KINDS = frozenset({"PodDisruptionBudget"})
_NODE_KINDS = frozenset({"Node"})
_REPLICA_SET_SUFFIX = re.compile(r"-[a-z0-9]{1,10}$")  # `chat-7d9f8b6c5`: the pod template hash
_PERCENT = re.compile(r"^([0-9]+)%$")
_MOST = 2 ** 62  # a request past this is no node's (and would overflow the solver's int64 rows)


@dataclass(frozen=True)
class _Pod:
    """A running replica's pod as PDBs select it."""

    namespace: str
    labels: Mapping[str, str]
    workload: str
    ready: bool = True  # healthy, as a PodDisruptionBudget counts it (`_ready`)


@dataclass(frozen=True)
class _Pdb:
    name: str  # namespace/name
    namespace: str
    selector: KubectlSelector | None
    max_unavailable: int | str | None
    min_available: int | str | None
    expected: int | None = None  # status.expectedPods: the controller's scale
    healthy: int | None = None  # status.currentHealthy
    always_evict_unhealthy: bool = False  # spec.unhealthyPodEvictionPolicy: AlwaysAllow


@dataclass
class KubeRead:
    read: StateRead
    source: str
    pods: list[_Pod] = field(default_factory=list)
    pdbs: list[_Pdb] = field(default_factory=list)
    foreign: list[Foreign] = field(default_factory=list)  # running pods of no workload
    held: list[Foreign] = field(default_factory=list)  # what the policy's own running pods request


def read_kubectl_state(document: object, source: str, names: StateNames,
                       seen: set[str] | None = None) -> KubeRead:
    """`seen`: the pods and PDBs ("namespace/name") of the files read before, shared by the
    files of one state: an object listed twice would count twice (a PDB would bound twice)."""
    kube = KubeRead(StateRead(unit="pod"), source)
    seen = set() if seen is None else seen
    items = _items(document, source, kube.read)
    pods, pdbs, nodes = _validated(items, source, kube.read)
    running = []
    for index, pod in pods:
        if _again(pod, "pod", seen, kube.read, source, _element(index)):
            continue
        replica = _replica(pod, names, kube, _element(index))
        if replica is not None:
            running.append(replica)
    kube.pdbs = [pdb for index, item in pdbs
                 if not _again(item, "PodDisruptionBudget", seen, kube.read, source, _element(index))
                 and (pdb := _pdb(item, source, _element(index), kube.read)) is not None]
    listed = tuple(_cluster_node(node) for index, node in nodes
                   if not _again(node, "Node", seen, kube.read, source, _element(index)))
    kube.read.state = CurrentState(running=tuple(running), sources=(source,),
                                   foreign=tuple(kube.foreign), held_by_policy=tuple(kube.held),
                                   nodes=tuple(node for node in listed if node is not None))
    return kube


def _cluster_node(node: KubectlNode) -> ClusterNode | None:
    from fitlang.model.inventory import is_ready

    metadata = node.get("metadata") or {}
    name = metadata.get("name")
    schedulable = not (node.get("spec") or {}).get("unschedulable") and is_ready(node.get("status") or {})
    return ClusterNode(name, dict(metadata.get("labels") or {}), schedulable) if name else None


def _items(document: object, source: str, read: StateRead) -> list[tuple[int, dict]]:
    if isinstance(document, dict) and document.get("kind") in ("Pod", "PodDisruptionBudget", "Node"):
        return [(-1, document)]
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        read.problems.append(FileProblem(f"{source}: expected a List of pods (`items`), as "
                                         "`kubectl get pods -A -o json` prints", ()))
        return []
    found = []
    for index, item in enumerate(document["items"]):
        if not isinstance(item, dict):
            read.problems.append(FileProblem(f"{source}: items[{index}] is not an object",
                                             ("items", index)))
        else:
            found.append((index, item))
    return found


def _validated(items: list[tuple[int, dict]], source: str, read: StateRead
               ) -> tuple[list[tuple[int, KubectlPod]], list[tuple[int, KubectlPdb]],
                          list[tuple[int, KubectlNode]]]:
    """The pods, PDBs and nodes of a listing, each kind validated in one call; a listing with
    wrong values is validated again item by item, so each is named by its path and the rest
    read. Items of other kinds (a Service in `kubectl get all`) are not read. An item without
    `kind` is a pod (`kubectl get pods` lists only pods)."""
    from fitlang.documents_read import kubectl_nodes, kubectl_pdbs, kubectl_pods

    pods = [(i, item) for i, item in items if item.get("kind", "Pod") in _POD_KINDS]
    pdbs = [(i, item) for i, item in items if item.get("kind") in _PDB_KINDS]
    nodes = [(i, item) for i, item in items if item.get("kind") in _NODE_KINDS]
    return (_all_valid(kubectl_pods(), pods, source, read),
            _all_valid(kubectl_pdbs(), pdbs, source, read),
            _all_valid(kubectl_nodes(), nodes, source, read) if nodes else [])


def _all_valid(adapter, items: list[tuple[int, dict]], source: str, read: StateRead) -> list:
    """(index, record) of each valid item; one message per wrong value, named by its path."""
    from pydantic import ValidationError

    from fitlang.documents_read import error_problems_relocated

    try:
        return list(zip([index for index, _ in items],
                        adapter.validate_python([item for _, item in items])))
    except ValidationError:
        pass
    valid = []
    for index, item in items:
        try:
            valid.append((index, adapter.validate_python([item])[0]))
        except ValidationError as error:
            read.problems += [problem.of_file(source)
                              for problem in error_problems_relocated(error, _element(index))]
    return valid


def _element(index: int) -> JsonPath:
    """The JSON path of a listing's item (-1: the document is one object)."""
    return () if index < 0 else ("items", index)


def _again(item: KubectlPod | KubectlPdb | KubectlNode, kind: str, seen: set[str], read: StateRead,
           source: str, element: JsonPath) -> bool:
    """Whether the object was listed before (reported once here; the first one is read)."""
    metadata = item.get("metadata") or {}
    key = f"{kind} {metadata.get('namespace') or 'default'}/{metadata.get('name')}"
    if key in seen:
        read.problems.append(FileProblem(
            f"{source}: {key[len(kind) + 1:]}: the {kind} is listed more than once", element))
        return True
    seen.add(key)
    return False


def _replica(pod: KubectlPod, names: StateNames, kube: KubeRead, element: JsonPath) -> Running | None:
    metadata = pod["metadata"]
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName")
    if not node or status.get("phase") not in _RUNNING_PHASES or metadata.get("deletionTimestamp"):
        return None  # not a running replica: done, failed, unbound, or on its way out
    namespace = metadata.get("namespace") or "default"
    handle = ReplicaName(metadata["name"], namespace)
    labels = metadata.get("labels") or {}
    stated = (metadata.get("annotations") or {}).get(WORKLOAD_KEY) or labels.get(WORKLOAD_KEY)
    workload = stated or _workload_by_name(labels, metadata.get("ownerReferences") or [], names)
    if workload is None:
        kube.read.ignored.append(str(handle))
        taken = _requests(spec, f"{kube.source}: {handle}", element, kube.read)
        daemon_set = _daemon_set(metadata.get("ownerReferences") or [], namespace)
        kube.foreign.append(Foreign(node=node, name=str(handle), pod=True, daemon_set=daemon_set,
                                    node_selector=dict(spec.get("nodeSelector") or {})
                                    if daemon_set else {}, **_sized(taken)))
        return None
    option_label = labels.get(OPTION_KEY)
    option = None
    if option_label is not None:
        option = names.option_labels.get((workload, option_label), option_label)
    if not names.knows(workload, option):
        shown = workload if option is None else f"{workload} (option {option})"
        kube.read.unknown.append(f"{handle}: {shown}")
        return None
    ready = _ready(status)
    kube.pods.append(_Pod(namespace, labels, workload, ready))
    # (a quantity that is not one leaves the pod's requests unknown, said of no replica; so does
    # a file that lists no container's `resources`, which kubectl always prints: written by hand)
    sized = any("resources" in c for c in spec.get("containers") or [])
    taken = _requests(spec, "", element, StateRead()) if sized else None
    if taken is not None:  # (with a horizon a running Job's pod holds it: `model/running_jobs.py`)
        kube.held.append(Foreign(node=node, name=str(handle), job=str(handle), **_sized(taken)))
    return Running(workload=workload, node=node, option=option, handle=handle,
                   requests=None if taken is None else (taken["cpu_milli"], taken["memory"]),
                   ready=ready, started=_started(status.get("startTime")))


def _ready(status: KubectlPodStatus) -> bool:
    """Whether a running pod is healthy as the API server's eviction reads it
    (`podutil.IsPodReady`): its `Ready` condition True. A Pending pod is not; nor is one on
    a node gone NotReady, which the node controller marks `Ready` False (its eviction reads
    the pod's condition, not the node's). A pod that lists no conditions (written by hand)
    is taken to be healthy, as before pods' health was read."""
    if status.get("phase") == "Pending":
        return False
    conditions = status.get("conditions")
    if conditions is None:
        return True
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _sized(taken: dict[str, int] | None) -> dict[str, Any]:
    """A pod's requests (`_requests`) as `Foreign`'s fields (none where unknown)."""
    return dict(taken or {})


def _started(text: str | None) -> int | None:
    """A pod's `status.startTime` in seconds since the epoch (None where absent or unreadable)."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return None if moment is None or moment.tzinfo is None else int(moment.timestamp())


def _daemon_set(owners: list[KubectlOwner], namespace: str) -> str | None:
    """The DaemonSet a pod belongs to ("NAMESPACE/NAME"), where its owner is one."""
    for owner in owners:
        if owner.get("kind") == "DaemonSet" and owner.get("name"):
            return f"{namespace}/{owner['name']}"
    return None


def _requests(spec, where: str, element: JsonPath, read: StateRead) -> dict[str, int] | None:
    """What a pod requests of its node as the scheduler counts it (`resource.PodRequests`):
    its containers' requests summed, or its largest init container's where that is more (an
    init container runs alone, beside the sidecars started before it: init containers with
    `restartPolicy: Always`, which keep running and add to the sum), plus its `overhead`.
    None (and E0801) where a quantity is not one."""
    from fitlang.model.inventory import parse_quantity

    def summed(requests: dict | None) -> dict[str, int]:
        found = dict.fromkeys(("cpu_milli", "memory", "gpu", "disk"), 0)
        for resource, text in (requests or {}).items():
            key, scale = _KEYS.get(resource) or (("gpu", 1) if is_part_resource(resource) else (None, 0))
            if key is None:
                continue
            found[key] += min(_MOST, math.ceil(parse_quantity(str(text)) * scale))
        return found

    try:
        running = _added([summed(_stated(c)) for c in spec.get("containers") or []])
        sidecars, peak = _added([]), _added([])
        for container in spec.get("initContainers") or []:
            own = summed(_stated(container))
            if container.get("restartPolicy") == "Always":
                sidecars = _added([sidecars, own])
                peak = _larger(peak, sidecars)
            else:
                peak = _larger(peak, _added([sidecars, own]))
        return _added([_larger(_added([running, sidecars]), peak), summed(spec.get("overhead"))])
    except (ValueError, ArithmeticError) as error:
        read.problems.append(FileProblem(f"{where}: a request is not a Kubernetes quantity ({error})",
                                         (*element, "spec")))
        return None


# request name -> (Foreign's field, scale to its unit)
_KEYS = {"cpu": ("cpu_milli", 1000), "memory": ("memory", 1), "ephemeral-storage": ("disk", 1),
         **{name: ("gpu", 1) for name in GPU_RESOURCES}}  # TPUs and Neuron devices too
# (and parts of GPUs under names of their own, `is_part_resource`: counted whatever the kind the
# node's accelerator is, the safe side where a node advertises two kinds)


def _stated(container: KubectlContainer) -> dict | None:
    return (container.get("resources") or {}).get("requests")


def _added(parts: list[dict[str, int]]) -> dict[str, int]:
    return {key: min(_MOST, sum(part[key] for part in parts))
            for key in ("cpu_milli", "memory", "gpu", "disk")}


def _larger(one: dict[str, int], other: dict[str, int]) -> dict[str, int]:
    return {key: max(one[key], other[key]) for key in one}


def _workload_by_name(labels: Mapping[str, str], owners: Sequence, names: StateNames) -> str | None:
    """The workload the pod's name label, or else its owner, names (as the policy or as fitc's
    Kubernetes target names it, in lowercase DNS form)."""
    by_label = labels.get(NAME_LABEL)
    if by_label is not None:
        found = _named(by_label, names)
        if found is not None:
            return found
    for owner in owners:
        name = owner.get("name") or ""
        if owner.get("kind") == "ReplicaSet":  # a Deployment's: `DEPLOYMENT-HASH`
            name = _REPLICA_SET_SUFFIX.sub("", name)
        if owner.get("kind") in ("ReplicaSet", "StatefulSet", "Job", "Deployment"):
            found = _named(name, names)
            if found is not None:
                return found
    return None


def _named(name: str, names: StateNames) -> str | None:
    return name if name in names.workloads else names.pod_names.get(name)


def _pdb(item: KubectlPdb, source: str, element: JsonPath, read: StateRead) -> _Pdb | None:
    """`element`: the PDB's JSON path in its file (`source`)."""
    from fitlang.documents_read import json_path

    where = f"{source}: {json_path(element) or 'the document'}"
    metadata = item["metadata"]
    namespace = metadata.get("namespace") or "default"
    spec = item.get("spec") or {}
    most, least = spec.get("maxUnavailable"), spec.get("minAvailable")
    for key, value in (("maxUnavailable", most), ("minAvailable", least)):
        if value is not None and not _int_or_percent(value):
            read.problems.append(FileProblem(
                f"{where}.spec.{key}: expected a whole number of pods or a percentage such as "
                f"\"20%\" (found {_shown(value)})", (*element, "spec", key)))
            return None
    if (most is None) == (least is None):
        read.problems.append(FileProblem(
            f"{where}.spec: give exactly one of maxUnavailable and minAvailable", (*element, "spec")))
        return None
    status = item.get("status") or {}
    counts = {"expectedPods": status.get("expectedPods"), "currentHealthy": status.get("currentHealthy")}
    for key, count in counts.items():
        if count is not None and (isinstance(count, bool) or count < 0):
            read.problems.append(FileProblem(
                f"{where}.status.{key}: expected a whole number of pods (found {_shown(count)})",
                (*element, "status", key)))
            return None
    return _Pdb(f"{namespace}/{metadata['name']}", namespace, spec.get("selector"), most, least,
                counts["expectedPods"], counts["currentHealthy"],
                spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow")


def _int_or_percent(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and _PERCENT.match(value) is not None


def _shown(value: object) -> str:
    import json

    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def resolve_budgets(reads: Sequence[KubeRead]) -> None:
    """Each PDB's budget per workload whose running pods it selects (pods of every file): a
    PDB that selects pods of two workloads bounds each of them (the union bound is not one a
    per-workload budget can state; each workload's own share of it is within it)."""
    pods = _PodIndex([pod for kube in reads for pod in kube.pods])
    for kube in reads:
        budgets = []
        for pdb in kube.pdbs:
            selected: dict[str, int] = {}
            ready = 0
            for pod in pods.candidates(pdb):
                if _selects(pdb.selector, pod.labels):
                    selected[pod.workload] = selected.get(pod.workload, 0) + 1
                    ready += pod.ready
            if not selected:
                kube.read.unmatched_budgets.append(pdb.name)
            total = sum(selected.values())
            source = f"{pdb.name} in {kube.source}"
            budgets += [_budget(workload, pdb, total, ready, source) for workload in sorted(selected)]
        kube.read.state = replace(kube.read.state, budgets=tuple(budgets))


class _PodIndex:
    """The running pods by namespace and by (namespace, label, value): a PDB is matched
    against the pods that carry its first `matchLabels` pair, not against every pod (1,000
    PDBs over 20,000 pods took 20 s scanned, 0.02 s indexed)."""

    def __init__(self, pods: list[_Pod]) -> None:
        self.by_namespace: dict[str, list[_Pod]] = {}
        self.by_label: dict[tuple[str, str, str], list[_Pod]] = {}
        for pod in pods:
            self.by_namespace.setdefault(pod.namespace, []).append(pod)
            for key, value in pod.labels.items():
                self.by_label.setdefault((pod.namespace, key, value), []).append(pod)

    def candidates(self, pdb: _Pdb) -> list[_Pod]:
        pairs = (pdb.selector or {}).get("matchLabels") or {}
        if pairs:
            key, value = next(iter(pairs.items()))
            return self.by_label.get((pdb.namespace, key, value), [])
        return self.by_namespace.get(pdb.namespace, [])


def _budget(workload: str, pdb: _Pdb, running: int, ready: int, source: str) -> DisruptionBudget:
    """`running`: the pods the PDB selects, `ready` of them healthy. Without the PDB's status
    and with every pod healthy, the controller's scale is taken to be those pods:
    `maxUnavailable` stays as it is (a share stays a share: Kubernetes rounds the pods it
    lets go UP, so the plan may disrupt ceil(share x replicas)), `minAvailable` is turned into
    the pods that may go, of those running. "Kubernetes rounds up to the nearest integer" for
    a `minAvailable` percentage (7 pods, 50%: 4 must stay):
    https://kubernetes.io/docs/tasks/run-application/configure-pdb/
    #rounding-logic-when-using-percentages. With the status, or with pods that are not
    healthy, as the disruption controller counts it, over healthy pods (`_counted`)."""
    if pdb.expected is not None or ready < running:
        return _counted(workload, pdb, running, ready, source)
    if pdb.max_unavailable is not None:
        value = pdb.max_unavailable
        if isinstance(value, str):
            return DisruptionBudget(workload, share=_percent(value), source=source)
        return DisruptionBudget(workload, count=value, source=source)
    least = pdb.min_available
    if isinstance(least, str):
        least = math.ceil(_percent(least) * running)
    assert least is not None
    return DisruptionBudget(workload, count=max(0, running - least), source=source)


def _counted(workload: str, pdb: _Pdb, running: int, ready: int, source: str) -> DisruptionBudget:
    """The disruption controller's budget (`disruptionsAllowed`): the pods healthy now less
    those that must stay (`desiredHealthy`). A percentage (of either field) is of the
    controller's scale (`status.expectedPods`; without the status, the pods running), not of
    the pods running, and is rounded up; `maxUnavailable` leaves that scale less it; an
    integer `minAvailable` is the pods that must stay (kubernetes pkg/controller/disruption,
    getExpectedPodCount). Healthy: the status's `currentHealthy` (at most the pods running),
    else the pods Ready. The pods that are not healthy may be evicted without spending the
    budget where the API server allows it (`DisruptionBudget.above`)."""
    expected = running if pdb.expected is None else pdb.expected
    healthy = ready if pdb.healthy is None else min(running, pdb.healthy)
    if pdb.max_unavailable is not None:
        most = pdb.max_unavailable
        going = math.ceil(_percent(most) * expected) if isinstance(most, str) else most
        staying = max(0, expected - going)
    else:
        least = pdb.min_available
        assert least is not None
        staying = math.ceil(_percent(least) * expected) if isinstance(least, str) else least
    return DisruptionBudget(workload, count=max(0, healthy - staying), source=source,
                            above=healthy - staying, must_stay=staying,
                            always_evict_unhealthy=pdb.always_evict_unhealthy)


def _percent(value: str) -> Fraction:
    return Fraction(int(value[:-1]), 100)


def _selects(selector: KubectlSelector | None, labels: Mapping[str, str]) -> bool:
    """Label selector semantics: every `matchLabels` pair and every expression holds; an
    empty selector selects every pod of the namespace (policy/v1), a missing one none."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement["key"], requirement["operator"]
        values = requirement.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True
