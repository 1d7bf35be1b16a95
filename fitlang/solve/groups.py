"""Typed keys of constraint groups: which rule of the policy a row of the linear model comes from.

Every row a rule adds (`Rule.rows`) carries one of these keys, so that `explain` can map a Z3
unsat core or the rows of an elastic LP that fall short back to the parts of the policy by
looking at the key's fields, never by parsing a name. Keys are frozen (hashable, comparable
for equality). Each rule's key is defined next to its rows, in its module of `fitlang/rules/`;
this module gathers them for the solver (`Group`) and defines the frame's own (`EligibleGroup`).
Only the Z3 backend gives them names (`backends.group_name`), and it finds a key again from its
switch through its own table, never from the name.
"""

from __future__ import annotations

from dataclasses import dataclass

from fitlang.rules.affinity import AffinityGroup
from fitlang.rules.base import GroupKey
from fitlang.rules.budget import BudgetGroup
from fitlang.rules.buy_limits import BuyGroup
from fitlang.rules.capacity import CapacityGroup
from fitlang.rules.exclusive import ExclusiveGroup
from fitlang.rules.gang import GangGroup
from fitlang.rules.latency import LatencyGroup
from fitlang.rules.options import ThroughputGroup
from fitlang.rules.power import PowerGroup
from fitlang.rules.replicas import ReplicasGroup
from fitlang.rules.spread import SpreadGroup


@dataclass(frozen=True)
class EligibleGroup(GroupKey):
    """A demand's replicas placed are those on the classes it may use."""

    demand: str


# a row's group key: any rule's, each a frozen dataclass subclassing `GroupKey` (the frame's
# `EligibleGroup`, the keys of fitlang/rules imported above for the modules that read them, a
# rule registered elsewhere, such as tests/test_rules.py's toy rule): open, so that a new rule
# needs no edit here
Group = GroupKey

# what an elastic relaxation may leave short (at a price): what the policy asks for
ELASTIC_GROUPS = (ReplicasGroup, ThroughputGroup)

__all__ = ["ELASTIC_GROUPS", "AffinityGroup", "BudgetGroup", "BuyGroup", "CapacityGroup",
           "EligibleGroup", "ExclusiveGroup", "GangGroup", "Group", "GroupKey", "LatencyGroup",
           "PowerGroup", "ReplicasGroup", "SpreadGroup", "ThroughputGroup"]
