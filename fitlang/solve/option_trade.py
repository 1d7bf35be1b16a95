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
which give theirs up for A: those that leave the most accelerators per A accelerator first,
while the room lasts and each leaves more per A accelerator than G takes of B. The trades are
tried the most accelerators saved first (those the takers leave less those G takes: of every
model counted alike, a guide; the exact price decides). The replicas come off, those of the
new options are placed by `repair` (the room left first, as any displaced replica), and nodes
left empty are closed. Kept where the objective is lower (`pool_emptied.
kept_if_cheaper`: exact, the changed nodes tidied first), else put back. Only workloads whose
options no rule over a topology counts (`ScaleMove.zoned`), neither gangs nor pinned.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

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

    def ratio(self, given: str, taken: str) -> float:
        """The accelerators of `taken` it needs per accelerator of `given` it leaves (a
        guide: a float)."""
        return self.accelerators(taken) / max(1, self.accelerators(given))


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
    """Of every (giver, option it takes) not yet tried, with its takers, the one that saves
    the most accelerators (those the takers leave less those the giver takes); None where
    none saves any."""
    running = _running_alone(fleet)
    best: tuple[int, str, str] | None = None
    best_changes: list[tuple[Demand, tuple[Demand, int]]] = []
    takers_of: dict[str, list[_Runs]] = {}  # option given -> who may take it, best first
    for giver in running:
        given = giver.option
        if given not in takers_of:
            takers_of[given] = sorted((r for r in running if r.option != given and given in r.alone),
                                      key=lambda r: (-r.ratio(given, r.option), r.group.workload))
        for taken in sorted(giver.alone):
            if taken == given or (giver.group.workload, taken) in tried:
                continue
            room, saved, chosen = giver.accelerators(given), -giver.accelerators(taken), []
            for taker in takers_of[given]:
                if taker.ratio(given, taker.option) <= giver.ratio(given, taken):
                    break
                if taker.accelerators(given) <= room:
                    chosen.append(taker)
                    room -= taker.accelerators(given)
                    saved += taker.accelerators(taker.option)
            if chosen and saved > 0 and (best is None or saved > best[0]):
                best, best_changes = (saved, giver.group.workload, taken), \
                    [(giver.running, giver.alone[taken])] + [(t.running, t.alone[given]) for t in chosen]
    if best is None:
        return None
    tried.add((best[1], best[2]))
    return partial(_traded, fleet, best_changes)


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
    fleet.repair(displaced)
    assert fleet.journal is not None
    for name in list(fleet.journal):
        if name in fleet.nodes and not fleet.nodes[name].hosted:
            fleet.close(name)
