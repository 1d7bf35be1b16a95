"""What runs a plan's capacity changes with Terraform (`fitc plan --target terraform --out DIR`).

Terraform is declarative: a stage's files are the whole configuration of the capacity fitc
buys at that point, rendered by the Terraform target itself (`Terraform.render`) for the
nodes bought then. `wave-00/terraform/` holds what runs before the moves (bought before the
plan, and bought by it: the node groups grow), the last stage's what is kept after them (the
node groups shrink, or go). Applied in one working directory, one after the other (`run.sh`
copies a stage's files there, removes the files of the stage before that it lacks, and runs
`terraform apply`, which shows the change and asks before making it), the second apply
releases exactly what the plan releases: the resources keep their addresses across stages.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections import Counter

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.span import FIRST_CHARACTER
from fitlang.targets.base import CompileContext, Target
from fitlang.targets.waves import PlanStages, Stage

STAGE_FOLDER = "terraform"


def render_plan(target: Target, context: CompileContext, planned: PlanStages
                ) -> tuple[dict[str, str], list[Diagnostic]]:
    files: dict[str, str] = {}
    buying = next((s for s in planned.stages if s.kind == "buy" and
                   planned.bought_during != planned.bought_before), None)
    release = next((s for s in planned.stages if s.kind == "release"), None)
    during = _configuration(target, context, planned.bought_during)
    if buying is not None:
        files.update(_stage(buying, during, {}, "add the capacity the moves need"))
    if release is not None:
        files.update(_stage(release, _end_capacity(target, context, planned, during), during,
                            "release the capacity the plan left empty"))
    return files, _shrunk_by_count(context, planned)


def _shrunk_by_count(context: CompileContext, planned: PlanStages) -> list[Diagnostic]:
    """W0820 where the release keeps some nodes of a node group and lets others go: a group's
    size is a count, and the cloud, not the plan, chooses which of its nodes go on scale-in
    (an EKS node group, a GKE or AKS node pool), so it may take one the moves filled and keep
    one they emptied (and cordoned: the replicas it ran then find no room). A group that goes
    whole, or grows, is exact."""
    owners = context.problem.owners()
    during = Counter(owners[node].id for node in planned.bought_during)
    after = Counter(owners[node].id for node in planned.bought_after)
    shrunk = [group for group in sorted(during) if 0 < after[group] < during[group]]
    if not shrunk:
        return []
    first = shrunk[0]
    return [msg.PlanNotRun.at(context.program.path, FIRST_CHARACTER, target="terraform", detail=(
        f"{len(shrunk)} node group(s) shrink by count where the plan releases some of their "
        f"nodes and keeps others (the first: `{first}`, {during[first]} -> {after[first]} "
        "nodes): the cloud chooses which nodes go and may take one the moves filled; remove "
        "the nodes the plan releases from their group by hand (each by name) before the "
        "release stage's apply"))]


def render_reached(target: Target, context: CompileContext, planned: PlanStages
                   ) -> tuple[dict[str, str], list[Diagnostic]]:
    """`fitc compile --current`: the capacity that stands once the plan is done, the same
    configuration as the plan's last stage (`terraform apply` of either leaves the same
    resources). With none left of what was bought, the providers alone, so that `apply`
    destroys what the state holds; with nothing bought before, during or after: no files."""
    during = _configuration(target, context, planned.bought_during)
    if not during:
        return {}, []
    return _end_capacity(target, context, planned, during), []


def _end_capacity(target: Target, context: CompileContext, planned: PlanStages,
                  during: dict[str, str]) -> dict[str, str]:
    after = _configuration(target, context, planned.bought_after)
    if not any(name != "versions.tf" for name in after):  # nothing left: providers only
        return {"versions.tf": during["versions.tf"]}
    return after


def _configuration(target: Target, context: CompileContext, nodes: set[str]) -> dict[str, str]:
    """The Terraform target's files for a placement that buys exactly `nodes`."""
    owners = context.problem.owners()
    bought: dict[str, list[str]] = {}
    for node in sorted(nodes, key=lambda n: (owners.position(n), n)):
        bought.setdefault(owners[node].id, []).append(node)
    placement = dataclasses.replace(context.placement, bought=bought)
    return target.render(CompileContext(context.program, context.problem, placement))


def _stage(stage: Stage, configuration: dict[str, str], earlier: dict[str, str],
           what: str) -> dict[str, str]:
    folder = f"{stage.folder}/{STAGE_FOLDER}"
    files = {f"{folder}/{name}": text for name, text in configuration.items()}
    gone = sorted(set(earlier) - set(configuration))
    lines = ["#!/bin/sh", f"# fitc plan, {stage.folder}: {what}.",
             "# FITC_TERRAFORM_DIR: the Terraform working directory of the capacity fitc buys "
             "(the one every stage is applied in).",
             "set -eu",
             'dir="${FITC_TERRAFORM_DIR:?set FITC_TERRAFORM_DIR to the working directory of '
             "fitc's capacity}\"",
             'cd "$(dirname "$0")"']
    lines += [f'rm -f "$dir"/{shlex.quote(name)}' for name in gone]
    lines += [f'cp {STAGE_FOLDER}/{shlex.quote(name)} "$dir"/' for name in sorted(configuration)]
    lines.append('terraform -chdir="$dir" init -input=false')
    lines.append('terraform -chdir="$dir" apply')
    files[f"{stage.folder}/run.sh"] = "\n".join(lines) + "\n"
    return files
