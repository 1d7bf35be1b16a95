"""The rules of time the node-level schedule does not track, held by the problem it searches
(issue 19): a gang's runs pinned to one start and one cluster, a latency rule narrowed to the
classes in reach, what is kept apart on nodes too large to share one.

The time model states a gang's rows (`rules/gang.time_rows`: the replicas of a run start at
one step, in one cluster) and a latency rule's (`rules/latency.time_rows`: at least K
replicas in reach); the schedule made node by node and its search move one replica at a time
(`timeline_pack`), and know neither. So they search a narrowed problem (`narrowed`) whose
every schedule keeps both rules by construction: each gang run's window holds one start step
and its classes one cluster (chosen here, the whole gang placed at each start and cluster it
may use, where it adds least beside the other work), and a workload with latency rules may
use only the classes within reach of each (K = all of its replicas: a restriction where a
rule asks for fewer, which only the time model's MIP then relaxes). Every schedule of the
narrowed problem is one of the problem's: the MIP of the problem starts from it, and its own
answer is packed with the gangs pinned where it started them (`pinned_to`), so that no repair
moves one replica of a gang alone; `keeps` checks an answer before it is taken.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from fitlang.model.problem import Demand, Problem, Window
from fitlang.rules.spread import time_domains
from fitlang.solve.timeline_pack import (
    Ledger,
    Spot,
    candidates,
    floor_order,
    need_of,
    place_anywhere,
    run_of,
)

# the start steps of a gang's run tried, cheapest first for one replica: a week of hourly
# steps is 168 starts, each a placing of the whole gang
GANG_STARTS_TRIED = 24


def narrowed(problem: Problem, objective: str = "cost") -> Problem:
    """The problem the node-level schedule searches (the problem itself where it has no gang
    that chooses a start or a cluster, no latency rule and nothing kept apart on nodes)."""
    narrow = kept(problem)
    if not any(_chooses(narrow, demand) for demand in narrow.demands):
        return narrow
    return pinned_to(narrow, _gangs_placed(narrow, objective))


def kept(problem: Problem, dealt: bool = True) -> Problem:
    """The problem with each latency rule's workload on the classes in reach, what is kept
    apart on nodes made too large to share one (`_apart`), and (`dealt`) each service spread
    over zones or labels dealt out over its domains (`_dealt`; not where the schedule packed
    names its replicas as the problem's own: the MIP's): no gang pinned."""
    demands = _apart(problem, [_in_reach(problem, demand) for demand in problem.demands])
    if dealt:
        demands = [part for demand in demands for part in _dealt(problem, demand)]
    return problem.with_demands(demands) if demands != problem.demands else problem


# a service dealt out over the domains of its spread: a demand per domain, `NAME@DOMAIN`
DEALT = "@"


def _dealt(problem: Problem, demand: Demand) -> list[Demand]:
    """A service (it runs every step) spread over one topology other than `node`, as a
    demand per domain with its replicas dealt out evenly (counts 1 apart at most, so every
    spread holds at every step by construction); `[demand]` where it is no such service, a
    domain has no declared node, or a rule names it (the parts' names are not its)."""
    topologies = {s.topology for s in demand.spreads}
    if (demand.job or demand.gang or demand.min_segment is not None or demand.affinities
            or demand.latency or demand.exclusive or len(topologies) != 1 or "node" in topologies
            or any(r.target == demand.name for d in problem.demands for r in d.affinities)):
        return [demand]
    topology = next(iter(topologies))
    domains = time_domains(problem, demand, topology)
    least = max(s.min_domains for s in demand.spreads)
    if len(domains) < 2 or any(all(c.provisioned for c in classes) for classes in domains.values()):
        return [demand]
    if len(domains) < least and -(-demand.replicas // len(domains)) > min(s.max_skew for s in demand.spreads):
        return [demand]
    parts = []
    for index, (value, classes) in enumerate(sorted(domains.items())):
        replicas = demand.replicas // len(domains) + (index < demand.replicas % len(domains))
        if replicas:
            parts.append(dataclasses.replace(demand, name=f"{demand.name}{DEALT}{value}", replicas=replicas,
                                             eligible=[c.id for c in classes], spreads=[]))
    return parts


def unsplit(problem: Problem, spots: list[Spot] | None) -> list[Spot] | None:
    """A schedule of the narrowed problem with each dealt-out service's parts as its own
    replicas again, numbered in the parts' order (`_dealt`)."""
    if spots is None or not any(DEALT in spot.demand for spot in spots):
        return spots
    numbered: dict[str, int] = {}
    made = []
    for spot in sorted(spots, key=lambda s: (s.demand, s.replica)):
        name = spot.demand.rsplit(DEALT, 1)[0] if DEALT in spot.demand else spot.demand
        if name == spot.demand:
            made.append(spot)
            continue
        made.append(dataclasses.replace(spot, demand=name, replica=numbered.get(name, 0)))
        numbered[name] = numbered.get(name, 0) + 1
    return made


def unsplit_missing(problem: Problem, spots: list[Spot], missing: list[tuple[str, int]]
                    ) -> list[tuple[str, int]]:
    """The replicas a partial schedule leaves out, as their services' own (numbered after
    those it places)."""
    placed: dict[str, int] = {}
    for spot in spots:
        placed[spot.demand] = placed.get(spot.demand, 0) + 1
    left = []
    for name, replica in missing:
        if DEALT not in name:
            left.append((name, replica))
            continue
        parent = name.rsplit(DEALT, 1)[0]
        left.append((parent, placed.get(parent, 0)))
        placed[parent] = placed.get(parent, 0) + 1
    return left


def _apart(problem: Problem, demands: list[Demand]) -> list[Demand]:
    """An exclusive workload asks for a whole node's CPUs (on the classes of its most CPUs),
    and each side of an `anti_affinity ... on node` (`self` too) for more than half of the
    most CPUs a class it may share with has: no node then runs one beside another, nor two of
    a `self` rule, at any step, whatever the search moves. A restriction (the time model's
    own rows are exact, `rules/exclusive.time_rows`, `rules/affinity.time_rows`)."""
    whole = {d.name for d in demands if d.exclusive}
    halves: dict[str, set[str]] = {}  # demand -> the demands it may not share a node with
    for demand in demands:
        for rule in demand.affinities:
            if rule.anti and rule.topology == "node":
                target = demand.name if rule.target == "self" else rule.target
                halves.setdefault(demand.name, set()).add(target)
                halves.setdefault(target, set()).add(demand.name)
    shares = _node_spread_shares(demands)
    if not whole and not halves and not shares:
        return demands
    by_name = {demand.name: demand for demand in demands}
    made = []
    for demand in demands:
        if demand.name in shares and demand.name not in whole and demand.name not in halves:
            most = max((problem.node_class(c).capacity["cpu"] for c in demand.eligible), default=0)
            share = most // shares[demand.name] + 1
            made.append(_asking(problem, demand, max(demand.requests["cpu"], share)))
        elif demand.name in whole:
            most = max((problem.node_class(c).capacity["cpu"] for c in demand.eligible), default=0)
            made.append(_asking(problem, demand, most))
        elif demand.name in halves:
            shared = {c for name in halves[demand.name] | {demand.name} if name in by_name
                      for c in by_name[name].eligible}
            most = max((problem.node_class(c).capacity["cpu"] for c in shared), default=0)
            made.append(_asking(problem, demand, max(demand.requests["cpu"], most // 2 + 1)))
        else:
            made.append(demand)
    return made


def _node_spread_shares(demands: list[Demand]) -> dict[str, int]:
    """Demand -> K + 1 for its `spread node max_skew K` (the least K of several): asking for
    more than a node's CPUs over K + 1, at most K of its replicas run on a node at a step, so
    the counts per node differ by at most K whatever the emptiest holds (a restriction: the
    time model's rows, `rules/spread._node_time_rows`, count per class)."""
    shares: dict[str, int] = {}
    for demand in demands:
        skews = [s.max_skew for s in demand.spreads if s.topology == "node"]
        if skews:
            shares[demand.name] = min(skews) + 1
    return shares


def _asking(problem: Problem, demand: Demand, cpu: int) -> Demand:
    """`demand` asking for `cpu` millicores a replica, on the classes with that many."""
    eligible = [c for c in demand.eligible if problem.node_class(c).capacity["cpu"] >= cpu]
    return dataclasses.replace(demand, requests={**demand.requests, "cpu": cpu}, eligible=eligible)


def _in_reach(problem: Problem, demand: Demand) -> Demand:
    """`demand` on the classes within reach of each of its latency rules (that asks for one
    replica or more)."""
    rules = [rule for rule in demand.latency if rule.replicas > 0]
    if not rules:
        return demand
    eligible = [c for c in demand.eligible
                if all(problem.within_reach(rule, problem.node_class(c)) for rule in rules)]
    return dataclasses.replace(demand, eligible=eligible)


def _chooses(problem: Problem, demand: Demand) -> bool:
    """A gang whose runs may start at several steps or run in several clusters."""
    if not demand.gang or demand.min_segment is not None or not demand.replicas:
        return False
    clusters = {problem.node_class(c).gang_domain for c in demand.eligible}
    return len(clusters) > 1 or any(len(w.starts()) > 1 for w in demand.windows)


def _gangs_placed(problem: Problem, objective: str) -> list[Spot]:
    """A first schedule in `floor_order` where each gang run is placed whole at the start and
    cluster that add least (the others' replicas each where it adds least), to read the
    gangs' starts and clusters from. A gang run placed whole nowhere is given its cheapest
    start (on its first cluster) as a spot of no node: pinned there, the schedule leaves it
    out rather than split it."""
    ledger = Ledger(problem, objective)
    spots: list[Spot] = []
    for demand in floor_order(problem):
        if not _chooses(problem, demand):  # each replica where it adds least, kept
            for run, window in enumerate(demand.windows):
                options = candidates(ledger, demand, window)
                for index in range(demand.replicas_per_run):
                    replica = run * demand.replicas_per_run + index
                    spot = place_anywhere(ledger, demand, replica, window, options)
                    spots += [spot] if spot is not None else []
            continue
        clusters = _clusters(problem, demand)
        chosen: Demand | None = None
        for run, window in enumerate(demand.windows):
            tried = [chosen] if chosen is not None else clusters
            best = min((_placed_whole(ledger, option, run, start, window)
                        for option in tried for start in _starts(ledger, option, window)),
                       key=lambda found: (-len(found[1]), found[0]), default=(0.0, []))
            if best[1]:
                chosen = next(o for o in tried if o.eligible and best[1][0].class_id in o.eligible)
            elif tried and tried[0].eligible:
                start = _starts(ledger, tried[0], window)[0]
                chosen = tried[0]
                spots.append(Spot(demand.name, run * demand.replicas_per_run, tried[0].eligible[0],
                                  -1, start, start + window.duration))
            for spot in best[1]:
                ledger.put(spot)
            spots += best[1]
    return spots


def _clusters(problem: Problem, demand: Demand) -> list[Demand]:
    """A gang on each cluster its classes are in, one demand each."""
    by_cluster: dict[str, list[str]] = {}
    for class_id in demand.eligible:
        by_cluster.setdefault(problem.node_class(class_id).gang_domain, []).append(class_id)
    return [dataclasses.replace(demand, eligible=ids) for _, ids in sorted(by_cluster.items())]


def _starts(ledger: Ledger, demand: Demand, window: Window) -> list[int]:
    """A gang's start steps, cheapest first for one replica (at most GANG_STARTS_TRIED)."""
    need = need_of(demand)
    costs: dict[int, float] = {}
    for class_id in demand.eligible:
        share = float((need / ledger.capacity[class_id].clip(min=1)).max())
        for start in window.starts():
            rate = float(ledger.rate[class_id][start:start + window.duration].sum()) * share
            costs[start] = min(costs.get(start, rate), rate)
    return sorted(costs, key=lambda start: (costs[start], start))[:GANG_STARTS_TRIED]


def _placed_whole(ledger: Ledger, demand: Demand, run: int, start: int, window: Window
                  ) -> tuple[float, list[Spot]]:
    """(what it adds, the spots) of a gang run's replicas placed one by one where each adds
    least, all at `start`, then taken off the ledger again; all or none."""
    at = Window(earliest=start, latest_start=start, duration=window.duration)
    spots: list[Spot] = []
    for index in range(demand.replicas_per_run):
        spot = place_anywhere(ledger, demand, run * demand.replicas_per_run + index, at)
        if spot is not None:
            spots.append(spot)
    for spot in spots:
        ledger.drop(spot)
    if len(spots) < demand.replicas_per_run:
        return 0.0, []
    return sum(spot.added for spot in spots), spots


def pinned_to(problem: Problem, spots: Iterable[Spot]) -> Problem:
    """`problem` with each gang run whose replicas `spots` start at one step pinned there, and
    each gang on the cluster they run in (where they run in one)."""
    starts: dict[tuple[str, int], set[int]] = {}
    clusters: dict[str, set[str]] = {}
    for spot in spots:
        demand = problem.demand(spot.demand)
        if demand.gang and demand.min_segment is None:
            starts.setdefault((spot.demand, run_of(demand, spot.start)), set()).add(spot.start)
            clusters.setdefault(spot.demand, set()).add(problem.node_class(spot.class_id).gang_domain)
    if not clusters:
        return problem
    demands = []
    for demand in problem.demands:
        if demand.name not in clusters:
            demands.append(demand)
            continue
        windows = [_pinned(window, starts.get((demand.name, run), set()))
                   for run, window in enumerate(demand.windows)]
        changes: dict = {"window": windows[0], "runs": tuple(windows) if demand.runs else ()}
        if len(clusters[demand.name]) == 1:
            cluster = next(iter(clusters[demand.name]))
            changes["eligible"] = [c for c in demand.eligible if problem.node_class(c).gang_domain == cluster]
        demands.append(dataclasses.replace(demand, **changes))
    return problem.with_demands(demands)


def _pinned(window: Window, starts: set[int]) -> Window:
    """The window with its one start where a run's replicas all start at one step of it."""
    if len(starts) != 1 or min(starts) not in window.starts():
        return window
    return Window(earliest=min(starts), latest_start=min(starts), duration=window.duration)


def keeps(problem: Problem, runs: Iterable[tuple[str, str, int, int]]) -> bool:
    """Whether a schedule's runs (demand, node, start, end) keep each gang run at one start
    and each gang in one cluster, each latency rule's count in reach, and what is kept apart
    on nodes apart at every step (what the node-level passes do not track)."""
    if not any(d.gang or d.latency or d.exclusive or d.affinities or d.spreads for d in problem.demands):
        return True  # (most policies: no pass over the runs)
    runs = list(runs)
    if not topology_kept(problem, runs):
        return False
    owners = problem.owners()
    starts: dict[tuple[str, int], set[int]] = {}
    clusters: dict[str, set[str]] = {}
    within: dict[tuple[str, int], int] = {}
    by_node: dict[str, list[tuple[str, int, int]]] = {}
    running: set[str] = set()  # workloads that run (one left out whole meets its latency rule)
    for name, node, start, end in runs:
        demand = problem.demand(name)
        node_class = owners[node]
        running.add(demand.workload)
        by_node.setdefault(node, []).append((name, start, end))
        if demand.gang:
            starts.setdefault((name, run_of(demand, start)), set()).add(start)
            clusters.setdefault(name, set()).add(node_class.gang_domain)
        for index, rule in enumerate(demand.latency):
            if problem.within_reach(rule, node_class):
                within[demand.workload, index] = within.get((demand.workload, index), 0) + 1
    if any(len(steps) > 1 for steps in starts.values()) or any(len(c) > 1 for c in clusters.values()):
        return False
    if not all(within.get((members[0].workload, index), 0) >= rule.replicas
               for members in problem.latency_demands() if sum(d.replicas for d in members)
               and (members[0].workload in running or not problem.allow_unplaced)
               for index, rule in enumerate(members[0].latency)):
        return False
    apart = _apart_pairs(problem)
    return not apart or not any(_clash(here, apart) for here in by_node.values())


def _apart_pairs(problem: Problem) -> set[tuple[str, str]]:
    """(demand, demand) pairs that may not share a node at a step, both ways ("*": any other
    than the first: an exclusive workload's)."""
    pairs: set[tuple[str, str]] = set()
    for demand in problem.demands:
        if demand.exclusive:
            pairs.add((demand.name, "*"))
        for rule in demand.affinities:
            if rule.anti and rule.topology == "node":
                target = demand.name if rule.target == "self" else rule.target
                pairs |= {(demand.name, target), (target, demand.name)}
    return pairs


def _clash(here: list[tuple[str, int, int]], apart: set[tuple[str, str]]) -> bool:
    """Two runs on one node, at a step both run, that `apart` keeps apart."""
    for i, (first, start, end) in enumerate(here):
        for second, other_start, other_end in here[i + 1:]:
            if other_start >= end or start >= other_end:
                continue
            if (first, second) in apart or (first != second and (
                    (first, "*") in apart or (second, "*") in apart)):
                return True
    return False


def topology_kept(problem: Problem, runs: list[tuple[str, str, int, int]]) -> bool:
    """Whether each spread, each affinity and each anti-affinity over zones or labels holds at
    every step over the replicas running then (what the node-level passes do not track)."""
    owners = problem.owners()
    by_demand: dict[str, list[tuple[str, int, int]]] = {}
    for name, node, start, end in runs:
        by_demand.setdefault(name, []).append((node, start, end))
    bought = {node for _, node, _, _ in runs if owners[node].provisioned}
    for demand in problem.demands:
        mine = by_demand.get(demand.name, [])
        for spread in demand.spreads if mine else ():
            domains = _spread_domains(problem, demand, spread.topology, bought)
            for step in sorted({start for _, start, _ in mine} | {end for _, _, end in mine}):
                counts = _per_domain(owners, mine, spread.topology, step)
                counted = [n for domain, n in counts.items() if domain in domains]
                least = 0 if len(domains) < spread.min_domains or len(counted) < len(domains) \
                    else min(counted, default=0)
                if max(counted, default=0) - least > spread.max_skew:
                    return False
        for rule in demand.affinities if mine else ():
            if rule.anti and rule.topology == "node":
                continue  # `_clash`
            target = demand.name if rule.target == "self" else rule.target
            others = by_demand.get(target, [])
            for step in sorted({s for run in mine + others for s in run[1:]}):  # where counts change
                counts = _per_domain(owners, mine, rule.topology, step)
                theirs = _per_domain(owners, others, rule.topology, step)
                if rule.target == "self" and any(n > 1 for n in counts.values()):
                    return False
                if rule.target != "self" and (
                        any(d in theirs for d in counts) if rule.anti else
                        any(d is None or d not in theirs for d in counts)):
                    return False
    return True


def _spread_domains(problem: Problem, demand: Demand, topology: str, bought: set[str]) -> set:
    """The domains a spread counts: those of its classes' declared nodes, and of the nodes
    bought (in use at some step)."""
    domains: set = set()
    for node_class in map(problem.node_class, demand.eligible):
        names = [n for n in node_class.node_names if n in bought] if node_class.provisioned \
            else node_class.node_names
        if topology == "node":
            domains.update(names)
        elif names and node_class.topology_value(topology) is not None:
            domains.add(node_class.topology_value(topology))
    return domains


def _per_domain(owners, runs: list[tuple[str, int, int]], topology: str, step: int) -> dict:
    """The runs at `step` per domain of `topology` (a node's name for `node`)."""
    counts: dict = {}
    for node, start, end in runs:
        if start <= step < end:
            domain = node if topology == "node" else owners[node].topology_value(topology)
            counts[domain] = counts.get(domain, 0) + 1
    return counts
