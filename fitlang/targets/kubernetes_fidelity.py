"""Do written Kubernetes manifests realise a solved placement? Read back as the cluster would.

This module shares no code with the renderer (fitlang/targets/kubernetes.py): it parses the
YAML files as the API server does, applies the scheduler's node filters (nodeSelector, required
node affinity with every operator, taints and tolerations, resource requests against
allocatable) to the nodes of the solved `Problem`, and compares what may happen with what the
solver decided:

- each object's pods may only land on nodes the solver chose for its workload: for inventory
  nodes (real, named machines) the very nodes chosen; for declared pools and bought capacity
  (interchangeable nodes) the node classes chosen;
- each object runs as many pods as the solver placed on the nodes it may use;
- on every node, the pods the solver put there fit its allocatable with the requests written,
  and are no more than its `pods` (the kubelet's maxPods, where known);
- every value the API server validates as a label value (node affinity, tolerations) is valid,
  or the object would be rejected and never run.

What the nodes carry is the documented contract of docs/targets.md, restated here on purpose:
their labels (stated, or read from the inventory), zone, region, arch and hostname labels, the
instance type of bought nodes, the pool label of declared pools and bought node groups, and the
`fitlang.dev/dedicated` taint of dedicated pools.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from decimal import Decimal

import yaml

from fitlang.diagnostics import Diagnostic
from fitlang.model.inventory import parse_quantity
from fitlang.model.problem import NodeClass
from fitlang.targets.base import CompileContext, Findings, by_message, dns_name
from fitlang.targets.cloud_facts import cloud_taints
from fitlang.targets.kubernetes import KubernetesSettings

DEFAULT_POOL_LABEL = "fitlang.dev/pool"
DEDICATED_TAINT_KEY = "fitlang.dev/dedicated"
WORKLOAD_ANNOTATION = "fitlang.dev/workload"
OPTION_LABEL = "fitlang.dev/option"
START_ANNOTATION = "fitlang.dev/start"  # with a horizon: when a suspended Job is resumed
DEADLINE_ANNOTATION = "fitlang.dev/deadline"  # ... and the end of its run's window
END_ANNOTATION = "fitlang.dev/end"  # ... and its planned end
POD_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "Job", "Pod", "CronJob"}
# the API server's label-value rule (k8s.io/apimachinery validation.IsValidLabelValue)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SCHEDULING_EFFECTS = ("NoSchedule", "NoExecute")
# what reading a field of the wrong type or form raises: the API server rejects such objects
MALFORMED = (AttributeError, TypeError, ValueError, KeyError)
HOSTNAME_LABEL = "kubernetes.io/hostname"


@dataclass
class ClusterNode:
    """One node of the solved problem, as a cluster would show it."""

    name: str
    node_class: NodeClass
    labels: dict[str, str]
    taints: list[tuple[str, str, str]]  # (key, value, effect)
    allocatable: dict[str, Decimal]
    exact: bool  # a real, named machine (inventory): the solver chose this very node
    stands_for: int = 1  # nodes of its pool it stands for: they differ from it in name alone


@dataclass
class PodObject:
    path: str
    folder: str  # the kustomization folder that applies it: one cluster
    kind: str
    name: str
    pods: int
    template: dict
    workload: str | None
    option: str | None
    problems: list[str] = field(default_factory=list)
    annotations: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)  # the object's own spec (a Job's: suspend, deadline)
    cron: dict | None = None  # a CronJob's spec (`spec` is then its jobTemplate's)


# ---- the nodes ------------------------------------------------------------


def cluster_nodes(context: CompileContext, named: Iterable[str] = ()) -> list[ClusterNode]:
    """The nodes of the cluster as the scheduler sees them. An inventory's nodes are real
    machines, each listed; bought nodes are those the placement bought. The nodes of a declared
    pool differ in their name alone (the hostname label), so a pool is the nodes the placement
    uses, those the files `named`, and one node that stands for all the others: a pool of ten
    million nodes costs a few."""
    owners = context.problem.owners()
    special: dict[int, set[str]] = {}
    for name in {a.node for a in context.placement.assignments} | set(named):
        node_class = owners.get(name)
        if node_class is not None:
            special.setdefault(id(node_class), set()).add(name)
    nodes = []
    for node_class in context.problem.classes:
        inventory = node_class.pool in context.program.inventories
        if node_class.provisioned:
            names = [(n, 1) for n in context.placement.bought.get(node_class.id, [])]
        elif inventory:
            names = [(n, 1) for n in node_class.node_names]
        else:
            names = _pool_members(node_class, special.get(id(node_class), set()), owners)
        nodes += [_cluster_node(context, node_class, name, inventory, count)
                  for name, count in names]
    return nodes


def _pool_members(node_class: NodeClass, taken: set[str], owners) -> list[tuple[str, int]]:
    """(name, how many nodes it stands for): the `taken` nodes, then the first other node
    standing for the rest of the pool, if any is left."""
    members = [(name, 1) for name in owners.in_class_order(taken)]
    left = len(node_class.node_names) - len(taken)
    if left > 0:
        members.append((next(n for n in node_class.node_names if n not in taken), left))
    return members


def _cluster_node(context: CompileContext, node_class: NodeClass, name: str, inventory: bool,
                  stands_for: int) -> ClusterNode:
    labels = dict(node_class.labels)
    known = {"kubernetes.io/hostname": node_class.hostname(name), "kubernetes.io/arch": node_class.arch,
             "topology.kubernetes.io/zone": node_class.zone,
             "topology.kubernetes.io/region": node_class.region,
             "node.kubernetes.io/instance-type": node_class.instance_type}
    for key, value in known.items():
        if value is not None:
            labels.setdefault(key, value)
    if node_class.provisioned:  # the node groups fitc's Terraform writes carry it
        labels[DEFAULT_POOL_LABEL] = dns_name(node_class.pool)
    elif not inventory:  # declared pools: the label the policy says their nodes carry,
        # the pool's name (its DNS form where the name is no label value)
        pool = node_class.pool
        labels[context.program.policy.settings_of(KubernetesSettings).pool_label] = (
            pool if _valid_label_value(pool) else dns_name(pool))
    return ClusterNode(name, node_class, labels, _taints(node_class), _allocatable(node_class),
                       exact=inventory, stands_for=stands_for)


def _taints(node_class: NodeClass) -> list[tuple[str, str, str]]:
    taints = []
    if node_class.dedicated is not None:
        taints.append((DEDICATED_TAINT_KEY, node_class.dedicated, "NoSchedule"))
    taints.extend((taint.key, taint.value, taint.effect) for taint in node_class.taints)
    # what the cloud taints its nodes with itself: pods without the toleration never land there
    taints.extend(cloud_taints(node_class))
    return taints


def _allocatable(node_class: NodeClass) -> dict[str, Decimal]:
    capacity = node_class.capacity
    allocatable = {"cpu": Decimal(capacity["cpu"]) / 1000, "memory": Decimal(capacity["memory"])}
    if capacity.get("disk"):
        allocatable["ephemeral-storage"] = Decimal(capacity["disk"])
    if node_class.accelerator is not None and capacity.get("gpu"):
        allocatable[node_class.accelerator.resource] = Decimal(capacity["gpu"])
    if node_class.max_pods is not None:  # the kubelet's maxPods: each pod counts one
        allocatable["pods"] = Decimal(node_class.max_pods)
    return allocatable


# ---- reading the files ---------------------------------------------------------


def applied_objects(files: dict[str, str]) -> tuple[list[tuple[str, dict]], list[str]]:
    """Every object `kubectl apply -k` applies from each folder with a kustomization.yaml:
    (path, object); and what cannot be read."""
    objects: list[tuple[str, dict]] = []
    problems: list[str] = []
    kustomizations = sorted(p for p in files if posixpath.basename(p) == "kustomization.yaml")
    if not kustomizations:
        return [], ["no kustomization.yaml: nothing would be applied"]
    for path in kustomizations:
        folder = posixpath.dirname(path)
        try:
            kustomization = yaml.safe_load(files[path]) or {}
        except yaml.YAMLError as error:
            problems.append(f"{path}: not YAML: {error}")
            continue
        except RecursionError:
            problems.append(f"{path}: nests too deeply to read")
            continue
        if not isinstance(kustomization, dict) or not isinstance(
                kustomization.get("resources") or [], list):
            problems.append(f"{path}: not a kustomization (a mapping with a `resources` list)")
            continue
        for resource in kustomization.get("resources") or []:
            listed = posixpath.normpath(posixpath.join(folder, str(resource)))
            if listed not in files:
                problems.append(f"{path} lists `{resource}`, which is not in the folder")
                continue
            try:
                documents = list(yaml.safe_load_all(files[listed]))
            except yaml.YAMLError as error:
                problems.append(f"{listed}: not YAML: {error}")
                continue
            except RecursionError:  # PyYAML reads nested collections recursively
                problems.append(f"{listed}: nests too deeply to read")
                continue
            objects.extend((listed, d) for d in documents if isinstance(d, dict))
    return objects, problems


def _named_twice(objects: list[tuple[str, dict]], need: Findings) -> list[Diagnostic]:
    """Objects of one kind, namespace and name in one folder: `kubectl apply` keeps the last."""
    seen: Counter = Counter()
    for path, document in objects:
        metadata = document.get("metadata") or {}
        if isinstance(metadata, dict):
            seen[(posixpath.dirname(path), str(document.get("kind")), str(metadata.get("namespace")),
                  str(metadata.get("name")))] += 1
    return [need(f"{folder or '.'}: {count} {kind} objects named `{name}` in namespace `{namespace}`: "
                 "`kubectl apply` keeps the last one only")
            for (folder, kind, namespace, name), count in sorted(seen.items()) if count > 1]


def pod_objects(objects: list[tuple[str, dict]]) -> list[PodObject]:
    found = []
    for path, document in objects:
        kind = document.get("kind")
        if kind not in POD_KINDS:
            continue
        metadata = document.get("metadata") or {}
        spec = document.get("spec") or {}
        cron = None
        if kind == "CronJob":  # read as the Job it makes at each firing, its schedule kept
            cron = spec
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        template = document if kind == "Pod" else spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        annotations = metadata.get("annotations") or {}
        found.append(PodObject(
            path, posixpath.dirname(path), kind, str(metadata.get("name")), _pod_count(kind, spec), template,
            annotations.get(WORKLOAD_ANNOTATION),
            labels.get(OPTION_LABEL) or (metadata.get("labels") or {}).get(OPTION_LABEL),
            annotations=annotations, spec=spec, cron=cron))
    return found


def _pod_count(kind: str, spec: dict) -> int:
    """Pods that run at once: replicas, or a Job's parallelism (at most its completions)."""
    if kind == "Pod":
        return 1
    if kind in ("Job", "CronJob"):
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        return parallelism if completions is None else min(parallelism, completions)
    return spec.get("replicas", 1)


# ---- the scheduler's filters -------------------------------------------------


def may_run_on(pod: dict, node: ClusterNode) -> bool:
    return (_node_selector_matches(pod.get("nodeSelector") or {}, node)
            and _affinity_matches(pod.get("affinity") or {}, node)
            and _tolerated(pod.get("tolerations") or [], node))


def _node_selector_matches(selector: dict, node: ClusterNode) -> bool:
    return all(node.labels.get(key) == str(value) for key, value in selector.items())


def _affinity_matches(affinity: dict, node: ClusterNode) -> bool:
    required = ((affinity.get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    # terms are ORed; a term with no requirement at all matches no node
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def _term_matches(term: dict, node: ClusterNode) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    return (all(_expression_matches(e, node.labels) for e in expressions)
            and all(_expression_matches(f, {"metadata.name": node.name}) for f in fields))


def _expression_matches(expression: dict, labels: dict[str, str]) -> bool:
    key, operator = expression.get("key"), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels  # an unhashable key raises: the caller reports the object refused
    label = labels[key] if present and isinstance(key, str) else None
    if operator == "In":
        return present and label in values
    if operator == "NotIn":
        return not present or label not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and label is not None and len(values) == 1:
        try:
            have, bound = int(label), int(values[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def _tolerated(tolerations: list[dict], node: ClusterNode) -> bool:
    return all(any(_tolerates(t, taint) for t in tolerations)
               for taint in node.taints if taint[2] in SCHEDULING_EFFECTS)


def _tolerates(toleration: dict, taint: tuple[str, str, str]) -> bool:
    key, value, effect = taint
    if toleration.get("effect") and toleration["effect"] != effect:
        return False
    operator = toleration.get("operator", "Equal")
    if operator == "Exists":
        return not toleration.get("key") or toleration["key"] == key
    return toleration.get("key") == key and str(toleration.get("value", "")) == value


def pod_requests(pod: dict) -> dict[str, Decimal]:
    """What the scheduler counts: the containers' requests summed (a limit stands in for a
    missing request, as the API server defaults it), or the largest init container's."""
    total: defaultdict[str, Decimal] = defaultdict(Decimal)
    for container in pod.get("containers") or []:
        for resource, amount in _container_requests(container).items():
            total[resource] += amount
    for container in pod.get("initContainers") or []:
        for resource, amount in _container_requests(container).items():
            total[resource] = max(total[resource], amount)
    return dict(total)


def _container_requests(container: dict) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {resource: parse_quantity(str(amount)) for resource, amount in merged.items()}


def invalid_values(pod: dict) -> list[str]:
    """Values the API server would reject: label values in node affinity and tolerations."""
    problems = []
    required = (((pod.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for expression in term.get("matchExpressions") or []:
            for value in expression.get("values") or []:
                if not _valid_label_value(value):
                    problems.append(f"node affinity value {value!r} of `{expression.get('key')}` "
                                    "is not a valid label value")
    for key, value in (pod.get("nodeSelector") or {}).items():
        if not _valid_label_value(value):
            problems.append(f"nodeSelector value {value!r} of `{key}` is not a valid label value")
    for toleration in pod.get("tolerations") or []:
        value = toleration.get("value")
        if value is not None and not _valid_label_value(value):
            problems.append(f"toleration value {value!r} of `{toleration.get('key')}` is not a "
                            "valid label value")
    return problems


def _valid_label_value(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(LABEL_VALUE.match(value))


def expand(text: str, variables: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of command, args and env values, as the kubelet does it
    (k8s.io/kubernetes third_party/forked/golang/expansion): `$$` is `$`, `$(NAME)` a defined
    variable's value (an undefined one stays as written), any other `$` itself."""
    out, cursor = [], 0
    while cursor < len(text):
        char = text[cursor]
        if char != "$" or cursor + 1 == len(text):
            out.append(char)
            cursor += 1
            continue
        following = text[cursor + 1]
        if following == "$":
            out.append("$")
            cursor += 2
        elif following == "(" and ")" in text[cursor + 2:]:
            close = text.index(")", cursor + 2)
            name = text[cursor + 2:close]
            out.append(variables.get(name, f"$({name})"))
            cursor = close + 1
        elif following == "(":
            out.append("$(")
            cursor += 2
        else:
            out.append("$" + following)
            cursor += 2
    return "".join(out)


def container_words(container: dict) -> tuple[list[str] | None, dict[str, str]]:
    """The command and env values the process sees, after expansion."""
    variables: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            variables[str(item.get("name"))] = expand(str(item["value"]), variables)
    command = container.get("command")
    words = None if command is None else [expand(str(w), variables) for w in command]
    if container.get("args") is not None:
        words = (words or []) + [expand(str(w), variables) for w in container["args"]]
    return words, variables


# ---- the comparison ----------------------------------------------------------


def check(context: CompileContext, files: dict[str, str], need: Findings) -> list[Diagnostic]:
    if not files and not context.placement.assignments:
        return []  # nothing placed (replicas = 0): `fitc compile` writes nothing, rightly
    objects, problems = applied_objects(files)
    needs = [need(p) for p in problems] + _named_twice(objects, need)
    nodes = cluster_nodes(context, _strings([document for _, document in objects]))
    demands = {d.name: d for d in context.problem.demands}
    chosen: dict[str, Counter] = {}  # demand -> node -> replicas
    for assignment in context.placement.assignments:
        chosen.setdefault(assignment.workload, Counter())[assignment.node] += 1
    written: Counter = Counter()
    requests_of: dict[str, dict[str, Decimal]] = {}
    folders = {posixpath.dirname(p) for p in files if posixpath.basename(p) == "kustomization.yaml"}
    items = []
    for path, document in objects:
        try:
            items += pod_objects([(path, document)])
        except MALFORMED as error:
            needs.append(need(f"{path}: an object the API server rejects ({error})"))
    try:
        needs += _gang_needs(context, objects, items, demands, need)
    except MALFORMED as error:
        needs.append(need(f"a gang's objects are malformed ({error}); the API server rejects them"))
    node_sets: dict[str, _NodeSet] = {}

    def nodes_of(folder: str) -> _NodeSet:
        if folder not in node_sets:
            node_sets[folder] = _NodeSet(_cluster_nodes(nodes, folder, folders))
        return node_sets[folder]

    for item in items:
        where = f"{item.path}: {item.kind} `{item.name}`"
        try:
            needs += _item_needs(context, item, where, demands, nodes_of, chosen, written,
                                 requests_of, need)
        except MALFORMED as error:  # a value of the wrong type or form where a field is typed
            needs.append(need(f"{where}: the API server rejects the object ({error})",
                              _origin(context, item.workload)))
    for demand, counts in sorted(chosen.items()):
        placed = sum(counts.values())
        if written[demand] != placed:
            needs.append(need(f"`{demand}`: the files run {written[demand]} pods, the placement "
                              f"{placed}", _origin(context, demands[demand].workload)))
    if context.problem.timeline is None:
        needs += _overcommitted(nodes, chosen, requests_of, need)
    else:
        needs += _overcommitted_in_time(context, nodes, requests_of, need)
    return by_message(needs)


def _item_needs(context: CompileContext, item: PodObject, where: str, demands: dict,
                nodes_of: Callable[[str], _NodeSet], chosen: dict[str, Counter],
                written: Counter, requests_of: dict[str, dict[str, Decimal]],
                need: Findings) -> list[Diagnostic]:
    """What one object runs against what the solver placed (`written`, `requests_of`: what
    it adds to the totals)."""
    demand = _demand_named(demands, item)
    origin = _origin(context, item.workload)
    pod = item.template.get("spec") or {}
    needs = [need(f"{where}: {p}; the API server rejects the object", origin)
             for p in invalid_values(pod)]
    if demand is None:
        return needs + [need(f"{where} runs no placed workload (annotation "
                             f"`{WORKLOAD_ANNOTATION}` names {item.workload!r})", origin)]
    if not isinstance(item.pods, int) or isinstance(item.pods, bool):
        raise TypeError(f"a pod count of {item.pods!r}")
    workload = context.program.workloads.get(item.workload) if item.workload is not None else None
    needs += _words_needs(where, pod, workload, origin, need)
    requests = pod_requests(pod)
    written[demand] += item.pods
    requests_of.setdefault(demand, requests)
    placed = chosen.get(demand, Counter())
    if _runs_in_time(context, demand) and item.cron is not None:
        firings = _cron_firings(context, item, where, origin, need, needs)
        written[demand] += item.pods * (len(firings) - 1)
        for firing in firings:  # each Job it makes runs one solved start, on its nodes
            needs += _time_needs(context, item, f"{where} at {firing}", demands[demand], origin,
                                 need, firing)
            needs += _object_needs(f"{where} at {firing}", item, pod, requests,
                                   nodes_of(item.folder),
                                   _started_at(context, demand, firing), origin, need)
        return needs
    if _runs_in_time(context, demand):
        needs += _time_needs(context, item, where, demands[demand], origin, need)
        placed = _started_at(context, demand, item.annotations.get(START_ANNOTATION),
                             item.annotations.get(END_ANNOTATION))
    return needs + _object_needs(where, item, pod, requests,
                                 nodes_of(item.folder),
                                 placed, origin, need)


def _cron_firings(context: CompileContext, item: PodObject, where: str, origin, need: Findings,
                  needs: list[Diagnostic]) -> list[str]:
    """The instants a CronJob starts a Job in the horizon, as the CronJob controller reads its
    schedule (in its `timeZone`; UTC only here)."""
    from fitlang.check.recurrence import parse_cron

    timeline = context.problem.timeline
    assert item.cron is not None and timeline is not None
    zone = item.cron.get("timeZone")
    if zone not in ("Etc/UTC", "UTC"):
        needs.append(need(f"{where}: timeZone {zone!r}: its schedule is read in another zone than "
                          "the placement's UTC", origin))
        return []
    cron = parse_cron(str(item.cron.get("schedule", "")))
    if isinstance(cron, str):
        needs.append(need(f"{where}: schedule {item.cron.get('schedule')!r}: {cron}", origin))
        return []
    end = timeline.start + timedelta(seconds=timeline.steps * timeline.step_seconds)
    return [moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for moment in cron.firings(timeline.start, end)]


@dataclass
class _NodeSet:
    """The nodes of one folder's cluster, indexed by their hostname label and name, so that an
    object pinned by hostname (one per workload and node on pinned nodes) is tried on its own
    node, not on each of an inventory's: a 10,000-node inventory's read-back (seed 7,
    docs/performance.md, session 46) took 42 CPU s so, 18.8 indexed, 18.4 when its objects
    were one per pool."""

    nodes: list[ClusterNode]
    by_host: dict[str | None, list[ClusterNode]] = field(default_factory=dict)
    by_name: dict[str, ClusterNode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node in self.nodes:
            self.by_host.setdefault(node.labels.get(HOSTNAME_LABEL), []).append(node)
            self.by_name[node.name] = node

    def candidates(self, pod: dict) -> list[ClusterNode]:
        """The nodes the pod's node filters may pass: where each of its required terms has
        `kubernetes.io/hostname In`, those hostnames' alone; else all."""
        hosts = _named_hosts(pod)
        if hosts is None:
            return self.nodes
        return [node for host in sorted(hosts) for node in self.by_host.get(host, [])]


def _named_hosts(pod: dict) -> set[str] | None:
    """The hostnames every node the pod's required node affinity passes has one of (a term
    passes a node only where each of its expressions does), or None where a term names none."""
    required = ((pod.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    hosts: set[str] = set()
    for term in required.get("nodeSelectorTerms") or []:
        named = [e for e in term.get("matchExpressions") or []
                 if e.get("key") == HOSTNAME_LABEL and e.get("operator") == "In"]
        if not named:
            return None
        hosts.update(str(v) for v in named[0].get("values") or [])
    return hosts


def _cluster_nodes(nodes: list[ClusterNode], folder: str, folders: set[str]) -> list[ClusterNode]:
    """The nodes the cluster a folder is applied to has: with one folder per cluster, those
    of the cluster the folder is named after; with one folder only, every node."""
    if folders == {folder} and folder == "":
        return nodes
    return [n for n in nodes if dns_name(n.node_class.cluster) == posixpath.basename(folder)]


def _gang_needs(context: CompileContext, objects: list[tuple[str, dict]], items: list[PodObject],
                demands: dict, need: Findings) -> list[Diagnostic]:
    """A gang is one Job (a service gang: a Deployment per pool) in one cluster, on the
    coscheduling scheduler, with a PodGroup that waits for all of its pods."""
    groups = {(posixpath.dirname(path), (d.get("metadata") or {}).get("name")): d
              for path, d in objects if d.get("kind") == "PodGroup"}
    scheduler = context.program.policy.settings_of(KubernetesSettings).scheduler_name
    needs = []
    by_demand: dict[str, list[PodObject]] = {}
    for item in items:
        name = _demand_named(demands, item)
        if name is not None and demands[name].gang:
            by_demand.setdefault(name, []).append(item)
    for name, members in sorted(by_demand.items()):
        origin = _origin(context, demands[name].workload)
        # a service: a Deployment per pool; with a horizon a Job per run, each at its start
        starts = Counter(m.annotations.get(START_ANNOTATION) for m in members)
        if any(m.kind == "Job" for m in members) and (len(members) != len(starts) or (
                len(members) > 1 and context.problem.timeline is None)):
            timed = "" if context.problem.timeline is None else " (with a horizon, one Job per start)"
            needs.append(need(f"gang `{name}` is written as {len(members)} objects "
                              f"({', '.join(m.path for m in members)}): one Job runs a gang{timed}",
                              origin))
        for item in members:
            pod = item.template.get("spec") or {}
            where = f"{item.path}: {item.kind} `{item.name}`"
            if pod.get("schedulerName") != scheduler:
                needs.append(need(f"{where}: its pods name scheduler {pod.get('schedulerName')!r}, "
                                  f"not the coscheduling one ({scheduler!r})", origin))
            group_name = ((item.template.get("metadata") or {}).get("labels") or {}).get(
                "scheduling.x-k8s.io/pod-group")
            group = groups.get((item.folder, group_name))
            pods = demands[name].replicas_per_run  # (a recurring gang's: each run's)
            if group is None or (group.get("spec") or {}).get("minMember") != pods:
                needs.append(need(f"{where}: no PodGroup `{group_name}` beside it waits for all "
                                  f"{pods} pods", origin))
    return needs


def _demand_named(demands: dict, item: PodObject) -> str | None:
    if item.workload is None:
        return None
    if item.option is None:
        return item.workload if item.workload in demands else None
    for name, demand in demands.items():
        if demand.group == item.workload and item.option in (demand.option,
                                                             dns_name(demand.option)):
            return name
    return None


def _origin(context: CompileContext, workload: str | None):
    found = context.program.workloads.get(workload) if workload else None
    return found.origin if found else None


def _object_needs(where: str, item: PodObject, pod: dict, requests: dict[str, Decimal],
                  nodes: _NodeSet, chosen: Counter, origin,
                  need: Findings) -> list[Diagnostic]:
    """Where the scheduler may put the object's pods (its filters: node selection, taints,
    resources) against where the solver put them."""
    matched = [n for n in nodes.candidates(pod) if may_run_on(pod, n)]
    eligible = [n for n in matched if _fits(requests, n.allocatable)]
    allowed_classes = {nodes.by_name[name].node_class.id for name in chosen if name in nodes.by_name}
    needs = []
    stray = [n for n in eligible
             if not (n.name in chosen if n.exact else n.node_class.id in allowed_classes)]
    if stray and item.pods:  # at 0 replicas (`compile --current`'s emptied nodes) none runs
        needs.append(need(f"{where} may be scheduled on {_few(stray)}, which the solver did not "
                          "choose for it", origin))
    too_small = [n for n in matched if n.name in chosen and n not in eligible]
    if too_small:
        needs.append(need(f"{where} requests more than {_few(too_small)} can allocate", origin))
    matched_names = {n.name for n in matched}
    here = sum(count for name, count in chosen.items() if name in matched_names)
    if item.pods != here:
        needs.append(need(f"{where} runs {item.pods} pods; the solver placed {here} of its "
                          "workload on the nodes it selects", origin))
    return needs


def _words_needs(where: str, pod: dict, workload, origin, need: Findings) -> list[Diagnostic]:
    """The process runs the workload's command and env exactly, `$` and all."""
    containers = pod.get("containers") or []
    if workload is None or len(containers) != 1:
        return []
    words, env = container_words(containers[0])
    needs = []
    if workload.command and words != list(workload.command):
        needs.append(need(f"{where}: the container runs {words!r}, not the workload's command "
                          f"{list(workload.command)!r}", origin))
    if env != dict(workload.env):
        needs.append(need(f"{where}: the container sees env {env!r}, not the workload's "
                          f"{dict(workload.env)!r}", origin))
    return needs


def _fits(requests: dict[str, Decimal], allocatable: dict[str, Decimal]) -> bool:
    return all(amount <= allocatable.get(resource, Decimal(0))
               for resource, amount in requests.items() if amount > 0)


def _overcommitted(nodes: list[ClusterNode], chosen: dict[str, Counter],
                   requests_of: dict[str, dict[str, Decimal]], need: Findings) -> list[Diagnostic]:
    """On each node, what the solver put there, at the requests written, fits its allocatable."""
    needs = []
    for node in nodes:
        used: defaultdict[str, Decimal] = defaultdict(Decimal)
        for demand, counts in chosen.items():
            for resource, amount in requests_of.get(demand, {}).items():
                used[resource] += amount * counts.get(node.name, 0)
            if "pods" in node.allocatable:
                used["pods"] += counts.get(node.name, 0)
        over = [r for r, amount in sorted(used.items())
                if amount > node.allocatable.get(r, Decimal(0)) and amount > 0]
        if over:
            needs.append(need(f"node `{node.name}`: the pods placed on it request more "
                              f"{', '.join(over)} than it can allocate", node.node_class.origin))
    return needs


def _few(nodes: list[ClusterNode]) -> str:
    shown = sorted(nodes, key=lambda n: n.name)[:4]
    more = sum(n.stands_for for n in nodes) - len(shown)
    return ", ".join(f"`{n.name}`" for n in shown) + (f" and {more} more" if more else "")


def _strings(value) -> set[str]:
    """Every string in the objects: the node names a selector may spell out are among them."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*map(_strings, value.keys()), *map(_strings, value.values()))
    if isinstance(value, list):
        return set().union(*map(_strings, value))
    return set()


# ---- in time (issue 19) ------------------------------------------------------
# A job of a policy with a horizon runs as Jobs created suspended, each resumed at the instant
# its annotation names (by start-jobs.sh, or by hand), and stopped by Kubernetes after
# activeDeadlineSeconds counted from then (docs/targets.md). Read so, a Job's pods hold their
# node from its start for at most that long.


def _runs_in_time(context: CompileContext, demand: str) -> bool:
    """A job of a policy with a horizon: its runs start at their steps, not at once."""
    timeline = context.problem.timeline
    window = context.problem.demand(demand).window
    return timeline is not None and window is not None and window.duration < timeline.steps \
        and any(a.workload == demand for a in context.placement.assignments)


def _instant(context: CompileContext, step: int) -> str:
    timeline = context.problem.timeline
    assert timeline is not None
    moment = timeline.start + timedelta(seconds=step * timeline.step_seconds)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _started_at(context: CompileContext, demand: str, start: object, end: object = None) -> Counter:
    """Node -> replicas of `demand` the placement starts at the instant `start` (and ends at the
    instant `end`, where the Job states one the placement ends some of them at: two replicas'
    segments of different lengths may start together, a Job each)."""
    started = [a for a in context.placement.assignments
               if a.workload == demand and _instant(context, getattr(a, "start", 0)) == start]
    if any(_instant(context, getattr(a, "end", 0)) == end for a in started):
        started = [a for a in started if _instant(context, getattr(a, "end", 0)) == end]
    return Counter(a.node for a in started)


def _time_needs(context: CompileContext, item: PodObject, where: str, demand, origin,
                need: Findings, fired: str | None = None) -> list[Diagnostic]:
    """The Job waits for its start, which is one the placement gives, and stops by its end
    (`fired`: the instant a CronJob starts it at)."""
    timeline = context.problem.timeline
    assert timeline is not None
    start = fired if fired is not None else item.annotations.get(START_ANNOTATION)
    runs: dict[str, dict[str, int]] = {}  # start -> end -> length in steps
    for a in context.placement.assignments:
        if a.workload == demand.name:
            runs.setdefault(_instant(context, getattr(a, "start", 0)), {})[
                _instant(context, getattr(a, "end", 0))] = getattr(a, "end", 0) - getattr(a, "start", 0)
    if fired is None and (item.kind != "Job" or item.spec.get("suspend") is not True):
        return [need(f"{where} starts as soon as it is applied, not at the times the placement "
                     f"gives ({', '.join(sorted(runs))})", origin)]
    if start not in runs:
        return [need(f"{where} starts at {start!r} (annotation `{START_ANNOTATION}`), when the "
                     f"placement starts none of `{demand.name}` (it starts them at "
                     f"{', '.join(sorted(runs))})", origin)]
    lengths = runs[start]
    stated = item.annotations.get(END_ANNOTATION) if fired is None else None
    planned = lengths.get(str(stated), max(lengths.values())) * timeline.step_seconds
    limit = item.spec.get("activeDeadlineSeconds")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit > planned:
        return [need(f"{where} may run past its planned end: activeDeadlineSeconds is "
                     f"{limit!r}, the run is planned for {planned} s", origin)]
    return _deadline_needs(context, item, where, demand, start, origin, need) if fired is None else []


def _deadline_needs(context: CompileContext, item: PodObject, where: str, demand, start: str,
                    origin, need: Findings) -> list[Diagnostic]:
    """The Job's `fitlang.dev/deadline` is the end of the window its start lies in (a
    recurring job's run's own), which whoever resumes it by hand reads."""
    timeline = context.problem.timeline
    assert timeline is not None
    step = next(s for s in range(timeline.steps + 1) if _instant(context, s) == start)
    ends = [w.latest_start + w.duration for w in demand.windows
            if w.earliest <= step <= w.latest_start]
    stated = item.annotations.get(DEADLINE_ANNOTATION)
    if demand.job and ends and stated != _instant(context, ends[0]):
        return [need(f"{where}: annotation `{DEADLINE_ANNOTATION}` is {stated!r}, the window its "
                     f"start lies in ends {_instant(context, ends[0])}", origin)]
    return []


def _overcommitted_in_time(context: CompileContext, nodes: list[ClusterNode],
                           requests_of: dict[str, dict[str, Decimal]],
                           need: Findings) -> list[Diagnostic]:
    """`_overcommitted` at each step: what runs on a node at once fits its allocatable, and
    its pods are no more than its kubelet admits."""
    by_name = {node.name: node for node in nodes}
    used: dict[tuple[str, int], defaultdict[str, Decimal]] = {}
    for assignment in context.placement.assignments:
        counted = by_name.get(assignment.node)
        for step in range(getattr(assignment, "start", 0), getattr(assignment, "end", 0)):
            held = used.setdefault((assignment.node, step), defaultdict(Decimal))
            for resource, amount in requests_of.get(assignment.workload, {}).items():
                held[resource] += amount
            if counted is not None and "pods" in counted.allocatable:
                held["pods"] += 1
    needs, seen = [], set()
    for (name, step), held in sorted(used.items()):
        node = by_name.get(name)
        over = [r for r, amount in sorted(held.items())
                if node is not None and amount > node.allocatable.get(r, Decimal(0)) and amount > 0]
        if over and node is not None and name not in seen:
            seen.add(name)
            needs.append(need(f"node `{name}`: the pods placed on it at step {step} request more "
                              f"{', '.join(over)} than it can allocate", node.node_class.origin))
    return needs
