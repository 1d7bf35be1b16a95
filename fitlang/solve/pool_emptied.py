"""A pool of the plan emptied across its zones at once, its replicas placed again (`fitc
plan` past `LARGE_NODES` nodes, where the joint steps do not run; issue 18).

`improve` changes one node, or two, at a time; at inventory 10,000 the plan ends where no
such change pays, while a pool's nodes taken together may hold replicas that other nodes'
room and the cheapest new nodes take for less (three nodes each too full to empty alone
onto the others, whose replicas fit one node of another pool: the tests' fleet). Per pool,
the most spent on room left empty first (`_ranked_pools`): every replica on its nodes taken
off, its nodes closed and barred (`ScaleMove.barred`), the replicas placed again by `repair`
(a zoned workload's within the zone it ran in, as `repair` places any displaced replica);
what no other node takes goes back onto the pool's own nodes; then the nodes whose replicas
changed get `improve`'s tries (delete, replace, merge, scatter). Kept where the objective is
lower (`journal_change`, exact, over the nodes the step changed: `ScaleMove.journal`) and
every replica is placed; else the journal's nodes are put back as they were (`restore`).

`ScaleMove.free_node` resumes its search where its last one ended, past nodes closed since;
here it starts over for each pool (inventory 10,000 seed 0, pools in another order: the
steps kept 0.73 USD/h in 1.5 CPU s without that, 3.16 with it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from fractions import Fraction
from functools import partial

from fitlang.model.problem import Demand
from fitlang.solve.move_scale import FleetNode, ScaleMove, Settled, zone_of

# `improve`'s passes over the nodes a pool's replicas went to (a pass with no change ends
# it; inventory 10,000 seeds 0 and 1: one pass kept as much as three at 0.4-0.9 CPU s, the
# pools tried sooner)
TIDY_PASSES = 1
# the CPU seconds the pools are tried for (inventory 10,000, load 9-11: 0.02-0.2 s a pool;
# seeds 0 / 1 kept 1.70 / 2.48 USD/h in 0.6 s, 0.85 / 0.05 in 0.2 s)
EMPTIED_CPU_SECONDS = 0.6
POOL_MAX_NODES = 16  # pools with more nodes in use are not tried (time)

Journal = dict[str, Counter]  # `ScaleMove.journal`: node -> its replicas when it was started


def empty_pools(fleet: ScaleMove, objective: str, deadline: float | None,
                cpu_seconds: float = EMPTIED_CPU_SECONDS) -> int:
    """Each pool in turn (`_ranked_pools`) emptied and its replicas placed again, kept where
    that lowers `objective`, until the `deadline` or `cpu_seconds` of process time; returns
    the pools kept emptied (some may have had replicas go back onto them)."""
    if fleet.unplaced or past(deadline):
        return 0
    return kept_in_turn(fleet, objective, (partial(_emptied, fleet, pool) for pool in _ranked_pools(fleet)),
                        deadline, cpu_seconds)


def past(deadline: float | None) -> bool:
    """Has the `deadline` passed? A stage past it builds nothing: its journal of moves and its
    candidates are the waves' time (the three stages after the regroup, reached past their
    deadline on inventory 10,000 plan 10 at 5 s: 0.015 / 0.006 / 0.012 CPU s)."""
    return deadline is not None and time.monotonic() > deadline


def kept_in_turn(fleet: ScaleMove, objective: str, steps: Iterable[Callable[[], None] | None],
                 deadline: float | None, cpu_seconds: float) -> int:
    """Each step in turn (None: skipped) kept where it lowers `objective` (`kept_if_cheaper`),
    until the `deadline` or `cpu_seconds` of process time, both checked before each; returns
    the steps kept."""
    if past(deadline):
        return 0
    cpu_end = time.process_time() + cpu_seconds
    moves = JournalMoves(fleet) if objective == "cost+moves" else None
    kept = 0
    for step in steps:
        if time.process_time() > cpu_end or (deadline is not None and time.monotonic() > deadline):
            break
        if step is not None:
            kept += kept_if_cheaper(fleet, step, moves, deadline)
    return kept


def kept_if_cheaper(fleet: ScaleMove, step: Callable[[], None], moves: JournalMoves | None,
                    deadline: float | None, saving: Fraction = Fraction(0)) -> bool:
    """`step` (a change of the fleet) under a journal, then the nodes it changed tidied
    (`_tidied`); kept where every replica is placed and the objective is lower by more than
    `saving` (`journal_change`: with `moves`, the moves charged), else the journal's nodes put
    back. Whether kept."""
    journal: Journal = {}
    bought, before = set(fleet.bought), fleet.moved()
    fleet.journal = journal
    try:
        step()
        _tidied(fleet, journal, deadline)
    finally:
        fleet.journal = None
    # (a change past the policy's `max_moves` is put back as one that does not pay, and under
    # it each replica moved is weighed at `shadow` more: `move_cap`)
    if not fleet.unplaced and not fleet.past_cap(before) and journal_change(fleet, journal, bought, moves) + \
            fleet.shadow * (fleet.moved() - before) < -saving:
        if moves is not None:
            moves.commit()
        return True
    fleet.unplaced = []
    restore(fleet, journal)
    return False


def _ranked_pools(fleet: ScaleMove) -> list[frozenset[str]]:
    """The pools with nodes in use (each as its classes' ids, every zone) that no pinned
    replica holds, by what they spend on room left empty (price x the share of the node's
    largest resource not in use, summed over their nodes), most first."""
    spent: dict[str, float] = {}
    classes: dict[str, set[str]] = {}
    pinned: set[str] = set()
    nodes: Counter = Counter()
    for node in fleet.nodes.values():
        pool = node.node_class.pool
        nodes[pool] += 1
        classes.setdefault(pool, set()).add(node.node_class.id)
        if any(name in fleet.problem.pinned for name in node.hosted):
            pinned.add(pool)
        empty = 1.0 - float(fleet.rows.shares(node.row)[0])
        spent[pool] = spent.get(pool, 0.0) + float(node.node_class.price) * empty
    return [frozenset(classes[pool]) for pool, _ in sorted(spent.items(), key=lambda i: (-i[1], i[0]))
            if pool not in pinned and nodes[pool] <= POOL_MAX_NODES]


def _emptied(fleet: ScaleMove, pool: frozenset[str]) -> None:
    """The pool's replicas taken off, its nodes closed, the replicas placed again elsewhere;
    those no other node takes then onto the pool's nodes (left in `fleet.unplaced` if not)."""
    displaced: list[tuple] = []
    for node in [n for n in fleet.nodes.values() if n.node_class.id in pool]:
        displaced += taken_off(fleet, node)
        fleet.close(node.name)
    fleet.next_free.clear()
    placed_barred(fleet, displaced, pool)


def placed_barred(fleet: ScaleMove, displaced: list[tuple], barred: frozenset[str]) -> None:
    """The replicas placed by `repair` with no node of the `barred` classes opened; those no
    other node takes then placed again where any may open (left in `fleet.unplaced` if not)."""
    fleet.fills.clear()  # (`repair`'s fills of a former call hold positions of its order)
    fleet.barred = barred
    try:
        fleet.repair(displaced)
    finally:
        fleet.barred = frozenset()
    if fleet.unplaced:
        left = Counter(fleet.unplaced)
        fleet.unplaced = []
        back = []
        for demand, zone in displaced:  # (a zoned replica goes back to a zone it ran in)
            if left[demand.name]:
                left[demand.name] -= 1
                back.append((demand, zone))
        fleet.fills.clear()
        fleet.repair(back)


def taken_off(fleet: ScaleMove, node: FleetNode) -> list[tuple[Demand, tuple | None]]:
    """The node's replicas removed, each with the zone it must stay in (a zoned workload's:
    `repair` places it there)."""
    zone = zone_of(node.node_class)
    displaced: list[tuple[Demand, tuple | None]] = []
    for name, count in sorted(node.hosted.items()):
        demand = fleet.problem.demand(name)
        displaced += [(demand, zone if name in fleet.zoned else None)] * count
        fleet.remove(node, demand, count)
    return displaced


def _tidied(fleet: ScaleMove, journal: Journal, deadline: float | None) -> None:
    """`improve`'s tries (with `_scatter`) on the nodes in use whose replicas changed since the
    journal started, dearest first, for up to `TIDY_PASSES` passes (the rest of the fleet was
    settled before the pool was emptied; a node a try changes is tried in the next pass)."""
    for _ in range(TIDY_PASSES):
        changed = False
        nodes = [fleet.nodes[name] for name, was in journal.items()
                 if name in fleet.nodes and fleet.nodes[name].hosted != was]
        for node in sorted(nodes, key=lambda n: (-n.node_class.price, n.row)):
            if deadline is not None and time.monotonic() > deadline:
                return
            if fleet.nodes.get(node.name) is node and node.hosted and \
                    not any(name in fleet.problem.pinned for name in node.hosted):
                changed |= fleet._improved(node, True, Settled())
        if not changed:
            return


def restore(fleet: ScaleMove, journal: Journal) -> None:
    """The nodes in the journal hosting what they did when it was started (replicas taken off
    where there are more than then, then put on where fewer; nodes opened since closed)."""
    problem = fleet.problem
    for name, was in journal.items():
        node = fleet.nodes.get(name)
        if node is None:
            continue
        for demand, count in list(node.hosted.items()):
            if count > was[demand]:
                fleet.remove(node, problem.demand(demand), count - was[demand])
    for name, was in journal.items():
        if was:
            node = fleet.node(name)
            for demand, count in was.items():
                if count > node.hosted[demand]:
                    fleet.add(node, problem.demand(demand), count - node.hosted[demand])
        elif name in fleet.nodes and not fleet.nodes[name].hosted:
            fleet.close(name)


def journal_change(fleet: ScaleMove, journal: Journal, bought: set[str],
                   moves: JournalMoves | None) -> Fraction:
    """What the objective changed by since the journal started (`bought`: the nodes bought
    then): the nodes in use (hosting a replica, or bought) priced, and with `moves`, the
    changes charged as `moving.objective_value` charges them (moves, drained, bought)."""
    problem, now = fleet.problem, fleet.running_now
    change, changes = Fraction(0), 0
    for name, was in journal.items():
        node = fleet.nodes.get(name)
        used_then, used = bool(was) or name in bought, (node is not None and bool(node.hosted)) or \
            name in fleet.bought
        change += fleet.owners[name].price * (used - used_then)
        if name in now or name in problem.bought_now:  # drained: in use now, not at the end
            changes += (not used) - (not used_then)
        if name not in problem.bought_now:  # bought
            changes += (name in fleet.bought) - (name in bought)
    if moves is None:
        return change
    return change + fleet.price * (changes + moves.change(journal))


class JournalMoves:
    """The replicas moved, as `moving.replicas_moved` counts them (per demand, the lesser of
    its replicas leaving nodes and arriving on nodes), kept per demand for the fleet as it is
    and changed by a journal's nodes only (counted afresh it was 0.1 s a pool at 10,000)."""

    def __init__(self, fleet: ScaleMove) -> None:
        self.fleet = fleet
        self.leaving: Counter = Counter(fleet.problem.running_elsewhere)
        self.arriving: Counter = Counter()
        for name in fleet.running_now.keys() | fleet.nodes.keys():
            node = fleet.nodes.get(name)
            self._count(fleet.running_now.get(name, Counter()), node.hosted if node else Counter(), 1)
        self.pending: tuple[Counter, Counter] | None = None

    def _count(self, now: Counter, then: Counter, sign: int, leaving: Counter | None = None,
               arriving: Counter | None = None) -> None:
        leaving = self.leaving if leaving is None else leaving
        arriving = self.arriving if arriving is None else arriving
        for demand in now.keys() | then.keys():
            step = then[demand] - now[demand]
            if step > 0:
                arriving[demand] += sign * step
            elif step < 0:
                leaving[demand] -= sign * step

    def change(self, journal: Journal) -> int:
        """The moves' change over the journal's nodes (kept for `commit`)."""
        leaving: Counter = Counter()
        arriving: Counter = Counter()
        for name, was in journal.items():
            node = self.fleet.nodes.get(name)
            now = self.fleet.running_now.get(name, Counter())
            self._count(now, was, -1, leaving, arriving)
            self._count(now, node.hosted if node is not None else Counter(), 1, leaving, arriving)
        self.pending = (leaving, arriving)
        return sum(min(self.leaving[d] + leaving[d], self.arriving[d] + arriving[d]) -
                   min(self.leaving[d], self.arriving[d]) for d in leaving.keys() | arriving.keys())

    def commit(self) -> None:
        assert self.pending is not None
        self.leaving.update(self.pending[0])
        self.arriving.update(self.pending[1])
        self.pending = None
