"""Shared helpers for target tests: check, build, solve (verified), compile in memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fitlang.diagnostics import Diagnostic, Severity
from fitlang.driver import Compilation
from fitlang.targets import TARGETS, CompileContext

from solving import solved, unexpected


def context_for(path: Path) -> CompileContext:
    compilation = Compilation(path)
    result = compilation.check()
    assert not result.has_errors, [d.message for d in result.diagnostics]
    built = compilation.build()
    assert built is not None and not unexpected(built.diagnostics)
    placement = solved(built.problem)
    assert not placement.unplaced
    return CompileContext(result.program, built.problem, placement)


def errors(needs: list[Diagnostic]) -> list[Diagnostic]:
    """The needs that stop a compile (warnings such as W0620 do not)."""
    return [n for n in needs if n.severity is Severity.ERROR]


def details(found: list[Diagnostic], target: str) -> list[str]:
    """What a target's diagnostics say, each after the target's name that starts it."""
    assert all(d.message.startswith(f"{target}: ") for d in found), [d.message for d in found]
    return [d.message.removeprefix(f"{target}: ") for d in found]


def render(path: Path, target: str) -> tuple[CompileContext, dict[str, str]]:
    context = context_for(path)
    instance = TARGETS[target]()
    assert errors(instance.problems(context)) == []
    return context, instance.render(context)


@dataclass
class Sized:
    """A policy compiled at one fleet size: its context, files, what `check` found in them,
    and the peak of the memory traced while building, solving, rendering and checking."""
    context: CompileContext
    files: dict[str, str]
    problems: list
    peak: int


def compiled_at_sizes(directory: Path, text: str, target: str,
                      check: Callable[[CompileContext, dict[str, str]], list],
                      counts: tuple[int, ...] = (100, 10_000_000)) -> dict[int, Sized]:
    """`text` with COUNT replaced by each count, compiled for `target` in a directory of its
    own (issue 13: a fleet's size must not cost memory where no replica runs)."""
    measured = {}
    for count in counts:
        (directory / str(count)).mkdir()
        path = directory / str(count) / "p.fit"
        path.write_text(text.replace("COUNT", str(count)))
        tracemalloc.start()
        context, files = render(path, target)
        problems = check(context, files)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        measured[count] = Sized(context, files, problems, peak)
    return measured


def mixed_policy(directory: Path, web: str, train: str) -> Path:
    """A Kubernetes cluster (`kubectl get nodes -o json`) and a Slurm cluster (`scontrol -o show
    node`) in one policy: a service `web` and a GPU job `train`, each with the settings and rules
    given (the examples' inventories, copied beside it)."""
    from conftest import EXAMPLES

    for name in ("onprem-nodes.json", "slurm-nodes.txt"):
        (directory / name).write_text((EXAMPLES / "inventory" / name).read_text())
    path = directory / "mixed.fit"
    path.write_text(
        'import "std/accelerators"\n'
        'inventory k8s {\n  format = kubectl\n  file = "onprem-nodes.json"\n  price = 0 USD/h\n}\n'
        'inventory hpc {\n  format = slurm\n  file = "slurm-nodes.txt"\n  price = 0 USD/h\n}\n'
        f"workload web {{\n  replicas = 3\n  cpu = 2\n  memory = 4Gi\n{web}}}\n"
        "workload train {\n  kind = job\n  replicas = 1\n  cpu = 32\n  memory = 256GiB\n"
        f"  gpu {{\n    count = 4\n  }}\n  time_limit = 4h\n{train}}}\n")
    return path


ON_KUBERNETES = '  require labels["kubernetes.io/os"] == "linux"\n'
ON_SLURM = '  require labels["slurm.partition.gpu"] == "true"\n'
IMAGE = '  image = "nginx:1.27"\n'
COMMAND = '  command = ["python", "train.py", "$(whoami)", "${HOME}", "it\'s \\"quoted\\""]\n'
