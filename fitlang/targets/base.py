"""What every target shares: the compile context, the registry, names, and atomic output.

A target is a small class with a `name` and a `render(context)` returning
{relative path: text}. Subclasses register themselves, like sqlglot dialects.
No target knows about syntax: each reads the checked program (workload
settings), the model (node classes) and the solved placement.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import ClassVar

from fitlang.check.program import Origin, Program, Workload
from fitlang.diagnostics import Message
from fitlang.model.problem import NodeClass, Problem, option_demand_name
from fitlang.outputs import write_tree  # noqa: F401  (the targets' public API)
from fitlang.solve.placement import Placement

TARGETS: dict[str, type[Target]] = {}


@dataclass
class Split:
    """The replicas of one workload that run on one node class."""

    workload: Workload
    node_class: NodeClass
    nodes: list[str]  # node names, in placement order
    per_node: dict[str, int]

    @property
    def replicas(self) -> int:
        return sum(self.per_node.values())


@dataclass
class CompileContext:
    program: Program
    problem: Problem
    placement: Placement
    _splits: dict[str, list[Split]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = self.problem.owners()
        views = {_key(view): view for view in self._views()}
        for assignment in self.placement.assignments:
            node_class = owner[assignment.node]
            splits = self._splits.setdefault(assignment.workload, [])
            split = next((s for s in splits if s.node_class is node_class), None)
            if split is None:
                split = Split(views[assignment.workload], node_class, [], {})
                splits.append(split)
            if assignment.node not in split.per_node:
                split.nodes.append(assignment.node)
            split.per_node[assignment.node] = split.per_node.get(assignment.node, 0) + 1

    def _views(self) -> list[Workload]:
        """Each workload as it runs: itself, or once per accelerator option (`option` set)."""
        return [view for workload in self.program.workloads.values()
                for view in ([workload.for_option(o) for o in workload.options] or [workload])]

    def splits(self, workload: Workload) -> list[Split]:
        return self._splits.get(_key(workload), [])

    def placed_workloads(self) -> list[Workload]:
        """The workloads that run, options of one workload each on its own, in policy order."""
        return [view for view in self._views() if _key(view) in self._splits]


def _key(workload: Workload) -> str:
    """The demand (and placement) name of a workload or of one option of it."""
    return workload.name if workload.option is None else option_demand_name(workload.name,
                                                                           workload.option)


class Target:
    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        TARGETS[cls.name] = cls

    def render(self, context: CompileContext) -> dict[str, str]:
        raise NotImplementedError

    def problems(self, context: CompileContext) -> list[Need]:
        """What this target needs that the policy does not say (each becomes an E0601)."""
        return []

    def fidelity(self, context: CompileContext, files: dict[str, str]) -> list[Need]:
        """What in `files` (relative path -> text, as read back from an output directory) does
        not realise the solved placement in `context`: an object the real scheduler could put on
        a machine the solver did not choose for it, requests that do not fit what the chosen
        machines offer, capacity bought other than what was priced. Empty when the files realise
        the placement exactly. Shares no code with `render`: it reads the files as the real
        system would."""
        raise NotImplementedError(f"{self.name}: no fidelity check")


@dataclass(frozen=True, order=True)
class Need:
    message: str
    origin: Origin | None = field(default=None, compare=False)
    # the diagnostic it becomes (a `Message` subclass); None: the target's default
    kind: type[Message] | None = field(default=None, compare=False)


def dns_name(text: str, limit: int = 63) -> str:
    """A DNS-1123 label from any name: lowercase, [a-z0-9-], at most `limit` characters; names
    that had to change get a short hash so that two different names never collide."""
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if clean == text and len(clean) <= limit:
        return clean
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{clean[: limit - 7].rstrip('-')}-{digest}"
