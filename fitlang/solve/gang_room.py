"""A gang with accelerator options that none of its options can run, and an option workload
whose options together cannot meet its latency rule: proven before any model.

A gang runs all its replicas on one option (docs/language.md), so each option must hold them
alone under the workload's rules that count its replicas. Two such rules give a proof from
the option's classes alone:

- `latency`: the option runs fewer replicas than the rule asks in reach, or has no class in
  reach (`option_latency.may_run_a_gang`);
- `spread T max_skew k` over the options: where the option leaves a domain of T empty (one
  with nodes of another option, which runs none), every domain holds at most k, so its
  replicas are at most k x its domains.

Where every option of the gang fails one, no placement exists. `bench/option_spreads.py
--rules` seed 882: `chat` (a gang of 2 on G80 or on G24, within 10 ms of its users for 1
replica) has every GPU node in r2, 40 ms away; seed 860: G80 (6, only in z3) and G24 (6, only
in z1) under `spread zone max_skew 1` each leave the other's zone empty, at most 1 in their
own. Both were refused (E0508: fitc holds no spread over options on a gang there), where the
reference proves none.

Sound only where the option's domains are known: an option that may use offers (a domain it
could buy nodes in) or a class without a value of T proves nothing by the spread.
"""

from __future__ import annotations

from fitlang.model.problem import Demand, OptionGroup, Problem
from fitlang.rules.option_latency import may_run_a_gang
from fitlang.rules.option_spread import domains, over_options


def gangs_short_of_options(problem: Problem) -> list[Demand]:
    """The option demands of each gang none of whose options can run it (the module's doc),
    and of each option workload whose options together cannot run a latency rule's replicas
    in reach (`_out_of_reach`)."""
    found: list[Demand] = []
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        if members and ((group.gang and all(not runs(problem, group, members, d) for d in members))
                        or _out_of_reach(problem, members) or _no_counts(problem, group, members)):
            found += members
    return found


def _no_counts(problem: Problem, group: OptionGroup, members: list[Demand]) -> bool:
    """Do no counts per domain and option hold the spreads over options (`option_split.
    none_hold`)?"""
    from fitlang.rules.option_split import none_hold

    spreads = [s for s in members[0].spreads if over_options(members[0], s)]
    return bool(spreads) and none_hold(problem, group, members, spreads)


def _out_of_reach(problem: Problem, members: list[Demand]) -> bool:
    """Do the options with a class in reach of a latency rule run fewer replicas than it asks,
    all of theirs together (each runs at most its replicas)? `--rules` seed 909: no node of
    either option within 10 ms; the narrowed solve proved nothing, explain took 1 CPU s."""
    for index, rule in enumerate(members[0].latency):
        near = sum(d.replicas for d in members if index < len(d.latency) and any(
            problem.within_reach(d.latency[index], problem.node_class(c)) for c in d.eligible))
        if near < rule.replicas:
            return True
    return False


def runs(problem: Problem, group: OptionGroup, members: list[Demand], option: Demand) -> bool:
    """Could the gang run on `option` alone, as far as its classes, its latency rules and its
    spreads over options tell?"""
    if not any(problem.node_class(c).count for c in option.eligible) or not may_run_a_gang(problem, option):
        return False
    return not any(_capped(problem, members, option, s.topology, s.max_skew)
                   for s in option.spreads if over_options(option, s))


def _capped(problem: Problem, members: list[Demand], option: Demand, topology: str, skew: int) -> bool:
    """Does the spread cap the option below its replicas: a domain of another option left
    empty, at most `skew` in each of its own?"""
    mine = [problem.node_class(c) for c in option.eligible]
    if any(c.provisioned or c.topology_value(topology) is None for c in mine if c.count):
        return False
    own = set(domains(problem, option, topology))
    every = {value for d in members for value in domains(problem, d, topology)}
    return own < every and option.replicas > skew * len(own)
