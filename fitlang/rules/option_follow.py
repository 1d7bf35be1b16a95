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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from fitlang.check.program import AffinityRule, SpreadRule
from fitlang.model.problem import Demand, Problem


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
