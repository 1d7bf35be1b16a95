"""A `latency` rule of an option workload whose spreads over its options are narrowed
(`option_spread.narrowed`): held by the narrowed demands' counts, not by each one alone.

The rule counts the replicas of every option together (`rules/latency.py`, which groups the
demands by their workload). A narrowed option is a plain demand of its own (a share, or a
part of `option_split`), so kept on each it would ask each for the rule's K replicas in
reach: stricter than written, and often impossible (`bench/option_spreads.py --rules` seed
725: G80's 3 replicas in r1 within 10 ms, G24's one in r2 at 40 ms, and the rule asks for 1:
G24's demand alone could not meet it, and the workload was left out, `unknown`).

A narrowed demand places all its replicas or the workload places none (`option_spread.
_short_left_out`), so where the demands whose classes are all in reach run at least K
replicas together the rule holds whatever the placement: it is dropped from them
(`held`, `without`). Where the shares do not, `option_split` counts per cell with the
rule in its search (`reached`: the cells in reach and K), and its parts drop it too.
Otherwise it stays on each demand, as before.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from fractions import Fraction

from fitlang.check.program import LatencyRule
from fitlang.model.problem import Demand, Problem


def in_reach(problem: Problem, demand: Demand, classes: Iterable[str]) -> list[bool]:
    """Per latency rule of `demand`: are all these classes within its reach?"""
    mine = [problem.node_class(c) for c in classes]
    return [bool(mine) and all(problem.within_reach(rule, c) for c in mine) for rule in demand.latency]


def held(problem: Problem, members: list[Demand], replicas: dict[str, tuple[int, list[str]]]) -> bool:
    """Do the narrowed demands (option -> its replicas and classes) run, on classes all in
    reach, at least each rule's replicas? (True where the workload has no latency rule.)"""
    rules = members[0].latency
    if not rules:
        return True
    by_name = {d.name: d for d in members}
    reached = [0] * len(rules)
    for name, (count, classes) in replicas.items():
        if count:
            for index, inside in enumerate(in_reach(problem, by_name[name], classes)):
                reached[index] += count if inside else 0
    return all(total >= rule.replicas for total, rule in zip(reached, rules, strict=True))


def each_meets(problem: Problem, members: list[Demand], replicas: dict[str, tuple[int, list[str]]],
               skews: dict[str, dict[str, int]] | None = None) -> bool:
    """Could each narrowed demand with replicas meet every rule on its own (what keeping the
    rule on each asks): K of its replicas in reach, as many as its own spreads (`skews`:
    option -> topology -> max_skew) let into the domains in reach?"""
    by_name = {d.name: d for d in members}
    for name, (count, classes) in replicas.items():
        for rule in by_name[name].latency if count else []:
            if most_in_reach(problem, rule, count, classes, (skews or {}).get(name, {})) < rule.replicas:
                return False
    return True


def most_in_reach(problem: Problem, rule: LatencyRule, count: int, classes: list[str],
                  skews: dict[str, int]) -> int:
    """The most of `count` replicas on these classes within the rule's reach where they are
    spread over each topology of `skews` (not nodes) with its max_skew; a domain (of the
    classes with nodes) counts as in reach where one of its classes is. `--rules` seed 1074:
    G80's 3 replicas within 1 over z1 (in reach) and z3 (40 ms away) put 2 in reach, fewer
    than the rule's 3."""
    near = {c for c in classes if problem.within_reach(rule, problem.node_class(c))}
    most = count if near else 0
    for topology, skew in skews.items():
        reached: dict[str | None, bool] = {}
        for class_id in classes:
            node_class = problem.node_class(class_id)
            if topology != "node" and node_class.count and not node_class.provisioned:
                value = node_class.topology_value(topology)
                reached[value] = reached.get(value, False) or class_id in near
        inside = sum(reached.values())
        if 0 < inside < len(reached):
            most = min(most, _most_in(count, len(reached), inside, skew))
    return most


def _most_in(count: int, domains: int, inside: int, skew: int) -> int:
    """The most of `count` replicas over `domains` domains within `skew` of each other that
    `inside` of them hold: with m the least a domain holds, the others hold m or more and
    those inside m + skew at most, so min(count - (domains - inside) m, inside (m + skew)),
    the largest at m near (count - inside skew) / domains."""
    middle = Fraction(count - inside * skew, domains)
    return max(min(count - (domains - inside) * m, inside * (m + skew))
               for m in {max(0, math.floor(middle)), max(0, math.ceil(middle))})


def priced(problem: Problem, members: list[Demand], replicas: dict[str, tuple[int, list[str]]]) -> Fraction:
    """What narrowed demands that each keep the latency rules pay (option -> its replicas and
    classes): each rule's replicas at the least a replica costs on its classes in reach, the
    others at the least on any of its classes (`option_split.priced`'s prices)."""
    from fitlang.rules.option_spread import rate

    total = Fraction(0)
    for demand in members:
        count, classes = replicas.get(demand.name, (0, []))
        if not count:
            continue
        each = rate(problem, demand, classes) * demand.throughput
        near = [min((c for c in classes if problem.within_reach(rule, problem.node_class(c))),
                    key=lambda c: rate(problem, demand, [c]), default=None) for rule in demand.latency]
        reached = max((rule.replicas for rule in demand.latency), default=0)
        dearest = max((rate(problem, demand, [c]) * demand.throughput for c in near if c is not None),
                      default=each)
        total += min(reached, count) * dearest + (count - min(reached, count)) * each
    return total


def reached(problem: Problem, owners: list[Demand],
            classes: list[list[str]]) -> list[tuple[list[bool], int]]:
    """Per latency rule of the workload (every option carries them): which cells (an owner
    and its classes there each) are all in reach, and the replicas the rule asks for."""
    if not owners or not owners[0].latency:
        return []
    flags = [in_reach(problem, owner, mine) for owner, mine in zip(owners, classes, strict=True)]
    return [([cell[index] for cell in flags], rule.replicas) for index, rule in enumerate(owners[0].latency)]


def without(demand: Demand) -> Demand:
    """`demand` with its latency rules dropped (its count holds them)."""
    return dataclasses.replace(demand, latency=[]) if demand.latency else demand



def may_run_a_gang(problem: Problem, demand: Demand) -> bool:
    """Could a gang run on this option alone (all its replicas there) under every latency
    rule: its replicas at least K, a class in reach? `--rules` seed 761 dealt a gang to G80,
    whose nodes are all 40 ms away, under a rule of 10 ms (`unknown`) where G24 meets it.
    (The option's classes still count for the spreads' domains: only its choice is barred.)"""
    return all(demand.replicas >= rule.replicas and any(problem.within_reach(rule, problem.node_class(c))
                                                        for c in demand.eligible) for rule in demand.latency)
