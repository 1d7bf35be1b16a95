"""A workload whose own spread the workload it follows (or keeps away from) caps: proven short
before any model.

`affinity W on T` keeps each replica of the follower F on a node (T = node) or in a domain of
T where W runs, so F runs only in the domains of its spread's topology where W's nodes lie
(`allowed`). Its `spread T' max_skew k` counts every domain of the nodes F may use: where one
of them holds no node W may use, it holds none of F, so each domain holds at most k, and F at
most k x the domains it may run in. Where F needs more, no placement exists. A gang W with
options runs on one option: F is capped on each, and short where it is on every one.
`anti_affinity W on T` with `spread T max_skew k` of F's own: W runs in some domain, and
where every class it may use lies in a domain F's spread counts, that one holds none of F:
F at most k x its other domains (`_kept_out`). And `affinity W on node` alone: F runs beside
W's replicas, a node each at most, so at most what fits beside them (`_beside_too_few`), and
with a spread of F's own over T', each domain at most k above the one beside which least fits
(`--rules` seed 1068: `web`, 30 with `spread zone max_skew 1`, beside at most 2 nodes of G80
in z2, 7 a node: 14 there, at most 15 in z3). And `anti_affinity W on T` where W runs for
sure in domains of T (its own spread over T fills them, all its nodes lie in one, or all
those in reach of its `latency` rule do) and the follower's nodes outside them do not hold
it (`_crowded_out`).

`bench/option_spreads.py --rules` seed 688: `web` (15, `spread zone max_skew 2`) beside
`chat` on its nodes, chat a gang of G24 (z2) or G80 (z1, z2), web's CPU nodes in z3 too: at
most 2 a zone, 4 on G80. The reference proves it infeasible; fitc's narrowed solve proves
nothing, and its explanation took 2.5 CPU s (`unknown` within 5 s under load).

Sound only where the follower's domains are known: a class of the follower without a value
of T' (its replicas there count in no domain) proves nothing. Offers count where they may
hold the follower (a domain it could buy a node in is one it may run in).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from fitlang.check.program import AffinityRule, SpreadRule
from fitlang.model.problem import Demand, Problem
from fitlang.rules.option_spread import domains


def followers_short_of_room(problem: Problem) -> list[Demand]:
    """The followers whose own spread the workload they follow caps below their replicas, and
    those it keeps away from (`_kept_out`)."""
    return [d for d in problem.demands if d.group is None and d.replicas > 0 and (
        _followed_in(problem, d) or _kept_out(problem, d) or _beside_too_few(problem, d)
        or _crowded_out(problem, d))]


def _followed_in(problem: Problem, follower: Demand) -> bool:
    """An affinity and a spread of the follower's own that the target caps (the module's doc)."""
    return any((ways := list(_where_it_runs(problem, rule.target)))
               and all(_capped(problem, follower, rule, spread, classes) for classes in ways)
               for rule in follower.affinities if not rule.anti and rule.target not in ("self", follower.name)
               for spread in follower.spreads if spread.topology != "node")


def _beside_too_few(problem: Problem, follower: Demand) -> bool:
    """`affinity W on node`: the follower runs on nodes W runs on, at most one a replica of W
    (each option's at most its replicas; a gang's on one option), each holding what fits
    beside one replica of W on its roomiest class. `--rules` seed 896: `web` (21 of one CPU)
    beside a gang of 3 with 4 CPUs of 8: at most 12."""
    for rule in follower.affinities:
        if rule.anti or rule.topology != "node" or rule.target in ("self", follower.name):
            continue
        hosts = _hosts(problem, rule.target)
        if hosts and all(follower.replicas > _most_beside(problem, follower, way) for way in hosts):
            return True
    return False


def _most_beside(problem: Problem, follower: Demand, way: list[Demand]) -> int:
    """The most of the follower beside the demands of `way` (`_beside_most`), and under each
    spread of its own over domains: each domain at most k above the least room of a domain
    it counts (its existing nodes'; an offer's domain only once bought), so at most the sum
    of min(room, least + k). A class of the follower with no value of the spread's topology
    proves nothing for that spread."""
    most = sum(_beside_most(problem, follower, d) for d in way)
    for spread in (s for s in follower.spreads if s.topology != "node"):
        values = {problem.node_class(c).topology_value(spread.topology) for c in follower.eligible}
        counted = set(domains(problem, follower, spread.topology))
        if None in values or not counted:
            continue
        rooms = {value: sum(_beside_most(problem, follower, d, value, spread.topology) for d in way)
                 for value in values}
        least = min(rooms[value] for value in counted)
        most = min(most, sum(min(room, least + spread.max_skew) for room in rooms.values()))
    return most


def _hosts(problem: Problem, target: str) -> list[list[Demand]]:
    """The demands the target runs as (a gang's options each apart)."""
    names = {d.name for d in problem.demands}
    for group in problem.option_groups:
        if target == group.workload:
            options = [problem.demand(name) for name in group.demands if name in names]
            return [[o] for o in options] if group.gang else [options] if options else []
    return [[problem.demand(target)]] if target in names else []


def _beside_most(problem: Problem, follower: Demand, host: Demand, value: str | None = None,
                 topology: str | None = None) -> int:
    """The most of the follower beside `host`'s replicas: a node each (at most as many as the
    nodes the two share), each holding what fits beside one on the roomiest of them; with a
    `topology`, only on the nodes in its domain `value`."""
    from fitlang.rules.option_hosts import beside

    shared = [c for c in host.eligible if c in set(follower.eligible)
              and (topology is None or problem.node_class(c).topology_value(topology) == value)]
    nodes = sum(problem.node_class(c).count for c in shared)
    most = max((beside(problem, follower, host, c) for c in shared), default=0)
    return min(host.replicas, nodes) * most


def _kept_out(problem: Problem, follower: Demand) -> bool:
    """`anti_affinity W on T` with `spread T max_skew k` of its own: W runs somewhere, and where
    each class it may use lies in a domain of T the follower's spread counts, that domain
    holds none of the follower, so each holds at most k, k x the other domains in all.
    `--rules` seed 730: `web` (4, `spread zone max_skew 1`) away from `chat` by zone, chat's
    nodes in two of web's three zones: at most 2."""
    for spread in (s for s in follower.spreads if s.topology != "node"):
        if not _keeps_away(follower, spread.topology):  # (most followers: the rest is costly)
            continue
        counted = set(domains(problem, follower, spread.topology))  # (existing nodes: counted always)
        mine = {problem.node_class(c).topology_value(spread.topology) for c in follower.eligible}
        if None in mine or len(mine) < 2:
            continue
        for target in _kept_away_from(problem, follower, spread.topology):
            theirs = {problem.node_class(c).topology_value(spread.topology) for c in target}
            if theirs and theirs <= counted and follower.replicas > spread.max_skew * (len(mine) - 1):
                return True
    return False


def _keeps_away(follower: Demand, topology: str) -> bool:
    """Whether the follower keeps away from another workload by `topology`."""
    return any(r.anti and r.topology == topology and r.target != "self" for r in follower.affinities)


def _kept_away_from(problem: Problem, follower: Demand, topology: str) -> Iterator[set[str]]:
    """The classes of each workload the follower keeps away from by `topology`, one of whose
    replicas runs for sure (`_away_from`)."""
    for members, _ in _away_from(problem, follower, topology):
        yield {c for d in members for c in d.eligible}


def _away_from(problem: Problem, follower: Demand, topology: str) -> Iterator[tuple[list[Demand], Fraction]]:
    """Each workload the follower keeps away from by `topology`, one of whose replicas runs
    for sure (its demands and the throughput they deliver): a plain workload with replicas,
    or one with options every option of which the follower keeps away from (`model/build`
    names each option for the rule)."""
    away = {r.target for r in follower.affinities if r.anti and r.topology == topology and r.target != "self"}
    if not away:
        return
    names = {d.name for d in problem.demands}
    for group in problem.option_groups:
        options = [problem.demand(name) for name in group.demands if name in names]
        if options and (group.workload in away or all(o.name in away for o in options)):
            yield options, group.required
    for target in away & names:
        demand = problem.demand(target)
        if demand.group is None and demand.replicas > 0:
            yield [demand], Fraction(demand.replicas)


def _crowded_out(problem: Problem, follower: Demand) -> bool:
    """`anti_affinity W on T` where W runs for sure in domains of T (`_sure_domains`): the
    follower may use none of their nodes, and the nodes it has left do not hold it (`room.
    held_on`). `--rules` seed 901: `chat` (5 of G80 in z2, or 10 of G24 in z3) within 2 a
    zone, so in both (one zone at 0 holds the other at 2), and `web` away from chat by zone,
    its nodes in z2 and z3. Seed 1340: every node of the fleet in z3, so chat runs there and
    `web` (25, away from chat by zone) has no node left."""
    from fitlang.solve.room import held_on

    topologies = {r.topology for r in follower.affinities if r.anti and r.topology != "node"}
    for topology in topologies:
        for members, required in _away_from(problem, follower, topology):
            sure = _sure_domains(problem, members, required, topology)
            left = [c for c in follower.eligible
                    if problem.node_class(c).topology_value(topology) not in sure]
            if sure and (not held_on(problem, follower, left)
                         or _spread_left(problem, follower, topology, sure)):
                return True
    return False


def _spread_left(problem: Problem, follower: Demand, topology: str, sure: set[str]) -> bool:
    """Does a `spread T max_skew k` of the follower's own count a domain W surely runs in
    (which holds none of it), so that each other domain holds at most k, short of its
    replicas? `--rules` seed 1504: `chat` fills z2 and z3 (its zones, within 1), `web` (4,
    zones within 2) away from it has z1 left: 2 at most."""
    mine = {problem.node_class(c).topology_value(topology) for c in follower.eligible}
    if None in mine:
        return False
    counted = set(domains(problem, follower, topology))
    return any(counted & sure and follower.replicas > spread.max_skew * len(mine - sure)
               for spread in follower.spreads if spread.topology == topology)


def _sure_domains(problem: Problem, members: list[Demand], required: Fraction, topology: str) -> set[str]:
    """The domains of `topology` a workload (its demands, the throughput they deliver) runs
    in in every placement: those its spreads fill (`_filled`), the one domain all its nodes
    lie in, and the one all its nodes in reach of a `latency` rule lie in (the rule puts a
    replica there)."""
    usable = [problem.node_class(c) for d in members for c in d.eligible]
    usable = [c for c in usable if c.provisioned or c.count > 0]
    in_reach = [[c for c in usable if problem.within_reach(rule, c)] for rule in members[0].latency
                if rule.replicas > 0]
    sure = _filled(problem, members, required, topology)
    for classes in [usable, *in_reach]:
        values = {c.topology_value(topology) for c in classes}
        if len(values) == 1 and (value := values.pop()) is not None:
            sure.add(value)
    return sure


def _filled(problem: Problem, members: list[Demand], required: Fraction, topology: str) -> set[str]:
    """The domains of `topology` a workload (its demands, the throughput they deliver) runs
    in in every placement under its spreads over it: where one of its existing domains holds
    none, each other domain holds at most k of its replicas, so at most k x the most a replica
    delivers there (offers' domains too), short of `required`."""
    skews = [s.max_skew for s in members[0].spreads if s.topology == topology]
    if not skews:
        return set()
    most: dict[str, Fraction] = {}  # domain -> the most one replica delivers there
    for demand in members:
        for class_id in demand.eligible:
            value = problem.node_class(class_id).topology_value(topology)
            if value is None:
                return set()
            most[value] = max(most.get(value, Fraction(0)), demand.throughput)
    existing = {value for demand in members for value in domains(problem, demand, topology)}
    every = min(skews) * sum(most.values(), Fraction(0))
    return {value for value in existing if every - min(skews) * most[value] < required}


def _where_it_runs(problem: Problem, target: str) -> Iterator[set[str]]:
    """The classes the target may run on: a plain workload's; a workload with options, all
    of theirs, or for a gang each option's apart (it runs on one). None where not in the
    problem (none: the rule then caps nothing here)."""
    names = {d.name for d in problem.demands}
    for group in problem.option_groups:
        if target == group.workload:
            options = [set(problem.demand(name).eligible) for name in group.demands if name in names]
            if group.gang:
                yield from options
            elif options:
                yield set().union(*options)
            return
    if target in names:
        yield set(problem.demand(target).eligible)


def _capped(problem: Problem, follower: Demand, rule: AffinityRule, spread: SpreadRule,
            theirs: set[str]) -> bool:
    """Does the spread cap the follower below its replicas where the target runs on `theirs`?"""
    near = {problem.node_class(c).topology_value(rule.topology) for c in theirs} - {None}
    allowed = [problem.node_class(c) for c in follower.eligible
               if (c in theirs if rule.topology == "node" else
                   problem.node_class(c).topology_value(rule.topology) in near)]
    values = {node_class.topology_value(spread.topology) for node_class in allowed}
    if None in values:
        return False
    every = set(domains(problem, follower, spread.topology))
    return bool(every - values) and follower.replicas > spread.max_skew * len(values)
