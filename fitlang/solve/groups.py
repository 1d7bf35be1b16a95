"""Typed keys of constraint groups: which rule of the policy a row of the linear model comes from.

Every row `encode` adds for a rule carries one of these keys, so that `explain` can map a Z3
unsat core or the rows of an elastic LP that fall short back to the parts of the policy by
looking at the key's fields, never by parsing a name. Keys are frozen (hashable, comparable
for equality). Only the Z3 backend gives them names (`backends.group_name`), and it finds a
key again from its switch through its own table, never from the name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplicasGroup:
    """Every replica of a demand (not an option) placed."""

    demand: str


@dataclass(frozen=True)
class EligibleGroup:
    """A demand's replicas placed are those on the classes it may use."""

    demand: str


@dataclass(frozen=True)
class GangGroup:
    """A gang: a demand's replicas in one cluster, or an option group's on one option.
    `name` is the demand's name, or the option group's workload."""

    name: str


@dataclass(frozen=True)
class ThroughputGroup:
    """An option group's options deliver its throughput."""

    workload: str


@dataclass(frozen=True)
class CapacityGroup:
    """What a class's nodes hold (node by node, a class is one node)."""

    class_id: str


@dataclass(frozen=True)
class ExclusiveGroup:
    """`exclusive = true`: nothing else on a demand's nodes."""

    demand: str


@dataclass(frozen=True)
class BudgetGroup:
    """The policy's hourly budget."""


@dataclass(frozen=True)
class BuyGroup:
    """A `buy` block's max_count; `buy` is the block's index (`NodeClass.buy_group`)."""

    buy: int


@dataclass(frozen=True)
class PowerGroup:
    """A power cap, by its index in `Problem.power_caps`."""

    index: int


@dataclass(frozen=True)
class AffinityGroup:
    """A demand's affinity or anti-affinity rule, by its index in `Demand.affinities`."""

    demand: str
    index: int


@dataclass(frozen=True)
class SpreadGroup:
    """A demand's spread, by its index in `Demand.spreads`."""

    demand: str
    index: int


@dataclass(frozen=True)
class LatencyGroup:
    """A workload's latency rule towards the users in `location`."""

    workload: str
    location: str


Group = (ReplicasGroup | EligibleGroup | GangGroup | ThroughputGroup | CapacityGroup
         | ExclusiveGroup | BudgetGroup | BuyGroup | PowerGroup | AffinityGroup | SpreadGroup
         | LatencyGroup)

# what an elastic relaxation may leave short (at a price): what the policy asks for
ELASTIC_GROUPS = (ReplicasGroup, ThroughputGroup)
