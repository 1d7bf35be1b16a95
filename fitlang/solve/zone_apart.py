"""Two workloads kept apart by domain: `anti_affinity X on zone` in `fitc plan`'s bound (issue 18).

`bound.relaxation` leaves rules between workloads out, so its LP may run A and X in the same
cheap zone. Where neither may share a domain v with the other, one of them has no replica
there: with M_A,v the most replicas of A that v's classes can hold, and y_A,v (+ s_A,v, its
stays) its replicas there,

    sum over A's pairs in v of (y + s) / M_A,v  +  sum over X's pairs in v of (y + s) / M_X,v  <= 1

Why it holds: in any placement that keeps the rule, one of the two sums is 0 and the other
at most M / M = 1. M_A,v is min(A's replicas, the sum of A's pair bounds over v's classes)
(each pair at most min(R, fit x its nodes), `bound.relaxation`), so A's replicas in v never
exceed it. A merged class whose members lie in several domains is in none of the rows: its
replicas are left out of a row's sums, which only lowers them (and M is then taken over the
classes that are in the row). Both demands are their own merged demand (`bound.merged_demands`
merges no demand with a rule towards another workload, nor the workload it names). With a
workload's options, a row per option (the rule holds for each). Not with a horizon (replicas
at different times may share a domain). Lazy, a row each (most never bind).

With `whole` (the charged MIP, `charged_mip.py`), also a 0-1 column z per (demand, domain) a
rule names, "the demand runs in the domain", and

    sum over A's pairs in v of (y + s)  <=  M_A,v z_A,v        z_A,v + z_X,v  <=  1

Why it holds: z_A,v is 1 where A runs in v, else 0; with the rule kept, at most one of A and X
runs in v. The row above is these rows' LP relaxation: with y whole the weighted row lets A
and X share v (inventory 1,000 plan 22: `svc88` 6 replicas and `svc74` 5 in us-east-1c, 6 / 12 +
5 / 12 <= 1), the 0-1 columns do not. One z per (demand, domain), shared by its rules.
"""

from __future__ import annotations

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.bound import INFINITY, Relaxation


def apart_rows(merged: Problem, members: list[list[str]], relaxed: Relaxation, columns,
               whole: bool = False) -> None:
    """The rows of the module docstring for every anti-affinity between two workloads over a
    topology other than nodes, into `columns` (`move_bound._NewColumns`, whose `stay_of` gives
    each pair's stay column); with `whole`, the 0-1 columns too (their numbers added to
    `columns.binary`)."""
    if merged.timeline is not None:
        return
    at = {names[0]: i for i, names in enumerate(members) if len(names) == 1}
    by_workload: dict[str, list[int]] = {}
    for i, demand in enumerate(merged.demands):
        by_workload.setdefault(demand.workload, []).append(i)
    domains = _Domains(merged, relaxed)
    runs_in: dict[tuple[int, str, int], int] | None = {} if whole else None
    done: set[tuple[int, int, str]] = set()
    for demand in merged.demands:
        mine = at.get(demand.name)
        for rule in demand.affinities:
            if not rule.anti or rule.target == "self" or rule.topology == "node" or mine is None:
                continue
            for other in by_workload.get(rule.target, ()):
                key = (min(mine, other), max(mine, other), rule.topology)
                if other != mine and key not in done:
                    done.add(key)
                    _rows_apart(relaxed, columns, domains, mine, other, rule.topology, runs_in)


class _Domains:
    """Per merged class, its domain in a topology (-1: none, or its members' differ); per
    merged demand, its pairs."""

    def __init__(self, merged: Problem, relaxed: Relaxation) -> None:
        self.classes = merged.classes
        self.index = relaxed.class_index
        self.width = relaxed.first_pair
        self._codes: dict[str, np.ndarray] = {}
        order = np.argsort(relaxed.pair_demand, kind="stable")
        cuts = np.searchsorted(relaxed.pair_demand[order], np.arange(len(merged.demands) + 1))
        self.pairs_of = [order[cuts[i]:cuts[i + 1]] for i in range(len(merged.demands))]

    def codes(self, key: str) -> np.ndarray:
        found = self._codes.get(key)
        if found is None:
            seen: list[set] = [set() for _ in range(self.width)]
            for node_class in self.classes:
                position = self.index.get(node_class.id)
                if position is not None:
                    seen[position].add(node_class.topology_value(key))
            names = sorted({v for values in seen for v in values if v is not None})
            number = {v: n for n, v in enumerate(names)}
            found = np.array([number[next(iter(values))] if len(values) == 1 and None not in values
                              else -1 for values in seen], dtype=np.int64)
            self._codes[key] = found
        return found


def _rows_apart(relaxed: Relaxation, columns, domains: _Domains, first: int, second: int,
                topology: str, runs_in: dict[tuple[int, str, int], int] | None = None) -> None:
    """A row per domain both demands may use; with `runs_in` ((demand, topology, domain) ->
    its 0-1 column, filled as they are made), the 0-1 rows too."""
    codes = domains.codes(topology)
    sides = []
    for demand in (first, second):
        pairs = domains.pairs_of[demand]
        where = codes[relaxed.pair_class[pairs]]
        sides.append((pairs[where >= 0], where[where >= 0], float(relaxed.pair_limit[demand])))
    shared = np.intersect1d(sides[0][1], sides[1][1])
    for domain in shared.tolist():
        terms: dict[int, float] = {}
        flags: list[int] = []
        for demand, (pairs, where, replicas) in zip((first, second), sides):
            inside = pairs[where == domain]
            most = min(replicas, float(relaxed.upper[relaxed.first_pair + inside].sum()))
            if most <= 0:
                break
            weight = float(np.nextafter(1.0 / most, 0.0))  # at most 1 / M: a weaker row
            placed = _placed_columns(relaxed, columns, inside)
            terms.update(dict.fromkeys(placed, weight))
            if runs_in is not None:
                flags.append(_runs_in(columns, runs_in, (demand, topology, domain), placed, most))
        else:
            columns.row(terms, -INFINITY, 1.0, lazy=True)
            if runs_in is not None:
                columns.row(dict.fromkeys(flags, 1.0), -INFINITY, 1.0)


def _placed_columns(relaxed: Relaxation, columns, pairs: np.ndarray) -> list[int]:
    """The pairs' columns and their stays': the demand's replicas on those classes."""
    placed = []
    for pair in pairs.tolist():
        placed.append(relaxed.first_pair + pair)
        stay = columns.stay_of.get(pair)
        if stay is not None:
            placed.append(stay)
    return placed


def _runs_in(columns, runs_in: dict[tuple[int, str, int], int], key: tuple[int, str, int],
             placed: list[int], most: float) -> int:
    """The demand's 0-1 column for the domain (made once, with its row: the replicas placed
    there at most `most` times it)."""
    flag = runs_in.get(key)
    if flag is None:
        flag = runs_in[key] = columns.column(0.0, 1.0)
        columns.binary.append(flag)
        row = dict.fromkeys(placed, 1.0)
        row[flag] = -most
        columns.row(row, -INFINITY, 0.0)
    return flag
