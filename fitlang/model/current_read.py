"""Reading the files that say what runs now: the format told from the content, the reader of
each format, and the names that map running work to the policy's workloads.

Formats (docs/language.md, `current`): `placement` (fitc's own `solve --format json`),
`kubectl` (`kubectl get pods -A -o json`, with or without PodDisruptionBudgets), `squeue`
(`squeue --json`, or the text of `squeue -h -o "%i|%j|%T|%N"`). Several files make one state:
PodDisruptionBudgets are matched to the pods of every kubectl file, so pods and PDBs may come
in separate files. Like the inventory readers, nothing here raises on bad input.
"""

from __future__ import annotations

import gc
import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fitlang.file_problems import FileProblem
from fitlang.model.current import CurrentState, StateRead, placement_state

FORMATS = ("placement", "kubectl", "squeue")

# what kubectl calls the objects of a pod or PDB listing (`kubectl get pods,pdb -A -o json`
# prints a `List`; `kubectl get pods -o json` a `List` too, the API server a `PodList`)
_KUBE_KINDS = frozenset({"List", "PodList", "Pod", "PodDisruptionBudgetList", "PodDisruptionBudget",
                         "NodeList", "Node"})


@dataclass(frozen=True)
class StateNames:
    """The policy's workloads as the systems that run them name them. The driver makes it (it
    knows how the targets name things; the model does not import them)."""

    workloads: frozenset[str] = frozenset()
    options: Mapping[str, frozenset[str]] = field(default_factory=dict)  # workload -> options
    # Kubernetes: the `app.kubernetes.io/name` value fitc gives a workload's pods -> workload
    pod_names: Mapping[str, str] = field(default_factory=dict)
    # (workload, `fitlang.dev/option` value) -> option
    option_labels: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # Slurm: the job name fitc gives a workload, or one option of it -> (workload, option)
    job_names: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)

    def knows(self, workload: str, option: str | None) -> bool:
        if workload not in self.workloads:
            return False
        return option is None or option in self.options.get(workload, frozenset())


@dataclass(frozen=True)
class StateFile:
    path: str  # as opened
    format: str | None = None  # None: told from the content
    shown: str = ""  # how messages name it (the path as the policy or the command line gave it)


def detect_format(text: str, document: object) -> str | None:
    """The format of a file from its content (`document`: its JSON, or None when it is not
    JSON): an object with `assignments` is a placement, one with a Kubernetes `kind` (or items
    that have one) a kubectl listing, one with `jobs` squeue's JSON; text that is not JSON is
    squeue's text. None when it is JSON of none of these."""
    if document is None:
        stripped = text.lstrip()
        return None if stripped.startswith(("{", "[")) else "squeue"
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("assignments"), list):
        return "placement"
    if document.get("kind") in _KUBE_KINDS:
        return "kubectl"
    items = document.get("items")
    if isinstance(items, list) and items and all(isinstance(i, dict) and "kind" in i for i in items):
        return "kubectl"
    if isinstance(document.get("jobs"), list):
        return "squeue"
    return None


def read_state_files(files: Sequence[StateFile], names: StateNames) -> list[StateRead]:
    """One read per file, in order; PDBs matched across every kubectl file."""
    from fitlang.model import current_kube

    reads: list[StateRead] = []
    kube: list[current_kube.KubeRead] = []
    seen: set[str] = set()  # the kubectl objects read so far
    # the collector would walk the millions of objects a pod listing parses into, again and
    # again as they are made, for no garbage: half the read of 20,000 pods (bench/current_bench.py)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for file in files:
            read, parsed = _read_one(file, names, seen)
            reads.append(read)
            if isinstance(parsed, current_kube.KubeRead):
                kube.append(parsed)
        if kube:
            current_kube.resolve_budgets(kube)
    finally:
        if was_enabled:
            gc.enable()
    return reads


def merge(reads: Sequence[StateRead]) -> CurrentState:
    running = tuple(r for read in reads for r in read.state.running)
    bought = tuple(sorted({n for read in reads for n in read.state.bought}))
    budgets = tuple(b for read in reads for b in read.state.budgets)
    sources = tuple(s for read in reads for s in read.state.sources)
    foreign = tuple(f for read in reads for f in read.state.foreign)
    nodes = tuple(n for read in reads for n in read.state.nodes)
    held = tuple(f for read in reads for f in read.state.held_by_policy)
    return CurrentState(running=running, bought=bought, budgets=budgets, sources=sources,
                        foreign=foreign, nodes=nodes, held_by_policy=held)


def _read_one(file: StateFile, names: StateNames, seen: set[str]) -> tuple[StateRead, object]:
    source = file.shown or Path(file.path).name
    text = _read_text(file.path)
    if isinstance(text, OSError):
        read = StateRead()
        read.problems.append(FileProblem(f"{source}: {(text.strerror or str(text)).lower()}"))
        return read, None
    document = _json_or_none(text)
    if isinstance(document, _NotJson) and document.nested:
        read = StateRead()
        read.problems.append(FileProblem(f"{source}: its JSON nests too deeply to be read"))
        return read, None
    parsed = None if isinstance(document, _NotJson) else document
    format = file.format or detect_format(text, parsed)
    if format is None and isinstance(document, _NotJson):
        read = StateRead()
        read.problems.append(document.problem(source))
        return read, None
    if format is None:
        read = StateRead()
        read.problems.append(FileProblem(
            f"{source}: cannot tell what this is: expected fitc's placement JSON (`assignments`), "
            "`kubectl get pods -A -o json` (`kind`), or `squeue --json` (`jobs`)", ()))
        return read, None
    if format != "squeue" and isinstance(document, _NotJson):
        read = StateRead()
        read.problems.append(document.problem(source))
        return read, None
    if format == "placement":
        return placement_state(parsed, source, names.knows), None
    if format == "kubectl":
        from fitlang.model.current_kube import read_kubectl_state

        kube = read_kubectl_state(parsed, source, names, seen)
        return kube.read, kube
    from fitlang.model.current_slurm import read_squeue_json, read_squeue_text

    if isinstance(document, _NotJson):
        return read_squeue_text(text, source, names), None
    return read_squeue_json(parsed, source, names), None


@dataclass
class _NotJson:
    error: str = ""
    nested: bool = False
    line: int | None = None
    column: int = 1

    def problem(self, source: str) -> FileProblem:
        return FileProblem(f"{source}: not JSON ({self.error})", line=self.line, column=self.column)


def _json_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        return _NotJson(f"line {error.lineno}, column {error.colno}: {error.msg}", line=error.lineno,
                        column=error.colno)
    except RecursionError:
        return _NotJson(nested=True)


def _read_text(path: str) -> str | OSError:
    """The file's text; never blocks on a FIFO, never reads a device (as inventories)."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise OSError(0, "not a regular file (a pipe, device or socket)")
        return Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        return error
