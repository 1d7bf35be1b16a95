"""The fleet at rest's layout taken over group by group (`fitc plan` past `LARGE_NODES` nodes;
issue 18).

The move's stages start from what runs now and change a node, a pool, a workload's option or
a group's counts at a time; at inventory 10,000 the plan's end still costs 7.5-18.3 USD/h over
the fleet solved at rest (session 49, h49e: 61-100% of its gap), and stays 5.3-15.8 over it
with moves almost free (h44e): no local step reaches the cheaper end states. Here the move
starts from the other end:

1. the policy is solved at rest (`placement.solve` of the plan's problem with nothing running,
   the nodes' cost its objective) in a child process beside the move (`RestBeside`), until
   the move's regroup stage;
2. per group of zones (every priced zone together; where that does not pay, each
   jurisdiction's priced zones, as `zone_regroup` groups them; where that does not, each of
   their zones alone; a group only where its nodes at rest cost `LEAST_SAVING` less, and its
   parts only then), the group's movable replicas are taken off its priced nodes
   (`zone_regroup._Regroup`: a replica held to its zone keeps its zone's count, but where it
   and every workload its rules over zones tie it to run as at rest outside the group: then
   the group's zones take their counts at rest, `_following`), and laid out as at rest: each
   of the rest placement's nodes of a class matched to a node of that class (`_matched`: the
   pairs that keep most replicas where they run now first, then nodes in use, then free
   nodes), given the rest placement's replicas of the demands taken off, as many as are left
   and as its room takes; what is left goes to the fullest node of the group that takes it
   (within its zone where held), else to `repair`;

kept where the objective, the moves charged, is lower (`pool_emptied.kept_if_cheaper`: the
changed nodes tidied first), else put back; the plan's waves as for any other stage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np

from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.solve.backends import Minimising
from fitlang.solve.move_scale import FleetNode, ScaleMove, zone_of
from fitlang.solve.pool_emptied import JournalMoves, kept_if_cheaper, past
from fitlang.solve.zone_regroup import Group, _groups, _only, _onto_fullest, _Regroup

Layout = dict[str, dict[str, int]]  # node -> demand -> replicas
# the CPU seconds the groups are tried for (plan 10: the whole fleet laid out and kept in 0.55-
# 0.63; the regroup and the stages after it need the rest of the limit's 0.8)
REST_CPU_SECONDS = 1.0
# a group is laid out as at rest where its priced nodes at rest cost this share less than now
# (inventory 10,000 drain 20: 599.94 -> 598.64 USD/h at rest, the whole fleet laid out so
# then 626.75 with its moves, and the 1.4 CPU s tried were the regroup's, which saves 3;
# plan 10: 460.95 -> 439.90-441.91, kept, -7.8 to -10.2 USD/h with the moves)
LEAST_SAVING = 0.02
# in `_matched`, a replica that stays weighs 1; a node in use before (not opened anew) over a
# free one, all else equal, this much
IN_USE_WEIGHT = 0.01
# a layout is kept only where the plan's waves can order its moves in the time they have: the
# move's time left, and the plan's share kept for the waves past the move's deadline
# (`plan.FINISH_SHARE` of the plan's limit: plan 7 at 5 s, 0.50 CPU s past a move of 3.74),
# less what the stages after it and the check of the end take (0.15-0.25 CPU s at inventory
# 10,000), at this many CPU s a replica moved (plan 7 at 5 s, its whole fleet laid out: 2,637
# moves ordered in 0.90 CPU s and 980 left, E0813; 3,389 moves of plan 10 in 0.68 without)
WAVES_SHARE = 0.13
AFTER_SECONDS = 0.25
WAVE_SECONDS_PER_MOVE = 0.0004


def moves_in_time(deadline: float | None, time_limit: float | None) -> Callable[[], int | None]:
    """The replicas the plan's waves can move in the time they will have (`WAVE_SECONDS_PER_MOVE`),
    as it is when asked; None: no limit."""
    if deadline is None or time_limit is None:
        return lambda: None
    return lambda: max(0, int((deadline - time.monotonic() + WAVES_SHARE * time_limit - AFTER_SECONDS)
                              / WAVE_SECONDS_PER_MOVE))


def at_rest(problem: Problem) -> Problem:
    """The plan's problem with nothing running and the nodes' cost its objective (the plan's,
    `cost+moves` then `moves`, has no price for a placement made from nothing: the solve ends
    on its greedy floor)."""
    return dataclasses.replace(problem, running={}, running_elsewhere={}, pinned=frozenset(),
                               bought_now=(), objective=["cost"])


class RestBeside:
    """The fleet at rest solved in a child process for `seconds` (its own clock); its layout
    collected by `layout`."""

    def __init__(self, problem: Problem, seconds: float) -> None:
        self.began = time.monotonic()
        self._solving = Minimising.running(partial(_rest_layout, at_rest(problem)), seconds)

    @classmethod
    def beside(cls, problem: Problem, objective: str, time_limit: float | None) -> RestBeside | None:
        """Started as the move starts (before `repair`: the 0.5 CPU s of `repair` and the bound's
        start are the rest solve's too, so that it ends by the stage), for a `cost+moves` move
        whose bound runs beside it (`runs_beside`); None elsewhere."""
        from fitlang.solve.move_bound_beside import SCATTER_SHARE, runs_beside

        if objective != "cost+moves" or time_limit is None or \
                not runs_beside(sum(c.count for c in problem.classes), time_limit):
            return None
        return cls(problem, SCATTER_SHARE * time_limit)

    def layout(self, wait: float) -> Layout | None:
        """The rest placement's layout, waiting at most `wait` seconds for it; None where it
        is not in or placed nothing whole. The child is stopped either way, with its process
        group: the solve's own children, not daemonic, outlived a child killed alone (one held
        a bench's output pipe 19 minutes after its plan ended, session 50)."""
        child = getattr(self._solving, "_child", None)
        try:
            return self._solving.result(max(0.0, wait))
        finally:
            if child is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)  # (the group `_rest_layout` made)


def _rest_layout(problem: Problem, seconds: float) -> Layout | None:
    from fitlang.solve.placement import solve

    # (the solve forks children of its own, its bounds and passes: a daemonic process may not;
    # in a process group of their own, stopped with it by `RestBeside.layout`)
    os.setpgid(0, 0)
    multiprocessing.current_process().daemon = False
    placement = solve(problem, "auto", seconds)
    if str(placement.status) not in ("optimal", "feasible") or placement.unplaced:
        return None
    layout: Layout = {}
    for assignment in placement.assignments:
        on = layout.setdefault(assignment.node, {})
        on[assignment.workload] = on.get(assignment.workload, 0) + 1  # (the demand's name)
    return layout


def adopt_rest_layout(fleet: ScaleMove, objective: str, layout: Layout, deadline: float | None,
                      cpu_seconds: float = REST_CPU_SECONDS,
                      most_moves: Callable[[], int | None] = lambda: None) -> int:
    """Each group (module's docstring) laid out as `layout`, kept where that lowers
    `objective` and the replicas moved are then at most `most_moves()` (`moves_in_time`), until
    the `deadline` or `cpu_seconds`; returns the groups kept."""
    if fleet.unplaced or past(deadline):
        return 0
    by_class: dict[str, list[dict[str, int]]] = {}
    for name in sorted(layout, key=lambda n: (fleet.owners.position(n), n)):
        by_class.setdefault(fleet.owners[name].id, []).append(layout[name])
    running: dict[str, list[str]] = {}  # class id -> its nodes that run replicas now
    for name in fleet.running_now:
        running.setdefault(fleet.owners[name].id, []).append(name)
    rest = _Rest(by_class, running, _zone_counts(fleet, layout), _rezonable(fleet))
    moves = JournalMoves(fleet) if objective == "cost+moves" else None
    cpu_end = time.process_time() + cpu_seconds
    over: list[bool] = []  # a layout the waves could not order: no other is tried (the regroup's time)

    def tried(group: Group, parts: list[Group]) -> int:
        """The group, else each of its parts (zones, or jurisdictions then their zones)."""
        if over or time.process_time() > cpu_end or past(deadline):
            return 0
        # (parts only of a group that saves: else its zones that save at rest are those that
        # take the others' work there, drain 14's tries of 5 zones took the regroup's 1.3 s)
        if not _saves(fleet, group, rest):
            return 0
        most = most_moves()
        if kept_if_cheaper(fleet, partial(_adopted, fleet, group, rest), moves, deadline, most_moves=most):
            return 1
        if moves is not None and most is not None and moves.total() > most:
            over.append(True)
            return 0
        return sum(tried(part, _zones(part) if len(part) > 1 and part != group else []) for part in parts)

    groups = _groups(fleet)
    every = tuple(zone for group in groups for zone in group)
    return tried(every, groups if len(groups) > 1 else _zones(every)) if every else 0


def _zones(group: Group) -> list[Group]:
    return [(zone,) for zone in group]


def _saves(fleet: ScaleMove, group: Group, rest: _Rest) -> bool:
    """Do the rest placement's priced nodes in the group's zones cost `LEAST_SAVING` less
    than the fleet's there now?"""
    zones = set(group)
    now = sum(float(node.node_class.price) for node in fleet.nodes.values()
              if node.node_class.price > 0 and zone_of(node.node_class) in zones)
    at_rest = sum(float(node_class.price) * len(rest.by_class.get(node_class.id, []))
                  for node_class in fleet.problem.classes
                  if node_class.price > 0 and zone_of(node_class) in zones)
    return now - at_rest > LEAST_SAVING * now


class _Rest(NamedTuple):
    """The rest placement as `_adopted` reads it."""

    by_class: dict[str, list[dict[str, int]]]  # class id -> its nodes' layouts
    running: dict[str, list[str]]  # class id -> its nodes that run replicas now
    zones: dict[str, Counter]  # demand -> zone -> its replicas there
    rezonable: dict[str, frozenset[str]]  # the demands that may follow it, with their ties (`_rezonable`)


def _zone_counts(fleet: ScaleMove, layout: Layout) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    for name, on in layout.items():
        zone = zone_of(fleet.owners[name])
        for demand, count in on.items():
            counts.setdefault(demand, Counter())[zone] += count
    return counts


def _rezonable(fleet: ScaleMove) -> dict[str, frozenset[str]]:
    """The demands whose zones' counts may follow the rest placement (no option, gang, pin,
    affinity on a node but apart), each with the workloads its rules over zones, regions or
    clusters tie it to (its affinities', and those that name it): where all of them follow
    it too, every such rule holds as at rest (`_rezoned`)."""
    demands = fleet.problem.demands
    partners: dict[str, set[str]] = {d.workload: set() for d in demands}
    for d in demands:
        for rule in d.affinities:
            if rule.topology != "node":
                partners[d.workload].add(rule.target)
                partners.setdefault(rule.target, set()).add(d.workload)
    return {d.name: frozenset(partners[d.workload]) for d in demands
            if d.group is None and not d.gang and d.name not in fleet.problem.pinned
            and all(rule.anti or rule.topology != "node" for rule in d.affinities)}


def _rezoned(fleet: ScaleMove, regroup: _Regroup, rest: _Rest) -> dict[str, Counter]:
    """What is left to place of each demand taken off, by the zone it is held to (None: any
    zone of the group): as taken, but for the demands that follow the rest placement, the
    rest placement's counts on the group's classes (`_following`)."""
    inside: dict[str, Counter] = {}  # demand -> zone -> its replicas at rest on the group's classes
    for node_class in regroup.classes:
        zone = zone_of(node_class)
        for on in rest.by_class.get(node_class.id, []):
            for name, count in on.items():
                inside.setdefault(name, Counter())[zone] += count
    left = {name: Counter(held) for name, held in regroup.taken.items()}
    for name in _following(fleet, regroup, rest, inside):
        left[name] = inside[name]
    return left


def _following(fleet: ScaleMove, regroup: _Regroup, rest: _Rest, inside: dict[str, Counter]) -> set[str]:
    """The demands taken off, held to their zones, that may run zone by zone as at rest:
    `_rezonable`, their replicas not taken off running as at rest (so that all of them do),
    and every workload their rules tie them to following too, or running as at rest."""
    problem = fleet.problem
    by_workload: dict[str, list[str]] = {}
    for demand in problem.demands:
        by_workload.setdefault(demand.workload, []).append(demand.name)
    zones_now: dict[str, set[tuple]] = {}
    for (workload, zone), count in fleet.in_zone.items():
        if count:
            zones_now.setdefault(workload, set()).add(zone)

    def rest_of(name: str) -> bool:  # (what is not taken off runs as at rest)
        workload = problem.demand(name).workload
        at_rest = rest.zones.get(name, Counter()) - inside.get(name, Counter()) \
            if name in regroup.taken else rest.zones.get(name, Counter())
        return all(fleet.in_zone[workload, zone] == at_rest[zone]
                   for zone in set(at_rest) | zones_now.get(workload, set()))

    following = {name for name, held in regroup.taken.items()
                 if None not in held and name in rest.rezonable and rest_of(name)
                 and sum(held.values()) == sum(inside.get(name, Counter()).values())}
    settled = {w for w, names in by_workload.items()
               if len(names) == 1 and names[0] not in regroup.taken and rest_of(names[0])}
    changed = True
    while changed:
        changed = False
        for name in sorted(following):
            if not all(w in settled or all(n in following for n in by_workload.get(w, [])) for w in
                       rest.rezonable[name]):
                following.discard(name)
                changed = True
    return following


def _adopted(fleet: ScaleMove, group: Group, rest: _Rest) -> None:
    """The group's movable replicas taken off and laid out as the rest placement's."""
    regroup = _Regroup(fleet, group)
    regroup.take_off()
    if not regroup.taken:
        return
    left = _rezoned(fleet, regroup, rest)
    by_class = rest.by_class
    for node_class in regroup.classes:
        laid = [{d: n for d, n in on.items() if d in left} for on in by_class.get(node_class.id, [])]
        laid = [on for on in laid if on]
        candidates = [n.name for n in regroup.nodes if n.node_class.id == node_class.id]
        candidates += rest.running.get(node_class.id, [])
        for on, name in zip(laid, _matched(fleet, node_class, laid, list(dict.fromkeys(candidates)))):
            if name is not None and (name in fleet.nodes or fleet.may_open(node_class)):
                _laid(fleet, fleet.node(name), on, left)
    _rest_placed(fleet, regroup, left)
    for name in {node.name for node in regroup.nodes}:
        node = fleet.nodes.get(name)
        if node is not None and not node.hosted:
            fleet.close(name)


def _matched(fleet: ScaleMove, node_class: NodeClass, rest: list[dict[str, int]],
             candidates: list[str]) -> list[str | None]:
    """For each of the rest placement's nodes of the class, the node of the fleet it becomes
    (module's docstring: of the `candidates`, the class's nodes in use before or running
    replicas now, then free nodes; None where the class has no node left): the pairs that keep
    most replicas where they run first (greedy: `scipy.optimize`'s exact assignment is 0.15-0.3
    CPU s to import in a plan that has ~3)."""
    from fitlang.solve.moving import _staying

    used = len(candidates)
    seen = set(candidates)
    for name in node_class.node_names:  # free nodes, for the rest placement's nodes left over
        if len(candidates) >= used + len(rest):
            break
        if name not in fleet.nodes and name not in seen:
            candidates.append(name)
    names = [str(i) for i in range(len(rest))]
    weights = -_staying(names, candidates, dict(zip(names, map(Counter, rest))), fleet.running_now)
    weights[:, :used] += IN_USE_WEIGHT
    found: list[str | None] = [None] * len(rest)
    taken = np.zeros(len(candidates), dtype=bool)
    left = min(len(rest), len(candidates))
    for position in np.argsort(-weights, axis=None, kind="stable"):
        if not left:
            break
        i, j = divmod(int(position), len(candidates))
        if found[i] is None and not taken[j]:
            found[i], taken[j] = candidates[j], True
            left -= 1
    return found


def _laid(fleet: ScaleMove, node: FleetNode, on: dict[str, int], left: dict[str, Counter]) -> None:
    """The rest placement's replicas of one node onto its match, as many as are left to place
    (of the node's zone, or of none) and as its room takes."""
    zone = zone_of(node.node_class)
    for name, count in sorted(on.items()):
        demand = fleet.problem.demand(name)
        held = left[name]
        key = zone if held.get(zone, 0) > 0 else None
        for _ in range(min(count, held.get(key, 0))):
            if not _fits(fleet, node, demand):
                break
            fleet.add(node, demand)
            held[key] -= 1


def _fits(fleet: ScaleMove, node: FleetNode, demand: Demand) -> bool:
    return bool((fleet.rows.free[node.row] >= fleet.need[demand.name]).all()) and fleet.takes(node, demand)


def _rest_placed(fleet: ScaleMove, regroup: _Regroup, left: dict[str, Counter]) -> None:
    """What the layout did not place: onto the fullest node of the group that takes it
    (within its zone where held), else by `repair`."""
    in_group = _only(fleet, regroup.classes)
    missing: list[tuple[Demand, tuple | None]] = []
    for name in sorted(left, key=lambda n: -fleet.weight[n]):
        demand = fleet.problem.demand(name)
        for zone, count in sorted(left[name].items(), key=lambda i: str(i[0])):
            zones = None if zone is None else [fleet.rows.zone(zone)]
            for _ in range(count):
                if not _onto_fullest(fleet, demand, in_group & fleet.eligible_mask[name], zones):
                    missing.append((demand, zone))
    if missing:
        fleet.fills.clear()  # (`repair`'s fills of a former call hold positions of its order)
        fleet.repair(missing)
