"""What runs a plan on Kubernetes (`fitc plan --target kubernetes --out DIR`).

What moves a pod to a chosen node: one Deployment per workload and node (`WORKLOAD-NODE`),
its pods required onto that node by hostname (`kubernetes.io/hostname In [NODE]`, beside the
pool's own selector). A node's Deployment is the only object that runs the workload's pods
there, so the manifests of a state say exactly how many run on each node: the scheduler
cannot put them elsewhere (a pod with no room on its node stays Pending, and the wave stops
there). Between states only `spec.replicas` changes, never the pod template, so applying a
wave rolls nothing: it scales. A step's manifests hold the Deployments whose count it changes
(at 0 replicas where a node's all leave: `kubectl apply` deletes nothing, it scales to 0), so
applying it touches nothing else, and a wave's files grow with its moves, not with the fleet.

A wave (`run.sh` in its folder) uncordons the nodes an earlier wave drained that it moves
work to, cordons the nodes it empties, applies `step-1` (the new
replicas start beside the old ones) and waits for them (`kubectl rollout status`), evicts
(policy/v1 Eviction, which PodDisruptionBudgets may refuse) the pods it moves off nodes the
policy lacks, applies `step-2` (the old replicas stop: their Deployments scale down, so
which pod of a node stops is the ReplicaSet's choice, all alike), and drains the nodes it
emptied (`kubectl drain`: evictions again, for pods fitc does not run). A wave that must stop
first applies the scale-down as `step-1`. What the files do not do is a warning (W0820):
pods of Jobs and gangs (a moved Job pod starts over), replicas with no pod name on nodes the
policy lacks, pods another controller runs, a plan over several clusters. W0821: nodes pinned
by names fitc gave them (a declared pool's, unless `pin_nodes = true` says its names are the
cluster's). Bought nodes are never pinned by name (the cloud names them): see `BOUGHT`.

`render_reached` writes the state the plan reaches (`fitc compile --current`): the same
per-node Deployments at their end counts, beside `compile`'s files for the rest (W0823, W0824).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections import Counter
from urllib.parse import quote

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.span import FIRST_CHARACTER
from fitlang.targets.base import CompileContext, Split, dns_name
from fitlang.targets.kubernetes import (
    MANAGED_BY,
    Kubernetes,
    _clusters,
    _pool_selector,
    _split_labels,
    settings,
    written_per_node,
)
from fitlang.targets.waves import PlanStages, Stage, State
from fitlang.targets.yaml_out import dump, dump_all

NODE_LABEL = "fitlang.dev/node"
HOSTNAME = "kubernetes.io/hostname"
ROLLOUT_TIMEOUT = "10m"
# Bought nodes get their names from the cloud, never fitc's: their replicas are one Deployment
# per workload and bought class, selected by the pool label and instance type fitc's Terraform
# puts on the node group, as `compile` selects them. The group has exactly the nodes bought, so
# the count per class holds; which of its alike nodes runs a pod is the scheduler's choice.
BOUGHT = "@bought/"  # a unit of a state: a node's name, or BOUGHT + a bought class's id


def deployment_name(demand: str, unit: str) -> str:
    """`WORKLOAD-NODE`, or `WORKLOAD-CLASS` for a bought class (see `_unit`)."""
    return dns_name(f"{demand}-{unit.removeprefix(BOUGHT)}")


def render_plan(target: Kubernetes, context: CompileContext, planned: PlanStages
                ) -> tuple[dict[str, str], list[Diagnostic]]:
    pairs = [(d, n) for d, n in planned.demand_nodes() if _moved_here(context, d)]
    run = list(dict.fromkeys((d, _unit(context, n)) for d, n in pairs))
    files: dict[str, str] = {}
    for stage in planned.stages:
        files.update(_stage_files(target, context, _by_unit(context, stage), run))
    return files, _warnings(context, planned, pairs)


def _unit(context: CompileContext, node: str) -> str:
    node_class = context.problem.owners()[node]
    return BOUGHT + node_class.id if node_class.provisioned else node


def _by_unit(context: CompileContext, stage: Stage) -> Stage:
    """The stage with its states counted per unit (bought nodes per class); the nodes it
    drains by name only where they are not bought (Terraform's release of a node group drains
    its nodes: EKS, GKE and AKS cordon and drain them first; the nodes a plan releases are
    always bought ones)."""
    owners = context.problem.owners()
    return dataclasses.replace(
        stage, before=_per_unit(context, stage.before), middle=_per_unit(context, stage.middle),
        after=_per_unit(context, stage.after),
        drained=[n for n in stage.drained if not owners[n].provisioned],
        resumed=[n for n in stage.resumed if not owners[n].provisioned])


def _per_unit(context: CompileContext, state: State) -> State:
    """`state` counted per unit: bought nodes per class."""
    units: State = {}
    for node, counts in state.items():
        units.setdefault(_unit(context, node), Counter()).update(counts)
    return units


def _moved_here(context: CompileContext, demand: str) -> bool:
    """Services are moved; Jobs and gangs are not (see the module's docstring)."""
    view = context.view(demand)
    return view.kind == "service" and not view.gang


def _stage_files(target: Kubernetes, context: CompileContext, stage: Stage,
                 run: list[tuple[str, str]]) -> dict[str, str]:
    folder = stage.folder
    files: dict[str, str] = {}
    steps = [] if _counts(stage.before, run) == _counts(stage.after, run) else \
        [stage.after] if _counts(stage.middle, run) == _counts(stage.after, run) else \
        [stage.middle, stage.after]
    before = stage.before
    for number, state in enumerate(steps, 1):
        changed = [(d, n) for d, n in run if _shrinks(before, state, d, n) or _shrinks(state, before, d, n)]
        for name, text in _manifests(target, context, state, changed).items():
            files[f"{folder}/step-{number}/{name}"] = text
        before = state
    evictions = _evictions(context, stage)
    for index, eviction in enumerate(evictions, 1):
        files[f"{folder}/evictions/{index:03d}.json"] = json.dumps(eviction, indent=2) + "\n"
    files[f"{folder}/run.sh"] = _script(context, stage, steps, run, evictions)
    return files


def _counts(state: State, run: list[tuple[str, str]]) -> list[int]:
    return [state.get(node, Counter())[demand] for demand, node in run]


def _manifests(target: Kubernetes, context: CompileContext, state: State,
               run: list[tuple[str, str]]) -> dict[str, str]:
    """The Deployments of `run` (those a step changes) at their counts in `state`."""
    namespace = settings(context).namespace
    files: dict[str, str] = {}
    if namespace != "default":
        files["namespace.yaml"] = dump({"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": namespace, "labels": MANAGED_BY}})
    priorities = sorted({context.view(d).priority for d, _ in run if context.view(d).priority})
    if priorities:
        files["priorityclasses.yaml"] = dump_all([target._priority_class(p) for p in priorities])
    per_file: dict[str, list[dict]] = {}
    for demand, node in run:
        view = context.view(demand)
        replicas = state.get(node, Counter())[demand]
        per_file.setdefault(f"{dns_name(view.name)}.yaml", []).append(
            node_deployment(target, context, demand, node, replicas, namespace))
    files.update({name: dump_all(documents) for name, documents in sorted(per_file.items())})
    files["kustomization.yaml"] = dump({"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                        "kind": "Kustomization", "resources": sorted(files)})
    return files


def node_deployment(target: Kubernetes, context: CompileContext, demand: str, node: str,
                    replicas: int, namespace: str) -> dict:
    """The Deployment that runs `replicas` of `demand` on `node` and nowhere else."""
    view = context.view(demand)
    if node.startswith(BOUGHT):  # a bought class: its pool label and instance type select it
        node_class = context.problem.node_class(node.removeprefix(BOUGHT))
        split = Split(view, node_class, [], {})
        labels = _split_labels(split)
        template = target._pod_template(split, labels, context)
    else:
        node_class = context.problem.owners()[node]
        split = Split(view, node_class, [node], {node: max(replicas, 1)})
        labels = {**_split_labels(split), NODE_LABEL: node_label(node)}
        template = target._pod_template(split, labels, context)
        expressions = [e for e in _pool_selector(split, context) if e["key"] != HOSTNAME]
        expressions.append({"key": HOSTNAME, "operator": "In", "values": [node_class.hostname(node)]})
        template["spec"]["affinity"]["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]}}
    template["metadata"]["annotations"] = {"fitlang.dev/workload": view.name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": target._metadata(deployment_name(demand, node), namespace, view.name, labels),
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": template}}


def node_label(node: str) -> str:
    """The node's name as a label value (its DNS form when the name is not one)."""
    from fitlang.targets.kubernetes import _LABEL_VALUE

    return node if len(node) <= 63 and _LABEL_VALUE.match(node) else dns_name(node)


def _evictions(context: CompileContext, stage: Stage) -> list[dict]:
    """An Eviction for each named pod the stage moves or stops off a node the policy lacks:
    nothing of the plan's runs there, so nothing scales it down."""
    found = []
    for move in stage.moves:
        if move.source or move.handle is None or not _moved_here(context, move.demand):
            continue
        found.append({"apiVersion": "policy/v1", "kind": "Eviction",
                      "metadata": {"name": move.handle.name,
                                   "namespace": move.handle.namespace or "default"}})
    return found


def _script(context: CompileContext, stage: Stage, steps: list[State], run: list[tuple[str, str]],
            evictions: list[dict]) -> str:
    namespace = settings(context).namespace
    lines = ["#!/bin/sh", f"# fitc plan, {stage.folder}: {_summary(stage)}",
             "# Run from anywhere; each command must succeed before the next (set -e).",
             "set -eu", 'cd "$(dirname "$0")"']
    lines += [f"kubectl uncordon {shlex.quote(node)}" for node in stage.resumed]
    lines += [f"kubectl cordon {shlex.quote(node)}" for node in stage.drained]
    evict = [_evict_command(e, f"evictions/{i:03d}.json") for i, e in enumerate(evictions, 1)]
    before = stage.before
    for number, state in enumerate(steps, 1):
        if any(_shrinks(before, state, d, n) for d, n in run):  # evictions are stops too
            lines += evict
            evict = []
        lines.append(f"kubectl apply -k step-{number}")
        grown = [deployment_name(d, n) for d, n in run if _shrinks(state, before, d, n)]
        lines += [f"kubectl -n {shlex.quote(namespace)} rollout status deployment/{name} "
                  f"--timeout={ROLLOUT_TIMEOUT}" for name in grown]
        before = state
    lines += evict  # no step stops anything: after the successors started
    lines += [f"kubectl drain {shlex.quote(node)} --ignore-daemonsets --delete-emptydir-data"
              for node in stage.drained]
    if not any(line.startswith("kubectl") for line in lines):
        lines.append("# nothing to do on Kubernetes in this stage (capacity: see Terraform's)")
    return "\n".join(lines) + "\n"


def _shrinks(before: State, after: State, demand: str, node: str) -> bool:
    return after.get(node, Counter())[demand] < before.get(node, Counter())[demand]


def _evict_command(eviction: dict, path: str) -> str:
    metadata = eviction["metadata"]
    url = (f"/api/v1/namespaces/{quote(metadata['namespace'], safe='')}/pods/"
           f"{quote(metadata['name'], safe='')}/eviction")
    return f"kubectl create --raw {shlex.quote(url)} -f {shlex.quote(path)}"


def _summary(stage: Stage) -> str:
    if stage.kind == "buy":
        return f"before the moves: {len(stage.moves)} replica(s) beyond the policy's stop"
    if stage.kind == "release":
        return "after the moves: the nodes bought earlier and left empty are released"
    started = sum(1 for m in stage.moves if m.kind == "start")
    how = ", each old replica stopped before its successor starts" if stage.stop_first else ""
    return f"{len(stage.moves) - started} move(s), {started} start(s){how}"


def _warnings(context: CompileContext, planned: PlanStages, run: list[tuple[str, str]]
              ) -> list[Diagnostic]:
    root = context.program.path
    found: list[str] = []
    moves = [m for stage in planned.stages for m in stage.moves]
    skipped = sorted({context.view(m.demand).name for m in moves if not _moved_here(context, m.demand)})
    found += [f"`{name}` is a job or a gang: its pods are not moved by these files (a Job's pod "
              "that moves starts over); rerun it where the plan's end state puts it" for name in skipped]
    unnamed = [m for m in moves if not m.source and m.handle is None and _moved_here(context, m.demand)]
    if unnamed:
        found.append(f"{len(unnamed)} replica(s) on nodes the policy lacks have no pod name in the "
                     f"current state (the first of `{unnamed[0].workload}`): stop them by hand")
    foreign = sorted({str(m.handle) for m in moves if m.source and m.handle is not None
                      and _moved_here(context, m.demand)
                      and not m.handle.name.startswith(
                          deployment_name(m.demand, _unit(context, m.source)) + "-")})
    if foreign:
        found.append(f"{len(foreign)} pod(s) the plan moves are not run by its per-node "
                     f"Deployments (the first: {foreign[0]}): the waves start their successors "
                     "but stop them only once their own controller is scaled down")
    unnamable = _unnamable(context, run)
    if unnamable:
        found.append(unnamable + ", and the wave stops there")
    clusters = sorted({context.problem.owners()[node].cluster for _, node in run})
    if len(clusters) > 1:
        found.append(f"the plan moves work in {len(clusters)} clusters ({', '.join(clusters)}): "
                     "each stage's manifests hold them all; apply each Deployment in the cluster "
                     "of its node (`fitlang.dev/node`)")
    diagnostics = [msg.PlanNotRun.at(root, FIRST_CHARACTER, target="kubernetes", detail=d)
                   for d in found]
    return diagnostics + _pinned_by_name(context, run) + _drains_evict_others(context, planned)


def _drains_evict_others(context: CompileContext, planned: PlanStages) -> list[Diagnostic]:
    """W0828 per drain that evicts pods of no workload (another team's, a system pod not of a
    DaemonSet): `kubectl drain` evicts every such pod of the node, while the plan holds them
    where they run (they take room; no budget counts them). Found as a user (session 57): a
    wave emptied an x86 node of its last `web` replica and drained another team's notebook
    with it, in silence."""
    owners = context.problem.owners()
    on_node: dict[str, list[str]] = {}
    for work in context.foreign:
        if work.pod and work.daemon_set is None:
            on_node.setdefault(work.node, []).append(work.name)
    found = []
    for stage in planned.stages:
        for node in stage.drained:
            evicted = sorted(on_node.get(node, []))
            if not evicted or owners[node].provisioned:  # (a bought node: the release drains it)
                continue
            shown = ", ".join(f"`{name}`" for name in evicted[:3])
            more = f" and {len(evicted) - 3} more" if len(evicted) > 3 else ""
            found.append(msg.DrainEvictsOthers.at(
                context.program.path, FIRST_CHARACTER, target="kubernetes",
                detail=(f"{stage.folder}'s `kubectl drain {node}` also evicts {len(evicted)} pod(s) "
                        f"of no workload of the policy, which the plan keeps where they run: "
                        f"{shown}{more}")))
    return found


def _pinned_by_name(context: CompileContext, run: list[tuple[str, str]]) -> list[Diagnostic]:
    """W0821 for each pool whose nodes the pods are pinned to by fitc's names for them."""
    owners = context.problem.owners()
    pools: dict[str, list[str]] = {}
    named = settings(context).pin_nodes  # the policy says its declared pools' names are real
    for _, node in run:
        node_class = owners[node]
        if node_class.pool not in context.program.inventories and \
                not node_class.provisioned and not named:
            pools.setdefault(node_class.pool, []).append(node)
    found = []
    for pool, nodes in sorted(pools.items()):
        node_class = owners[nodes[0]]
        what = "declared, not an inventory"
        where = node_class.origin
        found.append(msg.PlanPinsByName.at(
            where.path if where else context.program.path, where.span if where else FIRST_CHARACTER,
            target="kubernetes", detail=(
                f"the pods are pinned to nodes by hostname, and pool `{pool}` is {what}: its "
                f"nodes must be named as fitc names them ({', '.join(sorted(set(nodes))[:3])}"
                f"{' ...' if len(set(nodes)) > 3 else ''}) in the cluster")))
    return found


# ---- `fitc compile --current`: the state the plan reaches ------------------------------------

def render_reached(target: Kubernetes, context: CompileContext, planned: PlanStages
                   ) -> tuple[dict[str, str], list[Diagnostic]]:
    """The plan's end state as whole manifests: every per-node Deployment the plan keeps (the
    same objects as its stages: names, pod templates), at its count once the plan is done (0
    where the plan emptied it), beside what `fitc compile` writes for the rest (Jobs, gangs,
    the namespace, PriorityClasses, label-nodes.sh). One folder per cluster, as `compile`."""
    pairs = [(d, n) for d, n in planned.demand_nodes() if _moved_here(context, d)]
    run = list(dict.fromkeys((d, _unit(context, n)) for d, n in pairs))
    end = _per_unit(context, planned.end)

    clusters = sorted(set(_clusters(context)) | {_cluster(context, unit) for _, unit in run})
    files: dict[str, str] = {}
    for cluster in clusters:
        here = [(d, unit) for d, unit in run if _cluster(context, unit) == cluster]
        prefix = "" if len(clusters) == 1 else f"{dns_name(cluster)}/"
        files.update({prefix + name: text for name, text in
                      _reached_cluster(target, context, cluster, end, here).items()})
    return files, _reached_warnings(context, planned, pairs)


def _cluster(context: CompileContext, unit: str) -> str:
    if unit.startswith(BOUGHT):
        return context.problem.node_class(unit.removeprefix(BOUGHT)).cluster
    return context.problem.owners()[unit].cluster


def _reached_cluster(target: Kubernetes, context: CompileContext, cluster: str, end: State,
                     here: list[tuple[str, str]]) -> dict[str, str]:
    """`compile`'s files of one cluster, the services' per-pool Deployments replaced by the
    plan's per-node ones at their end counts."""
    files = target._render_cluster(context, cluster)
    for demand, _ in here:
        files.pop(f"{dns_name(context.view(demand).name)}.yaml", None)
    pinned = _manifests(target, context, end, here)
    files.update({name: text for name, text in pinned.items()
                  if name not in ("kustomization.yaml", "priorityclasses.yaml")})
    priorities = sorted({context.view(d).priority for d, _ in here if context.view(d).priority}
                        | {w.priority for w in context.placed_workloads() if w.priority and any(
                            s.node_class.cluster == cluster for s in context.splits(w))})
    if priorities:
        files["priorityclasses.yaml"] = dump_all([target._priority_class(p) for p in priorities])
    resources = sorted(name for name in files if name.endswith(".yaml")
                       and name != "kustomization.yaml")
    files["kustomization.yaml"] = dump({"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                        "kind": "Kustomization", "resources": resources})
    return dict(sorted(files.items()))


def _reached_warnings(context: CompileContext, planned: PlanStages,
                      pairs: list[tuple[str, str]]) -> list[Diagnostic]:
    """W0823: what the end state's files leave to the scheduler; W0824: what runs now that
    they neither scale nor stop; W0821: nodes pinned by the names fitc gave them."""
    root = context.program.path
    unpinned = [f"`{view.name}` is a job or a gang: written as `fitc compile` writes it, one "
                "object per pool: its count per pool is the end state's, the node of each pod "
                "kube-scheduler's" for view in context.placed_workloads()
                if not _moved_here(context, _demand_of(view))
                and not all(written_per_node(s, context) for s in context.splits(view))]
    unnamable = _unnamable(context, pairs)
    if unnamable:
        unpinned.append(unnamable)
    found = [msg.ReachedNotPinned.at(root, FIRST_CHARACTER, target="kubernetes", detail=d)
             for d in unpinned]
    found += [msg.ReachedBesideCurrent.at(root, FIRST_CHARACTER, target="kubernetes", detail=d)
              for d in _not_handed_over(context, planned)]
    return found + _pinned_by_name(context, [(d, n) for d, n in pairs
                                             if not context.problem.owners()[n].provisioned])


def _demand_of(view) -> str:
    from fitlang.model.problem import option_demand_name

    return view.name if view.option is None else option_demand_name(view.name, view.option)


def _unnamable(context: CompileContext, pairs: list[tuple[str, str]]) -> str | None:
    names = sorted({n for _, n in pairs if not context.problem.owners()[n].provisioned
                    and node_label(n) != n})
    if not names:
        return None
    return (f"{len(names)} node name(s) are not valid label values (the first: {names[0]!r}): "
            "the API server refuses a Deployment pinned to one by hostname")


def _not_handed_over(context: CompileContext, planned: PlanStages) -> list[str]:
    """The pods of the current state these files do not scale: run by another controller
    (`fitc compile`'s per-pool Deployments), or on nodes the policy lacks."""
    foreign: list[str] = []
    elsewhere: list[str] = []
    for (demand, node), names in sorted(planned.handles.items()):
        if not _moved_here(context, demand):
            continue
        if not node:
            elsewhere += map(str, names)
            continue
        own = deployment_name(demand, _unit(context, node)) + "-"
        foreign += [str(name) for name in names if not name.name.startswith(own)]
    found = []
    if foreign:
        found.append(f"{len(foreign)} pod(s) that run now are not run by the end state's per-node "
                     f"Deployments (the first: {min(foreign)}): applied beside them, these files "
                     "run their workloads twice; delete their own controller once the end "
                     "state's pods run, or run the plan")
    if elsewhere:
        found.append(f"{len(elsewhere)} pod(s) run on nodes the policy lacks (the first: "
                     f"{min(elsewhere)}): nothing in these files stops them; evict them once the "
                     "end state's pods run, as the plan's waves do")
    return found
