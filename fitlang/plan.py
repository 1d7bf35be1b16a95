"""`fitc plan FILE --current STATE`: from what runs now to what should run, as `terraform plan`
says what a change does: the nodes to buy, the replicas to move (wave by wave, each wave
keeping every rule and budget: `solve/moving.py`), the nodes drained and released, the cost
before and after and the saving of each wave, and the moves against the least the target's
node counts allow.

The current placement is kept as it is when it meets every rule and the best placement saves
less than the policy's `min_saving` (5% unless stated): stable output is the default.

Exit codes as `terraform plan -detailed-exitcode`: 0 nothing to do, 2 changes, 1 errors.

`--target T --out DIR` also writes what runs the plan, wave by wave (`targets/waves.py`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen, Mutable

if TYPE_CHECKING:  # the driver and the solver are imported when the command runs
    from fitlang.check.program import Origin, Workload
    from fitlang.driver import Compilation, Verdict
    from fitlang.model.current import CurrentState, ReplicaName, RunningNames
    from fitlang.model.problem import HealthBudget, Problem
    from fitlang.plan_explain import Binding
    from fitlang.solve.moving import Move, MovePlan
    from fitlang.solve.placement import Placement
    from fitlang.targets.waves import PlanStages

EXIT_NOTHING, EXIT_ERRORS, EXIT_CHANGES = 0, 1, 2
EXIT_USAGE = 2  # argparse's, before anything is read: as every fitc command's usage errors
DEFAULT_TIME_LIMIT = 60.0
NO_TARGET_SECONDS = 30.0  # at most, each solve that says why there is no target


class TimeLimit(Frozen):
    """The plan's time limit as the instant it runs out on `clock`: every stage of the plan
    (the move, and where it finds no target, the solves and the explanation that say why)
    gets what is left of it, so the plan ends within it (h24c: 35 CPU s past a 10 s limit);
    the waves, where the move ran past its time, their share from its end (`_waves_end`)."""

    seconds: float | None
    ends: float | None
    clock: Callable[[], float]
    cpu_began: float  # the process's CPU time when it began
    # the --time-limit the user gave, for messages: `seconds` is what reading left of it
    stated: float | None

    @classmethod
    def starting(cls, seconds: float | None, clock: Callable[[], float] | None = None,
                 stated: float | None = None) -> TimeLimit:
        clock = clock or time.monotonic  # (read now: `fitc`'s default limit counts the CPU)
        return cls(seconds, None if seconds is None else clock() + seconds, clock, time.process_time(),
                   seconds if stated is None else stated)

    def cpu_share(self) -> float:
        """The share of a core the process has had since the limit began, where its clock is
        the wall (1 on any other clock, and before `SHARE_SECONDS` have passed)."""
        from fitlang.solve.clock import LEAST_CPU_SHARE, on_the_wall

        if self.ends is None or self.seconds is None or self.clock is not time.monotonic or not on_the_wall():
            return 1.0
        spent = self.clock() - (self.ends - self.seconds)
        if spent < SHARE_SECONDS:
            return 1.0
        return min(1.0, max(LEAST_CPU_SHARE, (time.process_time() - self.cpu_began) / spent))

    def left(self, most: float | None = None) -> float | None:
        """What is left of it, at most `most` (None: no limit); 0 when it is spent."""
        if self.ends is None:
            return most
        left = max(0.0, self.ends - self.clock())
        return left if most is None else min(most, left)

    @property
    def spent(self) -> bool:
        return self.left() == 0.0


# the share of the limit kept from the move for what follows it: the waves and their checks,
# the output (inventory 10,000: 0.24 CPU s, 0.93 s of wall time at load 7, where a 5 s plan
# ended 0.83 s past its limit), with a core to itself (inventory 10,000, 2,800-3,600 moves:
# waves 0.55-0.70 CPU s and the JSON 0.09-0.14, more than this share of a 5 s plan's ~4.1 s
# left: the move's passes end early enough there, `move_scale.PASSES_SHARE`)
FINISH_SHARE = 0.15
# on the wall, the share over the CPU share the process has had (the waves' CPU takes that
# much more wall time: inventory 10,000 plan 10's 0.6 CPU s at a fifth of a core, 3 s), at
# most this share of the limit
FINISH_MOST_SHARE = 0.5
SHARE_SECONDS = 0.5  # the least wall time the CPU share is measured over
# at least this much CPU time per demand is kept for the waves: their checks read the state
# group by group of related demands (`verify_changes`), so they take time with the demands,
# not the limit: 10,000 small workloads (`bench/many_workloads.py`, 1,500 nodes) 0.74-1.07
# CPU s of waves, where FINISH_SHARE of 5-10 s left 0.47-1.2 s (E0813 at 10 s); inventory
# 10,000's 1,000 workloads keep FINISH_SHARE
FINISH_SECONDS_PER_DEMAND = 1e-4


def _move_seconds(limit: TimeLimit, cpu_share: float = 1.0, demands: int = 0) -> float | None:
    """The move's time: what is left of the limit less what is kept for the waves,
    FINISH_SHARE of it (or FINISH_SECONDS_PER_DEMAND of its `demands`) over the `cpu_share`
    the process has had (never nothing: the move's repair of what runs is the least the plan
    is)."""
    left = limit.left()
    if left is None or limit.seconds is None:
        return left
    return max(0.05 * limit.seconds, left - _finish_seconds(limit.seconds, cpu_share, demands))


def _finish_seconds(seconds: float, cpu_share: float, demands: int = 0) -> float:
    kept = max(FINISH_SHARE * seconds, FINISH_SECONDS_PER_DEMAND * demands)
    return min(kept / cpu_share, FINISH_MOST_SHARE * seconds)


def _waves_end(limit: TimeLimit, cpu_share: float = 1.0, demands: int = 0) -> float | None:
    """When the waves run out of time (on the limit's clock): the limit's end, or where the
    move ran past its own time, the time kept for the waves counted from now. A stage past its
    deadline (a regroup packed after it) took the waves' time: inventory 10,000 plan 10 at
    5 s, load 29, ended E0813 with a target found (h49e); the plan then ends late by what the
    move overran, not with no plan."""
    if limit.ends is None or limit.seconds is None:
        return None
    return max(limit.ends, limit.clock() + _finish_seconds(limit.seconds, cpu_share, demands))


class PlanResult(Mutable):
    """What `plan` found: the plan (None where errors stopped it) and what it says."""

    plan: MovePlan | None = None
    problem: Problem | None = None
    placement: Placement | None = None  # the target (the solve's, before any is kept)
    kept: bool = False  # the current placement is kept (within min_saving)
    status: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    bindings: list[Binding] | None = None  # with --explain (fitlang/plan_explain.py)
    # (demand, node) -> the names of the replicas running there (pods, job ids); "" a node
    # the policy lacks
    handles: RunningNames = field(default_factory=dict)
    # demand -> its replicas on nodes the policy lacks: (name or None, node), for the text
    outside: dict[str, list[tuple[ReplicaName | None, str]]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.plan is None or any(d.is_error for d in self.diagnostics)

    @property
    def exit_code(self) -> int:
        if self.failed:
            return EXIT_ERRORS
        assert self.plan is not None
        return EXIT_CHANGES if self.plan.changes and not self.kept else EXIT_NOTHING


def make_plan(compilation: Compilation, state: CurrentState,
              time_limit: float | None = DEFAULT_TIME_LIMIT,
              clock: Callable[[], float] | None = None,
              stated_limit: float | None = None) -> PlanResult:
    """The plan of a checked policy from a current state, within `time_limit` (on `clock`);
    `stated_limit`: the user's --time-limit, for messages (default `time_limit`)."""
    # the limit begins before the solver is imported: `time_limit` is what was left when the
    # call was made, and the first import of the move's modules takes ~0.2 CPU s (inventory
    # 10,000 at 5 s: begun after it, the plan ended that much past its limit, h56c)
    limit = TimeLimit.starting(time_limit, clock, stated_limit)
    from fitlang.model.build import running_handles, running_outside, with_current
    from fitlang.solve.linear import Status
    from fitlang.solve.model_bound_beside import raised_by_later_bound, stop_later_bound
    from fitlang.solve.moving import solve_move, waves

    result = PlanResult()
    compilation.check()
    problem = compilation.problem
    result.diagnostics = list(compilation.diagnostics())
    if problem is None:
        return result
    program = compilation.check().program
    in_time = in_time_refused(program)
    if in_time:
        result.diagnostics += in_time
        return result
    problem = with_current(problem, program, state)
    result.problem = problem
    pinned = _pinned_elsewhere(problem, program) + _forced_over_cap(problem, program)
    if pinned:
        result.diagnostics += pinned
        return result
    result.diagnostics += _kept_past_node_by_node(problem, program, state)
    cpu_share = limit.cpu_share()
    placement = solve_move(problem, time_limit=_move_seconds(limit, cpu_share, len(problem.demands)),
                           bound_after=True)
    result.placement = placement
    result.status = str(placement.status)
    # no solution at all (a pinned workload running more replicas than it asks for makes the
    # stays infeasible) lists nothing as unplaced: it is no target either
    found = str(placement.status) in ("optimal", "feasible")
    if not found or (placement.unplaced and not problem.allow_unplaced):
        stop_later_bound(placement)
        missing = _no_target(compilation, problem, program, placement, limit)
        result.diagnostics += missing.diagnostics
        # the move's status is its partial placement's (`optimal` with replicas left out): the
        # plan's says whether a target is proven not to exist
        result.status = str(Status.INFEASIBLE if missing.proven else Status.UNKNOWN)
        return result
    over_cap = _target_over_cap(problem, program, placement)
    if over_cap:
        stop_later_bound(placement)
        result.diagnostics += over_cap
        result.status = str(Status.UNKNOWN)
        return result
    if placement.overfull:  # whole cores per job on Slurm nodes the move could not repair
        stop_later_bound(placement)  # (no plan: its bound is not waited for)
        result.diagnostics.append(_cores_overfull(problem, placement, compilation.root_path))
        return result
    result.handles = running_handles(problem, state)
    result.outside = running_outside(problem, state)
    waves_end = _waves_end(limit, cpu_share, len(problem.demands))
    plan = waves(problem, placement, compilation.root_path, result.handles,
                 out_of_time=lambda: waves_end is not None and limit.clock() > waves_end)
    result.plan = plan
    result.diagnostics += plan.diagnostics
    # the move model's bound, proven beside the move and its waves (`model_bound_beside`)
    if raised_by_later_bound(placement):
        result.status = str(placement.status)
    result.kept = _keep_current(problem, plan, compilation.root_path)
    return result


def _cores_overfull(problem: Problem, placement: Placement, root: str) -> Diagnostic:
    """E0509 where the target overfills nodes read from Slurm in whole cores per job: no plan
    towards a state Slurm would not run (`solve/whole_cores.py`)."""
    from fitlang.driver import cores_overfull
    from fitlang.solve.self_check import broken_rules

    broken = broken_rules(problem, placement, root)
    if not broken:
        return cores_overfull(placement.overfull, root, _first(), placement.over_pods)
    return cores_overfull(placement.overfull, broken[0].path, broken[0].span, placement.over_pods)


def in_time_refused(program) -> list[Diagnostic]:
    """E0906 for a policy with a horizon: a plan moves work at rest, and moving work that is
    placed in time too is not built yet (issue 19), so it is refused, not planned as if at rest."""
    from fitlang import messages as msg

    policy = program.policy
    if policy.horizon is None:
        return []
    where = policy.spans.get("horizon", policy.origin)
    return [msg.NotSupportedWithHorizon(detail=(
        "planning moves from a current state (where the state runs no service of the policy, "
        "`fitc compile --current STATE` keeps its running jobs where they run, to their end, "
        "and schedules the rest)")).diagnostic(
        where.path, where.span)]


def _pinned_elsewhere(problem: Problem, program) -> list[Diagnostic]:
    """E0811 for a workload that may not move and runs where its rules no longer allow it, or
    runs more replicas than it asks for (stopping them would move none, but the stays keep
    every running replica: the policy must say which to keep)."""
    from fitlang import messages as msg

    owners = problem.owners()
    found = []
    for demand in problem.demands:
        if demand.name not in problem.pinned:
            continue
        ruled_out = sorted(node for node in problem.running.get(demand.name, {})
                           if owners[node].id not in demand.eligible)
        away = problem.running_elsewhere.get(demand.name, 0)
        # (an option's replicas count against the workload's, not the option's own count)
        extra = demand.group is None and problem.running_total(demand.name) > demand.replicas
        if not ruled_out and not away and not extra:
            continue
        reason = demand.excluded.get(owners[ruled_out[0]].id) if ruled_out else None
        detail = (f": `{ruled_out[0]}` is ruled out ({reason.rule})" if reason is not None
                  else f": {away} run on nodes the policy lacks" if away
                  else f": the policy asks for {demand.replicas} (`replicas`)" if extra else "")
        held, where = _held(program.workloads[demand.workload],
                            problem.health_budgets.get(demand.workload))
        found.append(msg.PinnedCannotStay(workload=demand.workload, held=held,
                                          running=problem.running_total(demand.name),
                                          detail=detail).diagnostic(where.path, where.span))
    return found


def _kept_past_node_by_node(problem: Problem, program, state: CurrentState) -> list[Diagnostic]:
    """W0815 for each workload kept where it runs by a budget of 0 that its pods not Ready on
    the policy's nodes would raise, moved first (`build.raised_first`), where the fleet is
    past the node-by-node move that holds that order: the pod named."""
    from fitlang import messages as msg
    from fitlang.model.build import raised_first

    held = {w for w, budget in problem.max_disrupted.items() if budget == 0 and program.workloads[w].movable}
    if not held or not problem.health_budgets:
        return []
    found = raised_first(problem, (problem.running, problem.running_elsewhere, problem.unhealthy),
                         problem.health_budgets, held, node_by_node=False)
    nodes = sum(c.count for c in problem.classes)
    diagnostics = []
    for name in sorted(set(found) & problem.pinned):
        workload = problem.demand(name).workload
        pods = sorted(f"`{r.handle}` (on `{r.node}`)" if r.handle is not None else f"on `{r.node}`"
                      for r in state.running if r.workload == workload and not r.ready)
        origin = program.workloads[workload].origin
        diagnostics.append(msg.KeptPastNodeByNode(workload=workload, pod=pods[0] if pods else "",
                                                  nodes=nodes).diagnostic(origin.path, origin.span))
    return diagnostics


def _forced_over_cap(problem: Problem, program) -> list[Diagnostic]:
    """E0814 where the replicas every plan moves (on nodes the policy lacks, or where their
    rules no longer let them run: `move_scale.forced_moves`) are more than `max_moves`."""
    from fitlang.solve.move_scale import forced_moves

    if problem.max_moves is None:
        return []
    forced = forced_moves(problem)
    if forced <= problem.max_moves:
        return []
    return [_cap_error(program, problem.max_moves, f"every plan moves at least {forced} replicas: "
                       "those running on nodes the policy lacks or where their rules no longer "
                       "let them run")]


def _target_over_cap(problem: Problem, program, placement: Placement) -> list[Diagnostic]:
    """E0814 where the target found moves more than `max_moves` (at fleet scale: the model
    over classes and the search from what runs do not hold the cap exactly, and the least
    change, `moving.within_move_cap`, did not serve)."""
    from fitlang.solve.moving import current_state, placed_state, replicas_moved

    cap = problem.max_moves
    if cap is None:
        return []
    moved = replicas_moved(problem, current_state(problem), placed_state(placement))
    if moved <= cap:
        return []
    return [_cap_error(program, cap, f"the target found moves {moved} replicas (none was found "
                       "that keeps every rule within the cap)")]


def _cap_error(program, limit: int, detail: str) -> Diagnostic:
    from fitlang import messages as msg

    policy = program.policy
    where = policy.spans.get("max_moves", policy.origin)
    return msg.MoveCapTooLow(limit=limit, detail=detail).diagnostic(where.path, where.span)


def _held(workload: Workload, health: HealthBudget | None = None) -> tuple[str, Origin]:
    """Why a pinned workload may not move, and where the policy says so: `movable = false`, or
    else a disruption budget of 0 (its own `max_disrupted`, or the cluster's
    PodDisruptionBudget, which the policy does not hold: its workload is named then), over
    its healthy replicas where some are not (`health`)."""
    origin = workload.origin
    assert origin is not None  # (a workload read from a policy file)
    if not workload.movable:
        return "is `movable = false`", workload.spans.get("movable", origin)
    if "max_disrupted" in workload.spans and 0 in (workload.max_disrupted, workload.max_disrupted_share):
        return "may disrupt none of its replicas (`max_disrupted`)", workload.spans["max_disrupted"]
    if health is not None and health.above < 0 and not health.always:
        return ("may disrupt none of its replicas (its PodDisruptionBudget allows 0: "
                f"{health.must_stay + health.above} healthy, {health.must_stay} must stay; the API "
                "server evicts its pods not Ready only under `unhealthyPodEvictionPolicy: "
                "AlwaysAllow`)"), origin
    return "may disrupt none of its replicas (its PodDisruptionBudget allows 0)", origin


class NoTarget(Frozen):
    """Why a plan has no target: the errors that say so, and whether it is proven that none
    exists (the plan's status: infeasible, else unknown)."""

    diagnostics: list[Diagnostic]
    proven: bool


def _no_target(compilation: Compilation, problem: Problem, program, placement: Placement,
               limit: TimeLimit) -> NoTarget:
    """No placement of every replica: E0811 where the pinned workloads are why (the same
    problem without them places everything), else the verdict of a plain solve, its conflict
    explained; each within what is left of the limit. Where nothing is left, the move's own
    verdict: E0501 where it proved that no placement exists (and nothing is pinned), else E0506."""
    import dataclasses

    from fitlang.driver import Outcome
    from fitlang.solve.moving import solve_move
    from fitlang.solve.room import short_of_room

    root = compilation.root_path
    if problem.max_moves is not None and not limit.spent:
        free = solve_move(dataclasses.replace(problem, max_moves=None),
                          time_limit=limit.left(NO_TARGET_SECONDS))
        if not free.unplaced and str(free.status) in ("optimal", "feasible"):
            from fitlang.solve.moving import current_state, placed_state, replicas_moved

            moved = replicas_moved(problem, current_state(problem), placed_state(free))
            return NoTarget([_cap_error(program, problem.max_moves, (
                "no placement that meets every rule moves so few replicas (without the cap the "
                f"plan's target moves {moved})"))], placement.proven_infeasible)
    if problem.pinned and not limit.spent:
        free = solve_move(dataclasses.replace(problem, pinned=frozenset()),
                          time_limit=limit.left(NO_TARGET_SECONDS))
        if not free.unplaced and str(free.status) in ("optimal", "feasible"):
            # (the move's proof holds with the workloads where they run: the plan's problem)
            return NoTarget(_pinned_why(problem, program), placement.proven_infeasible)
    if limit.spent:
        verdict = _move_verdict(compilation, problem, placement, limit)
    elif not problem.pinned and short_of_room(problem):
        # proven before any model (`room.short_of_room`), as the plain solve would prove it
        # after its greedy placement (4 CPU s at 10,000 nodes): the rest is the conflict's
        left = limit.left()
        verdict = compilation.verdict(placement, limit.seconds, NO_TARGET_SECONDS,
                                      None if left is None else time.monotonic() + left, limit.stated)
    else:
        solved = compilation.solve(time_limit=limit.left(NO_TARGET_SECONDS))
        left = limit.left()
        ends = None if left is None else time.monotonic() + left
        # (the policy without the stays has no placement: the plan's problem has none either)
        verdict = compilation.verdict(solved, limit.seconds, NO_TARGET_SECONDS, ends, limit.stated)
    return NoTarget(_errors(verdict.diagnostics, root), verdict.outcome is Outcome.INFEASIBLE)


def _pinned_why(problem: Problem, program) -> list[Diagnostic]:
    """E0811 for each workload that may not move: without them pinned everything is placed."""
    from fitlang import messages as msg

    found = []
    for name in sorted({problem.demand(d).workload for d in problem.pinned}):
        held, where = _held(program.workloads[name], problem.health_budgets.get(name))
        running = sum(problem.running_total(d.name) for d in problem.demands if d.workload == name)
        found.append(msg.PinnedCannotStay(
            workload=name, held=held, running=running,
            detail=" (with it where it runs, the other replicas do not fit)").diagnostic(
            where.path, where.span))
    return found


def _move_verdict(compilation: Compilation, problem: Problem, placement: Placement,
                  limit: TimeLimit) -> Verdict:
    """The move's own verdict, the limit spent: its proof that no placement exists names no
    conflict (E0501); with workloads pinned that proof is not the policy's (E0506)."""
    import dataclasses

    from fitlang.solve.linear import Status

    if problem.pinned:
        placement = dataclasses.replace(placement, status=Status.UNKNOWN, proven_infeasible=False)
    return compilation.verdict(placement, limit.seconds, explain_ends=time.monotonic(),
                               stated_limit=limit.stated)


def _errors(diagnostics: list[Diagnostic], root: str) -> list[Diagnostic]:
    from fitlang import messages as msg

    return [d for d in diagnostics if d.is_error] or [msg.NoSafeOrder(
        detail="no placement places every replica").diagnostic(root, _first())]


def _first():
    from fitlang.span import FIRST_CHARACTER

    return FIRST_CHARACTER


def _keep_current(problem: Problem, plan: MovePlan, root: str) -> bool:
    """The current placement meets every rule (verify over it, every replica running on the
    policy's nodes) and the plan saves less than `min_saving` of its cost."""
    from fitlang.solve.moving import _Checker, current_state

    if not plan.changes:
        return False
    if problem.running_elsewhere or any(problem.running_total(d.name) != d.replicas
                                        for d in problem.demands):
        return False
    if _Checker(problem, set(problem.bought_now), root).broken(current_state(problem)):
        return False
    saving = plan.cost_before - plan.cost_after
    return saving < problem.min_saving * plan.cost_before


class Reached(Mutable):
    """What `fitc compile --current` writes: the placement the plan ends in (node by node, as
    its last wave leaves it, or what runs where the current placement is kept) and the plan's
    stages (`targets/waves.py`), from which a target writes the same objects as the plan's
    last stage. `stages` is None where no plan was made (no current state, or errors)."""

    placement: Placement
    diagnostics: list[Diagnostic]
    stages: PlanStages | None = None


def target_placement(compilation: Compilation, time_limit: float | None) -> Reached:
    """What `fitc compile --current` writes: the placement the plan reaches (what runs, where
    it is kept), and what the plan found wrong (errors: nothing is to be written)."""
    from fitlang.targets.waves import stages

    state = compilation.current_state()
    read = compilation.current_diagnostics()
    if state is None or any(d.is_error for d in read):
        return Reached(compilation.solve("auto", time_limit), read)
    limit = TimeLimit.starting(time_limit)
    result = make_plan(compilation, state, time_limit)
    errors = [d for d in result.diagnostics if d.is_error]
    if result.placement is None or result.plan is None or errors:  # (the solve says why: its verdict)
        return Reached(compilation.solve("auto", _floor_runs(limit)), read + errors)
    planned = stages(result)
    # kept: the solve's bound holds for any placement, so the gap says what keeping it costs
    value = result.plan.cost_before if result.kept else result.placement.value
    return Reached(_placement_of(planned, result.placement, value), read, planned)


def _floor_runs(limit: TimeLimit) -> float | None:
    """What is left of the limit, never nothing: a solve's greedy floor runs whole anyway."""
    left = limit.left()
    return None if left is None or limit.seconds is None else max(0.05 * limit.seconds, left)


def _placement_of(planned: PlanStages, solved: Placement, value: Fraction | None) -> Placement:
    """The placement of the plan's end state: its replicas node by node, the nodes bought
    after it, with the solve's unplaced replicas (where the policy allows them) and bound."""
    import dataclasses

    from fitlang.solve.linear import Status
    from fitlang.solve.placement_result import Assignment

    problem = planned.problem
    owners = problem.owners()
    end = planned.end
    nodes = sorted(end, key=lambda n: (owners.position(n), n))
    assignments = []
    for demand in problem.demands:
        numbers = iter(range(sum(end[n][demand.name] for n in nodes)))
        assignments += [Assignment(demand.name, next(numbers), node) for node in nodes
                        for _ in range(end[node][demand.name])]
    bought: dict[str, list[str]] = {}
    for node in sorted(planned.bought_after, key=lambda n: (owners.position(n), n)):
        bought.setdefault(owners[node].id, []).append(node)
    status = solved.status if value == solved.value else Status.FEASIBLE
    return dataclasses.replace(solved, assignments=assignments, bought=bought, value=value,
                               status=status)


# ---- output ------------------------------------------------------------------------------

def _money(value: Fraction) -> str:
    return f"{float(value):.2f}"


def as_text(result: PlanResult) -> str:
    plan, problem = result.plan, result.problem
    if plan is None or problem is None:
        return ""
    lines: list[str] = []
    if result.kept:
        saving = plan.cost_before - plan.cost_after
        lines.append(f"No changes. The current placement meets every rule; the best placement "
                     f"saves {_money(saving)} USD/h, less than min_saving "
                     f"({float(problem.min_saving) * 100:g}% of {_money(plan.cost_before)} USD/h).")
        return "\n".join(lines) + "\n"
    # the waves cut short (E0812, E0813): what was put in order is no whole plan
    cut = any(d.is_error for d in plan.diagnostics)
    if not plan.changes:
        if cut:
            return "No plan: the moves could not be put in order (the error below says why).\n"
        return f"No changes. What runs is the placement ({_money(plan.cost_before)} USD/h).\n"
    lines.append("fitc will perform the following actions:")
    if plan.bought or plan.stopped:
        lines.append("")
    for node in plan.bought:
        lines.append(f"  + buy      {node}")
    for stop in plan.stopped:
        lines.append(f"  - stop     {_replica(stop)} on {stop.source or _outside(result, stop)}")
    cost = plan.cost_before
    for number, wave in enumerate(plan.waves, 1):
        how = ", each stopped before its successor starts" if wave.stop_first else ""
        # a replica that starts is no move (the `Plan:` line counts them apart)
        starts = sum(1 for m in wave.moves if m.kind == "start")
        count = f"{len(wave.moves) - starts} move(s)" + (f", {starts} start(s)" if starts else "")
        lines.append(f"\n  wave {number}: {count}{how}, saves "
                     f"{_money(cost - wave.cost_after)} USD/h")
        for move in wave.moves:
            if move.kind == "start":
                lines.append(f"  + start    {_replica(move)} on {move.target}")
            else:
                lines.append(f"  ~ move     {_replica(move)}: {move.source or _outside(result, move)}"
                             f" -> {move.target}")
        for node in wave.drained:
            lines.append(f"  - drain    {node}")
        cost = wave.cost_after
    if plan.released:
        lines.append("")
    for node in plan.released:
        lines.append(f"  - release  {node}")
    if cut:
        lines.append(f"\nIncomplete: {len(plan.waves)} wave(s) put in order before the error below; "
                     "the rest of the move is not planned.")
        return "\n".join(lines) + "\n"
    started = sum(1 for wave in plan.waves for m in wave.moves if m.kind == "start")
    lines.append(f"\nPlan: {len(plan.bought)} to buy, {plan.moves} to move in {len(plan.waves)} "
                 f"wave(s), {len(plan.stopped)} to stop, {started} to start, "
                 f"{len(plan.drained)} to drain, {len(plan.released)} to release.")
    lines.append(f"Cost: {_money(plan.cost_before)} -> {_money(plan.cost_after)} USD/h "
                 f"(saves {_money(plan.cost_before - plan.cost_after)} USD/h).")
    least = plan.least_moves
    lines.append(f"Moves: {plan.moves}; the least these node counts allow: {least}"
                 + ("" if plan.moves == least else f" (gap {plan.moves - least})")
                 + f"; target placement {result.status}{_bound_text(result.placement)}.")
    return "\n".join(lines) + "\n"


def _bound_text(placement: Placement | None) -> str:
    """At fleet scale (`solve/move_scale.py`): the objective, its proven bound and the gap."""
    if placement is None or not placement.moves_counted or placement.value is None \
            or placement.bound is None or placement.gap is None:
        return ""
    return (f" ({placement.objective} {_money(placement.value)}, proven bound "
            f"{_money(placement.bound)}, gap {100 * placement.gap:.2f}%)")


def _replica(move) -> str:
    return move.workload + (f" ({move.handle})" if move.handle else "")


def _outside(result: PlanResult, move: Move) -> str:
    """The node a replica leaves that the policy lacks, as the state names it: the one its
    name runs on, else (a placement's state names no replica) the nodes its workload runs on
    there."""
    running = result.outside.get(move.demand, [])
    nodes = [node for handle, node in running if move.handle is not None and handle == move.handle]
    nodes = nodes or sorted({node for _, node in running})
    if not nodes:
        return "(a node outside the policy)"
    named = nodes[0] if len(nodes) == 1 else "one of " + ", ".join(nodes)
    return f"{named} (a node outside the policy)"


def as_json(result: PlanResult) -> str:
    from fitlang.documents import DiagnosticRecord, PlanDocument, PlanWave

    plan, problem = result.plan, result.problem
    waves: list[PlanWave] = []
    cost = plan.cost_before if plan else Fraction(0)
    for number, wave in enumerate(plan.waves if plan else [], 1):
        moves = [_move_record(problem, m) for m in wave.moves]
        waves.append(PlanWave(number=number, stop_first=wave.stop_first, moves=moves,
                              drained=wave.drained, cost_after=_round(wave.cost_after),
                              saving=_round(cost - wave.cost_after)))
        cost = wave.cost_after
    document = PlanDocument(
        changes=bool(plan and plan.changes and not result.kept), kept=result.kept,
        cost_before=_round(plan.cost_before) if plan else 0.0,
        cost_after=_round(plan.cost_after) if plan else 0.0,
        min_saving=_round(problem.min_saving) if problem else 0.05,
        buy=plan.bought if plan else [], waves=waves if not result.kept else [],
        stop=[_move_record(problem, m) for m in plan.stopped] if plan and not result.kept else [],
        release=plan.released if plan and not result.kept else [],
        moves=plan.moves if plan and not result.kept else 0,
        least_moves=plan.least_moves if plan and not result.kept else 0,
        # (no plan, no target: the move's partial placement's value is no plan's)
        status=result.status, **_bound_fields(problem, result.placement if plan else None),
        diagnostics=[DiagnosticRecord.model_validate(d.as_record()) for d in result.diagnostics],
        binding=None if result.bindings is None else [_binding_record(b) for b in result.bindings])
    if result.kept:
        document.buy = []
    return json.dumps(document.model_dump(mode="json"), indent=2) + "\n"


def _bound_fields(problem: Problem | None, placement: Placement | None) -> dict:
    """The target's objective, value, proven bound and gap (each null where unknown). The
    model's `moves` and `cost+moves` leave out a constant (`rules/moves.py`: moves = the
    replicas that run, less those that stay); it is added back to the value and the bound
    alike, so that both are the plan's own figures (`move_scale` and `moving._better_move` state
    them so already: `Placement.moves_counted`)."""
    from fitlang.solve.moving import dropped_constant

    if placement is None or placement.value is None or problem is None:
        return {}
    dropped = Fraction(0) if placement.moves_counted else dropped_constant(problem, placement.objective)
    value = placement.value + dropped
    bound = None if placement.bound is None else min(placement.bound + dropped, value)
    gap = None if bound is None else (0.0 if value == bound else float((value - bound) / abs(value)))
    return {"objective": placement.objective, "value": _round(value),
            "bound": None if bound is None else _round(bound),
            "gap": None if gap is None else round(gap, 6)}


def _move_record(problem, move):
    from fitlang.documents import PlanMove

    replica = None if move.handle is None else str(move.handle)  # as kubectl, squeue print it
    return PlanMove(workload=move.workload, option=problem.demand(move.demand).option,
                    replica=replica, kind=move.kind, source=move.source or None,
                    target=move.target or None)


def _binding_record(binding: Binding):
    from fitlang.documents import PlanBinding

    return PlanBinding(limit=binding.limit, workload=binding.workload,  # type: ignore[arg-type]
                       stated=binding.stated, cost_after=_round(binding.cost_after),
                       saving=_round(binding.saving), waves=binding.waves, moves=binding.moves)


def _round(value: Fraction) -> float:
    return round(float(value), 6)


# ---- the command ---------------------------------------------------------------------------

def add_parser(commands) -> argparse.ArgumentParser:
    command = commands.add_parser("plan", help="from what runs now to the placement, in waves")
    command.add_argument("file", metavar="FILE")
    command.add_argument("--current", metavar="STATE",
                         help="what runs now (`kubectl get pods,pdb -A -o json`, `squeue --json`, "
                              "fitc's placement JSON); default: the policy's `current` blocks")
    command.add_argument("--format", choices=("text", "json"), default="text")
    command.add_argument("--time-limit", type=float, metavar="SECONDS",
                         help=f"for the plan, on the wall (default: {DEFAULT_TIME_LIMIT:g} s of "
                              "CPU time, fitc's own and its children's: the same plan at any load)")
    command.add_argument("--explain", action="store_true",
                         help="also say which limit binds (movable = false, a disruption budget, "
                              "max_drained, move_price, min_saving) and what lifting each saves")
    command.add_argument("--target", dest="targets", action="append", metavar="TARGET",
                         choices=("kubernetes", "slurm", "terraform"),
                         help="write what runs the plan for this target, wave by wave, to --out "
                              "(repeatable: a folder per target)")
    command.add_argument("--out", metavar="DIR", help="where --target writes (`DIR/wave-01/...`)")
    command.add_argument("--force", action="store_true",
                         help="write into a DIR fitc did not write (only its own files are replaced)")
    command.set_defaults(run=run, default_time_limit=DEFAULT_TIME_LIMIT)
    return command


def run(arguments: argparse.Namespace) -> int:
    """Exit 2 means "changes" here: a missing or unreadable file is an error, exit 1."""
    from fitlang.driver import Compilation
    from fitlang.render import render

    root = Path(arguments.file)
    if not root.is_file():
        print(f"fitc: error: {arguments.file}: no such file", file=sys.stderr)
        return EXIT_ERRORS
    if not arguments.time_limit > 0:
        print("fitc: error: --time-limit must be greater than 0", file=sys.stderr)
        return EXIT_ERRORS
    if bool(arguments.targets) != bool(arguments.out):
        print("fitc: error: --target and --out go together", file=sys.stderr)
        return EXIT_USAGE
    compilation = Compilation(root, current=arguments.current)
    from fitlang.cli import command_time_left

    # the limit counts from the process's start, as `fitc solve`'s: the plan gets what is left
    # once the policy is built and what runs now read (both kept; 1.2 s for inventory 10,000's
    # state at load 7, where a 5 s plan ended at 7.2 s)
    if compilation.problem is not None:
        compilation.current_state()
    result = planned(compilation, command_time_left(arguments.time_limit), arguments.time_limit)
    if arguments.explain and not result.failed:
        from fitlang.plan_explain import explain_plan

        result.bindings = explain_plan(result, compilation.check().program,
                                       compilation.root_path, arguments.time_limit)
    from fitlang.outputs import OutputRefused

    try:
        written = _write_targets(compilation, result, arguments) if arguments.targets else None
    except OutputRefused as refused:  # exit 1: exit 2 means "changes" here
        print(f"fitc: error: {refused}", file=sys.stderr)
        return EXIT_ERRORS
    if arguments.format == "json":
        sys.stdout.write(as_json(result))
    else:
        sys.stdout.write(as_text(result))
        if result.bindings is not None and result.plan is not None:
            from fitlang.plan_explain import as_text as bindings_text

            sys.stdout.write(bindings_text(result.bindings, len(result.plan.waves)))
        if result.diagnostics:
            sys.stderr.write(render(result.diagnostics, "human", compilation.sources()))
    if written:
        print(written, file=sys.stderr)
    if compilation.problem is not None and compilation.current_state() is None \
            and not any(d.is_error for d in result.diagnostics):
        print("fitc: error: no current state: give --current FILE or a `current` block",
              file=sys.stderr)
    return result.exit_code


def planned(compilation: Compilation, time_limit: float | None,
            stated_limit: float | None = None) -> PlanResult:
    """The plan from the state the driver reads (`--current`, or the policy's `current`
    blocks); what reading it found comes first. `stated_limit`: the user's, for messages."""
    compilation.check()
    if compilation.problem is None:
        return PlanResult(diagnostics=list(compilation.diagnostics()))
    state = compilation.current_state()
    if state is None or any(d.is_error for d in compilation.current_diagnostics()):
        return PlanResult(diagnostics=list(compilation.diagnostics()) + compilation.state_apart())
    result = make_plan(compilation, state, time_limit, stated_limit=stated_limit)
    result.diagnostics = result.diagnostics + compilation.state_apart()
    return result


def _write_targets(compilation: Compilation, result: PlanResult,
                   arguments: argparse.Namespace) -> str:
    """Write what runs the plan (`targets/waves.py`) to --out; what to tell the user. Nothing
    is written for a plan with errors, or with nothing to do; a refused --out raises
    `OutputRefused`."""
    from fitlang.outputs import write_tree
    from fitlang.targets.waves import render_plan

    if result.failed:
        return ""
    assert result.plan is not None
    if not result.plan.changes or result.kept:
        return "nothing to do: wrote no files"
    from fitlang.targets import TARGETS

    program = compilation.check().program
    # what the targets refuse in the policy whatever the plan (`compile` and `check` say the
    # same): a namespace no API server takes was written into every wave's objects
    refused = [d for name in dict.fromkeys(arguments.targets)
               for d in TARGETS[name]().settings_problems(program)]
    result.diagnostics += refused
    if result.failed:
        return "wrote no files"
    state = compilation.current_state()
    files, found = render_plan(result, program, arguments.targets, state.foreign if state is not None else ())
    result.diagnostics += found
    write_tree(arguments.out, files, force=arguments.force, written_by="fitc plan")
    return f"wrote {len(files)} file(s) to {arguments.out} ({', '.join(_waves_of(files))})"


def _waves_of(files: dict[str, str]) -> list[str]:
    return sorted({part for path in files for part in path.split("/") if part.startswith("wave-")})
