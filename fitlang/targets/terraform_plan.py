"""What runs a plan's capacity changes with Terraform (`fitc plan --target terraform --out DIR`).

Terraform is declarative: a stage's files are the whole configuration of the capacity fitc
buys at that point, rendered by the Terraform target itself (`Terraform.render`) for the
nodes bought then. `wave-00/terraform/` holds what runs before the moves (bought before the
plan, and bought by it: the node groups grow), the last stage's what is kept after them (the
node groups shrink, or go). Applied in one working directory, one after the other (`run.sh`
copies a stage's files there, removes the files of the stage before that it lacks, and runs
`terraform apply`, which shows the change and asks before making it), the second apply
releases exactly what the plan releases: the resources keep their addresses across stages.
Where a group keeps some of its nodes, its size alone would leave the cloud to choose which
go: the release stage's `release-nodes.sh` (`terraform_release.py`), which run.sh runs before
the apply, removes the nodes the plan releases from their groups by name first.
"""

from __future__ import annotations

import shlex

from fitlang.diagnostics import Diagnostic
from fitlang.targets.base import CompileContext, Target
from fitlang.targets.terraform_release import SCRIPT, holding, release_script
from fitlang.targets.waves import PlanStages, Stage

STAGE_FOLDER = "terraform"


def render_plan(target: Target, context: CompileContext, planned: PlanStages
                ) -> tuple[dict[str, str], list[Diagnostic]]:
    files: dict[str, str] = {}
    found: list[Diagnostic] = []
    buying = next((s for s in planned.stages if s.kind == "buy" and
                   planned.bought_during != planned.bought_before), None)
    release = next((s for s in planned.stages if s.kind == "release"), None)
    during = _configuration(target, context, planned.bought_during)
    if buying is not None:
        files.update(_stage(buying, during, {}, "add the capacity the moves need"))
    if release is not None:
        script, found = release_script(context, planned, release.folder)
        files.update(_stage(release, _end_capacity(target, context, planned, during), during,
                            "release the capacity the plan left empty", script))
    return files, found


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
    return target.render(holding(context, nodes))


def _stage(stage: Stage, configuration: dict[str, str], earlier: dict[str, str],
           what: str, release: str | None = None) -> dict[str, str]:
    """The stage's Terraform files and its `run.sh`; `release`: the stage's `release-nodes.sh`,
    which run.sh runs before its apply."""
    folder = f"{stage.folder}/{STAGE_FOLDER}"
    files = {f"{folder}/{name}": text for name, text in configuration.items()}
    if release is not None:
        files[f"{stage.folder}/{SCRIPT}"] = release
    gone = sorted(set(earlier) - set(configuration))
    lines = ["#!/bin/sh", f"# fitc plan, {stage.folder}: {what}.",
             "# FITC_TERRAFORM_DIR: the Terraform working directory of the capacity fitc buys "
             "(the one every stage is applied in).",
             "set -eu",
             # no quote inside the expansion's message: bash (/bin/sh on some systems) opens a
             # string at a `'` in a double-quoted ${...:?...} and the script no longer parses
             'dir="${FITC_TERRAFORM_DIR:?set FITC_TERRAFORM_DIR to the working directory of '
             'the capacity fitc buys}"',
             'cd "$(dirname "$0")"']
    if release is not None:
        lines.append(f"sh {SCRIPT}")
    lines += [f'rm -f "$dir"/{shlex.quote(name)}' for name in gone]
    lines += [f'cp {STAGE_FOLDER}/{shlex.quote(name)} "$dir"/' for name in sorted(configuration)]
    lines.append('terraform -chdir="$dir" init -input=false')
    lines.append('terraform -chdir="$dir" apply')
    files[f"{stage.folder}/run.sh"] = "\n".join(lines) + "\n"
    return files
