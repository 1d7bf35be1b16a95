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

Nodes released by name (`sh release-nodes.sh`, `terraform_release.py`) leave the cloud before
the apply: each `release_nodes PROVIDER REGION GROUP FROM TO NODE...` line must name the group
of its nodes as the stage's files name it (`node_group_name`, `name`), its size before and
after, and only nodes that run and that the plan releases, each found in its group by an
earlier `check_nodes` line. An apply that shrinks a group it keeps, by nodes that could have
been named, leaves the cloud to choose which go: found.
"""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from fitlang.check.program import Origin
from fitlang.diagnostics import Diagnostic, Message
from fitlang.model.problem import NodeOwners
from fitlang.targets.base import CompileContext, Findings
from fitlang.targets.kubernetes import is_node_name
from fitlang.targets.terraform_fidelity import Capacity, capacity_of, check_files, group_names
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
        for words in script_commands(script or "", ("rm", "cp", "terraform", "sh")):
            if words[0] == "sh":
                released, problems = _released_by_name(context, stage.folder, words, files,
                                                       directory, running, wanted, need)
                found += problems
                running = running - released
                continue
            problem = _run(words, stage.folder, files, directory)
            if problem:
                found.append(need(f"{stage.folder}/run.sh: {problem}"))
            elif words[0] == "terraform" and "apply" in words:
                applied = True
                found += _by_count(context, stage.folder, running, wanted, need)
                found += _applied(context, stage.folder, directory, wanted, need)
                running = wanted
        if not applied and running != wanted:
            what = "adds" if wanted - running else "releases"
            found.append(need(f"{stage.folder}: no `terraform apply` {what} the nodes the plan "
                              f"{'buys' if what == 'adds' else 'releases'} by then "
                              f"({', '.join(sorted(wanted ^ running)[:3])})"))
            running = wanted  # said once
    return found


def _released_by_name(context: CompileContext, folder: str, words: list[str], files: dict[str, str],
                      directory: dict[str, str], running: set[str], wanted: set[str],
                      need: Findings) -> tuple[set[str], list[Diagnostic]]:
    """Replay `sh SCRIPT` (release-nodes.sh): the nodes its `release_nodes` lines remove from
    their groups by name, each found in its group by a `check_nodes` line before any is
    removed. Each line must name the group of its nodes as the stage's files (or those applied
    so far) name it,
    its provider and region, and the group's size before and after; each node must run now
    and be one the plan releases. What is wrong is said with `need` (E0618)."""
    path = posixpath.normpath(posixpath.join(folder, words[-1]))
    if len(words) != 2 or path not in files:
        return set(), [need(f"{folder}/run.sh: `{shlex.join(words)}`: {path} is not written")]
    owners = context.problem.owners()
    # the groups by what they run, as applied so far and as the stage applies them (a group that
    # keeps nodes keeps its name)
    names = group_names(directory)
    staged = group_names({p: t for p, t in files.items() if p.startswith(f"{folder}/")})
    for capacity, named in staged.items():
        names.setdefault(capacity, set()).update(named)
    checked: set[str] = set()
    released: set[str] = set()
    found: list[Diagnostic] = []
    for command in script_commands(files[path], ("check_nodes", "release_nodes")):
        if command[0] == "check_nodes":
            checked.update(command[3:] if not released else ())
            continue
        problems = _release_problems(command, owners, names, running - released, wanted, checked)
        found += [need(f"{path}: `{shlex.join(command)}` {problem}") for problem in problems]
        released.update(command[6:])
    return released, found


def _release_problems(command: list[str], owners: NodeOwners, names: dict[Capacity, set[str]],
                      running: set[str], wanted: set[str], checked: set[str]) -> list[str]:
    """What is wrong with one `release_nodes PROVIDER REGION GROUP FROM TO NODE...` line."""
    _, provider, region, group, before, after, *nodes = command + [""] * max(0, 7 - len(command))
    unknown = [n for n in nodes if owners.find(n) is None]
    if unknown or not nodes[0]:
        return [f"names {unknown[0] if unknown else 'no node'}, no bought node of the policy"]
    problems = [f"releases {n}, {'which the plan keeps' if n in wanted else 'not running'}"
                for n in nodes if n not in running or n in wanted]
    problems += [f"releases {n} before it is found in its group (check_nodes)"
                 for n in nodes if n not in checked]
    kinds = {capacity_of(owners[n]) for n in nodes}
    if len(kinds) > 1:
        return problems + ["releases nodes of several node groups"]
    capacity = kinds.pop()
    if group not in names.get(capacity, set()) or (provider, region) != (capacity.provider, capacity.region):
        problems.append(f"names group `{group}` of {provider} {region}; the files name the group "
                        f"of its nodes ({capacity.describe()}) {sorted(names.get(capacity, set()))}")
    sizes = (sum(capacity_of(owners[n]) == capacity for n in running),
             sum(capacity_of(owners[n]) == capacity for n in wanted))
    if (before, after) != tuple(str(size) for size in sizes) or sizes[0] - len(nodes) != sizes[1]:
        problems.append(f"sizes the group {before} -> {after}; it runs {sizes[0]} nodes and the "
                        f"plan keeps {sizes[1]}")
    return problems


def _by_count(context: CompileContext, folder: str, running: set[str], wanted: set[str],
              need: Findings) -> list[Diagnostic]:
    """A group the apply shrinks but keeps loses the nodes its cloud chooses: each such group
    whose leaving nodes could have been removed by name first (a name no Kubernetes node can
    have cannot: W0820 says so). Groups in the order of their first leaving node (a capacity
    has no order of its own)."""
    owners = context.problem.owners()
    leaving: dict[Capacity, list[str]] = {}
    for node in sorted(running - wanted):
        leaving.setdefault(capacity_of(owners[node]), []).append(node)
    kept = {capacity_of(owners[node]) for node in wanted}
    return [need(f"{folder}'s apply shrinks the node group of {capacity.describe()} by count, "
                 f"which leaves the cloud to choose the nodes that go; the plan releases "
                 f"{', '.join(nodes[:3])}, never removed by name")
            for capacity, nodes in sorted(leaving.items(), key=lambda item: item[1][0])
            if capacity in kept and all(is_node_name(node) for node in nodes)]


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
