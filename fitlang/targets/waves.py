"""What runs a plan (`fitc plan --target T --out DIR`): the plan's states, stage by stage, and
the files each target writes to go from one to the next.

A plan (`solve/moving.py`) is: replicas beyond the policy's stopped and nodes bought first,
then waves of moves, then nodes bought earlier and left empty released. `stages` turns it
into the states a target realises, each a folder of DIR:

- `wave-00`: before any move: the capacity to buy is added (Terraform), the replicas beyond
  the policy's stop. Written only when there is something to buy or stop.
- `wave-NN` (NN = 01 ...): one per wave. A wave has two steps: the new replicas start beside
  the old ones (`middle`: before + started), then the old ones stop (`after`); a wave that
  must stop first (`stop_first`) stops, then starts.
- `wave-LAST` (the last wave's number + 1): the capacity bought earlier and left empty is
  released (Terraform). Written only when there is something to release.

Each target implements `Target.render_plan(context, stages)`: the files per stage, and the
warnings for what its files do not carry out (W0820-W0822): never dropped in silence.
"""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic

if TYPE_CHECKING:
    from fitlang.model.current import RunningNames
    from fitlang.model.problem import Problem
    from fitlang.plan import PlanResult
    from fitlang.solve.moving import Move

State = dict[str, Counter]  # node -> demand name -> replicas there


@dataclass
class Stage:
    """One folder of the plan's output: the state it starts from, the state after its first
    step and the state it ends in, with what it does."""

    number: int
    before: State
    middle: State
    after: State
    moves: list[Move] = field(default_factory=list)  # moves, starts (and, in wave-00, stops)
    stop_first: bool = False
    drained: list[str] = field(default_factory=list)  # nodes the stage empties
    kind: str = "wave"  # "wave", "buy" (wave-00) or "release" (the last)
    released: list[str] = field(default_factory=list)  # nodes bought earlier, released here
    # nodes an earlier stage drained that this one moves work to: schedulable again first
    resumed: list[str] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return f"wave-{self.number:02d}"


def script_commands(script: str, programs: tuple[str, ...]) -> list[list[str]]:
    """The words of each command of a wave's script that runs one of `programs`, in order,
    as the shell splits them (the plans' read-back of each target: `*_plan_fidelity.py`)."""
    found = []
    for line in script.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words[:1] and words[0] in programs:
            found.append(words)
    return found


@dataclass
class PlanStages:
    problem: Problem
    stages: list[Stage]
    bought_before: set[str]  # nodes bought before the plan
    bought_during: set[str]  # bought before the plan or by it: in use until the release
    bought_after: set[str]  # bought once the plan is done
    # (demand, node) -> the names of the replicas running there before the plan
    handles: RunningNames = field(default_factory=dict)
    start: State = field(default_factory=dict)  # what runs before the plan

    @property
    def end(self) -> State:
        """What runs once the plan is done (`fitc compile --current` writes it)."""
        return self.stages[-1].after if self.stages else self.start

    def demand_nodes(self) -> list[tuple[str, str]]:
        """Every (demand, node) that holds a replica in some state of the plan, in node
        order: the objects a declarative target keeps across stages (at zero where empty)."""
        states = [self.start] + [s for stage in self.stages for s in (stage.before, stage.after)]
        found = {(d, node) for state in states
                 for node, counts in state.items() for d, c in counts.items() if c}
        order = {d.name: i for i, d in enumerate(self.problem.demands)}
        owners = self.problem.owners()
        return sorted(found, key=lambda p: (order[p[0]], owners.position(p[1]) if p[1] in owners
                                            else -1, p[1]))


def stages(result: PlanResult) -> PlanStages:
    """The stages of a plan (see the module's docstring): none where it keeps the current
    placement (within `min_saving`) or has nothing to do."""
    from fitlang.solve.moving import _apply, _stopped, current_state

    plan, problem = result.plan, result.problem
    assert plan is not None and problem is not None
    bought_before = set(problem.bought_now)
    start = _clean(current_state(problem))
    if result.kept:
        return PlanStages(problem, [], bought_before, bought_before, bought_before,
                          result.handles, start)
    bought_during = bought_before | set(plan.bought)
    bought_after = bought_during - set(plan.released)
    state = _clean(_stopped(start, plan.stopped))
    found: list[Stage] = []
    if plan.bought or plan.stopped:  # stops drain nothing: a later wave may move work there
        found.append(Stage(0, start, state, state, list(plan.stopped), True, kind="buy"))
    drained: set[str] = set()
    for number, wave in enumerate(plan.waves, 1):
        middle = _clean(_apply(state, wave.moves, start=not wave.stop_first, stop=wave.stop_first))
        after = _clean(_apply(state, wave.moves))
        resumed = sorted(drained & {m.target for m in wave.moves})
        drained = (drained - set(resumed)) | set(wave.drained)
        found.append(Stage(number, state, middle, after, list(wave.moves), wave.stop_first,
                           list(wave.drained), resumed=resumed))
        state = after
    if plan.released:
        found.append(Stage(len(plan.waves) + 1, state, state, state, kind="release",
                           released=list(plan.released)))
    return PlanStages(problem, found, bought_before, bought_during, bought_after, result.handles,
                      start)


def _clean(state: State) -> State:
    return {node: +counts for node, counts in state.items() if +counts}




def render_plan(result: PlanResult, program, targets: list[str], foreign: tuple = ()
                ) -> tuple[dict[str, str], list[Diagnostic]]:
    """The files of the plan for each target (a folder per target when several), and what
    the targets found: warnings for what their files do not carry out. `foreign`: what runs
    now of no workload (the state's `Foreign`s), which a wave's drain may evict."""
    from fitlang.targets import TARGETS
    from fitlang.targets.base import CompileContext

    assert result.problem is not None and result.placement is not None
    planned = stages(result)
    context = CompileContext(program, result.problem, result.placement, foreign=tuple(foreign))
    files: dict[str, str] = {}
    found: list[Diagnostic] = []
    chosen = list(dict.fromkeys(targets))
    for name in chosen:
        target = TARGETS[name]()
        written, diagnostics = target.render_plan(context, planned)
        diagnostics += target.plan_fidelity(context, planned, written)
        prefix = "" if len(chosen) == 1 else f"{name}/"
        files.update({prefix + relative: text for relative, text in written.items()})
        found += diagnostics
    return files, found
