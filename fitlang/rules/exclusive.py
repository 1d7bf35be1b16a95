"""`exclusive = true` on a workload: a node that hosts one of its replicas hosts nothing else;
with a horizon, nothing else at the same step (`time_rows`, `check_runs`): the node is the
workload's while its replicas run there, as Slurm's `--exclusive` holds it for the job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.rules.base import CheckReads, GroupKey, OnNodes, PartKind, Placed, Rows, Rule, Stated
from fitlang.rules.explaining import demands_of, where

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.rules.capacity import Terms
    from fitlang.rules.timing import Run
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.timeline import TimeEncoding


def check(placed: Placed) -> Iterator[Diagnostic]:
    demands = placed.demands
    for node, counts in sorted(placed.hosted.items()):
        if len(counts) < 2 or not any(demands[name].exclusive for name in counts):
            continue  # one workload, or none exclusive (most nodes): nobody shares with one
        names = sorted(name for name, amount in counts.items() if amount)
        for name in names:
            if demands[name].exclusive and len(names) > 1:
                others = ", ".join(f"`{n}`" for n in names if n != name)
                yield placed.violation(f"`{name}` is exclusive but shares node `{node}` with {others}",
                                       demands[name].spans.get("exclusive", demands[name].origin))


class ExclusiveGroup(GroupKey, Frozen):
    """`exclusive = true`: nothing else on a demand's nodes."""

    demand: str


def exclusive_rows(encoding: Encoding, node_class: NodeClass) -> None:
    """Per exclusive workload that may use the class (after the class's capacity rows)."""
    for demand in encoding.here[node_class.id]:
        if demand.exclusive:
            _alone_rows(encoding, demand, node_class)


def _alone_rows(encoding: Encoding, demand: Demand, node_class: NodeClass) -> None:
    """`exclusive`: the nodes hosting the workload (n[w,c]) hold nothing else, so the other
    workloads fit in the rest: sum of their charges + n x capacity <= u x capacity. One
    variable per class, not an anti-affinity towards every other workload (which kept every
    count whole); a group of its own, so that explanations can name it and drop it."""
    here = encoding.here[node_class.id]
    others = np.array([d.name != demand.name for d in here], dtype=bool)
    if not others.any():
        return
    hosting = encoding.hosting_count(demand, node_class.id)
    charge, columns, u = encoding.capacity_terms(node_class.id)
    pointers: list[int] = [0]
    indices: list[Terms] = []
    data: list[Terms] = []
    for index, resource in enumerate(RESOURCES):
        capacity = node_class.capacity[resource]
        taking = np.flatnonzero(others & (charge[:, index] > 0))
        if not capacity or not len(taking):
            continue
        indices += [columns[taking], [hosting, u]]
        data += [charge[taking, index], [capacity, -capacity]]
        pointers.append(pointers[-1] + len(taking) + 2)
    _per_node_limits(encoding, node_class, others, charge, columns, (hosting, u), pointers, indices, data)
    encoding.add_at_most_zero(pointers, indices, data, ExclusiveGroup(demand.name))


def _per_node_limits(encoding: Encoding, node_class: NodeClass, others: np.ndarray, charge: np.ndarray,
                     columns: np.ndarray, hosting_and_u: tuple[int, int], pointers: list[int],
                     indices: list[Terms], data: list[Terms]) -> None:
    """A workload at most `fit` to a node (one per node, a node spread: the packing cut,
    `capacity.packing_cut_rows`) has at most fit x (u - n) replicas on the class, n its
    nodes the exclusive workload takes: y + fit x n - fit x u <= 0, where its capacity rows
    do not already say so. Without it, inventory 300 seed 3's model sent three one-per-node
    replicas to a class of three nodes two of which it gave the exclusive workload."""
    from fitlang.rules.capacity import cut_implied  # (a rule module: imports nothing of fitlang.solve)

    here = encoding.here[node_class.id]
    fit = np.array([encoding.fit[d.name, node_class.id] for d in here], dtype=np.int64)
    capacity = np.array([node_class.capacity[r] for r in RESOURCES], dtype=np.int64)
    limited = np.flatnonzero(others & ~cut_implied(charge, capacity, fit) & (fit > 0))
    if not len(limited):
        return
    rows = len(limited)
    indices.append(np.column_stack([columns[limited], np.tile(np.array(hosting_and_u), (rows, 1))]).ravel())
    data.append(np.column_stack([np.ones(rows, dtype=np.int64), fit[limited], -fit[limited]]).ravel())
    pointers += (pointers[-1] + 3 * np.arange(1, rows + 1)).tolist()


def alone_on_nodes(problem: Problem) -> Iterator[str]:
    return (demand.name for demand in problem.demands if demand.exclusive)


def reason(problem: Problem, part: Part) -> Stated:
    demand = demands_of(problem, part.subject)[0]
    return Stated(f"`{part.subject}` has `exclusive = true`: no other workload may share its "
                  "nodes", demand.spans.get("exclusive", demand.origin))


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    from fitlang.solve.explain import search

    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    origin = reason(problem, part).origin
    return search.Repair(part, f"drop `exclusive = true` from `{part.subject}`{where(origin)}",
                         origin, None, None, check.cost, checked=check)


def time_rows(encoding: TimeEncoding) -> None:
    """With a horizon, per class, step and exclusive workload running there: n, the class's
    nodes it holds at the step, hold its replicas (per resource: its charge <= n x capacity,
    and its replicas <= its replicas x n), and the others run on the rest (their charge +
    n x capacity <= u x capacity). On a class of one node (a small fleet is solved node by
    node) n is that node's, and the rows are exact."""
    problem = encoding.problem
    alone = {d.name for d in problem.demands if d.exclusive}
    if not alone:
        return
    model = encoding.model
    for node_class in problem.classes:
        for step in range(encoding.timeline.steps):
            running = encoding.running_by_demand(node_class.id, step)
            for name in sorted(alone & running.keys()):
                others = [pair for other, pairs in running.items() if other != name for pair in pairs]
                held = model.var(f"n[{name},{node_class.id},{step}]", 0, node_class.count)
                group = ExclusiveGroup(name)
                mine = running[name]
                model.add({**{column: 1 for column, _ in mine}, held: -problem.demand(name).replicas},
                          upper=0, group=group)
                u = encoding.u[node_class.id, step]
                for position, resource in enumerate(RESOURCES):
                    capacity = node_class.capacity[resource]
                    if not capacity:
                        continue
                    theirs = {column: charge[position] for column, charge in others if charge[position]}
                    if theirs:
                        model.add({**theirs, held: capacity, u: -capacity}, upper=0, group=group)
                    ours = {column: charge[position] for column, charge in mine if charge[position]}
                    if ours:
                        model.add({**ours, held: -capacity}, upper=0, group=group)


def check_runs(placed: Placed, runs: list[Run]) -> Iterator[Diagnostic]:
    """`fitc verify` with a horizon: at no step does a node run an exclusive workload's replica
    beside another workload's."""
    demands = placed.demands
    if not any(demands[run.demand].exclusive for run in runs):
        return
    by_node: dict[str, list[Run]] = {}
    for run in runs:
        by_node.setdefault(run.node, []).append(run)
    for node, here in sorted(by_node.items()):
        for run in here:
            if not demands[run.demand].exclusive:
                continue
            beside = sorted({o.demand for o in here if o.demand != run.demand
                             and o.start < run.end and run.start < o.end})
            if beside:
                step = max(run.start, min(o.start for o in here if o.demand in beside))
                yield placed.violation(
                    f"`{run.demand}` is exclusive but shares node `{node}` with "
                    f"{', '.join(f'`{n}`' for n in beside)} (at step {step})",
                    demands[run.demand].spans.get("exclusive", demands[run.demand].origin))
                break


RULE = Rule("exclusive", check=check, check_reads=CheckReads.NODE, rows=Rows(per_class=exclusive_rows),
            packing=OnNodes(alone=alone_on_nodes), part_kind=PartKind.EXCLUSIVE, reason=reason,
            repairs=repairs)
