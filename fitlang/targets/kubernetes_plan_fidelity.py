"""The Kubernetes fidelity check of a plan's wave files (issue 18): does running each wave's
`run.sh` take the cluster from one state of the plan to the next?

It reads the files as the cluster would, sharing nothing with `kubernetes_plan`'s state
arithmetic, and replays each wave's `run.sh` (read by shlex) command by command:

- `kubectl apply -k DIR`: each Deployment of DIR's kustomization
  (`kubernetes_fidelity.applied_objects`, the reader compile's check uses) sets its count
  (`spec.replicas`) of its workload (`fitlang.dev/workload`) on the node its required node
  affinity names by hostname; with none, on the bought nodes whose labels its required
  expressions match (the cloud names bought nodes: their labels are their node group's pool
  label, the offer's labels and those the kubelet sets), which must all carry the same labels.
  A pair (workload, node) no Deployment has named yet runs what ran before the plan.
- `kubectl cordon` / `uncordon NODE`: a cordoned node takes no new pod: a Deployment grown
  there keeps the pods it ran, the rest stay Pending (until the node is uncordoned), and
  `kubectl rollout status` of it never ends.
- `kubectl create --raw .../namespaces/NS/pods/NAME/eviction -f FILE` (policy/v1 Eviction):
  the named pod (one running on a node the policy lacks, as the current state names it)
  stops; the API server refuses it where the workload would run fewer pods than its budget
  allows (`max_disrupted`, or the PodDisruptionBudget the plan read), and the wave stops.
- `kubectl drain NODE`: the node is cordoned and every pod on it evicted (the same budgets);
  a Deployment's evicted pods are made again, Pending while the node stays cordoned.

After each wave no node may hold pods that request more than its allocatable, beside what the
pods of no workload of the policy that run there request (the current state's, which the
plan does not move; `NodeClass.node_taken`): the scheduler would leave the rest Pending. A
node the wave's start overfilled already (a pool shrunk under an old placement) may stay
over it while the plan repairs it, requesting no more than when the wave began
(`solve/repair_first.py`). A
pod requests what its Deployment's containers do (as applied), or, where no step applied its
Deployment yet, its workload's requests. After each wave the cluster must hold the plan's
state after that wave (`waves.stages`: the plan's own moves applied to what runs now; the pods
on nodes the policy lacks, less those the plan's moves have taken off so far), and after no
command may a workload run fewer pods than its budget allows below both the wave's start and
end.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote

from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import NodeClass
from fitlang.targets.base import CompileContext, Findings, dns_name
from fitlang.targets.kubernetes_fidelity import applied_objects
from fitlang.targets.waves import PlanStages, State, script_commands

HOSTNAME = "kubernetes.io/hostname"
WORKLOAD = "fitlang.dev/workload"
BOUGHT = "bought nodes "  # where a Deployment with no hostname runs: BOUGHT + their labels
POOL_LABEL = "fitlang.dev/pool"  # the label fitc's Terraform puts on a node group's nodes
# the labels every cloud's kubelet sets on a node, and the node class field each is read from
KUBELET_LABELS = (("topology.kubernetes.io/zone", "zone"), ("topology.kubernetes.io/region", "region"),
                  ("kubernetes.io/arch", "arch"), ("node.kubernetes.io/instance-type", "instance_type"))
POD = "a node the policy lacks, pod "  # where a named pod there runs: POD + "namespace/name"
VALUED = ("-k", "-f", "--raw", "-n", "--namespace", "--timeout")  # kubectl options with a value
Cluster = Counter  # (workload, where: a node, BOUGHT + labels or POD + the pod) -> pods running


def check_plan(context: CompileContext, planned: PlanStages, files: dict[str, str],
               need: Findings) -> list[Diagnostic]:
    """Each way running the waves of `files` (relative to the target's folder) in order misses
    the plan's states, as one diagnostic."""
    expect = _Expected(context, planned)
    replay = _Replay(context, expect.cluster(planned.start, -1), files, _bought_label_sets(context))
    found: list[str] = []
    replaced: Counter = Counter()  # per workload, its replicas not healthy moved so far
    for index, stage in enumerate(planned.stages):
        before, wanted = expect.cluster(stage.before, index - 1), expect.cluster(stage.after, index)
        script = files.get(f"{stage.folder}/run.sh")
        if script is None:
            if before != wanted:
                found.append(f"{stage.folder}/run.sh is missing: the wave's moves are not run")
            continue
        replay.floor = _floor(before, wanted)
        replay.stop_first = stage.stop_first
        replay.budgets = _stage_budgets(context.problem, stage.moves, replaced)
        replaced.update(m.workload for m in stage.moves if m.kind == "move" and not m.healthy)
        began = _requested(context, replay.pods(), replay.requests)
        for words in (words[1:] for words in script_commands(script, ("kubectl",))):
            found += replay.run(stage.folder, words)
        reached = replay.pods()
        found += _overfull(context, _requested(context, reached, replay.requests), began, stage.folder)
        if reached != wanted:
            found.append(f"{stage.folder}: after its steps the cluster runs "
                         f"{_difference(reached, wanted)}")
    return [need(detail) for detail in found]


def _stage_budgets(problem, moves: list, replaced: Counter) -> dict[str, int]:
    """Per workload, the pods a wave may take below its ends: its disruption budget, and where
    that is over healthy pods (`rules/moves.WaveBudget`) this wave's budget, its replicas
    not healthy that move free of it added (their eviction spends none)."""
    from fitlang.rules.moves import WaveBudget

    budgets = dict(problem.max_disrupted)
    wave = WaveBudget(problem, replaced)
    for workload in problem.health_budgets:
        free = sum(1 for m in moves if m.workload == workload and m.kind == "move" and not m.healthy) \
            if wave.free(workload, healthy=False) else 0
        budgets[workload] = (wave.limit(workload) or 0) + free
    return budgets


class _Expected:
    """The plan's states as the cluster's pods fitc runs: per workload and node (bought nodes
    together), only services that are not gangs (the only ones moved); beside them each pod
    on a node the policy lacks that the plan's moves have not taken off yet."""

    def __init__(self, context: CompileContext, planned: PlanStages):
        self.context = context
        self.owners = context.problem.owners()
        named = {(demand, name) for (demand, node), names in planned.handles.items() if not node
                 for name in names if self._moved(demand)}
        # the named pods on nodes the policy lacks still running after each stage (-1: before)
        self.foreign: list[set] = [named]
        for stage in planned.stages:
            self.foreign.append(self.foreign[-1] - {(m.demand, m.handle) for m in stage.moves
                                                    if not m.source and m.handle is not None})

    def _moved(self, demand: str) -> bool:
        view = self.context.view(demand)
        return view.kind == "service" and not view.gang

    def cluster(self, state: State, stage: int) -> Cluster:
        """`state` with the named pods elsewhere after stage number `stage` (-1: before any)."""
        pods: Cluster = Cluster()
        for node, counts in state.items():
            node_class = self.owners[node]
            where = _bought_where(node_class) if node_class.provisioned else node
            for demand, count in counts.items():
                if self._moved(demand) and count:
                    pods[(self.context.view(demand).name, where)] += count
        for demand, handle in self.foreign[stage + 1]:
            pods[(self.context.view(demand).name, POD + _pod(handle.namespace, handle.name))] += 1
        return pods


def _pod_requests(deployment: dict) -> dict[str, int]:
    """What one pod of a Deployment requests (its containers' requests summed): CPU in
    millicores, memory in bytes, GPUs; what cannot be read counts nothing."""
    from fitlang.model.inventory import parse_quantity

    found = {"cpu": 0, "memory": 0, "gpu": 0}
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in template.get("containers") or []:
        for resource, text in ((container.get("resources") or {}).get("requests") or {}).items():
            key = "gpu" if resource.endswith("/gpu") else resource
            if key in found:
                try:
                    found[key] += math.ceil(parse_quantity(str(text)) * (1000 if key == "cpu" else 1))
                except (ValueError, ArithmeticError):
                    continue
    return found


def _requested(context: CompileContext, pods: Cluster,
               applied: dict[str, dict[str, int]]) -> dict[str, Counter]:
    """Named node -> what its pods request, per resource (as last applied, else as stated)."""
    stated = {context.view(d.name).name: d.requests for d in context.problem.demands}
    used: dict[str, Counter] = {}
    for (workload, where), count in pods.items():
        if where.startswith((BOUGHT, POD)):
            continue
        asks = applied.get(workload) or stated.get(workload) or {}
        sums = used.setdefault(where, Counter())
        for resource in _COUNTED:
            sums[resource] += count * asks.get(resource, 0)
    return used


def _overfull(context: CompileContext, used: dict[str, Counter], began: dict[str, Counter],
              folder: str) -> list[str]:
    """Each named node whose pods (`used`: `_requested`), beside those of no workload running
    there, request more than its allocatable (its room as the problem has it plus what those
    take) and more than when the wave began (`began`): a state that overfilled a node already
    (a pool shrunk under an old placement) may stay so while the plan repairs it, no worse
    (`solve/repair_first.py`)."""
    owners = context.problem.owners()
    found = []
    for name, sums in sorted(used.items()):
        owner = owners.find(name)
        if owner is None:
            continue
        taken, room = owner[0].node_taken.get(name, {}), owner[0].capacity_of(name)
        beside = {r: sums[r] + taken.get(r, 0) for r in _COUNTED}
        allocatable = {r: room.get(r, 0) + taken.get(r, 0) for r in _COUNTED}
        before = began.get(name, Counter())
        short = [f"{r} {_shown(r, beside[r])} > {_shown(r, allocatable[r])}"
                 for r in _COUNTED if beside[r] > allocatable[r] and sums[r] > before[r]]
        if short:
            found.append(f"{folder}: node {name}: its pods and the pods of no workload running "
                         f"there request more than its allocatable ({', '.join(short)}): some "
                         "stay Pending")
    return found


_COUNTED = ("cpu", "memory", "gpu")


def _shown(resource: str, amount: int) -> str:
    """An amount as people read it: CPUs (not millicores), GiB (not bytes), a GPU count."""
    if resource == "cpu":
        return f"{amount / 1000:g} CPU"
    if resource == "memory":
        return f"{amount / 2**30:.4g} GiB"
    return str(amount)


def _bought_labels(node_class: NodeClass) -> frozenset[tuple[str, str]]:
    """The labels a bought node of `node_class` carries (see the module's docstring)."""
    labels = {**node_class.labels, POOL_LABEL: dns_name(node_class.pool)}
    for key, field in KUBELET_LABELS:
        value = getattr(node_class, field)
        if value is not None:
            labels.setdefault(key, value)
    return frozenset(labels.items())


def _bought_where(node_class: NodeClass) -> str:
    return BOUGHT + ",".join(f"{k}={v}" for k, v in sorted(_bought_labels(node_class)))


def _bought_label_sets(context: CompileContext) -> dict[frozenset[tuple[str, str]], str]:
    """The labels of each bought class's nodes, and its `where`."""
    return {_bought_labels(c): _bought_where(c) for c in context.problem.classes if c.provisioned}


def _pod(namespace: str | None, name: str) -> str:
    return f"{namespace or 'default'}/{name}"


@dataclass
class _Deployment:
    where: tuple[str, str]  # (workload, node or BOUGHT + labels)
    replicas: int  # what its spec asks
    running: int  # what runs: fewer while its node is cordoned


class _Replay:
    """The cluster as the wave scripts leave it, command by command."""

    def __init__(self, context: CompileContext, start: Cluster, files: dict[str, str],
                 bought: dict[frozenset[tuple[str, str]], str]):
        self.context = context
        self.bought = bought  # the labels of the bought classes' nodes -> their `where`
        # a node pinned by a hostname label that is not its name -> the node
        self.by_host = {c.hostname(n): n for c in context.problem.classes for n in c.node_hostnames}
        self.start = start  # what ran before the plan
        self.files = files
        self.deployments: dict[str, _Deployment] = {}
        self.cordoned: set[str] = set()
        self.gone: set[tuple[str, str]] = set()  # start's pods evicted, no Deployment to remake
        self.named_pods = {where[1]: where for where in start if where[1].startswith(POD)}
        self.floor: Counter = Counter()  # per workload, the fewer pods of the wave's two ends
        self.stop_first = False
        self.budgets: dict[str, int] = {}  # per workload, the wave's (`_stage_budgets`)
        self.requests: dict[str, dict[str, int]] = {}  # workload -> one pod's, as last applied

    def pods(self) -> Cluster:
        """What runs: what ran before the plan, where no Deployment fitc wrote says otherwise."""
        named: Counter = Counter()
        for deployment in self.deployments.values():
            named[deployment.where] += deployment.running
        pods = Cluster({where: count for where, count in self.start.items()
                        if where not in named and where not in self.gone})
        pods.update(named)
        return +pods

    def run(self, folder: str, words: list[str]) -> list[str]:
        """Run one kubectl command of `folder`'s run.sh; what goes wrong."""
        verb, options = _parsed(words)
        if verb[:1] in (["cordon"], ["uncordon"]) and len(verb) == 2:
            return self._cordon(verb[1], verb[0] == "cordon")
        if verb[:1] == ["apply"] and "-k" in options:
            step = posixpath.normpath(posixpath.join(folder, options["-k"]))
            return self._apply(step) + self._below_budget(f"after `{step}`")
        if verb[:2] == ["rollout", "status"] and len(verb) == 3:
            return self._rolled_out(folder, verb[2].removeprefix("deployment/"))
        if verb[:1] == ["create"] and "--raw" in options:
            return self._evict(folder, options["--raw"], options.get("-f"))
        if verb[:1] == ["drain"] and len(verb) == 2:
            return self._drain(folder, verb[1], "--ignore-daemonsets" in words)
        return []

    def _cordon(self, node: str, cordon: bool) -> list[str]:
        if cordon:
            self.cordoned.add(node)
            return []
        self.cordoned.discard(node)
        for deployment in self.deployments.values():  # the Pending pods are scheduled
            if deployment.where[1] == node:
                deployment.running = deployment.replicas
        return []

    def _apply(self, step: str) -> list[str]:
        """Apply the Deployments of folder `step`; what cannot be applied."""
        inside = {path: text for path, text in self.files.items()
                  if posixpath.dirname(path) == step}
        if not inside:
            return [f"run.sh applies `{step}`, which holds no files"]
        objects, problems = applied_objects(inside)
        seen: set[str] = set()
        for path, document in objects:
            if document.get("kind") != "Deployment":
                continue
            name = str((document.get("metadata") or {}).get("name"))
            if name in seen:
                problems.append(f"{path}: Deployment `{name}` twice in one step: one replaces the other")
            seen.add(name)
            try:
                (workload, host), replicas = _where(document, self.bought), int(document["spec"]["replicas"])
                where = (workload, self.by_host.get(host, host))
            except (KeyError, TypeError, ValueError) as error:
                problems.append(f"{path}: Deployment `{name}` is malformed ({error!r})")
                continue
            self._scale(name, where, replicas)
            self.requests[where[0]] = _pod_requests(document)
        return problems

    def _scale(self, name: str, where: tuple[str, str], replicas: int) -> None:
        known = self.deployments.get(name)
        running = known.running if known else 0 if where in self.gone else self.start[where]
        if where[1] not in self.cordoned:
            running = replicas
        self.deployments[name] = _Deployment(where, replicas, min(running, replicas))

    def _rolled_out(self, folder: str, name: str) -> list[str]:
        deployment = self.deployments.get(name)
        if deployment is None:
            return [f"{folder}/run.sh waits for the rollout of `{name}`, which no step applied"]
        if deployment.running < deployment.replicas:
            return [f"{folder}/run.sh waits for the rollout of `{name}` forever: "
                    f"{deployment.replicas - deployment.running} of its pods stay Pending on "
                    f"cordoned node {deployment.where[1]}"]
        return []

    def _evict(self, folder: str, url: str, body: str | None) -> list[str]:
        parts = url.strip("/").split("/")
        if len(parts) != 7 or parts[:3] != ["api", "v1", "namespaces"] or parts[4] != "pods" \
                or parts[6] != "eviction":
            return [f"{folder}/run.sh posts to `{url}`, not a pod's eviction"]
        namespace, name = unquote(parts[3]), unquote(parts[5])
        problems = self._eviction_body(folder, body, namespace, name)
        pod = self.named_pods.get(POD + _pod(namespace, name))
        if pod is None or pod in self.gone:
            return problems + [f"{folder}/run.sh evicts pod {_pod(namespace, name)}, which does not "
                               "run (the API server answers 404 and the wave stops)"]
        refused = self._refused(Counter({pod[0]: 1}), f"the Eviction of pod {_pod(namespace, name)}")
        if not refused:
            self.gone.add(pod)
        return problems + refused

    def _eviction_body(self, folder: str, body: str | None, namespace: str, name: str) -> list[str]:
        """The Eviction object posted must name the pod of the URL (else 400)."""
        path = posixpath.normpath(posixpath.join(folder, body)) if body else None
        try:
            document = json.loads(self.files[path]) if path else {}
        except (KeyError, ValueError):
            document = {}
        document = document if isinstance(document, dict) else {}
        metadata = document.get("metadata")
        if not isinstance(metadata, dict) or document.get("kind") != "Eviction" or \
                (metadata.get("namespace") or "default", metadata.get("name")) != (namespace, name):
            return [f"{folder}/run.sh evicts pod {_pod(namespace, name)} with `{body}`, which is "
                    "not an Eviction of that pod (the API server refuses it)"]
        return []

    def _drain(self, folder: str, node: str, daemonsets: bool) -> list[str]:
        self.cordoned.add(node)
        problems = [] if daemonsets else [
            f"{folder}/run.sh drains {node} without --ignore-daemonsets: kubectl refuses a node "
            "that runs a DaemonSet's pod"]
        evicted: Counter = Counter()
        for deployment in self.deployments.values():
            if deployment.where[1] == node:
                evicted[deployment.where[0]] += deployment.running
        named = {deployment.where for deployment in self.deployments.values()}
        for where, count in self.pods().items():
            if where[1] == node and where not in named:
                evicted[where[0]] += count
        if not +evicted:
            return problems
        refused = self._refused(+evicted, f"`kubectl drain {node}`")
        if refused:
            return problems + refused
        for deployment in self.deployments.values():  # made again, Pending on the cordoned node
            if deployment.where[1] == node:
                deployment.running = 0
        self.gone |= {where for where in self.start if where[1] == node}
        return problems + [f"`kubectl drain {node}` in {folder} evicts "
                           + ", ".join(f"{count} pod(s) of {w}" for w, count in sorted(evicted.items()))
                           + " that the plan keeps there"]

    def _refused(self, leaving: Counter, what: str) -> list[str]:
        """Evictions refused: `leaving` (pods per workload) would take a workload below the
        fewer of its pods at the wave's ends by more than its budget."""
        found = []
        running = self._running()
        for workload, count in leaving.items():
            problem = self._short(workload, running[workload] - count)
            if problem:
                found.append(f"{what} is refused: {workload} would run {problem}")
        return found

    def _below_budget(self, when: str) -> list[str]:
        found = []
        running = self._running()
        for workload in self.floor:
            problem = self._short(workload, running[workload])
            if problem:
                found.append(f"{when}, {workload} runs {problem}")
        return found

    def _running(self) -> Counter:
        """Per workload, the pods running."""
        running: Counter = Counter()
        for (workload, _), count in self.pods().items():
            running[workload] += count
        return running

    def _short(self, workload: str, running: int) -> str | None:
        """How `running` pods fall below the fewer of the wave's ends less the budget (with
        none, by nothing where the new pods start first; a wave that stops first may stop
        any), or None."""
        budget = self.budgets.get(workload, None if self.stop_first else 0)
        least = self.floor[workload]
        if budget is not None and running < least - budget:
            return f"{running} pods, below {least} - its budget {budget}"
        return None


def _parsed(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """A kubectl command's words that are not options, and its options that take a value
    (`-k DIR`, `-f FILE`, `--raw URL`, `-n NS`) with their values."""
    verb: list[str] = []
    options: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if word in VALUED and index + 1 < len(words):
            options[word] = words[index + 1]
            index += 1
        elif not word.startswith("-"):
            verb.append(word)
        index += 1
    return verb, options


def _where(deployment: dict, bought: dict[frozenset[tuple[str, str]], str]) -> tuple[str, str]:
    """(workload, where) of a Deployment: its annotation, and its required hostname or else
    the bought nodes its required expressions match (those of one label set)."""
    template = deployment["spec"]["template"]
    workload = template["metadata"]["annotations"][WORKLOAD]
    required = (template["spec"].get("affinity") or {}).get("nodeAffinity", {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    expressions = [expression for term in required.get("nodeSelectorTerms") or []
                   for expression in term.get("matchExpressions") or []]
    hosts = [value for expression in expressions
             if expression.get("key") == HOSTNAME and expression.get("operator") == "In"
             for value in expression.get("values") or []]
    if len(hosts) > 1:
        raise ValueError(f"its pods may run on any of {hosts}")
    if hosts:
        return workload, hosts[0]
    if len(required.get("nodeSelectorTerms") or []) > 1:
        raise ValueError("its pods may run on the nodes of any of several selector terms")
    matching = sorted(where for labels, where in bought.items() if _matches(dict(labels), expressions))
    if len(matching) != 1:
        raise ValueError(f"its pods may run on the bought nodes of {len(matching)} label sets")
    return workload, matching[0]


def _matches(labels: dict[str, str], expressions: list[dict]) -> bool:
    """Whether a node with `labels` satisfies every expression (Kubernetes' operators)."""
    for expression in expressions:
        operator, values = expression.get("operator"), expression.get("values") or []
        there = labels.get(str(expression.get("key")))
        holds = {"In": there in values, "NotIn": there not in values, "Exists": there is not None,
                 "DoesNotExist": there is None}
        if operator not in holds:
            raise ValueError(f"operator {operator!r}, which this check does not read")
        if not holds[operator]:
            return False
    return True


def _floor(before: Cluster, after: Cluster) -> Counter:
    """Per workload, the fewer of its pods at the wave's start and end."""
    totals: list[Counter] = [Counter(), Counter()]
    for total, state in zip(totals, (before, after)):
        for (workload, _), count in state.items():
            total[workload] += count
    return Counter({w: min(totals[0][w], totals[1][w]) for w in totals[0] | totals[1]})


def _difference(reached: Cluster, wanted: Cluster) -> str:
    """The first few places where the pods differ, said plainly."""
    places = sorted(set(reached) | set(wanted), key=str)
    differ = [f"{reached[p]} of {p[0]} on {p[1]} (the plan: {wanted[p]})"
              for p in places if reached[p] != wanted[p]]
    return ", ".join(differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
