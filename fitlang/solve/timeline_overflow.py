"""A node's block emptied through an overflow chain (issue 19; h29d's move, wired in session 31):
`emptied` places each replica of a block where it adds least, and on a converged schedule that
is nearly always a node woken for it, so the block stays. Here a replica may instead go onto
another node of its class awake over its whole run, made room on by sending that node's
replicas that may use another class where they add least: a large class's overflow into the
classes beside it, so that the block's node sleeps. At the goal size of the sites shape, from
schedules converged with the kick, the blocks of every class the least used first: 200 blocks
gained 38 / 37 USD (seeds 1 / 3) with the moves after, in 2.9 CPU s, after the kick's 31 / 17 in
4.3-4.5 CPU s (the kick and the chain find different money). A sent replica may in turn go onto
an awake node of one of its other classes, made room on by sending that node's movable replicas
where they add least (a two-node chain, session 33): from the 30 s solve's schedules at the goal
size, 6 CPU s of the pass gained 78 / 80 USD (seeds 3 / 1) where the one-node chain gained 65 / 63.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.timeline_pack import (
    EPSILON,
    Deadline,
    Ledger,
    Spot,
    _blocks,
    _moved_between,
    need_of,
    past,
    place_cheapest,
    run_of,
    settled,
)
from fitlang.solve.timeline_resume import Progress

# of the nodes a replica could go onto once their movable replicas are sent away, the chain
# tries the CHAINED that send the least away (each a `cheapest` per replica sent): h29d's K
CHAINED = 2


@dataclass
class _Moves:
    """Moves made in the ledger in order, to be undone back to a mark (the moves in reverse)."""

    problem: Problem
    ledger: Ledger
    made: list[tuple[int, Spot]] = field(default_factory=list)

    def put(self, spot: Spot) -> None:
        self.ledger.put(spot)
        self.made.append((1, spot))

    def drop(self, spot: Spot) -> float:
        self.made.append((-1, spot))
        return self.ledger.drop(spot)

    def cheapest(self, spot: Spot) -> Spot | None:
        """The spot's replica placed where it adds least in its window (`place_cheapest`)."""
        demand = self.problem.demand(spot.demand)
        again = place_cheapest(self.ledger, demand, spot.replica, demand.windows[run_of(demand, spot.start)])
        if again is not None:
            self.made.append((1, again))
        return again

    def replay(self, schedule: _Schedule, index: int, made: list[tuple[int, Spot]]
               ) -> list[tuple[int, Spot]]:
        """A chain priced and undone (`_chain_made`'s moves) made again without pricing it:
        each moved spot's replica taken off where the schedule has it (the replica of spot
        `index` is off already) and put where the chain put it."""
        for moved, spot in made:
            if moved != index:
                self.drop(schedule.spots[moved])
            self.put(spot)
        return made

    def undo(self, mark: int = 0) -> None:
        while len(self.made) > mark:
            sign, spot = self.made.pop()
            if sign > 0:
                self.ledger.drop(spot)
            else:
                self.ledger.put(spot)


# a movable replica's share x hours in whole millionths (`_Schedule.share_hours`): summed and
# taken off again exactly, so that two nodes that send the same away tie, and the first wins
MICRO = 1_000_000


class _Schedule:
    """The spots and, per (class, node), the indices of those on it; per class and node what
    the replicas that may be sent off their class (`_movable`) hold, so that `_chain` reads
    every node's room once they are sent away, and what they weigh, at once: per step their
    use and count, and their share x hours (`MICRO`) summed by the step they end at or before
    (`ended`) and start at or after (`begun`). At the goal size the chain looked at ~32 awake
    nodes per replica one by one in Python."""

    def __init__(self, problem: Problem, ledger: Ledger, spots: list[Spot]) -> None:
        self.problem, self.ledger, self.spots = problem, ledger, list(spots)
        self.where: dict[tuple[str, int], set[int]] = {}
        self.needs: dict[str, np.ndarray] = {}
        # per spot, what sending it away added when last priced (or the limit it reached): the
        # second node's candidates are read by it before any pricing (`_by_kept_costs`)
        self.priced: dict[int, float] = {}
        self.movables: dict[tuple[str, str], bool] = {}  # `_movable` per (demand, class)
        self.sent_use = {c: np.zeros_like(used) for c, used in ledger.used.items()}
        self.sent_count = {c: np.zeros_like(running) for c, running in ledger.running.items()}
        # per node and step boundary 0..steps
        self.ended = {c: np.zeros((r.shape[0], r.shape[1] + 1), dtype=np.int64)
                      for c, r in ledger.running.items()}
        self.begun = {c: np.zeros_like(ended) for c, ended in self.ended.items()}
        for index, spot in enumerate(self.spots):
            self._count(index, spot, 1)

    def need(self, spot: Spot) -> np.ndarray:
        if spot.demand not in self.needs:
            self.needs[spot.demand] = need_of(self.problem.demand(spot.demand))
        return self.needs[spot.demand]

    def movable(self, spot: Spot) -> bool:
        """`_movable`, kept per (demand, class)."""
        key = (spot.demand, spot.class_id)
        if key not in self.movables:
            self.movables[key] = _movable(self.problem, spot)
        return self.movables[key]

    def share_hours(self, spot: Spot) -> int:
        """`_share_hours` in MICRO."""
        return round(_share_hours(self.problem, self.ledger, spot) * MICRO)

    def on(self, class_id: str, node: int, start: int, end: int) -> list[int]:
        """The indices of the spots on the node overlapping [start, end), in order."""
        return sorted(index for index in self.where.get((class_id, node), ())
                      if self.spots[index].start < end and self.spots[index].end > start)

    def assign(self, index: int, spot: Spot) -> None:
        if spot != self.spots[index]:
            self.priced.pop(index, None)
        self._count(index, self.spots[index], -1)
        self._count(index, spot, 1)
        self.spots[index] = spot

    def _count(self, index: int, spot: Spot, sign: int) -> None:
        where = self.where.setdefault((spot.class_id, spot.node), set())
        if sign > 0:
            where.add(index)
        else:
            where.discard(index)
        if not self.movable(spot):
            return
        class_id, node, start, end = spot.class_id, spot.node, spot.start, spot.end
        self.sent_use[class_id][node, start:end] += sign * self.need(spot)
        self.sent_count[class_id][node, start:end] += sign
        weight = sign * self.share_hours(spot)
        self.ended[class_id][node, end:] += weight
        self.begun[class_id][node, :start + 1] += weight

    def sendable(self, class_id: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Per node of the class: whether it holds a movable replica overlapping [start, end),
        and the share x hours (MICRO) of those replicas (whole: not only their overlap)."""
        holds = np.asarray((self.sent_count[class_id][:, start:end] > 0).any(axis=1))
        ended, begun = self.ended[class_id], self.begun[class_id]
        return holds, ended[:, -1] - ended[:, start] - begun[:, end]


def overflowed(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
               progress: Progress | None = None) -> list[Spot]:
    """One pass over the nodes' blocks (`_blocks`: the least used first) until the deadline,
    each emptied by `_chained` where that pays, then the moves where it changed something
    (`settled`). `progress`: how far a pass over the same schedule got before (a block it was
    cut in is tried again)."""
    if past(deadline, ledger):
        return list(spots)  # (before the schedule's arrays, a pass over every spot)
    schedule = _Schedule(problem, ledger, spots)
    for class_id, node, first, last in (progress or Progress()).through(
            lambda: _blocks(ledger), lambda: past(deadline, ledger)):
        held = schedule.on(class_id, node, first, last)
        if (not held or any(problem.demand(schedule.spots[i].demand).min_segment is not None for i in held)
                or not (ledger.running[class_id][node, first:last] > 0).all()):
            continue  # (a preemptible replica stays; a block an earlier one changed is skipped)
        _chained(problem, ledger, schedule, held, node, deadline)
    return settled(problem, ledger, schedule.spots, _moved_between(spots, schedule.spots), deadline)


def _chained(problem: Problem, ledger: Ledger, schedule: _Schedule, held: list[int], node: int,
             deadline: Deadline = None) -> bool:
    """The block's replicas (`held`, on `node`) taken off, the largest first, each either where
    it adds least or through the cheapest chain (`_chain`, its sent replicas each where it adds
    least or by a chain of its own, `_sent_away`), whichever adds less; kept when what they add
    is less than emptying the block saved, else (or where the deadline passes before its last
    replica: a block of two-node chains took up to 0.17 CPU s at the goal size) everything as
    it was."""
    moves, spots = _Moves(problem, ledger), schedule.spots
    # in a trial: a block that does not pay is put back by copies, and leaves the ledger's
    # marks of what changed (`Ledger.touched`) as they were, so that the moves after the pass
    # do not try again what nothing changed around
    ledger.tried()
    was = {index: spots[index] for index in held}
    saved = sum(moves.drop(spots[index]) for index in held)
    order = sorted(held, key=lambda i: -_share_hours(problem, ledger, spots[i]))
    added = 0.0
    for index in order:
        replica = spots[index]
        mark = len(moves.made)
        plain = moves.cheapest(replica)
        moves.undo(mark)
        # a chain is taken only where it adds less than the plain move, and the block pays
        # only where it adds less than what is left of `saved`: past either, pricing stops
        limit = min(np.inf if plain is None else plain.added, saved - added) - EPSILON
        block = {(replica.class_id, node)}
        chain = _chain(problem, ledger, moves, schedule, index, block, limit, deeper=True)
        if chain is not None:
            added += chain[0]
            for moved, spot in moves.replay(schedule, index, chain[1]):
                was.setdefault(moved, spots[moved])
                schedule.assign(moved, spot)
        elif plain is not None:
            moves.put(plain)
            added += plain.added
            schedule.assign(index, plain)
        else:
            added = np.inf
        if added >= saved - EPSILON or (index != order[-1] and past(deadline, ledger)):
            ledger.untried()  # (it cannot pay now: every replica adds >= 0)
            for moved, spot in was.items():
                schedule.assign(moved, spot)
            return False
    ledger.kept()
    return True


def _chain(problem: Problem, ledger: Ledger, moves: _Moves, schedule: _Schedule, index: int,
           avoid: set[tuple[str, int]], limit: float, classes: tuple[str, ...] | None = None,
           deeper: bool = False) -> tuple[float, list[tuple[int, Spot]]] | None:
    """(what it adds, the moves it makes, `_chain_made`'s) of the cheapest chain for the replica
    of spot `index` (taken off): onto a node of its class (or of `classes`, its others: the
    second node of a two-node chain) awake over its whole run (not one in `avoid`), where it
    fits once that node's replicas overlapping it that may use another class are sent away
    (`_chain_made`; `deeper`: each by a chain of its own where that adds less). Of its own
    class, the CHAINED nodes that send the least away (their share x hours); of the others,
    the CHAINED whose sent replicas cost least when last priced (`_by_kept_costs`). None: none
    that adds less than `limit`."""
    replica = schedule.spots[index]
    start, end = replica.start, replica.end
    options = _options(ledger, schedule, replica, classes or (replica.class_id,), avoid)
    on = [(where, [i for i in schedule.on(*where, start, end) if schedule.movable(schedule.spots[i])])
          for where in (options if classes else options[:CHAINED])]
    best: tuple[float, list[tuple[int, Spot]]] | None = None
    for where, sent in (_by_kept_costs(schedule, on, limit) if classes else on):
        mark = len(moves.made)
        made = _chain_made(moves, schedule, index, where, sent,
                           limit if best is None else min(limit, best[0]), deeper, avoid)
        moves.undo(mark)
        if made is not None:
            best = (made[-1][1].added, made)
    return best


def _options(ledger: Ledger, schedule: _Schedule, replica: Spot, classes: tuple[str, ...],
             avoid: set[tuple[str, int]]) -> list[tuple[str, int]]:
    """(class, node) of the nodes of `classes` a chain may put the replica onto: awake over its
    run, not in `avoid`, holding a movable replica over it, with room for it once those are
    sent; of each class the CHAINED that send the least away, then all by that (share x hours
    in MICRO, then class, then node)."""
    start, end, need = replica.start, replica.end, schedule.need(replica)
    options: list[tuple[int, int, int]] = []  # (share x hours sent, class position, node)
    for position, class_id in enumerate(classes):
        awake = np.asarray((ledger.running[class_id][:, start:end] > 0).all(axis=1))
        awake[[node for avoided, node in avoid if avoided == class_id]] = False
        holds, weight = schedule.sendable(class_id, start, end)
        nodes = np.flatnonzero(awake & holds)  # (the room read only for these)
        room = ledger.used[class_id][nodes, start:end] - schedule.sent_use[class_id][nodes, start:end]
        nodes = nodes[(room + need <= ledger.capacity[class_id]).all(axis=(1, 2))]
        options += [(int(weight[node]), position, node)
                    for node in nodes[np.argsort(weight[nodes], kind="stable")[:CHAINED]].tolist()]
    return [(classes[position], node) for _, position, node in sorted(options)]


def _by_kept_costs(schedule: _Schedule, on: list[tuple[tuple[str, int], list[int]]], limit: float
                   ) -> list[tuple[tuple[str, int], list[int]]]:
    """Of the (node, replicas it would send) in `on`, the CHAINED whose replicas cost least
    when each was last priced as a sent one (`_Schedule.priced`; never priced: 0), those that
    reach `limit` left out. A bound read before any pricing, not a proof (the ledger has moved
    since): at the goal size the second node's candidates were ~70% of the pass's `cheapest`
    calls, and most priced lost to the plain move by their first replica sent."""
    kept = [(sum(schedule.priced.get(i, 0.0) for i in sent), position)
            for position, (_, sent) in enumerate(on)]
    return [on[position] for cost, position in sorted(kept) if cost < limit][:CHAINED]


def _chain_made(moves: _Moves, schedule: _Schedule, index: int, where: tuple[str, int], sent: list[int],
                limit: float = np.inf, deeper: bool = False, avoid: set[tuple[str, int]] | None = None
                ) -> list[tuple[int, Spot]] | None:
    """The chain made: `sent` taken off the node `where` (class, node), the replica of spot
    `index` (taken off) put there, each sent one where it adds least (`deeper`: or by a chain
    of its own, `_sent_away`); (index, new spot) of each, the replica last with what the chain
    adds in all as its `added`; None (the moves made stay, for `undo`) where a sent one finds
    no room, or what it adds reaches `limit` (each sent one adds >= 0; at the goal size, seed
    3, the pass's `cheapest` calls 41,655 -> 32,659, the same schedule)."""
    ledger, spots = moves.ledger, schedule.spots
    replica = spots[index]
    class_id, onto = where
    cost = -sum(moves.drop(spots[i]) for i in sent)
    waking = ledger.running[class_id][onto, replica.start:replica.end] == 0
    cost += float(waking @ ledger.rate[class_id][replica.start:replica.end])
    moved = Spot(replica.demand, replica.replica, class_id, onto, replica.start, replica.end)
    moves.put(moved)
    made: list[tuple[int, Spot]] = []
    # the nodes whose replicas the ledger holds elsewhere than the schedule says: no chain onto them
    touched = (avoid or set()) | {where}
    for i in sent:
        if cost >= limit:
            return None
        again = _sent_away(moves, schedule, i, limit - cost, touched) if deeper else [
            (i, spot) for spot in [moves.cheapest(spots[i])] if spot is not None]
        if not again:
            schedule.priced[i] = limit - cost if deeper else np.inf
            return None
        schedule.priced[i] = again[-1][1].added
        cost += again[-1][1].added
        made += again
    if cost >= limit:
        return None
    return made + [(index, Spot(moved.demand, moved.replica, class_id, onto, moved.start, moved.end, cost))]


def _sent_away(moves: _Moves, schedule: _Schedule, index: int, limit: float,
               touched: set[tuple[str, int]]) -> list[tuple[int, Spot]]:
    """The replica of spot `index` (taken off) where it adds least, or onto an awake node of
    one of its other classes by a chain of one step (`_chain`) where that adds less: the
    second node of a two-node chain. The moves made, as `_chain_made`'s, the replica's last
    with what it adds; [] where neither finds room under `limit`."""
    spot, problem = schedule.spots[index], schedule.problem
    mark = len(moves.made)
    plain = moves.cheapest(spot)
    if plain is not None and plain.added <= EPSILON:  # (a chain would have to free a node-step)
        return [(index, plain)] if plain.added < limit else []
    moves.undo(mark)
    others = tuple(c for c in problem.demand(spot.demand).eligible if c != spot.class_id)
    bound = min(np.inf if plain is None else plain.added - EPSILON, limit)
    chain = _chain(problem, moves.ledger, moves, schedule, index, touched, bound, others)
    if chain is not None:
        made = chain[1]
        touched.add((made[-1][1].class_id, made[-1][1].node))
        return moves.replay(schedule, index, made)
    if plain is None or plain.added >= limit:
        return []
    moves.put(plain)
    return [(index, plain)]


def _movable(problem: Problem, spot: Spot) -> bool:
    """A replica that may be sent off its class: not preemptible, another class it may use."""
    demand = problem.demand(spot.demand)
    return demand.min_segment is None and any(c != spot.class_id for c in demand.eligible)


def _share_hours(problem: Problem, ledger: Ledger, spot: Spot) -> float:
    """The spot's replica's share of its node (its busiest resource) times its hours."""
    capacity = np.maximum(ledger.capacity[spot.class_id], 1)
    return float((need_of(problem.demand(spot.demand)) / capacity).max()) * (spot.end - spot.start)
