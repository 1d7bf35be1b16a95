"""`spread T max_skew K` (T a zone, region or label) of a workload with accelerator options:
counted over the replicas of every option together, per domain of T among the nodes any
option may use (as Kubernetes counts the pods its `labelSelector` on the workload's name
selects). Each option's demand carries the spread (in the same place of `Demand.spreads`: explain
drops it from every option at once); the spread rule (`rules/spread.py`) calls this module for
such spreads: its rows (`group_rows`) and its check (`check_groups`).

Only the exact per-node model holds it: the fleet-scale stages balance each demand's own
domains. A policy with one is solved node by node (`solve/placement.solve`, explain's checks),
and a fleet too large for that is refused when it is built (E0508, `too_large`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fitlang.check.program import SpreadRule
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Demand, Problem
from fitlang.rules.base import Placed, domain_of

if TYPE_CHECKING:  # the solver's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.solve.encode import Encoding

# the fleets the per-node model is asked to solve with such a spread (`solve/placement.py`'s
# EXACT_MAX_NODES: tests/test_solve.py checks the two agree)
MAX_NODES = 48


def over_options(demand: Demand, spread: SpreadRule) -> bool:
    """Is this spread of `demand` counted over every option of its workload?"""
    return demand.group is not None and spread.topology != "node"


def in_problem(problem: Problem) -> bool:
    """Has any workload of the problem a spread counted over its options?"""
    return any(over_options(d, s) for d in problem.demands for s in d.spreads)


def too_large(problem: Problem) -> bool:
    """A fleet the per-node model cannot hold such a spread on (or one with a horizon, whose
    time-indexed model counts each option apart)."""
    return in_problem(problem) and (problem.timeline is not None
                                    or sum(c.count for c in problem.classes) > MAX_NODES)


def _members(problem: Problem) -> Iterator[list[Demand]]:
    """The demands of each option workload with such a spread."""
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        if any(over_options(members[0], s) for s in members[0].spreads):
            yield members


def check_groups(placed: Placed) -> Iterator[Diagnostic]:
    """Per domain of the nodes any option may use (those with nodes in the placement), the
    replicas of every option there, summed; the sums differ by at most max_skew."""
    owner, problem = placed.owner, placed.problem
    for members in _members(problem):
        eligible = {c for d in members for c in d.eligible if c in placed.nodes_of}
        for spread in members[0].spreads:
            if not over_options(members[0], spread):
                continue
            counts: Counter = Counter({value: 0 for c in eligible
                                       if (value := problem.node_class(c).topology_value(spread.topology))
                                       is not None})
            for demand in members:
                for node, amount in placed.placed_on.get(demand.name, {}).items():
                    domain = domain_of(node, owner[node], spread.topology)
                    if domain is not None:
                        counts[domain] += amount
            if counts and max(counts.values()) - min(counts.values()) > spread.max_skew:
                yield placed.violation(
                    f"`{members[0].workload}` is spread {min(counts.values())}..{max(counts.values())} "
                    f"per {spread.topology} over its options; max_skew is {spread.max_skew}",
                    spread.origin)


def group_rows(encoding: Encoding, first: Demand) -> None:
    """Where `first` is the first option of its workload: per domain d, least <= sum over
    options o and their classes c in d of y[o,c] <= least + max_skew, over the domains of every
    option's eligible classes; a domain of offers only counts where nodes are bought
    (`spread._domain_exists`). The rows' group is the first option's `SpreadGroup`, which
    explain reads as the workload's spread."""
    from fitlang.rules.spread import SpreadGroup, SpreadLeast, domain_rows

    if not any(over_options(first, s) for s in first.spreads):
        return
    for members in _members(encoding.problem):
        if members[0].name != first.name:
            continue
        replicas = sum(d.replicas for d in members)
        for index, spread in enumerate(first.spreads):
            if not over_options(first, spread):
                continue
            domains: dict[str, list[tuple[str, str]]] = {}
            for demand in members:
                for value, class_ids in encoding.domains(demand, spread.topology).items():
                    domains.setdefault(value, []).extend((demand.name, c) for c in class_ids)
            if len(domains) < 2:
                continue
            least = encoding.column(SpreadLeast(first.name, index), f"min[{first.workload},{index}]",
                                    0, replicas)
            domain_rows(encoding, domains, least, replicas, spread, SpreadGroup(first.name, index),
                        f"{first.workload},{spread.topology}", first.name)

