"""A spread over domains that exist only where nodes are bought, dealt over fewer of them where
dealing it over every one leaves replicas out; and the domains such a spread holds kept from
the new nodes of the workloads placed after it.

A spread counts every domain of the nodes a workload may use: one of declared nodes always,
one of offers only where a node the workload may use is bought (docs/language.md). The greedy
pass (`greedy._deal`) deals a spread over every domain its eligible classes are in, each
holding at most the skew more than the fewest: a service of 6 replicas of 1 CPU, `spread
region max_skew 1`, that may use three offers sold in 9 regions went one a region onto 6
bought nodes, and with `max_count = 3` three were left out where one node bought in one
region holds all six (the only domain that exists): `fitc solve` ended `unknown` with 3 of 6
placed. So where the deal over every domain leaves replicas out, it is undone and dealt again
over the domains that exist for the workload now (declared, or with a node of its classes
open) and the fewest domains of offers more, the cheapest first (`fewer_domains`), the first
that places every replica kept.

Such a spread holds more than the skew in some domain, so a node of its classes bought later
in a domain it does not hold (by any workload) would make a domain holding none and break it
(`spread_domains.py` checks a packing's). So after it, the classes where a node would open
such a domain are left out of the candidates of every other workload (`kept_off`); their
open nodes stay usable (a class with a node open is in a domain that exists). A spread dealt
over every domain holds at most the skew in each, and new domains keep it: nothing is kept.

Dealt over every domain, such a spread also buys a node in each region for a replica or two
where the others' nodes have room: `cloud_buy.py --small` seed 227, two services spread over
five regions, 3.99 USD/h where the optimum holds them in the regions the GPU and arm64 nodes
are bought in, 3.40. So the greedy floor makes a second pass where some spread may use an
offer's class (`greedy.greedy_floor`): the spreads over domains of offers placed last
(`placed_before_spreads`), each over the fewest domains first, the cheaper of the two passes
kept (fewer left out first). Its floor 4.31 -> 3.40 there; the floor smaller on 35 of 140 small
seeds, 3 of 8 at 100 replicas, none at 1,000 and 5,000 (where every region holds some).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fitlang.model.problem import Demand, Problem

if TYPE_CHECKING:
    from fitlang.solve.greedy import _Fleet

Shorts = list[tuple[str, int]]


class HeldSpread(NamedTuple):
    """A spread dealt over fewer domains than it may use: the workload, its topology, skew."""
    name: str
    topology: str
    skew: int


def dealt_over_fewer_domains(fleet: _Fleet, demand: Demand, rows: np.ndarray,
                             deal: Callable[[set[int] | None], Shorts]) -> Shorts:
    """`deal(None)` (over every domain); where that leaves replicas out and the workload's spread
    may use domains of offers that do not exist yet, undone and `deal(only)` over each set of
    `fewer_domains` in turn, the first that places every replica kept; none does, `deal(None)`
    again. `rows` are the workload's candidate classes."""
    spread = _one_spread(demand)
    if spread is None or not _has_optional(fleet, demand, spread[0]):
        return deal(None)
    outer, fleet.journal = fleet.journal, []
    if not fleet.fewer_first:
        shorts = deal(None)
        if not shorts:
            return _kept(fleet, outer, shorts)
        fleet.rollback()
    for only in fewer_domains(fleet, demand, rows, spread[0]):
        if len(only) < _min_domains(demand):  # (it asks for more domains than these)
            continue
        fleet.journal = []
        shorts = deal(only)
        if not shorts:
            fleet.held.append(HeldSpread(demand.name, *spread))
            return _kept(fleet, outer, shorts)
        fleet.rollback()
    fleet.journal = outer
    return deal(None)


def _kept(fleet: _Fleet, outer: list[tuple] | None, shorts: Shorts) -> Shorts:
    """What the journal holds kept: handed to the outer journal (a gang or option being tried)."""
    if outer is not None:
        outer.extend(fleet.journal or [])
    fleet.journal = outer
    return shorts


def _one_spread(demand: Demand) -> tuple[str, int] | None:
    """(topology, skew) of the workload's spread where it is its one rule dealt over domains (no
    `anti_affinity self` over domains: one a domain whatever the others hold), else None."""
    spreads = [s for s in demand.spreads if s.topology != "node"]
    apart = any(r.target == "self" and r.anti and r.topology != "node" for r in demand.affinities)
    if not spreads or apart or len({s.topology for s in spreads}) > 1:
        return None
    return spreads[0].topology, min(s.max_skew for s in spreads)


def _min_domains(demand: Demand) -> int:
    """The most domains a spread of the workload over domains asks to exist (`min_domains`)."""
    return max((s.min_domains for s in demand.spreads if s.topology != "node"), default=1)


def existing(fleet: _Fleet, demand: Demand, topology: str) -> tuple[np.ndarray, np.ndarray]:
    """The workload's eligible classes (rows) and per row: is its domain one that exists now (a
    declared class, or a class with a node open, of the workload's in that domain)?"""
    rows = fleet.eligible(demand)
    codes = fleet.codes(topology)[0][rows]
    there = fleet.fixed.declared[rows] | (fleet.opened[rows] > 0)
    return rows, np.isin(codes, codes[there & (codes >= 0)]) & (codes >= 0)


def _has_optional(fleet: _Fleet, demand: Demand, topology: str) -> bool:
    rows, exists = existing(fleet, demand, topology)
    return bool((~exists & (fleet.codes(topology)[0][rows] >= 0)).any())


def fewer_domains(fleet: _Fleet, demand: Demand, rows: np.ndarray, topology: str) -> list[set[int]]:
    """The sets of domains to deal the spread over, fewest first: every domain that exists for
    the workload, and the first 0, 1, 2, ... domains of offers that do not (by their first
    candidate class: the candidates come cheapest per replica first), never every one. None
    where a domain that exists has no candidate class: it holds none, so no other may hold more
    than the skew."""
    codes = fleet.codes(topology)[0]
    eligible, exists = existing(fleet, demand, topology)
    held = set(codes[eligible][exists].tolist())
    mine = codes[rows]
    if held - set(mine.tolist()):
        return []
    optional = list(dict.fromkeys(c for c in mine.tolist() if c >= 0 and c not in held))
    return [held | set(optional[:count]) for count in range(0 if held else 1, len(optional))]


def kept_off(fleet: _Fleet, demand: Demand, rows: np.ndarray, held: Sequence[HeldSpread]) -> np.ndarray:
    """`rows` less the classes with no node open where a node would make a new domain for a
    spread in `held` (not the workload's own) that holds more than its skew in some domain."""
    for spread in held:
        if spread.name == demand.name:
            continue
        other = fleet.problem.demand(spread.name)
        if _most_held(fleet, spread) <= spread.skew:
            continue
        codes = fleet.codes(spread.topology)[0]
        eligible, exists = existing(fleet, other, spread.topology)
        opens_new = np.zeros(len(fleet.classes), dtype=bool)
        opens_new[eligible[~exists & (codes[eligible] >= 0)]] = True
        rows = rows[~opens_new[rows]]
    return rows


def _most_held(fleet: _Fleet, spread: HeldSpread) -> int:
    """The most replicas of the spread's workload in one domain."""
    codes = fleet.codes(spread.topology)[0]
    counts: dict[int, int] = {}
    for node in fleet.hosts.get(spread.name, ()):
        code = int(codes[fleet.owner[node]])
        counts[code] = counts.get(code, 0) + fleet.hosted[node][spread.name]
    return max(counts.values(), default=0)


def placed_before_spreads(problem: Problem) -> dict[str, int]:
    """The greedy pass's `first` where spreads over domains of offers go last: every other
    workload (none that follows one of them by affinity); empty where no spread may use an
    offer's class."""
    offered = {c.id for c in problem.classes if c.provisioned}
    spreads = {d.name for d in problem.demands if _one_spread(d) is not None and d.group is None
               and not offered.isdisjoint(d.eligible)}
    if not spreads:
        return {}
    following = {d.name for d in problem.demands for r in d.affinities if r.target in spreads}
    return {d.name: 0 for d in problem.demands if d.name not in spreads | following}
