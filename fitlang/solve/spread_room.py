"""The workloads whose spread over zones (or regions, or a label) cannot be kept with every
replica placed: the smallest domain caps the others, and together they hold too few.

`spread zone max_skew s` counts a workload's replicas in every domain of the nodes it may use
(`rules/spread.py`: a domain with nodes of its classes counts even where it holds none, an
offer's once a node of it is bought). Where the least count is m, no domain holds more than
m + s, and m is at most what the smallest domain with nodes holds (`room.node_most` on each
of its nodes, the workload alone). So with M the least room over the domains with nodes,
every placement keeping the spread places at most the sum over the domains of
min(room, M + s); fewer than the replicas proves that none exists. Other workloads only take
room away, and rules left out only allow more, so the sum is a bound whatever they are.

Inventory 10,000, drain 22 of `bench/drains.py` (eu-west-1a's `gold` pools drained): `svc143`
(30 replicas of 4 cores, `spread zone max_skew 1` over the 3 EU zones with `gold` nodes)
needs 10 in each, and eu-west-1a keeps 7 `gold` nodes of 7.86 cores: at most 7 + 8 + 8 = 23.
The move's end state broke the spread, the whole model then searched until the limit and
`fitc plan` ended E0506 (`unknown`, 30 replicas out). (The generator sums a zone's room over
its nodes, where each node holds one replica: it counted the drain restorable.)

`room.node_most` per (demand, class) in Python took 0.74 CPU s at inventory 10,000 (374
spread workloads, 137,000 pairs); over arrays of the classes it is a few hundredths.
"""

from __future__ import annotations

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, Problem
from fitlang.rules.option_spread import over_options
from fitlang.solve.room import spread_most


def spreads_short_of_room(problem: Problem) -> list[Demand]:
    """The demands with a spread over a topology other than `node` that no placement of all
    their replicas keeps (module docstring); else those whose floors in one domain its nodes
    cannot hold together (`spread_share.py`). Callers skip policies that allow replicas left
    out, or with a horizon (`room.short_of_room`)."""
    from fitlang.solve.spread_share import spreads_short_together

    spread = [d for d in problem.demands if d.replicas > 0 and
              any(s.topology != "node" and not over_options(d, s) for s in d.spreads)]
    if not spread:
        return []
    classes = Classes(problem)
    alone = [demand for demand in spread if any(
        rule.topology != "node" and classes.most_kept(demand, rule.topology, rule.max_skew) < demand.replicas
        for rule in demand.spreads)]
    return alone or spreads_short_together(problem, spread, classes)


class Classes:
    """The classes' capacities, node counts and domains as arrays."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.index = {c.id: i for i, c in enumerate(problem.classes)}
        self.capacity = np.array([[c.capacity.get(r, 0) for r in RESOURCES] for c in problem.classes],
                                 dtype=np.int64).reshape(-1, len(RESOURCES))
        self.count = np.array([c.count for c in problem.classes], dtype=np.int64)
        self.offered = np.array([c.provisioned for c in problem.classes], dtype=bool)
        self._domains: dict[str, np.ndarray] = {}
        self._rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def domains(self, topology: str) -> np.ndarray:
        """Per class, its domain's index (-1: none)."""
        found = self._domains.get(topology)
        if found is None:
            values = [c.topology_value(topology) for c in self.problem.classes]
            index = {v: i for i, v in enumerate(dict.fromkeys(v for v in values if v is not None))}
            found = self._domains[topology] = np.array([-1 if v is None else index[v] for v in values],
                                                       dtype=np.int64)
        return found

    def rows_of(self, demand: Demand) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the classes `demand` may use, and `per_node` on each."""
        found = self._rows.get(demand.name)
        if found is None:
            rows = np.array([self.index[c] for c in demand.eligible], dtype=np.int64)
            found = self._rows[demand.name] = rows, self.per_node(demand, rows)
        return found

    def room(self, demand: Demand, topology: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The domains of `topology` the classes `demand` may use span (with nodes, or
        offers), and per domain the room on its nodes (`per_node` each; -1 where it has only
        offers) and with what its offers may add. None where no domain has nodes."""
        rows, fits = self.rows_of(demand)
        domain = self.domains(topology)[rows]
        kept = (domain >= 0) & (self.count[rows] > 0)
        rows, domain = rows[kept], domain[kept]
        offered = self.offered[rows]
        if offered.all():
            return None
        room = self.count[rows] * fits[kept]
        width = int(domain.max()) + 1
        spanned = np.flatnonzero(np.bincount(domain, minlength=width))
        with_nodes = np.bincount(domain[~offered], minlength=width) > 0
        fixed = np.bincount(domain[~offered], room[~offered], minlength=width).astype(np.int64)
        total = fixed + np.bincount(domain[offered], room[offered], minlength=width).astype(np.int64)
        return spanned, np.where(with_nodes, fixed, -1)[spanned], total[spanned]

    def most_kept(self, demand: Demand, topology: str, max_skew: int) -> int | float:
        """The most replicas of `demand` any placement keeping `spread topology max_skew`
        holds (an upper bound: module docstring); infinite where no domain has nodes."""
        found = self.room(demand, topology)
        if found is None:
            return float("inf")
        _, fixed, total = found
        cap = fixed[fixed >= 0].min() + max_skew  # the most any domain holds
        return int(np.minimum(total, cap).sum())

    def least_counts(self, demand: Demand, topology: str, max_skew: int) -> dict[int, int]:
        """Per domain with nodes, the fewest replicas of `demand` any placement of all of them
        keeping the spread has there, where more than none (`spread_share.py`)."""
        found = self.room(demand, topology)
        if found is None:
            return {}
        domains, fixed, total = found
        least = least_count(total, demand.replicas, max_skew, int(fixed[fixed >= 0].min()))
        return {int(d): least for d in domains[fixed >= 0]} if least else {}

    def per_node(self, demand: Demand, rows: np.ndarray) -> np.ndarray:
        """`room.node_most` of `demand` on each class of `rows`."""
        need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
        most = min(demand.replicas, 1) if demand.one_per_node else demand.replicas
        spread = spread_most(self.problem, demand)
        if spread is not None:
            most = min(most, spread)
        fits = np.full(len(rows), most, dtype=np.int64)
        for column in np.flatnonzero(need > 0):
            fits = np.minimum(fits, self.capacity[rows, column] // need[column])
        return np.maximum(fits, 0)


def least_count(room: np.ndarray, replicas: int, max_skew: int, most: int) -> int:
    """The fewest replicas any domain of a spread holds where all are placed: the least m up
    to `most` (the least room of a domain with nodes, each of which holds m or more) with m +
    the sum over the other domains of min(room, m + `max_skew`) >= `replicas`, the domain
    holding m the one that leaves that sum largest (of those with room for m); 0 where none
    (the spread alone is short: `most_kept`)."""
    tries = np.arange(min(replicas, most) + 1, dtype=np.int64)[:, None]
    held = np.minimum(room[None, :], tries + max_skew)
    least_domain = np.where(room[None, :] >= tries, held, np.iinfo(np.int64).max).min(axis=1)
    reached = np.flatnonzero(tries[:, 0] + held.sum(axis=1) - least_domain >= replicas)
    return int(reached[0]) if len(reached) else 0
