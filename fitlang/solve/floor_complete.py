"""A greedy floor short of replicas, completed where room can be made.

The stages after the floor are worth most on a complete one: the model takes it as its start,
the search improves it (the bounds and guided passes run on a short floor too, since session
31, and this runs again after them where it is still short). Where the greedy pass leaves a spread's
last replicas out (its zone full of other workloads' replicas when it came), the floor left
the spread out whole, and where the model then had nothing in time that was the answer
(inventory 1,000 seed 11 at 5 s under load: `unknown`, 51 replicas out, where 47.50 with
every replica placed exists). make_room.py's tools complete it, but they read a short
replica's class as the domain it must go to, and the greedy pass names the class it tried
last: so what a spread holds past its skew afterwards is taken off again (`excess`), and a
second round aims the short replicas at the domains the skew wants them in first.
"""

from __future__ import annotations

import math
import time
from collections import Counter

from fitlang.check.program import LatencyRule
from fitlang.model.problem import NodeClass, Problem
from fitlang.rules import affinity, gang, latency
from fitlang.rules.base import Placed
from fitlang.solve.make_room import (
    adopt,
    copied,
    dropped_whole,
    excess,
    hosted_on,
    key_but_spreads,
    left_out,
    made_room,
    move_replicas,
    replicas_per_domain,
    take_short,
)
from fitlang.solve.outranked import outranked_room
from fitlang.solve.pack import MayOpen, NodeState, Packing, repair
from fitlang.solve.repack import place_short


def completion_deadline(share_deadline: float | None, search_deadline: float | None,
                        floor_seconds: float, bound_seconds: float) -> float | None:
    """The end of a short floor's completion: `share_deadline` (its share of the limit, which
    leaves the bounds and a guided pass their time after it), unless the time after that would
    not hold the pair bound (`bound_seconds`) and a guided pass (the floor's `floor_seconds`):
    then the completion may run until only the bound's time is left. Its alternative there is
    the first-fit (first_fit.py), not a guided pass: ai_fleet 10,000 seeds 1 / 8 under `fitc
    solve`'s 5 s, the completion cut 0.1-0.3 s before the floor was whole, and the answer the
    first-fit, 26-46% over the bound, where the completed floor consolidated is 1.66 / 2.27%
    over it. Where it is cut all the same, the first-fit (one greedy pass, about the bound's
    time there) takes the bound's turn: the answer is as it was, the first-fit."""
    if share_deadline is None or search_deadline is None:
        return share_deadline
    if search_deadline - share_deadline >= bound_seconds + floor_seconds:
        return share_deadline
    return max(share_deadline, search_deadline - bound_seconds)


def floor_completed(problem: Problem, packing: Packing, may_open: MayOpen, objective: str,
                    deadline: float | None) -> bool:
    """`repair`, then `made_room` (a spread's or gang's last replicas in the room of loose
    ones), the spreads that were short trimmed back to their skew; where that leaves replicas
    out, a second round with them aimed at their spreads' emptiest domains and placed there
    by a few exact moves first (`place_short`). Kept where it leaves out less (`left_out`);
    whether it was. Inventory 1,000 seed 11: 9 replicas of three zone spreads short (51 left
    out whole) -> 1 after the first round (svc72's 16th replica in a zone of 3 where one has
    none), every replica placed after the second (57.36 USD/h), in 35 ms."""
    if deadline is not None and time.monotonic() >= deadline:
        return False  # (the copy and the checks below read every node)
    names = sorted({w for w, _ in packing.short_by_workload})
    trial = copied(packing)
    # a workload no class may hold is short against no class (""): nothing completes it, and
    # the tools below look its class up
    classes = {c.id for c in problem.classes}
    homeless = {key: amount for key, amount in packing.short_by_workload.items() if key[1] not in classes}
    for (name, class_id), amount in homeless.items():
        for _ in range(amount):
            take_short(trial, name, class_id)
    for aimed in (False, True):
        if aimed:
            if trial.complete or (deadline is not None and time.monotonic() >= deadline):
                break
            _aimed_at_skew(problem, trial)
            place_short(problem, trial, objective, math.inf if deadline is None else deadline)
        repair(problem, trial, may_open)
        made_room(problem, trial, may_open, deadline)
        outranked_room(problem, trial, may_open, deadline)
        _trimmed_to_skew(problem, trial, names)
    _trimmed_to_reach(problem, trial)
    for (name, class_id), amount in homeless.items():
        trial.add_short(name, class_id, amount)
    if left_out(problem, trial) >= left_out(problem, packing) or breaks_affinities(problem, trial):
        return False
    adopt(packing, trial)
    return True


def breaks_affinities(problem: Problem, packing: Packing) -> bool:
    """Does a workload the placement keeps run in a domain its affinity or anti-affinity rules
    forbid, short of the replicas its latency rules need within reach, or a gang in two
    clusters? The rules' own checks (rules/affinity.py, rules/latency.py, rules/gang.py, as
    `verify` runs them) over the packing's nodes. The
    tools above place a short replica in the domain of the class it is short against, and the
    greedy pass names the class it tried last, which may hold the target of a zone
    anti-affinity (random fleet seed 82: a zone spread short of all 759 replicas, the one the
    trim kept put in the zone of a workload barred from it) or be out of a latency rule's
    reach (`_trimmed_to_reach`); and a gang's last replicas where there is room, in another
    cluster than the rest (ai_fleet 10,000 seed 14: a guided pass 5 replicas short completed
    with `train_34` in two, E0507; guided_complete.py)."""
    if not any(d.affinities or d.latency or d.gang for d in problem.demands):
        return False
    kept = {d.name for d in problem.demands} - dropped_whole(problem, packing)
    owner: dict[str, NodeClass] = {}
    hosted: dict[str, Counter] = {}
    placed_on: dict[str, Counter] = {}
    for class_id, nodes in packing.nodes.items():
        node_class = problem.node_class(class_id)
        for node in nodes:
            owner[node.name] = node_class
            hosted[node.name] = Counter({name: amount for name, amount in node.hosted.items()
                                         if amount and name in kept})
            for name, amount in hosted[node.name].items():
                placed_on.setdefault(name, Counter())[node.name] += amount
    placed = Placed(problem, owner, {d.name: d for d in problem.demands}, hosted, placed_on, set(),
                    Counter(), {}, set(), {})
    return any(next(iter(check(placed)), None) is not None for check in (affinity.check, latency.check,
                                                                           gang.check))


def _trimmed_to_reach(problem: Problem, packing: Packing) -> None:
    """Every replica of a workload (of every option of its group) whose placed replicas are
    fewer within a latency rule's reach than it needs, made short again: the tools above put a
    short replica in the domain of the class it is short against, which the greedy pass names
    whatever the rule's reach (ai_fleet 10,000 seed 2: 38 services with users in two
    continents, every replica in a third, `feasible` and rejected by `fitc verify`)."""
    on: dict[str, list[tuple[str, NodeState]]] = {}
    for class_id, nodes in packing.nodes.items():
        for node in nodes:
            for name in node.hosted:
                on.setdefault(name, []).append((class_id, node))
    for members in problem.latency_demands():
        placed = [(d.name, class_id, node) for d in members for class_id, node in on.get(d.name, ())]
        if not placed or all(_within(problem, rule, placed) >= rule.replicas for rule in members[0].latency):
            continue
        for name, class_id, node in placed:
            amount = node.hosted[name]
            move_replicas(problem, node, name, -amount)
            packing.add_short(name, class_id, amount)
    packing._room.clear()


def _within(problem: Problem, rule: LatencyRule, placed: list[tuple[str, str, NodeState]]) -> int:
    return sum(node.hosted[name] for name, class_id, node in placed
               if problem.within_reach(rule, problem.node_class(class_id)))


def _trimmed_to_skew(problem: Problem, packing: Packing, names: list[str]) -> None:
    """What each of these workloads holds past a spread's skew made short again. Their nodes
    read once (`hosted_on`: a workload's trim moves only its own replicas), not once per
    workload: an oversubscribed Slurm cluster (bench/hpc_queue.py 10,000 nodes / 3,000 jobs seed
    5) has 383 short, and the scans of its 10,000 nodes were 0.6-1.0 of the completion's 0.9-1.4
    CPU s, past its deadline."""
    hosted = hosted_on(packing)
    for name in names:
        demand = problem.demand(name)
        if not demand.spreads:
            continue
        for (class_id, index), amount in sorted(excess(problem, packing, demand, hosted).items()):
            move_replicas(problem, packing.nodes[class_id][index], name, -amount)
            packing.add_short(name, class_id, amount)
    packing._room.clear()


def _aimed_at_skew(problem: Problem, packing: Packing) -> None:
    """Each short replica of a spread workload made short against a class in the domain its
    spreads have fewest of it in (the replicas already aimed counted), of the classes like
    its first one in every other rule's domains (`key_but_spreads`), the cheapest on a tie."""
    for name in sorted({w for w, _ in packing.short_by_workload}):
        demand = problem.demand(name)
        if not any(s.topology != "node" for s in demand.spreads):
            continue
        entries = sorted((class_id, amount) for (w, class_id), amount in packing.short_by_workload.items()
                         if w == name)
        kept = key_but_spreads(problem, demand)
        first = problem.node_class(entries[0][0])
        for class_id, amount in entries:
            for _ in range(amount):
                take_short(packing, name, class_id)
        counted = replicas_per_domain(problem, packing, demand)  # (what is placed: the shorts taken off)
        classes = [c for c in map(problem.node_class, demand.eligible) if kept(c) == kept(first)
                   and all(c.topology_value(s.topology) in counts for s, counts in counted)]
        for _ in range(sum(amount for _, amount in entries)):
            target = min(classes, default=first, key=lambda c: (
                [counts[c.topology_value(s.topology)] for s, counts in counted], c.price, c.id))
            for spread, counts in counted:
                if target.topology_value(spread.topology) in counts:
                    counts[target.topology_value(spread.topology)] += 1
            packing.add_short(name, target.id, 1)
