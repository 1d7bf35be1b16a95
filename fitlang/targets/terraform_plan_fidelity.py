"""The Terraform fidelity check of a plan's capacity stages (issue 18): does applying each
stage's files, as its `run.sh` copies them into the one working directory, make the cloud run
the nodes the plan has bought at that point?

It reads the files as the shell and Terraform would, sharing nothing with `terraform_plan`'s
arithmetic: each `run.sh` by shlex (`rm -f "$dir"/NAME` takes a file out of the working
directory, `cp terraform/NAME "$dir"/` puts the stage's file in, `terraform -chdir="$dir"
apply` applies what the directory then holds), and each applied directory by compile's own
reader (`terraform_fidelity.check_files`: python-hcl2, node counts per offer) against the
nodes the plan holds then: those bought before it and by it until the moves are done, those
it keeps once it has released the rest (`PlanStages.bought_during`, `bought_after`). A stage
with no script leaves the capacity as it was, which must then be what the plan holds.
The working directory starts as fitc's earlier `compile` left it, which the files do not
say: a stage's apply is read from what the scripts have put there.
"""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from fitlang.check.program import Origin
from fitlang.diagnostics import Diagnostic, Message
from fitlang.targets.base import CompileContext, Findings
from fitlang.targets.terraform_fidelity import check_files
from fitlang.targets.waves import PlanStages, script_commands

DIRECTORY = "$dir/"  # the working directory, as run.sh names it


def check_plan(context: CompileContext, planned: PlanStages, files: dict[str, str],
               need: Findings) -> list[Diagnostic]:
    """Each stage whose capacity, applied as its script does, is not the plan's, as one or
    more diagnostics (`need`: E0618, as compile's)."""
    directory: dict[str, str] = {}
    running = set(planned.bought_before)  # what the cloud runs, as applied so far
    found: list[Diagnostic] = []
    for stage in planned.stages:
        wanted = set(planned.bought_after if stage.kind == "release" else planned.bought_during)
        script = files.get(f"{stage.folder}/run.sh")
        applied = False
        for words in script_commands(script or "", ("rm", "cp", "terraform")):
            problem = _run(words, stage.folder, files, directory)
            if problem:
                found.append(need(f"{stage.folder}/run.sh: {problem}"))
            elif words[0] == "terraform" and "apply" in words:
                applied = True
                found += _applied(context, stage.folder, directory, wanted, need)
                running = wanted
        if not applied and running != wanted:
            what = "adds" if wanted - running else "releases"
            found.append(need(f"{stage.folder}: no `terraform apply` {what} the nodes the plan "
                              f"{'buys' if what == 'adds' else 'releases'} by then "
                              f"({', '.join(sorted(wanted ^ running)[:3])})"))
            running = wanted  # said once
    return found


def _run(words: list[str], folder: str, files: dict[str, str], directory: dict[str, str]
         ) -> str | None:
    """Replay one command on `directory` (name -> text); what is wrong with it, or None."""
    if words[0] == "rm":
        for word in words[1:]:
            if not word.startswith("-"):
                directory.pop(_in_directory(word) or "", None)
        return None
    if words[0] == "cp":
        *sources, target = [w for w in words[1:] if not w.startswith("-")]
        if target.rstrip("/") + "/" != DIRECTORY:
            return f"`{shlex.join(words)}` copies elsewhere than the working directory"
        for source in sources:
            path = posixpath.normpath(posixpath.join(folder, source))
            if path not in files:
                return f"`{shlex.join(words)}`: {path} is not written"
            directory[posixpath.basename(path)] = files[path]
        return None
    if words[0] == "terraform" and not any(w.startswith("-chdir=$dir") for w in words):
        return f"`{shlex.join(words)}` runs elsewhere than the working directory"
    return None


def _in_directory(word: str) -> str | None:
    return word.removeprefix(DIRECTORY) if word.startswith(DIRECTORY) else None


def _applied(context: CompileContext, folder: str, directory: dict[str, str], nodes: set[str],
             need: Findings) -> list[Diagnostic]:
    """compile's check of the directory's `.tf` files against a placement that buys `nodes`."""
    owners = context.problem.owners()
    bought: dict[str, list[str]] = {}
    for node in sorted(nodes):
        bought.setdefault(owners[node].id, []).append(node)
    holding = CompileContext(context.program, context.problem,
                             dataclasses.replace(context.placement, bought=bought))
    return check_files(holding, {n: t for n, t in directory.items() if n.endswith(".tf")},
                       _Applied(need.target, need.root, need.kind, folder))


@dataclass(frozen=True)
class _Applied(Findings):
    """compile's findings, each said of the stage whose apply it reads."""

    folder: str = ""

    def __call__(self, detail: str, origin: Origin | None = None, kind: type[Message] | None = None,
                 related: Iterable[tuple[Origin | None, str]] = ()) -> Diagnostic:
        return super().__call__(f"after {self.folder}'s apply, {detail}", origin, kind, related)
