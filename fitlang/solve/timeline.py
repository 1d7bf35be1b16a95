"""Place work in time as well as space (issue 19): the time-indexed model, its solve, and the
packing of each class's replicas onto nodes, a replica keeping its node for its whole run.

Columns: x[d,c,s], replicas of demand d that start at step s on class c (integer, only for
the steps of d's window and the classes d may use); u[c,t], nodes of c in use at step t.
The rows are the time rule's (`rules/timing.py`). The objective is the cost over the
horizon: sum over steps and classes of u[c,t] x (the class's price + its electricity at t)
x the step's hours, or the carbon the nodes in use emit (`rules/carbon.py`), or both in a
lexicographic list. HiGHS solves it (`solve/linear.py`'s model, `backends.HighsBackend`).

The aggregate per class and step is a relaxation of nodes: the packing (first fit, in
start order) may need a node more at a step; the placement's value is the packing's cost,
its bound HiGHS's proven bound.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, Timeline
from fitlang.rules import carbon, completion, gang, latency, preemption, timing
from fitlang.rules.base import GroupKey
from fitlang.solve import timeline_align, timeline_preferences, timeline_rules, timeline_unplaced
from fitlang.solve.backends import HighsBackend, Minimising, minimise_within
from fitlang.solve.encode import charge_matrix
from fitlang.solve.held_room import is_held
from fitlang.solve.linear import LinearModel, Number, Outcome, Status, stated_bound
from fitlang.solve.placement_result import OPTIMALITY_TOLERANCE, Assignment, Placement, Unplaced
from fitlang.solve.timeline_bound import DifferencedBound
from fitlang.solve.timeline_pack import (
    REPAIR_TRIES,
    Ending,
    Ledger,
    Spot,
    candidates,
    make_room,
    need_of,
    node_schedule,
    place_anywhere,
    repacked,
    run_of,
    search_from,
)
from fitlang.solve.timeline_resume import Resumed


@dataclass
class TimedAssignment(Assignment):
    """A replica on a node for steps [start, end) of the timeline."""

    start: int = 0
    end: int = 0


@dataclass
class TimedPlacement(Placement):
    """A placement in time: its value is the cost over the whole horizon, in USD."""

    timeline: Timeline | None = None
    assignments: list[TimedAssignment] = field(default_factory=list)  # type: ignore[assignment]

    @property
    def unit(self) -> str:
        return UNITS.get(self.objective) or super().unit


@dataclass
class TimeEncoding:
    """The time model as it is built: what the rows of `rules/timing.py` read."""

    model: LinearModel
    problem: Problem
    timeline: Timeline
    x: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (demand, class, start)
    u: dict[tuple[str, int], int] = field(default_factory=dict)  # (class, step)
    # (class, step) -> the columns x running then, with what one replica takes (per resource)
    _running: dict[tuple[str, int], list[tuple[int, tuple[int, ...]]]] = field(default_factory=dict)
    # column -> what one of its replicas takes (per resource): a column is one class's, so one
    # charge (the LP bound reads it per column, not per step)
    _charge: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # (demand, run) -> the columns x of the run (a job that does not recur has run 0 only)
    _starts: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    # a rule's own columns by their typed keys (a preemptible job's segments)
    index: dict[object, int] = field(default_factory=dict)
    # the rows `timing.capacity_rows` added, [first, last) (`timeline_bound` replaces them)
    capacity_rows: tuple[int, int] = (0, 0)
    _owner: dict[int, str] | None = None  # column -> demand (`running_by_demand`)

    def starts_of(self, demand: str, run: int = 0) -> list[int]:
        return self._starts.get((demand, run), [])

    def column(self, key: object, name: str, upper: int = 1) -> int:
        """A rule's 0..upper integer column under its typed key."""
        self.index[key] = column = self.model.var(name, 0, upper)
        return column

    def add_running(self, class_id: str, step: int, column: int, charge: tuple[int, ...]) -> None:
        """`column` counts replicas running on the class at the step, each taking `charge`."""
        self._running.setdefault((class_id, step), []).append((column, charge))
        self._charge[column] = charge

    def running(self, class_id: str, step: int) -> list[tuple[int, tuple[int, ...]]]:
        return self._running.get((class_id, step), [])

    def charge_of(self, column: int) -> tuple[int, ...]:
        """What one replica of a column running on its class takes (per resource)."""
        return self._charge[column]

    def running_by_demand(self, class_id: str, step: int) -> dict[str, list[tuple[int, tuple[int, ...]]]]:
        """`running` grouped by the demand of each column (a start column's, or a preemptible
        replica's segment column's): what the rules of sharing a node read."""
        owner = self._owners()
        grouped: dict[str, list[tuple[int, tuple[int, ...]]]] = {}
        for column, charge in self.running(class_id, step):
            grouped.setdefault(owner[column], []).append((column, charge))
        return grouped

    def _owners(self) -> dict[int, str]:
        """Column -> its demand, made once the columns are all made (when a rule asks)."""
        if self._owner is None:
            self._owner = {column: name for (name, _, _), column in self.x.items()}
            self._owner.update({column: key.demand for key, column in self.index.items()
                                if isinstance(key, preemption.SegmentColumn) and not key.starting})
        return self._owner


def encode(problem: Problem, timeline: Timeline) -> TimeEncoding:
    model = LinearModel()
    encoding = TimeEncoding(model, problem, timeline)
    for node_class in problem.classes:
        for step in range(timeline.steps):
            encoding.u[node_class.id, step] = model.var(f"u[{node_class.id},{step}]", 0, node_class.count)
    held = _held_room(problem, timeline.steps)
    for node_class in problem.classes:
        demands = [d for d in problem.demands if node_class.id in d.eligible]
        requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands],
                            dtype=np.int64).reshape(len(demands), len(RESOURCES))
        charges, _ = charge_matrix(node_class, requests)
        for demand, listed in zip(demands, charges.tolist()):
            charge = tuple(listed)
            if demand.min_segment is not None:  # segments, not starts
                preemption.add_columns(encoding, demand, node_class.id, charge)
                continue
            # build gives every demand a window with a horizon; a recurring job one per run,
            # never overlapping, so a start step names its run
            beside = _fits_beside(held.get(node_class.id), node_class, demand)
            for run, window in enumerate(demand.windows):
                for start in window.starts():
                    if beside is not None and not beside[start]:
                        continue  # no replica fits beside the running jobs that hold the node then
                    column = model.var(f"x[{demand.name},{node_class.id},{start}]", 0,
                                       demand.replicas_per_run)
                    encoding.x[demand.name, node_class.id, start] = column
                    encoding._starts.setdefault((demand.name, run), []).append(column)
                    encoding._charge[column] = charge
                    for step in range(start, start + window.duration):
                        encoding._running.setdefault((node_class.id, step), []).append((column, charge))
    for rows in timing.ROWS:
        first = model.row_count
        rows(encoding)
        if rows is timing.capacity_rows:
            encoding.capacity_rows = (first, model.row_count)
    return encoding


def _held_room(problem: Problem, steps: int) -> dict[str, np.ndarray]:
    """Class id -> what running jobs hold of its one node at each step (a held node's class,
    `held_room.py`: its holds are pinned demands that start at step 0), per resource."""
    held: dict[str, np.ndarray] = {}
    for demand in problem.demands:
        if is_held(demand.name) and demand.window is not None:
            room = held.setdefault(demand.eligible[0], np.zeros((steps, len(RESOURCES)), dtype=np.int64))
            room[: demand.window.duration] += [demand.requests[r] for r in RESOURCES]
    return held


def _fits_beside(held: np.ndarray | None, node_class: NodeClass, demand: Demand) -> list[bool] | None:
    """Per start step, whether a replica of `demand` fits on a held node beside what is held
    from then on (None: the node is not held, or this is a hold). A start where it does not
    fit has no column: no schedule uses it (the hold is there for sure), and the relaxation
    then cannot place part of a replica there while the node is held (a half-free node at no
    charge made the LP bound of a 100-node site with 40 running jobs 7-9% under the optimum)."""
    if held is None or is_held(demand.name):
        return None
    capacity = np.array([node_class.capacity.get(r, 0) for r in RESOURCES], dtype=np.int64)
    need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
    # what is held only shrinks over the horizon (every hold starts at step 0), so a run that
    # starts at s fits for its whole length where it fits at s
    fits = np.asarray(((held + need) <= capacity).all(axis=1), dtype=bool)
    return [bool(one) for one in fits.tolist()]


def cost_terms(encoding: TimeEncoding) -> dict[int, Number]:
    """USD over the horizon: nodes in use per class and step x their price then x hours."""
    return carbon.in_use_terms(encoding, NodeClass.price_at)


# the time model's objectives (`check/timing.TIMED_OBJECTIVES`), each a linear form of u
OBJECTIVES: dict[str, Callable[[TimeEncoding], dict[int, Number]]] = {
    "cost": cost_terms, "carbon": carbon.emission_terms, "makespan": completion.makespan_terms,
    "lateness": completion.lateness_terms}
UNITS = {"cost": "USD", "carbon": "kgCO2e", "makespan": "h", "lateness": "h"}


def objective_terms(encoding: TimeEncoding, name: str) -> dict[int, Number]:
    """The linear form of an objective of the time model: the policy's, or the replicas of
    one priority level left out (`timeline_unplaced.LEFT_OUT`, before the policy's)."""
    if name.startswith(timeline_unplaced.LEFT_OUT):
        return timing.left_out_terms(encoding, int(name[len(timeline_unplaced.LEFT_OUT):]))
    return OBJECTIVES[name](encoding)
# a later objective of a lexicographic list may not worsen an earlier one by more than this
# share of it (HiGHS's optimum is exact to its own tolerance, not to the last digit)
LEXICOGRAPHIC_SLACK = Fraction(1, 10 ** 7)
# where the node-level schedule's search stops, as a share of the time limit (from the solve's
# start; the schedule is made and the LP bound proven first): the MIP has the rest, when that
# is more than the LP took. At 1,000 mixed nodes the search gains while it runs (112,234 ->
# 106,983 in 18 CPU s, 107,174 converged in 82 before it was made faster) and the MIP given
# what is left found nothing better (session 13); at 100 nodes the search converges in 3 s
# and the MIP, given the rest, proves a better bound but finds no better schedule
IMPROVING_SHARE = 0.75
# where the search of a schedule that leaves replicas out ends when the MIP follows it
# (`_short_search_ends`): the MIP minimises one objective per priority level first
SHORT_SEARCH_SHARE = 0.6
# where the rounds that try to place every replica give up when replicas may be left out
SHORT_ROUNDS_SHARE = 0.4
# what the search leaves for the answer's packing and count when no MIP follows
FINISHING_SHARE = 0.05
# the largest time model (replica-steps its start columns cover: each a term of the capacity
# rows per resource, `_model_terms`) a MIP is started on from the schedule made node by
# node, where a limit leaves it only the end of the limit: on `bench/timing.py` 1,000 x 168 x
# 200 (421,000) it lowers the search's 28,836 to 28,596, within 0.1% of the LP (session 34);
# on the sites shape at the goal size (1,000 x 168 x 1,000: 818,000) its root LP alone took 20
# CPU s by dual simplex (session 20), and from the search's schedule at 75% of a 30 s limit it
# had not finished it in 18 CPU s (its start's value; a bound of 2,072 USD: session 34):
# there the search goes on to the end instead
MIP_MOST_TERMS = 600_000
# where the LP bound's child stops (its bound from the duals it has then: `timeline_bound`):
# before the search collects it (at the limit less at most a tenth of it), with time to sum
# the bound and send it
BOUND_SHARE = 0.85


def solve_timed(problem: Problem, time_limit: float | None = None) -> TimedPlacement:
    """The time model solved by HiGHS (one objective after another, lexicographically: each
    later one within what the earlier ones reached), then packed node by node and step by step."""
    timeline = problem.timeline
    assert timeline is not None
    began = time.monotonic()
    # where replicas may be left out, a schedule that places them all is solved as the
    # policy that places all (its bound holds for it, and it ranks first); one that leaves
    # some out by `_short_solved`
    short_allowed, problem = problem.allow_unplaced, dataclasses.replace(problem, allow_unplaced=False)
    # the time model, built here only where this process needs it (the MIP, the bound without
    # a limit): at the goal size it is 2 CPU s, which under load the schedule below needs more
    encoded = functools.cache(lambda: encode(problem, timeline))
    names = [name for name in problem.objective if name in OBJECTIVES] or ["cost"]
    objective = names[0]
    # a schedule made node by node packs as it stands: HiGHS's incumbent, and the answer
    # when HiGHS has none in time; the aggregate greedy start where it cannot be made. With
    # a limit it is made and searched while the LP bound is solved beside it, in a child
    # process on the other core, from now (without the bound no gap is proven, and at 1,000
    # mixed nodes the LP takes 9-13 CPU s); the child builds the time model itself
    pending = None if time_limit is None else _relaxation_started(
        problem, objective, _left(time_limit * BOUND_SHARE, began))
    # the node-level schedule searches a problem whose every schedule keeps the rules it does
    # not track (gangs pinned to a start, latency narrowed to reach: `timeline_rules`)
    searched = timeline_rules.narrowed(problem, objective)
    # (where replicas may be left out, the rounds that try to place them all give up at
    # SHORT_ROUNDS_SHARE: a queue longer than the week has no such schedule, and the rounds
    # took 11 of a 10 s limit on a 100-node week of 500 jobs, nothing left for the rest)
    rounds_end = _finish_by(time_limit, began, SHORT_ROUNDS_SHARE if short_allowed else None)
    found, raw = _node_schedule(searched, objective, None if time_limit is None else began, rounds_end)
    fallback = _kept(problem, timeline_rules.unsplit(problem, found))
    partial = raw
    if raw is not None:  # (a dealt-out service's parts as its replicas again)
        whole = timeline_rules.unsplit(problem, raw[0]) or []
        partial = whole, timeline_rules.unsplit_missing(problem, whole, raw[1])
    if fallback is None and short_allowed:
        if pending is not None:
            pending.outcome(wait=0)  # the bound of placing all says nothing of a short schedule
        # (no schedule made node by node where a carbon budget over the horizon binds: the
        # model's alone, from nothing placed)
        short = ([], [(d.name, r) for d in problem.demands for r in range(d.replicas)]) if raw is None \
            else timeline_unplaced.best_short(searched, objective, raw, _short_search_ends(
                problem, time_limit, began), _finish_by(time_limit, began), problem)
        spots = timeline_rules.unsplit(problem, short[0]) or []
        return _short_solved(dataclasses.replace(problem, allow_unplaced=True), names,
                             (spots, timeline_rules.unsplit_missing(problem, spots, short[1])),
                             time_limit, began)
    if fallback is None and pending is not None:
        pending.outcome(wait=0)  # stopped: the MIP follows, with its own bound (as before)
    # what the MIP leaves for packing its answer and the tie-break after it: about what the
    # schedule made node by node took, at most a tenth of the limit (the limit is on the
    # whole solve: a 30 s limit once ended at 33 s)
    reserve = 0.0 if time_limit is None else min(time.monotonic() - began, 0.1 * time_limit)
    relaxed, relaxing = None, 0.0
    if fallback is not None and time_limit is None:
        relaxing = time.monotonic()
        relaxed = _relaxed_bound(encoded(), objective)
        relaxing = time.monotonic() - relaxing
    elif fallback is not None and found is not None and pending is not None and time_limit is not None:
        found, relaxed, relaxing = _searched_beside_bound(searched, objective, found, pending,
                                                          time_limit, began, reserve)
        fallback = _kept(problem, timeline_rules.unsplit(problem, found))
    outcome, first = _mip_solved(problem, encoded, names, fallback, relaxed, relaxing, time_limit,
                                 began, reserve)
    if outcome.solution is None and fallback is None and partial is not None and partial[0]:
        runs, left = _partly_placed(problem, partial, outcome.status is Status.INFEASIBLE)
        return TimedPlacement(
            outcome.status if outcome.status is Status.INFEASIBLE else Status.UNKNOWN, objective,
            horizon_value(problem, runs, objective), None, runs, left,
            backend="highs", seconds=time.monotonic() - began,
            proven_infeasible=outcome.status is Status.INFEASIBLE,
            bought=bought_in_time(problem, runs), timeline=timeline)
    if outcome.solution is None and fallback is None:
        infeasible = outcome.status is Status.INFEASIBLE
        return TimedPlacement(
            outcome.status, objective, None, outcome.bound, backend="highs",
            seconds=time.monotonic() - began, proven_infeasible=infeasible, timeline=timeline,
            unplaced=[Unplaced(d.name, r, "no schedule meets every rule in the horizon"
                               if infeasible else "no schedule found in time")
                      for d in problem.demands for r in range(d.replicas)])
    assignments: list[TimedAssignment] = []
    unplaced: list[Unplaced] = []
    if outcome.solution is not None and fallback is not None and _left(time_limit, began) == 0:
        outcome = dataclasses.replace(outcome, solution=None)  # no time to pack it: the schedule stands
    if outcome.solution is not None:
        assignments, unplaced = _packed(problem, _pieces(encoded(), outcome.solution), objective,
                                        _deadline(time_limit, began))
    if fallback is not None:  # the schedule made node by node, when it is better packed
        made = timed_assignments(problem, fallback)
        if outcome.solution is None or unplaced or \
                horizon_value(problem, made, objective) < horizon_value(problem, assignments, objective):
            assignments, unplaced = made, []
    value = horizon_value(problem, assignments, objective)
    bound = max((b for b in (first.bound, relaxed, _no_less_than_zero(problem, objective))
                 if b is not None and stated_bound(b, value, not unplaced) is not None), default=None)
    status = Status.FEASIBLE
    if not unplaced and bound is not None and value - bound <= OPTIMALITY_TOLERANCE * abs(value):
        status = Status.OPTIMAL
    if unplaced:
        status = Status.UNKNOWN
    placed = TimedPlacement(status, objective, value, stated_bound(bound, value, not unplaced),
                            assignments, unplaced, backend="highs", seconds=time.monotonic() - began,
                            bought=bought_in_time(problem, assignments), timeline=timeline)
    # tie-breaks: never raise the value; tried until the limit
    placed = timeline_align.aligned(problem, placed, names, _deadline(time_limit, began))
    return timeline_preferences.preferred(problem, placed, names, _deadline(time_limit, began))


def _no_less_than_zero(problem: Problem, objective: str) -> Fraction | None:
    """0, a true bound of the cost or carbon where no node is ever priced (or emits) below 0:
    a schedule of nothing but nodes that run held work (free while held) is proven optimal
    without waiting for the LP, which at 1,000 nodes held apart did not come in by 5 s."""
    def lowest(rates: tuple[Fraction, ...], otherwise: Fraction) -> Fraction:
        return min(rates) if rates else otherwise

    if objective == "carbon":
        never_below = all(lowest(c.step_carbon, Fraction(0)) >= 0 for c in problem.classes)
    elif objective == "cost":  # (a price and an electricity cost, each at least 0)
        never_below = all(lowest(c.step_price, c.price) >= 0 and lowest(c.step_energy_cost, Fraction(0)) >= 0
                          for c in problem.classes)
    else:
        return None
    return Fraction(0) if never_below else None


def _short_solved(problem: Problem, names: list[str], short: tuple[list[Spot], list[tuple[str, int]]],
                  time_limit: float | None, began: float) -> TimedPlacement:
    """A policy that allows replicas left out, whose schedule made node by node leaves some
    out (`short`: `timeline_unplaced.best_short`): the time model with its `LeftOut` columns,
    the replicas left out of each priority level minimised first, the highest first, then the
    policy's objectives, started from `short` (where the model is not too large for the
    limit: `_mip_too_large`); its answer packed, kept where it ranks before `short`
    (`timeline_unplaced.rank`). Proven to leave out the fewest by priority where each level's
    MIP was solved to its optimum and the answer leaves out as many (the model is a
    relaxation of nodes: no schedule leaves fewer): `feasible` (or `optimal`), else
    `unknown` (the driver's W0502)."""
    objective, timeline = names[0], problem.timeline
    assert timeline is not None
    spots, missing = short
    runs, left = timed_assignments(problem, spots), missing
    levels = timeline_unplaced.left_out_objectives(problem)
    outcomes: list[Outcome] = []
    if _left(time_limit, began) != 0 and not (time_limit is not None and _mip_too_large(problem)):
        encoding = encode(problem, timeline)
        outcomes = _lexicographic(encoding, levels + names, _short_values(encoding, spots, missing),
                                  time_limit, began)
        solution = next((o.solution for o in reversed(outcomes) if o.solution is not None), None)
        if solution is not None:
            packed, out = _short_packed(encoding, solution, objective, _deadline(time_limit, began))
            if timeline_unplaced.rank(problem, out, horizon_value(problem, packed, objective)) < \
                    timeline_unplaced.rank(problem, missing, horizon_value(problem, runs, objective)):
                runs, left = packed, out
    value = horizon_value(problem, runs, objective)
    reached = [o for o in outcomes[:len(levels)] if o.status is Status.OPTIMAL and o.objective is not None]
    proven = len(reached) == len(levels) and \
        list(timeline_unplaced.rank(problem, left, 0)[:-1]) == [round(o.objective or 0) for o in reached]
    status = Status.FEASIBLE if proven or not left else Status.UNKNOWN
    unplaced = [Unplaced(name, replica, "left out: no room in its window, by priority "
                                        "(`allow_unplaced`)") for name, replica in sorted(left)]
    return TimedPlacement(status, objective, value, None, runs, unplaced, backend="highs",
                          seconds=time.monotonic() - began, bought=bought_in_time(problem, runs),
                          timeline=timeline)


def _short_search_ends(problem: Problem, time_limit: float | None, began: float) -> float | None:
    """Where the search of a schedule that leaves replicas out ends: at SHORT_SEARCH_SHARE of
    the limit where the time model's MIP follows it (on a small fleet it places what the
    moves of one replica at a time cannot: a queue whose jobs must give way to each other
    in time), else where the answer is assembled."""
    if time_limit is not None and not _mip_too_large(problem):
        return began + time_limit * SHORT_SEARCH_SHARE
    return _finish_by(time_limit, began)


def _short_packed(encoding: TimeEncoding, solution: list, objective: str, deadline: float | None
                  ) -> tuple[list[TimedAssignment], list[tuple[str, int]]]:
    """The MIP's schedule that leaves replicas out, packed (`_packed`): its runs, and what it
    and the packing leave out, a gang's run or a latency workload short of its K out whole
    (`timeline_unplaced.whole`)."""
    problem = encoding.problem
    packed, lost = _packed(problem, _pieces(encoding, solution), objective, deadline,
                           repairs=deadline is None)
    owners = problem.owners()
    spots = [Spot(a.workload, a.replica, owners[a.node].id, 0, a.start, a.end) for a in packed]
    kept, out = timeline_unplaced.whole(problem, spots, sorted(
        {(u.workload, u.replica) for u in lost} | set(_left_out(encoding, solution))))
    mine = {(spot.demand, spot.replica, spot.start) for spot in kept}
    return [a for a in packed if (a.workload, a.replica, a.start) in mine], out


def _lexicographic(encoding: TimeEncoding, names: list[str], start: dict[int, float] | None,
                   time_limit: float | None, began: float) -> list[Outcome]:
    """Each objective of `names` minimised in turn, each later one among the schedules as
    good in the earlier ones; the outcomes, until one finds no schedule in time."""
    outcomes: list[Outcome] = []
    for index, name in enumerate(names):
        if outcomes:
            solution = outcomes[-1].solution
            assert solution is not None
            _keep(encoding, names[index - 1], solution)
            start = dict(enumerate(solution))
        outcome = _minimised(encoding, name, time_limit, began, 0.0, start)
        outcomes.append(outcome)
        if outcome.solution is None:
            break
    return outcomes


def _short_values(encoding: TimeEncoding, spots: list[Spot], missing: list[tuple[str, int]]
                  ) -> dict[int, float] | None:
    """HiGHS's start from a schedule that leaves replicas out: its columns (`spot_values`), the
    `LeftOut` columns of what it leaves out, and each latency rule's switch (on where the
    workload runs)."""
    values = spot_values(encoding, spots)
    if values is None:
        return None
    problem = encoding.problem
    running = {spot.demand for spot in spots}
    for key, column in encoding.index.items():
        if isinstance(key, timing.LeftOut):
            demand = problem.demand(key.demand)
            out = [r for name, r in missing if name == key.demand and (
                r == key.run if demand.min_segment is not None
                else r // max(1, demand.replicas_per_run) == key.run)]
            values[column] = 1 if out and (demand.gang or demand.min_segment is not None) else len(out)
        elif isinstance(key, latency.LatencySwitch):
            values[column] = int(any(problem.demand(d).workload == key.workload for d in running))
    return values


def _left_out(encoding: TimeEncoding, solution: list) -> list[tuple[str, int]]:
    """The replicas the MIP's `LeftOut` columns leave out, numbered after those it starts
    (a run's replicas are numbered in start order, `pack_in_time`)."""
    problem = encoding.problem
    out: list[tuple[str, int]] = []
    for key, column in encoding.index.items():
        if not isinstance(key, timing.LeftOut) or not solution[column]:
            continue
        demand = problem.demand(key.demand)
        if demand.min_segment is not None:
            out.append((key.demand, key.run))
            continue
        count = demand.replicas_per_run if demand.gang else int(solution[column])
        first = key.run * demand.replicas_per_run + demand.replicas_per_run - count
        out += [(key.demand, first + k) for k in range(count)]
    return out


def _packed(problem: Problem, pieces: list[Piece], objective: str, deadline: float | None,
            repairs: bool = True) -> tuple[list[TimedAssignment], list[Unplaced]]:
    """The MIP's answer packed node by node with its gangs pinned where it starts them (no
    repair moves one replica of a gang alone); where that breaks a rule the packing does not
    track (two workloads kept apart on a node at a step, a latency count a repair moved out
    of reach), packed again with what is kept apart too large to share a node
    (`timeline_rules.kept`); where that breaks one too, not taken: all unplaced. (A small
    fleet's model is node by node: its answer packs as it is.)"""
    spots = [Spot(p.demand, p.replica or 0, p.class_id, 0, p.start, p.end) for p in pieces]
    narrow = timeline_rules.kept(problem, dealt=False)
    partial: tuple[list[TimedAssignment], list[Unplaced]] | None = None
    for packing in (problem, narrow) if narrow is not problem else (problem,):
        assignments, unplaced = pack_in_time(timeline_rules.pinned_to(packing, spots), pieces,
                                             objective, deadline, repairs)
        if timeline_rules.keeps(problem, [(a.workload, a.node, a.start, a.end) for a in assignments]):
            if not unplaced:
                return assignments, unplaced
            partial = partial or (assignments, unplaced)
    return partial or ([], [Unplaced(d.name, r, "its packing breaks a rule of time")
                            for d in problem.demands for r in range(d.replicas)])


def _mip_solved(problem: Problem, encoded: Callable[[], TimeEncoding], names: list[str],
                fallback: list[Spot] | None, relaxed: Fraction | None, relaxing: float,
                time_limit: float | None, began: float, reserve: float) -> tuple[Outcome, Outcome]:
    """The time model's MIP (`encoded()`), one objective after another (each later one within
    what the earlier ones reached), started from the schedule made node by node, or none: (the last
    outcome with a solution, the first objective's outcome). No MIP where one objective's
    schedule made node by node is as good as proven, or the MIP has less time left than its
    root's LP alone took (it could not improve on the schedule, and HiGHS's root heuristics
    do not stop at the limit: session 13), or the LP bound did not come in by the limit (the
    MIP's root is that LP) or nothing is left of the limit, or, with a limit, the model is too
    large for the MIP to beat the schedule in the end of it (`_mip_too_large`): the schedule
    stands."""
    objective = names[0]
    if fallback is not None and (
            _out_of_time(time_limit, began, reserve, relaxed) or (relaxed is not None and len(names) == 1
            and (_within_tolerance(problem, fallback, objective, relaxed)
                 or _too_late(time_limit, began, relaxing)
                 or (time_limit is not None and _mip_too_large(problem))))):
        outcome = Outcome(Status.FEASIBLE, bound=relaxed)
        return outcome, outcome
    if _left(time_limit, began, reserve) == 0:  # no time for the MIP, nor for its start
        return Outcome(Status.UNKNOWN), Outcome(Status.UNKNOWN, bound=relaxed)
    encoding = encoded()
    start = spot_values(encoding, fallback) if fallback is not None else greedy_start(encoding)
    outcome = first = _minimised(encoding, objective, time_limit, began, reserve, start)
    for index, name in enumerate(names[1:], start=1):
        if outcome.solution is None:
            break
        _keep(encoding, names[index - 1], outcome.solution)
        later = _minimised(encoding, name, time_limit, began, reserve,
                           dict(enumerate(outcome.solution)))
        if later.solution is None:
            break  # out of time: the earlier objectives' schedule stands
        outcome = later
    return outcome, first


def _minimised(encoding: TimeEncoding, objective: str, time_limit: float | None, began: float,
               reserve: float, start: dict[int, float] | None) -> Outcome:
    """The MIP for one objective in what is left of the limit less `reserve`, in a child
    process stopped at the limit itself (HiGHS's root heuristics may run past its own limit:
    session 13); none where nothing is left."""
    left = _left(time_limit, began, reserve)
    terms = objective_terms(encoding, objective)
    if left is None:
        return minimise_within(HighsBackend(), encoding.model, terms, None, start=start)
    if left <= 0:
        return Outcome(Status.UNKNOWN)
    return Minimising(HighsBackend(), encoding.model, terms, left, start).outcome(
        _left(time_limit, began))


def _out_of_time(time_limit: float | None, began: float, reserve: float,
                 relaxed: Fraction | None) -> bool:
    """With a limit, the LP bound not in by it, or nothing left for the MIP."""
    if time_limit is None:
        return False
    left = _left(time_limit, began, reserve)
    return relaxed is None or left is None or left <= 0


def _relaxed_bound(encoding: TimeEncoding, objective: str) -> Fraction | None:
    """The time model's LP relaxation: a proven bound in a fraction of the MIP's time (at
    1,000 jobs x 168 steps x 1,000 mixed nodes, 7-13 CPU s where the MIP has no bound in 30
    s), and close to it (9,382 against 9,401 at 100 nodes)."""
    with _relaxed(encoding.model):
        outcome = HighsBackend().minimise(encoding.model, OBJECTIVES[objective](encoding))
    return outcome.objective if outcome.status is Status.OPTIMAL else None


def _relaxation_started(problem: Problem, objective: str, time_limit: float | None
                        ) -> Minimising:
    """The LP bound started in a child process (`backends.Minimising`), which builds the time
    model itself (2 CPU s at the goal size, that this process spends on the schedule): by the
    interior point method on the differenced form, a bound from its duals even where the
    limit cuts it (`timeline_bound`; seed 3 of the sites shape at the goal size: 20 CPU s of
    dual simplex, no bound by a 30 s limit at load ~1.3; 12 CPU s this way)."""
    timeline = problem.timeline
    assert timeline is not None

    def bound(limit: float) -> Outcome:
        began = time.monotonic()
        encoding = encode(_sharing_relaxed(problem), timeline)
        with _relaxed(encoding.model):
            return DifferencedBound(encoding).minimise(
                encoding.model, OBJECTIVES[objective](encoding), max(0.0, limit - (time.monotonic() - began)))

    return Minimising.running(bound, time_limit or 0.0)


def _sharing_relaxed(problem: Problem) -> Problem:
    """The problem without what keeps workloads apart on a node at a step (`exclusive`,
    `anti_affinity ... on node`): a relaxation, so its LP is a bound too, and the bound's
    child solves it without their rows per class and step (the sites shape at the goal size
    with 21 exclusive jobs: five times the LP's rows, and no bound by a 30 s limit)."""
    if not any(d.exclusive or d.affinities for d in problem.demands):
        return problem
    return problem.with_demands([dataclasses.replace(d, exclusive=False, affinities=[])
                                 if d.exclusive or d.affinities else d for d in problem.demands])


def _searched_beside_bound(problem: Problem, objective: str, spots: list[Spot],
                           pending: Minimising, time_limit: float, began: float, reserve: float
                           ) -> tuple[list[Spot], Fraction | None, float]:
    """The schedule searched here while the LP bound (`pending`) is solved in a child
    process, on the machine's other core: at the goal size (1,000 x 168 x 1,000) the LP took 13
    of the 30 s, all before the search began (session 16). The search stops at IMPROVING_SHARE
    of the limit (or where a round gains nothing); then the bound is waited for (this process
    idle: on a loaded machine the LP then has a core to itself) and, where the MIP will not
    follow (the LP took more than what is left: `_too_late`), the search goes on to the end.
    Either search stops early where the bound is in and the schedule within the tolerance of
    it (`_bound_met`). Returns the schedule, the bound (None if not in by the limit) and the
    LP's own seconds."""
    met, resumed = _bound_met(pending), Resumed()
    spots = search_from(problem, spots, objective, Ending(began + time_limit * IMPROVING_SHARE, met),
                        resumed=resumed)
    relaxed, relaxing = _collected(pending, time_limit, began, reserve)
    if (relaxed is not None and _within_tolerance(problem, spots, objective, relaxed)) \
            or _search_share(problem, time_limit, relaxing) == IMPROVING_SHARE:
        return spots, relaxed, relaxing
    # no MIP follows: the search has the time to the end, and the exact regroup of fragments
    # (`timeline_regroup`) what the moves leave of it; the classes not packed again (the first
    # search began with that; the kick again can pay: seed 1 of the goal size, 13 USD); it
    # starts where the first search stopped (`Resumed`: not the moves again where they converged)
    spots = search_from(problem, spots, objective, Ending(began + time_limit * (1 - FINISHING_SHARE), met),
                        regroup=True, repack=False, resumed=resumed)
    return spots, relaxed, relaxing


def _bound_met(pending: Minimising) -> Callable[[Ledger], bool]:
    """Whether the LP bound (`pending`) is in and the ledger's total within the tolerance of
    it: then no search can make the answer more than `optimal` (at 1,000 x 168 x 1,000 of
    `bench/timing.py` the schedule made node by node is the optimum, and a pass of the
    search over it took 15 s before the bound was collected). Asking does not wait."""
    def met(ledger: Ledger) -> bool:
        if not pending.done():
            return False
        bound = pending.outcome(wait=0).bound
        value = ledger.total()
        return bound is not None and value - float(bound) <= OPTIMALITY_TOLERANCE * abs(value)
    return met


def _collected(pending: Minimising, time_limit: float, began: float, reserve: float
               ) -> tuple[Fraction | None, float]:
    """The LP's bound (waiting for it until the limit, less `reserve`) and its seconds
    (infinite where the limit cut it: its bound is then weaker than the LP's, and the MIP,
    whose root is that LP, would not finish its root either)."""
    outcome = pending.outcome(_left(time_limit, began, reserve))
    seconds = pending.seconds if pending.seconds is not None else time.monotonic() - pending.began
    return outcome.bound, seconds if outcome.status is Status.OPTIMAL else math.inf


@contextlib.contextmanager
def _relaxed(model: LinearModel):
    """The model with every integer column continuous, as it was after."""
    integer = [index for index, whole in enumerate(model.bounds()[2]) if whole]
    model.set_continuous(integer)
    try:
        yield model
    finally:
        model.set_integer(integer)


def _within_tolerance(problem: Problem, spots: list[Spot], objective: str, bound: Fraction) -> bool:
    value = horizon_value(problem, timed_assignments(problem, spots), objective)
    return value - bound <= OPTIMALITY_TOLERANCE * abs(value)


def _search_share(problem: Problem, time_limit: float, relaxing: float) -> float:
    """Where the search stops: at IMPROVING_SHARE, or near the end where the MIP would not be
    given what is left after it (less than the LP took: `_too_late`) or is too large to beat
    the schedule in it (`_mip_too_large`)."""
    if time_limit * (1 - IMPROVING_SHARE) < relaxing or _mip_too_large(problem):
        return 1 - FINISHING_SHARE
    return IMPROVING_SHARE


def _mip_too_large(problem: Problem) -> bool:
    """Whether the time model has more than MIP_MOST_TERMS replica-steps (`_model_terms`) and
    one objective (a lexicographic list's later ones only the MIP minimises)."""
    return len([name for name in problem.objective if name in OBJECTIVES]) <= 1 \
        and _model_terms(problem) > MIP_MOST_TERMS


def _model_terms(problem: Problem) -> int:
    """The time model's replica-steps: per demand, class it may use and start step, the steps
    of the run (each a term of the class's capacity row per resource at that step), counted
    from the problem without building the model (2 CPU s at the goal size)."""
    return sum(len(demand.eligible) * len(window.starts()) * window.duration
               for demand in problem.demands for window in demand.windows)


def _too_late(time_limit: float | None, began: float, relaxing: float) -> bool:
    """Less of the limit is left than the LP relaxation took."""
    left = _left(time_limit, began)
    return left is not None and left < relaxing


def _left(time_limit: float | None, began: float, reserve: float = 0.0) -> float | None:
    """What is left of the limit, less `reserve`: it is on the whole solve (model, start and
    packing too)."""
    if time_limit is None:
        return None
    return max(0.0, time_limit - reserve - (time.monotonic() - began))


def _deadline(time_limit: float | None, began: float) -> float | None:
    return None if time_limit is None else began + time_limit


def _finish_by(time_limit: float | None, began: float, share: float | None = None) -> float | None:
    """Where the search ends and the answer is assembled: FINISHING_SHARE of the limit is
    left for that (or at `share` of the limit)."""
    if time_limit is None:
        return None
    return began + time_limit * (1 - FINISHING_SHARE if share is None else share)


# a schedule made node by node that leaves replicas out: (its runs, the replicas not placed)
Partial = tuple[list[Spot], list[tuple[str, int]]]


def _node_schedule(problem: Problem, objective: str, deadline: float | None,
                   stop: float | None = None) -> tuple[list[Spot] | None, Partial | None]:
    """A schedule made node by node (`timeline_pack.node_schedule`, searched until
    `deadline`, given up at `stop`), when it places every replica and keeps what the ledger
    does not track (a carbon budget over the horizon); else (None, what it placed), the
    answer where the MIP finds no schedule either (never nothing where some runs fit)."""
    if problem.carbon_budget is not None:
        return None, None
    spots, missing = node_schedule(problem, objective, deadline=deadline, stop=stop)
    return (None, (spots, missing)) if missing else (spots, None)


def scheduled_node_by_node(problem: Problem) -> TimedPlacement | None:
    """A schedule of every replica made node by node and not searched (the solve's starting
    point, which keeps every rule: the rules the ledger does not track narrowed as the solve
    narrows them), or None where it leaves some out. What a repair's check asks is whether a
    schedule exists, not the cheapest: `solve_timed` spends its whole limit improving the
    first schedule it finds, so each check of a repair's bisection took the repair budget."""
    names = [name for name in problem.objective if name in OBJECTIVES] or ["cost"]
    spots, _ = _node_schedule(timeline_rules.narrowed(problem, names[0]), names[0], None)
    if spots is None:
        return None
    assignments = timed_assignments(problem, spots)
    return TimedPlacement(Status.FEASIBLE, names[0], horizon_value(problem, assignments, names[0]), None,
                          assignments, [], backend="highs", timeline=problem.timeline,
                          bought=bought_in_time(problem, assignments))


def _kept(problem: Problem, spots: list[Spot] | None) -> list[Spot] | None:
    """The schedule made node by node where it keeps the rules of topology in time (spreads,
    affinities, anti-affinities over zones and labels: the narrowed problem does not hold
    them, `timeline_rules.topology_kept`); else none, and the MIP's answer stands."""
    if spots is None or not any(d.spreads or d.affinities for d in problem.demands):
        return spots
    runs = [(spot.demand, problem.node_class(spot.class_id).node_names[spot.node], spot.start, spot.end)
            for spot in spots]
    return spots if timeline_rules.topology_kept(problem, runs) else None


def _partly_placed(problem: Problem, partial: Partial, infeasible: bool
                   ) -> tuple[list[TimedAssignment], list[Unplaced]]:
    """The runs of a schedule that leaves replicas out, a gang with one missing left out whole
    (all or nothing), and a workload with a latency rule too (its count in reach, met by
    running nowhere, not by some replicas), and the replicas it leaves out, each said why."""
    spots, missing = partial
    short = {name for name, _ in missing}
    broken = {name for name in short if problem.demand(name).gang or problem.demand(name).latency}
    kept = [spot for spot in spots if spot.demand not in broken]
    if _kept(problem, kept) is None:  # a rule of topology broken: its workloads left out whole
        broken |= {d.name for d in problem.demands if d.spreads or d.affinities}
        kept = [spot for spot in spots if spot.demand not in broken]
    reason = "no schedule meets every rule in the horizon" if infeasible else "no schedule found in time"
    left = sorted(set(missing) | {(spot.demand, spot.replica) for spot in spots if spot.demand in broken})
    return timed_assignments(problem, kept), [Unplaced(name, replica, reason) for name, replica in left]


def bought_in_time(problem: Problem, assignments: list[TimedAssignment]) -> dict[str, list[str]]:
    """Class id -> the nodes of an offer that host a run at some step: bought for the steps
    they are in use (the Terraform target scales their group by schedule)."""
    owners = problem.owners()
    bought: dict[str, set[str]] = {}
    for assignment in assignments:
        node_class = owners[assignment.node]
        if node_class.provisioned:
            bought.setdefault(node_class.id, set()).add(assignment.node)
    return {class_id: [name for name in problem.node_class(class_id).node_names if name in nodes]
            for class_id, nodes in sorted(bought.items())}


@dataclass(frozen=True)
class LexicographicGroup(GroupKey):
    """A lexicographic list's earlier objective, held at what its solve reached."""

    objective: str


def _keep(encoding: TimeEncoding, name: str, solution: list) -> None:
    """A row holding objective `name` at what `solution` reaches (plus a hair): the next
    objective of a lexicographic list is minimised among schedules as good in it."""
    terms = objective_terms(encoding, name)
    reached = encoding.model.value(terms, solution)
    encoding.model.add(terms, upper=reached + abs(reached) * LEXICOGRAPHIC_SLACK,
                       group=LexicographicGroup(name))


@dataclass(frozen=True)
class Piece:
    """`count` replicas of a demand on a class from step `start` to `end`: runs from the start
    columns (`replica` None: numbered in start order), or one segment of a preemptible
    replica."""

    demand: str
    class_id: str
    start: int
    end: int
    count: int = 1
    replica: int | None = None


def _pieces(encoding: TimeEncoding, solution: list) -> list[Piece]:
    problem = encoding.problem
    pieces = [Piece(name, class_id, start, start + problem.demand(name).windows[0].duration,
                    int(solution[column]))
              for (name, class_id, start), column in encoding.x.items() if solution[column]]
    pieces += [Piece(name, class_id, start, end, 1, replica)
               for name, replica, class_id, start, end in preemption.segments(encoding, solution)]
    return pieces


def pack_in_time(problem: Problem, pieces: list[Piece], objective: str = "cost",
                 deadline: float | None = None, repairs: bool = True
                 ) -> tuple[list[TimedAssignment], list[Unplaced]]:
    """In start order (the larger replicas first at a step), each replica (or segment) on the
    node of its class that adds least, where every node's capacity, the power caps, the budget
    and the buy limits hold at each step of its run (`timeline_pack.Ledger`); a replica the
    model's class and start leave no such node for is repaired: placed anew in its window, a
    preemptible one unbroken (its segments already packed are dropped). The classes' repack
    after it stops at `deadline`. Without `repairs` (a schedule that may leave replicas out:
    what does not pack is left out, `_short_packed`), no replica is placed anew."""
    ledger = Ledger(problem, objective)
    order = sorted(pieces, key=lambda piece: (
        piece.start, -problem.demand(piece.demand).requests["cpu"], piece.demand, piece.class_id,
        piece.replica or 0))
    numbered: dict[tuple[str, int], int] = {}  # (demand, run) -> replicas of the run numbered
    spots: list[Spot] = []
    left: list[tuple[Demand, int, int]] = []  # (demand, replica, run) to repair
    broken: set[tuple[str, int]] = set()  # preemptible replicas with a segment that did not pack
    for piece in order:
        demand = problem.demand(piece.demand)
        run = run_of(demand, piece.start)
        for _ in range(piece.count):
            replica = piece.replica
            if replica is None:
                replica = run * demand.replicas_per_run + numbered.get((demand.name, run), 0)
                numbered[demand.name, run] = numbered.get((demand.name, run), 0) + 1
            if (demand.name, replica) in broken:
                continue
            spot = ledger.best(piece.class_id, need_of(demand), piece.start, piece.end)
            if spot is None:
                if piece.replica is not None:
                    broken.add((demand.name, replica))
                left.append((demand, replica, run))
                continue
            ledger.take(piece.class_id, spot[0], need_of(demand), piece.start, piece.end)
            spots.append(Spot(demand.name, replica, piece.class_id, spot[0], piece.start, piece.end))
    spots = [spot for spot in spots if (spot.demand, spot.replica) not in broken]
    unplaced: list[Unplaced] = []
    options: dict[tuple[str, int], list] = {}  # a run's candidates, shared by its replicas
    tries = [REPAIR_TRIES]  # the ejection chains' effort, shared by every replica left
    for demand, replica, run in left:
        if not repairs:
            unplaced.append(Unplaced(demand.name, replica, "no node has room in its window when packed"))
            continue
        window = demand.windows[run]
        if (demand.name, run) not in options:
            options[demand.name, run] = candidates(ledger, demand, window)
        repaired = place_anywhere(ledger, demand, replica, window, options[demand.name, run])
        if repaired is not None:
            spots.append(repaired)
            continue
        # no node has room as the others stand: room made by moving those in its way
        made = make_room(problem, ledger, spots, demand, replica, window, tries=tries)
        if made is None:
            unplaced.append(Unplaced(demand.name, replica, "no node has room in its window "
                                                           "when packed"))
        else:
            spots = made
    if not unplaced:  # the model's answer packed at its own steps; packed again where cheaper
        spots = repacked(problem, ledger, spots, deadline)
    return timed_assignments(problem, spots), unplaced


def timed_assignments(problem: Problem, spots: list[Spot]) -> list[TimedAssignment]:
    assignments = [TimedAssignment(spot.demand, spot.replica,
                                   problem.node_class(spot.class_id).node_names[spot.node],
                                   spot.start, spot.end) for spot in spots]
    assignments.sort(key=lambda a: (a.workload, a.replica, a.start))
    return assignments


def spot_values(encoding: TimeEncoding, spots: list[Spot]) -> dict[int, float] | None:
    """The time model's columns for a schedule made node by node: HiGHS's start (None where
    the schedule has a replica at a start the model has no column for: beside a hold)."""
    problem, steps = encoding.problem, encoding.timeline.steps
    values: dict[int, float] = {}
    busy = {c.id: np.zeros((c.count, steps), dtype=bool) for c in problem.classes}
    for spot in spots:
        demand = problem.demand(spot.demand)
        busy[spot.class_id][spot.node, spot.start:spot.end] = True
        if demand.min_segment is None:
            column = encoding.x.get((spot.demand, spot.class_id, spot.start))
            if column is None:  # beside a hold it does not fit (a schedule without the hold)
                return None
            values[column] = values.get(column, 0) + 1
        else:
            values.update(preemption.start_values(encoding, demand, spot.replica, spot.class_id,
                                                  spot.start, spot.end))
    for class_id, nodes in busy.items():
        for step, count in enumerate(nodes.sum(axis=0).tolist()):
            values[encoding.u[class_id, step]] = count
    values.update(_gang_values(encoding, spots))
    return values


def _gang_values(encoding: TimeEncoding, spots: list[Spot]) -> dict[int, float]:
    """The gang binaries (`rules/gang.time_rows`) for a schedule: where its runs start, the
    clusters it runs in."""
    problem = encoding.problem
    starts: dict[tuple[str, int], set[int]] = {}
    clusters: dict[str, set[str]] = {}
    for spot in spots:
        demand = problem.demand(spot.demand)
        if demand.gang:
            starts.setdefault((spot.demand, run_of(demand, spot.start)), set()).add(spot.start)
            clusters.setdefault(spot.demand, set()).add(problem.node_class(spot.class_id).gang_domain)
    return gang.time_start_values(encoding, starts, clusters)


def horizon_value(problem: Problem, assignments: list[TimedAssignment],
                  objective: str = "cost") -> Fraction:
    """The packing's cost (or carbon) over the horizon: each node in use at a step, at its
    price (or emission rate) then."""
    owners = problem.owners()
    runs = [timing.Run(a.workload, a.replica, a.node, a.start, a.end) for a in assignments]
    if objective == "carbon":
        return carbon.horizon_carbon(problem, runs, lambda node, step: owners[node].carbon_at(step))
    if objective in ("makespan", "lateness"):
        return getattr(completion, objective)(problem, runs)
    return timing.horizon_cost(problem, runs, lambda node, step: owners[node].price_at(step))


def instant(timeline: Timeline, step: int) -> datetime:
    """When a step starts."""
    return timeline.start + timedelta(seconds=step * timeline.step_seconds)


def iso(moment: datetime) -> str:
    """An instant as the placement JSON and Slurm's scripts state it: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def greedy_start(encoding: TimeEncoding) -> dict[int, float] | None:
    """A schedule for HiGHS to start from (its incumbent, so the answer is never worse): each
    replica, services first then jobs with the least slack in their window, at the class and
    start step that add
    least to the cost given what is placed, within the nodes, power caps and budget of each
    step. None when a replica finds no room (HiGHS then starts from nothing)."""
    problem, timeline = encoding.problem, encoding.timeline
    if problem.buy_limits:  # not tracked here: HiGHS starts from nothing
        return None
    hours = Fraction(timeline.step_seconds, 3600)
    steps = timeline.steps
    classes = problem.classes
    capacity = {c.id: np.array([max(1, c.capacity[r]) for r in RESOURCES], dtype=float) for c in classes}
    used = {c.id: np.zeros((steps, len(RESOURCES))) for c in classes}
    nodes = {c.id: np.zeros(steps, dtype=np.int64) for c in classes}
    charges = _charges(encoding)
    caps = [(np.array([float(cap.cap_at(t)) for t in range(steps)]), set(cap.classes))
            for cap in problem.power_caps]
    counts = {c.id: np.array([c.count_at(t) for t in range(steps)]) for c in classes}
    drawn = [np.zeros(steps) for _ in caps]
    spent = np.zeros(steps)
    prices = {c.id: [c.price_at(t) * hours for t in range(steps)] for c in classes}
    values: dict[int, float] = {}
    preempted: dict[str, int] = {}  # preemptible demand -> its last replica placed
    order = sorted(problem.demands, key=lambda d: _urgency(d, steps))
    for demand, window in ((d, w) for d in order for w in d.windows):
        for _ in range(demand.replicas_per_run):
            best: tuple[Fraction, int, str, np.ndarray] | None = None
            for class_id in demand.eligible:
                node_class = problem.node_class(class_id)
                charge = charges[demand.name, class_id]
                for begin in window.starts():
                    run = slice(begin, begin + window.duration)
                    after = np.ceil((used[class_id][run] + charge) / capacity[class_id] - 1e-9).max(axis=1)
                    added = after.astype(np.int64) - nodes[class_id][run]
                    if (after > counts[class_id][run]).any() or not _within(
                            problem, node_class, added, run, caps, drawn, spent):
                        continue
                    extra = sum((prices[class_id][t] * int(n) for t, n in
                                 zip(range(begin, begin + window.duration), added) if n), Fraction(0))
                    if best is None or extra < best[0]:
                        best = (extra, begin, class_id, after.astype(np.int64))
            if best is None:
                return None
            _, begin, class_id, after = best
            node_class = problem.node_class(class_id)
            run = slice(begin, begin + window.duration)
            added = after - nodes[class_id][run]
            used[class_id][run] += charges[demand.name, class_id]
            nodes[class_id][run] = after
            for (_, scope), power in zip(caps, drawn):
                if class_id in scope:
                    power[run] += added * float(node_class.power_watts)
            spent[run] += added * _hourly(node_class, run)
            if demand.min_segment is None:
                column = encoding.x.get((demand.name, class_id, begin))
                if column is None:  # beside a running job that holds the node (`_fits_beside`)
                    return None
                values[column] = values.get(column, 0) + 1
            else:  # a preemptible replica, unbroken here: one segment of its whole duration
                replica = preempted[demand.name] = preempted.get(demand.name, -1) + 1
                values.update(preemption.start_values(encoding, demand, replica, class_id, begin))
    for class_id, in_use in nodes.items():
        for step, count in enumerate(in_use.tolist()):
            values[encoding.u[class_id, step]] = count
    return values


def _charges(encoding: TimeEncoding) -> dict[tuple[str, str], np.ndarray]:
    """What one replica of a demand takes on a class, as the capacity rows charge it."""
    found: dict[tuple[str, str], np.ndarray] = {}
    problem = encoding.problem
    for node_class in problem.classes:
        demands = [d for d in problem.demands if node_class.id in d.eligible]
        requests = np.array([[d.requests[r] for r in RESOURCES] for d in demands],
                            dtype=np.int64).reshape(len(demands), len(RESOURCES))
        charge, _ = charge_matrix(node_class, requests)
        for demand, row in zip(demands, charge):
            found[demand.name, node_class.id] = row.astype(float)
    return found


def _within(problem: Problem, node_class, added: np.ndarray, run: slice, caps, drawn,
            spent) -> bool:
    """The power caps and the budget still hold with `added` nodes of the class at each step."""
    if not added.any():
        return True
    for (cap, scope), power in zip(caps, drawn):
        if node_class.id in scope and \
                (power[run] + added * float(node_class.power_watts) > cap[run] + 1e-6).any():
            return False
    return problem.budget is None or \
        not (spent[run] + added * _hourly(node_class, run) > float(problem.budget) + 1e-6).any()


def _hourly(node_class, run: slice) -> np.ndarray:
    """USD/h per node of the class in use at each step of `run`."""
    return np.array([float(node_class.price_at(t)) for t in range(run.start, run.stop)])


def _urgency(demand, steps: int) -> tuple[bool, bool, int, int, str]:
    """Running jobs' held room first (`held_room.py`), then services, then the jobs whose
    windows leave the fewest start steps."""
    window = demand.window
    assert window is not None
    return (not is_held(demand.name), window.duration < steps, window.latest_start - window.earliest,
            window.earliest, demand.name)
