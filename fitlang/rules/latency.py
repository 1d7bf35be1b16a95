"""`latency <location> < N ms for K replicas` on a workload: at least K of its replicas (its
options' counted together) run on nodes within N ms of the location."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.rules.base import CheckReads, GroupKey, OnNodes, PartKind, Placed, Rounding, Rows, Rule, Stated
from fitlang.rules.explaining import latency_members, plural

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.linear import Number
    from fitlang.solve.timeline import TimeEncoding


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem = placed.problem
    for members in problem.latency_demands():
        for rule in members[0].latency:
            count = within = 0
            for demand in members:
                for node, here in placed.placed_on.get(demand.name, Counter()).items():
                    count += here
                    if problem.within_reach(rule, placed.owner[node]):
                        within += here
            if count and within < rule.replicas:
                yield placed.violation(
                    f"`{members[0].workload}` has {within} replica{'s' if within != 1 else ''} "
                    f"within {float(rule.limit_ms):g} ms of {rule.location}; its latency rule "
                    f"needs {rule.replicas}", rule.origin)


class LatencyGroup(GroupKey, Frozen):
    """A workload's latency rule towards the users in `location`."""

    workload: str
    location: str


def latency_rows(encoding: Encoding, demand: Demand) -> None:
    """A workload's latency rows, at its first demand (its options' replicas count together)."""
    if not demand.latency:
        return
    members = encoding.cache.get(LatencyGroup)
    if members is None:  # first demand of each workload with latency rules -> all its demands
        members = encoding.cache[LatencyGroup] = {group[0].name: group
                                                  for group in encoding.problem.latency_demands()}
    if demand.name in members:
        _reach_rows(encoding, members[demand.name])


def _reach_rows(encoding: Encoding, members: list[Demand]) -> None:
    """Once any replica is placed, at least K of them run where users in the rule's location
    reach them within its limit; the switch lets an unplaced workload (allow_unplaced,
    priorities) meet the rule by running nowhere. The replicas of a workload's accelerator
    options (`members`) count together."""
    model, problem = encoding.model, encoding.problem
    workload = members[0].workload
    for index, rule in enumerate(members[0].latency):
        reach = {encoding.y[demand.name, c]: 1 for demand in members for c in demand.eligible
                 if problem.within_reach(rule, problem.node_class(c))}
        switch = encoding.column(LatencySwitch(workload, index), f"s[{workload},latency:{index}]",
                                 0, 1)
        for demand in members:
            model.add({encoding.placed[demand.name]: 1, switch: -demand.replicas}, upper=0)
        model.add({**reach, switch: -rule.replicas}, lower=0,
                  group=LatencyGroup(workload, rule.location))


def time_rows(encoding: TimeEncoding) -> None:
    """With a horizon, the rule as without one: at least K of a workload's replicas start on
    classes in reach, over all its runs and start steps; where replicas may be left out
    (`allow_unplaced`), once any replica starts. (Latency on a preemptible job is refused at
    check.)"""
    problem = encoding.problem
    if not any(demand.latency for demand in problem.demands):
        return
    reach: dict[tuple[str, int], dict[int, int]] = {}
    for (name, class_id, _), column in encoding.x.items():
        demand = problem.demand(name)
        for index, rule in enumerate(demand.latency):
            if problem.within_reach(rule, problem.node_class(class_id)):
                reach.setdefault((demand.workload, index), {})[column] = 1
    names = {(name, column) for (name, _, _), column in encoding.x.items()}
    for members in problem.latency_demands():
        total = sum(demand.replicas for demand in members)
        if not total:
            continue
        workload = members[0].workload
        for index, rule in enumerate(members[0].latency):
            terms: dict[int, Number] = dict(reach.get((workload, index), {}))
            if problem.allow_unplaced:  # met by running nowhere too (the switch off)
                switch = encoding.column(LatencySwitch(workload, index), f"s[{workload},latency:{index}]")
                mine = {column: 1 for name, column in names if name in {d.name for d in members}}
                encoding.model.add({**mine, switch: -total}, upper=0)
                terms[switch] = -rule.replicas
            encoding.model.add(terms, lower=0 if problem.allow_unplaced else rule.replicas,
                               group=LatencyGroup(workload, rule.location))


def same_reach(problem: Problem, demand: Demand) -> Callable[[NodeClass], Hashable] | None:
    """Whether a class is within reach of the users of each of `demand`'s latency rules."""
    if not demand.latency:
        return None
    return lambda node_class: tuple(problem.within_reach(rule, node_class) for rule in demand.latency)


def reason(problem: Problem, part: Part) -> Stated:
    members = latency_members(problem, part.subject)
    location = part.key
    rule = next(r for r in members[0].latency if r.location == location)
    regions = sorted({c.site.code for d in members for c in map(problem.node_class, d.eligible)
                      if c.site is not None and problem.within_reach(rule, c)})
    reach = (f"regions within reach: {', '.join(regions)}" if regions else
             f"no region `{part.subject}` may run in is within {float(rule.limit_ms):g} ms of "
             f"{location}")
    return Stated(f"`{part.subject}` needs {plural(rule.replicas, 'replica')} "
                  f"within {float(rule.limit_ms):g} ms of users in {location} ({reach})",
                  rule.origin)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """The smallest limit, among the round trips to the regions the workload may run in,
    that works. A `latency` block's one `within` holds for each of its `users`: the limit is
    raised for all of them at once, as the one edit a user can make (raised for one location
    alone, explain found no single repair of a block whose every location was out of reach,
    and offered a pair, "drop" one location and raise the other's limit, that no edit makes)."""
    from fitlang.solve.explain import search

    members = latency_members(problem, part.subject)
    rule = next(r for r in members[0].latency if r.location == part.key)
    block = [i for i, r in enumerate(members[0].latency)
             if r.origin == rule.origin and r.limit_ms == rule.limit_ms]
    locations = [members[0].latency[i].location for i in block]
    candidates = sorted({ms for d in members for c in d.eligible for location in locations
                         if (ms := problem.latency_ms(location, problem.node_class(c))) is not None
                         and ms > rule.limit_ms})
    for limit in candidates:
        if search.now() >= deadline:
            return None
        trial = problem
        for demand in members:
            latency = [dataclasses.replace(r, limit_ms=limit) if i in block else r
                       for i, r in enumerate(demand.latency)]
            trial = trial.with_demand(demand.name, latency=latency)
        check = search.works(trial, deadline, cheapest=True)
        if check.placed:
            whom = part.key if len(locations) == 1 else ", ".join(locations)
            text = (f"raise the latency limit of `{part.subject}` for {whom} from "
                    f"{float(rule.limit_ms):g} ms to {float(limit):g} ms")
            return search.Repair(part, text, rule.origin, f"{float(rule.limit_ms):g}ms",
                                 f"{float(limit):g}ms", check.cost, checked=check)
    return None


class LatencySwitch(Frozen):
    """The binary of a workload's latency rule (by its index): is any replica placed?"""

    workload: str
    index: int


def rounding(encoding: Encoding, demand: Demand) -> Rounding | None:
    """Fractional counts rounded to whole totals per reach group (the classes within reach of
    the same of the demand's rules) first: each group keeps what its rules count."""
    if not demand.latency:
        return None
    problem = encoding.problem
    groups: dict[tuple, list[str]] = {}
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        key = tuple(problem.within_reach(rule, node_class) for rule in demand.latency)
        groups.setdefault(key, []).append(class_id)
    return Rounding(groups)


def start(encoding: Encoding, demand: Demand, mine: dict[str, int], opened: dict[str, int],
          values: dict[int, float]) -> None:
    """A rule's switch is on once any replica of the workload (any option) is placed."""
    placed = sum(mine.values())
    for index in range(len(demand.latency)):
        switch = encoding.index.get(LatencySwitch(demand.workload, index))
        if switch is not None:
            values[switch] = int(placed > 0 or values.get(switch, 0))


RULE = Rule("latency", check=check, rows=Rows(relations=latency_rows, rounding=rounding, start=start),
            check_reads=CheckReads.DEMANDS,
            packing=OnNodes(same=same_reach), part_kind=PartKind.LATENCY, reason=reason,
            repairs=repairs)
