"""Typed keys of constraint groups: which rule of the policy a row of the linear model comes from.

Every row `encode` adds for a rule carries one of these keys, so that `explain` can map a Z3
unsat core or the rows of an elastic LP that fall short back to the parts of the policy by
looking at the key's fields, never by parsing a name. Keys are frozen (hashable, comparable
for equality); `str(key)` is a readable name for people and for a stable order (the Z3
backend sorts the groups by it), never read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class ReplicasGroup:
    """Every replica of a demand (not an option) placed."""

    demand: str

    def __str__(self) -> str:
        return f"replicas:{self.demand}"


@dataclass(frozen=True)
class EligibleGroup:
    """A demand's replicas placed are those on the classes it may use."""

    demand: str

    def __str__(self) -> str:
        return f"eligible:{self.demand}"


@dataclass(frozen=True)
class GangGroup:
    """A gang: a demand's replicas in one cluster, or an option group's on one option.
    `name` is the demand's name, or the option group's workload."""

    name: str

    def __str__(self) -> str:
        return f"gang:{self.name}"


@dataclass(frozen=True)
class ThroughputGroup:
    """An option group's options deliver its throughput."""

    workload: str

    def __str__(self) -> str:
        return f"throughput:{self.workload}"


@dataclass(frozen=True)
class CapacityGroup:
    """What a class's nodes hold (node by node, a class is one node)."""

    class_id: str

    def __str__(self) -> str:
        return f"capacity:{self.class_id}"


@dataclass(frozen=True)
class ExclusiveGroup:
    """`exclusive = true`: nothing else on a demand's nodes."""

    demand: str

    def __str__(self) -> str:
        return f"exclusive:{self.demand}"


@dataclass(frozen=True)
class BudgetGroup:
    """The policy's hourly budget."""

    def __str__(self) -> str:
        return "budget"


@dataclass(frozen=True)
class BuyGroup:
    """A `buy` block's max_count; `buy` is the block's index (`NodeClass.buy_group`)."""

    buy: int

    def __str__(self) -> str:
        return f"buy:{self.buy}"


@dataclass(frozen=True)
class PowerGroup:
    """A power cap, by its index in `Problem.power_caps`."""

    index: int

    def __str__(self) -> str:
        return f"power:{self.index}"


@dataclass(frozen=True)
class AffinityGroup:
    """A demand's affinity or anti-affinity rule, by its index in `Demand.affinities`."""

    demand: str
    index: int

    def __str__(self) -> str:
        return f"affinity:{self.demand}:{self.index}"


@dataclass(frozen=True)
class SpreadGroup:
    """A demand's spread, by its index in `Demand.spreads`."""

    demand: str
    index: int

    def __str__(self) -> str:
        return f"spread:{self.demand}:{self.index}"


@dataclass(frozen=True)
class LatencyGroup:
    """A workload's latency rule towards the users in `location`."""

    workload: str
    location: str

    def __str__(self) -> str:
        return f"latency:{self.workload}:{self.location}"


Group = Union[ReplicasGroup, EligibleGroup, GangGroup, ThroughputGroup, CapacityGroup,
              ExclusiveGroup, BudgetGroup, BuyGroup, PowerGroup, AffinityGroup, SpreadGroup,
              LatencyGroup]

# what an elastic relaxation may leave short (at a price): what the policy asks for
ELASTIC_GROUPS = (ReplicasGroup, ThroughputGroup)
