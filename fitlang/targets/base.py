"""What every target shares: the compile context, the registry, names, and atomic output.

A target is a small class with a `name` and a `render(context)` returning
{relative path: text}. Subclasses register themselves, like sqlglot dialects. What a target
finds (a setting it needs, a file that does not realise the placement) it reports as a
`Diagnostic`, made by its `Findings`.
No target knows about syntax: each reads the checked program (workload
settings), the model (node classes) and the solved placement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from fitlang import messages as msg
from fitlang.check.program import Origin, Program, Workload
from fitlang.check.settings import SETTINGS
from fitlang.diagnostics import Diagnostic, Message, Related
from fitlang.model.problem import NodeClass, Problem, option_demand_name
from fitlang.outputs import write_tree  # noqa: F401  (the targets' public API)
from fitlang.span import FIRST_CHARACTER
from fitlang.target_names import dns_name  # noqa: F401  (the targets' public API)

if TYPE_CHECKING:  # a build asks the targets for their rules (`rules`) without a solver
    from fitlang.model.current import Foreign
    from fitlang.rules.base import Rule
    from fitlang.solve.placement import Placement
    from fitlang.targets.waves import PlanStages

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
    # the files name each replica's node (`compile --current` writes the plan's end state as
    # the plan's per-node objects): nothing is left to a scheduler's choice of node
    per_node: bool = False
    # the targets compiled together: a workload one of them writes is no other's to report
    targets: tuple[str, ...] = ()
    # the nodes that run only workloads `only` took out (another target's to run)
    left_on: frozenset[str] = frozenset()
    # what runs now of no workload of the policy (the current state's, a plan's: its drains
    # evict those pods too)
    foreign: tuple[Foreign, ...] = ()

    def __post_init__(self) -> None:
        owner = self.problem.owners()
        views = {demand_key(view): view for view in self._views()}
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

    def view(self, demand: str) -> Workload:
        """The workload (or its option) that a demand of the problem is."""
        return self._view_index[demand]

    @cached_property
    def _view_index(self) -> dict[str, Workload]:
        return {demand_key(view): view for view in self._views()}

    def splits(self, workload: Workload) -> list[Split]:
        return self._splits.get(demand_key(workload), [])

    def placed_workloads(self) -> list[Workload]:
        """The workloads that run, options of one workload each on its own, in policy order."""
        return [view for view in self._views() if demand_key(view) in self._splits]

    def only(self, keep: Callable[[Workload], bool]) -> CompileContext:
        """This placement with the replicas of the workloads `keep` refuses taken out (and
        the nodes bought for them alone): what a target that cannot run those writes."""
        dropped = {demand_key(w) for w in self.placed_workloads() if not keep(w)}
        if not dropped:
            return self
        assignments = [a for a in self.placement.assignments if a.workload not in dropped]
        used = {a.node for a in assignments}
        only_dropped = {a.node for a in self.placement.assignments if a.workload in dropped} - used
        bought = {class_id: [n for n in nodes if n not in only_dropped]
                  for class_id, nodes in self.placement.bought.items()}
        placement = dataclasses.replace(self.placement, assignments=assignments,
                                        bought={c: n for c, n in bought.items() if n})
        return CompileContext(self.program, self.problem, placement, per_node=self.per_node,
                              targets=self.targets, left_on=self.left_on | only_dropped)


def demand_key(workload: Workload) -> str:
    """The demand (and placement) name of a workload or of one option of it."""
    return workload.name if workload.option is None else option_demand_name(workload.name,
                                                                           workload.option)


class Target:
    name: ClassVar[str]
    # the workload setting the target runs a workload by (`runs`), for messages; none for a
    # target that writes no workloads
    needed: ClassVar[str] = ""
    # with a horizon (issue 19): does the target start work at its solved time? (Slurm's
    # `--begin`); the driver warns (W0901) for a target that does not
    enforces_timing: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        TARGETS[cls.name] = cls

    def render(self, context: CompileContext) -> dict[str, str]:
        raise NotImplementedError

    @classmethod
    def rules(cls, program: Program) -> tuple[Rule, ...]:
        """What this target's settings add to the language's rules (`fitlang/rules`), which
        the driver gives `build_problem`: the Slurm partition keeps work on its nodes. Asked
        only of a policy that states a settings block (without one, the driver does not
        import the targets): rules come from the settings, never from the target alone."""
        return ()

    def problems(self, context: CompileContext) -> list[Diagnostic]:
        """What this target needs that the policy does not say (E0601 unless a finding has a
        kind of its own; warnings such as W0620 do not stop a compile). Each target's include
        its `settings_problems`."""
        return []

    def settings_problems(self, program: Program) -> list[Diagnostic]:
        """What this target refuses in the policy that no placement changes: its settings
        block's values, the workload settings it reads, a workload no target can run.
        `fitc check` and the editor report them for the targets the policy names, and
        `problems` reports the very same at compile: one function for both, so a CI that runs
        `fitc check` fails where `compile` would, at the same place."""
        need = self.needs_of(program)
        return [need(f"workload `{workload.name}` has no `{self.needed}`; the {self.name} target "
                     "needs one", workload.origin)
                for workload in program.workloads.values() if workload.replicas and self.needed
                and _run_by_none(workload)]

    @classmethod
    def named_by(cls, program: Program) -> bool:
        """Whether the policy names this target: it states the target's settings block
        (`policy { slurm { ... } }`: a target's block is named as the target), whose values
        are then checked without a placement."""
        return SETTINGS.get(cls.name) in program.policy.settings

    def fidelity(self, context: CompileContext, files: dict[str, str]) -> list[Diagnostic]:
        """What in `files` (relative path -> text, as read back from an output directory) does
        not realise the solved placement in `context` (E0602 unless a finding has a kind of its
        own): an object the real scheduler could put on a machine the solver did not choose for
        it, requests that do not fit what the chosen machines offer, capacity bought other than
        what was priced. Empty when the files realise the placement exactly. Shares no code with
        `render`: it reads the files as the real system would."""
        raise NotImplementedError(f"{self.name}: no fidelity check")

    def render_plan(self, context: CompileContext, stages: PlanStages
                    ) -> tuple[dict[str, str], list[Diagnostic]]:
        """The files that run a plan (`fitc plan --target --out`), one folder per stage
        (`stages[i].folder`), and warnings (W0820-W0822) for what they do not carry out;
        `context` holds the plan's end placement."""
        return {}, [msg.PlanNotRun.at(context.program.path, FIRST_CHARACTER, target=self.name,
                                      detail="this target writes no files for a plan")]

    def plan_fidelity(self, context: CompileContext, stages: PlanStages, files: dict[str, str]
                      ) -> list[Diagnostic]:
        """What in `files` (what `render_plan` wrote, read back as the real system would) does
        not take the system through `stages`' states, wave by wave (E0602 as `fidelity`). Empty
        for a target with no such check yet."""
        return []

    def render_reached(self, context: CompileContext, stages: PlanStages
                       ) -> tuple[dict[str, str], list[Diagnostic]]:
        """The files of the state the plan reaches (`fitc compile --current`), with warnings
        (W0823, W0824) for what they leave to the system or do not hand over; `context` holds
        the plan's end placement, `stages` the plan. By default what `render` writes for that
        placement: a target whose files say where each replica runs (Slurm's node lists)
        or what capacity stands (Terraform) needs nothing more."""
        return self.render(context), []

    def runs(self, workload: Workload) -> bool:
        """Whether the policy says what this target needs to run `workload` (Slurm: its
        `command`; Kubernetes: its `image`)."""
        return True

    def owns(self, context: CompileContext, node_class: NodeClass) -> bool:
        """Whether `node_class`'s nodes are this target's own (an inventory of its system:
        Slurm's `scontrol` nodes, Kubernetes' `kubectl` nodes); pools and offers are any
        target's to run work on."""
        return False

    def written(self, context: CompileContext) -> CompileContext:
        """The placement of what this target writes: all but the workloads it leaves to
        another target (W0623; one it cannot run and no other may is an error, and stays)."""
        left = {id(w) for w in context.placed_workloads() if self._runner(context, w) is not None}
        return context.only(lambda workload: id(workload) not in left)

    def unwritten(self, context: CompileContext, need: Findings) -> list[Diagnostic]:
        """Each placed workload this target cannot run, said: an error (the `need` of the
        target) where it runs on the target's own nodes, or no target can run it; else a
        warning (W0623): not written here, another target writes it."""
        found = []
        for workload in context.placed_workloads():
            if _run_by_none(workload):  # (settings_problems says it)
                continue
            if self.runs(workload):
                found += self._on_foreign_nodes(context, workload, need)
                continue
            lacks = f"workload `{workload.name}` has no `{self.needed}`"
            own = self._own_nodes(context, workload)
            runner = self._runner(context, workload)
            if own:
                found.append(need(f"{lacks}, and the placement runs it on {self.name} nodes "
                                  f"({_listed(own)}); the {self.name} target needs one there",
                                  workload.origin))
            elif runner is None:
                found.append(need(f"{lacks}; the {self.name} target needs one", workload.origin))
            elif runner.name not in context.targets:  # (compiled beside it: written there)
                found.append(need(f"{lacks}: not written here (the {runner.name} target writes "
                                  f"it, from its `{runner.needed}`)", workload.origin,
                                  msg.TargetLeavesOut))
        return found

    def _on_foreign_nodes(self, context: CompileContext, workload: Workload, need: Findings
                          ) -> list[Diagnostic]:
        """A workload this target could run, said where the placement runs it only on another
        target's own nodes (W0623; nothing where that target is compiled beside it)."""
        owner = self._foreign_owner(context, workload)
        if owner is None or owner.name in context.targets:
            return []
        nodes = _listed(sorted({n for split in context.splits(workload) for n in split.nodes}))
        return [need(f"workload `{workload.name}` runs on {owner.name} nodes ({nodes}): not "
                     f"written here (the {owner.name} target writes it)", workload.origin,
                     msg.TargetLeavesOut)]

    def _foreign_owner(self, context: CompileContext, workload: Workload) -> Target | None:
        """The other target whose own nodes (a Kubernetes inventory's for Slurm, a Slurm
        inventory's for Kubernetes) hold every replica of the workload, or None: no other
        target's files run work there ("nothing else can run work there", docs/targets.md),
        so this one writing it too would run it twice, on nodes its system does not have."""
        classes = [split.node_class for split in context.splits(workload)]
        if not classes or any(self.owns(context, c) for c in classes):
            return None
        others = [t() for name, t in TARGETS.items() if name != self.name and t.needed]
        return next((t for t in others if all(t.owns(context, c) for c in classes)), None)

    def _own_nodes(self, context: CompileContext, workload: Workload) -> list[str]:
        return sorted({node for split in context.splits(workload) if self.owns(context, split.node_class)
                       for node in split.nodes})

    def _runner(self, context: CompileContext, workload: Workload) -> Target | None:
        """The other target that writes a workload this one cannot run and need not (it is
        not on this target's own nodes), or None."""
        if self.runs(workload):
            return self._foreign_owner(context, workload)
        if self._own_nodes(context, workload):
            return None
        # (a target that needs no setting of a workload runs none: Terraform writes capacity)
        others = [t() for name, t in TARGETS.items() if name != self.name and t.needed]
        return next((t for t in others if t.runs(workload)), None)

    def needs(self, context: CompileContext) -> Findings:
        """How `problems` reports: E0601 by default."""
        return self.needs_of(context.program)

    def needs_of(self, program: Program) -> Findings:
        return Findings(self.name, program.path, msg.TargetNeeds)

    def mismatches(self, context: CompileContext) -> Findings:
        """How `fidelity` reports: E0602 by default."""
        return Findings(self.name, context.program.path, msg.FilesDoNotRealise)


@dataclass(frozen=True)
class Findings:
    """Makes one target's diagnostics: `kind` unless a finding names its own, the target's name
    before each message (`{target}: {detail}`), at the finding's place in the policy, or at the
    root file's first character where it has none (a file read back, a whole-cluster total)."""

    target: str
    root: str
    kind: type[Message]

    def __call__(self, detail: str, origin: Origin | None = None, kind: type[Message] | None = None,
                 related: Iterable[tuple[Origin | None, str]] = ()) -> Diagnostic:
        """`related`: the other places a finding has (origin, what stands there); one with
        no place in the policy is left out."""
        return (kind or self.kind).at(
            origin.path if origin else self.root, origin.span if origin else FIRST_CHARACTER,
            related=[Related(o.path, o.span, text) for o, text in related if o is not None],
            target=self.target, detail=detail)


def _run_by_none(workload: Workload) -> bool:
    """Whether no target can run `workload` (it states none of what any target runs a workload
    by: neither an `image` nor a `command`)."""
    return not any(target().runs(workload) for target in TARGETS.values() if target.needed)


def settings_problems(program: Program, targets: Iterable[str] = ()) -> list[Diagnostic]:
    """What the targets the policy names (and `targets`, `fitc check --target`) refuse in it
    without a placement, in the order the policy reads, each once."""
    named = [name for name, target in TARGETS.items() if name in targets or target.named_by(program)]
    found = [d for name in named for d in TARGETS[name]().settings_problems(program)]
    return sorted(by_message(found), key=lambda d: d.sort_key())


def _listed(nodes: list[str], shown: int = 3) -> str:
    """'a, b, c and 2 more'."""
    more = f" and {len(nodes) - shown} more" if len(nodes) > shown else ""
    return ", ".join(nodes[:shown]) + more


def by_message(found: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Each message once (the first found), in the order of the messages."""
    once: dict[str, Diagnostic] = {}
    for diagnostic in found:
        once.setdefault(diagnostic.message, diagnostic)
    return [once[message] for message in sorted(once)]


def target_rules(program: Program) -> tuple[Rule, ...]:
    """Every registered target's rules for `program`, in the registry's order."""
    return tuple(rule for target in TARGETS.values() for rule in target.rules(program))


