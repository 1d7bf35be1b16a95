"""Accelerator options traded between workloads (`fitc plan` past `LARGE_NODES` nodes; issue 18).

The move keeps each workload's mix of accelerator options as it runs (`ScaleMove.start`): no
step changes the option a workload runs on. Where one option's nodes are scarce and cheap, who
holds them decides how many accelerators the fleet needs. Inventory 10,000, plan 7: the on-prem
L40S nodes (0.056 USD/h a GPU) are all in use, and a workload of 8 L40S replicas (or 12 L4) holds
8 of them while another of 4 L4 replicas (or 2 L40S) runs on L4 nodes at ~1 USD/h a GPU; the
charged LP with each option's replicas fixed at what runs proves 558.44 USD/h, free 537.97 (it
trades the options of 46 of 79 workloads and needs 488 GPUs, not 508): 45% of the plan's gap
to its bound (583.39) was a kind of move the plan lacked (plan 2: 67%).

A trade: a workload G running on option A alone gives A up for B, which it lists too; the A
accelerators it leaves are taken by workloads H running on another option alone that list A,
which give theirs up for A: those whose nodes cost the most per A accelerator they would take
first, as many of them (in that order, while the room lasts) as save the most. The trades are
tried the most node cost saved first (`_Prices`, a guide in floats: the GPUs the takers leave
at what their nodes cost a GPU, less G's GPUs of B on the room the takers leave of it, the
room in use, then the nodes not in use of B's classes, the cheapest a replica first), none
that saves nothing; the exact price decides. Ranked by accelerators saved (of every model
counted alike), inventory 10,000 plan 1's trades each opened dear L40S nodes, 17.6-22.8 USD/h
dearer (session 44); ranked by node cost, it keeps 6 trades, 8.5 USD/h (session 45: on-prem
L40S workloads onto L4, A10G ones onto their L40S). The replicas come off, those of the
new options are placed by `repair` (the room left first, as any displaced replica; the search
for free nodes started over), and nodes left empty are closed. Kept where the objective is
lower (`pool_emptied.kept_if_cheaper`: exact, the changed nodes tidied first), else put back.
Only workloads whose options no rule over a topology counts (`ScaleMove.zoned`), neither gangs
nor pinned.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np

from fitlang.model.problem import Demand, OptionGroup
from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.pool_emptied import kept_in_turn

# the CPU seconds the trades are tried for (inventory 10,000 plan 2: ~0.15 s a trade tried)
TRADE_CPU_SECONDS = 0.4


@dataclass(frozen=True)
class _Runs:
    """A workload running on one option alone: that option's demand, and per option it
    lists, the demand and the replicas that deliver the workload's throughput on it alone."""

    group: OptionGroup
    running: Demand
    alone: dict[str, tuple[Demand, int]]  # option -> (its demand, replicas)

    @property
    def option(self) -> str:
        return str(self.running.option)

    def accelerators(self, option: str) -> int:
        demand, replicas = self.alone[option]
        return demand.requests.get("gpu", 0) * replicas


def trade_options(fleet: ScaleMove, objective: str, deadline: float | None,
                  cpu_seconds: float = TRADE_CPU_SECONDS) -> int:
    """The trades (module's docstring) kept where they lower `objective`, until the `deadline`
    or `cpu_seconds` of process time; returns those kept."""
    if fleet.unplaced or not fleet.problem.option_groups:
        return 0
    return kept_in_turn(fleet, objective, _trades(fleet), deadline, cpu_seconds)


def _trades(fleet: ScaleMove) -> Iterator[partial]:
    """The trades, the most accelerators saved first (`_best_trade`); the workloads' options
    read again before each (a trade kept changes them)."""
    tried: set[tuple[str, str]] = set()
    while (found := _best_trade(fleet, tried)) is not None:
        yield found


def _best_trade(fleet: ScaleMove, tried: set[tuple[str, str]]) -> partial | None:
    """Of every (giver, option it takes) not yet tried, with its takers (`_takers`), the one
    that saves the most in node cost (`_Prices.saved`); None where none saves any (module's
    docstring: ranked by accelerators saved, plan 1's trades each cost 17.0-22.8 USD/h more)."""
    running = _running_alone(fleet)
    prices = _Prices(fleet, running)
    best: tuple[float, str, str] | None = None
    best_changes: list[tuple[Demand, tuple[Demand, int]]] = []
    takers_of: dict[str, list[_Runs]] = {}  # option given -> who may take it, best first
    for giver in running:
        given = giver.option
        if given not in takers_of:
            takers_of[given] = sorted((r for r in running if r.option != given and given in r.alone),
                                      key=lambda r: (-prices.left_per(r, given), r.group.workload))
        for taken in sorted(giver.alone):
            if taken == given or (giver.group.workload, taken) in tried:
                continue
            chosen, saved = _takers(giver, taken, takers_of[given], prices)
            if chosen and saved > 0 and (best is None or saved > best[0]):
                best, best_changes = (saved, giver.group.workload, taken), \
                    [(giver.running, giver.alone[taken])] + [(t.running, t.alone[given]) for t in chosen]
    if best is None:
        return None
    tried.add((best[1], best[2]))
    return partial(_traded, fleet, best_changes)


def _takers(giver: _Runs, taken: str, ranked: list[_Runs], prices: _Prices) -> tuple[list[_Runs], float]:
    """Of those that may take the giver's option (the most their nodes cost per accelerator of
    it they take first), those that fit in the room it leaves, in turn: the first of them that
    save the most (`_Prices.saved`), and that saving."""
    room, fitting = giver.accelerators(giver.option), []
    for taker in ranked:
        if taker.accelerators(giver.option) <= room:
            fitting.append(taker)
            room -= taker.accelerators(giver.option)
    best: tuple[list[_Runs], float] = ([], 0.0)
    for count in range(1, len(fitting) + 1):
        saved = prices.saved(giver, taken, fitting[:count])
        if saved > best[1]:
            best = (fitting[:count], saved)
    return best


class _Prices:
    """A guide to a trade's saving in node cost (floats; the exact price decides): per demand
    running, what its nodes cost a GPU (each node's price shared by its GPUs); per demand, the
    replicas of it the room on nodes in use holds, and the price a replica of its classes with
    nodes not in use (`_room_for`)."""

    def __init__(self, fleet: ScaleMove, running: list[_Runs]) -> None:
        self.fleet = fleet
        self.per_gpu: dict[str, float] = {}
        paid: dict[str, float] = {}
        gpus: Counter = Counter()
        self.gpu_nodes = [node for node in fleet.nodes.values() if node.capacity.get("gpu", 0)]
        self.gpu_rows = np.array([node.row for node in self.gpu_nodes], dtype=np.int64)
        self.gpu_classes = np.array([fleet.rows.class_index[node.node_class.id] for node in self.gpu_nodes],
                                    dtype=np.int64)
        for node in self.gpu_nodes:
            share = float(node.node_class.price) / node.capacity["gpu"]
            for name, count in node.hosted.items():
                used = fleet.problem.demand(name).requests.get("gpu", 0) * count
                paid[name] = paid.get(name, 0.0) + share * used
                gpus[name] += used
        for runs in running:
            name = runs.running.name
            self.per_gpu[name] = paid.get(name, 0.0) / gpus[name] if gpus[name] else 0.0
        self._room: dict[str, tuple[int, list[tuple[float, int]]]] = {}  # (`_room_for`)
        in_use = Counter(node.node_class.id for node in fleet.nodes.values())
        self.not_in_use = np.array([c.count - in_use[c.id] for c in fleet.problem.classes], dtype=np.int64)

    def left_per(self, taker: _Runs, given: str) -> float:
        """What the taker's nodes cost per accelerator of `given` it would take."""
        return self.per_gpu[taker.running.name] * taker.accelerators(taker.option) / \
            max(1, taker.accelerators(given))

    def saved(self, giver: _Runs, taken: str, takers: list[_Runs]) -> float:
        """The node cost the trade saves: the GPUs the takers leave, at their nodes' price,
        less the giver's new option's GPUs: on the room the takers leave of it (at their price),
        then the room in use, then nodes not in use. The room the giver leaves is counted as
        the takers' (a node a taker shares with what is left of it stays open)."""
        saved = sum(self.per_gpu[t.running.name] * t.accelerators(t.option) for t in takers)
        needed = giver.accelerators(taken)
        onto = sorted((t for t in takers if t.option == taken), key=lambda t: -self.per_gpu[t.running.name])
        for taker in onto:
            used = min(needed, taker.accelerators(taken))
            saved, needed = saved - self.per_gpu[taker.running.name] * used, needed - used
        return saved - self._placed(giver.alone[taken][0], needed)

    def _placed(self, demand: Demand, needed: int) -> float:
        """What `needed` GPUs of the demand's replicas cost: the room on nodes in use it may run
        on first, then nodes not in use of its classes, the least a replica first (inf: too
        few; a class's replicas a node counted by every resource: inventory 10,000 plan 1, L4
        nodes free by their GPUs held 9 of 12 replicas of 6 cores and 28 GiB)."""
        if demand.name not in self._room:
            self._room[demand.name] = self._room_for(demand)
        free, spare = self._room[demand.name]
        replicas = math.ceil(needed / max(1, demand.requests.get("gpu", 0))) - free
        cost = 0.0
        for price, count in spare:
            if replicas <= 0:
                break
            cost, replicas = cost + price * min(replicas, count), replicas - count
        return cost if replicas <= 0 else math.inf

    def _room_for(self, demand: Demand) -> tuple[int, list[tuple[float, int]]]:
        """The demand's replicas the room on nodes in use it may run on holds, and per class
        with nodes not in use: the price a replica (its node's shared by those it holds) and
        the replicas they hold, the least price first."""
        fleet, mask, need = self.fleet, self.fleet.eligible_mask[demand.name], self.fleet.need[demand.name]
        asked = need > 0
        on = mask[self.gpu_classes]
        fits = (fleet.rows.free[self.gpu_rows[on]][:, asked] // need[asked]).min(axis=1)
        held = (fleet.class_capacity[:, asked] // need[asked]).min(axis=1)
        if demand.one_per_node:
            fits, held = np.minimum(fits, 1), np.minimum(held, 1)
        free = int(fits.sum())
        rows = np.flatnonzero(mask & (held > 0) & (self.not_in_use > 0))
        spare = [(float(fleet.class_price[row]) / int(held[row]), int(self.not_in_use[row] * held[row]))
                 for row in rows]
        return free, sorted(spare)


def _running_alone(fleet: ScaleMove) -> list[_Runs]:
    """The workloads free to trade (module's docstring) that run on one option alone, with
    the replicas that option needs to deliver their throughput."""
    problem = fleet.problem
    counts: Counter = Counter()
    for node in fleet.nodes.values():
        counts.update(node.hosted)
    found = []
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        if group.gang or any(d.name in fleet.zoned or d.name in problem.pinned for d in members):
            continue
        on = [d for d in members if counts[d.name]]
        if len(on) != 1:
            continue
        alone = {d.option: (d, math.ceil(group.required / d.throughput)) for d in members
                 if d.option is not None and d.throughput > 0}
        if all(replicas <= d.replicas for d, replicas in alone.values()):
            found.append(_Runs(group, on[0], alone))
    return found


def _traded(fleet: ScaleMove, changes: list[tuple[Demand, tuple[Demand, int]]]) -> None:
    """Each workload's replicas of its option taken off, those of its new option placed
    (`repair`), nodes left empty closed; what is not placed is left in `fleet.unplaced`."""
    displaced: list[tuple[Demand, tuple | None]] = []
    for off, (on, replicas) in changes:
        for node in [n for n in fleet.nodes.values() if n.hosted[off.name]]:
            fleet.remove(node, off, node.hosted[off.name])
        displaced += [(on, None)] * replicas
    fleet.fills.clear()  # (`repair`'s fills of a former call hold positions of its order)
    fleet.next_free.clear()  # (a trade put back leaves the search past the nodes it opened)
    fleet.repair(displaced)
    assert fleet.journal is not None
    for name in list(fleet.journal):
        if name in fleet.nodes and not fleet.nodes[name].hosted:
            fleet.close(name)
