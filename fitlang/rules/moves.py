"""Moving work (`fitc plan`): keep running replicas where they run, unless moving them pays.

Where the problem carries a current state (`Problem.running`, set by `model/build.with_current`),
each demand that runs on a class now gets stay columns s[d,c]: replicas of d that stay on the
nodes of class c where they run, with

    0 <= s[d,c] <= cur[d,c]        (at most what runs there now)
    s[d,c] <= y[d,c]               (a replica stays only where the placement keeps one)

so that moves = running - sum s is the least number of replicas that change node for the
class counts y (exact when every node is its own class, which `placement.solve` makes of
fleets up to 48 nodes; at scale the plan keeps replicas on their own nodes within a class,
see `solve/moving.py`). A workload that may not move (`movable = false`, or a disruption
budget of 0) has s[d,c] = cur[d,c]: its replicas stay.

The objectives: `moves` (the least moves: minus the stays, the constant `running` dropped),
and `cost+moves` (cost plus `move_price` per move, node drained and node bought: `move_price`
is in USD/h because the cost is; a move is made only if it saves at least that much per hour).
`solve/moving.py` chooses between them and the policy's lexicographic list. They are handed
to the encoding through its `cache` under `ObjectiveTerms(name)`, which `Encoding.objective`
reads.

A budget limits one wave of the move, not the whole move (the plan orders the moves in
waves, `fitlang/plan.py`), so the budgets add no rows here.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.rules.base import GroupKey, Rows, Rule
from fitlang.span import FIRST_CHARACTER, Span

if TYPE_CHECKING:  # solve comes after the rules
    from fitlang.check.program import Origin, Program
    from fitlang.model.problem import Problem
    from fitlang.solve.encode import DemandColumns, Encoding
    from fitlang.solve.linear import Number


class StayGroup(GroupKey, Frozen):
    """The stay rows of one workload (s <= y)."""

    workload: str


class ObjectiveTerms(Frozen):
    """An objective a rule adds to the encoding (`Encoding.objective` reads it by name)."""

    name: str


class _Stays(Frozen):
    """The cache key of the stay columns made so far: [column s]."""


class _StaysOnClass(Frozen):
    """The cache key of the stay columns made so far per class: class id -> [column s]."""


def current_per_class(encoding: Encoding) -> dict[str, dict[str, int]]:
    """Demand -> class id -> its replicas running there now (worked out once per encoding)."""
    key = _CurrentKey()
    cached = encoding.cache.get(key)
    if cached is None:
        problem = encoding.problem
        owners = problem.owners()
        cached = {}
        for demand, nodes in problem.running.items():
            per_class = cached.setdefault(demand, {})
            for node, count in nodes.items():
                node_class = owners.get(node)
                if node_class is not None:
                    per_class[node_class.id] = per_class.get(node_class.id, 0) + count
        encoding.cache[key] = cached
    return cached


class _CurrentKey(Frozen):
    """The cache key of `current_per_class`."""


def stay_columns(encoding: Encoding, made: DemandColumns) -> None:
    """s[d,c] for every class where the demand runs now and may still run."""
    problem = encoding.problem
    if not problem.running:
        return
    demand = made.demand
    current = current_per_class(encoding).get(demand.name)
    if not current:
        return
    model = encoding.model
    columns = encoding.y.of.get(demand.name, {})
    pinned = demand.name in problem.pinned
    stays: list[int] = encoding.cache.setdefault(_Stays(), [])
    on_class: dict[str, list[int]] = encoding.cache.setdefault(_StaysOnClass(), {})
    raised: list[tuple[int, int, int, int]] = []  # (s, its healthy part, healthy, not) a class
    for class_id in sorted(current, key=lambda c: (c not in columns, c)):
        y = columns.get(class_id)
        if y is None:
            continue  # it may not run there any more: those replicas move
        count = current[class_id]
        stay = model.var(f"s[{demand.name},{class_id}]", count if pinned else 0, count)
        model.add({stay: 1, y: -1}, upper=0, group=StayGroup(demand.workload))
        stays.append(stay)
        on_class.setdefault(class_id, []).append(stay)
        if demand.name in problem.raise_first:
            unhealthy = _unhealthy_per_class(encoding).get(demand.name, {}).get(class_id, 0)
            healthy = model.var(f"sh[{demand.name},{class_id}]", 0, count - unhealthy)
            model.add({healthy: 1, stay: -1}, upper=0, group=StayGroup(demand.workload))
            raised.append((stay, healthy, count - unhealthy, unhealthy))
    if demand.name in problem.raise_first:
        _raised_first(encoding, demand.name, demand.workload, raised)


def _raised_first(encoding: Encoding, name: str, workload: str, raised: list[tuple[int, int, int, int]]
                  ) -> None:
    """A budget of 0 that its replicas not healthy raise once moved (`Problem.raise_first`):
    a healthy replica leaves its node only where at least that many replicas not healthy
    leave theirs (z = 1). Each class's stays split into healthy ones (sh <= s) and the rest
    (s - sh <= not healthy there). Exact node by node; a plan's waves move a node's replicas
    not healthy first, which leaves at least as many of them as any split the model makes."""
    model = encoding.model
    need = encoding.problem.raise_first[name]
    current = current_per_class(encoding)[name]
    unhealthy = _unhealthy_per_class(encoding).get(name, {})
    healthy_now = sum(count - unhealthy.get(c, 0) for c, count in current.items())
    unhealthy_now = sum(unhealthy.values())
    raises = model.var(f"raised[{name}]", 0, 1)
    # healthy leaving = healthy_now - sum sh <= healthy_now x z
    model.add({**{h: 1 for _, h, _, _ in raised}, raises: healthy_now}, lower=healthy_now,
              group=StayGroup(workload))
    # not healthy leaving = unhealthy_now - sum (s - sh) >= need x z
    terms: dict[int, Number] = {raises: need}
    for stay, healthy, _, _ in raised:
        terms[stay] = terms.get(stay, 0) + 1
        terms[healthy] = terms.get(healthy, 0) - 1
    model.add(terms, upper=unhealthy_now, group=StayGroup(workload))
    for stay, healthy, _, not_healthy in raised:
        model.add({stay: 1, healthy: -1}, upper=not_healthy, group=StayGroup(workload))


def _unhealthy_per_class(encoding: Encoding) -> dict[str, dict[str, int]]:
    """Demand -> class id -> its replicas not healthy running there now (nodes the policy
    lacks aside)."""
    key = _UnhealthyKey()
    cached = encoding.cache.get(key)
    if cached is None:
        owners = encoding.problem.owners()
        cached = {}
        for demand, nodes in encoding.problem.unhealthy.items():
            for node, count in nodes.items():
                if node and node in owners:
                    per_class = cached.setdefault(demand, {})
                    per_class[owners[node].id] = per_class.get(owners[node].id, 0) + count
        encoding.cache[key] = cached
    return cached


class _UnhealthyKey(Frozen):
    """The cache key of `_unhealthy_per_class`."""


class MoveCapGroup(GroupKey, Frozen):
    """The policy's `max_moves`: the stays at least what runs less the moves it allows."""


def move_objectives(encoding: Encoding) -> None:
    """The `moves` and `cost+moves` objectives, once every stay column is made, and the
    policy's cap on the moves (`max_moves`): moves = running - sum s <= max_moves, the
    running replicas counted as the objective counts them (`moving.dropped_constant`: at most
    what the policy asks for; those beyond stop). Exact where every node is its own class;
    over classes the stays may count replicas that change node within a class, so the
    planner counts the target's moves again (`moving.within_move_cap`)."""
    problem = encoding.problem  # (without a current state: nothing runs, nothing moves)
    stays: list[int] = encoding.cache.get(_Stays(), [])
    if problem.max_moves is not None and stays:  # (none: every replica must move, `forced_moves`)
        running = sum(min(problem.running_total(d.name), d.replicas) for d in problem.demands)
        if running > problem.max_moves:
            encoding.model.add(dict.fromkeys(stays, 1), lower=running - problem.max_moves,
                               group=MoveCapGroup())
    moves: dict[int, Number] = {stay: -1 for stay in stays}
    encoding.cache[ObjectiveTerms("moves")] = moves
    price = problem.move_price or 0
    cost: dict[int, Number] = {encoding.u[c.id]: c.price for c in problem.classes if c.price}
    cost.update((stay, -price) for stay in stays if price)
    if price:
        cost.update((change, price) for change in _node_changes(encoding))
    encoding.cache[ObjectiveTerms("cost+moves")] = cost


class NodeChangeGroup(GroupKey, Frozen):
    """A class's nodes drained (in use now, empty at the end) or bought (new nodes of an offer)."""

    node_class: str


def _node_changes(encoding: Encoding) -> list[int]:
    """Per class in use now (k of its nodes: hosting a replica, or bought earlier), the nodes
    drained, d >= k - u; per offer class, the nodes bought, b >= u - k: what `move_price`
    prices beside the replicas moved (a node drained or released; a node bought)."""
    problem, model = encoding.problem, encoding.model
    owners = problem.owners()
    in_use: dict[str, set[str]] = {}
    for nodes in problem.running.values():
        for node in nodes:
            in_use.setdefault(owners[node].id, set()).add(node)
    for node in problem.bought_now:
        in_use.setdefault(owners[node].id, set()).add(node)
    changes: list[int] = []
    for node_class in problem.classes:
        now, u = len(in_use.get(node_class.id, ())), encoding.u[node_class.id]
        if now:
            drained = model.var(f"drained[{node_class.id}]", 0, now)
            model.add({drained: 1, u: 1}, lower=now, group=NodeChangeGroup(node_class.id))
            changes.append(drained)
        if node_class.provisioned:
            bought = model.var(f"bought[{node_class.id}]", 0, node_class.count)
            model.add({bought: 1, u: -1}, lower=-now, group=NodeChangeGroup(node_class.id))
            changes.append(bought)
    return changes


class KeptNodesGroup(GroupKey, Frozen):
    """A class's stays, at most what runs on as many of its nodes as end in use."""

    node_class: str


def kept_node_rows(encoding: Encoding) -> int:
    """Rows that charge the moves of emptying some of a class's nodes: replicas that stay on
    their node stay on a node that ends in use, so the class's stays are at most what runs
    now on its u nodes (u: its nodes in use at the end) that run the most,

        sum_d s[d,c] <= T(u),   T(u) = the replicas on the u nodes of c that run the most,

    and T, a sum of loads sorted largest first, is concave: it is the least of the lines
    through (j, T(j)) and (j+1, T(j+1)), each a row (one per distinct load: the lines of
    equal loads are one). Without them the class counts let a class keep every replica that
    runs on it while it empties nodes (inventory 1,000: 77 nodes emptied within their
    classes, their replicas counted as staying). Each row holds at every end state (the
    `move_model_bound` proof: s counts the replicas that stay on their node, u the nodes in
    use): the rows keep the model a bound. The number of rows made."""
    problem, model = encoding.problem, encoding.model
    stays: dict[str, list[int]] = encoding.cache.get(_StaysOnClass(), {})
    owners = problem.owners()
    loads: dict[str, Counter] = {}
    for nodes in problem.running.values():
        for node, count in nodes.items():
            node_class = owners.get(node)
            if node_class is not None:
                loads.setdefault(node_class.id, Counter())[node] += count
    made = 0
    for class_id, columns in stays.items():
        u = encoding.u.get(class_id)
        if u is None or class_id not in loads:
            continue
        sorted_loads = sorted(loads[class_id].values(), reverse=True)
        kept = 0  # T(j)
        for j, load in enumerate(sorted_loads):
            if j == 0 or load != sorted_loads[j - 1]:  # T(j) + load (u - j), a row per distinct load
                terms = dict.fromkeys(columns, 1)
                terms[u] = terms.get(u, 0) - load
                model.add(terms, upper=kept - load * j, group=KeptNodesGroup(class_id))
                made += 1
            kept += load
    return made


RULE = Rule("moves", rows=Rows(columns=stay_columns, limits=move_objectives))


# ---- a wave's budgets (the planner's waves, `solve/moving.py`, and `fitc verify` of a plan) --

class WaveBudget:
    """The disruption budgets of one wave, replica by replica: a workload moves at most its
    `Problem.max_disrupted`; where some of its replicas are not healthy
    (`Problem.health_budgets`), a healthy replica moved spends one of its healthy replicas
    beyond those that must stay, one not healthy spends none where the API server lets it go
    free (`HealthBudget`), and its own `max_disrupted` counts both. `replaced`: workload -> its
    replicas not healthy moved in the waves before this one, whose successors count healthy
    now: a wave's runner waits for the replicas it starts to be Ready before the next wave
    (the Kubernetes target's `kubectl rollout status`), never within the wave (the safe
    reading: the successors of this wave's moves are not counted in it)."""

    def __init__(self, problem: Problem, replaced: Counter | None = None) -> None:
        self.problem = problem
        self.replaced: Counter = replaced or Counter()
        self.moved: Counter = Counter()  # per workload, every replica moved in the wave
        self.spent: Counter = Counter()  # per workload, the budget its moves spent

    def allows(self, workload: str, healthy: bool = True) -> bool:
        """May one more replica of `workload` move in this wave?"""
        health = self.problem.health_budgets.get(workload)
        if health is None:
            limit = self.problem.max_disrupted.get(workload)
            return limit is None or self.moved[workload] < limit
        if health.own is not None and self.moved[workload] >= health.own:
            return False
        return self.free(workload, healthy) or \
            self.spent[workload] < max(0, health.above + self.replaced[workload])

    def take(self, workload: str, healthy: bool = True) -> None:
        """One replica of `workload` moves in this wave."""
        self.spent[workload] += not self.free(workload, healthy)
        self.moved[workload] += 1

    def limit(self, workload: str) -> int | None:
        """The most healthy replicas of `workload` this wave may move (None: no limit)."""
        health = self.problem.health_budgets.get(workload)
        if health is None:
            return self.problem.max_disrupted.get(workload)
        allowed = max(0, health.above + self.replaced[workload])
        return allowed if health.own is None else min(health.own, allowed)

    def free(self, workload: str, healthy: bool) -> bool:
        """Does a replica of `workload` (`healthy` or not) move free of the budget?"""
        health = self.problem.health_budgets.get(workload)
        if healthy or health is None:
            return False
        return health.always or (health.must_stay > 0 and health.above + self.replaced[workload] >= 0)


# ---- verify: a wave's budgets (`fitc verify` of a plan, solve/verify_plan.py) ----------------

class WaveMoves(Frozen):
    """What one wave of a plan does, as the plan's verifier replays it: the workload of each
    replica moved (kind "move": from a node to another), with the node it leaves, and the
    nodes the wave empties."""

    number: int
    moved: tuple[tuple[str, str], ...]  # (workload, source node or "" for outside the policy)
    emptied: tuple[str, ...]
    # the workload of each replica moved that was not healthy (one entry per such move)
    unhealthy: tuple[str, ...] = ()


def check_wave(problem: Problem, program: Program, wave: WaveMoves, root: str,
               replaced: Counter | None = None) -> list[Diagnostic]:
    """The budgets of one wave, restated over its moves (not the planner's counters): a
    workload moves at most its disruption budget (over its healthy replicas where some are
    not healthy: `WaveBudget`, `replaced` those replaced in the waves before), a workload that
    may not move moves not at all, the wave empties at most `max_drained` nodes."""
    from fitlang import messages as msg

    found: list[Diagnostic] = []
    pinned = {problem.demand(d).workload for d in problem.pinned}
    moved = Counter(workload for workload, _ in wave.moved)
    unhealthy = Counter(wave.unhealthy)
    for workload, count in sorted(moved.items()):
        declared = program.workloads[workload]
        if workload in pinned:
            source = next(s for w, s in wave.moved if w == workload)
            why = "`movable = false`" if not declared.movable else "its disruption budget is 0"
            found.append(msg.PinnedReplicaMoved(wave=wave.number, workload=workload,
                                                source=source or "outside the policy",
                                                why=why).diagnostic(*_at(
                declared.spans.get("movable", declared.origin), root)))
            continue
        budget = WaveBudget(problem, replaced)
        over = None
        for healthy in [False] * unhealthy[workload] + [True] * (count - unhealthy[workload]):
            if over is None and not budget.allows(workload, healthy):
                over = budget.limit(workload)
            budget.take(workload, healthy)
        if over is not None:
            spent = budget.spent[workload] if workload in problem.health_budgets else count
            found.append(msg.WaveOverBudget(
                wave=wave.number, moved=spent, workload=workload, budget=over,
                source=budget_source(program, workload, over, problem)).diagnostic(*_at(
                declared.spans.get("max_disrupted", declared.origin), root)))
    limit = problem.max_drained
    if limit is not None and len(wave.emptied) > limit:
        policy = program.policy
        found.append(msg.WaveDrainsTooMany(wave=wave.number, drained=len(wave.emptied),
                                           nodes=", ".join(wave.emptied), limit=limit).diagnostic(
            *_at(policy.spans.get("max_drained", policy.origin), root)))
    return found


def _at(origin: Origin | None, root: str) -> tuple[str, Span]:
    """Where a diagnostic points: the attribute, else the root file's first character."""
    return (origin.path, origin.span) if origin is not None else (root, FIRST_CHARACTER)


def budget_source(program: Program, workload: str, budget: int, problem: Problem | None = None) -> str:
    """Where a workload's disruption budget comes from, for messages: its own `max_disrupted`
    where that gives the budget, else the cluster's (a PodDisruptionBudget: the least holds),
    over its healthy replicas where some are not healthy."""
    declared = program.workloads[workload]
    own = declared.max_disrupted
    if own is None and declared.max_disrupted_share is not None:
        own = math.ceil(declared.max_disrupted_share * declared.replicas)
    if own is not None and own == budget:
        return " (its `max_disrupted`)"
    if problem is not None and workload in problem.health_budgets:
        return (" (the cluster's disruption budget for it, over its healthy replicas: those not "
                "healthy move free where the API server allows it)")
    return " (the cluster's disruption budget for it)"
