"""Room that running jobs hold on their nodes until a step inside the horizon (issue 19:
`Problem.holds`, made by `model/running_jobs.py`), as the time solver and `verify` read it.

A node's room that changes over the horizon has no row of its own in the time model, its
packers or `verify`: each reads a class's room as the same at every step. So a hold is made
work the solver cannot move: the held node becomes a class of its own, and each hold a demand
of one replica, eligible there only, that starts at step 0 and runs `until` steps, taking the
room it holds (at most the node's). Every stage then counts it as it counts placed work. Its
node-steps are not the schedule's (the job runs whatever is placed): the node's price, its
electricity and carbon are 0 while a hold runs there, so work placed beside it then adds
nothing either; for the same reason a power cap is raised by what the held nodes draw while
held (the status quo's rule: a node running other teams' work counts against no cap). The
holds are placed first (`timeline_pack.urgency`). The solver's answer leaves them out
(`without_holds`); `verify` puts them back in the document it checks (`held_document`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from fitlang.model import slurm_cpus
from fitlang.model.problem import RESOURCES, Demand, Hold, NodeClass, PowerScope, Problem, Window

HELD = "held job "  # a hold's demand name starts so: a workload's name has no space


def is_held(name: str) -> bool:
    return name.startswith(HELD)


def held_apart(problem: Problem) -> Problem:
    """The problem with each node held until a step inside the horizon a class of its own,
    free of charge while a hold runs there (the driver's problem: every stage that prices a
    step reads it so). Holds on nodes the problem lacks, or bought ones, are dropped (their
    room is no fitc node's). A node whose room running work of no workload takes for the
    whole horizon keeps its class: its room is its own (`NodeClass.capacity_of`), which the
    time solver's ledger holds each node to (`timeline_pack._room_taken`; session 58 made
    each such node a class of its own, thousands of classes for thousands of running jobs)."""
    if problem.timeline is None:
        return problem
    owners = problem.owners()
    by_node: dict[str, list[Hold]] = {}
    apart: dict[str, list[str]] = {}  # class id -> its nodes apart, in its order
    for hold in problem.holds:
        found = owners.find(hold.node)
        if found is not None and not found[0].provisioned:
            by_node.setdefault(hold.node, []).append(hold)
    for node_class in problem.classes:
        if node_class.provisioned or node_class.count == 1:
            continue
        named = {name for name in by_node if owners.find(name)[0] is node_class}  # type: ignore[index]
        if named:
            apart[node_class.id] = sorted(named, key=lambda name: owners.find(name)[1])  # type: ignore[index]
    for name in by_node:  # (a held node alone in its class is apart already, but priced anew)
        node_class = owners.find(name)[0]  # type: ignore[index]
        if node_class.count == 1:
            apart.setdefault(node_class.id, [name])
    if not apart:
        return problem
    classes: list[NodeClass] = []
    members: dict[str, list[str]] = {}  # class id -> the ids it became
    untils: dict[str, int] = {}  # a held node's class id -> the step its holds end
    for node_class in problem.classes:
        if node_class.id not in apart:
            classes.append(node_class)
            continue
        names = set(apart[node_class.id])
        rest = [name for name in node_class.node_names[: node_class.count] if name not in names]
        members[node_class.id] = [node_class.id] if rest else []
        if rest:
            classes.append(dataclasses.replace(node_class, count=len(rest), node_names=tuple(rest)))
        for name in apart[node_class.id]:
            until = max((hold.until for hold in by_node.get(name, [])), default=0)
            single = _single(node_class, name, until, problem.timeline.steps)
            classes.append(single)
            members[node_class.id].append(single.id)
            if until:
                untils[single.id] = until
    demands = [_eligible_in(demand, members) for demand in problem.demands]
    steps = problem.timeline.steps
    caps = [_cap_beside_holds(cap, [n for c in cap.classes for n in members.get(c, [c])], classes,
                              untils, steps) for cap in problem.power_caps]
    ids = {c.id for c in classes}
    symmetric = [run for run in ([c for c in run if c in ids] for run in problem.symmetric) if len(run) > 1]
    holds = tuple(hold for hold in problem.holds if hold.node in by_node)
    return dataclasses.replace(problem, classes=classes, demands=demands, power_caps=caps,
                               symmetric=symmetric, holds=holds)


def with_holds(problem: Problem) -> Problem:
    """The problem (`held_apart`'s) with each hold as pinned work on its node's own class."""
    if not problem.holds:
        return problem
    single = {c.node_names[0]: c for c in problem.classes
              if c.count == 1 and c.id.endswith("@" + c.node_names[0])}
    pinned = []
    on_node: dict[str, int] = {}  # node -> its holds so far (each one's demand named apart)
    rooms = _rooms_held(problem.holds, single)
    for index, hold in enumerate(problem.holds):
        if index in rooms:
            pinned.append(_pinned(hold, rooms[index], single[hold.node], on_node.get(hold.node, 0)))
            on_node[hold.node] = on_node.get(hold.node, 0) + 1
    return dataclasses.replace(problem, demands=[*problem.demands, *pinned], holds=())


def _rooms_held(holds: Sequence[Hold], single: dict[str, NodeClass]) -> dict[int, dict[str, int]]:
    """Each hold's room (by its index), so that the holds a node has at any step hold at most
    its room: a state may run more on a node than its room (Slurm's `OverSubscribe`, or a
    state read as it changed), and a hold the node cannot take could not be placed, leaving
    the answer `unknown`. All holds start at step 0, so the ones running at a step are the
    longest; each takes what the longer ones leave, and a node held past its room is full
    while it is, as it is in truth. On a node Slurm allocates, a hold cut short keeps whole
    cores (it is counted as a job there: `slurm_cpus.job_cpus`), and one left no CPU is left
    out: a task takes a CPU at least, so the longer holds fill the node while it runs."""
    left = {node: dict(node_class.capacity) for node, node_class in single.items()}
    rooms: dict[int, dict[str, int]] = {}
    for index in sorted(range(len(holds)), key=lambda i: -holds[i].until):
        hold = holds[index]
        if hold.node not in left:
            continue
        free, node_class = left[hold.node], single[hold.node]
        room = {r: max(0, min(hold.room.get(r, 0), free.get(r, 0))) for r in RESOURCES}
        if node_class.slurm_allocated and room["cpu"] < hold.room.get("cpu", 0):
            core = node_class.threads_per_core * slurm_cpus.MILLI
            room["cpu"] -= room["cpu"] % core
            if room["cpu"] == 0:
                continue
        rooms[index] = room
        for resource, amount in room.items():
            free[resource] = free.get(resource, 0) - amount
    return rooms


def _cap_beside_holds(cap: PowerScope, scope: list[str], classes: list[NodeClass],
                      untils: dict[str, int], steps: int) -> PowerScope:
    """A power cap over the split classes, raised at each step by what the held nodes in its
    scope draw while held (`untils`: a held node's class id -> the step its holds end): the
    running jobs draw it whatever is placed, so it is not the schedule's (as their price is
    not), and the cap holds what the schedule adds."""
    held = [c for c in classes if c.id in untils and c.id in scope]
    if not held:
        return dataclasses.replace(cap, classes=scope)
    raised = [cap.cap_at(t) + sum((c.power_watts for c in held if t < untils[c.id]), Fraction(0))
              for t in range(steps)]
    return dataclasses.replace(cap, classes=scope, step_caps=tuple(raised))


def _single(node_class: NodeClass, name: str, until: int, steps: int) -> NodeClass:
    """A node as a class of its own, with its own room; held (`until` > 0), free of charge
    while a hold runs there."""
    alone = dataclasses.replace(node_class, id=f"{node_class.id}@{name}", count=1, node_names=(name,),
                                capacity=node_class.capacity_of(name), node_capacity={},
                                max_pods=node_class.pods_of(name), node_pods={})
    if not until:
        return alone
    prices = [node_class.step_price[t] if node_class.step_price else node_class.price for t in range(steps)]
    prices = [Fraction(0) if t < until else price for t, price in enumerate(prices)]
    energy = [Fraction(0) if t < until or not node_class.step_energy_cost else node_class.step_energy_cost[t]
              for t in range(steps)]
    carbon = [Fraction(0) if t < until else node_class.carbon_at(t) for t in range(steps)]
    return dataclasses.replace(
        alone, step_price=tuple(prices), price=sum(prices, Fraction(0)) / steps,
        step_energy_cost=tuple(energy) if node_class.step_energy_cost else (),
        step_carbon=tuple(carbon) if node_class.step_carbon else ())


def _pinned(hold: Hold, room: dict[str, int], single: NodeClass, index: int) -> Demand:
    return Demand(name=f"{HELD}{hold.job} on {hold.node}" + (f" #{index + 1}" if index else ""),
                  replicas=1, requests=room, eligible=[single.id], job=True,
                  window=Window(earliest=0, latest_start=0, duration=hold.until))


def _eligible_in(demand: Demand, members: dict[str, list[str]]) -> Demand:
    """A demand's class ids read through the split: a class's nodes held apart are classes of
    their own, which its rules allow as they allow the class."""
    def spread(ids: Iterable[str]) -> list[str]:
        return [n for c in ids for n in members.get(c, [c])]

    return dataclasses.replace(
        demand, eligible=spread(demand.eligible),
        excluded={n: e for c, e in demand.excluded.items() for n in members.get(c, [c])},
        failing={n: e for c, e in demand.failing.items() for n in members.get(c, [c])},
        preference={n: w for c, w in demand.preference.items() for n in members.get(c, [c])},
        preferences=[dataclasses.replace(rule, met_by=set(spread(rule.met_by)))
                     for rule in demand.preferences])


def without_holds(placement: Any, problem: Problem) -> Any:
    """A placement of `problem` (`with_holds`'s) as one of the problem without the holds: their
    work left out. A hold the search left unplaced (it never should: each is placed first, at
    the one spot it has) would have the answer overfill its node where the job runs: the work
    placed there while it holds the node is then left out too, said why, and the answer is no
    longer complete (`unknown`)."""
    lost = {u.workload for u in placement.unplaced if is_held(u.workload)}
    if lost:
        from fitlang.solve.linear import Status
        from fitlang.solve.placement_result import Unplaced

        node_of = {c.id: c.node_names[0] for c in problem.classes if c.count == 1}
        until: dict[str, tuple[int, str]] = {}  # node -> the step its lost holds end, a job's name
        for name in sorted(lost):
            demand = problem.demand(name)
            node, duration = node_of[demand.eligible[0]], demand.window.duration if demand.window else 0
            job = re.sub(r" #[0-9]+$", "", name[len(HELD):]).rsplit(" on ", 1)[0]  # (`_pinned`'s name)
            until[node] = max(until.get(node, (0, "")), (duration, job))
        kept = []
        for item in placement.assignments:
            ends, job = until.get(item.node, (0, ""))
            if getattr(item, "start", 0) < ends and not is_held(item.workload):
                placement.unplaced.append(Unplaced(item.workload, item.replica, (
                    f"its node `{item.node}` is held by a running job ({job}) then, and no "
                    "schedule beside it was found")))
            else:
                kept.append(item)
        placement.assignments = kept
        placement.status = Status.UNKNOWN
    placement.assignments = [a for a in placement.assignments if not is_held(a.workload)]
    placement.unplaced = [u for u in placement.unplaced if not is_held(u.workload)]
    return placement


def held_document(problem: Problem, document: dict) -> dict:
    """A placement document (`fitc solve --format json`) with the holds' work of
    `with_holds(problem)` added, for `verify` to check it as the solver placed it."""
    timeline = problem.timeline
    if not problem.holds or timeline is None or not isinstance(document.get("assignments"), list):
        return document
    expanded = with_holds(problem)
    node_of = {c.id: c.node_names[0] for c in expanded.classes if c.count == 1}  # (held nodes')
    held = [d for d in expanded.demands if is_held(d.name)]
    added = [{"workload": d.name, "replica": 0, "node": node_of[d.eligible[0]],
              "start": _iso(timeline.start), "end": _iso(timeline.start + timedelta(
                  seconds=timeline.step_seconds * (d.window.duration if d.window else 0)))}
             for d in held]
    return {**document, "assignments": list(document["assignments"]) + added}


def _iso(moment: datetime) -> str:
    from fitlang.solve.timeline import iso

    return iso(moment)
