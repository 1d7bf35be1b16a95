"""`fitc plan FILE --current STATE --explain`: why the plan saves no more than it does.

Each limit the move is under is lifted alone and the move solved again (`solve_move`, then
`waves`), so what lifting it would save is a measured figure, not an estimate:

- a workload that may not move (`movable = false`, or a disruption budget of 0: its own
  `max_disrupted` or the cluster's PodDisruptionBudget): its replicas free to move;
- `move_price`: the price per move and per node drained or bought, dropped;
- `max_moves`: the cap on the replicas the whole plan moves, dropped;
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

from fitlang.diagnostics import Diagnostic

if TYPE_CHECKING:
    from pathlib import Path

    from fitlang.check.program import Program
    from fitlang.model.problem import Problem
    from fitlang.plan import PlanResult
    from fitlang.solve.moving import MovePlan


@dataclass(frozen=True)
class Binding:
    """A limit the plan is under, and what lifting it alone gives."""

    # "movable", "max_disrupted", "max_drained", "max_moves", "move_price", "min_saving"
    limit: str
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
    if problem.max_moves is not None:
        lifts.append(_Lift("max_moves", None, f"max_moves = {problem.max_moves}",
                           dataclasses.replace(problem, max_moves=None)))
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
    return dataclasses.replace(_unbudgeted(problem, workload), pinned=problem.pinned - names)


def _unbudgeted(problem: Problem, workload: str) -> Problem:
    """The problem without `workload`'s disruption budgets (over healthy replicas too)."""
    return dataclasses.replace(
        problem, max_disrupted={w: b for w, b in problem.max_disrupted.items() if w != workload},
        health_budgets={w: b for w, b in problem.health_budgets.items() if w != workload})


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
              _budget_stated(problem, workload, budget) + budget_source(program, workload, budget, problem),
              _unbudgeted(problem, workload))
        for workload, budget in sorted(problem.max_disrupted.items())
        if budget > 0 or workload in problem.health_budgets]
    if problem.max_drained is not None:
        lifts.append(_Lift("max_drained", None, f"max_drained = {problem.max_drained}",
                           dataclasses.replace(problem, max_drained=None)))
    for lift in lifts:  # the same target: only the order is made again
        lifted = waves(lift.relaxed, result.placement, root)
        if not lifted.diagnostics and len(lifted.waves) < len(plan.waves):
            found.append(Binding(lift.limit, lift.workload, lift.stated, lifted.cost_after,
                                 Fraction(0), len(lifted.waves), lifted.moves))
    return found


def _budget_stated(problem: Problem, workload: str, budget: int) -> str:
    """A wave's budget in words: over healthy replicas, as many as it counts now."""
    health = problem.health_budgets.get(workload)
    if health is None:
        return f"at most {budget} moved at once"
    return (f"at most {budget} healthy moved at once now ({health.must_stay + health.above} healthy, "
            f"{health.must_stay} must stay)")


def as_text(bindings: list[Binding], waves_now: int) -> str:
    if not bindings:
        return "\nNo limit binds alone: lifting any one of them saves nothing and no wave.\n"
    lines = ["", "What binds (each limit lifted alone, the move solved again):"]
    for binding in bindings:
        subject = f"`{binding.workload}`: " if binding.workload else ""
        lines.append(f"  {subject}{binding.stated}: {effect(binding, waves_now)}")
    return "\n".join(lines) + "\n"


def effect(binding: Binding, waves_now: int) -> str:
    """What lifting the limit alone gives, in words (the text and W0825 say it alike)."""
    if binding.saving:
        return (f"lifting it saves {float(binding.saving):.2f} USD/h more (to "
                f"{float(binding.cost_after):.2f} USD/h, {binding.moves} move(s) in "
                f"{binding.waves} wave(s))")
    return (f"binds the order only: {binding.waves} wave(s) instead of {waves_now}, the same "
            "end (saves 0.00 USD/h more)")


# ---- `fitc explain FILE --current STATE`: the same answer, as the explain command's -----------

def binding_diagnostics(bindings: list[Binding], problem: Problem, program: Program,
                        root: str, waves_now: int) -> list[Diagnostic]:
    """W0825 per limit that binds, at the place it is stated (the workload's `movable` or
    `max_disrupted`, the policy's `max_drained`, `move_price`, `min_saving`; a cluster's
    PodDisruptionBudget at the workload); W0826 where none binds alone."""
    from fitlang import messages as msg

    if not bindings:
        where = program.policy.origin
        return [msg.NoLimitBinds.at(where.path if where else root,
                                    where.span if where else _first_character(),
                                    limits=", ".join(stated_limits(problem)) or "none stated")]
    found = []
    for binding in bindings:
        where = _stated_at(binding, program)
        found.append(msg.LimitBinds.at(
            where.path if where else root, where.span if where else _first_character(),
            subject=f"`{binding.workload}`: " if binding.workload else "",
            stated=binding.stated, effect=effect(binding, waves_now)))
    return found


def stated_limits(problem: Problem) -> list[str]:
    """The limits the move is under, by name, for W0826."""
    found = [f"`{w}` movable = false or a budget of 0"
             for w in sorted({problem.demand(d).workload for d in problem.pinned})]
    found += [f"`{w}` max_disrupted" for w, b in sorted(problem.max_disrupted.items()) if b > 0]
    if problem.max_drained is not None:
        found.append("max_drained")
    if problem.move_price:
        found.append("move_price")
    if problem.max_moves is not None:
        found.append("max_moves")
    return found + ["min_saving"]


def _stated_at(binding: Binding, program: Program):
    """Where the limit stands: its attribute, or the block it belongs to."""
    if binding.workload is not None:
        workload = program.workloads[binding.workload]
        keys = ("movable", "max_disrupted") if binding.limit == "movable" else ("max_disrupted",)
        return next((workload.spans[k] for k in keys if k in workload.spans), workload.origin)
    policy = program.policy
    return policy.spans.get(binding.limit, policy.origin)


def _first_character():
    from fitlang.span import FIRST_CHARACTER

    return FIRST_CHARACTER


def run_explain(arguments, file: Path) -> int:
    """`fitc explain FILE --current STATE`: the plan from the state (`fitlang/plan.py`), then
    which limit binds it and what lifting it saves, as `fitc plan --explain` says it: the text
    on stdout and W0825/W0826 (notes) with the other diagnostics; `--format json` prints the
    plan's document (`PlanDocument`, its `binding` filled). Exit 0 once answered, 1 on errors
    (a policy with no placement at all: its conflict, as `fitc explain` without --current)."""
    import sys

    from fitlang.driver import Compilation
    from fitlang.plan import DEFAULT_TIME_LIMIT, as_json, planned
    from fitlang.render import exit_code, render

    compilation = Compilation(file, current=arguments.current)
    time_limit = arguments.time_limit or DEFAULT_TIME_LIMIT
    result = planned(compilation, time_limit)
    sources = compilation.sources()
    if not result.failed:
        assert result.problem is not None and result.plan is not None
        program = compilation.check().program
        result.bindings = explain_plan(result, program, compilation.root_path, time_limit)
        waves_now = 0 if result.kept else len(result.plan.waves)
        result.diagnostics += binding_diagnostics(result.bindings, result.problem, program,
                                                  compilation.root_path, waves_now)
    if arguments.format == "json":
        sys.stdout.write(as_json(result))
    elif arguments.format == "human":
        if result.diagnostics:
            sys.stderr.write(render(result.diagnostics, "human", sources))
        if result.bindings is not None and result.plan is not None:
            sys.stdout.write(_summary(result) + as_text(result.bindings, waves_now).lstrip("\n"))
    else:
        sys.stdout.write(render(result.diagnostics, arguments.format, sources))
    from fitlang.diagnostics import Severity

    # the notes of what binds are the answer, not findings: --fail-level warning ignores them
    return exit_code([d for d in result.diagnostics if d.severity is not Severity.NOTE],
                     arguments.fail_level)


def _summary(result: PlanResult) -> str:
    plan = result.plan
    assert plan is not None
    if result.kept:
        return (f"The plan keeps what runs ({float(plan.cost_before):.2f} USD/h): the best "
                f"placement ({float(plan.cost_after):.2f} USD/h) saves less than min_saving.\n")
    return (f"The plan: {float(plan.cost_before):.2f} -> {float(plan.cost_after):.2f} USD/h, "
            f"{plan.moves} move(s) in {len(plan.waves)} wave(s).\n")
