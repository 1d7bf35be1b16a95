"""`fitc plan FILE --current STATE --explain`: why the plan saves no more than it does.

Each limit the move is under is lifted alone and the move solved again (`solve_move`, then
`waves`), so what lifting it would save is a measured figure, not an estimate:

- a workload that may not move (`movable = false`, or a disruption budget of 0: its own
  `max_disrupted` or the cluster's PodDisruptionBudget): its replicas free to move;
- `move_price`: the price per move and per node drained or bought, dropped;
- `min_saving`: where it keeps the current placement, the saving of the plan it kept from being
  made (no solve: the plan has it);
- a workload's disruption budget above 0 and `max_drained` limit each wave, not the end (see
  `solve/moving.py`): lifted, the same placement is reached in fewer waves and saves nothing
  more per hour. They are listed where they add waves, with the waves they cost.

A limit is said to bind where lifting it saves money or waves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fitlang.check.program import Program
    from fitlang.model.problem import Problem
    from fitlang.plan import PlanResult
    from fitlang.solve.moving import MovePlan


@dataclass(frozen=True)
class Binding:
    """A limit the plan is under, and what lifting it alone gives."""

    limit: str  # "movable", "max_disrupted", "max_drained", "move_price", "min_saving"
    workload: str | None  # the workload it is of (movable, max_disrupted)
    stated: str  # the limit as the policy or the cluster states it, for people
    cost_after: Fraction  # USD/h the move reaches with it lifted
    saving: Fraction  # USD/h more than the plan saves
    waves: int  # the waves with it lifted
    moves: int  # the replicas moved with it lifted


def explain_plan(result: PlanResult, program: Program, root: str,
                 time_limit: float | None) -> list[Binding]:
    """The limits that bind the plan of `result` (one without errors), most saving first."""
    problem, plan = result.problem, result.plan
    assert problem is not None and plan is not None
    reached = plan.cost_before if result.kept else plan.cost_after
    lifts = [_Lift("movable", workload, _why_pinned(problem, program, workload),
                   _free(problem, workload))
             for workload in sorted({problem.demand(d).workload for d in problem.pinned})]
    if problem.move_price:
        lifts.append(_Lift("move_price", None, f"move_price = {float(problem.move_price):g} USD/h",
                           dataclasses.replace(problem, move_price=None)))
    found = [b for lift in lifts for b in _solved_again(lift, reached, root, time_limit)]
    if result.kept:
        found.append(Binding("min_saving", None, f"min_saving = {float(problem.min_saving):.0%}",
                             plan.cost_after, plan.cost_before - plan.cost_after,
                             len(plan.waves), plan.moves))
    else:
        found += _wave_limits(problem, program, result, plan, root)
    return sorted(found, key=lambda b: (-b.saving, b.waves, b.limit, b.workload or ""))


def _free(problem: Problem, workload: str) -> Problem:
    """The problem with `workload` free to move, without a budget."""
    names = {d.name for d in problem.demands if d.workload == workload}
    budgets = {w: b for w, b in problem.max_disrupted.items() if w != workload}
    return dataclasses.replace(problem, pinned=problem.pinned - names, max_disrupted=budgets)


def _why_pinned(problem: Problem, program: Program, workload: str) -> str:
    from fitlang.rules.moves import budget_source

    if not program.workloads[workload].movable:
        return "movable = false"
    return "disruption budget 0" + budget_source(program, workload, 0)


@dataclass(frozen=True)
class _Lift:
    """A limit, and the problem without it."""

    limit: str
    workload: str | None
    stated: str
    relaxed: Problem


def _solved_again(lift: _Lift, reached: Fraction, root: str,
                  time_limit: float | None) -> list[Binding]:
    """The move solved again without the limit: a Binding where it ends cheaper."""
    from fitlang.solve.moving import solve_move, waves

    placement = solve_move(lift.relaxed, time_limit=time_limit)
    if placement.unplaced and not lift.relaxed.allow_unplaced:
        return []
    plan = waves(lift.relaxed, placement, root)
    if plan.diagnostics or plan.cost_after >= reached:
        return []
    return [Binding(lift.limit, lift.workload, lift.stated, plan.cost_after,
                    reached - plan.cost_after, len(plan.waves), plan.moves)]


def _wave_limits(problem: Problem, program: Program, result: PlanResult, plan: MovePlan,
                 root: str) -> list[Binding]:
    """Disruption budgets above 0 and `max_drained`: the same target in fewer waves."""
    from fitlang.rules.moves import budget_source
    from fitlang.solve.moving import waves

    assert result.placement is not None
    found = []
    lifts = [
        _Lift("max_disrupted", workload,
              f"at most {budget} moved at once" + budget_source(program, workload, budget),
              dataclasses.replace(problem, max_disrupted={
                  w: b for w, b in problem.max_disrupted.items() if w != workload}))
        for workload, budget in sorted(problem.max_disrupted.items()) if budget > 0]
    if problem.max_drained is not None:
        lifts.append(_Lift("max_drained", None, f"max_drained = {problem.max_drained}",
                           dataclasses.replace(problem, max_drained=None)))
    for lift in lifts:  # the same target: only the order is made again
        lifted = waves(lift.relaxed, result.placement, root)
        if not lifted.diagnostics and len(lifted.waves) < len(plan.waves):
            found.append(Binding(lift.limit, lift.workload, lift.stated, lifted.cost_after,
                                 Fraction(0), len(lifted.waves), lifted.moves))
    return found


def as_text(bindings: list[Binding], waves_now: int) -> str:
    if not bindings:
        return "\nNo limit binds alone: lifting any one of them saves nothing and no wave.\n"
    lines = ["", "What binds (each limit lifted alone, the move solved again):"]
    for binding in bindings:
        subject = f"`{binding.workload}`: " if binding.workload else ""
        if binding.saving:
            lines.append(f"  {subject}{binding.stated}: lifting it saves "
                         f"{float(binding.saving):.2f} USD/h more (to "
                         f"{float(binding.cost_after):.2f} USD/h, {binding.moves} move(s) in "
                         f"{binding.waves} wave(s))")
        else:
            lines.append(f"  {subject}{binding.stated}: binds the order only: {binding.waves} "
                         f"wave(s) instead of {waves_now}, the same end (saves 0.00 USD/h more)")
    return "\n".join(lines) + "\n"
