"""A class's emptiest awake nodes at one step, their replicas running near it taken off together
and placed again in several orders (issue 19): a ruin and recreate bounded in time, not by a
node's block.

What is left of the sites shape's gap at the goal size is time: a replica holds its node over
its whole run, and ~430 of seed 1's 518 USD of fragments would go if replicas could change node
between steps (session 58). `emptied` takes off a node's whole block (tens of replicas over a
day: what it frees must all fit elsewhere at once), the stretch pass the replicas of one node
over a few of its steps, the fill a site's nodes across classes. Here the nodes a step least
uses, a few at once, give up the replicas that run on them within WINDOW steps of it: those are
the replicas that keep the step's emptiest nodes awake, and placing them again together lets
one of those nodes sleep around the step while the others take its work. Which order they go
back in decides whether they fit the room awake nodes leave: the largest first, the longest
first, by start, the least slack first (each the first that pays kept; from the search's
schedules at the goal size, after the kick, the longest first made 11-14 of 22-40 keeps, the
largest first 4-19, by start 4-8, the least slack 0-2).

The steps are taken the most wasteful first (the unused share of the class's awake nodes at
the step, priced at its rate): the search's converged passes leave their waste there. One pass
over every (class, step) of the horizon; resumable (`Progress`).
"""

from __future__ import annotations

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.timeline_pack import Deadline, Ledger, Spot, _recreated, moved_in, past, run_of
from fitlang.solve.timeline_resume import Progress
from fitlang.solve.timeline_stretches import _spots_by_node

# the emptiest awake nodes at a step taken together, and the steps either side of it whose
# runs they give up: from the search's schedules after the kick at the goal size (6 CPU s,
# seeds 1 / 3): 2 x 4 -55 (seed 3), 3 x 6 -59 / -36, 4 x 8 -32 (seed 3)
NODES = 2
WINDOW = 4


def windows_emptied(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
                    progress: Progress | None = None) -> list[Spot]:
    """One pass over every (class, step), the most wasteful first (`_wasteful_steps`), until
    the deadline: the class's NODES least used awake nodes at the step give up their
    replicas running within WINDOW steps of it, placed again (`_recreated`) in each of the
    orders (`_orders`), the first that pays kept. Preemptible replicas stay (a neighbourhood
    holding one is left). `progress`: how far a pass over the same schedule got before."""
    spots = list(spots)
    where = _spots_by_node(spots)
    for class_id, step in (progress or Progress()).through(
            lambda: _wasteful_steps(ledger), lambda: past(deadline, ledger)):
        held = _held(ledger, spots, where, class_id, step)
        if len(held) < 2 or any(problem.demand(spots[i].demand).min_segment is not None for i in held):
            continue  # one replica alone is `improved`'s move
        for order in _orders(problem, ledger, [spots[index] for index in held]):
            moved = _recreated(problem, ledger, [spots[held[j]] for j in order], in_order=True)
            if moved is not None:
                back = dict(zip(order, moved))
                moved_in(spots, where, held, [back[j] for j in range(len(held))])
                break
    return spots


def _wasteful_steps(ledger: Ledger) -> list[tuple[str, int]]:
    """(class, step) of every class with nodes at every step some node of it is awake, the
    most unused first: the share of its awake nodes' busiest resource they leave unused,
    summed, at the step's rate (ties: the class's order, then the step)."""
    found: list[tuple[float, int, str, int]] = []
    for position, (class_id, running) in enumerate(ledger.running.items()):
        if running.shape[0] == 0:
            continue
        capacity = np.maximum(ledger.capacity[class_id], 1)
        used = (ledger.used[class_id] / capacity).max(axis=2)  # node x step
        awake = running > 0
        unused = np.where(awake, 1 - used, 0).sum(axis=0) * ledger.rate[class_id]
        found += [(-float(unused[step]), position, class_id, int(step))
                  for step in np.flatnonzero(awake.any(axis=0))]
    found.sort()
    return [(class_id, step) for _, _, class_id, step in found]


def _held(ledger: Ledger, spots: list[Spot], where: dict[tuple[str, int], set[int]], class_id: str,
          step: int) -> list[int]:
    """The spots on the class's NODES least used awake nodes at `step` that run within
    WINDOW steps of it, in order."""
    awake = np.flatnonzero(ledger.running[class_id][:, step] > 0)
    if awake.size < 2:
        return []  # a class's one awake node: nowhere of its own to go
    capacity = np.maximum(ledger.capacity[class_id], 1)
    fill = (ledger.used[class_id][awake, step] / capacity).max(axis=1)
    nodes = awake[np.argsort(fill, kind="stable")[:NODES]]
    return sorted(index for node in nodes.tolist() for index in where.get((class_id, node), ())
                  if spots[index].start < step + WINDOW and spots[index].end > step - WINDOW)


def _orders(problem: Problem, ledger: Ledger, held: list[Spot]) -> list[list[int]]:
    """The orders `held` are placed again in, each once: the largest first (its largest share
    of its node x hours, `_recreated`'s), the longest first, by start, the least slack in its
    window first."""
    def size(i: int) -> float:
        capacity = np.maximum(ledger.capacity[held[i].class_id], 1)
        return (held[i].end - held[i].start) * float((ledger.need(held[i].demand) / capacity).max())

    def slack(i: int) -> int:
        demand = problem.demand(held[i].demand)
        window = demand.windows[run_of(demand, held[i].start)]
        return window.latest_start - window.earliest

    indexes = range(len(held))
    found = [sorted(indexes, key=lambda i: (-size(i), i)),
             sorted(indexes, key=lambda i: (-(held[i].end - held[i].start), -size(i), i)),
             sorted(indexes, key=lambda i: (held[i].start, -size(i), i)),
             sorted(indexes, key=lambda i: (slack(i), -size(i), i))]
    return [order for position, order in enumerate(found) if order not in found[:position]]

