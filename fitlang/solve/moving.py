"""From what runs now to what should run: the target placement with the fewest moves, and the
waves that reach it without breaking a rule or a budget mid-way (`fitc plan`).

1. `solve_move`: the placement, with the move objective (`rules/moves.py`): the policy's
   objectives with `moves` after them (the cheapest placement, then the fewest moves), or
   where the policy states `move_price` cost plus that price per move, or the policy's own
   list where it names `moves`. Fleets up to 48 nodes are solved node by node (exact: the
   model's moves are the replicas that change node); larger ones from what runs now
   (`move_scale.py`: the replicas that cannot stay placed again, then nodes emptied or
   replaced where that pays, with a proven bound), and where that does not serve (it breaks a
   rule, leaves a replica out, or `moves` comes first) by class, each packed node then matched
   to the node of its class whose running replicas it keeps most of (`keep_in_place`).
2. `waves`: the moves in order. Nodes to buy come first (they exist from the first wave);
   a wave starts new replicas before it stops the old ones, so each wave's state (the old
   replicas not yet stopped plus the new ones started) is checked by `verify`, which shares
   no code with the encoding: it may break no rule that held when the wave began. A wave
   moves at most `max_disrupted` replicas of a workload and empties at most `max_drained`
   nodes. Where no move can start beside what runs, one replica is stopped before its
   successor starts (within the budget). Nodes bought earlier that end empty are released
   last. Over 48 nodes a wave is made in a batch (`_batched_wave`): the room on each node
   and each spread's skew counted as it fills, `verify` once per wave. What runs now may break
   a rule on a node already: its replicas stop and move first (`repair_first.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from fitlang.diagnostics import Diagnostic
from fitlang.model.current import ReplicaName, RunningNames
from fitlang.model.problem import RESOURCES, Demand, Problem, one_class_per_node
from fitlang.rules import option_affinity, option_spread
from fitlang.rules.capacity import over_capacity
from fitlang.rules.moves import WaveBudget
from fitlang.solve import whole_cores
from fitlang.solve.linear import Status, stated_bound
from fitlang.solve.placement import EXACT_MAX_NODES, Placement, _solve
from fitlang.solve.repair_first import Repairs
from fitlang.solve.room import short_of_room

State = dict[str, Counter]  # node -> demand name -> replicas there
ELSEWHERE = ""  # the source of a replica running on a node the policy lacks


# the share of the move's limit the whole model leaves for `keep_in_place` and `kept_in_place`
# after it (fleet shape, 10,000 nodes, a pool drained: 0.3 and 0.5 CPU s, where the whole
# model at `--time-limit 60` was given all that was left, and they ended past the move's share)
KEPT_SHARE = 0.1


def move_objectives(problem: Problem) -> list[str]:
    """The objectives a move is solved for, in order (see the module's docstring)."""
    stated = list(problem.objective) or ["cost"]
    if "moves" in stated:
        return stated
    if problem.move_price:
        return ["cost+moves" if name == "cost" else name for name in stated] + ["moves"]
    return stated + ["moves"]


def solve_move(problem: Problem, backend: str = "auto", time_limit: float | None = None,
               bound_after: bool = False) -> Placement:
    """The target placement of a problem with a current state (`model/build.with_current`),
    with no node read from Slurm overfull in whole cores per job where moving replicas
    repairs it (else those nodes named: `whole_cores.py`, as `placement.solve` does).
    `bound_after`: a bound still being proven at the move's end may be left running, as
    `Placement.later_bound`, for the caller to collect (`model_bound_beside`)."""
    placement = within_move_cap(problem, _solved_move(problem, backend, time_limit, bound_after))
    objective = placement.objective
    # a plan stops no replica that runs to repair its end (a stop is the user's to order)
    if objective not in ("cost", "cost+moves"):
        return whole_cores.repaired(problem, placement, may_leave_out=False)
    # (the moved answer's value in its own frame: a model's leaves out what its objective drops)
    return whole_cores.repaired(problem, placement, may_leave_out=False, value_of=lambda moved: (
        objective_value(problem, objective, placed_state(moved),
                        {n for names in moved.bought.values() for n in names})
        - (0 if moved.moves_counted else dropped_constant(problem, objective))))


def within_move_cap(problem: Problem, placement: Placement) -> Placement:
    """A target that moves more replicas than the policy's `max_moves` (the model over
    classes counts a replica that changes node within its class as staying; the search from
    what runs keeps no change past the cap, `move_cap`, but what must move and the spreads it
    restores may pass it) replaced by the least change from what runs: the replicas
    that cannot stay placed (`move_scale`'s repair), nothing else moved, where that keeps
    every rule and the cap; else it is left as it is (`fitc plan` refuses it: E0814). Its
    bound is the uncapped move's where in the same frame (a cap only raises the optimum)."""
    from fitlang.solve.model_bound_beside import stop_later_bound
    from fitlang.solve.move_scale import ScaleMove

    cap = problem.max_moves
    if cap is None or placement.status not in (Status.OPTIMAL, Status.FEASIBLE) or placement.unplaced:
        return placement
    start = current_state(problem)
    if replicas_moved(problem, start, placed_state(placement)) <= cap:
        return placement
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    end, bought = fleet.state(), set(fleet.bought)
    moved = replicas_moved(problem, start, end)
    if fleet.unplaced or moved > cap or \
            _Checker(problem, bought | set(problem.bought_now), "").broken(end):
        return placement
    stop_later_bound(placement)
    objective = placement.objective
    repaired = fleet.placement(objective, None)
    repaired.value = Fraction(moved) if objective == "moves" else \
        objective_value(problem, objective, end, bought)
    if placement.bound is not None and (placement.moves_counted or objective == "cost"):
        repaired.bound = stated_bound(placement.bound, repaired.value)
    return repaired


def _solved_move(problem: Problem, backend: str, time_limit: float | None,
                 bound_after: bool = False) -> Placement:
    # the limit counts from here: the checks before the search (`short_of_room` and the
    # narrowings, ~0.13 CPU s at 10,000 nodes) are the move's time too (h56c: given the
    # whole limit after them, the search ended that much past the move's own end)
    started = time.monotonic()
    # nodes where work runs are not interchangeable: no symmetry rows (they would fill the
    # first nodes of a pool, not the ones where the replicas run)
    moving = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    if short_of_room(problem):  # no placement of every replica at all (room.py): nothing to move to
        return Placement(Status.INFEASIBLE, moving.objective[0], None, None, proven_infeasible=True)
    if sum(c.count for c in problem.classes) <= EXACT_MAX_NODES:
        return _node_by_node(moving, backend, time_limit)
    if (narrow := option_spread.narrowed(problem)) is not None:  # a spread over options (its module)
        return option_spread.solve_narrowed(problem, narrow, lambda p: _solved_move(p, backend, time_limit))
    if option_affinity.in_problem(problem):  # held node by node only (its module)
        return option_affinity.solve_narrowed(problem, lambda p: _solved_move(p, backend, time_limit))
    at_scale = _over_move_cap(problem, _at_scale(moving, _left_of(time_limit, started), bound_after))
    if at_scale is not None and not _whole_model_may_pay(moving, at_scale, started, time_limit):
        return at_scale
    # the whole model gets what the search from what runs left of the limit, not the limit
    # again, less `KEPT_SHARE` of it for the nodes matched to the running ones after it
    # (never nothing: its floor still runs, as `placement.solve` does for any limit)
    left = None if time_limit is None else \
        max(0.05 * time_limit, (1 - KEPT_SHARE) * time_limit - (time.monotonic() - started))
    placement = _solve(moving, backend, left)
    keep_in_place(problem, placement)
    deadline = None if time_limit is None else started + time_limit
    placement = kept_in_place(problem, placement, deadline=deadline)
    if at_scale is None and (placement.unplaced or placement.status not in (Status.OPTIMAL, Status.FEASIBLE)):
        from fitlang.solve.rest_target import rest_target  # (both searches short: its module)

        placement = rest_target(problem, moving.objective[0], time_limit, deadline) or placement
    return placement if at_scale is None else _better_move(moving, at_scale, placement)


def _over_move_cap(problem: Problem, at_scale: Placement | None) -> Placement | None:
    """The search from what runs, unless it moves more than the policy's `max_moves` (it keeps
    no change past the cap, `move_cap`, but what must move with the spreads it restores may
    pass it): then the whole model, whose stays hold the cap, is solved instead."""
    from fitlang.solve.model_bound_beside import stop_later_bound

    if at_scale is None or problem.max_moves is None or \
            replicas_moved(problem, current_state(problem), placed_state(at_scale)) <= problem.max_moves:
        return at_scale
    stop_later_bound(at_scale)
    return None


def _left_of(time_limit: float | None, started: float) -> float | None:
    """What is left of `time_limit` begun at `started` (never nothing: the search from what
    runs is the least the move is)."""
    if time_limit is None:
        return None
    return max(0.05 * time_limit, time_limit - (time.monotonic() - started))


def _whole_model_may_pay(problem: Problem, at_scale: Placement, started: float,
                         time_limit: float | None) -> bool:
    """Whether the whole model is solved after the search from what runs: where that search
    ended short of its bound with at least half of a limit left, on a fleet the whole model
    solves in that time (up to `MOVE_MODEL_MAX_NODES` nodes). The search moves replicas a few
    nodes at a time, so an end state that replaces every node of one type by fewer of another
    is out of its reach: 200 EKS nodes of m5.2xlarge (7 pods of 1 CPU each) under 600 pods,
    with m5.4xlarge (15 each, 4% cheaper a pod) on offer, ended at 32.64 USD/h with 5.9% left
    to its bound after 0.7 of 30 CPU s; the whole model reaches the bound, 30.72."""
    from fitlang.solve.move_scale import MOVE_MODEL_MAX_NODES

    gap, nodes = at_scale.gap, sum(c.count for c in problem.classes)
    if gap is None or gap <= at_scale.tolerance or nodes > MOVE_MODEL_MAX_NODES:
        return False
    # (with no limit the search's end stands, as before: the whole model could run for long)
    return time_limit is not None and time.monotonic() - started <= time_limit / 2


def _better_move(problem: Problem, at_scale: Placement, whole: Placement) -> Placement:
    """The better of the two moves by the plan's first objective, then by replicas moved (the
    search's on a tie: it moves least), under the higher of their proven bounds."""
    def rank(placement: Placement) -> tuple[bool, Fraction, int]:
        end = placed_state(placement)
        bought = {n for names in placement.bought.values() for n in names}
        moved = replicas_moved(problem, current_state(problem), end)
        # (one past the policy's `max_moves` after any within it: the search holds the cap;
        # one that moves a replica of a workload that may not move, after any: the model's
        # stays pin it per class, and a 52-node plan moved a pinned pod within its pool)
        over = (problem.max_moves is not None and moved > problem.max_moves) or _moves_pinned(problem, end)
        return (over, objective_value(problem, problem.objective[0], end, bought), moved)

    # (the whole model's bound leaves out the constant its objective drops: added, as the
    # search's counts every move; plan 1,000 seed 10 at 20 s stated 73.10 / 68.87 for a move
    # of 55.30 / 51.07, the constant added to figures that had it already)
    whole_bound = None if whole.bound is None else \
        whole.bound + (0 if whole.moves_counted else dropped_constant(problem, whole.objective))
    bounds = [b for b in (at_scale.bound, whole_bound) if b is not None]
    better = at_scale
    if not whole.unplaced and whole.status in (Status.OPTIMAL, Status.FEASIBLE):
        ranked = rank(whole)
        if ranked < rank(at_scale):
            better, better.later_bound, better.value = whole, at_scale.later_bound, ranked[1]
            better.moves_counted = True
    better.bound = stated_bound(max(bounds), better.value) if bounds and better.value is not None else None
    if better.gap is not None:
        better.status = Status.OPTIMAL if better.gap <= better.tolerance else Status.FEASIBLE
    return better


def _moves_pinned(problem: Problem, end: State) -> bool:
    """Does the end state take a replica of a workload that may not move (`Problem.pinned`)
    off the node it runs on?"""
    return any(end.get(node, Counter())[name] < count
               for name in problem.pinned for node, count in problem.running.get(name, {}).items())


def dropped_constant(problem: Problem, objective: str) -> Fraction:
    """What the model's `moves` and `cost+moves` leave out (`rules/moves.py`: moves = the
    replicas that run, less those that stay): the replicas that run, at a move's price."""
    if objective not in ("moves", "cost+moves"):
        return Fraction(0)
    running = sum(min(problem.running_total(d.name), d.replicas) for d in problem.demands)
    return running * (Fraction(1) if objective == "moves" else problem.move_price or Fraction(0))


def _at_scale(problem: Problem, time_limit: float | None, bound_after: bool = False) -> Placement | None:
    """The move found from what runs now (`move_scale`), where it places every replica, keeps
    every rule (`verify`) and its objective is the cost or cost + moves; else None (the whole
    model is solved)."""
    from fitlang.solve.model_bound_beside import stop_later_bound
    from fitlang.solve.move_scale import move_at_scale

    objective = problem.objective[0]
    if objective not in ("cost", "cost+moves") or problem.timeline is not None:
        return None
    placement, fleet = move_at_scale(problem, objective, time_limit, bound_after)
    if fleet.unplaced:  # (then no bound is left running: `move_at_scale`)
        return None
    end, bought = fleet.state(), set(fleet.bought)
    if _Checker(problem, bought | set(problem.bought_now), "").broken(end):
        stop_later_bound(placement)
        return None
    if placement.value is None:  # (`move_at_scale` works it out where it compares it with its bound)
        placement.value = objective_value(problem, objective, end, bought)
    if placement.bound is not None:
        placement.bound = stated_bound(placement.bound, placement.value)
        if placement.gap is not None and placement.gap <= placement.tolerance:
            placement.status = Status.OPTIMAL
    return placement


def objective_value(problem: Problem, objective: str, end: State, bought: set[str]) -> Fraction:
    """The cost of the end state, plus, for `cost+moves`, `move_price` per replica moved, node
    drained (in use now, empty at the end) and node bought."""
    cost = state_cost(problem, end, bought)
    if objective != "cost+moves":
        return cost
    start = current_state(problem)
    moved = replicas_moved(problem, start, end)
    drained = len((_in_use(start) | set(problem.bought_now)) - _in_use(end) - bought)
    changes = moved + drained + len(bought - set(problem.bought_now))
    return cost + (problem.move_price or 0) * changes


def replicas_moved(problem: Problem, start: State, end: State) -> int:
    """How many moves of kind "move" `moves_between` lists, counted without listing them: per
    demand, its replicas leaving nodes (and those on nodes the policy lacks) are paired with
    those arriving, so the moves are the lesser of the two (the rest stop or start). At
    10,000 nodes listing them (sorted nodes, a record per move) took ~0.1 s a call, and the
    plan's value is asked for twice."""
    leaving: Counter = Counter(problem.running_elsewhere)
    arriving: Counter = Counter()
    nothing: Counter = Counter()
    for node in start.keys() | end.keys():
        now, then = start.get(node, nothing), end.get(node, nothing)
        for name in now.keys() | then.keys():
            change = then[name] - now[name]
            if change > 0:
                arriving[name] += change
            elif change < 0:
                leaving[name] -= change
    return sum(min(leaving[d.name], arriving[d.name]) for d in problem.demands)


def _node_by_node(problem: Problem, backend: str, time_limit: float | None) -> Placement:
    """The exact per-node model (as `placement.solve` makes it for small fleets), without
    its symmetry rows; bought nodes listed under their offer's class."""
    single = dataclasses.replace(one_class_per_node(problem), symmetric=[])
    placement = _solve(single, backend, time_limit)
    owners = problem.owners()
    bought: dict[str, list[str]] = {}
    for names in placement.bought.values():
        for name in names:
            bought.setdefault(owners[name].id, []).append(name)
    placement.bought = bought
    return placement


def current_state(problem: Problem) -> State:
    """What runs now, per node (nodes of the problem only)."""
    state: State = {}
    for demand, nodes in problem.running.items():
        for node, count in nodes.items():
            state.setdefault(node, Counter())[demand] += count
    return state


def placed_state(placement: Placement) -> State:
    state: State = {}
    for item in placement.assignments:
        state.setdefault(item.node, Counter())[item.workload] += 1
    return state


def keep_in_place(problem: Problem, placement: Placement) -> None:
    """Rename the packed nodes of each class (identical nodes: any of them is any other) so
    that each keeps as many of the replicas running on it now as it can: an assignment
    between the packed nodes and the class's nodes, weighed by the replicas that stay."""
    from scipy.optimize import linear_sum_assignment

    owners = problem.owners()
    now = current_state(problem)
    packed = placed_state(placement)
    by_class: dict[str, list[str]] = {}
    for node in sorted(packed):
        by_class.setdefault(owners[node].id, []).append(node)
    renamed: dict[str, str] = {}
    for class_id, nodes in by_class.items():
        node_class = problem.node_class(class_id)
        candidates = sorted(set(nodes) | {n for n in now if owners[n].id == class_id},
                            key=owners.position)
        if node_class.node_capacity or len(candidates) == len(nodes) == 1:
            continue  # members differ in size: a packed node stays where it was packed
        rows, columns = linear_sum_assignment(_staying(nodes, candidates, packed, now))
        renamed.update((nodes[r], candidates[c]) for r, c in zip(rows, columns))
    for item in placement.assignments:
        item.node = renamed.get(item.node, item.node)
    for class_id, names in placement.bought.items():
        placement.bought[class_id] = sorted((renamed.get(n, n) for n in names), key=owners.position)


def _staying(nodes: list[str], candidates: list[str], packed: State, now: State) -> np.ndarray:
    """Minus the replicas that stay if packed node i is named candidate j: the sum over
    demands of the lesser of what i holds and what runs on j. Summed per demand over only
    the nodes that hold it and the candidates where it runs (a class of 600 nodes at
    10,000 took 4.6 s as a Python double loop over every pair)."""
    weight = np.zeros((len(nodes), len(candidates)))
    held: dict[str, tuple[list[int], list[int]]] = {}
    for row, node in enumerate(nodes):
        for demand, amount in packed[node].items():
            if amount > 0:
                positions, amounts = held.setdefault(demand, ([], []))
                positions.append(row)
                amounts.append(amount)
    for column, name in enumerate(candidates):
        for demand, amount in now.get(name, {}).items():
            if amount > 0 and demand in held:
                rows, holds = held[demand]
                weight[rows, column] -= np.minimum(holds, amount)
    return weight


@dataclass(frozen=True)
class Move:
    """One replica of `demand` from `source` (ELSEWHERE: a node the policy lacks) to `target`;
    a replica the policy asks for on top of what runs starts (`start`: no source), one more
    than it asks for stops (`stop`: no target)."""

    demand: str
    workload: str
    source: str
    target: str
    handle: ReplicaName | None = None  # how the system running it names it (a pod, a job id)
    kind: str = "move"  # "move", "start" or "stop"
    # False: the replica leaving is not healthy (a pod not Ready): a budget over healthy
    # replicas may let it go free (`rules/moves.WaveBudget`)
    healthy: bool = True


@dataclass
class Wave:
    moves: list[Move] = field(default_factory=list)
    stop_first: bool = False  # the old replica stops before the new one starts
    drained: list[str] = field(default_factory=list)  # nodes it empties
    cost_after: Fraction = Fraction(0)


@dataclass
class MovePlan:
    """What `waves` makes: the moves in order, what to buy, drain and release."""

    cost_before: Fraction
    cost_after: Fraction
    bought: list[str] = field(default_factory=list)  # nodes to buy before the first wave
    waves: list[Wave] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # bought earlier, empty at the end
    least_moves: int = 0  # the least moves the end state's node counts allow
    diagnostics: list[Diagnostic] = field(default_factory=list)

    stopped: list[Move] = field(default_factory=list)  # replicas beyond the policy's, first

    @property
    def moves(self) -> int:
        return sum(1 for w in self.waves for m in w.moves if m.kind == "move")

    @property
    def drained(self) -> list[str]:
        return [node for wave in self.waves for node in wave.drained]

    @property
    def changes(self) -> bool:
        return bool(self.bought or self.released or self.stopped or any(w.moves for w in self.waves))


def moves_between(problem: Problem, start: State, end: State,
                  handles: RunningNames | None = None,
                  rank: Callable[[str], int] = lambda node: 0) -> list[Move]:
    """The replicas that change node: per demand, those a node has more of now than at the
    end go to the nodes that have fewer, in node order, by `rank` first (where what runs now
    breaks a rule: `repair_first.py`); replicas running on nodes the policy lacks move too.
    `handles`: (demand, node) -> the names of the replicas running there."""
    handles = handles or {}
    owners = problem.owners()
    moves: list[Move] = []
    hosting: dict[str, set[str]] = {}  # demand -> the nodes that host it now or at the end
    for state in (start, end):
        for node, counts in state.items():
            for name, count in counts.items():
                if count:
                    hosting.setdefault(name, set()).add(node)
    for demand in problem.demands:
        name = demand.name
        sources: list[str] = [ELSEWHERE] * problem.running_elsewhere.get(name, 0)
        targets: list[str] = []
        for node in sorted(hosting.get(name, ()), key=lambda n: (rank(n), owners.position(n), n)):
            now, then = start.get(node, Counter())[name], end.get(node, Counter())[name]
            sources += [node] * max(0, now - then)
            targets += [node] * max(0, then - now)
        handle_of = _Handles(handles, name)
        # a node's replicas not healthy leave it first (as their names do: `running_handles`)
        unhealthy = Counter(problem.unhealthy.get(name, {}))
        # more running than the policy asks for: the first sources stop (those outside the
        # policy first, then by `rank`); fewer: the last targets start
        extra = max(0, len(sources) - len(targets))
        for source in sources[:extra]:
            moves.append(Move(name, demand.workload, source, "", handle_of(source), "stop",
                              healthy=_leaves_healthy(unhealthy, source)))
        pairs, started = _paired(problem, demand, sources[extra:], targets)
        for source, target in pairs:
            moves.append(Move(name, demand.workload, source, target, handle_of(source),
                              healthy=_leaves_healthy(unhealthy, source)))
        for target in started:
            moves.append(Move(name, demand.workload, "", target, None, "start"))
    return moves


def _leaves_healthy(unhealthy: Counter, source: str) -> bool:
    """Is the next replica to leave `source` healthy? (`unhealthy`: those not, per node, left)"""
    if unhealthy[source] > 0:
        unhealthy[source] -= 1
        return False
    return True


def _paired(problem: Problem, demand, sources: list[str],
            targets: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Each source (no more than the targets) with a target, in order, and the targets left
    (replicas that start). For a workload with spreads or affinities, a source first with a
    target of its own zone (cluster and zone): such a move keeps the replicas per zone, so a
    wave can make it without breaking the spread mid-way."""
    if not (demand.spreads or demand.affinities):
        return list(zip(sources, targets)), targets[len(sources):]
    owners = problem.owners()

    def zone(node: str) -> tuple:
        node_class = owners.get(node) if node != ELSEWHERE else None
        return ("", "") if node_class is None else (node_class.cluster, node_class.zone or "")

    left = list(targets)
    pairs: list[tuple[str, str] | None] = []
    for source in sources:
        match = next((t for t in left if zone(t) == zone(source)), None) if source != ELSEWHERE else None
        if match is not None:
            left.remove(match)
        pairs.append((source, match) if match is not None else None)
    unmatched = sum(1 for pair in pairs if pair is None)
    rest = iter(left[:unmatched])
    return ([pair if pair is not None else (source, next(rest)) for source, pair in zip(sources, pairs)],
            left[unmatched:])


class _Handles:
    """The names of a demand's replicas as they leave each node: the last listed first."""

    def __init__(self, handles: RunningNames, demand: str) -> None:
        self.handles, self.demand = handles, demand
        self.taken: Counter[str] = Counter()

    def __call__(self, source: str) -> ReplicaName | None:
        named = self.handles.get((self.demand, source), [])
        taken = self.taken[source]
        self.taken[source] += 1
        return named[-1 - taken] if taken < len(named) else None


def least_moves(problem: Problem, end: State) -> int:
    """A lower bound on the replicas that change node for the end state's counts per class and
    nodes in use per class: a class keeps at most, of each workload, what runs there and what
    ends there, and at most what runs on as many of its nodes as end in use, those that run
    the most. On fleets solved node by node (every node its class) it is exact, and the
    solve's proven minimum."""
    owners = problem.owners()
    by_node = sum(c.count for c in problem.classes) <= EXACT_MAX_NODES

    def key(node: str) -> str:
        return node if by_node else owners[node].id

    now: dict[tuple[str, str], int] = Counter()
    then: dict[tuple[str, str], int] = Counter()
    for demand, nodes in problem.running.items():
        for node, count in nodes.items():
            now[demand, key(node)] += count
    for node, counts in end.items():
        for demand, count in counts.items():
            then[demand, key(node)] += count
    per_class: Counter = Counter()
    for (name, class_key), count in now.items():
        per_class[class_key] += min(count, then[name, class_key])
    # at most what runs on the `in use` nodes of the class that run the most
    totals: dict[str, Counter] = {}
    for nodes in problem.running.values():
        for node, count in nodes.items():
            totals.setdefault(key(node), Counter())[node] += count
    in_use = Counter(key(node) for node, counts in end.items() if any(counts.values()))
    stays = sum(min(kept, sum(sorted(totals.get(class_key, Counter()).values(), reverse=True)
                                  [:in_use[class_key]]))
                for class_key, kept in per_class.items())
    placed: Counter = Counter()
    for counts in end.values():
        placed.update(counts)
    # a replica more than the policy asks for stops, one more starts: neither is a move
    return sum(min(problem.running_total(d.name), placed[d.name]) for d in problem.demands) - stays


def state_cost(problem: Problem, state: State, bought: set[str]) -> Fraction:
    """USD/h of the nodes in use: hosting a replica, or bought (until released)."""
    owners = problem.owners()
    used = {node for node, counts in state.items() if any(counts.values())} | bought
    # per class, one exact product (a Fraction sum per node was ~0.03 s a wave at 10,000 nodes)
    per_class = Counter(owners[node].id for node in used if node in owners)
    return sum((problem.node_class(c).price * k for c, k in per_class.items()), Fraction(0))


class _Checker:
    """`verify` over a state of the move: a placement of the replicas it holds (each demand
    counted as many replicas as run), read back as `fitc verify` reads a placement file.
    What a state breaks is kept as the places of the rules broken (`_broken`)."""

    def __init__(self, problem: Problem, bought: set[str], root: str, mid_move: bool = False) -> None:
        from fitlang.solve.verify_changes import StateChecker

        self.problem, self.bought, self.root = problem, bought, root
        self.mid_move = mid_move  # a state between waves: the hourly budget is not asked
        self.checked = 0
        # each state checked where it differs from the last that broke nothing
        self.states = StateChecker(problem, bought, root, in_parts=mid_move)

    def broken(self, state: State) -> set[tuple[str, int, int]]:
        self.checked += 1
        violations = self.states.violations(state)
        return {_place(v) for v in violations} - self._unasked()

    def nodes_broken(self, state: State) -> dict[str, Diagnostic]:
        """The nodes where `state` breaks a rule of a node (its capacity, a rule of what may
        run together on it), each with the first violation there; {} where that is not known
        node by node (`StateChecker.breaking`: a policy with a horizon)."""
        self.states.violations(state)  # (the state `broken` read last: read again for nothing)
        parts = self.states.breaking()(lambda found: True)
        base = self.states.base
        if parts is None and base is None:
            return {}
        return {node: base.at_node[node][0] for node in sorted(parts[0] if parts else ())
                if base is not None and base.at_node.get(node)}

    def _unasked(self) -> set[tuple[str, int, int]]:
        budget = self.problem.budget_origin
        if self.mid_move and budget is not None:
            # the hourly budget is of the placement: while work moves, the nodes it leaves and
            # the nodes it goes to run side by side for a while
            return {(budget.path, budget.span.line, budget.span.column)}
        return set()

    def breaking(self) -> Callable[[set[tuple[str, int, int]]], tuple[set[str], set[str]] | None]:
        """Of the state `broken` read last, given what is allowed: the nodes and the demands
        whose parts break a rule beyond it (`StateChecker.breaking`), or None."""
        breaking, unasked = self.states.breaking(), self._unasked()
        return lambda allowed: breaking(lambda v: _place(v) not in allowed and _place(v) not in unasked)


def _place(violation: Diagnostic) -> tuple[str, int, int]:
    """Where the rule a violation breaks stands: what a state breaks is compared by it."""
    return violation.path, violation.span.line, violation.span.column


def _apply(state: State, moves: list[Move], start: bool = True, stop: bool = True) -> State:
    """The state after the moves (their starts, their stops). The nodes no move touches share
    their counts with `state` (copying every node's, per wave and per check of one, was ~0.1 s
    of CPU at 10,000 nodes); no state is changed once made."""
    after = dict(state)
    copied: set[str] = set()

    def counts(node: str, new: bool) -> Counter:
        if node not in copied:
            after[node] = Counter(after.get(node, ()) if new else after[node])
            copied.add(node)
        return after[node]

    for move in moves:
        if start:
            counts(move.target, True)[move.demand] += 1
        if stop and move.source != ELSEWHERE:
            source = counts(move.source, False)
            source[move.demand] -= 1
            if not source[move.demand]:
                del source[move.demand]
    return after


def _in_use(state: State) -> set[str]:
    return {node for node, counts in state.items() if any(counts.values())}


def waves(problem: Problem, placement: Placement, root: str = "",
          handles: RunningNames | None = None,
          out_of_time: Callable[[], bool] = lambda: False) -> MovePlan:
    """The move from `problem.running` to `placement`, in waves (see the module's docstring).
    Where `out_of_time` turns true before every move is in a wave, the plan ends with E0813
    (the fleet shape at 10,000 nodes, seed 2, a pool drained: 19-97 CPU s of waves, past a
    60 s `--time-limit`, session 33)."""
    from fitlang import messages as msg
    from fitlang.span import FIRST_CHARACTER

    start, end = current_state(problem), placed_state(placement)
    bought_now = set(problem.bought_now)
    bought_end = {n for names in placement.bought.values() for n in names}
    plan = MovePlan(state_cost(problem, start, bought_now), state_cost(problem, end, bought_end))
    plan.bought = sorted(bought_end - bought_now, key=_node_order(problem))
    plan.released = sorted(bought_now - bought_end - _in_use(end), key=_node_order(problem))
    plan.least_moves = least_moves(problem, end)
    checker = _Checker(problem, bought_now | bought_end, root, mid_move=True)
    # what runs now may break a rule on a node already (a pool shrunk under an old placement):
    # its replicas stop or move first (`repair_first.py`); past 48 nodes only its capacity is
    # read (what runs now is verified whole for no other rule: the waves read it where needed)
    by_node = sum(c.count for c in problem.classes) <= EXACT_MAX_NODES
    repairs = Repairs(problem, start, checker.nodes_broken(start) if by_node else {}, root)
    pending = moves_between(problem, start, end, handles, rank=repairs.rank)
    plan.stopped = [m for m in pending if m.kind == "stop"]
    pending = repairs.first([m for m in pending if m.kind != "stop"])
    state = _stopped(start, plan.stopped)
    repairs.moved_on(state, 0)
    memo = _Memo()  # (what the waves' `_Room`s share)
    in_use = _InUse(problem, state, bought_now | bought_end)
    replaced: Counter = Counter()  # per workload, its replicas not healthy moved so far
    while pending:
        wave = None if out_of_time() else _next_wave(problem, state, pending, checker, memo,
                                                     out_of_time, replaced)
        if wave is None and out_of_time():
            plan.diagnostics.append(msg.OrderOutOfTime(detail=(
                f"{len(pending)} move(s) left after {len(plan.waves)} wave(s)")).diagnostic(
                root, FIRST_CHARACTER))
            break
        if wave is None:
            first = pending[0]
            plan.diagnostics.append(msg.NoSafeOrder(detail=(
                f"{len(pending)} move(s) left, the first `{first.workload}` from "
                f"`{first.source or 'outside the policy'}` to `{first.target}`")).diagnostic(
                root, FIRST_CHARACTER))
            break
        state = _apply(state, wave.moves)
        wave.drained = sorted(in_use.moved_on(state, wave.moves), key=_node_order(problem))
        wave.cost_after = in_use.cost()
        plan.waves.append(wave)
        replaced.update(m.workload for m in wave.moves if m.kind == "move" and not m.healthy)
        chosen = set(map(id, wave.moves))
        pending = [m for m in pending if id(m) not in chosen]
        repairs.moved_on(state, len(plan.waves))
    plan.diagnostics += repairs.late(len(plan.waves))
    return plan


class _InUse:
    """The nodes in use in the waves' states (`_in_use`) and their cost with the nodes bought
    (`state_cost`), moved on per wave on the nodes its moves touch (read over every node per
    wave, they were ~1 CPU s of the fleet shape's 166 waves at 10,000 nodes)."""

    def __init__(self, problem: Problem, state: State, bought: set[str]) -> None:
        self.problem, self.owners, self.bought = problem, problem.owners(), bought
        self.nodes = _in_use(state)
        self.per_class = Counter(self.owners[node].id for node in self.nodes | bought if node in self.owners)

    def moved_on(self, state: State, moves: list[Move]) -> set[str]:
        """The nodes the moves empty (now in `state`)."""
        touched = {move.target for move in moves} | {m.source for m in moves if m.source != ELSEWHERE}
        emptied = set()
        for node in touched:
            used, was = any(state.get(node, {}).values()), node in self.nodes
            if used == was:
                continue
            if used:
                self.nodes.add(node)
            else:
                self.nodes.discard(node)
                emptied.add(node)
            if node in self.owners and node not in self.bought:
                self.per_class[self.owners[node].id] += 1 if used else -1
        return emptied

    def cost(self) -> Fraction:
        return sum((self.problem.node_class(c).price * k for c, k in self.per_class.items()), Fraction(0))


def _stopped(state: State, stops: list[Move]) -> State:
    after = {node: Counter(counts) for node, counts in state.items()}
    for stop in stops:
        if stop.source != ELSEWHERE:
            after[stop.source][stop.demand] -= 1
    return {node: +counts for node, counts in after.items()}


def _node_order(problem: Problem):
    owners = problem.owners()
    return lambda node: (problem.classes.index(owners[node]) if node in owners else -1,
                         owners.position(node) if node in owners else 0, node)


def _next_wave(problem: Problem, state: State, pending: list[Move], checker: _Checker,
               memo: _Memo | None = None,
               out_of_time: Callable[[], bool] = lambda: False,
               replaced: Counter | None = None) -> Wave | None:
    """The moves that start beside what runs (new replicas started, old ones not yet stopped)
    breaking no rule that holds now, within the budgets; else one move that stops first.
    None where no move can be made, or `out_of_time` turned true (each try is a `verify`).
    `replaced`: per workload, its replicas not healthy moved in the waves before (`WaveBudget`)."""
    if sum(c.count for c in problem.classes) > EXACT_MAX_NODES:
        # what the wave's start breaks is read only where the wave's state breaks a rule (a
        # state that breaks none is within it whatever it is): at inventory 10,000 nodes
        # most waves break none, and each such check was a `verify` of the whole fleet
        at_start = functools.cache(lambda: checker.broken(state))
        batched = _batched_wave(problem, state, pending, checker, at_start, memo=memo,
                                replaced=replaced) or \
            (None if out_of_time() else
             _batched_wave(problem, state, pending, checker, at_start, stop_first=True, memo=memo,
                           replaced=replaced)) or \
            (None if out_of_time() else _together_wave(problem, state, pending, checker, at_start, memo,
                                                       replaced))
        if batched is not None:
            return batched
        allowed = at_start()
    else:
        allowed = checker.broken(state)
    # a node over its capacity takes no new replica until it fits (no wave makes it worse:
    # the checks allow the capacity rule where the wave's start breaks it on any node)
    broken = set(over_capacity(problem, state)) if allowed else set()
    wave = Wave()
    budget = WaveBudget(problem, replaced)
    for move in pending:
        if out_of_time():
            return None
        if (move.kind == "move" and not budget.allows(move.workload, move.healthy)) or \
                move.target in broken:
            continue
        trial = wave.moves + [move]
        if not _drains_within(problem, state, trial):
            continue
        beside = _apply(state, trial, stop=False)
        if checker.broken(beside) <= allowed and not (allowed and _overfilled(problem, beside, trial)):
            wave.moves.append(move)
            budget.take(move.workload, move.healthy)
    if wave.moves:
        return wave
    for move in pending:  # nothing starts beside what runs: stop one first, then start it
        if out_of_time():
            return None
        if WaveBudget(problem, replaced).allows(move.workload, move.healthy) and move.target not in broken \
                and _drains_within(problem, state, [move]) \
                and checker.broken(moved := _apply(state, [move])) <= allowed \
                and not (allowed and _overfilled(problem, moved, [move])):
            return Wave([move], stop_first=True)
    return None if out_of_time() else _together_wave(problem, state, pending, checker, lambda: allowed,
                                                     replaced=replaced)


def _overfilled(problem: Problem, state: State, moves: list[Move]) -> bool:
    """Is a node the moves go to over its capacity in `state`? Where the wave's start breaks
    a capacity rule already, the checker's comparison (rules by where they stand) lets it pass
    on every node of that pool: `differential_plan.py` seed 3351 started a replica on p1-1
    beside the one about to leave it (3 CPU of 2) because p1-0 was over when the wave began."""
    return bool(over_capacity(problem, state, {move.target for move in moves if move.target}))


def _batched_wave(problem: Problem, state: State, pending: list[Move], checker: _Checker,
                  allowed: Callable[[], set[tuple[str, int, int]]], stop_first: bool = False,
                  memo: _Memo | None = None, replaced: Counter | None = None) -> Wave | None:
    """At fleet scale, where `verify` of a state per move would take minutes: the moves, in
    order, whose target has room beside what runs (its capacity, the node rules and the
    spreads' skew, counted as the wave starts them), within the budgets; the wave's state
    checked by `verify` once, and halved until it breaks no rule that held when it began
    (`allowed`: what the state it begins from breaks, asked for where the wave breaks any).
    `stop_first`: each old replica stops before its successor starts (its room is free; a
    replica of a spread workload moves only within its domains). None: no move is taken."""
    room = _Room(problem, state, memo)
    budget = WaveBudget(problem, replaced)
    leaving: Counter = Counter()  # replicas leaving each node in this wave
    emptied: set[str] = set()
    moves: list[Move] = []
    for move in pending:
        if ((move.kind == "move" or stop_first) and not budget.allows(move.workload, move.healthy)) or \
                (stop_first and not room.same_domains(move)):
            continue
        if not stop_first and room.blocked(move.target, move.demand):
            continue
        drains = _empties(state, room, leaving, move)
        if problem.max_drained is not None and drains and len(emptied) + 1 > problem.max_drained:
            continue
        if stop_first and move.source != ELSEWHERE:
            room.release(move.source, move.demand)
        if not room.takes(move.target, move.demand, stop_first):
            if stop_first and move.source != ELSEWHERE:
                room.release(move.source, move.demand, -1)
            continue
        _start(room, move, drains, emptied, leaving)
        budget.take(move.workload, move.healthy)
        moves.append(move)
    return _verified(problem, state, moves, checker, allowed, stop_first)


def _start(room: _Room, move: Move, drains: bool, emptied: set[str], leaving: Counter) -> None:
    """The move's replica started on its target in the wave being made: the room it takes, the
    node it empties (a later move may come to it), its source's replicas leaving."""
    room.add(move.target, move.demand)
    emptied.discard(move.target)
    if drains:
        emptied.add(move.source)
    if move.source != ELSEWHERE:
        leaving[move.source] += 1


def _verified(problem: Problem, state: State, moves: list[Move], checker: _Checker,
              allowed: Callable[[], set[tuple[str, int, int]]], stop_first: bool) -> Wave | None:
    """The wave of the most of `moves` whose state `verify` finds breaking no rule beyond
    `allowed`; None if none. Where the wave breaks one, the moves that start a replica on a
    node that breaks it, or move a replica of a demand whose rules it breaks, are left out
    (`_left_out`; on the node's or demands' own, the rest break only what they broke at the
    start), else (a fleet rule) the moves halved. Each wave kept empties at most `max_drained`
    nodes (a move left out may be one that came to a node the others empty)."""
    while moves:
        if not _drains_within(problem, state, moves):
            moves = moves[: len(moves) // 2]
            continue
        broken = checker.broken(_apply(state, moves, stop=stop_first))
        breaking = checker.breaking()
        if not broken or broken <= allowed():
            return Wave(moves, stop_first=stop_first)
        moves = _left_out(moves, breaking(allowed()))
    return None


def _left_out(moves: list[Move], breaking: tuple[set[str], set[str]] | None) -> list[Move]:
    """The moves without those that start a replica on one of the nodes or move one of the
    demands `breaking` names; the first half where it names none (or is None)."""
    if breaking is not None:
        nodes, demands = breaking
        kept = [move for move in moves if move.target not in nodes and move.demand not in demands]
        if len(kept) < len(moves):
            return kept
    return moves[: len(moves) // 2]


# rounds of `_together_wave` before it gives up (each drops the moves the last one could not
# start; the fleet shape at 10,000, a pool drained: 472 moves left in cycles of up to 44 nodes)
TOGETHER_ROUNDS = 8


def _together_wave(problem: Problem, state: State, pending: list[Move], checker: _Checker,
                   allowed: Callable[[], set[tuple[str, int, int]]],
                   memo: _Memo | None = None, replaced: Counter | None = None) -> Wave | None:
    """Where no move starts beside what runs and none stopped first alone has room: the
    moves whose replicas all stop before any starts (a `stop_first` wave), within the budgets,
    so that a cycle of moves through full nodes (x from A to B, y from B to A) is one wave.
    Each round stops every candidate and starts those with room; the ones without are
    dropped and the rest tried again, until every candidate starts (its room was freed by
    stops that happen). The fleet shape at 10,000 with a pool drained ended with E0812 and
    472 moves left, every one into a full node that another leaves (session 33)."""
    candidates = list(pending)
    for _ in range(TOGETHER_ROUNDS):
        started = _started_together(problem, state, candidates, _Room(problem, state, memo), replaced)
        if not started:
            return None
        if len(started) == len(candidates):
            return _verified(problem, state, started, checker, allowed, True)
        candidates = started
    return None


def _started_together(problem: Problem, state: State, moves: list[Move], room: _Room,
                      replaced: Counter | None = None) -> list[Move]:
    """Of `moves`, within the budgets (`max_disrupted`, the spreads' domains), every replica
    stopped; then, in order, those whose target has room (`max_drained` kept)."""
    budget = WaveBudget(problem, replaced)
    stopped = []
    for move in moves:
        if not budget.allows(move.workload, move.healthy) or not room.same_domains(move):
            continue
        budget.take(move.workload, move.healthy)
        if move.source != ELSEWHERE:
            room.release(move.source, move.demand)
        stopped.append(move)
    leaving: Counter = Counter()
    emptied: set[str] = set()
    started = []
    for move in stopped:
        drains = _empties(state, room, leaving, move)
        if problem.max_drained is not None and drains and len(emptied) + 1 > problem.max_drained:
            continue
        if not room.takes(move.target, move.demand, stop_first=True):
            continue
        _start(room, move, drains, emptied, leaving)
        started.append(move)
    return started


def _empties(state: State, room: _Room, leaving: Counter, move: Move) -> bool:
    """Does the move take the last replica off its node (one no move of the wave comes to)?"""
    if move.source == ELSEWHERE or room.arrived[move.source]:
        return False
    return sum(state.get(move.source, {}).values()) - leaving[move.source] == 1


@dataclass
class _Memo:
    """What the `_Room`s of one plan's waves share: each spread's domains (`_empty_domains`),
    and the (node, demand) pairs whose node could not take the demand's replica beside what
    ran there, with the node's replicas then (the state's object for the node: `_apply` makes
    a new one where a wave changes the node, and no state is changed once made), so that a
    move waiting for its target to empty is not tried again in each wave until it does (the
    fleet shape at 10,000, a pool drained: 166 waves, ~1,100 such tries each, ~4 CPU s)."""

    domains: dict[tuple[tuple[str, ...], str], Counter] = field(default_factory=dict)
    blocked: dict[tuple[str, str], object] = field(default_factory=dict)
    state: State | None = None  # the state `hosting` is of
    hosting: dict[str, dict[str, int]] = field(default_factory=dict)

    def hosting_of(self, state: State) -> dict[str, dict[str, int]]:
        """Demand -> node -> its replicas there in `state`: the last state's, read again on
        the nodes whose object differs (read whole per wave, ~10 ms of each at 10,000 nodes)."""
        if state is self.state:
            return self.hosting
        last: State = {} if self.state is None else self.state
        changed = [node for node, hosted in state.items() if last.get(node) is not hosted]
        for node in changed + list(last.keys() - state.keys()):
            for name in last.get(node, ()):
                self.hosting.get(name, {}).pop(node, None)
            for name, amount in state.get(node, {}).items():
                if amount:
                    self.hosting.setdefault(name, {})[node] = amount
        self.state = state
        return self.hosting


_UNSEEN = object()  # (`_Memo.blocked` of a pair never blocked)
_NOTHING: dict[str, int] = {}  # (a node that hosts nothing)


class _Room:
    """The resources in use on each node of a state, with the replicas a wave starts (and
    stops), and each spread's replicas per domain."""

    def __init__(self, problem: Problem, state: State, memo: _Memo | None = None) -> None:
        from fitlang.model.problem import RESOURCES

        self.problem, self.resources = problem, RESOURCES
        self.owners = problem.owners()
        self.apart, self.alone = problem.apart_on_nodes
        self.state = state
        self.added: dict[str, Counter] = {}
        self.arrived: Counter = Counter()
        self.used: dict[str, dict[str, int]] = {}
        self.spread: dict[str, list[Counter]] = {}  # demand -> per spread: domain -> replicas
        self.most: dict[tuple[str, int], int] = {}  # (demand, spread index) -> `_most`
        self.started: Counter = Counter()  # (demand, spread index, domain) -> started in the wave
        self.memo = _Memo() if memo is None else memo
        self.domains = self.memo.domains  # (`_empty_domains`)

    def _used(self, node: str) -> dict[str, int]:
        if node not in self.used:
            hosted = self.state.get(node, Counter())
            self.used[node] = {r: sum(self.problem.demand(d).requests[r] * c for d, c in hosted.items())
                               for r in self.resources}
        return self.used[node]

    def _domains(self, name: str) -> list[Counter]:
        """Per spread of the demand, its replicas per domain now (every domain of its classes)."""
        if name not in self.spread:
            from fitlang.rules.base import domain_of

            demand = self.problem.demand(name)
            per_spread = []
            for spread in demand.spreads:
                counts = Counter(self._empty_domains(demand, spread.topology))
                for node, amount in self.memo.hosting_of(self.state).get(name, {}).items():
                    domain = domain_of(node, self.owners[node], spread.topology)
                    if domain is not None:
                        counts[domain] += amount
                per_spread.append(counts)
            self.spread[name] = per_spread
        return self.spread[name]

    def _empty_domains(self, demand: Demand, topology: str) -> Counter:
        """Every domain of the demand's classes over the topology, at 0 (none over `node`).
        The same for every wave of a plan: found once (at 10,000 nodes a demand has hundreds
        of eligible classes, and each wave asked again), per list of eligible classes (5,000
        small workloads with a spread, on 1,500 one-node pools: ~2 CPU s of a plan's waves
        found per demand)."""
        key = (tuple(demand.eligible), topology)
        if key not in self.domains:
            counts: Counter = Counter()
            if topology != "node":
                for class_id in demand.eligible:
                    value = self.problem.node_class(class_id).topology_value(topology)
                    if value is not None:
                        counts[value] += 0
            self.domains[key] = counts
        return self.domains[key]

    def _skew_allows(self, node: str, name: str) -> bool:
        """One more replica on the node keeps every spread within its skew (against the
        least per domain now: starting replicas only raises it)."""
        from fitlang.rules.base import domain_of

        demand = self.problem.demand(name)
        for index, (spread, counts) in enumerate(zip(demand.spreads, self._domains(name))):
            domain = domain_of(node, self.owners[node], spread.topology)
            if domain is None:
                continue
            if counts[domain] + self.started[name, index, domain] + 1 > self._most(name, index):
                return False
        return True

    def _most(self, name: str, index: int) -> int:
        """The most replicas a domain of the demand's spread may hold in the wave: the least
        per domain now (starting replicas only raises it) plus the skew, or, where the spread
        is broken already (a drained zone), its most now (it may stay so, no worse). Of the
        counts at the wave's start: found once (per replica tried, it was ~0.1 s a plan)."""
        key = (name, index)
        if key not in self.most:
            spread, counts = self.problem.demand(name).spreads[index], self._domains(name)[index]
            least = 0 if spread.topology == "node" else min(counts.values(), default=0)
            self.most[key] = max(least + spread.max_skew, max(counts.values(), default=0))
        return self.most[key]

    def same_domains(self, move: Move) -> bool:
        """Does the move keep its replica in the same domain of each of its spreads?"""
        from fitlang.rules.base import domain_of

        spreads = self.problem.demand(move.demand).spreads
        if not spreads or move.source == ELSEWHERE:
            return not spreads
        source, target = self.owners[move.source], self.owners[move.target]
        return all(spread.topology != "node" and domain_of(move.source, source, spread.topology)
                   == domain_of(move.target, target, spread.topology) for spread in spreads)

    def takes(self, node: str, name: str, stop_first: bool = False) -> bool:
        """Does the node take one more replica of the demand (its node rules, its room, and
        unless `stop_first` each spread's skew)?"""
        if stop_first:
            return self._fits(node, name)
        if self.blocked(node, name):
            return False
        if not self._fits(node, name):
            if node not in self.added:  # nothing started there in this wave: what runs blocks it
                self.memo.blocked[node, name] = self.state.get(node)
            return False
        return self._skew_allows(node, name)

    def blocked(self, node: str, name: str) -> bool:
        """Did the node not take a replica of the demand beside the replicas it hosts now
        (`_Memo.blocked`)? Then it does not (more replicas started take more room)."""
        return self.memo.blocked.get((node, name), _UNSEEN) is self.state.get(node)

    def _fits(self, node: str, name: str) -> bool:
        """The node rules and the resources of one more replica of the demand on the node."""
        demand = self.problem.demand(name)
        # (what runs and what the wave started, read in place: a Counter summed per try was
        # half of the ~0.17 CPU s a plan at 10,000 nodes spent in `takes`)
        now, added = self.state.get(node, _NOTHING), self.added.get(node, _NOTHING)
        if demand.one_per_node and (now.get(name, 0) > 0 or added.get(name, 0) > 0):
            return False
        others = [d for hosted in (now, added) for d, c in hosted.items() if c > 0 and d != name]
        if others and (name in self.alone or any(d in self.alone for d in others)):
            return False
        apart = self.apart.get(name)
        if apart and any(d in apart for d in others):
            return False
        node_class = self.owners[node]
        capacity = node_class.node_capacity.get(node, node_class.capacity)
        used = self._used(node)
        return all(used[r] + demand.requests[r] <= capacity[r] for r in self.resources)

    def add(self, node: str, name: str) -> None:
        from fitlang.rules.base import domain_of

        used = self._used(node)
        for resource in self.resources:
            used[resource] += self.problem.demand(name).requests[resource]
        self.added.setdefault(node, Counter())[name] += 1
        self.arrived[node] += 1
        for index, spread in enumerate(self.problem.demand(name).spreads):
            self.started[name, index, domain_of(node, self.owners[node], spread.topology)] += 1

    def release(self, node: str, name: str, sign: int = 1) -> None:
        """A replica stopped on the node before the wave starts its successor (-1: undone)."""
        used = self._used(node)
        for resource in self.resources:
            used[resource] -= sign * self.problem.demand(name).requests[resource]


def _drains_within(problem: Problem, state: State, moves: list[Move]) -> bool:
    if problem.max_drained is None:
        return True
    emptied = _in_use(state) - _in_use(_apply(state, moves))
    return len(emptied) <= problem.max_drained


# ---- at scale: the class counts packed around the replicas that stay ----------------------

def kept_in_place(problem: Problem, placement: Placement, root: str = "",
                  deadline: float | None = None) -> Placement:
    """The placement's counts per class, packed again around what runs: in each class, the
    nodes that keep the most running replicas first (as many as the class had in use), each
    keeping what runs on it up to the class's count; the rest first fit onto the class's
    nodes in use, then onto more (keeping the node rules the packers keep). Taken when it
    moves fewer replicas, costs no more, and `verify` finds it keeps every rule; else the
    placement as it was (`keep_in_place` matched its nodes to the running ones), as it is
    where the `deadline` passes before the check (the move's share of the plan's limit)."""
    owners = problem.owners()
    packed = placed_state(placement)
    counts: dict[tuple[str, str], int] = Counter()
    in_use: Counter = Counter()
    for node, hosted in packed.items():
        in_use[owners[node].id] += 1
        for demand, amount in hosted.items():
            counts[demand, owners[node].id] += amount
    now = current_state(problem)
    need = {d.name: [d.requests[r] for r in RESOURCES] for d in problem.demands}
    state: State = {}
    for node_class in problem.classes:
        if not in_use[node_class.id]:
            continue
        filled = _fill_class(problem, node_class, (counts, need), in_use[node_class.id], now, deadline)
        if filled is None:
            return placement
        state.update(filled)
    bought_now = set(problem.bought_now)
    bought = {n for n in state if owners[n].provisioned}
    before = state_cost(problem, packed, {n for names in placement.bought.values() for n in names})
    if state_cost(problem, state, bought) > before or \
            (least_moves(problem, state) >= least_moves(problem, packed) and \
            _moved(problem, state) >= _moved(problem, packed)):
        return placement
    if _passed(deadline) or _Checker(problem, bought | bought_now, root).broken(state):
        return placement
    return _as_placement(problem, placement, state)


def _passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _moved(problem: Problem, state: State) -> int:
    return replicas_moved(problem, current_state(problem), state)


def _fill_class(problem: Problem, node_class, wanted: tuple[dict, dict], opened: int, now: State,
                deadline: float | None = None) -> State | None:
    """One class's replicas on its nodes, around what runs (see `kept_in_place`; `wanted`:
    the replicas per demand and class, each demand's requests per resource); None where they
    do not fit or the deadline passes. Each node's room is kept as it fills (read again from
    what it hosts for each try, the classes at 10,000 nodes took 2.2 s)."""
    counts, need = wanted
    owners = problem.owners()
    members = [n for n in now if owners[n].id == node_class.id]
    left = {d.name: counts.get((d.name, node_class.id), 0) for d in problem.demands}
    members.sort(key=lambda n: (-sum(min(c, left[d]) for d, c in now[n].items() if d in left),
                                owners.position(n)))
    state: State = {}
    room: dict[str, list[int]] = {}
    for node in members[:opened]:
        kept = Counter({d: min(c, left[d]) for d, c in now[node].items() if left.get(d)})
        for demand, amount in kept.items():
            left[demand] -= amount
        state[node] = +kept
        room[node] = [node_class.capacity[r] - sum(need[d][i] * c for d, c in kept.items())
                      for i, r in enumerate(RESOURCES)]
    spare = (n for n in node_class.node_names[: node_class.count] if n not in state)
    apart, alone = problem.apart_on_nodes
    for demand in problem.demands:
        requests = need[demand.name]
        for _ in range(left[demand.name]):
            if _passed(deadline):
                return None
            found = next((n for n in state if _takes(state[n], room[n], demand, requests, apart, alone)),
                         None)
            if found is None:  # a node more of the class
                found = next(spare, None)
                if found is None:
                    return None
                state[found] = Counter()
                room[found] = [node_class.capacity[r] for r in RESOURCES]
                if not _takes(state[found], room[found], demand, requests, apart, alone):
                    return None
            state[found][demand.name] += 1
            room[found] = [free - amount for free, amount in zip(room[found], requests)]
    return {n: c for n, c in state.items() if c}


def _takes(hosted: Counter, room: list[int], demand, need: list[int], apart, alone) -> bool:
    """Does a node that hosts `hosted`, with `room` left, take one more replica of `demand`?"""
    if demand.one_per_node and hosted[demand.name]:
        return False
    if any(free < amount for free, amount in zip(room, need)):
        return False
    others = [d for d, c in hosted.items() if c and d != demand.name]
    if others and (demand.name in alone or any(d in alone for d in others)):
        return False
    return not any(d in apart.get(demand.name, ()) for d in others)


def _as_placement(problem: Problem, placement: Placement, state: State) -> Placement:
    from fitlang.solve.placement_result import Assignment

    owners = problem.owners()
    order = {d.name: i for i, d in enumerate(problem.demands)}
    number: Counter = Counter()
    assignments = []
    for node in sorted(state, key=_node_order(problem)):
        for demand in sorted(state[node], key=order.__getitem__):
            for _ in range(state[node][demand]):
                assignments.append(Assignment(demand, number[demand], node))
                number[demand] += 1
    bought: dict[str, list[str]] = {}
    for node in sorted(state, key=_node_order(problem)):
        if owners[node].provisioned:
            bought.setdefault(owners[node].id, []).append(node)
    return dataclasses.replace(placement, assignments=assignments, bought=bought)
