"""The Kubernetes fidelity check of a plan's wave files (issue 18): does running each wave's
`run.sh` take the cluster from one state of the plan to the next?

It reads the files as the cluster would, sharing nothing with `kubernetes_plan`'s state
arithmetic: each wave's `run.sh` (by shlex) gives the order of its `kubectl apply -k step-N`,
each step's kustomization the Deployments applied (`kubernetes_fidelity.applied_objects`, the
reader compile's check uses), each Deployment's `spec.replicas` how many pods it runs, its
`fitlang.dev/workload` annotation what, and the hostname in its required node affinity where
(none: a bought class, whose nodes the cloud names). A Deployment not in a step keeps its count
from before; a pair (workload, node) no Deployment has named yet runs what ran before the plan.
After each wave the cluster must hold the plan's state after that wave (`waves.stages`: the
plan's own moves applied to what runs now), and after no step may a workload run fewer pods
than its `max_disrupted` budget allows below both the wave's start and end.
"""

from __future__ import annotations

import posixpath
import shlex
from collections import Counter

from fitlang.diagnostics import Diagnostic
from fitlang.targets.base import CompileContext, Findings
from fitlang.targets.kubernetes_fidelity import applied_objects
from fitlang.targets.waves import PlanStages, State

HOSTNAME = "kubernetes.io/hostname"
WORKLOAD = "fitlang.dev/workload"
ELSEWHERE = ""  # where a Deployment with no hostname runs: a bought class's nodes
Cluster = Counter  # (workload, node or ELSEWHERE) -> pods running


def check_plan(context: CompileContext, planned: PlanStages, files: dict[str, str],
               need: Findings) -> list[Diagnostic]:
    """Each way running the waves of `files` (relative to the target's folder) in order misses
    the plan's states, as one diagnostic."""
    expect = _Expected(context)
    counts: dict[str, tuple[tuple[str, str], int]] = {}  # Deployment -> (where, replicas)
    start = expect.cluster(planned.start)
    found: list[str] = []
    for stage in planned.stages:
        script = files.get(f"{stage.folder}/run.sh")
        if script is None:
            if expect.cluster(stage.before) != expect.cluster(stage.after):
                found.append(f"{stage.folder}/run.sh is missing: the wave's moves are not run")
            continue
        floor = _floor(expect.cluster(stage.before), expect.cluster(stage.after))
        for step in _applied_steps(stage.folder, script):
            found += _apply(step, files, counts)
            found += _below_budget(step, _state(start, counts), floor, context, stage.stop_first)
        reached = _state(start, counts)
        wanted = expect.cluster(stage.after)
        if reached != wanted:
            found.append(f"{stage.folder}: after its steps the cluster runs "
                         f"{_difference(reached, wanted)}")
    return [need(detail) for detail in found]


class _Expected:
    """The plan's states as the cluster's pods of the Deployments fitc runs: per workload and
    node (bought nodes together), only services that are not gangs (the only ones moved)."""

    def __init__(self, context: CompileContext):
        self.context = context
        self.owners = context.problem.owners()

    def cluster(self, state: State) -> Cluster:
        pods: Cluster = Cluster()
        for node, counts in state.items():
            where = ELSEWHERE if self.owners[node].provisioned else node
            for demand, count in counts.items():
                view = self.context.view(demand)
                if view.kind == "service" and not view.gang and count:
                    pods[(view.name, where)] += count
        return pods


def _applied_steps(folder: str, script: str) -> list[str]:
    """The folders `run.sh` applies (`kubectl apply -k DIR`), in its order."""
    steps = []
    for line in script.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        for index in range(len(words) - 2):
            if words[index:index + 3] == ["kubectl", "apply", "-k"] and index + 3 < len(words):
                steps.append(posixpath.normpath(posixpath.join(folder, words[index + 3])))
    return steps


def _apply(step: str, files: dict[str, str], counts: dict[str, tuple[tuple[str, str], int]]
           ) -> list[str]:
    """Apply the Deployments of folder `step` to `counts`; what cannot be applied."""
    inside = {path: text for path, text in files.items() if posixpath.dirname(path) == step}
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
            counts[name] = (_where(document), int(document["spec"]["replicas"]))
        except (KeyError, TypeError, ValueError) as error:
            problems.append(f"{path}: Deployment `{name}` is malformed ({error!r})")
    return problems


def _where(deployment: dict) -> tuple[str, str]:
    """(workload, node) of a Deployment: its annotation and its required hostname."""
    template = deployment["spec"]["template"]
    workload = template["metadata"]["annotations"][WORKLOAD]
    required = (template["spec"].get("affinity") or {}).get("nodeAffinity", {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    hosts = [value for term in required.get("nodeSelectorTerms") or []
             for expression in term.get("matchExpressions") or []
             if expression.get("key") == HOSTNAME and expression.get("operator") == "In"
             for value in expression.get("values") or []]
    if len(hosts) > 1:
        raise ValueError(f"its pods may run on any of {hosts}")
    return workload, hosts[0] if hosts else ELSEWHERE


def _state(start: Cluster, counts: dict[str, tuple[tuple[str, str], int]]) -> Cluster:
    """What runs: what ran before the plan, where no Deployment fitc wrote says otherwise."""
    named: dict[tuple[str, str], int] = {}
    for where, replicas in counts.values():
        named[where] = named.get(where, 0) + replicas
    pods = Cluster({where: count for where, count in start.items() if where not in named})
    pods.update(named)
    return +pods


def _floor(before: Cluster, after: Cluster) -> Counter:
    """Per workload, the fewer of its pods at the wave's start and end."""
    totals: list[Counter] = [Counter(), Counter()]
    for total, state in zip(totals, (before, after)):
        for (workload, _), count in state.items():
            total[workload] += count
    return Counter({w: min(totals[0][w], totals[1][w]) for w in totals[0] | totals[1]})


def _below_budget(step: str, state: Cluster, floor: Counter, context: CompileContext,
                  stop_first: bool) -> list[str]:
    """A workload below the fewer of its pods at the wave's ends by more than its budget (with
    none, by nothing where the new pods start first; a wave that stops first may stop any)."""
    running: Counter = Counter()
    for (workload, _), count in state.items():
        running[workload] += count
    found = []
    for workload, least in floor.items():
        budget = context.problem.max_disrupted.get(workload, None if stop_first else 0)
        if budget is not None and running[workload] < least - budget:
            found.append(f"after `{step}`, {workload} runs {running[workload]} pods, below "
                         f"{least} - its budget {budget}")
    return found


def _difference(reached: Cluster, wanted: Cluster) -> str:
    """The first few places where the pods differ, said plainly."""
    places = sorted(set(reached) | set(wanted), key=str)
    differ = [f"{reached[p]} of {p[0]} on {p[1] or 'the bought nodes'} (the plan: {wanted[p]})"
              for p in places if reached[p] != wanted[p]]
    return ", ".join(differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
