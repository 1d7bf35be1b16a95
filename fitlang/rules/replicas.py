"""`replicas = N` on a workload: every replica is placed once, or listed as unplaced where the
policy allows it (`allow_unplaced = true`). Option workloads are counted by throughput
(`options.py`)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from itertools import repeat
from typing import TYPE_CHECKING

from fitlang.check.program import Origin
from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model import slurm_cpus
from fitlang.model.problem import RESOURCES, Demand
from fitlang.rules.base import CheckReads, GroupKey, PairsPlaced, PartKind, Placed, Rows, Rule, Stated
from fitlang.rules.explaining import literal, need, plural, where, written_down

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import NodeClass, Problem
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair


def check(placed: Placed) -> Iterator[Diagnostic]:
    problem, unplaced = placed.problem, placed.unplaced
    known = {d.name for d in problem.demands}
    for name in sorted(set(unplaced) - known):
        yield placed.violation(f"the placement lists unknown workload `{name}` as unplaced", None)
    seen, placed_replicas = placed.seen, None
    for demand in problem.demands:
        listed = unplaced.get(demand.name, [])
        if demand.group is None:
            if not listed and _has_all(seen, demand):
                continue  # every replica placed and none listed (most demands: no count made)
            if placed_replicas is None:  # each demand's replicas placed, once for all
                placed_replicas = _replicas_placed(seen)
            here = placed_replicas.get(demand.name, set())
            counted = Counter(listed)
            missing = [r for r in range(demand.replicas) if r not in here and r not in counted]
            twice = sorted({r for r in counted if r in here or counted[r] > 1
                            or not (isinstance(r, int) and 0 <= r < demand.replicas)}, key=str)
            where = demand.spans.get("replicas", demand.origin)
            if missing:
                yield placed.violation(
                    f"`{demand.name}` has {len(missing)} of {demand.replicas} replicas neither "
                    f"placed nor listed as unplaced (replica {', '.join(map(str, missing[:5]))}"
                    f"{', ...' if len(missing) > 5 else ''})", where)
            if twice:
                yield placed.violation(
                    f"`{demand.name}` replica {', '.join(map(str, twice[:5]))} is listed as "
                    "unplaced but placed, listed twice, or does not exist", where)
        if listed and not problem.allow_unplaced:
            yield placed.violation(
                f"`{demand.workload}` has {len(listed)} replica{'s' if len(listed) != 1 else ''} "
                "unplaced, and the policy does not set `allow_unplaced = true`", demand.origin)


def _has_all(seen: set[tuple[str, int]] | PairsPlaced, demand: Demand) -> bool:
    if isinstance(seen, PairsPlaced):  # each replica in range and once: a count says it
        return seen.has_all(demand.name, demand.replicas)
    return seen.issuperset(zip(repeat(demand.name), range(demand.replicas)))


def _replicas_placed(seen: set[tuple[str, int]] | PairsPlaced) -> dict[str, set[int]]:
    placed_replicas: dict[str, set[int]] = {}
    for workload, replica in seen:
        placed_replicas.setdefault(workload, set()).add(replica)
    return placed_replicas


class ReplicasGroup(GroupKey, Frozen):
    """Every replica of a demand (not an option) placed."""

    demand: str


def all_placed_rows(encoding: Encoding, demand: Demand, must_place: bool) -> None:
    """p[w] >= replicas where everything must be placed; an option's count is its group's."""
    if demand.group is None and must_place and demand.replicas:
        encoding.model.add({encoding.placed[demand.name]: 1}, lower=demand.replicas,
                           group=ReplicasGroup(demand.name))


def reason(problem: Problem, part: Part) -> Stated:
    demand = problem.demand(part.subject)
    gang = " as one gang" if demand.gang else ""
    return Stated(f"workload `{demand.name}` needs {plural(demand.replicas, 'replica')}"
                  f"{gang}, each {need(demand)}"
                  f"{_room_nowhere(problem, demand) or _parts_only(problem, demand)}"
                  f"{_buys_nothing(problem, demand)}",
                  demand.spans.get("replicas", demand.origin))


def _buys_nothing(problem: Problem, demand: Demand) -> str:
    """Where a workload may run nowhere and a `buy` block may buy nothing at all: that block,
    and why (found as a user, session 55: a `buy` kept to `westeurope` over `std/azure`, US
    regions only, and the conflict said only that the workload needs its replicas)."""
    if demand.eligible:
        return ""
    groups = {c.buy_group for c in problem.classes}
    said = []
    for group, named in sorted(problem.buy_names.items()):
        if group in groups:
            continue
        providers = problem.buy_providers.get(group)
        kept_out = any(c.buy_group == group and (providers is None or c.provider in providers)
                       for c in problem.spare_offers)  # by its `regions`, not its `providers`
        why = ("none of the offers it allows is sold in its `regions` (W0104)" if kept_out
               else "it allows no offer (W0105)")
        said.append(f"{named}{where(problem.buy_origins.get(group))} may buy nothing: {why}")
    return "; " + "; ".join(said) if said else ""


def _room_nowhere(problem: Problem, demand: Demand) -> str:
    """Where no node of any pool, inventory or offer holds one replica, what no node has
    enough of and the most one has: the conflict is then the replicas alone, and without
    this it said nothing of why ("cpu = 24" where the largest node keeps 15.89 CPU)."""
    classes = problem.classes
    if not classes or demand.replicas <= 0:
        return ""
    most = {r: max(c.capacity[r] for c in classes) for r in RESOURCES}
    short = [r for r in RESOURCES if demand.requests[r] > most[r]]
    if not short or any(all(demand.requests[r] <= c.capacity[r] for r in RESOURCES) for c in classes):
        return ""
    largest = next(c for c in classes if all(c.capacity[r] == most[r] for r in short[:1]))
    kept = [_amount(r, largest.daemons_keep(r)) for r in short if largest.daemons_keep(r)]
    daemons = f" once its DaemonSets' {', '.join(kept)} is kept" if kept else ""
    return ("; no node of any pool or offer has room for one (the most a node has: "
            + ", ".join(_amount(r, most[r]) for r in short) + daemons + ")")


def _parts_only(problem: Problem, demand: Demand) -> str:
    """Where every node with room for a replica of several GPUs hands its GPUs out in parts
    (`model/gpu_partitions.py`), which the rule `gpu` keeps to one a pod."""
    if demand.requests["gpu"] <= 1:
        return ""
    roomy = [c for c in problem.classes if all(demand.requests[r] <= c.capacity[r] for r in RESOURCES)]
    if not roomy or any(c.accelerator is None or c.accelerator.partition is None for c in roomy):
        return ""
    return ("; every node with room for one hands out its GPUs as MIG slices or shared replicas, "
            "one to a pod")


def _amount(resource: str, value: int) -> str:
    if resource == "cpu":
        return f"{value / 1000:g} CPU"
    if resource == "gpu":
        return plural(value, "GPU")
    return f"{value / 2 ** 30:.4g} GiB" + (" of disk" if resource == "disk" else "")


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """Fewer replicas: the fewest taken away that lets the rest be placed. Where no node the
    workload may use holds one replica (none would place), a smaller replica instead."""
    from fitlang.solve.explain import search

    if not problem.demand(part.subject).eligible:
        return _lowered_request(problem, part, deadline)
    replicas = problem.demand(part.subject).replicas

    def works(fewer: int) -> search.Check:
        trial = problem.with_demand(part.subject, replicas=replicas - fewer)
        return search.works(trial, deadline, True)

    # the most replicas placeable (an upper bound) gives the fewest to take away
    least = search.bound(problem, lambda e, _: {e.placed[part.subject]: -1}, deadline,
                         frozenset({part.subject}))
    if least is search.NOTHING_WORKS:  # the rest does not fit even with none of these replicas
        return None
    low = 1 if least is None else max(1, replicas + least)
    found = search.smallest(works, low, replicas - 1, deadline)
    if found is None:
        return None
    most = replicas - found[0]
    origin = problem.demand(part.subject).spans.get("replicas")
    text = f"lower `{part.subject}` replicas from {replicas} to {most}"
    return search.Repair(part, text, origin, str(replicas), str(most), found[1].cost,
                         search.fix(text, origin, str(most)), found[0], Fraction(most),
                         checked=found[1])


def _lowered_request(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """The replica's requests lowered to what the largest node that only its size keeps it
    off has (`lower `etl` cpu from 24 to 15.89`), where the policy then solves. Not for a
    workload with accelerator options (its parts are the options': THROUGHPUT)."""
    from fitlang.solve.explain import search

    demand = problem.demand(part.subject)
    largest = _largest_too_small(problem, demand) if demand.group is None else None
    if largest is None:
        return None
    node_class, lowered = largest
    check = search.works(with_requests(problem, demand.name, lowered), deadline, True)
    if not check.placed:
        return None
    asked = _asked(demand)
    changed = [r for r in RESOURCES if lowered[r] != asked[r]]
    label = {"gpu": "gpu count"}
    text = (f"lower `{demand.name}` " + " and ".join(
        f"{label.get(r, r)} from {literal(r, asked[r])} to {literal(r, lowered[r])}" for r in changed)
        + f" so that one fits on a node of pool `{node_class.id}`")
    before = ", ".join(literal(r, asked[r]) for r in changed)
    after = ", ".join(literal(r, lowered[r]) for r in changed)
    # one edit where one request changes and its line is the workload's own (not a template's)
    where = _own_span(demand, changed[0]) if len(changed) == 1 else None
    return search.Repair(part, text, where or demand.origin, before, after, check.cost,
                         search.fix(text, where, after), checked=check, requests=lowered)


def _asked(demand: Demand) -> dict[str, int]:
    """What one replica asks, as the workload states it (its CPU before Slurm rounds it)."""
    return {**demand.requests, "cpu": demand.asked_cpu}


def _size_only(problem: Problem, demand: Demand) -> list[NodeClass]:
    """The classes a replica's size alone keeps the demand off: not eligible, and every reason
    `failing` gives the capacity rule's; or none, where a dropped rule's were its only ones
    (`parts.dropped` readmits such a pool, then leaves it out as too small, with no reason)."""
    eligible = set(demand.eligible)
    return [c for c in problem.classes if c.id not in eligible
            and all(r.source == "capacity" for r in demand.failing.get(c.id) or [])]


def _largest_too_small(problem: Problem, demand: Demand) -> tuple[NodeClass, dict[str, int]] | None:
    """The class that only its size keeps the demand off whose nodes need the least lowering
    (the fewest requests lowered, then the most kept of them), and the requests lowered to
    what one of its nodes has."""
    asked = _asked(demand)
    best: tuple[tuple[int, Fraction], NodeClass, dict[str, int]] | None = None
    for node_class in _size_only(problem, demand):
        lowered = {r: min(asked[r], written_down(r, node_class.capacity[r])) for r in RESOURCES}
        changed = [r for r in RESOURCES if lowered[r] < asked[r]]
        if not changed or any(lowered[r] <= 0 for r in changed):
            continue
        rank = (-len(changed), sum((Fraction(lowered[r], asked[r]) for r in changed), Fraction(0)))
        if best is None or rank > best[0]:
            best = (rank, node_class, lowered)
    return None if best is None else best[1:]


def with_requests(problem: Problem, name: str, requests: dict[str, int]) -> Problem:
    """The problem with demand `name` asking `requests` of a node (as its workload states
    them) as the policy so written builds it: the classes only a replica's size kept it off
    that hold one now are eligible (one another rule rules out stays out), and its CPU is
    counted as Slurm gives it where it runs on Slurm nodes only (`model/slurm_cpus.py`)."""
    demand = problem.demand(name)
    fits = {c.id for c in _size_only(problem, demand)
            if all(requests[r] <= c.capacity[r] for r in RESOURCES)}
    kept = set(demand.eligible) | fits
    lowered = dataclasses.replace(
        demand, requests=dict(requests), cpu_asked=None,
        eligible=[c.id for c in problem.classes if c.id in kept],
        failing={c: reasons for c, reasons in demand.failing.items() if c not in fits},
        excluded={c: reason for c, reason in demand.excluded.items() if c not in fits})
    sized = slurm_cpus.sized([lowered], problem.classes)[0]
    return dataclasses.replace(problem, demands=[sized if d.name == name else d for d in problem.demands])


def _own_span(demand: Demand, resource: str) -> Origin | None:
    """Where the workload's own block states the request (None where it is a template's, whose
    edit would change other workloads too, or stated nowhere: a GPU count's nested block)."""
    where, block = demand.spans.get(resource), demand.origin
    if where is None or block is None or where.path != block.path:
        return None
    return where if block.span.start <= where.span.start and where.span.end <= block.span.end else None


RULE = Rule("replicas", check=check, rows=Rows(placed=all_placed_rows), part_kind=PartKind.REPLICAS,
            check_reads=CheckReads.DEMANDS,
            reason=reason, repairs=repairs)
