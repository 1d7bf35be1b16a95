"""`affinity W on T` (T a zone, region or label, not a node) towards a workload W whose
spreads over its options are narrowed (`option_spread.narrowed`): the follower kept to the
domains of T where W's narrowed demands surely run.

Narrowed, W is plain demands (a share per option, or `option_split`'s parts), and the rule
followed one of them, the option with the most replicas: stricter than written, as W runs
where its other options run too. `bench/option_spreads.py --rules` seed 829: `chat` narrowed
to G80's 5 replicas in z3 and G24's 3 in z2, `web` (13 replicas, `spread zone max_skew 2`)
near chat by zone followed G80 only, so it ran in z3 alone, at most 2 over z2's none: 11 of
its replicas left out (`unknown`) where the reference places all.

A narrowed demand whose classes all lie in one domain of T runs there whenever W is placed
(each places all its replicas, or W places none: `option_spread._short_left_out`), so the
follower may run in every such domain: its classes are kept to those domains and the rule,
which they hold, is dropped (`followed_in`), unless that takes a domain from one of its own
spreads (which counts it, empty, as written). Where W places none, its followers placed by
such a rule are left out with it (`left_out_with`). Where no narrowed demand lies in one
domain, the rule follows one option as before.

Where W's shares would keep such a follower to too few domains for its own spread (`short_beside`),
W is split into counts per cell (`option_split`), the rule's topology among the cells', and
the count search asks that the domains its parts run in keep the follower's spreads and hold
its replicas (`covered`). `--rules` seed 1681: `chat` (7 of G80, only in z2, or 14 of G24, in
z1 and z3; `spread region max_skew 3`) ran G24 alone, so `web` (13 replicas near chat by
zone, `spread zone max_skew 2`) had z1 and z3, 2 each over z2's none: 9 left out (`unknown`)
where the reference runs 1 of G80 in z2 beside 12 of G24 and places all at 18.00.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from fitlang.check.program import AffinityRule, SpreadRule
from fitlang.model.problem import Demand, OptionGroup, Problem
from fitlang.rules.option_spread import node_fit


def sure_domains(problem: Problem, narrowed: Iterable[Demand], topology: str) -> set[str]:
    """The domains of `topology` where one of the narrowed demands (with replicas) has all
    its classes."""
    found: set[str] = set()
    for demand in narrowed:
        values = {problem.node_class(c).topology_value(topology) for c in demand.eligible}
        value = values.pop() if len(values) == 1 else None
        if demand.replicas and value is not None:
            found.add(value)
    return found


def followed_in(problem: Problem, demand: Demand, narrowed: dict[str, list[Demand]]) -> Demand:
    """`demand` with each affinity over domains towards a narrowed workload (`narrowed`:
    workload -> its narrowed demands) replaced by its classes kept to the domains the
    workload surely runs in; as it was where there are none (or no such rule)."""
    eligible, kept = list(demand.eligible), []
    for rule in demand.affinities:
        target = _workload(problem, rule)
        domains = set() if target not in narrowed or rule.topology == "node" or rule.anti else \
            sure_domains(problem, narrowed[target], rule.topology)
        if not domains:
            kept.append(rule)
            continue
        eligible = [c for c in eligible if problem.node_class(c).topology_value(rule.topology) in domains]
    spreads = None if len(kept) == len(demand.affinities) else _spreads_within(problem, demand, eligible)
    if spreads is None:
        return demand
    return dataclasses.replace(demand, eligible=eligible, affinities=kept, spreads=spreads)


def _spreads_within(problem: Problem, demand: Demand, eligible: list[str]) -> list[SpreadRule] | None:
    """The follower's own spreads over only `eligible`, each holding the spread as written,
    or None where one cannot. A spread counts over the domains of the nodes the workload may
    use: a domain it may no longer use counts 0 as written, so each domain left holds at most
    max_skew (`_skew_left`); unchanged where none is taken away. A spread over nodes: only
    where no class is taken away."""
    def values(classes: list[str], topology: str) -> set:
        mine = [problem.node_class(c) for c in classes]
        return {node_class.topology_value(topology) for node_class in mine if node_class.count}

    spreads = []
    for spread in demand.spreads:
        if spread.topology == "node":
            if len(eligible) < len(demand.eligible):
                return None
            spreads.append(spread)
            continue
        left = values(eligible, spread.topology)
        if left == values(list(demand.eligible), spread.topology):
            spreads.append(spread)
            continue
        skew = _skew_left(demand.replicas, len(left), spread.max_skew)
        if skew is None:
            return None
        spreads.append(dataclasses.replace(spread, max_skew=skew))
    return spreads


def _skew_left(replicas: int, domains: int, most: int) -> int | None:
    """The largest max_skew over `domains` domains that keeps each of them at `most` replicas
    or fewer (the rule as written where other domains it counts hold none), or None where
    they cannot hold `replicas`. A domain of M >= most + 1 leaves the least of the others at
    (replicas - M) // (domains - 1) at most, so a skew below most + 1 - that bars it
    (`bench/option_spreads.py --rules` seed 972: `web`, 4 replicas near `chat` by zone with
    `spread zone max_skew 2`, chat surely in z1 and z2, web may use z3 too: 2 + 2, skew 1)."""
    if not domains or replicas > most * domains:
        return None
    if replicas <= most or domains == 1:
        return most
    return most - (replicas - most - 1) // (domains - 1)


def by_domain(problem: Problem, group: OptionGroup) -> list[Demand]:
    """The plain demands whose every rule towards the workload of `group` is an affinity over
    domains (not anti, not on node): `followed_in` keeps them to the domains of a split's parts
    and drops the rule, so the split may take them (`option_split._ruled`). Not one with a rule
    towards another option workload too, which may keep it to fewer domains still."""
    found, others = [], {g.workload for g in problem.option_groups} - {group.workload}
    for demand in problem.demands:
        rules = [r for r in demand.affinities
                 if _workload(problem, r) == group.workload and r.target != "self"]
        if demand.group is None and rules and all(not r.anti and r.topology != "node" for r in rules) \
                and not any(_workload(problem, r) in others for r in demand.affinities):
            found.append(demand)
    return found


def topologies(problem: Problem, follower: Demand, group: OptionGroup) -> list[str]:
    """The topologies of the follower's rules towards the workload of `group`."""
    return list(dict.fromkeys(r.topology for r in follower.affinities
                              if _workload(problem, r) == group.workload and r.target != "self"))


def held_in(problem: Problem, follower: Demand, kept: dict[str, set[str]]) -> bool:
    """Does `follower`, kept to these domains (topology -> domains), keep its own spreads
    (`_spreads_within`) and have room for its replicas on empty nodes?"""
    eligible = [c for c in follower.eligible
                if all(problem.node_class(c).topology_value(t) in domains for t, domains in kept.items())]
    room = sum(problem.node_class(c).count * node_fit(problem.node_class(c), follower) for c in eligible)
    return room >= follower.replicas and _spreads_within(problem, follower, eligible) is not None


def covered(problem: Problem, followers: list[tuple[Demand, list[int]]], cells: list[tuple[str, ...]],
            topologies: list[str], counts: list[int]) -> bool:
    """Do the cells given a count (`cells`: each one's domain per topology of `topologies`)
    hold every follower by domain (each with the positions of its rules' topologies)?"""
    given = [cell for cell, count in zip(cells, counts, strict=True) if count]
    return all(held_in(problem, follower, {topologies[i]: {cell[i] for cell in given} for i in positions})
               for follower, positions in followers)


def short_beside(problem: Problem, group: OptionGroup, members: list[Demand],
                 counts: dict[str, tuple[int, list[str]]]) -> bool:
    """Would a follower by domain lose its spreads or room beside W's shares (`counts`: option
    -> its replicas and classes)? It runs in the domains the shares surely run in, else in
    those of the share it follows (the most replicas), as `followed_in` keeps it."""
    shares = [dataclasses.replace(d, replicas=counts[d.name][0], eligible=counts[d.name][1]) for d in members]
    followed = max(shares, key=lambda d: d.replicas)
    for follower in by_domain(problem, group):
        mine = topologies(problem, follower, group)
        sure = {t: sure_domains(problem, shares, t) for t in mine}
        where = {t: {v for c in followed.eligible if (v := problem.node_class(c).topology_value(t))}
                 for t in mine}
        if not (all(sure.values()) and held_in(problem, follower, sure)) and \
                not held_in(problem, follower, where):
            return True
    return False


def followers(problem: Problem, workloads: set[str]) -> set[str]:
    """The demands of `problem` with an affinity (not anti) towards one of `workloads`."""
    return {d.name for d in problem.demands
            if any(not r.anti and _workload(problem, r) in workloads for r in d.affinities)}


def _workload(problem: Problem, rule: AffinityRule) -> str:
    """The workload a rule's target names (an option's demand names its workload)."""
    for group in problem.option_groups:
        if rule.target == group.workload or rule.target in group.demands:
            return group.workload
    return rule.target
